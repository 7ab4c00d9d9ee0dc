// quorumctl gen: writes a synthetic election (docs/quorumctl.md "gen",
// quorum/election/synthetic.hpp): the NIST pre-election report and NIST CVR
// files, deterministic from --seed, streamed to disk with a progress bar.
// Exit codes: 0 written; 1 bad arguments or a file that cannot be written.
#include "ctl.hpp"

#include <quorum/election/synthetic.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <memory>

namespace quorum::ctl {
namespace {

using nlohmann::json;
namespace synthetic = quorum::election::synthetic;

struct GenOptions {
  std::string out;
  std::string contests = "all";
  synthetic::Options election;
  bool json = false;
};

int run_gen(const GenOptions& options, const Context& context, bool json_out) {
  synthetic::Options election = options.election;
  Result<synthetic::Families> families = synthetic::parse_families(options.contests);
  if (!families.ok()) return fail(kExitUsage, "gen: " + families.error().message);
  election.families = *families;
  Result<synthetic::Plan> plan = synthetic::make_plan(election);
  if (!plan.ok()) return fail(kExitUsage, "gen: " + plan.error().message);

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar("gen", plan->ballots, context.progress && !json_out);
  Result<synthetic::Written> written =
      synthetic::write_election(election, options.out, [&bar](uint64_t done, uint64_t) { bar.update(done); });
  if (!written.ok()) return fail(kExitUsage, "gen: " + written.error().message);
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const synthetic::Plan& p = written->plan;
  if (json_out) {
    json files = json::array();
    for (const auto& file : written->cvr_files) files.push_back(file.string());
    std::cout << json{{"definition", written->definition.string()},
                      {"cvr_files", files},
                      {"precincts", p.precincts},
                      {"units", p.units},
                      {"counties", p.counties},
                      {"congressional_districts", p.congressional},
                      {"state_house_districts", p.house},
                      {"contests", p.contests},
                      {"ballots", p.ballots},
                      {"seed", election.seed},
                      {"seconds", seconds}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  auto count = [](uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::cout << "wrote " << written->definition.string() << ": " << count(p.units, "unit", "units") << " ("
            << count(p.precincts, "precinct", "precincts") << ", " << count(p.counties, "county", "counties") << ", "
            << p.congressional << " congressional and "
            << count(p.house, "state-house district", "state-house districts") << "), "
            << count(p.contests, "contest", "contests") << "\n";
  std::cout << "wrote " << written->cvr_files.size() << " CVR file" << (written->cvr_files.size() == 1 ? "" : "s")
            << " (" << p.ballots << " ballots): " << written->cvr_files.front().string()
            << (written->cvr_files.size() > 1 ? " ..." : "") << "\n";
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f s, %.0f ballots/s", seconds,
                seconds > 0 ? static_cast<double>(p.ballots) / seconds : 0.0);
  std::cout << "seed " << election.seed << "; " << rate << "\n";
  return kExitOk;
}

}  // namespace

GroupRunner add_gen_commands(CLI::App& app, const Context& context) {
  auto options = std::make_shared<GenOptions>();
  auto* gen = app.add_subcommand("gen", "write a synthetic election: NIST pre-election report and CVR files");
  gen->add_option("--out", options->out, "output directory (created if missing)")->required();
  gen->add_option("--name", options->election.name, "election name: file names and ids ([A-Za-z0-9.-])")
      ->capture_default_str();
  gen->add_option("--precincts", options->election.precincts, "number of precincts")
      ->check(CLI::Range(uint64_t{1}, synthetic::kMaxPrecincts))
      ->capture_default_str();
  gen->add_option("--ballots-per-precinct", options->election.ballots_per_precinct, "ballots cast in each precinct")
      ->check(CLI::Range(uint64_t{1}, synthetic::kMaxBallotsPerPrecinct))
      ->capture_default_str();
  gen->add_option("--seed", options->election.seed, "random seed: the same seed writes the same files")
      ->capture_default_str();
  gen->add_option("--contests", options->contests,
                  "contest families, comma-separated: statewide,congress,house,county,measure,rcv (or all)")
      ->capture_default_str();
  gen->add_option("--cvrs-per-file", options->election.cvrs_per_file, "CVRs per file")
      ->check(CLI::Range(uint64_t{1}, synthetic::kMaxCvrsPerFile))
      ->capture_default_str();
  gen->add_option("--date", options->election.date, "election day, YYYY-MM-DD")->capture_default_str();
  gen->add_flag("--json", options->json, "print what was written as JSON");
  return [gen, options, &context]() -> std::optional<int> {
    if (!*gen) return std::nullopt;
    return run_gen(*options, context, context.json || options->json);
  };
}

}  // namespace quorum::ctl
