// The topology store: where a node gets the current topology from and how
// operators change it (DESIGN.md §5, §6). Two implementations:
//  - StaticTopologyStore (static_topology_store.hpp): topology.json on disk
//    plus a local failure detector per node; the nodes of one machine share
//    the transition record next to the file (under flock), so epochs form
//    one sequence for all of them. For one machine and for tests.
//  - EtcdTopologyStore (etcd_topology_store.hpp): etcd v3; a key prefix holds
//    the document, node leases give liveness, the transition record is
//    written by txn, a watch pushes changes. Production.
// Quorum runs no consensus of its own for the topology.
//
// Epochs form one global sequence of states (topology_state.hpp): a change
// is published as epoch T+1 *joint* with T (state().previous is T's
// placement); while joint, writers need majorities of both replica sets;
// each node reports caught up (report_caught_up) once every key it writes
// recovered under T+1; the store then publishes T+1 final (same epoch,
// previous null). A store built with joint transitions off publishes every
// change final at once (its users do not replicate yet).
//
// Contract: after start() succeeded, current() is never null and is the
// effective placement of the latest state: the document with `live` lowered
// for nodes that are drained or taken for dead. Its topology().epoch is the
// state's epoch and moves on every new target, liveness included (not on
// finalizing). on_change runs on a store thread after every new state this
// node observes, joint and final, one call at a time, never after stop()
// returned; a node may skip an intermediate state (a final immediately
// superseded), so callers read state() (at least as new as the call) and
// compare epochs instead of counting calls. It must not block for long nor
// call stop() or the mutations (add_node, ...) or report_caught_up() of the
// same store: the static store waits for its own thread to apply those.
//
// Also here: the edits shared by both stores and quorumctl (with_node_added,
// ...). They are values in, values out; each returns a validated topology or
// an Error naming what is wrong, leaving the input unchanged.
//
// Threads: every member of a store is safe to call from any thread, except
// that on_change must be set before start() and start()/stop() are called by
// one owner thread.
#pragma once

#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/topology.hpp>
#include <quorum/cluster/topology_state.hpp>
#include <quorum/host/result.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace quorum::cluster {

using Clock = std::chrono::steady_clock;

// One published state, read atomically: the placement to route by and,
// while a transition is joint, the placement of the last final topology.
struct TopologyView {
  std::shared_ptr<const Placement> current;   // epoch T+1 while joint, T when final
  std::shared_ptr<const Placement> previous;  // epoch T while joint; null when final
  bool joint() const noexcept { return previous != nullptr; }
};

class TopologyStore {
 public:
  virtual ~TopologyStore() = default;
  // Starts watching (file / etcd) and returns once a first topology is known (or an error).
  virtual Status start() = 0;
  virtual void stop() = 0;  // no callback runs after it returns
  // The current effective placement (immutable, shared; never null after start()).
  // Its topology().epoch is the effective epoch: it moves on every change, liveness included.
  virtual std::shared_ptr<const Placement> current() const = 0;
  // Called (on a store thread) after every change of the effective topology. Set before start().
  virtual void on_change(std::function<void(std::shared_ptr<const Placement>)> callback) = 0;
  // current() and previous() of one state, read together (never a mix of two states).
  // The default suits stores without transitions: always final.
  virtual TopologyView state() const { return TopologyView{current(), nullptr}; }
  // The placement of epoch T while T+1 is joint; null when final.
  std::shared_ptr<const Placement> previous() const { return state().previous; }
  // `node` caught up every key it writes under the joint epoch `epoch`. The
  // store marks the transition final once every live node of the target
  // reported. A report for an epoch that is not the pending joint one (late,
  // or already final) is accepted and changes nothing; kInvalidArgument if
  // `node` is not in the target; kIo / kUnavailable if it could not be stored
  // (the caller retries). The default (no transitions) accepts everything.
  virtual Status report_caught_up(std::string_view node, uint64_t epoch) {
    (void)node;
    (void)epoch;
    return {};
  }
  // Liveness evidence from the mailroom: a heartbeat or any frame from `node`.
  // The embedded store's failure detector uses it; the etcd store ignores it (leases decide).
  virtual void heard_from(std::string_view node, Clock::time_point now) = 0;
  // False while `node` is taken for dead (failure detector, or no lease);
  // drained nodes are alive. The router asks only living nodes for keys
  // they may hold. The default (every node alive) suits stores without
  // liveness.
  virtual bool alive(std::string_view node) const {
    (void)node;
    return true;
  }
  // Operator changes; each moves the epoch. drain: taken off its ring (live=false) but kept in the topology.
  virtual Status add_node(std::string_view data_center, Node node) = 0;
  virtual Status remove_node(std::string_view node_name) = 0;
  virtual Status drain(std::string_view node_name) = 0;
  virtual Status undrain(std::string_view node_name) = 0;
};

// The view that publishes `state`, built from `view` (the placements of
// topologies that did not change are reused): nullopt if `state` is what
// `view` shows already. Error (kInvalidArgument, naming the epoch): a
// topology cannot be placed. Shared by both stores.
Result<std::optional<TopologyView>> next_view(const TopologyView& view, const TopologyState& state);

// ---- Edits (shared by the stores and quorumctl) ----

// An edit of the stored document. The stores apply it to the latest stored
// version, then raise the document's epoch by one.
using TopologyEdit = std::function<Result<Topology>(Topology)>;

// "FL-A-12" -> {"FL", zone A}: the data center and zone a node name implies
// (DC-ZONE-N, docs/formats.md). kInvalidArgument for anything else.
struct NodeNameParts {
  std::string data_center;
  Zone zone = Zone::kA;
};
Result<NodeNameParts> parse_node_name(std::string_view name);

// Adds `node` to the existing data center `data_center`. Errors: unknown data
// center, a name or address already used, or anything validate() refuses.
Result<Topology> with_node_added(Topology topology, std::string_view data_center, Node node);
// Removes a node (kNotFound if unknown; refused if it would empty its DC).
Result<Topology> with_node_removed(Topology topology, std::string_view node_name);
// Sets a node's stored `live` flag: false drains it, true undrains it
// (kNotFound if unknown). Setting the flag it already has is not an error.
Result<Topology> with_node_live(Topology topology, std::string_view node_name, bool live);

// The effective topology: `document` with live = document.live && is_alive(name)
// and the given epoch.
Topology effective_topology(const Topology& document, const std::function<bool(std::string_view)>& is_alive,
                            uint64_t epoch);

// True when a and b are equal ignoring their epochs.
bool same_except_epoch(const Topology& a, const Topology& b);

}  // namespace quorum::cluster
