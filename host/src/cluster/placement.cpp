#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/stable_hash.hpp>

#include <algorithm>

namespace quorum::cluster {

bool NodeList::contains(NodeId id) const noexcept { return std::find(begin(), end(), id) != end(); }

NodeList ReplicaSet::nodes() const {
  NodeList all;
  all.push_back(writer);
  for (NodeId follower : followers) {
    all.push_back(follower);
  }
  return all;
}

Result<Placement> Placement::create(Topology topology) {
  if (auto status = validate(topology); !status) {
    return status.error();
  }
  Placement placement;
  placement.topology_ = std::move(topology);
  const auto& dcs = placement.topology_.data_centers;
  const size_t dc_count = dcs.size();
  QUORUM_ASSERT(dc_count >= 1 && dc_count <= kMaxDataCenters);

  placement.rings_.reserve(dc_count);
  placement.zone_live_.assign(dc_count, {false, false});
  for (size_t d = 0; d < dc_count; ++d) {
    std::vector<HashRing::Member> members;
    for (size_t n = 0; n < dcs[d].nodes.size(); ++n) {
      const Node& node = dcs[d].nodes[n];
      if (node.live) {
        members.push_back({node.name, static_cast<uint16_t>(n)});
        placement.zone_live_[d][node.zone == Zone::kA ? 0 : 1] = true;
      }
    }
    placement.rings_.emplace_back(members);
  }

  placement.sorted_.resize(dc_count);
  for (size_t d = 0; d < dc_count; ++d) {
    placement.sorted_[d] = static_cast<uint16_t>(d);
  }
  std::sort(placement.sorted_.begin(), placement.sorted_.end(),
            [&](uint16_t a, uint16_t b) { return dcs[a].name < dcs[b].name; });

  // The cyclic fallback order as DC indices (sorted names if none is given).
  std::vector<uint16_t> order;
  if (placement.topology_.fallback_order.empty()) {
    order = placement.sorted_;
  } else {
    for (const std::string& name : placement.topology_.fallback_order) {
      const auto dc = placement.find_data_center(name);
      QUORUM_ASSERT(dc.has_value());  // validate() checked it
      order.push_back(*dc);
    }
  }
  QUORUM_ASSERT(order.size() == dc_count);
  placement.effective_home_.assign(dc_count, -1);
  for (size_t i = 0; i < dc_count; ++i) {
    for (size_t step = 0; step < dc_count; ++step) {
      const uint16_t candidate = order[(i + step) % dc_count];
      if (!placement.rings_[candidate].empty()) {
        placement.effective_home_[order[i]] = candidate;
        break;
      }
    }
  }

  for (const HomeRule& rule : placement.topology_.home_rules) {
    const auto dc = placement.find_data_center(rule.data_center);
    QUORUM_ASSERT(dc.has_value());
    placement.rules_.push_back({rule.pattern, *dc});
  }
  return placement;
}

const Node& Placement::node(NodeId id) const {
  QUORUM_ASSERT(id.dc < topology_.data_centers.size());
  QUORUM_ASSERT(id.node < topology_.data_centers[id.dc].nodes.size());
  return topology_.data_centers[id.dc].nodes[id.node];
}

std::string_view Placement::data_center_name(uint16_t dc) const {
  QUORUM_ASSERT(dc < topology_.data_centers.size());
  return topology_.data_centers[dc].name;
}

std::optional<uint16_t> Placement::find_data_center(std::string_view name) const noexcept {
  for (size_t d = 0; d < topology_.data_centers.size(); ++d) {
    if (topology_.data_centers[d].name == name) {
      return static_cast<uint16_t>(d);
    }
  }
  return std::nullopt;
}

const HashRing& Placement::ring(uint16_t dc) const {
  QUORUM_ASSERT(dc < rings_.size());
  return rings_[dc];
}

bool Placement::has_live_node(uint16_t dc) const { return !ring(dc).empty(); }

uint16_t Placement::preferred_home(std::string_view key, uint64_t hash) const noexcept {
  for (const Rule& rule : rules_) {
    if (pattern_matches(rule.pattern, key)) {
      return rule.dc;
    }
  }
  return sorted_[hash % sorted_.size()];
}

uint16_t Placement::preferred_home(std::string_view key) const noexcept {
  return preferred_home(key, stable_hash(key));
}

Result<uint16_t> Placement::home(std::string_view key) const {
  const int32_t home = effective_home_[preferred_home(key)];
  if (home < 0) {
    return make_error(ErrorCode::kUnavailable, "placement: no data center has a live node");
  }
  return static_cast<uint16_t>(home);
}

ReplicaSet Placement::place(uint16_t home, uint64_t hash) const {
  const HashRing& home_ring = rings_[home];
  QUORUM_ASSERT(!home_ring.empty());
  ReplicaSet set;
  set.home = home;
  const size_t position = home_ring.position_of(hash);
  const uint16_t writer = home_ring.owner_at(position);
  set.writer = {home, writer};

  const std::vector<Node>& home_nodes = topology_.data_centers[home].nodes;
  const Zone other_zone = home_nodes[writer].zone == Zone::kA ? Zone::kB : Zone::kA;
  std::optional<uint16_t> local;
  if (zone_live_[home][other_zone == Zone::kA ? 0 : 1]) {
    local = home_ring.next_distinct(position, writer, [&](uint16_t n) { return home_nodes[n].zone == other_zone; });
    QUORUM_ASSERT(local.has_value());  // the other zone has a live node, so it is on the ring
  } else {
    local = home_ring.next_distinct(position, writer, [](uint16_t) { return true; });
  }
  if (local) {
    set.followers.push_back({home, *local});
  }
  for (uint16_t dc : sorted_) {
    if (dc != home && !rings_[dc].empty()) {
      set.followers.push_back({dc, rings_[dc].node_for_hash(hash)});
    }
  }
  return set;
}

Result<NodeId> Placement::writer(std::string_view key) const {
  const uint64_t hash = stable_hash(key);
  const int32_t home = effective_home_[preferred_home(key, hash)];
  if (home < 0) {
    return make_error(ErrorCode::kUnavailable, "placement: no data center has a live node");
  }
  return NodeId{static_cast<uint16_t>(home), rings_[static_cast<size_t>(home)].node_for_hash(hash)};
}

Result<NodeList> Placement::followers(std::string_view key) const {
  auto set = replica_set(key);
  if (!set) {
    return set.error();
  }
  return set->followers;
}

Result<ReplicaSet> Placement::replica_set(std::string_view key) const {
  const uint64_t hash = stable_hash(key);
  const int32_t home = effective_home_[preferred_home(key, hash)];
  if (home < 0) {
    return make_error(ErrorCode::kUnavailable, "placement: no data center has a live node");
  }
  return place(static_cast<uint16_t>(home), hash);
}

}  // namespace quorum::cluster
