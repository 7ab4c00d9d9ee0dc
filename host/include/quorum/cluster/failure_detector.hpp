// FailureDetector: which nodes this node believes alive, from when it last
// heard from them (the embedded topology store, DESIGN.md §6). Sans-IO: the
// caller passes the time; it never reads a clock, sleeps or locks.
//
// Rules:
//  - a tracked node not heard for `timeout` (default 3 s) is dead; heard
//    again, it is alive at the next tick();
//  - a node starts tracked as alive with a grace period: set_nodes(now)
//    counts a newly tracked node as heard at `now`, so a cluster that is
//    starting does not flap;
//  - `self` is always alive;
//  - only tick() changes states (heard() just records the time), and tick()
//    returns the nodes whose state changed;
//  - next_tick() says when tick() next has something to do without new
//    evidence (the earliest moment an alive node's timeout runs out), and
//    heard() says when evidence revives a dead node (tick() at once), so a
//    caller can sleep between changes instead of ticking on a fixed period.
// Bounds: it tracks at most kMaxTrackedNodes nodes (a topology's maximum);
// heard() for an untracked node is ignored.
// Threads: none of its own; not thread-safe (the store locks around it).
#pragma once

#include <quorum/cluster/topology.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::cluster {

inline constexpr size_t kMaxTrackedNodes = kMaxDataCenters * kMaxNodesPerDataCenter;

class FailureDetector {
 public:
  using Clock = std::chrono::steady_clock;

  explicit FailureDetector(std::string self, std::chrono::milliseconds timeout = std::chrono::seconds(3));

  // Tracks exactly `names` (at most kMaxTrackedNodes): new names are alive
  // and heard at `now`; names no longer listed are forgotten.
  void set_nodes(const std::vector<std::string>& names, Clock::time_point now);
  // Records liveness evidence for `node` (ignored if untracked or older than
  // what is recorded). Returns true when that node is dead as of the last
  // tick() and this evidence makes it alive at the next one (the caller
  // should tick soon); false otherwise.
  bool heard(std::string_view node, Clock::time_point now);
  // Applies the timeout at `now`; returns the nodes whose state changed
  // (alive -> dead or dead -> alive), sorted.
  std::vector<std::string> tick(Clock::time_point now);
  // The earliest time at which tick() would change a state if nothing more
  // were heard: min(last heard + timeout) over the tracked nodes alive as of
  // the last tick() (self excluded). nullopt when no alive node can expire
  // (then only heard() returning true calls for a tick()). May be in the
  // past (a timeout ran out and tick() was not called yet).
  std::optional<Clock::time_point> next_tick() const;

  // The state as of the last tick() (true for self and for unknown names:
  // the detector only lowers nodes it tracks).
  bool alive(std::string_view node) const;
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }
  size_t size() const noexcept { return nodes_.size(); }

 private:
  struct State {
    Clock::time_point last_heard;
    bool alive = true;
  };
  std::string self_;
  std::chrono::milliseconds timeout_;
  std::map<std::string, State, std::less<>> nodes_;
};

}  // namespace quorum::cluster
