// The actor's fingerprint tables (quorum/node/id_table.hpp): FingerprintMap
// as a multimap against std::multiset, RecentIds as "the last `bound` pairs"
// against a deque, with fingerprints drawn from a few values so collisions,
// long probe runs, wrap-around and backward-shift deletion are exercised.
// RC_PARAMS="seed=N" replays a failure.
#include <quorum/node/id_table.hpp>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <deque>
#include <set>
#include <utility>
#include <vector>

namespace quorum::node {
namespace {

std::multiset<uint64_t> values_of(const FingerprintMap& map, uint64_t fingerprint) {
  std::multiset<uint64_t> out;
  map.any_of(fingerprint, [&](uint64_t value) {
    out.insert(value);
    return false;  // visit them all
  });
  return out;
}

TEST(FingerprintMapTest, InsertFindErase) {
  FingerprintMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), 0u);  // nothing allocated until used
  EXPECT_FALSE(map.contains(7));
  EXPECT_FALSE(map.erase(7, 1));
  map.insert(7, 1);
  map.insert(7, 2);  // same fingerprint, another id
  map.insert(0, 3);  // 0 is a fingerprint like any other
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(values_of(map, 7), (std::multiset<uint64_t>{1, 2}));
  EXPECT_TRUE(map.contains(0));
  EXPECT_FALSE(map.contains(8));
  EXPECT_FALSE(map.erase(7, 3));
  EXPECT_TRUE(map.erase(7, 1));
  EXPECT_EQ(values_of(map, 7), (std::multiset<uint64_t>{2}));
  EXPECT_TRUE(map.erase(0, 3));
  EXPECT_EQ(map.size(), 1u);
  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.contains(7));
  EXPECT_GT(map.capacity(), 0u);
  map.release();
  EXPECT_EQ(map.capacity(), 0u);
}

TEST(FingerprintMapTest, AnyOfStopsAtTheFirstConfirmedCandidate) {
  FingerprintMap map;
  for (uint64_t v = 1; v <= 5; ++v) {
    map.insert(42, v);
  }
  int visits = 0;
  EXPECT_TRUE(map.any_of(42, [&](uint64_t value) {
    ++visits;
    return value == 3;
  }));
  EXPECT_LE(visits, 5);
  EXPECT_FALSE(map.any_of(42, [](uint64_t value) { return value == 9; }));
}

TEST(FingerprintMapTest, LoadStaysAtMostOneHalf) {
  FingerprintMap map;
  for (uint64_t i = 0; i < 5000; ++i) {
    map.insert(i * 0x9E3779B97F4A7C15ull, i);
    ASSERT_LE(map.size() * 2, map.capacity());
  }
  EXPECT_EQ(map.capacity(), 16384u);
  for (uint64_t i = 0; i < 5000; ++i) {
    ASSERT_TRUE(map.erase(i * 0x9E3779B97F4A7C15ull, i)) << i;
  }
  EXPECT_TRUE(map.empty());
}

RC_GTEST_PROP(FingerprintMapProperty, BehavesAsAMultiset, ()) {
  FingerprintMap map;
  // The model keys pairs by the stored form of the fingerprint: 0 is stored
  // as 1 (both are candidates of either; harmless, as values are unique seqs
  // in the actor).
  auto stored = [](uint64_t fingerprint) { return fingerprint == 0 ? uint64_t{1} : fingerprint; };
  std::multiset<std::pair<uint64_t, uint64_t>> model;
  // Few fingerprints and values: many equal fingerprints (one probe run),
  // equal pairs, erases of absent pairs.
  const uint64_t fingerprints = *rc::gen::inRange<uint64_t>(1, 40);
  const int steps = *rc::gen::inRange(1, 600);
  for (int step = 0; step < steps; ++step) {
    const uint64_t fingerprint = *rc::gen::inRange<uint64_t>(0, fingerprints);
    const uint64_t value = *rc::gen::inRange<uint64_t>(0, 8);
    const int op = *rc::gen::inRange(0, 20);
    if (op < 10) {
      map.insert(fingerprint, value);
      model.emplace(stored(fingerprint), value);
    } else if (op < 19) {
      auto it = model.find({stored(fingerprint), value});
      const bool present = it != model.end();
      RC_ASSERT(map.erase(fingerprint, value) == present);
      if (present) {
        model.erase(it);
      }
    } else {
      map.clear();
      model.clear();
    }
    RC_ASSERT(map.size() == model.size());
    RC_ASSERT(map.size() * 2 <= map.capacity() || map.size() == 0);
    for (uint64_t f = 0; f <= fingerprints; ++f) {
      std::multiset<uint64_t> want;
      for (const auto& [mf, mv] : model) {
        if (mf == stored(f)) {
          want.insert(mv);
        }
      }
      RC_ASSERT(values_of(map, f) == want);
      RC_ASSERT(map.contains(f) == !want.empty());
    }
  }
}

TEST(RecentIdsTest, EvictsTheOldestBeyondTheBound) {
  RecentIds recent(3);
  EXPECT_FALSE(recent.add(10, 1));
  EXPECT_FALSE(recent.add(11, 2));
  EXPECT_FALSE(recent.add(12, 3));
  EXPECT_EQ(recent.size(), 3u);
  EXPECT_TRUE(recent.add(13, 4));  // evicts (10, 1)
  EXPECT_EQ(recent.size(), 3u);
  EXPECT_FALSE(recent.may_contain(10));
  EXPECT_TRUE(recent.may_contain(11));
  EXPECT_TRUE(recent.may_contain(13));
  EXPECT_TRUE(recent.add(11, 5));  // evicts (11, 2); (11, 5) stays
  EXPECT_TRUE(recent.may_contain(11));
  EXPECT_TRUE(recent.any_of(11, [](uint64_t seq) { return seq == 5; }));
  EXPECT_FALSE(recent.any_of(11, [](uint64_t seq) { return seq == 2; }));
}

TEST(RecentIdsTest, ABoundOfZeroKeepsNothing) {
  RecentIds recent(0);
  EXPECT_TRUE(recent.add(1, 1));
  EXPECT_EQ(recent.size(), 0u);
  EXPECT_FALSE(recent.may_contain(1));
}

RC_GTEST_PROP(RecentIdsProperty, HoldsExactlyTheLastBoundPairs, ()) {
  const size_t bound = *rc::gen::inRange<size_t>(0, 50);
  const uint64_t fingerprints = *rc::gen::inRange<uint64_t>(2, 30);
  RecentIds recent(bound);
  std::deque<std::pair<uint64_t, uint64_t>> model;
  const int steps = *rc::gen::inRange(1, 400);
  for (int step = 0; step < steps; ++step) {
    const uint64_t fingerprint = *rc::gen::inRange<uint64_t>(2, fingerprints + 2);  // 0/1 aliasing is tested above
    const uint64_t seq = static_cast<uint64_t>(step) + 1;
    const bool evicted = recent.add(fingerprint, seq);
    model.emplace_back(fingerprint, seq);
    const bool model_evicted = model.size() > bound;
    if (model_evicted) {
      model.pop_front();
    }
    RC_ASSERT(evicted == model_evicted);
    RC_ASSERT(recent.size() == model.size());
    RC_ASSERT(recent.size() <= bound);
    for (uint64_t f = 2; f < fingerprints + 2; ++f) {
      std::multiset<uint64_t> want;
      for (const auto& [mf, ms] : model) {
        if (mf == f) {
          want.insert(ms);
        }
      }
      std::multiset<uint64_t> got;
      recent.any_of(f, [&](uint64_t s) {
        got.insert(s);
        return false;
      });
      RC_ASSERT(got == want);
      RC_ASSERT(recent.may_contain(f) == !want.empty());
    }
  }
}

}  // namespace
}  // namespace quorum::node
