// Replication in real processes: 4 data centers x 2 quorumd nodes started
// with --replicated (embedded topology store, real mailroom TCP, LevelDB
// with fsync on every node).
//  1. Commands sent through every node are acknowledged; every acknowledged
//     entry is in its key's log (read through any node) once, at the seq and
//     with the hash of its receipt.
//  2. After the cluster stops, each node's LevelDB is opened directly: every
//     acknowledged entry is stored, with the same hash, on at least 3 of the
//     5 nodes of its key's replica set (the 3-of-5 rule), and on no node
//     outside it.
//  3. Failover: the writer of one key is SIGKILLed; commands for that key
//     through other nodes are acknowledged again once the failure detector
//     removed the node and the new writer recovered; nothing acknowledged
//     before is lost, nothing is doubled.
//  4. The dead writer restarts on its data: its keys take writes again
//     through every node, and its log has everything acknowledged meanwhile.
// Prints one summary line ("replication: ...").
#include "cluster_routing/quorumd_member.hpp"
#include "support/scratch_dir.hpp"

#include <quorum/client/http_client.hpp>
#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/static_topology_store.hpp>
#include <quorum/process/child_process.hpp>
#include <quorum/store/entry.hpp>
#include <quorum/store/leveldb_store.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace quorum {
namespace {

using nlohmann::json;
using test_support::Member;
using test_support::ScratchDir;
using Clock = std::chrono::steady_clock;

constexpr int kKeys = 24;

std::string key_of(int i) { return "e/r/precinct/" + std::to_string(i); }

struct Ack {
  std::string key;
  std::string id;
  uint64_t seq = 0;
  std::string hash;
};

class ClusterReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ports = process::free_loopback_ports(8);
    ASSERT_TRUE(ports.ok()) << ports.error().message;
    topology_ = test_support::four_dc_topology(*ports);
    topology_file_ = (dir_.path() / "topology.json").string();
    ASSERT_TRUE(cluster::write_topology_file(topology_file_, topology_).ok());
    test_support::add_members(members_, topology_, dir_.path());
    for (Member& m : members_) {
      m.extra_args = {"--replicated"};
    }
    test_support::start_all(members_, topology_file_);
  }

  void TearDown() override { test_support::stop_all(members_); }

  // Posts one command, retrying with the same id through the other nodes
  // (skipping `avoid`) until it is acknowledged or `budget` runs out.
  std::optional<Ack> send(const std::string& key, const std::string& id, int by, size_t start,
                          std::chrono::seconds budget, const std::string& avoid = {}) {
    const auto deadline = Clock::now() + budget;
    for (size_t attempt = 0; Clock::now() < deadline; ++attempt) {
      const Member& via = members_[(start + attempt) % members_.size()];
      if (via.name == avoid || !via.child) {
        continue;
      }
      json body = {{"id", id}, {"type", "add"}, {"data", {{"by", by}}}};
      auto c = test_support::connect_member(via, std::chrono::milliseconds(12'000));
      if (!c) {
        continue;
      }
      auto r = c->post("/v1/actors/" + client::url_encode(key) + "/commands", body.dump(), "application/json");
      if (r.ok() && r->status == 200) {
        json receipt = json::parse(r->body, nullptr, false);
        return Ack{key, id, receipt.value("seq", uint64_t{0}), receipt.value("hash", std::string())};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }

  // The key's log through `via` (all pages).
  std::vector<json> read_log(const Member& via, const std::string& key) {
    std::vector<json> entries;
    auto c = test_support::connect_member(via);
    if (!c) {
      return entries;
    }
    uint64_t from = 1;
    for (;;) {
      auto r = c->get("/v1/actors/" + client::url_encode(key) + "/log?from=" + std::to_string(from) + "&limit=500");
      if (!r.ok() || r->status != 200) {
        ADD_FAILURE() << "log of " << key << " via " << via.name << ": "
                      << (r.ok() ? std::to_string(r->status) + " " + r->body : r.error().message);
        return entries;
      }
      json page = json::parse(r->body, nullptr, false);
      const json& list = page.is_array() ? page : page.value("entries", json::array());
      if (list.empty()) {
        return entries;
      }
      for (const json& e : list) {
        entries.push_back(e);
      }
      from = entries.back().value("seq", uint64_t{0}) + 1;
    }
  }

  // Every ack is in its key's log once, at its seq with its hash.
  void check_logs(const std::vector<Ack>& acks, const Member& via) {
    std::map<std::string, std::vector<json>> logs;
    for (int i = 0; i < kKeys; ++i) {
      logs[key_of(i)] = read_log(via, key_of(i));
    }
    for (const Ack& ack : acks) {
      const std::vector<json>& log = logs[ack.key];
      ASSERT_GE(log.size(), ack.seq) << ack.key << " lost " << ack.id;
      EXPECT_EQ(log[ack.seq - 1].value("id", std::string()), ack.id) << ack.key << " seq " << ack.seq;
      EXPECT_EQ(log[ack.seq - 1].value("hash", std::string()), ack.hash) << ack.key << " seq " << ack.seq;
    }
    for (const auto& [key, log] : logs) {
      std::set<std::string> ids;
      for (const json& e : log) {
        EXPECT_TRUE(ids.insert(e.value("id", std::string())).second) << key << ": id twice: " << e.dump();
      }
    }
  }

  ScratchDir dir_{"cluster-replication"};
  cluster::Topology topology_;
  std::string topology_file_;
  std::vector<Member> members_;
};

TEST_F(ClusterReplicationTest, AcknowledgedMeansThreeOfFiveAndSurvivesTheWritersDeath) {
  ASSERT_FALSE(HasFatalFailure());
  auto placement = cluster::Placement::create(topology_);
  ASSERT_TRUE(placement.ok()) << placement.error().message;

  // 1. Commands through every node.
  std::vector<Ack> acks;
  for (int i = 0; i < 4 * kKeys; ++i) {
    const std::string key = key_of(i % kKeys);
    auto ack = send(key, "b-" + std::to_string(i), 1, static_cast<size_t>(i), std::chrono::seconds(30));
    ASSERT_TRUE(ack.has_value()) << "command " << i << " for " << key << " was never acknowledged\n"
                                 << process::tail_lines(members_[0].dir / "quorumd.log", 30);
    acks.push_back(*ack);
  }
  check_logs(acks, members_[3]);

  // Each replica's own copy (?replica=local): committed entries only, a
  // prefix of the served log; the key's replica set holds copies, the
  // other nodes none (404).
  {
    const std::string key = key_of(1);
    const std::vector<json> served = read_log(members_[0], key);
    auto set = placement->replica_set(key);
    ASSERT_TRUE(set.ok());
    std::set<std::string> replicas;
    for (cluster::NodeId n : set->nodes()) {
      replicas.insert(std::string(placement->node_name(n)));
    }
    size_t holding = 0;
    for (const Member& m : members_) {
      auto c = test_support::connect_member(m);
      ASSERT_NE(c, nullptr);
      auto r = c->get("/v1/actors/" + client::url_encode(key) + "/log?replica=local&limit=1000");
      ASSERT_TRUE(r.ok());
      if (replicas.count(m.name) == 0) {
        EXPECT_EQ(r->status, 404) << m.name << ": " << r->body;
        continue;
      }
      ASSERT_EQ(r->status, 200) << m.name << ": " << r->body;
      json copy = json::parse(r->body, nullptr, false);
      EXPECT_EQ(copy.value("replica", std::string()), "local");
      const json& entries = copy["entries"];
      EXPECT_LE(copy.value("commit", uint64_t{0}), copy.value("last_seq", uint64_t{0}));
      EXPECT_EQ(entries.size(), copy.value("commit", uint64_t{0})) << m.name;
      ASSERT_LE(entries.size(), served.size()) << m.name;
      for (size_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ(entries[i].value("hash", std::string()), served[i].value("hash", std::string())) << m.name;
      }
      holding += entries.empty() ? 0 : 1;
    }
    EXPECT_GE(holding, 3u) << "fewer than 3 replicas serve a committed copy of " << key;
    // Health shows what the node replicates.
    json health = json::parse(test_support::connect_member(members_[0])->get("/v1/health")->body, nullptr, false);
    ASSERT_TRUE(health.contains("replication")) << health.dump();
    EXPECT_GT(health["replication"].value("replicas", uint64_t{0}), 0u) << health.dump();
  }

  // 3. Failover: kill the writer of key 0, write through the others.
  const std::string victim_key = key_of(0);
  auto writer = placement->writer(victim_key);
  ASSERT_TRUE(writer.ok());
  const std::string victim(placement->node_name(*writer));
  Member& dead = test_support::member_named(members_, victim);
  dead.child->kill();
  dead.child.reset();
  const auto killed = Clock::now();
  auto after = send(victim_key, "after-kill", 1, 1, std::chrono::seconds(60), victim);
  ASSERT_TRUE(after.has_value()) << "key " << victim_key << " never accepted a write after " << victim << " died";
  const auto failover_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  acks.push_back(*after);
  for (int i = 0; i < kKeys; ++i) {
    auto ack =
        send(key_of(i), "late-" + std::to_string(i), 1, static_cast<size_t>(i), std::chrono::seconds(60), victim);
    ASSERT_TRUE(ack.has_value()) << "key " << key_of(i) << " refused writes with " << victim << " down";
    acks.push_back(*ack);
  }
  const Member& reader = victim == members_[3].name ? members_[4] : members_[3];
  check_logs(acks, reader);

  // 4. The victim comes back on its data: it rejoins the rings, writes its
  // keys again (after recovering them: fencing the interim writer) and
  // catches up on what was written while it was down.
  test_support::start_member(dead, topology_file_);
  test_support::wait_member_ready(dead);
  ASSERT_FALSE(HasFatalFailure());
  const auto restarted = Clock::now();
  auto back = send(victim_key, "after-restart", 1, 2, std::chrono::seconds(60));
  ASSERT_TRUE(back.has_value()) << "key " << victim_key << " never accepted a write after " << victim << " came back\n"
                                << process::tail_lines(dead.dir / "quorumd.log", 30);
  const auto rejoin_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted).count();
  acks.push_back(*back);
  for (int i = 0; i < kKeys; ++i) {
    auto ack = send(key_of(i), "back-" + std::to_string(i), 1, static_cast<size_t>(i), std::chrono::seconds(60));
    ASSERT_TRUE(ack.has_value()) << "key " << key_of(i) << " refused writes after " << victim << " came back";
    acks.push_back(*ack);
  }
  check_logs(acks, dead);

  // 2. Stop everything; count the stored copies of every acknowledged entry.
  test_support::stop_all(members_);
  std::map<std::string, std::unique_ptr<store::LevelDbStore>> stores;
  for (Member& m : members_) {
    auto opened = store::LevelDbStore::open((m.dir / "data" / "store").string());
    ASSERT_TRUE(opened.ok()) << m.name << ": " << opened.error().message;
    stores[m.name] = std::move(opened).value();
  }
  // The replica sets before and after the victim left the rings.
  cluster::Topology without = topology_;
  for (auto& dc : without.data_centers) {
    for (auto& n : dc.nodes) {
      n.live = n.live && n.name != victim;
    }
  }
  auto placement_after = cluster::Placement::create(without);
  ASSERT_TRUE(placement_after.ok());
  std::map<size_t, size_t> copies_histogram;
  for (const Ack& ack : acks) {
    std::set<std::string> replicas;
    for (const cluster::Placement* p : {&*placement, &*placement_after}) {
      auto set = p->replica_set(ack.key);
      ASSERT_TRUE(set.ok());
      for (cluster::NodeId n : set->nodes()) {
        replicas.insert(std::string(p->node_name(n)));
      }
    }
    size_t copies = 0;
    for (const auto& [name, store] : stores) {
      auto page = store->read_log(ack.key, ack.seq, 1);
      ASSERT_TRUE(page.ok()) << name << ": " << page.error().message;
      if (page->empty() || page->front().seq != ack.seq) {
        continue;
      }
      auto entry = store::parse_entry(page->front().bytes);
      ASSERT_TRUE(entry.ok());
      EXPECT_EQ(store::to_hex(entry->hash), ack.hash)
          << name << " holds another entry at " << ack.key << " seq " << ack.seq;
      EXPECT_EQ(std::string(entry->id), ack.id);
      EXPECT_TRUE(replicas.count(name) != 0) << name << " holds " << ack.key << " but is not in its replica set";
      ++copies;
    }
    EXPECT_GE(copies, 3u) << ack.key << " seq " << ack.seq << " (" << ack.id << ") is on " << copies << " nodes";
    ++copies_histogram[copies];
  }
  std::string histogram;
  for (const auto& [copies, count] : copies_histogram) {
    histogram += " " + std::to_string(copies) + "x" + std::to_string(count);
  }
  std::cout << "replication: acked=" << acks.size() << " copies(count):" << histogram << " failover_ms=" << failover_ms
            << " rejoin_ms=" << rejoin_ms << " victim=" << victim << std::endl;
}

}  // namespace
}  // namespace quorum
