// LocalNode in replicated mode (LocalNodeOptions::replication): three
// LocalNodes with LevelDB in separate temp dirs and real shard threads,
// wired by an in-process "network" (the ReplicationPeer below hands each
// envelope, through the wire codec, to the addressed node; a node can be cut
// off). The router and mailroom are not involved: this pins the shard glue —
// proposals, group commit of replica writes, commits answering commands,
// writers starting and stopping — under ASan too.
//  - a command is answered only once a majority holds it: with both
//    followers cut off nothing is answered; reconnecting one answers it;
//  - every answered entry is stored on the writer and at least one follower
//    (LevelDB opened after shutdown), with the same hash;
//  - a new writer (another node, after a topology change) recovers the log:
//    retries of commands the old writer answered are duplicates with the
//    original seq and hash, new commands continue the chain, and the
//    ledger's total counts every command once;
//  - side effects still roll up exactly once across the change of writer.
#include "node_test_support.hpp"

#include <quorum/node/local_node.hpp>
#include <quorum/replication/codec.hpp>
#include <quorum/store/entry.hpp>
#include <quorum/store/leveldb_store.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace quorum::node {
namespace {

using testing::add;
using testing::ScratchDir;
using testing::submit_sync;
using testing::total_of;

// The in-process network: node id -> LocalNode, links that can be cut.
class Network {
 public:
  class Port final : public ReplicationPeer {
   public:
    Port(Network& net, replication::NodeId self) : net_(net), self_(self) {}
    void send_replication(std::vector<replication::Envelope> messages) override {
      for (replication::Envelope& m : messages) {
        net_.deliver(self_, std::move(m));
      }
    }
    void caught_up(size_t, uint64_t) override {}

   private:
    Network& net_;
    replication::NodeId self_;
  };

  void attach(replication::NodeId id, LocalNode* node) {
    std::lock_guard lock(mutex_);
    nodes_[id] = node;
  }
  void cut(replication::NodeId id, bool off) {
    std::lock_guard lock(mutex_);
    if (off) {
      cut_.insert(id);
    } else {
      cut_.erase(id);
    }
  }
  uint64_t delivered() const { return delivered_.load(); }

 private:
  void deliver(replication::NodeId from, replication::Envelope message) {
    // Through the wire form, as the mailroom carries it.
    Result<replication::Envelope> decoded = replication::decode_envelope(replication::encode(message));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    // Under the lock: a node detached (attach(id, nullptr)) is never called
    // again, so the test may destroy it after detaching it.
    std::lock_guard lock(mutex_);
    if (cut_.count(from) || cut_.count(message.to)) {
      return;  // lost: the protocol resends
    }
    auto it = nodes_.find(message.to);
    if (it == nodes_.end() || it->second == nullptr) {
      return;
    }
    ++delivered_;
    it->second->receive_replication(std::move(decoded).value());
  }

  std::mutex mutex_;
  std::map<replication::NodeId, LocalNode*> nodes_;
  std::set<replication::NodeId> cut_;
  std::atomic<uint64_t> delivered_{0};
};

// Every key: replica set {1, 2, 3}; the writer given.
replication::ConfigOf config_with_writer(uint64_t epoch, replication::NodeId writer) {
  return [epoch, writer](std::string_view) {
    replication::KeyConfig config;
    config.topology = epoch;
    config.writer = writer;
    config.current = {1, 2, 3};
    return config;
  };
}

class ReplicatedNodeTest : public ::testing::Test {
 protected:
  void open(replication::NodeId id) {
    LocalNodeOptions options =
        testing::ledger_node_options(dir_.path() / ("n" + std::to_string(id)), "n" + std::to_string(id));
    options.replication = ports_[id].get();
    options.replica_id = id;
    options.writer_wait_ms = 3000;
    options.replication_options.replica.retry_ms = 50;
    options.replication_options.replica.heartbeat_ms = 50;
    options.tick_ms = 20;
    nodes_[id] = testing::open_local_node(std::move(options));
    ASSERT_NE(nodes_[id], nullptr);
    net_.attach(id, nodes_[id].get());
  }
  void SetUp() override {
    for (replication::NodeId id : {1u, 2u, 3u}) {
      ports_[id] = std::make_unique<Network::Port>(net_, id);
    }
    for (replication::NodeId id : {1u, 2u, 3u}) {
      open(id);
    }
  }
  void TearDown() override {
    for (auto& [id, node] : nodes_) {
      net_.attach(id, nullptr);
    }
    for (auto& [id, node] : nodes_) {
      if (node) {
        node->shutdown();
      }
    }
  }
  void set_topology(uint64_t epoch, replication::NodeId writer) {
    for (auto& [id, node] : nodes_) {
      if (node) {
        node->set_topology(epoch, false, config_with_writer(epoch, writer));
      }
    }
  }
  // Retries (same id) while the writer recovers.
  Result<CommandReceipt> submit_retrying(LocalNode& node, const Command& command) {
    Result<CommandReceipt> last = make_error(ErrorCode::kUnavailable, "not tried");
    for (int attempt = 0; attempt < 100; ++attempt) {
      last = submit_sync(node, command);
      if (last.ok() || last.error().code != ErrorCode::kUnavailable) {
        return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return last;
  }

  ScratchDir dir_{"replicated-node"};
  Network net_;
  std::map<replication::NodeId, std::unique_ptr<Network::Port>> ports_;
  std::map<replication::NodeId, std::unique_ptr<LocalNode>> nodes_;
};

TEST_F(ReplicatedNodeTest, AnswersAfterAMajorityAndANewWriterContinuesTheLog) {
  set_topology(1, 1);
  std::map<std::string, CommandReceipt> acked;  // id -> receipt
  for (int i = 0; i < 40; ++i) {
    const std::string key = "e/p/" + std::to_string(i % 4);
    Command c = add(key, "b-" + std::to_string(i), 1, "e/county/1");
    Result<CommandReceipt> r = submit_retrying(*nodes_[1], c);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->duplicate);
    acked[c.id] = *r;
  }
  EXPECT_GT(net_.delivered(), 0u);

  // Both followers cut off: a command waits (no majority) ...
  net_.cut(2, true);
  net_.cut(3, true);
  std::atomic<bool> answered{false};
  Result<CommandReceipt> late = make_error(ErrorCode::kUnavailable, "unset");
  std::mutex late_mutex;
  nodes_[1]->submit(add("e/p/0", "b-late", 1, "e/county/1"), [&](Result<CommandReceipt> r) {
    std::lock_guard lock(late_mutex);
    late = std::move(r);
    answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_FALSE(answered.load()) << "answered without a majority";
  // ... until one follower is back.
  net_.cut(2, false);
  for (int i = 0; i < 200 && !answered.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(answered.load());
  {
    std::lock_guard lock(late_mutex);
    ASSERT_TRUE(late.ok()) << late.error().message;
    acked["b-late"] = *late;
  }
  net_.cut(3, false);

  // Node 1 stops; node 2 becomes the writer under topology 2.
  net_.attach(1, nullptr);
  nodes_[1]->shutdown();
  nodes_[1].reset();
  set_topology(2, 2);
  for (const auto& [id, receipt] : acked) {
    Command again = add(receipt.key, id, 1, "e/county/1");
    Result<CommandReceipt> r = submit_retrying(*nodes_[2], again);
    ASSERT_TRUE(r.ok()) << id << ": " << r.error().message;
    EXPECT_TRUE(r->duplicate) << id;
    EXPECT_EQ(r->seq, receipt.seq) << id;
    EXPECT_EQ(r->hash_hex, receipt.hash_hex) << id;
  }
  for (int i = 0; i < 8; ++i) {
    Command c = add("e/p/" + std::to_string(i % 4), "c-" + std::to_string(i), 1, "e/county/1");
    Result<CommandReceipt> r = submit_retrying(*nodes_[2], c);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->duplicate);
    acked[c.id] = *r;
  }
  int64_t precincts = 0;
  for (int p = 0; p < 4; ++p) {
    precincts += total_of(*nodes_[2], "e/p/" + std::to_string(p));
  }
  EXPECT_EQ(precincts, static_cast<int64_t>(acked.size()));
  // The county roll-up: every precinct entry exactly once (effects of the
  // old writer's entries are re-derived by the new one; receivers dedup).
  int64_t county = -1;
  for (int i = 0; i < 200; ++i) {
    county = total_of(*nodes_[2], "e/county/1");
    if (county == static_cast<int64_t>(acked.size())) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(county, static_cast<int64_t>(acked.size()));

  // Stored copies: each answered entry on at least 2 of the 3 nodes, same hash.
  nodes_[2]->shutdown();
  nodes_[3]->shutdown();
  std::vector<std::unique_ptr<store::LevelDbStore>> stores;
  for (int id : {1, 2, 3}) {
    auto opened = store::LevelDbStore::open((dir_.path() / ("n" + std::to_string(id)) / "store").string());
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    stores.push_back(std::move(opened).value());
  }
  for (const auto& [id, receipt] : acked) {
    int copies = 0;
    for (const auto& s : stores) {
      auto page = s->read_log(receipt.key, receipt.seq, 1);
      ASSERT_TRUE(page.ok());
      if (page->empty() || page->front().seq != receipt.seq) {
        continue;
      }
      auto entry = store::parse_entry(page->front().bytes);
      ASSERT_TRUE(entry.ok());
      EXPECT_EQ(store::to_hex(entry->hash), receipt.hash_hex);
      EXPECT_EQ(std::string(entry->id), id);
      ++copies;
    }
    EXPECT_GE(copies, 2) << id;
  }
}

}  // namespace
}  // namespace quorum::node
