// A consistent-hash ring of one data center (DESIGN.md §3). Each member
// (a live node) owns kPointsPerNode points on a 64-bit circle at
// stable_hash("<node name>#<i>"), i = 0..127 in decimal. A hash h belongs to
// the first point at or after h (clockwise); past the last point it wraps to
// the first. Points that collide are ordered by node name, so the ring does
// not depend on the order of its members.
//
// Walks along the ring (next_distinct) wrap around the end too — unlike
// libring's key_to_nodes (bitwalker/libring#39) — and are bounded by one turn.
// Immutable after construction: thread-safe, and lookups do not allocate.
#pragma once

#include <quorum/cluster/stable_hash.hpp>
#include <quorum/host/assert.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace quorum::cluster {

class HashRing {
 public:
  static constexpr uint32_t kPointsPerNode = 128;

  // A member: its node name (hashed into points) and the id the ring hands
  // back for it (Placement uses the node's index in its data center).
  struct Member {
    std::string_view name;
    uint16_t id = 0;
  };

  HashRing() = default;
  // Names and ids must be distinct (asserted).
  explicit HashRing(std::span<const Member> members);

  bool empty() const noexcept { return hashes_.empty(); }
  size_t member_count() const noexcept { return member_count_; }
  size_t point_count() const noexcept { return hashes_.size(); }

  // The index of the first point at or after `hash`, wrapping to 0. Not empty.
  size_t position_of(uint64_t hash) const noexcept;
  uint64_t point_hash(size_t position) const noexcept;
  uint16_t owner_at(size_t position) const noexcept;

  // The owner of the first point clockwise from `hash` / stable_hash(key).
  uint16_t node_for_hash(uint64_t hash) const noexcept { return owner_at(position_of(hash)); }
  uint16_t node_for(std::string_view key) const noexcept;

  // Walks clockwise from the point after `position`, wrapping around the end,
  // for at most one turn, and returns the owner of the first point that is
  // not owned by `after` and whose owner satisfies `accept(owner)`; nullopt if
  // there is none. Typically `position` is the writer's point and `after` the
  // writer.
  template <class Accept>
  std::optional<uint16_t> next_distinct(size_t position, uint16_t after, Accept&& accept) const {
    QUORUM_ASSERT(position < hashes_.size());
    const size_t count = hashes_.size();
    for (size_t step = 1; step < count; ++step) {
      const size_t at = position + step < count ? position + step : position + step - count;
      const uint16_t owner = owners_[at];
      if (owner != after && accept(owner)) {
        return owner;
      }
    }
    return std::nullopt;
  }

  // The same, from the point that owns stable_hash(key), after its owner.
  template <class Accept>
  std::optional<uint16_t> next_distinct(std::string_view key, Accept&& accept) const;

 private:
  std::vector<uint64_t> hashes_;  // sorted
  std::vector<uint16_t> owners_;  // owners_[i] owns hashes_[i]
  size_t member_count_ = 0;
};

template <class Accept>
std::optional<uint16_t> HashRing::next_distinct(std::string_view key, Accept&& accept) const {
  QUORUM_ASSERT(!empty());
  const size_t position = position_of(stable_hash(key));
  return next_distinct(position, owners_[position], static_cast<Accept&&>(accept));
}

}  // namespace quorum::cluster
