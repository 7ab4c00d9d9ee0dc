// The results gatherer: reads the actors of an election through a
// NodeService (routed, so it works on any node of a cluster) and hands the
// projections to build_results() (results.hpp).
//
// What it reads: the registry (only when no election is named: the last one
// registered), the election actor, then
//   - without all_units: the district unit of every contest and the actor
//     of every ranked-choice contest (enough for the page's json);
//   - with all_units: every directory page, then every unit they list, and
//     the ranked-choice contest actors.
// Reads run with at most `concurrency` in flight. An actor that has never
// seen a command (kNotFound) is read as absent (zero counts); any other read
// error fails the whole gather with that error.
//
// Threads: `done` runs exactly once, on a NodeService callback thread (or
// inline when the node answers inline); it must not block.
#pragma once

#include <quorum/election/results.hpp>
#include <quorum/host/result.hpp>
#include <quorum/node/node_service.hpp>

#include <functional>
#include <string>

namespace quorum::election {

inline constexpr size_t kDefaultGatherConcurrency = 32;

struct GatherRequest {
  std::string election;  // empty: the last one registered
  bool all_units = false;
  // Read every unit anyway when the election has at most this many (so the
  // audit is computed for the live page of small elections); 0: never.
  uint64_t all_units_up_to = 0;
  size_t concurrency = kDefaultGatherConcurrency;  // >= 1
};

void gather_results(node::NodeService& node, GatherRequest request, std::function<void(Result<ResultsInput>)> done);

}  // namespace quorum::election
