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
//    returns the nodes whose state changed.
// Bounds: it tracks at most kMaxTrackedNodes nodes (a topology's maximum);
// heard() for an untracked node is ignored.
// Threads: none of its own; not thread-safe (the store locks around it).
#pragma once

#include <quorum/cluster/topology.hpp>

#include <chrono>
#include <map>
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
  // what is recorded).
  void heard(std::string_view node, Clock::time_point now);
  // Applies the timeout at `now`; returns the nodes whose state changed
  // (alive -> dead or dead -> alive), sorted.
  std::vector<std::string> tick(Clock::time_point now);

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
