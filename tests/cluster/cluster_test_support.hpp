// Shared helpers of the placement tests: the sample topology, building
// topologies in code, and a brute-force reference placement that shares no
// code with HashRing or Placement (only stable_hash and pattern_matches).
#pragma once

#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/stable_hash.hpp>
#include <quorum/cluster/topology.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace quorum::cluster::testing {

inline Topology sample_topology() {
  auto topology = read_topology_file(QUORUM_SAMPLE_TOPOLOGY);
  QUORUM_ASSERT(topology.ok());
  return std::move(topology).value();
}

inline Placement make_placement(Topology topology) {
  auto placement = Placement::create(std::move(topology));
  QUORUM_ASSERT(placement.ok());
  return std::move(placement).value();
}

inline Node* find_node(Topology& topology, std::string_view name) {
  for (DataCenter& dc : topology.data_centers) {
    for (Node& node : dc.nodes) {
      if (node.name == name) {
        return &node;
      }
    }
  }
  return nullptr;
}

// The answer as names, for comparisons and messages.
struct NamedReplicaSet {
  std::string home;
  std::string writer;
  std::vector<std::string> followers;  // other-zone follower first, then other DCs by name

  friend bool operator==(const NamedReplicaSet&, const NamedReplicaSet&) = default;
};

inline NamedReplicaSet named(const Placement& placement, const ReplicaSet& set) {
  NamedReplicaSet out;
  out.home = std::string(placement.data_center_name(set.home));
  out.writer = std::string(placement.node_name(set.writer));
  for (NodeId id : set.followers) {
    out.followers.emplace_back(placement.node_name(id));
  }
  return out;
}

inline std::string to_string(const NamedReplicaSet& set) {
  std::string out = "{" + set.home + ", " + set.writer + ", {";
  for (size_t i = 0; i < set.followers.size(); ++i) {
    out += (i ? ", " : "") + set.followers[i];
  }
  return out + "}}";
}

// gtest prints NamedReplicaSet values with this (found by ADL).
inline void PrintTo(const NamedReplicaSet& set, std::ostream* out) { *out << to_string(set); }

// --- Reference: DESIGN.md §3 written as directly as possible. ---

struct RefPoint {
  uint64_t hash;
  std::string node;
};

inline std::vector<RefPoint> reference_points(const DataCenter& dc) {
  std::vector<RefPoint> points;
  for (const Node& node : dc.nodes) {
    if (!node.live) {
      continue;
    }
    for (int i = 0; i < 128; ++i) {
      points.push_back({stable_hash(node.name + "#" + std::to_string(i)), node.name});
    }
  }
  std::sort(points.begin(), points.end(),
            [](const RefPoint& a, const RefPoint& b) { return std::tie(a.hash, a.node) < std::tie(b.hash, b.node); });
  return points;
}

// Index of the owner point of `hash`: the first point >= hash, else the first.
inline size_t reference_position(const std::vector<RefPoint>& points, uint64_t hash) {
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].hash >= hash) {
      return i;
    }
  }
  return 0;
}

inline std::optional<NamedReplicaSet> reference_placement(const Topology& topology, const std::string& key) {
  const uint64_t hash = stable_hash(key);
  std::vector<std::string> names;
  for (const DataCenter& dc : topology.data_centers) {
    names.push_back(dc.name);
  }
  std::sort(names.begin(), names.end());
  const auto dc_by_name = [&](const std::string& name) -> const DataCenter& {
    return *std::find_if(topology.data_centers.begin(), topology.data_centers.end(),
                         [&](const DataCenter& dc) { return dc.name == name; });
  };
  const auto live = [&](const std::string& name) {
    const DataCenter& dc = dc_by_name(name);
    return std::any_of(dc.nodes.begin(), dc.nodes.end(), [](const Node& n) { return n.live; });
  };
  std::string home = names[hash % names.size()];
  for (const HomeRule& rule : topology.home_rules) {
    if (pattern_matches(rule.pattern, key)) {
      home = rule.data_center;
      break;
    }
  }
  const std::vector<std::string> order = topology.fallback_order.empty() ? names : topology.fallback_order;
  const size_t start = std::find(order.begin(), order.end(), home) - order.begin();
  std::optional<std::string> effective;
  for (size_t step = 0; step < order.size(); ++step) {
    if (live(order[(start + step) % order.size()])) {
      effective = order[(start + step) % order.size()];
      break;
    }
  }
  if (!effective) {
    return std::nullopt;
  }
  NamedReplicaSet out;
  out.home = *effective;
  const DataCenter& home_dc = dc_by_name(*effective);
  const auto points = reference_points(home_dc);
  const size_t at = reference_position(points, hash);
  out.writer = points[at].node;
  const auto zone_of = [&](const std::string& node) {
    return std::find_if(home_dc.nodes.begin(), home_dc.nodes.end(), [&](const Node& n) { return n.name == node; })
        ->zone;
  };
  const Zone writer_zone = zone_of(out.writer);
  std::optional<std::string> same_zone_fallback;
  std::optional<std::string> other_zone;
  for (size_t step = 1; step < points.size(); ++step) {
    const std::string& node = points[(at + step) % points.size()].node;
    if (node == out.writer) {
      continue;
    }
    if (!same_zone_fallback) {
      same_zone_fallback = node;
    }
    if (zone_of(node) != writer_zone) {
      other_zone = node;
      break;
    }
  }
  if (other_zone) {
    out.followers.push_back(*other_zone);
  } else if (same_zone_fallback) {
    out.followers.push_back(*same_zone_fallback);
  }
  for (const std::string& name : names) {
    if (name != *effective && live(name)) {
      const auto dc_points = reference_points(dc_by_name(name));
      out.followers.push_back(dc_points[reference_position(dc_points, hash)].node);
    }
  }
  return out;
}

}  // namespace quorum::cluster::testing
