// Fingerprint tables for the actor's idempotency checks.
//
// What: FingerprintMap is an open-addressing multimap from a 64-bit
// fingerprint of a command id to a 64-bit value (the seq of the id's entry):
// one flat array of 16-byte slots, linear probing, backward-shift deletion
// (no tombstones), load kept at or under 1/2. RecentIds bounds one: the last
// `bound` (fingerprint, seq) pairs added, the oldest evicted first through a
// ring.
//
// Why: a std::unordered_map<std::string, ...> of ids cost a node, a heap
// string and a hash + memcmp chain per look-up, for 4096 ids per actor and
// thousands of actors (~5 % of the node's CPU, and most of an actor's
// memory). A fingerprint is 8 bytes and a look-up touches one or two cache
// lines.
//
// A fingerprint can collide, so a match is only a candidate: the caller
// confirms it against the real id (a pending entry's id in memory, or the
// store's idempotency record) before calling a command a duplicate. A miss is
// definite: every id added (and not evicted) has its fingerprint in the table.
//
// Threads: none. Memory: grows with use (nothing until the first add), up to
// 2 * bound slots (rounded up to a power of two) + bound ring entries.
#pragma once

#include <quorum/host/assert.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace quorum::node {

class FingerprintMap {
 public:
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  size_t capacity() const noexcept { return slots_.size(); }

  // Adds a pair (an equal pair already present is kept: a multimap).
  void insert(uint64_t fingerprint, uint64_t value) {
    if ((size_ + 1) * 2 > slots_.size()) {
      grow();
    }
    place(Slot{stored(fingerprint), value});
    ++size_;
  }

  // Removes one pair equal to (fingerprint, value); false if there is none.
  bool erase(uint64_t fingerprint, uint64_t value) noexcept {
    if (size_ == 0) {
      return false;
    }
    const uint64_t want = stored(fingerprint);
    for (size_t i = home(want);; i = (i + 1) & mask_) {
      if (slots_[i].fingerprint == 0) {
        return false;
      }
      if (slots_[i].fingerprint == want && slots_[i].value == value) {
        remove_at(i);
        return true;
      }
    }
  }

  // Calls visit(value) for the values stored under `fingerprint` (candidates:
  // other fingerprints that share its stored form are among them) until one
  // returns true; returns whether one did.
  template <class Visit>
  bool any_of(uint64_t fingerprint, Visit&& visit) const {
    if (size_ == 0) {
      return false;
    }
    const uint64_t want = stored(fingerprint);
    for (size_t i = home(want);; i = (i + 1) & mask_) {
      if (slots_[i].fingerprint == 0) {
        return false;
      }
      if (slots_[i].fingerprint == want && visit(slots_[i].value)) {
        return true;
      }
    }
  }

  bool contains(uint64_t fingerprint) const {
    return any_of(fingerprint, [](uint64_t) { return true; });
  }

  // Empties the map and keeps its memory (for a table reused per call).
  void clear() noexcept {
    if (size_ != 0) {
      for (Slot& slot : slots_) {
        slot = Slot{};
      }
      size_ = 0;
    }
  }

  // Empties the map and frees its memory.
  void release() noexcept {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
    mask_ = 0;
    shift_ = 64;
  }

 private:
  struct Slot {
    uint64_t fingerprint = 0;  // 0: empty (a fingerprint of 0 is stored as 1)
    uint64_t value = 0;
  };

  static uint64_t stored(uint64_t fingerprint) noexcept { return fingerprint == 0 ? 1 : fingerprint; }
  // Fibonacci hashing: the top bits of the product spread even small
  // fingerprints (tests force collisions with a few bits) over the table.
  size_t home(uint64_t fingerprint) const noexcept {
    return static_cast<size_t>((fingerprint * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void place(Slot slot) noexcept {
    size_t i = home(slot.fingerprint);
    while (slots_[i].fingerprint != 0) {
      i = (i + 1) & mask_;
    }
    slots_[i] = slot;
  }

  // Backward-shift deletion: moves later members of the probe run into the
  // hole when their home does not lie cyclically in (hole, their position].
  void remove_at(size_t hole) noexcept {
    size_t j = hole;
    for (;;) {
      j = (j + 1) & mask_;
      if (slots_[j].fingerprint == 0) {
        break;
      }
      const size_t k = home(slots_[j].fingerprint);
      const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  void grow() {
    const size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(capacity));
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) {
      --shift_;
    }
    for (const Slot& slot : old) {
      if (slot.fingerprint != 0) {
        place(slot);
      }
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 64;
};

// The last `bound` (fingerprint, seq) pairs added, oldest evicted first.
class RecentIds {
 public:
  explicit RecentIds(size_t bound) : bound_(bound) {}

  size_t bound() const noexcept { return bound_; }
  size_t size() const noexcept { return map_.size(); }

  // Adds a pair; true if that evicted one (the oldest) to stay within the
  // bound. With bound 0 nothing is kept and every add evicts.
  bool add(uint64_t fingerprint, uint64_t seq) {
    if (bound_ == 0) {
      return true;
    }
    if (ring_.size() < bound_) {
      ring_.push_back(Pair{fingerprint, seq});
      map_.insert(fingerprint, seq);
      return false;
    }
    Pair& oldest = ring_[next_];
    const bool erased = map_.erase(oldest.fingerprint, oldest.seq);
    QUORUM_ASSERT(erased);
    oldest = Pair{fingerprint, seq};
    map_.insert(fingerprint, seq);
    next_ = next_ + 1 == bound_ ? 0 : next_ + 1;
    return true;
  }

  bool may_contain(uint64_t fingerprint) const { return map_.contains(fingerprint); }
  template <class Visit>
  bool any_of(uint64_t fingerprint, Visit&& visit) const {
    return map_.any_of(fingerprint, std::forward<Visit>(visit));
  }

 private:
  struct Pair {
    uint64_t fingerprint = 0;
    uint64_t seq = 0;
  };
  size_t bound_;
  FingerprintMap map_;
  std::vector<Pair> ring_;  // in add order until full; then ring_[next_] is the oldest
  size_t next_ = 0;
};

}  // namespace quorum::node
