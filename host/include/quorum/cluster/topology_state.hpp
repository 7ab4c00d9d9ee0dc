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
//
// Also here: StoredTopologyState, the one record both stores persist (the
// embedded store as <topology.json>.state under flock, etcd as
// <prefix>state written by txn; docs/formats.md §6.3), and
// next_stored_topology_state, the step every node of a store runs on it.
#pragma once

#include <quorum/cluster/topology.hpp>
#include <quorum/host/result.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace quorum::cluster {

struct TopologyState {
  Topology target;               // target.epoch moves by one per new target
  std::optional<Topology> from;  // set while joint: the last final topology
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

// ---- The stored record ----

// A stored record is at most this long (two topologies and two name lists).
inline constexpr size_t kMaxTopologyStateBytes = 3 * kMaxTopologyFileBytes;

// What a store persists. The target is derived, never stored twice:
// target = document with `down` lowered (effective_topology), at `epoch`.
struct StoredTopologyState {
  uint64_t epoch = 0;              // the target's place in the one global sequence (>= 1)
  Topology document;               // the operator document the target was built from (its own epoch: its version)
  std::set<std::string> down;      // nodes live in `document` but taken for dead
  std::optional<Topology> from;    // while joint: the last final (effective) topology, from.epoch < epoch
  std::set<std::string> reported;  // nodes that reported caught up under `epoch` (the embedded store; etcd: keys)
  TopologyState state() const;     // {target, from}
  bool joint() const noexcept { return from.has_value(); }
  friend bool operator==(const StoredTopologyState&, const StoredTopologyState&) = default;
};

// The record's JSON text (fields in a fixed order, trailing newline), and
// back. Parsing checks every field: both topologies valid, epoch >= 1,
// from.epoch < epoch, `down` naming nodes live in the document, `reported`
// naming nodes of the document; anything else is kInvalidArgument naming
// the field.
std::string to_json(const StoredTopologyState& stored);
Result<StoredTopologyState> parse_stored_topology_state(std::string_view text);

// One step of a store over its record: what to write after `now` (nullopt:
// no record yet), or nullopt if nothing changes.
//   document: the latest operator document
//   alive:    liveness as this node sees it now (self included)
//   joint:    false: every new target is written final at once (stores whose
//             users do not report yet; all nodes of a cluster must agree)
// No record yet: a final record of `document` at epoch max(document.epoch, 1).
// Final: a change of the document or of liveness becomes the next target.
// Joint: finalizing first (every live node of the target reported); else a
// liveness change is folded (forced) into the pending transition, built on
// the pending transition's document: an operator's new document waits until
// the transition is final. The result carries no reports: a new target needs
// new ones, and a final state none.
std::optional<StoredTopologyState> next_stored_topology_state(const std::optional<StoredTopologyState>& now,
                                                              const Topology& document,
                                                              const std::function<bool(std::string_view)>& alive,
                                                              bool joint);

}  // namespace quorum::cluster
