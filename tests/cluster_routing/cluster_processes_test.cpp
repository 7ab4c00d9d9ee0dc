// A real cluster: eight quorumd processes (4 data centers x 2 nodes) on
// loopback, the embedded topology store (topology.json + failure detector),
// real mailroom TCP between them, clients over HTTP.
//  - commands sent to every node reach their key's owner (and only it),
//    retries through other nodes are answered as duplicates, reads from any
//    node agree, side effects roll up across nodes exactly once;
//  - a node killed with SIGKILL leaves the rings of the others within the
//    failure timeout and every command still finds an owner; restarted, it
//    rejoins;
//  - a topology edit (a drain) reaches every node within a second.
// The same kill test runs with the production store: a real etcd on
// loopback, where the killed node's lease expires.
#include "cluster_routing/quorumd_member.hpp"
#include "support/scratch_dir.hpp"

#include <quorum/client/http_client.hpp>
#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/static_topology_store.hpp>
#include <quorum/cluster/topology_store.hpp>
#include <quorum/process/child_process.hpp>
#include <quorum/process/etcd_server.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace quorum {
namespace {

using nlohmann::json;
using test_support::ScratchDir;
using Clock = std::chrono::steady_clock;

using test_support::Member;

class ClusterProcessesTest : public ::testing::Test {
 protected:
  // With etcd: the topology lives in a real etcd (seeded from the file) and
  // liveness is the nodes' leases.
  virtual bool use_etcd() const { return false; }

  void SetUp() override {
    if (use_etcd()) {
      process::EtcdOptions etcd_options;
      etcd_options.dir = dir_.path() / "etcd";
      auto etcd = process::EtcdServer::start(etcd_options);
      ASSERT_TRUE(etcd.ok()) << etcd.error().message;
      etcd_.emplace(std::move(etcd).value());
    }
    auto ports = process::free_loopback_ports(8);
    ASSERT_TRUE(ports.ok()) << ports.error().message;
    topology_ = test_support::four_dc_topology(*ports);
    topology_file_ = (dir_.path() / "topology.json").string();
    ASSERT_TRUE(cluster::write_topology_file(topology_file_, topology_).ok());
    test_support::add_members(members_, topology_, dir_.path());
    test_support::start_all(members_, topology_file_, etcd_ ? etcd_->client_url() : "");
    if (etcd_ && !HasFatalFailure()) {
      // Every node has seen every other join before a test starts.
      ASSERT_GT(test_support::wait_members_agree_on_epoch(members_, std::chrono::seconds(30)), 0)
          << "the nodes never agreed on one topology epoch";
    }
  }

  void TearDown() override {
    test_support::stop_all(members_);
    if (etcd_) {
      (void)etcd_->stop();
    }
  }

  void start(Member& m) { test_support::start_member(m, topology_file_, etcd_ ? etcd_->client_url() : ""); }
  void wait_ready(Member& m) { test_support::wait_member_ready(m); }
  static std::unique_ptr<client::HttpClient> connect(const Member& m) { return test_support::connect_member(m); }

  static Result<client::Response> post_add(const Member& m, const std::string& key, const std::string& id, int by,
                                           const std::string& to = {}) {
    json data = {{"by", by}};
    if (!to.empty()) {
      data["to"] = to;
    }
    json body = {{"id", id}, {"type", "add"}, {"data", data}};
    return connect(m)->post("/v1/actors/" + client::url_encode(key) + "/commands", body.dump(), "application/json");
  }

  static json get_json(const Member& m, const std::string& target) {
    auto r = connect(m)->get(target);
    if (!r.ok() || !r->ok()) {
      return json();
    }
    return json::parse(r->body, nullptr, false);
  }

  static double metric(const Member& m, const std::string& name) { return test_support::member_metric(m, name); }

  std::string owner_of(const cluster::Topology& topology, const std::string& key) {
    auto placement = cluster::Placement::create(topology);
    EXPECT_TRUE(placement.ok());
    return std::string(placement->node_name(*placement->writer(key)));
  }

  // Kills TX-A-1, checks that the others drop it and still serve every
  // key, restarts it and checks that it rejoins.
  void kill_and_rejoin();

  Member& member(const std::string& name) { return test_support::member_named(members_, name); }


  ScratchDir dir_{"quorum-cluster"};
  std::optional<process::EtcdServer> etcd_;
  cluster::Topology topology_;
  std::string topology_file_;
  std::vector<Member> members_;
};

TEST_F(ClusterProcessesTest, CommandsSentToEveryNodeReachTheirOwnerAndReadsAgreeEverywhere) {
  std::map<std::string, int> started;  // actors each node should have started
  int64_t county_total = 0;
  for (int i = 0; i < 64; ++i) {
    const std::string key = "e/demo/precinct/" + std::to_string(i);
    const Member& via = members_[i % members_.size()];
    auto r = post_add(via, key, "ballot-" + std::to_string(i), i + 1, "e/demo/county/1");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200u) << via.name << " " << key << ": " << r->body;
    json receipt = json::parse(r->body);
    EXPECT_EQ(receipt["seq"], 1);
    county_total += i + 1;
    started[owner_of(topology_, key)] += 1;
    // A retry through another node: the original answer.
    auto again = post_add(members_[(i + 3) % members_.size()], key, "ballot-" + std::to_string(i), i + 1,
                          "e/demo/county/1");
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(again->status, 200u) << again->body;
    EXPECT_EQ(json::parse(again->body)["hash"], receipt["hash"]);
  }
  started[owner_of(topology_, "e/demo/county/1")] += 1;
  // Side effects crossed nodes: the county's total, read from every node.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (const Member& m : members_) {
    json view;
    while (Clock::now() < deadline) {
      view = get_json(m, "/v1/actors/" + client::url_encode("e/demo/county/1"));
      if (view.is_object() && view.value("seq", 0) == 64) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(view.is_object()) << m.name;
    EXPECT_EQ(view["seq"], 64) << m.name << ": " << view.dump();
  }
  // Reads of one precinct agree on every node.
  json first = get_json(members_[0], "/v1/actors/" + client::url_encode("e/demo/precinct/5") + "/log");
  ASSERT_TRUE(first.is_object()) << first.dump();
  for (const Member& m : members_) {
    EXPECT_EQ(get_json(m, "/v1/actors/" + client::url_encode("e/demo/precinct/5") + "/log"), first) << m.name;
  }
  // Each key's actor ran on its owner only (the counter is refreshed on the
  // node's timer: wait for it to settle).
  size_t owners = 0;
  for (const Member& m : members_) {
    const auto settle = Clock::now() + std::chrono::seconds(10);
    while (metric(m, "quorum_actors_started_total") != started[m.name] && Clock::now() < settle) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(metric(m, "quorum_actors_started_total"), started[m.name]) << m.name;
    owners += started[m.name] > 0 ? 1 : 0;
  }
  EXPECT_GE(owners, 6u);  // 65 keys over 8 nodes
}

void ClusterProcessesTest::kill_and_rejoin() {
  Member& victim = member("TX-A-1");
  const double epoch_before = metric(members_[0], "quorum_topology_epoch");
  ASSERT_GT(epoch_before, 0);
  victim.child->kill();
  // The failure detector (4 s) or its lease's expiry (2 s) takes it out of
  // every other node's rings.
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (const Member& m : members_) {
    if (&m == &victim) {
      continue;
    }
    while (metric(m, "quorum_topology_epoch") <= epoch_before && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_GT(metric(m, "quorum_topology_epoch"), epoch_before) << m.name;
  }
  // Every command finds an owner among the living (new keys: the dead
  // node's data comes back with it; replication is the next issue).
  int moved = 0;
  for (int i = 0; i < 48; ++i) {
    const std::string key = "e/after-kill/" + std::to_string(i);
    moved += owner_of(topology_, key) == victim.name ? 1 : 0;
    const Member& via = members_[(i % 7) + (i % 7 >= 4 ? 1 : 0)];  // skip TX-A-1 (index 4)
    ASSERT_NE(via.name, victim.name);
    auto r = post_add(via, key, "k-" + std::to_string(i), 1);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200u) << via.name << " " << key << ": " << r->body;
  }
  EXPECT_GT(moved, 0);  // some of those keys were the victim's
  // Back, it rejoins: the others see it alive again.
  const double epoch_dead = metric(members_[0], "quorum_topology_epoch");
  start(victim);
  wait_ready(victim);
  const auto back = Clock::now() + std::chrono::seconds(20);
  while (metric(members_[0], "quorum_topology_epoch") <= epoch_dead && Clock::now() < back) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(metric(members_[0], "quorum_topology_epoch"), epoch_dead);
}

TEST_F(ClusterProcessesTest, AKilledNodeLeavesTheRingsAndEveryCommandStillFindsAnOwner) { kill_and_rejoin(); }

class ClusterProcessesEtcdTest : public ClusterProcessesTest {
 protected:
  bool use_etcd() const override { return true; }
};

TEST_F(ClusterProcessesEtcdTest, AKilledNodesLeaseExpiresAndEveryCommandStillFindsAnOwner) { kill_and_rejoin(); }

TEST_F(ClusterProcessesEtcdTest, EveryNodeRoutesByTheSameEpoch) {
  // SetUp waited for agreement; it holds while nothing changes. The epoch
  // is the transition record's (one step per published state: joins seen
  // together fold into one step, so it need not reach the number of joins).
  const double epoch = test_support::wait_members_agree_on_epoch(members_, std::chrono::seconds(10));
  ASSERT_GT(epoch, 0);
  for (const Member& m : members_) {
    EXPECT_EQ(metric(m, "quorum_topology_epoch"), epoch) << m.name;
  }
  auto r = post_add(members_[3], "e/etcd/1", "x-1", 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200u) << r->body;
}

TEST_F(ClusterProcessesTest, ATopologyEditReachesEveryNodeWithinASecond) {
  std::map<std::string, double> before;
  for (const Member& m : members_) {
    before[m.name] = metric(m, "quorum_topology_epoch");
    ASSERT_GT(before[m.name], 0) << m.name;
  }
  const auto edited_at = Clock::now();
  auto edited = cluster::edit_topology_file(topology_file_, [](cluster::Topology t) {
    return cluster::with_node_live(std::move(t), "UT-B-1", false);
  });
  ASSERT_TRUE(edited.ok()) << edited.error().message;
  std::map<std::string, Clock::duration> seen;
  while (seen.size() < members_.size() && Clock::now() - edited_at < std::chrono::seconds(10)) {
    for (const Member& m : members_) {
      if (!seen.count(m.name) && metric(m, "quorum_topology_epoch") > before[m.name]) {
        seen[m.name] = Clock::now() - edited_at;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(seen.size(), members_.size());
  for (const auto& [name, took] : seen) {
    EXPECT_LT(took, std::chrono::seconds(1)) << name << " took "
                                             << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                             << " ms";
  }
  // The drained node still accepts commands and routes them; it owns none.
  cluster::Topology drained = *edited;
  for (int i = 0; i < 16; ++i) {
    const std::string key = "e/drained/" + std::to_string(i);
    EXPECT_NE(owner_of(drained, key), "UT-B-1");
    auto r = post_add(member("UT-B-1"), key, "d-" + std::to_string(i), 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200u) << r->body;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the counter is refreshed on the node's timer
  EXPECT_EQ(metric(member("UT-B-1"), "quorum_actors_started_total"), 0);
}

}  // namespace
}  // namespace quorum
