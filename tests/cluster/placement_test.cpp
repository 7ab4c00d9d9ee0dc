// Placement on the sample 4x8 topology: home rules, fallback, the shape of
// replica sets, ring balance, and the keys moved by adding or removing a node.
#include "cluster_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>

namespace quorum::cluster {
namespace {

using testing::make_placement;
using testing::sample_topology;

std::string home_name(const Placement& placement, std::string_view key) {
  auto home = placement.home(key);
  QUORUM_ASSERT(home.ok());
  return std::string(placement.data_center_name(*home));
}

TEST(ClusterPlacement, HomeRulesPinPrefixes) {
  const Placement placement = make_placement(sample_topology());
  for (const char* dc : {"FL", "TN", "TX", "UT"}) {
    for (int i = 0; i < 50; ++i) {
      const std::string key = "e/2026-11-03/precinct/" + std::string(dc) + "/county/" + std::to_string(i);
      EXPECT_EQ(home_name(placement, key), dc) << key;
      EXPECT_EQ(std::string(placement.node_name(*placement.writer(key))).substr(0, 2), dc) << key;
    }
  }
}

TEST(ClusterPlacement, FirstMatchingRuleWins) {
  Topology topology = sample_topology();
  topology.home_rules.insert(topology.home_rules.begin(), HomeRule{"e/*/precinct/TN/memphis", "TX"});
  const Placement placement = make_placement(topology);
  EXPECT_EQ(home_name(placement, "e/1/precinct/TN/memphis/7"), "TX");
  EXPECT_EQ(home_name(placement, "e/1/precinct/TN/nashville/7"), "TN");
}

TEST(ClusterPlacement, KeysWithoutRulesSpreadOverAllDataCenters) {
  const Placement placement = make_placement(sample_topology());
  std::map<std::string, int> homes;
  for (int i = 0; i < 4000; ++i) {
    homes[home_name(placement, "contest/" + std::to_string(i))]++;
  }
  ASSERT_EQ(homes.size(), 4u);
  for (const auto& [dc, count] : homes) {
    EXPECT_GT(count, 850) << dc;
    EXPECT_LT(count, 1150) << dc;
  }
}

TEST(ClusterPlacement, HomeWithoutLiveNodesFallsBackInOrder) {
  Topology topology = sample_topology();
  for (Node& node : topology.data_centers[0].nodes) {  // FL down
    node.live = false;
  }
  const std::string key = "e/2026-11-03/precinct/FL/miami-dade/0042";
  {
    const Placement placement = make_placement(topology);
    EXPECT_EQ(placement.data_center_name(placement.preferred_home(key)), "FL");
    auto set = placement.replica_set(key);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(placement.data_center_name(set->home), "TN");  // fallback FL -> TN
    EXPECT_EQ(set->writer.dc, set->home);
    // Writer + other-zone follower in TN, one follower in TX and UT: 4 nodes.
    EXPECT_EQ(set->followers.size(), 3u);
    EXPECT_EQ(set->followers[0].dc, set->home);
    for (NodeId id : set->nodes()) {
      EXPECT_NE(placement.data_center_name(id.dc), "FL");
      EXPECT_TRUE(placement.node(id).live);
    }
  }
  for (Node& node : topology.data_centers[1].nodes) {  // TN down too
    node.live = false;
  }
  {
    const Placement placement = make_placement(topology);
    EXPECT_EQ(home_name(placement, key), "TX");
  }
  topology.fallback_order = {"FL", "UT", "TN", "TX"};
  {
    const Placement placement = make_placement(topology);
    EXPECT_EQ(home_name(placement, key), "UT");
    EXPECT_EQ(home_name(placement, "e/1/precinct/TN/x"), "TX");  // TN -> TX
  }
  for (DataCenter& dc : topology.data_centers) {
    for (Node& node : dc.nodes) {
      node.live = false;
    }
  }
  const Placement dead = make_placement(topology);
  auto set = dead.replica_set(key);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(dead.writer(key).ok());
  EXPECT_FALSE(dead.home(key).ok());
}

TEST(ClusterPlacement, ReplicaSetIsFiveNodesOnePerDataCenterPlusTheOtherZone) {
  const Placement placement = make_placement(sample_topology());
  for (int i = 0; i < 2000; ++i) {
    const std::string key = (i % 2 ? "e/2026-11-03/precinct/UT/" : "ballot/") + std::to_string(i);
    auto set = placement.replica_set(key);
    ASSERT_TRUE(set.ok());
    const NodeList nodes = set->nodes();
    ASSERT_EQ(nodes.size(), 5u) << key;
    std::set<NodeId> distinct(nodes.begin(), nodes.end());
    EXPECT_EQ(distinct.size(), 5u) << key;
    EXPECT_EQ(set->writer.dc, set->home);
    EXPECT_EQ(*placement.writer(key), set->writer);
    ASSERT_EQ(set->followers[0].dc, set->home);
    EXPECT_NE(placement.node(set->followers[0]).zone, placement.node(set->writer).zone) << key;
    std::set<uint16_t> other_dcs;
    for (size_t f = 1; f < set->followers.size(); ++f) {
      EXPECT_NE(set->followers[f].dc, set->home);
      other_dcs.insert(set->followers[f].dc);
    }
    EXPECT_EQ(other_dcs.size(), 3u);
    EXPECT_EQ(placement.followers(key)->size(), 4u);
  }
}

TEST(ClusterPlacement, OtherZoneDownFallsBackToTheNextDistinctNode) {
  Topology topology = sample_topology();
  for (Node& node : topology.data_centers[1].nodes) {  // TN zone B down
    node.live = node.zone == Zone::kA;
  }
  const Placement placement = make_placement(topology);
  for (int i = 0; i < 200; ++i) {
    const std::string key = "e/1/precinct/TN/" + std::to_string(i);
    auto set = placement.replica_set(key);
    ASSERT_TRUE(set.ok());
    ASSERT_EQ(set->followers.size(), 4u);
    const HashRing& ring = placement.ring(set->home);
    const size_t position = ring.position_of(stable_hash(key));
    EXPECT_EQ(set->followers[0].node, *ring.next_distinct(position, set->writer.node, [](uint16_t) { return true; }));
    EXPECT_EQ(placement.node(set->followers[0]).zone, Zone::kA);
    EXPECT_NE(set->followers[0], set->writer);
  }
  // A DC with one live node: no home follower.
  for (Node& node : topology.data_centers[1].nodes) {
    node.live = node.name == "TN-A-3";
  }
  const Placement single = make_placement(topology);
  auto set = single.replica_set("e/1/precinct/TN/1");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(single.node_name(set->writer), "TN-A-3");
  EXPECT_EQ(set->followers.size(), 3u);
  for (NodeId id : set->followers) {
    EXPECT_NE(id.dc, set->home);
  }
}

TEST(ClusterRing, BalanceOverAMillionKeys) {
  const auto start = std::chrono::steady_clock::now();
  const Placement placement = make_placement(sample_topology());
  constexpr int kKeys = 1'000'000;
  std::vector<std::vector<uint32_t>> counts(4, std::vector<uint32_t>(8, 0));
  std::string key;
  for (int i = 0; i < kKeys; ++i) {
    key = "e/2026-11-03/ballot/" + std::to_string(i);
    const uint64_t hash = stable_hash(key);
    for (uint16_t dc = 0; dc < 4; ++dc) {
      counts[dc][placement.ring(dc).node_for_hash(hash)]++;
    }
  }
  double worst = 0;
  for (uint16_t dc = 0; dc < 4; ++dc) {
    const double mean = static_cast<double>(kKeys) / 8;
    uint32_t max = 0;
    uint32_t min = kKeys;
    for (uint32_t count : counts[dc]) {
      max = std::max(max, count);
      min = std::min(min, count);
    }
    const double ratio = max / mean;
    worst = std::max(worst, ratio);
    std::printf("balance %s: max/mean %.3f, min/mean %.3f over %d keys, 8 nodes x %u points\n",
                std::string(placement.data_center_name(dc)).c_str(), ratio, min / mean, kKeys,
                HashRing::kPointsPerNode);
    // A node's share varies by about 1/sqrt(128) = 9% with 128 points; measured
    // max/mean: FL 1.056, TN 1.128, TX 1.163, UT 1.251 (the keys are fixed, so
    // this only moves if the hash, the ring or the sample topology changes).
    EXPECT_LE(ratio, 1.3) << placement.data_center_name(dc);
    EXPECT_GE(min / mean, 0.75) << placement.data_center_name(dc);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("balance: worst max/mean %.3f; %.2f s\n", worst, seconds);
}

// Fraction of `keys` whose writer changes between two placements, and
// whether every change goes to (or from) `node`.
struct Moved {
  double fraction = 0;
  bool only_that_node = true;
};

Moved compare(const Placement& before, const Placement& after, const std::vector<std::string>& keys,
              std::string_view node) {
  Moved moved;
  size_t count = 0;
  for (const std::string& key : keys) {
    const std::string_view was = before.node_name(*before.writer(key));
    const std::string_view now = after.node_name(*after.writer(key));
    if (was != now) {
      ++count;
      moved.only_that_node = moved.only_that_node && (was == node || now == node);
    }
  }
  moved.fraction = static_cast<double>(count) / keys.size();
  return moved;
}

TEST(ClusterRing, AddingOrRemovingANodeMovesAboutOneNthOfItsKeys) {
  Topology topology = sample_topology();
  std::vector<std::string> keys;  // all homed in FL by rule
  for (int i = 0; i < 100'000; ++i) {
    keys.push_back("e/2026-11-03/precinct/FL/" + std::to_string(i));
  }
  const Placement base = make_placement(topology);

  Topology grown = topology;
  grown.data_centers[0].nodes.push_back(Node{"FL-A-5", Zone::kA, "10.1.1.5:7400", true});
  const Moved added = compare(base, make_placement(grown), keys, "FL-A-5");
  std::printf("adding FL-A-5 (8 -> 9 nodes) moved %.4f of FL's keys (1/9 = %.4f)\n", added.fraction, 1.0 / 9);
  EXPECT_TRUE(added.only_that_node);
  EXPECT_NEAR(added.fraction, 1.0 / 9, 0.03);

  Topology shrunk = topology;
  testing::find_node(shrunk, "FL-B-2")->live = false;
  const Moved removed = compare(base, make_placement(shrunk), keys, "FL-B-2");
  std::printf("removing FL-B-2 (8 -> 7 nodes) moved %.4f of FL's keys (1/8 = %.4f)\n", removed.fraction, 1.0 / 8);
  EXPECT_TRUE(removed.only_that_node);
  EXPECT_NEAR(removed.fraction, 1.0 / 8, 0.03);
}

}  // namespace
}  // namespace quorum::cluster
