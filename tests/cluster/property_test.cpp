// Properties of placement over random topologies (1..5 DCs, 1..9 nodes each,
// random zones, liveness, home rules and fallback orders) and random keys:
//  - Placement agrees with a brute-force reference written from DESIGN.md §3;
//  - it is deterministic and does not depend on the order of DCs or nodes;
//  - writers are live and in the home DC; followers are live, distinct from
//    the writer and from each other, one per other live DC plus one in the
//    home DC (the other zone when it has a live node);
//  - rings wrap around: hashes past the last point, and walks from the end;
//  - adding or removing a node moves about 1/N of a ring's keys, all of them
//    to or from that node.
// RC_PARAMS="seed=N" replays a failure.
#include "cluster_test_support.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace quorum::cluster {
namespace {

const std::vector<std::string> kDataCenterNames = {"FL", "TN", "TX", "UT", "GA"};

Node make_node(const std::string& dc, Zone zone, int number, bool live) {
  const std::string name = dc + "-" + std::string(to_string(zone)) + "-" + std::to_string(number);
  return Node{name, zone, name + ".quorum.test:7400", live};
}

// 1..max_nodes nodes with random zones, numbered per zone (numbers may skip).
DataCenter random_data_center(const std::string& name, int max_nodes) {
  DataCenter dc{name, {}};
  const int count = *rc::gen::inRange(1, max_nodes + 1);
  const bool all_dead = *rc::gen::inRange(0, 8) == 0;
  int next[2] = {1, 1};
  for (int i = 0; i < count; ++i) {
    const Zone zone = *rc::gen::inRange(0, 3) == 0 ? Zone::kB : Zone::kA;
    int& number = next[zone == Zone::kA ? 0 : 1];
    number += *rc::gen::inRange(0, 3) == 0 ? 1 : 0;
    const bool live = !all_dead && *rc::gen::inRange(0, 5) != 0;
    dc.nodes.push_back(make_node(name, zone, number++, live));
  }
  return dc;
}

Topology random_topology() {
  Topology topology;
  topology.epoch = *rc::gen::inRange<uint64_t>(0, 1000);
  // A random subset of the DC names, in a random order.
  const size_t dc_count = *rc::gen::inRange<size_t>(1, kDataCenterNames.size() + 1);
  std::vector<std::string> names;
  while (names.size() < dc_count) {
    const std::string pick = *rc::gen::elementOf(kDataCenterNames);
    if (std::find(names.begin(), names.end(), pick) == names.end()) {
      names.push_back(pick);
    }
  }
  for (const std::string& name : names) {
    topology.data_centers.push_back(random_data_center(name, 9));
  }
  const int rule_count = *rc::gen::inRange(0, 4);
  for (int i = 0; i < rule_count; ++i) {
    const std::string target = *rc::gen::elementOf(names);
    const std::string pattern = *rc::gen::elementOf(
        std::vector<std::string>{"e/*/precinct/" + target, "e/*/precinct/TN", "audit/*", "e/2026-11-03"});
    topology.home_rules.push_back({pattern, target});
  }
  if (*rc::gen::arbitrary<bool>()) {
    std::vector<std::string> order = names;
    std::sort(order.begin(), order.end());
    for (size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[*rc::gen::inRange<size_t>(0, i)]);
    }
    topology.fallback_order = order;
  }
  RC_ASSERT(validate(topology).ok());
  return topology;
}

std::string random_key() {
  switch (*rc::gen::inRange(0, 4)) {
    case 0:
      return "e/2026-11-03/precinct/" + *rc::gen::elementOf(kDataCenterNames) + "/" +
             std::to_string(*rc::gen::inRange(0, 100000));
    case 1:
      return "audit/" + std::to_string(*rc::gen::inRange(0, 100000));
    case 2:
      return *rc::gen::container<std::string>(rc::gen::inRange<char>(32, 127));
    default:
      return "ballot/" + std::to_string(*rc::gen::arbitrary<uint32_t>());
  }
}

RC_GTEST_PROP(ClusterProperty, PlacementMatchesTheReferenceAndItsInvariants, ()) {
  const Topology topology = random_topology();
  const Placement placement = testing::make_placement(topology);
  // The same topology with DCs and nodes in reverse order.
  Topology reversed = topology;
  std::reverse(reversed.data_centers.begin(), reversed.data_centers.end());
  for (DataCenter& dc : reversed.data_centers) {
    std::reverse(dc.nodes.begin(), dc.nodes.end());
  }
  const Placement reversed_placement = testing::make_placement(reversed);
  size_t live_dcs = 0;
  for (uint16_t dc = 0; dc < topology.data_centers.size(); ++dc) {
    live_dcs += placement.has_live_node(dc) ? 1 : 0;
  }

  const int key_count = *rc::gen::inRange(1, 40);
  for (int k = 0; k < key_count; ++k) {
    const std::string key = random_key();
    const auto expected = testing::reference_placement(topology, key);
    auto set = placement.replica_set(key);
    if (!expected) {
      RC_ASSERT(live_dcs == 0u);
      RC_ASSERT(!set.ok());
      RC_ASSERT(set.error().code == ErrorCode::kUnavailable);
      continue;
    }
    RC_ASSERT(set.ok());
    const auto actual = testing::named(placement, *set);
    RC_LOG() << "key \"" << key << "\": " << testing::to_string(actual) << ", reference "
             << testing::to_string(*expected) << "\n";
    RC_ASSERT(actual == *expected);
    // Deterministic, and independent of the order of the topology's lists.
    RC_ASSERT(testing::named(placement, *placement.replica_set(key)) == actual);
    RC_ASSERT(testing::named(reversed_placement, *reversed_placement.replica_set(key)) == actual);
    RC_ASSERT(*placement.writer(key) == set->writer);
    RC_ASSERT(*placement.home(key) == set->home);

    // Invariants.
    const uint16_t preferred = placement.preferred_home(key);
    RC_ASSERT(placement.has_live_node(set->home));
    if (placement.has_live_node(preferred)) {
      RC_ASSERT(set->home == preferred);
    }
    RC_ASSERT(set->writer.dc == set->home);
    std::set<NodeId> distinct;
    std::set<uint16_t> other_dcs;
    for (NodeId id : set->nodes()) {
      RC_ASSERT(placement.node(id).live);
      RC_ASSERT(distinct.insert(id).second);
      if (id.dc != set->home) {
        RC_ASSERT(other_dcs.insert(id.dc).second);
      }
    }
    RC_ASSERT(other_dcs.size() == live_dcs - 1);
    const size_t home_live = placement.ring(set->home).member_count();
    const size_t home_followers = set->followers.size() - other_dcs.size();
    RC_ASSERT(home_followers == (home_live >= 2 ? 1u : 0u));
    if (home_followers == 1) {
      RC_ASSERT(set->followers[0].dc == set->home);
      bool other_zone_live = false;
      for (const Node& node : topology.data_centers[set->home].nodes) {
        other_zone_live = other_zone_live || (node.live && node.zone != placement.node(set->writer).zone);
      }
      RC_ASSERT((placement.node(set->followers[0]).zone != placement.node(set->writer).zone) == other_zone_live);
    }
  }
}

std::vector<HashRing::Member> members_of(const std::vector<std::string>& names) {
  std::vector<HashRing::Member> members;
  for (size_t i = 0; i < names.size(); ++i) {
    members.push_back({names[i], static_cast<uint16_t>(i)});
  }
  return members;
}

std::vector<std::string> random_node_names(size_t count) {
  std::set<std::string> names;
  while (names.size() < count) {
    names.insert("DC-" + std::string(*rc::gen::arbitrary<bool>() ? "A" : "B") + "-" +
                 std::to_string(*rc::gen::inRange(1, 1000)));
  }
  std::vector<std::string> out(names.begin(), names.end());
  for (size_t i = out.size(); i > 1; --i) {
    std::swap(out[i - 1], out[*rc::gen::inRange<size_t>(0, i)]);
  }
  return out;
}

RC_GTEST_PROP(ClusterProperty, RingsWrapAroundTheEnd, ()) {
  const auto names = random_node_names(*rc::gen::inRange<size_t>(1, 12));
  const auto members = members_of(names);
  const HashRing ring(members);
  RC_ASSERT(ring.point_count() == names.size() * HashRing::kPointsPerNode);
  const size_t last = ring.point_count() - 1;
  // Hashes past the last point belong to the first point's owner.
  const uint64_t last_hash = ring.point_hash(last);
  if (last_hash < std::numeric_limits<uint64_t>::max() - 1) {
    const uint64_t past = *rc::gen::inRange<uint64_t>(last_hash + 1, std::numeric_limits<uint64_t>::max());
    RC_ASSERT(ring.position_of(past) == 0u);
    RC_ASSERT(ring.node_for_hash(past) == ring.owner_at(0));
    RC_ASSERT(ring.node_for_hash(std::numeric_limits<uint64_t>::max()) == ring.owner_at(0));
  }
  // Walks from the end (or anywhere) continue at the start, one turn at most.
  const size_t position = *rc::gen::elementOf(std::vector<size_t>{last, 0, *rc::gen::inRange<size_t>(0, last + 1)});
  const uint16_t after = ring.owner_at(position);
  const uint16_t wanted = *rc::gen::inRange<uint16_t>(0, static_cast<uint16_t>(names.size()));
  std::optional<uint16_t> expected;
  for (size_t step = 1; step < ring.point_count(); ++step) {
    const uint16_t owner = ring.owner_at((position + step) % ring.point_count());
    if (owner != after && owner == wanted) {
      expected = owner;
      break;
    }
  }
  RC_ASSERT(ring.next_distinct(position, after, [&](uint16_t n) { return n == wanted; }) == expected);
  RC_ASSERT(expected.has_value() == (wanted != after));
  // Hashes below the first point go to the first point too.
  if (ring.point_hash(0) > 0) {
    RC_ASSERT(ring.position_of(*rc::gen::inRange<uint64_t>(0, ring.point_hash(0))) == 0u);
  }
  // A random hash goes to the first point at or after it.
  const uint64_t hash = *rc::gen::arbitrary<uint64_t>();
  const size_t at = ring.position_of(hash);
  RC_ASSERT(ring.point_hash(at) >= hash || (at == 0 && ring.point_hash(last) < hash));
  if (at > 0) {
    RC_ASSERT(ring.point_hash(at - 1) < hash);
  }
}

RC_GTEST_PROP(ClusterProperty, AddingOrRemovingANodeMovesOnlyItsKeys, ()) {
  const size_t count = *rc::gen::inRange<size_t>(2, 16);
  const auto names = random_node_names(count);
  std::vector<std::string> fewer(names.begin(), names.end() - 1);  // without the last one
  const HashRing with(members_of(names));
  const HashRing without(members_of(fewer));
  const uint16_t changing = static_cast<uint16_t>(names.size() - 1);
  const std::string salt = std::to_string(*rc::gen::arbitrary<uint32_t>());
  constexpr int kKeys = 2000;
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = salt + "/" + std::to_string(i);
    const uint16_t a = without.node_for(key);
    const uint16_t b = with.node_for(key);  // ids agree: the first count - 1 members are the same
    if (a != b) {
      ++moved;
      RC_ASSERT(b == changing);  // adding moves keys only to the new node
    } else {
      RC_ASSERT(b != changing);  // removing moves exactly the keys it owned
    }
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  const double expected = 1.0 / static_cast<double>(names.size());
  // One node's share has a relative spread of about 1/sqrt(128) = 9%, plus
  // sampling noise of 2,000 keys.
  RC_ASSERT(std::abs(fraction - expected) <= 0.35 * expected + 0.04);
}

}  // namespace
}  // namespace quorum::cluster
