# quorum_node (Quorum::Node): one node's core. Keyed actors as sans-IO state
# machines (actor.hpp), the per-shard registry with supervision and
# passivation (registry.hpp), and LocalNode (local_node.hpp): the
# NodeService over sharded Asio event loops, LevelDB group commit, bounded
# queues, the live stream and Prometheus metrics.
# Public headers: include/quorum/node/.
find_package(Threads REQUIRED)

add_library(quorum_node STATIC
  src/node/actor.cpp
  src/node/registry.cpp
  src/node/local_node.cpp)
add_library(Quorum::Node ALIAS quorum_node)
target_include_directories(quorum_node PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_node
  PUBLIC quorum_store quorum_host quorum_replication Threads::Threads
  PRIVATE PkgConfig::SODIUM msgpackc-cxx spdlog::spdlog)
target_compile_features(quorum_node PUBLIC cxx_std_20)
