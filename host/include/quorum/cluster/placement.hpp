// Placement: which nodes hold an actor key, as a pure function of
// (topology, key) (DESIGN.md §3). Any node computes it locally; there is no
// registry. It is part of the protocol (see stable_hash.hpp), and
// tests/cluster/golden_test.cpp pins known answers.
//
// With h = stable_hash(key):
//  - preferred_home(key): the data center of the first home rule whose
//    pattern matches the key; else the DC at index h mod D of the DC names in
//    byte-wise sorted order (D = number of DCs, live or not).
//  - home(key): preferred_home(key) if it has a live node; else the first DC
//    after it in the topology's fallback order (cyclic) that has one.
//  - writer(key) = ring[home].node_for(h).
//  - followers(key): the first node after the writer, walking ring[home]
//    clockwise (wrapping), that is in the writer's other zone; if that zone
//    has no live node, the next distinct node of any zone (none if the writer
//    is alone); then ring[d].node_for(h) for every other DC d with a live
//    node, in sorted DC-name order.
//  - replica_set(key) = writer + followers: 5 distinct nodes with 4 live DCs.
// Only live nodes are on the rings.
//
// A Placement is built once per topology (it precomputes the rings) and is
// immutable: thread-safe; lookups hash the key once, scan the home rules,
// binary-search one ring per DC and do not allocate. Lookups fail with
// kUnavailable only if no data center has a live node.
#pragma once

#include <quorum/cluster/ring.hpp>
#include <quorum/cluster/topology.hpp>
#include <quorum/host/result.hpp>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace quorum::cluster {

// A node by position: topology().data_centers[dc].nodes[node].
struct NodeId {
  uint16_t dc = 0;
  uint16_t node = 0;

  friend bool operator==(NodeId, NodeId) = default;
  friend auto operator<=>(NodeId, NodeId) = default;
};

// At most one writer, one other-zone follower and one follower per other DC.
inline constexpr size_t kMaxReplicas = kMaxDataCenters + 1;

// A bounded list of nodes (no allocation).
class NodeList {
 public:
  void push_back(NodeId id) {
    QUORUM_ASSERT(count_ < ids_.size());
    ids_[count_++] = id;
  }
  size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  NodeId operator[](size_t i) const {
    QUORUM_ASSERT(i < count_);
    return ids_[i];
  }
  std::span<const NodeId> span() const noexcept { return {ids_.data(), count_}; }
  const NodeId* begin() const noexcept { return ids_.data(); }
  const NodeId* end() const noexcept { return ids_.data() + count_; }
  bool contains(NodeId id) const noexcept;

 private:
  std::array<NodeId, kMaxReplicas> ids_{};
  size_t count_ = 0;
};

struct ReplicaSet {
  uint16_t home = 0;  // index of the home DC in topology().data_centers (after fallback)
  NodeId writer;
  NodeList followers;

  // writer first, then the followers.
  NodeList nodes() const;
};

class Placement {
 public:
  // Validates the topology (validate()) and builds one ring per DC.
  static Result<Placement> create(Topology topology);

  const Topology& topology() const noexcept { return topology_; }
  const Node& node(NodeId id) const;
  std::string_view node_name(NodeId id) const { return node(id).name; }
  std::string_view data_center_name(uint16_t dc) const;
  // The index of a DC by name, or nullopt.
  std::optional<uint16_t> find_data_center(std::string_view name) const noexcept;
  // The ring of one DC (its live nodes; ids are node indices in that DC).
  const HashRing& ring(uint16_t dc) const;
  bool has_live_node(uint16_t dc) const;

  uint16_t preferred_home(std::string_view key) const noexcept;
  Result<uint16_t> home(std::string_view key) const;
  Result<NodeId> writer(std::string_view key) const;
  Result<NodeList> followers(std::string_view key) const;
  Result<ReplicaSet> replica_set(std::string_view key) const;

 private:
  Placement() = default;
  uint16_t preferred_home(std::string_view key, uint64_t hash) const noexcept;
  ReplicaSet place(uint16_t home, uint64_t hash) const;

  struct Rule {
    std::string pattern;
    uint16_t dc = 0;
  };

  Topology topology_;
  std::vector<HashRing> rings_;                 // per DC
  std::vector<std::array<bool, 2>> zone_live_;  // per DC: zone A / B has a live node
  std::vector<uint16_t> sorted_;                // DC indices by name
  std::vector<int32_t> effective_home_;         // per DC: itself, its fallback, or -1 (nothing live)
  std::vector<Rule> rules_;
};

}  // namespace quorum::cluster
