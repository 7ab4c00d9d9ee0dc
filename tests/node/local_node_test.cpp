// LocalNode with LevelDB in a temp dir and real threads: submit/read/log,
// group commit under concurrency, restart recovery, idempotency across
// restarts, side effects across shards, backpressure, the live stream,
// broken chains, shutdown, and the plugin directory helpers.
#include "node_test_support.hpp"

#include <quorum/node/local_node.hpp>
#include <quorum/store/leveldb_store.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

namespace quorum::node {
namespace {

using testing::add;
using testing::read_actor_sync;
using testing::read_log_sync;
using testing::submit_sync;
using testing::total_of;
using testing::ScratchDir;

LocalNodeOptions options_for(const ScratchDir& dir) {
  return testing::ledger_node_options(dir.path() / "node", "TN-A-1");
}

std::unique_ptr<LocalNode> open_node(LocalNodeOptions options) { return testing::open_local_node(std::move(options)); }

TEST(LocalNodeTest, SubmitThenReadTheActorAndItsLog) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> node = open_node(options_for(dir));
  ASSERT_NE(node, nullptr);
  EXPECT_TRUE(node->health().serving);
  EXPECT_EQ(node->health().node_name, "TN-A-1");

  std::vector<CommandReceipt> receipts;
  for (int i = 1; i <= 5; ++i) {
    Result<CommandReceipt> receipt = submit_sync(*node, add("p/1", "b-" + std::to_string(i), i));
    ASSERT_TRUE(receipt.ok()) << receipt.error().message;
    EXPECT_EQ(receipt->seq, static_cast<uint64_t>(i));
    receipts.push_back(*receipt);
  }
  Result<ActorView> view = read_actor_sync(*node, "p/1");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->seq, 5u);
  EXPECT_EQ(view->head_hex, receipts.back().hash_hex);
  ASSERT_EQ(view->projections.size(), 1u);
  EXPECT_EQ(view->projections[0].handler, "ledger");
  EXPECT_EQ(view->projections[0].version, "1.0.0");
  EXPECT_EQ(testing::json_of(view->projections[0].bytes)["total"], 15);

  Result<std::vector<LogEntryView>> log = read_log_sync(*node, "p/1", 2, 3);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[0].seq, 2u);
  EXPECT_EQ((*log)[0].prev_hash_hex, receipts[0].hash_hex);
  EXPECT_EQ((*log)[2].hash_hex, receipts[3].hash_hex);
  EXPECT_EQ((*log)[1].id, "b-3");
  EXPECT_EQ(testing::json_of((*log)[1].payload)["by"], 3);

  EXPECT_EQ(read_actor_sync(*node, "p/never").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(submit_sync(*node, add("", "x", 1)).error().code, ErrorCode::kInvalidArgument);
  Result<CommandReceipt> rejected = submit_sync(*node, Command{"p/1", "r", "reject", testing::msgpack_of(nullptr)});
  EXPECT_EQ(rejected.error().code, ErrorCode::kRejected);

  std::string metrics;
  node->write_metrics(metrics);
  EXPECT_NE(metrics.find("quorum_commits_total"), std::string::npos);
  EXPECT_NE(metrics.find("quorum_commit_latency_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.find("quorum_commit_batch_commands_count"), std::string::npos);
  EXPECT_NE(metrics.find("quorum_commands_total{result=\"ok\"} 5"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("quorum_commands_total{result=\"rejected\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("quorum_actors_active"), std::string::npos);
  node->shutdown();
  EXPECT_FALSE(node->health().serving);
  // After shutdown: answered inline.
  bool answered = false;
  node->submit(add("p/1", "late", 1), [&](Result<CommandReceipt> result) {
    answered = true;
    EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  });
  EXPECT_TRUE(answered);
}

TEST(LocalNodeTest, ConcurrentClientsShareCommitsAndSurviveARestart) {
  ScratchDir dir;
  struct Ack {
    std::string key;
    std::string id;
    uint64_t seq;
    std::string hash;
  };
  std::vector<Ack> acks;
  std::mutex mutex;
  uint64_t commits = 0;
  {
    std::unique_ptr<LocalNode> node = open_node(options_for(dir));
    ASSERT_NE(node, nullptr);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 300;
    std::vector<std::thread> clients;
    std::atomic<int> remaining{kThreads * kPerThread};
    std::promise<void> all_done;
    for (int t = 0; t < kThreads; ++t) {
      clients.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::string key = "p/" + std::to_string((t * kPerThread + i) % 40);
          const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
          node->submit(add(key, id, 1), [&, key, id](Result<CommandReceipt> result) {
            EXPECT_TRUE(result.ok()) << result.error().message;
            if (result.ok()) {
              std::lock_guard lock(mutex);
              acks.push_back(Ack{key, id, result->seq, result->hash_hex});
            }
            if (--remaining == 0) {
              all_done.set_value();
            }
          });
        }
      });
    }
    for (std::thread& client : clients) {
      client.join();
    }
    ASSERT_EQ(all_done.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
    EXPECT_EQ(acks.size(), static_cast<size_t>(kThreads * kPerThread));
    std::string metrics;
    node->write_metrics(metrics);
    const size_t at = metrics.find("\nquorum_commits_total ");
    ASSERT_NE(at, std::string::npos);
    commits = std::stoull(metrics.substr(at + 22));
    // Group commit: far fewer fsyncs than commands.
    EXPECT_LT(commits, acks.size());
  }
  // Restart: everything acknowledged is there, once, with its hash.
  std::unique_ptr<LocalNode> node = open_node(options_for(dir));
  ASSERT_NE(node, nullptr);
  std::map<std::string, std::vector<LogEntryView>> logs;
  for (const Ack& ack : acks) {
    if (logs.count(ack.key) == 0) {
      std::vector<LogEntryView> all;
      for (uint64_t from = 1;;) {
        Result<std::vector<LogEntryView>> page = read_log_sync(*node, ack.key, from, 1000);
        ASSERT_TRUE(page.ok()) << page.error().message;
        if (page->empty()) {
          break;
        }
        from = page->back().seq + 1;
        all.insert(all.end(), page->begin(), page->end());
      }
      logs[ack.key] = std::move(all);
    }
    const std::vector<LogEntryView>& log = logs[ack.key];
    ASSERT_GE(log.size(), ack.seq);
    EXPECT_EQ(log[ack.seq - 1].id, ack.id);
    EXPECT_EQ(log[ack.seq - 1].hash_hex, ack.hash);
  }
  size_t entries = 0;
  for (const auto& [key, log] : logs) {
    entries += log.size();
    EXPECT_EQ(total_of(*node, key), static_cast<int64_t>(log.size()));
  }
  EXPECT_EQ(entries, acks.size());
  // A retry after the restart gets the original answer.
  Result<CommandReceipt> retry = submit_sync(*node, add(acks[7].key, acks[7].id, 1));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->seq, acks[7].seq);
  EXPECT_EQ(retry->hash_hex, acks[7].hash);
}

TEST(LocalNodeTest, SideEffectsRollUpAcrossShardsExactlyOnce) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> node = open_node(options_for(dir));
  ASSERT_NE(node, nullptr);
  int64_t expected = 0;
  for (int i = 0; i < 30; ++i) {
    const std::string precinct = "precinct/" + std::to_string(i % 6);
    ASSERT_TRUE(submit_sync(*node, add(precinct, "b-" + std::to_string(i), i + 1, "county/1")).ok());
    expected += i + 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (total_of(*node, "county/1") != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(total_of(*node, "county/1"), expected);
  // Restart: the outboxes are drained and nothing is applied twice.
  node->shutdown();
  node.reset();
  node = open_node(options_for(dir));
  ASSERT_NE(node, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(total_of(*node, "county/1"), expected);
  Result<ActorView> county = read_actor_sync(*node, "county/1");
  ASSERT_TRUE(county.ok());
  EXPECT_EQ(county->seq, 30u);
}

TEST(LocalNodeTest, TooManyCommandsInFlightAreRefusedNotQueued) {
  ScratchDir dir;
  LocalNodeOptions options = options_for(dir);
  options.max_in_flight = 4;
  std::unique_ptr<LocalNode> node = open_node(options);
  ASSERT_NE(node, nullptr);
  std::atomic<int> ok{0}, exhausted{0}, answered{0};
  std::promise<void> done;
  constexpr int kCommands = 400;
  for (int i = 0; i < kCommands; ++i) {
    node->submit(add("p/" + std::to_string(i % 3), "b-" + std::to_string(i), 1), [&](Result<CommandReceipt> result) {
      if (result.ok()) {
        ++ok;
      } else if (result.error().code == ErrorCode::kResourceExhausted) {
        ++exhausted;
      }
      if (++answered == kCommands) {
        done.set_value();
      }
    });
  }
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(ok + exhausted, kCommands);
}

TEST(LocalNodeTest, SubscribersSeeCommittedEntriesOfTheirPrefix) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> node = open_node(options_for(dir));
  ASSERT_NE(node, nullptr);
  std::mutex mutex;
  std::vector<StreamEvent> seen;
  std::unique_ptr<Subscription> subscription = node->subscribe("p/", 1000, [&](const StreamEvent& event) {
    std::lock_guard lock(mutex);
    seen.push_back(event);
  });
  ASSERT_TRUE(submit_sync(*node, add("p/1", "a", 2)).ok());
  ASSERT_TRUE(submit_sync(*node, add("q/1", "b", 2)).ok());
  ASSERT_TRUE(submit_sync(*node, add("p/2", "c", 3)).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (seen.size() >= 2 || std::chrono::steady_clock::now() > deadline) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  subscription.reset();
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].key, "p/1");
  EXPECT_EQ(seen[1].key, "p/2");
  ASSERT_EQ(seen[1].projections.size(), 1u);
  EXPECT_EQ(testing::json_of(seen[1].projections[0].bytes)["total"], 3);
}

TEST(LocalNodeTest, ABrokenChainOnDiskMakesThatActorRefuseService) {
  ScratchDir dir;
  LocalNodeOptions options = options_for(dir);
  {
    std::unique_ptr<LocalNode> node = open_node(options);
    ASSERT_TRUE(submit_sync(*node, add("p/bad", "a", 1)).ok());
    ASSERT_TRUE(submit_sync(*node, add("p/good", "a", 1)).ok());
  }
  {
    // Append an entry 2 that does not chain to entry 1.
    Result<std::unique_ptr<store::LevelDbStore>> opened =
        store::LevelDbStore::open((options.data_dir / "store").string());
    ASSERT_TRUE(opened.ok());
    store::Hash wrong{};
    wrong[0] = 0x42;
    store::EntryDraft draft{2, 1, 0, "forged", "add", testing::msgpack_of({{"by", 1000}})};
    Result<store::EncodedEntry> entry = store::encode_entry(wrong, draft);
    ASSERT_TRUE(entry.ok());
    store::WriteBatch batch;
    ASSERT_TRUE(batch.append("p/bad", *entry).ok());
    store::ReplicaMeta meta{1, 2, 2, entry->hash(), 1};
    ASSERT_TRUE(batch.put_meta("p/bad", meta).ok());
    ASSERT_TRUE((*opened)->commit(batch).ok());
  }
  std::unique_ptr<LocalNode> node = open_node(options);
  Result<CommandReceipt> refused = submit_sync(*node, add("p/bad", "b", 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message.find("p/bad"), std::string::npos);
  EXPECT_NE(refused.error().message.find("seq 2"), std::string::npos) << refused.error().message;
  EXPECT_EQ(read_actor_sync(*node, "p/bad").error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(read_log_sync(*node, "p/bad", 1, 10).error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(submit_sync(*node, add("p/good", "b", 1)).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (node->health().actors_failed == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(node->health().actors_failed, 1u);
}

TEST(LocalNodeTest, ShutdownAnswersEveryCommandExactlyOnce) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> node = open_node(options_for(dir));
  ASSERT_NE(node, nullptr);
  constexpr int kCommands = 500;
  std::vector<std::atomic<int>> calls(kCommands);
  for (int i = 0; i < kCommands; ++i) {
    node->submit(add("p/" + std::to_string(i % 7), "b-" + std::to_string(i), 1),
                 [&calls, i](Result<CommandReceipt>) { ++calls[i]; });
  }
  node->shutdown();
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(calls[i].load(), 1) << i;
  }
}

TEST(LocalNodeTest, PassivatedActorsComeBack) {
  ScratchDir dir;
  LocalNodeOptions options = options_for(dir);
  options.idle_passivation_ms = 30;
  options.snapshot_interval = 4;
  std::unique_ptr<LocalNode> node = open_node(options);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(submit_sync(*node, add("p/1", "b-" + std::to_string(i), 2)).ok());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (node->health().actors_active != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(node->health().actors_active, 0u);
  EXPECT_EQ(total_of(*node, "p/1"), 20);
}

TEST(PluginDirectoryTest, HighestVersionOfEachName) {
  ScratchDir dir;
  for (const char* file : {"tally-1.0.0.so", "tally-2.0.0.so", "tally-1.10.0.so", "rcv-0.9.1.so", "rcv-0.10.0-rc1.so",
                           "audit-1.0.0.so", "audit-1.0.0-beta.so", "README.md", "noversion.so"}) {
    std::ofstream(dir.path() / file) << "x";
  }
  Result<std::vector<PluginActivation>> found = highest_plugin_versions(dir.path());
  ASSERT_TRUE(found.ok());
  const std::vector<PluginActivation> expected = {{"audit", "1.0.0"}, {"rcv", "0.10.0-rc1"}, {"tally", "2.0.0"}};
  EXPECT_EQ(*found, expected);
  EXPECT_LT(compare_semver("1.9.0", "1.10.0"), 0);
  EXPECT_LT(compare_semver("1.0.0-rc1", "1.0.0"), 0);
  EXPECT_EQ(compare_semver("2.0.0", "2.0.0"), 0);
  EXPECT_FALSE(highest_plugin_versions(dir.path() / "missing").ok());
}

TEST(PluginDirectoryTest, TheFixtureDirectoryActivatesTheHighestLedger) {
  Result<std::vector<PluginActivation>> found = highest_plugin_versions(testing::fixture_dir());
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0], (PluginActivation{"ledger", "2.0.0"}));
  ScratchDir dir;
  LocalNodeOptions options = options_for(dir);
  options.activations = *found;
  std::unique_ptr<LocalNode> node = open_node(options);
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(submit_sync(*node, add("p/1", "a", 1)).ok());
  Result<ActorView> view = read_actor_sync(*node, "p/1");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->projections[0].version, "2.0.0");
  options.activations = {{"nosuch", "1.0.0"}};
  options.data_dir = dir.path() / "other";
  EXPECT_FALSE(LocalNode::open(options).ok());
}

}  // namespace
}  // namespace quorum::node
