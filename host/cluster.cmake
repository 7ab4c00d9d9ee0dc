# quorum_cluster (Quorum::Cluster): placement as a pure function of
# (topology, key). The topology (data centers, nodes, zones, liveness, home
# rules, fallback order; topology.json in docs/formats.md), one consistent-hash
# ring per data center with 128 virtual points per node, and Placement:
# home(key), writer(key), followers(key), replica_set(key). Placement is part
# of the protocol: every node must compute the same answer, so the hash is
# SHA-256 (stable_hash.hpp) and a golden test pins known answers.
# No I/O besides reading a topology file. Public headers: include/quorum/cluster/.
add_library(quorum_cluster STATIC
  src/cluster/placement.cpp
  src/cluster/ring.cpp
  src/cluster/stable_hash.cpp
  src/cluster/topology.cpp)
add_library(Quorum::Cluster ALIAS quorum_cluster)
target_include_directories(quorum_cluster PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
# Result<T>, Error and QUORUM_ASSERT come from the host library.
target_link_libraries(quorum_cluster
  PUBLIC quorum_host
  PRIVATE PkgConfig::SODIUM nlohmann_json::nlohmann_json)
target_compile_features(quorum_cluster PUBLIC cxx_std_20)
