#include <quorum/cluster/topology_state.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <algorithm>

namespace quorum::cluster {

std::set<std::string> required_reporters(const TopologyState& state) {
  std::set<std::string> nodes;
  for (const DataCenter& dc : state.target.data_centers) {
    for (const Node& node : dc.nodes) {
      if (node.live) {
        nodes.insert(node.name);
      }
    }
  }
  return nodes;
}

std::optional<TopologyState> next_topology_state(const TopologyState& now, const Topology& desired,
                                                 const std::set<std::string>& reported, bool forced) {
  if (now.joint()) {
    const std::set<std::string> required = required_reporters(now);
    if (std::includes(reported.begin(), reported.end(), required.begin(), required.end())) {
      return TopologyState{now.target, std::nullopt};
    }
  }
  if (same_except_epoch(desired, now.target)) {
    return std::nullopt;
  }
  if (now.joint() && !forced) {
    return std::nullopt;  // one transition at a time: an operator's change waits
  }
  TopologyState next;
  next.target = desired;
  next.target.epoch = now.target.epoch + 1;
  next.from = now.joint() ? now.from : std::optional<Topology>(now.target);
  return next;
}

}  // namespace quorum::cluster
