#include <quorum/cluster/failure_detector.hpp>

#include <quorum/host/assert.hpp>

#include <set>

namespace quorum::cluster {

FailureDetector::FailureDetector(std::string self, std::chrono::milliseconds timeout)
    : self_(std::move(self)), timeout_(timeout) {
  QUORUM_ASSERT(timeout_.count() > 0);
}

void FailureDetector::set_nodes(const std::vector<std::string>& names, Clock::time_point now) {
  QUORUM_ASSERT(names.size() <= kMaxTrackedNodes);
  const std::set<std::string_view> wanted(names.begin(), names.end());
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    it = wanted.contains(it->first) ? std::next(it) : nodes_.erase(it);
  }
  for (const std::string& name : names) {
    nodes_.try_emplace(name, State{now, true});
  }
}

bool FailureDetector::heard(std::string_view node, Clock::time_point now) {
  const auto it = nodes_.find(node);
  if (it == nodes_.end() || now <= it->second.last_heard) {
    return false;
  }
  it->second.last_heard = now;
  return !it->second.alive;
}

std::vector<std::string> FailureDetector::tick(Clock::time_point now) {
  std::vector<std::string> changed;
  for (auto& [name, state] : nodes_) {
    const bool alive = name == self_ || now - state.last_heard < timeout_;
    if (alive != state.alive) {
      state.alive = alive;
      changed.push_back(name);
    }
  }
  return changed;  // std::map iterates in sorted order
}

std::optional<FailureDetector::Clock::time_point> FailureDetector::next_tick() const {
  std::optional<Clock::time_point> next;
  for (const auto& [name, state] : nodes_) {
    if (state.alive && name != self_) {
      const Clock::time_point expiry = state.last_heard + timeout_;
      if (!next || expiry < *next) {
        next = expiry;
      }
    }
  }
  return next;
}

bool FailureDetector::alive(std::string_view node) const {
  if (node == self_) {
    return true;
  }
  const auto it = nodes_.find(node);
  return it == nodes_.end() || it->second.alive;
}

}  // namespace quorum::cluster
