// ClusterNode in one process: four nodes (2 data centers x 2), each a real
// LocalNode (LevelDB in a temp dir), a real mailroom on loopback TCP and an
// embedded topology store reading a topology.json. Commands submitted to any
// node reach their key's owner and nowhere else; reads work from any node;
// side effects cross nodes exactly once; a request whose key moved is
// re-routed, and a request that keeps moving stops at the hop limit.
// The multi-process version of these checks is tests/cluster_routing/.
#include "node/node_test_support.hpp"

#include <quorum/cluster/static_topology_store.hpp>
#include <quorum/cluster/topology_store.hpp>
#include <quorum/process/child_process.hpp>
#include <quorum/router/cluster_node.hpp>
#include <quorum/router/messages.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace quorum::router {
namespace {

using node::testing::add;
using node::testing::read_actor_sync;
using node::testing::read_log_sync;
using node::testing::ScratchDir;
using node::testing::submit_sync;
using node::testing::total_of;

const std::vector<std::string> kNames = {"FL-A-1", "FL-B-1", "TN-A-1", "TN-B-1"};

cluster::Topology make_topology() {
  cluster::Topology topology;
  topology.epoch = 1;
  for (const std::string dc : {"FL", "TN"}) {
    cluster::DataCenter center;
    center.name = dc;
    for (const std::string zone : {"A", "B"}) {
      auto port = process::free_loopback_port();
      EXPECT_TRUE(port.ok());
      center.nodes.push_back({dc + "-" + zone + "-1", zone == "A" ? cluster::Zone::kA : cluster::Zone::kB,
                              "127.0.0.1:" + std::to_string(port.ok() ? *port : 0), true});
    }
    topology.data_centers.push_back(center);
  }
  return topology;
}

cluster::Topology drained(const cluster::Topology& topology, const std::string& name) {
  auto edited = cluster::with_node_live(topology, name, false);
  EXPECT_TRUE(edited.ok());
  return edited.ok() ? std::move(edited).value() : topology;
}

std::string writer_of(const cluster::Topology& topology, const std::string& key) {
  auto placement = cluster::Placement::create(topology);
  EXPECT_TRUE(placement.ok());
  auto writer = placement->writer(key);
  EXPECT_TRUE(writer.ok());
  return std::string(placement->node_name(*writer));
}

class ClusterNodeTest : public ::testing::Test {
 protected:
  // Starts every node; node i reads files[i] (default: one shared file).
  void start(const cluster::Topology& topology, std::map<std::string, cluster::Topology> per_node = {}) {
    topology_ = topology;
    for (const std::string& name : kNames) {
      const cluster::Topology& mine = per_node.count(name) ? per_node.at(name) : topology;
      const std::string file = (dir_.path() / (name + "-topology.json")).string();
      ASSERT_TRUE(cluster::write_topology_file(file, mine).ok());
      cluster::StaticTopologyStoreOptions store_options{file, name};
      store_options.failure_timeout = std::chrono::seconds(60);  // liveness is not what these tests check
      auto store = std::make_unique<cluster::StaticTopologyStore>(store_options);
      ASSERT_TRUE(store->start().ok());
      ClusterNodeOptions options;
      options.local.data_dir = dir_.path() / name;
      options.local.node_name = name;
      options.local.shards = 1;
      options.local.plugin_dir = node::testing::fixture_dir();
      options.local.activations = {{"ledger", "1.0.0"}};
      options.local.tick_ms = 20;
      options.request_timeout = std::chrono::seconds(20);
      auto opened = ClusterNode::open(std::move(options), *store);
      ASSERT_TRUE(opened.ok()) << opened.error().message;
      stores_[name] = std::move(store);
      nodes_[name] = std::move(opened).value();
    }
  }

  void TearDown() override {
    for (auto& [name, node] : nodes_) {
      node->shutdown();
    }
    nodes_.clear();
    for (auto& [name, store] : stores_) {
      store->stop();
    }
  }

  ClusterNode& node(const std::string& name) { return *nodes_.at(name); }

  ScratchDir dir_;
  cluster::Topology topology_;
  std::map<std::string, std::unique_ptr<cluster::StaticTopologyStore>> stores_;
  std::map<std::string, std::unique_ptr<ClusterNode>> nodes_;
};

TEST_F(ClusterNodeTest, CommandsSentToAnyNodeReachTheOwnerAndReadsWorkFromAnyNode) {
  start(make_topology());
  std::map<std::string, int> owned;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "precinct/" + std::to_string(i);
    const std::string via = kNames[i % kNames.size()];
    auto receipt = submit_sync(node(via), add(key, "b-" + std::to_string(i), i + 1));
    ASSERT_TRUE(receipt.ok()) << via << " " << key << ": " << receipt.error().message;
    EXPECT_EQ(receipt->key, key);
    EXPECT_EQ(receipt->seq, 1u);
    // A retry through another node is the same answer, not a second entry.
    auto retry = submit_sync(node(kNames[(i + 1) % kNames.size()]), add(key, "b-" + std::to_string(i), i + 1));
    ASSERT_TRUE(retry.ok()) << retry.error().message;
    EXPECT_TRUE(retry->duplicate);
    EXPECT_EQ(retry->hash_hex, receipt->hash_hex);
    const std::string owner = writer_of(topology_, key);
    owned[owner] += 1;
    for (const std::string& name : kNames) {
      // Reads from any node see it...
      EXPECT_EQ(total_of(node(name), key), i + 1) << name << " " << key;
      auto log = read_log_sync(node(name), key, 1, 10);
      ASSERT_TRUE(log.ok()) << log.error().message;
      ASSERT_EQ(log->size(), 1u);
      EXPECT_EQ((*log)[0].hash_hex, receipt->hash_hex);
      // ...and only the owner holds it.
      auto local = read_actor_sync(node(name).local(), key);
      EXPECT_EQ(local.ok(), name == owner) << name << " " << key;
    }
  }
  // Placement spreads 40 keys over all four nodes.
  EXPECT_EQ(owned.size(), kNames.size());
  std::string metrics;
  node("FL-A-1").write_metrics(metrics);
  EXPECT_NE(metrics.find("quorum_router_forwarded_total"), std::string::npos);
  EXPECT_NE(metrics.find("quorum_mailroom_"), std::string::npos);
}

TEST_F(ClusterNodeTest, AHandlersRefusalComesBackWithItsReason) {
  start(make_topology());
  for (const std::string& via : kNames) {
    node::Command bad = add("precinct/refused", "x-" + via, 1);
    bad.type = "reject";
    auto result = submit_sync(node(via), bad);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, ErrorCode::kRejected) << result.error().message;
  }
  EXPECT_EQ(read_actor_sync(node("TN-B-1"), "precinct/refused").error().code, ErrorCode::kNotFound);
}

TEST_F(ClusterNodeTest, SideEffectsCrossNodesExactlyOnce) {
  start(make_topology());
  // Precincts on every node roll up into counties owned by other nodes.
  int64_t expected = 0;
  std::set<std::string> precinct_owners;
  for (int i = 0; i < 24; ++i) {
    const std::string precinct = "precinct/" + std::to_string(i % 8);
    precinct_owners.insert(writer_of(topology_, precinct));
    auto r = submit_sync(node(kNames[i % kNames.size()]), add(precinct, "b-" + std::to_string(i), i + 1, "county/9"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    expected += i + 1;
  }
  ASSERT_GT(precinct_owners.size(), 1u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (total_of(node("FL-A-1"), "county/9") != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(total_of(node("FL-A-1"), "county/9"), expected);
  // Settled: nothing more arrives (no duplicate application).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto county = read_actor_sync(node("TN-B-1"), "county/9");
  ASSERT_TRUE(county.ok());
  EXPECT_EQ(county->seq, 24u);
  EXPECT_EQ(total_of(node("TN-A-1"), "county/9"), expected);
}

TEST_F(ClusterNodeTest, ARequestWhoseKeyMovedIsReRoutedToTheCurrentOwner) {
  cluster::Topology topology = make_topology();
  // A key owned by FL-B-1 in TN-A-1's view. FL-B-1 and FL-A-1 have seen
  // FL-B-1 drained: FL-B-1 forwards the key to FL-A-1, which owns it there.
  std::string key;
  for (int i = 0; i < 1000 && key.empty(); ++i) {
    std::string candidate = "moving/" + std::to_string(i);
    if (writer_of(topology, candidate) == "FL-B-1" && writer_of(drained(topology, "FL-B-1"), candidate) == "FL-A-1") {
      key = candidate;
    }
  }
  ASSERT_FALSE(key.empty());
  start(topology, {{"FL-B-1", drained(topology, "FL-B-1")}, {"FL-A-1", drained(topology, "FL-B-1")}});
  auto receipt = submit_sync(node("TN-A-1"), add(key, "m-1", 5));
  ASSERT_TRUE(receipt.ok()) << receipt.error().message;
  EXPECT_TRUE(read_actor_sync(node("FL-A-1").local(), key).ok());
  EXPECT_FALSE(read_actor_sync(node("FL-B-1").local(), key).ok());
  EXPECT_FALSE(read_actor_sync(node("TN-A-1").local(), key).ok());
  std::string metrics;
  node("FL-B-1").write_metrics(metrics);
  EXPECT_NE(metrics.find("quorum_router_rerouted_total 1\n"), std::string::npos) << metrics;
}

TEST_F(ClusterNodeTest, ARequestThatKeepsMovingStopsAtTheHopLimit) {
  cluster::Topology topology = make_topology();
  // FL-A-1 believes FL-B-1 owns the key; FL-B-1 (drained in its own view)
  // believes FL-A-1 does: the request bounces until the hop limit.
  std::string key;
  for (int i = 0; i < 1000 && key.empty(); ++i) {
    std::string candidate = "bouncing/" + std::to_string(i);
    if (writer_of(topology, candidate) == "FL-B-1" && writer_of(drained(topology, "FL-B-1"), candidate) == "FL-A-1") {
      key = candidate;
    }
  }
  ASSERT_FALSE(key.empty());
  cluster::Topology other = drained(topology, "FL-B-1");
  // FL-A-1 keeps the shared view (FL-B-1 owns); FL-B-1 sees itself drained.
  start(topology, {{"FL-B-1", other}});
  // FL-A-1 -> FL-B-1 (hop 0) -> FL-A-1? No: FL-A-1 serves what it owns in its
  // own view only, and in its view FL-B-1 owns the key, so it forwards back.
  auto result = submit_sync(node("FL-A-1"), add(key, "h-1", 1));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(result.error().message.find("forwarded"), std::string::npos) << result.error().message;
  EXPECT_FALSE(read_actor_sync(node("FL-A-1").local(), key).ok());
  EXPECT_FALSE(read_actor_sync(node("FL-B-1").local(), key).ok());
}

// The value of an unlabelled metric of a node (-1 when absent).
double metric_of(const ClusterNode& node, const std::string& name) {
  std::string text;
  node.write_metrics(text);
  const std::string needle = "\n" + name + " ";
  const size_t at = text.find(needle);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + needle.size()));
}

TEST_F(ClusterNodeTest, AKeyMovesWithItsLogAndItsIdsWhenTheTopologyMovesIt) {
  cluster::Topology topology = make_topology();
  const cluster::Topology after = drained(topology, "FL-B-1");
  // Two keys of FL-B-1 that move to FL-A-1 when it is drained: one gets
  // traffic after the move, the other none (the offer walk moves it).
  std::vector<std::string> keys;
  for (int i = 0; i < 2000 && keys.size() < 2; ++i) {
    std::string candidate = "moving/" + std::to_string(i);
    if (writer_of(topology, candidate) == "FL-B-1" && writer_of(after, candidate) == "FL-A-1") {
      keys.push_back(candidate);
    }
  }
  ASSERT_EQ(keys.size(), 2u);
  start(topology);
  std::vector<node::CommandReceipt> receipts;
  for (int i = 0; i < 10; ++i) {
    auto r = submit_sync(node(kNames[i % kNames.size()]), add(keys[0], "h-" + std::to_string(i), i + 1));
    ASSERT_TRUE(r.ok()) << r.error().message;
    receipts.push_back(*r);
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(submit_sync(node("TN-A-1"), add(keys[1], "q-" + std::to_string(i), 100)).ok());
  }
  ASSERT_TRUE(read_actor_sync(node("FL-B-1").local(), keys[0]).ok());
  ASSERT_FALSE(read_actor_sync(node("FL-A-1").local(), keys[0]).ok());

  std::map<std::string, uint64_t> before;
  for (const std::string& name : kNames) {
    before[name] = stores_.at(name)->current()->topology().epoch;
    ASSERT_TRUE(cluster::write_topology_file((dir_.path() / (name + "-topology.json")).string(), after).ok());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (const std::string& name : kNames) {
    while (stores_.at(name)->current()->topology().epoch == before[name] &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(stores_.at(name)->current()->topology().epoch, before[name]) << name;
  }

  // A retry of a command the old owner applied: the original answer.
  auto retry = submit_sync(node("TN-B-1"), add(keys[0], "h-3", 4));
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->seq, 4u);
  EXPECT_EQ(retry->hash_hex, receipts[3].hash_hex);
  // A new command continues the moved log.
  auto next = submit_sync(node("FL-B-1"), add(keys[0], "h-10", 11));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->seq, 11u);
  auto log = read_log_sync(node("FL-A-1").local(), keys[0], 1, 100);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->size(), 11u);
  for (size_t i = 0; i < receipts.size(); ++i) {
    EXPECT_EQ((*log)[i].hash_hex, receipts[i].hash_hex) << i;
  }
  EXPECT_EQ(total_of(node("TN-A-1"), keys[0]), 66);
  EXPECT_GE(metric_of(node("FL-A-1"), "quorum_router_keys_acquired_total"), 1);

  // The untouched key moves too, and the drained node reports nothing left.
  while ((metric_of(node("FL-B-1"), "quorum_router_handoffs_pending") != 0 ||
          !read_actor_sync(node("FL-A-1").local(), keys[1]).ok()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(metric_of(node("FL-B-1"), "quorum_router_handoffs_pending"), 0);
  auto moved = read_actor_sync(node("FL-A-1").local(), keys[1]);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->seq, 3u);
  EXPECT_EQ(metric_of(node("FL-A-1"), "quorum_router_handoff_conflicts_total"), 0);
}

}  // namespace
}  // namespace quorum::router
