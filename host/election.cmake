# quorum_election (Quorum::Election): elections on the host side (issue 6,
# docs/election-actors.md): definitions (NIST pe-err, Dominion manifests)
# and their hierarchy and load commands, CVR files as cvr commands, and
# synthetic elections (quorumctl gen). Used by quorumctl and the tests. (Results are host/election_results.cmake.)
# It reads CVRs with the tally plugin's header (plugins/tally/cvr_view.hpp)
# so the host refuses exactly what the handlers would.
find_package(nlohmann_json REQUIRED)
add_library(quorum_election STATIC
  src/election/definition.cpp
  src/election/dominion.cpp
  src/election/cvr_reader.cpp
  src/election/synthetic.cpp)
add_library(Quorum::Election ALIAS quorum_election)
target_include_directories(quorum_election
  PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
  PRIVATE ${PROJECT_SOURCE_DIR}/plugins/tally)
target_link_libraries(quorum_election PUBLIC quorum_host nlohmann_json::nlohmann_json msgpackc-cxx
                      PRIVATE PkgConfig::SODIUM)
target_compile_features(quorum_election PUBLIC cxx_std_20)
