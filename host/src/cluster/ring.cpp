#include <quorum/cluster/ring.hpp>

#include <algorithm>
#include <string>

namespace quorum::cluster {

HashRing::HashRing(std::span<const Member> members) : member_count_(members.size()) {
  struct Point {
    uint64_t hash;
    uint32_t member;  // index into members
  };
  std::vector<Point> points;
  points.reserve(members.size() * kPointsPerNode);
  std::string label;
  for (uint32_t m = 0; m < members.size(); ++m) {
    for (uint32_t other = 0; other < m; ++other) {
      QUORUM_ASSERT(members[other].name != members[m].name);
      QUORUM_ASSERT(members[other].id != members[m].id);
    }
    for (uint32_t i = 0; i < kPointsPerNode; ++i) {
      label.assign(members[m].name);
      label += '#';
      label += std::to_string(i);
      points.push_back({stable_hash(label), m});
    }
  }
  std::sort(points.begin(), points.end(), [&](const Point& a, const Point& b) {
    if (a.hash != b.hash) {
      return a.hash < b.hash;
    }
    return members[a.member].name < members[b.member].name;
  });
  hashes_.reserve(points.size());
  owners_.reserve(points.size());
  for (const Point& point : points) {
    hashes_.push_back(point.hash);
    owners_.push_back(members[point.member].id);
  }
}

size_t HashRing::position_of(uint64_t hash) const noexcept {
  QUORUM_ASSERT(!hashes_.empty());
  const auto it = std::lower_bound(hashes_.begin(), hashes_.end(), hash);
  return it == hashes_.end() ? 0 : static_cast<size_t>(it - hashes_.begin());
}

uint64_t HashRing::point_hash(size_t position) const noexcept {
  QUORUM_ASSERT(position < hashes_.size());
  return hashes_[position];
}

uint16_t HashRing::owner_at(size_t position) const noexcept {
  QUORUM_ASSERT(position < owners_.size());
  return owners_[position];
}

uint16_t HashRing::node_for(std::string_view key) const noexcept { return node_for_hash(stable_hash(key)); }

}  // namespace quorum::cluster
