// election_results_fixture_dump DIR: writes the results fixture (fixture.hpp)
// rendered in every format, for every phase, as DIR/<format>-<phase>.<ext>,
// and the nist-err of NIST's gen-01 / gen-03 certified results rebuilt as
// projections (certified_fixture.hpp) as DIR/nist-err-gen-0N.json, so
// scripts can check them (nist_schema_test.py validates nist-err).
#include "election_results/certified_fixture.hpp"
#include "election_results/fixture.hpp"

#include <quorum/election/results.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  using namespace quorum::election;
  if (argc != 2) {
    std::cerr << "usage: election_results_fixture_dump DIR\n";
    return 1;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::pair<const char*, ResultsFormat> formats[] = {{"json", ResultsFormat::kJson},
                                                           {"nist-err", ResultsFormat::kNistErr},
                                                           {"ap", ResultsFormat::kAp},
                                                           {"csv", ResultsFormat::kCsv},
                                                           {"audit", ResultsFormat::kAudit}};
  for (int phase = 0; phase <= 2; ++phase) {
    quorum::Result<Results> results = build_results(testing::input(phase));
    if (!results) {
      std::cerr << "phase " << phase << ": " << results.error().message << "\n";
      return 2;
    }
    for (const auto& [name, format] : formats) {
      const auto path =
          dir / (std::string(name) + "-" + std::to_string(phase) + (format == ResultsFormat::kCsv ? ".csv" : ".json"));
      std::ofstream(path, std::ios::binary) << render(*results, format);
      std::cout << path.string() << "\n";
    }
  }
  for (const char* name : {"gen-01", "gen-03"}) {
    const std::string source =
        std::string(QUORUM_TEST_DATA_DIR) + "/nist-cdf-test-method/" + name + "/err-" + name + ".json";
    quorum::Result<Results> results = build_results(testing::certified_input(testing::load_json(source), name));
    if (!results) {
      std::cerr << name << ": " << results.error().message << "\n";
      return 2;
    }
    const auto path = dir / (std::string("nist-err-") + name + ".json");
    std::ofstream(path, std::ios::binary) << render_nist_err(*results);
    std::cout << path.string() << "\n";
  }
  return 0;
}
