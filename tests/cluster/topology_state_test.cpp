// next_topology_state: the joint-transition rule the topology stores apply.
// Random runs of desired topologies (nodes going down and up, operator
// edits), reports and forced flags; after every step:
//  - a new target moves the epoch by exactly one, finalizing keeps it;
//  - while joint, `from` is the last final topology;
//  - a state becomes final only once every live node of its target reported;
//  - an operator's change never replaces a pending transition;
//  - consecutive states always share a topology (so a writer's commit
//    quorum and the next writer's recovery quorum intersect).
#include "cluster_test_support.hpp"

#include <quorum/cluster/topology_state.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace quorum::cluster {
namespace {

std::vector<std::string> names(const Topology& t) {
  std::vector<std::string> out;
  for (const auto& dc : t.data_centers) {
    for (const auto& n : dc.nodes) {
      out.push_back(n.name);
    }
  }
  return out;
}

std::set<uint64_t> epochs_of(const TopologyState& s) {
  std::set<uint64_t> e{s.target.epoch};
  if (s.from) {
    e.insert(s.from->epoch);
  }
  return e;
}

TEST(TopologyState, AChangeGoesJointThenFinalOnceEveryLiveNodeReported) {
  const Topology t1 = testing::sample_topology();
  TopologyState now{t1, std::nullopt};
  Topology down = t1;
  testing::find_node(down, "TX-A-1")->live = false;
  auto joint = next_topology_state(now, down, {}, true);
  ASSERT_TRUE(joint);
  EXPECT_TRUE(joint->joint());
  EXPECT_EQ(joint->target.epoch, t1.epoch + 1);
  EXPECT_EQ(*joint->from, t1);
  std::set<std::string> reported = required_reporters(*joint);
  EXPECT_FALSE(reported.count("TX-A-1"));
  const std::string last = *reported.begin();
  reported.erase(last);
  EXPECT_FALSE(next_topology_state(*joint, down, reported, false));  // one report missing
  reported.insert(last);
  auto final_state = next_topology_state(*joint, down, reported, false);
  ASSERT_TRUE(final_state);
  EXPECT_FALSE(final_state->joint());
  EXPECT_EQ(final_state->target, joint->target);
  EXPECT_FALSE(next_topology_state(*final_state, down, {}, false));  // nothing more to do
}

TEST(TopologyState, AnOperatorChangeWaitsAndALivenessChangeFolds) {
  const Topology t1 = testing::sample_topology();
  Topology a = t1;
  testing::find_node(a, "FL-A-1")->live = false;
  auto joint = next_topology_state(TopologyState{t1, std::nullopt}, a, {}, false);
  ASSERT_TRUE(joint);
  Topology b = a;
  testing::find_node(b, "UT-B-1")->live = false;
  EXPECT_FALSE(next_topology_state(*joint, b, {}, false));  // waits
  auto folded = next_topology_state(*joint, b, {}, true);
  ASSERT_TRUE(folded);
  EXPECT_EQ(folded->target.epoch, joint->target.epoch + 1);
  EXPECT_EQ(*folded->from, t1);  // still joint with the last final topology
}

RC_GTEST_PROP(TopologyState, RandomRunsKeepTheSequenceSafe, ()) {
  const Topology base = testing::sample_topology();
  const std::vector<std::string> all = names(base);
  TopologyState state{base, std::nullopt};
  Topology last_final = base;
  Topology desired = base;
  const int steps = *rc::gen::inRange(1, 60);
  for (int i = 0; i < steps; ++i) {
    // Toggle a node's liveness in what the store wants, keeping every DC
    // with a live node.
    if (*rc::gen::inRange(0, 3) == 0) {
      Topology next = desired;
      Node* node = testing::find_node(next, all[*rc::gen::inRange<size_t>(0, all.size())]);
      node->live = !node->live;
      if (validate(next).ok()) {
        desired = next;
      }
    }
    // Some nodes report under the current epoch.
    std::set<std::string> reported;
    for (const auto& n : required_reporters(state)) {
      if (*rc::gen::inRange(0, 4) != 0) {
        reported.insert(n);
      }
    }
    const bool forced = *rc::gen::arbitrary<bool>();
    const std::optional<TopologyState> next = next_topology_state(state, desired, reported, forced);
    if (!next) {
      const auto required = required_reporters(state);
      RC_ASSERT(!state.joint() || !std::includes(reported.begin(), reported.end(), required.begin(), required.end()));
      continue;
    }
    if (!next->joint()) {
      // Finalized: the same target, every required node reported.
      RC_ASSERT(state.joint());
      RC_ASSERT(next->target == state.target);
      const auto required = required_reporters(state);
      RC_ASSERT(std::includes(reported.begin(), reported.end(), required.begin(), required.end()));
      last_final = next->target;
    } else {
      RC_ASSERT(next->target.epoch == state.target.epoch + 1);
      RC_ASSERT(*next->from == last_final);
      RC_ASSERT(!state.joint() || forced);  // an operator's change never replaces a pending one
      RC_ASSERT(same_except_epoch(next->target, desired));
    }
    // Consecutive states share a topology.
    const auto before = epochs_of(state);
    const auto after = epochs_of(*next);
    std::vector<uint64_t> common;
    std::set_intersection(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(common));
    RC_ASSERT(!common.empty());
    state = *next;
  }
}

}  // namespace
}  // namespace quorum::cluster
