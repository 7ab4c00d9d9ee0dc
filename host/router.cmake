# quorum_router (Quorum::Router): a quorumd node in a cluster. ClusterNode is
# the NodeService that routes every command and read to the node that owns
# its key (Placement::writer under the topology store's current topology)
# through the mailroom, forwards requests whose key moved (hop limit),
# carries side effects to other nodes, and sends the heartbeats of the
# embedded failure detector, and moves a key's log to its new owner when
# the topology moves the key (handoff.cpp). messages.hpp is its wire
# vocabulary.
# Public headers: include/quorum/router/.
add_library(quorum_router STATIC
  src/router/cluster_node.cpp
  src/router/handoff.cpp
  src/router/messages.cpp)
add_library(Quorum::Router ALIAS quorum_router)
target_include_directories(quorum_router PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_router
  PUBLIC quorum_node quorum_cluster quorum_mailroom
  PRIVATE msgpackc-cxx spdlog::spdlog)
target_compile_features(quorum_router PUBLIC cxx_std_20)
target_link_libraries(quorumd PRIVATE quorum_router)
