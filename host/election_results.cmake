# quorum_election_results: the pure model builder and renderings of
# GET /v1/results (include/quorum/election/results.hpp) and the gatherer that
# reads an election's actors through a NodeService (results_gather.hpp).
# Apart from quorum_election (definitions and CVR files, used by quorumctl)
# because quorum_http links it and needs neither JSON files nor libsodium.
add_library(quorum_election_results STATIC
  src/election/results_model.cpp
  src/election/results_render.cpp
  src/election/results_gather.cpp)
add_library(Quorum::ElectionResults ALIAS quorum_election_results)
target_include_directories(quorum_election_results PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_election_results PUBLIC quorum_host msgpackc-cxx PRIVATE nlohmann_json::nlohmann_json)
target_compile_features(quorum_election_results PUBLIC cxx_std_20)
