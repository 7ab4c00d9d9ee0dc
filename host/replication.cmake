# quorum_replication (Quorum::Replication): the replication of each key's log
# to a writer plus four followers, 3-of-5 quorums, epoch fencing, recovery
# and joint topology transitions (DESIGN §4, §5; docs/replication.md), as a
# sans-IO state machine (KeyReplica) that quorumd's adapters and the
# deterministic simulator (tests/sim) drive alike, and its adapter over the
# node's EventStore (store_log.hpp: LogReader, MetaLoader, WriteApplier).
# Public headers: include/quorum/replication/.
add_library(quorum_replication STATIC
  src/replication/codec.cpp
  src/replication/key_replica.cpp
  src/replication/replication_node.cpp
  src/replication/store_log.cpp)
add_library(Quorum::Replication ALIAS quorum_replication)
target_include_directories(quorum_replication PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_replication PUBLIC quorum_store PRIVATE msgpackc-cxx)
target_compile_features(quorum_replication PUBLIC cxx_std_20)
