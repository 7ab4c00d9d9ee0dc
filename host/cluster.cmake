# quorum_cluster (Quorum::Cluster): placement as a pure function of
# (topology, key), and the topology stores that feed it.
#
# Placement: the topology (data centers, nodes, zones, liveness, home rules,
# fallback order; topology.json in docs/formats.md), one consistent-hash ring
# per data center with 128 virtual points per node, and Placement:
# home(key), writer(key), followers(key), replica_set(key). Placement is part
# of the protocol: every node must compute the same answer, so the hash is
# SHA-256 (stable_hash.hpp) and a golden test pins known answers.
#
# Topology stores (topology_store.hpp): StaticTopologyStore (topology.json
# polled on a thread + the sans-IO FailureDetector) and EtcdTopologyStore
# (etcd v3 through its JSON gateway, etcd_gateway.hpp: Boost.Beast and the
# quorum_client HTTP client; leases for liveness, a watch for changes).
# Public headers: include/quorum/cluster/.
find_package(Boost 1.74 REQUIRED)  # Beast and Asio: header-only
find_package(Threads REQUIRED)
add_library(quorum_cluster STATIC
  src/cluster/etcd_gateway.cpp
  src/cluster/etcd_topology_store.cpp
  src/cluster/failure_detector.cpp
  src/cluster/placement.cpp
  src/cluster/ring.cpp
  src/cluster/stable_hash.cpp
  src/cluster/static_topology_store.cpp
  src/cluster/topology.cpp
  src/cluster/topology_state.cpp
  src/cluster/topology_store.cpp)
add_library(Quorum::Cluster ALIAS quorum_cluster)
target_include_directories(quorum_cluster PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
# Result<T>, Error and QUORUM_ASSERT come from the host library.
target_link_libraries(quorum_cluster
  PUBLIC quorum_host Threads::Threads
  PRIVATE quorum_client Boost::headers PkgConfig::SODIUM nlohmann_json::nlohmann_json spdlog::spdlog)
# Same Beast/Asio configuration as quorum_http and quorum_client (one binary may link all).
target_compile_definitions(quorum_cluster PRIVATE BOOST_BEAST_USE_STD_STRING_VIEW BOOST_ASIO_NO_DEPRECATED)
target_compile_features(quorum_cluster PUBLIC cxx_std_20)
