// The topology sequence every node routes by, with joint transitions
// (DESIGN §5; docs/replication.md, "Topology transitions are joint"): the
// pure rule a topology store applies to decide what to publish next. No
// I/O; the stores (etcd by txn, the embedded one in its shared directory)
// persist what it returns.
//
// A state is final (one topology) or joint (a target and the final
// topology it moves from). While joint, writers need majorities of both
// replica sets; each node reports when every key it writes has recovered
// under the target; once every required node reported, the target becomes
// final (same epoch). A change that arrives while joint waits, unless it is
// forced (liveness: a node down or back), in which case it is folded into
// the pending transition: the new target, joint with the same old final
// topology. That stays safe because every commit made while joint had a
// majority of that old set.
#pragma once

#include <quorum/cluster/topology.hpp>

#include <optional>
#include <set>
#include <string>

namespace quorum::cluster {

struct TopologyState {
  Topology target;                // target.epoch moves by one per new target
  std::optional<Topology> from;   // set while joint: the last final topology
  bool joint() const noexcept { return from.has_value(); }
  friend bool operator==(const TopologyState&, const TopologyState&) = default;
};

// The nodes that must report before a joint state becomes final: every
// live node of the target (a node that writes no key reports at once).
std::set<std::string> required_reporters(const TopologyState& state);

// What to publish after `now`, or nullopt if nothing changes.
//   desired:  the topology the store wants now (the document with liveness
//             applied); its epoch is ignored
//   reported: nodes that reported caught up under now.target.epoch
//   forced:   the difference between desired and the target is liveness,
//             which may not wait for the pending transition
// Finalizing comes first: a joint state whose required nodes all reported
// becomes final even if `desired` moved; the next call starts the next
// transition.
std::optional<TopologyState> next_topology_state(const TopologyState& now, const Topology& desired,
                                                 const std::set<std::string>& reported, bool forced);

}  // namespace quorum::cluster
