# quorum_election: the election's host-side library (docs/election-guide.md):
# synthetic elections (quorumctl gen). The definition reader, CVR reader,
# Dominion converter and results builder join it (one library, one job each
# per source file).
add_library(quorum_election
  src/election/synthetic.cpp)
target_include_directories(quorum_election PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_election PUBLIC quorum_host PRIVATE nlohmann_json::nlohmann_json)
target_compile_features(quorum_election PUBLIC cxx_std_20)
