// quorum_sim: run the deterministic simulator (simulation.hpp).
//   quorum_sim --seed S [--trace]              one seed, replayed exactly
//   quorum_sim --seeds N [--minutes M]         a soak from --first-seed on
// Exit status 1 on the first failing seed, which it prints with its replay
// command.
#include "simulation.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"Quorum's deterministic simulator"};
  quorum::sim::SimOptions options;
  uint64_t seeds = 0;
  uint64_t first = 1;
  double minutes = 0;
  app.add_option("--seed", options.seed, "run this one seed");
  app.add_option("--seeds", seeds, "run this many seeds (a soak)");
  app.add_option("--first-seed", first, "the first seed of a soak");
  app.add_option("--minutes", minutes, "stop a soak after this long");
  app.add_option("--fault-ms", options.fault_ms, "simulated ms with faults");
  app.add_option("--keys", options.keys, "keys (actors)");
  app.add_option("--ballots", options.ballots, "ballots submitted");
  app.add_flag("!--no-faults", options.faults, "no faults at all");
  app.add_option("--unsafe-commit-followers", options.unsafe_commit_followers,
                 "plant the bug: commit after this many followers");
  app.add_flag("--unsafe-accept-below-base", options.unsafe_accept_below_base,
               "plant the bug: take a ballot without holding its writer's recovered log");
  app.add_flag("--trace", options.trace, "print every event of the run");
  CLI11_PARSE(app, argc, argv);
  if (seeds == 0) {
    const quorum::sim::SimResult result = quorum::sim::run_simulation(options);
    std::printf("seed %llu: %s\n", static_cast<unsigned long long>(options.seed), result.summary().c_str());
    return result.ok ? 0 : 1;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t ran = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    if (minutes > 0 && std::chrono::steady_clock::now() - start > std::chrono::duration<double, std::ratio<60>>(minutes)) {
      break;
    }
    options.seed = seed;
    options.trace = false;
    const quorum::sim::SimResult result = quorum::sim::run_simulation(options);
    ++ran;
    if (!result.ok) {
      std::printf("seed %llu: %s\nreplay: %s\n", static_cast<unsigned long long>(seed), result.summary().c_str(),
                  quorum::sim::replay_command(options).c_str());
      return 1;
    }
  }
  std::printf("%llu seeds ok\n", static_cast<unsigned long long>(ran));
  return 0;
}
