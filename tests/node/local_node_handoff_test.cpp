// LocalNode's hand-off API (host/include/quorum/node/local_node.hpp), the
// lower layer of moving a key between nodes: settle_key answers a key's point
// only once what was submitted before is durable and starts no actor for a
// key never seen; export_log / import_log move a log (in pages, bounded) from
// one node to another with its idempotency records, refuse anything that does
// not extend the stored log and change nothing then, and survive a restart;
// list_stored pages through the stored keys with their points. Two LocalNodes
// with LevelDB in separate temp dirs, real threads.
#include "node_test_support.hpp"

#include <quorum/node/local_node.hpp>
#include <quorum/store/entry.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace quorum::node {
namespace {

using testing::add;
using testing::read_actor_sync;
using testing::read_log_sync;
using testing::ScratchDir;
using testing::submit_sync;
using testing::total_of;

constexpr size_t kAnyBytes = size_t{64} << 20;  // an export byte bound that never binds here

LocalNodeOptions options_for(const ScratchDir& dir, const std::string& name) {
  return testing::ledger_node_options(dir.path() / name, name);
}

std::unique_ptr<LocalNode> open_node(LocalNodeOptions options) { return testing::open_local_node(std::move(options)); }

template <class T>
struct Waiter {
  std::shared_ptr<std::promise<Result<T>>> promise = std::make_shared<std::promise<Result<T>>>();
  std::future<Result<T>> future = promise->get_future();
  Callback<T> callback() {
    return [promise = promise](Result<T> result) { promise->set_value(std::move(result)); };
  }
  Result<T> get() { return testing::wait(future); }
};

Result<KeyPoint> settle_sync(LocalNode& node, const std::string& key) {
  Waiter<KeyPoint> waiter;
  node.settle_key(key, waiter.callback());
  return waiter.get();
}

Result<std::vector<std::string>> export_sync(LocalNode& node, const std::string& key, uint64_t from, size_t limit,
                                             size_t max_bytes = kAnyBytes) {
  Waiter<std::vector<std::string>> waiter;
  node.export_log(key, from, limit, max_bytes, waiter.callback());
  return waiter.get();
}

Result<KeyPoint> import_sync(LocalNode& node, const std::string& key, std::vector<std::string> entries) {
  Waiter<KeyPoint> waiter;
  node.import_log(key, std::move(entries), waiter.callback());
  return waiter.get();
}

// The whole log of `key` as read back (verified) by the node.
std::vector<LogEntryView> whole_log(LocalNode& node, const std::string& key) {
  std::vector<LogEntryView> all;
  for (uint64_t from = 1;;) {
    Result<std::vector<LogEntryView>> page = read_log_sync(node, key, from, 1000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok() || page->empty()) {
      return all;
    }
    from = page->back().seq + 1;
    all.insert(all.end(), page->begin(), page->end());
  }
}

// Every field that travels with an entry, one string per entry (for equality
// with a readable diff).
std::vector<std::string> fingerprint(const std::vector<LogEntryView>& log) {
  std::vector<std::string> out;
  for (const LogEntryView& e : log) {
    out.push_back(std::to_string(e.seq) + "/" + std::to_string(e.epoch) + "/" + std::to_string(e.time_ms) + "/" + e.id +
                  "/" + e.type + "/" + e.hash_hex + "/" + e.prev_hash_hex + "/" + std::to_string(e.payload.size()));
  }
  return out;
}

uint64_t seq_of(const std::string& raw) {
  Result<store::EntryView> view = store::parse_entry(raw);
  EXPECT_TRUE(view.ok()) << view.error().message;
  return view.ok() ? view->seq : 0;
}

// Submits `n` "add" commands with ids "<prefix>-1".."<prefix>-n" (by = i) and
// waits for each; returns the receipts in order.
std::vector<CommandReceipt> fill(LocalNode& node, const std::string& key, int n, const std::string& prefix = "c") {
  std::vector<CommandReceipt> receipts;
  for (int i = 1; i <= n; ++i) {
    Result<CommandReceipt> receipt = submit_sync(node, add(key, prefix + "-" + std::to_string(i), i));
    EXPECT_TRUE(receipt.ok()) << receipt.error().message;
    if (receipt.ok()) {
      receipts.push_back(*receipt);
    }
  }
  return receipts;
}

// A counter of write_metrics(), or nullopt if it is not there.
std::optional<uint64_t> metric(const LocalNode& node, const std::string& name) {
  std::string text;
  node.write_metrics(text);
  const std::string needle = "\n" + name + " ";
  const size_t at = text.find(needle);
  if (at == std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(text.substr(at + needle.size()));
}

// Polls until quorum_actors_started_total reaches at least `want` (the
// counters are refreshed on the shards' ticks), then returns it.
uint64_t started_at_least(const LocalNode& node, uint64_t want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    const uint64_t now = metric(node, "quorum_actors_started_total").value_or(0);
    if (now >= want || std::chrono::steady_clock::now() > deadline) {
      return now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// ---------------------------------------------------------------------------
// settle_key

TEST(LocalNodeHandoffTest, SettleKeyAnswersOnlyOnceEverythingSubmittedBeforeIsDurable) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> node = open_node(options_for(dir, "TN-A-1"));
  ASSERT_NE(node, nullptr);
  const std::string key = "p/settle";
  constexpr int kCommands = 60;
  std::atomic<int> answered{0};
  std::atomic<int> accepted{0};
  std::mutex mutex;
  std::string last_hash;  // under mutex
  uint64_t last_seq = 0;  // under mutex
  int expected_accepted = 0;
  // Submitted without waiting; every seventh is refused by the handler.
  for (int i = 0; i < kCommands; ++i) {
    const bool refuse = i % 7 == 3;
    expected_accepted += refuse ? 0 : 1;
    Command command = refuse ? Command{key, "r-" + std::to_string(i), "reject", testing::msgpack_of(nullptr)}
                             : add(key, "s-" + std::to_string(i), 1);
    node->submit(std::move(command), [&](Result<CommandReceipt> result) {
      if (result.ok()) {
        std::lock_guard lock(mutex);
        if (result->seq > last_seq) {
          last_seq = result->seq;
          last_hash = result->hash_hex;
        }
        ++accepted;
      }
      ++answered;
    });
  }
  std::atomic<int> answered_at_settle{-1};
  auto promise = std::make_shared<std::promise<Result<KeyPoint>>>();
  auto future = promise->get_future();
  node->settle_key(key, [&, promise](Result<KeyPoint> point) {
    answered_at_settle = answered.load();
    promise->set_value(std::move(point));
  });
  Result<KeyPoint> point = testing::wait(future);
  ASSERT_TRUE(point.ok()) << point.error().message;
  EXPECT_EQ(point->seq, static_cast<uint64_t>(expected_accepted));
  // Every command submitted before was answered when the point was.
  EXPECT_EQ(answered_at_settle.load(), kCommands);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(accepted.load(), expected_accepted);
    EXPECT_EQ(last_seq, point->seq);
    EXPECT_EQ(store::to_hex(point->head), last_hash);
  }
  // The point is what is stored.
  std::vector<LogEntryView> log = whole_log(*node, key);
  ASSERT_EQ(log.size(), point->seq);
  EXPECT_EQ(log.back().hash_hex, store::to_hex(point->head));
  // Asked again with nothing in flight: the same point at once.
  Result<KeyPoint> again = settle_sync(*node, key);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *point);
  // A key that is not valid is refused.
  EXPECT_EQ(settle_sync(*node, "").error().code, ErrorCode::kInvalidArgument);
  node->shutdown();
  bool inline_answer = false;
  node->settle_key(key, [&](Result<KeyPoint> result) {
    inline_answer = true;
    EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  });
  EXPECT_TRUE(inline_answer);
}

TEST(LocalNodeHandoffTest, SettleKeyOfAPassivatedActorAnswersItsStoredPoint) {
  ScratchDir dir;
  LocalNodeOptions options = options_for(dir, "TN-A-1");
  options.idle_passivation_ms = 30;
  std::unique_ptr<LocalNode> node = open_node(options);
  ASSERT_NE(node, nullptr);
  std::vector<CommandReceipt> receipts = fill(*node, "p/idle", 4);
  ASSERT_EQ(receipts.size(), 4u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (node->health().actors_active != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(node->health().actors_active, 0u);
  Result<KeyPoint> point = settle_sync(*node, "p/idle");
  ASSERT_TRUE(point.ok()) << point.error().message;
  EXPECT_EQ(point->seq, 4u);
  EXPECT_EQ(store::to_hex(point->head), receipts.back().hash_hex);
}

TEST(LocalNodeHandoffTest, SettleKeyOfAKeyNeverSeenAnswersGenesisAndStartsNoActor) {
  ScratchDir dir;
  LocalNodeOptions options = options_for(dir, "TN-A-1");
  options.shards = 1;  // one registry: its counters move together on each tick
  std::unique_ptr<LocalNode> node = open_node(options);
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(submit_sync(*node, add("p/seen", "a", 1)).ok());
  ASSERT_EQ(started_at_least(*node, 1), 1u);
  EXPECT_EQ(node->health().actors_active, 1u);

  Result<KeyPoint> point = settle_sync(*node, "p/never");
  ASSERT_TRUE(point.ok()) << point.error().message;
  EXPECT_EQ(point->seq, 0u);
  EXPECT_EQ(point->head, store::kGenesisHash);
  EXPECT_EQ(*point, KeyPoint{});

  // Any later input of the shard refreshes actors_active: still one.
  ASSERT_TRUE(submit_sync(*node, add("p/seen", "b", 1)).ok());
  EXPECT_EQ(node->health().actors_active, 1u);
  // The control: a read does start an actor (for a key without entries), and
  // once the counter shows that start it shows every earlier one too.
  EXPECT_EQ(read_actor_sync(*node, "p/other").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(started_at_least(*node, 2), 2u);
  EXPECT_EQ(node->health().actors_active, 2u);
  // Nothing stored for it either.
  Result<std::vector<std::pair<std::string, KeyPoint>>> stored = node->list_stored("", 100);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].first, "p/seen");
  Result<std::vector<std::string>> exported = export_sync(*node, "p/never", 1, 10);
  ASSERT_TRUE(exported.ok()) << exported.error().message;
  EXPECT_TRUE(exported->empty());
}

// ---------------------------------------------------------------------------
// export_log / import_log

TEST(LocalNodeHandoffTest, ExportThenImportCarriesTheLogProjectionsAndIdempotency) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> a = open_node(options_for(dir, "TN-A-1"));
  std::unique_ptr<LocalNode> b = open_node(options_for(dir, "FL-B-1"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string key = "e/2026/precinct/TN/0101";
  constexpr int kEntries = 12;
  std::vector<CommandReceipt> receipts = fill(*a, key, kEntries, "m");
  ASSERT_EQ(receipts.size(), static_cast<size_t>(kEntries));
  // B has read the key before (an empty actor runs there): the import must
  // make its next message see the imported log.
  EXPECT_EQ(read_actor_sync(*b, key).error().code, ErrorCode::kNotFound);

  Result<KeyPoint> source = settle_sync(*a, key);
  ASSERT_TRUE(source.ok());
  Result<std::vector<std::string>> entries = export_sync(*a, key, 1, 1000);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), static_cast<size_t>(kEntries));
  Result<KeyPoint> imported = import_sync(*b, key, *entries);
  ASSERT_TRUE(imported.ok()) << imported.error().message;
  EXPECT_EQ(*imported, *source);

  // The same log, entry by entry (hashes, ids, payloads).
  std::vector<LogEntryView> log_a = whole_log(*a, key);
  std::vector<LogEntryView> log_b = whole_log(*b, key);
  ASSERT_EQ(log_b.size(), static_cast<size_t>(kEntries));
  EXPECT_EQ(fingerprint(log_b), fingerprint(log_a));
  for (size_t i = 0; i < log_a.size(); ++i) {
    EXPECT_EQ(log_b[i].payload, log_a[i].payload) << i;
  }
  // The same projections.
  Result<ActorView> view_a = read_actor_sync(*a, key);
  Result<ActorView> view_b = read_actor_sync(*b, key);
  ASSERT_TRUE(view_a.ok());
  ASSERT_TRUE(view_b.ok()) << view_b.error().message;
  EXPECT_EQ(view_b->seq, view_a->seq);
  EXPECT_EQ(view_b->head_hex, view_a->head_hex);
  ASSERT_EQ(view_b->projections.size(), view_a->projections.size());
  ASSERT_EQ(view_b->projections.size(), 1u);
  EXPECT_EQ(view_b->projections[0].bytes, view_a->projections[0].bytes);
  EXPECT_EQ(total_of(*b, key), kEntries * (kEntries + 1) / 2);
  // B's own view of its point.
  Result<KeyPoint> settled_b = settle_sync(*b, key);
  ASSERT_TRUE(settled_b.ok());
  EXPECT_EQ(*settled_b, *source);

  // Retries of commands applied on A are duplicates on B, with A's answer.
  for (int i : {1, 5, kEntries}) {
    Result<CommandReceipt> retry = submit_sync(*b, add(key, "m-" + std::to_string(i), 1000));
    ASSERT_TRUE(retry.ok()) << retry.error().message;
    EXPECT_TRUE(retry->duplicate) << i;
    EXPECT_EQ(retry->seq, receipts[i - 1].seq);
    EXPECT_EQ(retry->hash_hex, receipts[i - 1].hash_hex);
  }
  EXPECT_EQ(total_of(*b, key), kEntries * (kEntries + 1) / 2);
  // A new command continues the chain.
  Result<CommandReceipt> next = submit_sync(*b, add(key, "m-new", 100));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->seq, static_cast<uint64_t>(kEntries + 1));
  Result<std::vector<LogEntryView>> tail = read_log_sync(*b, key, kEntries + 1, 10);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].prev_hash_hex, receipts.back().hash_hex);
  EXPECT_EQ(total_of(*b, key), kEntries * (kEntries + 1) / 2 + 100);
}

TEST(LocalNodeHandoffTest, ExportRespectsLimitAndBytesButGivesAtLeastOneEntry) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> a = open_node(options_for(dir, "TN-A-1"));
  ASSERT_NE(a, nullptr);
  const std::string key = "p/export";
  ASSERT_EQ(fill(*a, key, 10).size(), 10u);
  Result<std::vector<std::string>> all = export_sync(*a, key, 1, 100);
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 10u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ(seq_of((*all)[i]), i + 1);
  }

  Result<std::vector<std::string>> three = export_sync(*a, key, 1, 3);
  ASSERT_TRUE(three.ok());
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[2], (*all)[2]);
  Result<std::vector<std::string>> middle = export_sync(*a, key, 4, 3);
  ASSERT_TRUE(middle.ok()) << middle.error().message;
  ASSERT_EQ(middle->size(), 3u);
  EXPECT_EQ(seq_of((*middle)[0]), 4u);
  EXPECT_EQ((*middle)[0], (*all)[3]);
  Result<std::vector<std::string>> end = export_sync(*a, key, 9, 100);
  ASSERT_TRUE(end.ok());
  ASSERT_EQ(end->size(), 2u);
  EXPECT_EQ(seq_of((*end)[1]), 10u);
  Result<std::vector<std::string>> past = export_sync(*a, key, 11, 100);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->empty());
  // from 0 means from the start.
  Result<std::vector<std::string>> zero = export_sync(*a, key, 0, 2);
  ASSERT_TRUE(zero.ok());
  ASSERT_EQ(zero->size(), 2u);
  EXPECT_EQ(seq_of((*zero)[0]), 1u);

  // Bytes: exactly two entries fit, one byte less fits one; at least one
  // always comes (a limit of 0 and a byte bound of 0 included).
  const size_t two = (*all)[3].size() + (*all)[4].size();
  Result<std::vector<std::string>> fits = export_sync(*a, key, 4, 100, two);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->size(), 2u);
  Result<std::vector<std::string>> short_one = export_sync(*a, key, 4, 100, two - 1);
  ASSERT_TRUE(short_one.ok());
  EXPECT_EQ(short_one->size(), 1u);
  Result<std::vector<std::string>> no_bytes = export_sync(*a, key, 4, 100, 0);
  ASSERT_TRUE(no_bytes.ok());
  ASSERT_EQ(no_bytes->size(), 1u);
  EXPECT_EQ(seq_of((*no_bytes)[0]), 4u);
  Result<std::vector<std::string>> no_limit = export_sync(*a, key, 4, 0);
  ASSERT_TRUE(no_limit.ok());
  ASSERT_EQ(no_limit->size(), 1u);
  EXPECT_EQ(seq_of((*no_limit)[0]), 4u);
  EXPECT_EQ(export_sync(*a, "", 1, 10).error().code, ErrorCode::kInvalidArgument);
}

TEST(LocalNodeHandoffTest, ImportInPagesBuildsTheSameLog) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> a = open_node(options_for(dir, "TN-A-1"));
  std::unique_ptr<LocalNode> b = open_node(options_for(dir, "FL-B-1"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kEntries = 23;
  std::vector<CommandReceipt> by_limit = fill(*a, "p/pages", kEntries, "l");
  std::vector<CommandReceipt> by_bytes = fill(*a, "p/bytes", kEntries, "b");
  ASSERT_EQ(by_limit.size(), static_cast<size_t>(kEntries));
  ASSERT_EQ(by_bytes.size(), static_cast<size_t>(kEntries));
  Result<std::vector<std::string>> sample = export_sync(*a, "p/bytes", 1, 1);
  ASSERT_TRUE(sample.ok());
  ASSERT_EQ(sample->size(), 1u);
  // Pages of at most 4 entries, or of at most about two and a half entries' bytes.
  struct Plan {
    std::string key;
    size_t limit;
    size_t max_bytes;
  };
  for (const Plan& plan : {Plan{"p/pages", 4, kAnyBytes}, Plan{"p/bytes", 100, (*sample)[0].size() * 5 / 2}}) {
    SCOPED_TRACE(plan.key);
    size_t pages = 0;
    uint64_t from = 1;
    for (;;) {
      Result<std::vector<std::string>> page = export_sync(*a, plan.key, from, plan.limit, plan.max_bytes);
      ASSERT_TRUE(page.ok()) << page.error().message;
      if (page->empty()) {
        break;
      }
      ASSERT_LE(page->size(), plan.limit);
      size_t bytes = 0;
      for (const std::string& entry : *page) {
        bytes += entry.size();
      }
      ASSERT_LE(bytes, plan.max_bytes);
      const uint64_t last = seq_of(page->back());
      ASSERT_EQ(seq_of(page->front()), from);
      Result<KeyPoint> point = import_sync(*b, plan.key, *page);
      ASSERT_TRUE(point.ok()) << point.error().message;
      EXPECT_EQ(point->seq, last);
      // The same page again does not extend B's log any more.
      Result<KeyPoint> replayed = import_sync(*b, plan.key, *page);
      ASSERT_FALSE(replayed.ok());
      EXPECT_EQ(replayed.error().code, ErrorCode::kFailedPrecondition) << replayed.error().message;
      from = last + 1;
      ++pages;
      ASSERT_LT(pages, 100u);
    }
    EXPECT_GE(pages, 6u);
    EXPECT_EQ(fingerprint(whole_log(*b, plan.key)), fingerprint(whole_log(*a, plan.key)));
    EXPECT_EQ(total_of(*b, plan.key), total_of(*a, plan.key));
  }
  Result<CommandReceipt> retry = submit_sync(*b, add("p/pages", "l-17", 1));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->hash_hex, by_limit[16].hash_hex);
}

class LocalNodeImportRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = open_node(options_for(dir_, "TN-A-1"));
    b_ = open_node(options_for(dir_, "FL-B-1"));
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    ASSERT_EQ(fill(*a_, key_, 5, "a").size(), 5u);
    Result<std::vector<std::string>> exported = export_sync(*a_, key_, 1, 100);
    ASSERT_TRUE(exported.ok());
    ASSERT_EQ(exported->size(), 5u);
    entries_ = std::move(exported).value();
  }

  // What B holds of `key`: its log, its point in the listing, its total.
  struct Held {
    std::vector<std::string> log;
    std::optional<KeyPoint> listed;
    int64_t total = 0;
    friend bool operator==(const Held&, const Held&) = default;
  };
  Held held(const std::string& key) {
    Held out;
    out.log = fingerprint(whole_log(*b_, key));
    Result<std::vector<std::pair<std::string, KeyPoint>>> stored = b_->list_stored("", 1000);
    EXPECT_TRUE(stored.ok());
    for (const auto& [name, point] : *stored) {
      if (name == key) {
        out.listed = point;
      }
    }
    out.total = total_of(*b_, key);
    return out;
  }

  void expect_refused(const std::string& key, std::vector<std::string> entries, ErrorCode code) {
    const Held before = held(key);
    Result<KeyPoint> result = import_sync(*b_, key, std::move(entries));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, code) << result.error().message;
    EXPECT_EQ(held(key), before);
  }

  ScratchDir dir_;
  std::unique_ptr<LocalNode> a_;
  std::unique_ptr<LocalNode> b_;
  const std::string key_ = "p/refuse";
  std::vector<std::string> entries_;  // A's entries 1..5 of key_
};

TEST_F(LocalNodeImportRefusalTest, ALogThatDoesNotExtendTheStoredOneChangesNothing) {
  // B has its own, different entry 1.
  Result<CommandReceipt> own = submit_sync(*b_, add(key_, "b-own", 7));
  ASSERT_TRUE(own.ok());
  const Held before = held(key_);
  ASSERT_EQ(before.log.size(), 1u);
  ASSERT_TRUE(before.listed.has_value());
  EXPECT_EQ(before.total, 7);
  expect_refused(key_, entries_, ErrorCode::kFailedPrecondition);
  // A's tail from entry 2 chains to A's entry 1, not to B's.
  expect_refused(key_, std::vector<std::string>(entries_.begin() + 1, entries_.end()), ErrorCode::kFailedPrecondition);
  // B keeps serving its own copy.
  Result<CommandReceipt> next = submit_sync(*b_, add(key_, "b-next", 1));
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->seq, 2u);
  // A's command ids are not known on B.
  Result<CommandReceipt> foreign = submit_sync(*b_, add(key_, "a-1", 1));
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(foreign->duplicate);
  EXPECT_EQ(foreign->seq, 3u);
}

TEST_F(LocalNodeImportRefusalTest, GarbageBytesChangeNothing) {
  expect_refused("p/empty", {"not an entry"}, ErrorCode::kInvalidArgument);
  expect_refused("p/empty", {std::string()}, ErrorCode::kInvalidArgument);
  // A valid entry 1 then garbage: the batch is all or nothing.
  expect_refused("p/empty", {entries_[0], "garbage"}, ErrorCode::kInvalidArgument);
  // A flipped bit in the last byte (the payload): the hash no longer matches.
  std::string tampered = entries_[1];
  tampered.back() = static_cast<char>(tampered.back() ^ 0x01);
  expect_refused("p/empty", {entries_[0], tampered, entries_[2]}, ErrorCode::kInvalidArgument);
  expect_refused("p/empty", {}, ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_actor_sync(*b_, "p/empty").error().code, ErrorCode::kNotFound);
  // Garbage over a stored log changes nothing either.
  ASSERT_TRUE(import_sync(*b_, key_, {entries_[0], entries_[1]}).ok());
  expect_refused(key_, {"\x01garbage"}, ErrorCode::kInvalidArgument);
  expect_refused(key_, {entries_[2], tampered}, ErrorCode::kInvalidArgument);
  EXPECT_EQ(import_sync(*b_, "", {entries_[0]}).error().code, ErrorCode::kInvalidArgument);
  // And the right continuation is still accepted.
  Result<KeyPoint> rest = import_sync(*b_, key_, {entries_[2], entries_[3], entries_[4]});
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_EQ(rest->seq, 5u);
}

TEST_F(LocalNodeImportRefusalTest, EntriesThatSkipASeqChangeNothing) {
  // A gap inside the batch.
  expect_refused("p/gap", {entries_[0], entries_[1], entries_[3]}, ErrorCode::kInvalidArgument);
  // A batch that starts past the stored end.
  expect_refused("p/gap", {entries_[1], entries_[2]}, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(import_sync(*b_, key_, {entries_[0], entries_[1]}).ok());
  expect_refused(key_, {entries_[3], entries_[4]}, ErrorCode::kFailedPrecondition);
  expect_refused(key_, {entries_[2], entries_[4]}, ErrorCode::kInvalidArgument);
  // The same entry twice.
  expect_refused(key_, {entries_[2], entries_[2]}, ErrorCode::kInvalidArgument);
  const Held now = held(key_);
  EXPECT_EQ(now.log.size(), 2u);
  EXPECT_EQ(now.total, 1 + 2);
}

TEST(LocalNodeHandoffTest, AnImportSurvivesARestart) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> a = open_node(options_for(dir, "TN-A-1"));
  ASSERT_NE(a, nullptr);
  const std::string key = "p/restart";
  constexpr int kEntries = 8;
  std::vector<CommandReceipt> receipts = fill(*a, key, kEntries, "r");
  ASSERT_EQ(receipts.size(), static_cast<size_t>(kEntries));
  Result<std::vector<std::string>> entries = export_sync(*a, key, 1, 100);
  ASSERT_TRUE(entries.ok());
  const std::vector<std::string> log_a = fingerprint(whole_log(*a, key));
  Result<KeyPoint> source = settle_sync(*a, key);
  ASSERT_TRUE(source.ok());
  {
    std::unique_ptr<LocalNode> b = open_node(options_for(dir, "FL-B-1"));
    ASSERT_NE(b, nullptr);
    Result<KeyPoint> imported = import_sync(*b, key, *entries);
    ASSERT_TRUE(imported.ok()) << imported.error().message;
    b->shutdown();
  }
  std::unique_ptr<LocalNode> b = open_node(options_for(dir, "FL-B-1"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(fingerprint(whole_log(*b, key)), log_a);
  Result<std::vector<std::pair<std::string, KeyPoint>>> stored = b->list_stored("", 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].first, key);
  EXPECT_EQ((*stored)[0].second, *source);
  Result<KeyPoint> settled = settle_sync(*b, key);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(*settled, *source);
  EXPECT_EQ(total_of(*b, key), kEntries * (kEntries + 1) / 2);
  Result<CommandReceipt> retry = submit_sync(*b, add(key, "r-3", 1000));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->seq, 3u);
  EXPECT_EQ(retry->hash_hex, receipts[2].hash_hex);
  Result<CommandReceipt> next = submit_sync(*b, add(key, "r-next", 1));
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->seq, static_cast<uint64_t>(kEntries + 1));
}

// ---------------------------------------------------------------------------
// list_stored

TEST(LocalNodeHandoffTest, ListStoredPagesThroughKeysWithTheirPoints) {
  ScratchDir dir;
  std::unique_ptr<LocalNode> node = open_node(options_for(dir, "TN-A-1"));
  ASSERT_NE(node, nullptr);
  // Submitted out of order; listed in byte order.
  const std::vector<std::pair<std::string, int>> keys = {{"k/c", 5}, {"k/a", 3}, {"k/e", 1}, {"k/b", 2}, {"k/d", 4}};
  std::map<std::string, KeyPoint> expected;
  for (const auto& [key, n] : keys) {
    std::vector<CommandReceipt> receipts = fill(*node, key, n, key);
    ASSERT_EQ(receipts.size(), static_cast<size_t>(n));
    Result<KeyPoint> point = settle_sync(*node, key);
    ASSERT_TRUE(point.ok());
    ASSERT_EQ(point->seq, static_cast<uint64_t>(n));
    ASSERT_EQ(store::to_hex(point->head), receipts.back().hash_hex);
    expected[key] = *point;
  }
  std::vector<std::pair<std::string, KeyPoint>> listed;
  std::string after;
  size_t pages = 0;
  for (;;) {
    Result<std::vector<std::pair<std::string, KeyPoint>>> page = node->list_stored(after, 2);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_LE(page->size(), 2u);
    if (page->empty()) {
      break;
    }
    ++pages;
    ASSERT_LT(pages, 10u);
    after = page->back().first;
    listed.insert(listed.end(), page->begin(), page->end());
  }
  EXPECT_EQ(pages, 3u);
  std::vector<std::pair<std::string, KeyPoint>> want(expected.begin(), expected.end());
  ASSERT_EQ(listed.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(listed[i].first, want[i].first);
    EXPECT_EQ(listed[i].second, want[i].second) << want[i].first;
  }
  // "after" is exclusive and need not be a stored key.
  Result<std::vector<std::pair<std::string, KeyPoint>>> from_b = node->list_stored("k/b", 100);
  ASSERT_TRUE(from_b.ok());
  ASSERT_EQ(from_b->size(), 3u);
  EXPECT_EQ((*from_b)[0].first, "k/c");
  Result<std::vector<std::pair<std::string, KeyPoint>>> between = node->list_stored("k/bb", 1);
  ASSERT_TRUE(between.ok());
  ASSERT_EQ(between->size(), 1u);
  EXPECT_EQ((*between)[0].first, "k/c");
  // The listing follows new entries.
  ASSERT_TRUE(submit_sync(*node, add("k/a", "more", 1)).ok());
  Result<std::vector<std::pair<std::string, KeyPoint>>> first = node->list_stored("", 1);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].second.seq, 4u);
  node->shutdown();
  EXPECT_EQ(node->list_stored("", 10).error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace quorum::node
