// LevelDbStore specifics: corruption written through the raw LevelDB API is
// detected and named, a torn write-ahead log loses whole batches only, and a
// directory opens in one process at a time.
#include <quorum/store/background_env.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/leveldb_store.hpp>
#include <quorum/store/recovery.hpp>

#include "store_test_support.hpp"

#include <gtest/gtest.h>
#include <leveldb/db.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace quorum::store;
using quorum::Result;
using quorum::Status;
using namespace quorum::store::testing;

// Runs `change` on the raw database in `dir` (the store must be closed).
template <class Change>
void with_raw_db(const std::filesystem::path& dir, Change change) {
  leveldb::Options options;
  leveldb::DB* raw = nullptr;
  ASSERT_TRUE(leveldb::DB::Open(options, dir.string(), &raw).ok());
  std::unique_ptr<leveldb::DB> db(raw);
  change(*db);
}

TEST(LevelDbStore, FlippedBytesInOneEntryAreReportedWithKeyAndSeq) {
  TempDir dir;
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 12);
  {
    Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir.path().string());
    ASSERT_TRUE(store.ok());
    WriteBatch batch;
    add_log(batch, "e/2026/precinct/TN/0101", log);
    add_log(batch, "e/2026/precinct/TN/0102", make_chain(kGenesisHash, 1, 5, 1, "other"));
    ASSERT_TRUE((*store)->commit(batch).ok());
  }
  with_raw_db(dir.path(), [&](leveldb::DB& db) {
    const std::string key = layout::log_key("e/2026/precinct/TN/0101", 7);
    std::string value;
    ASSERT_TRUE(db.Get(leveldb::ReadOptions(), key, &value).ok());
    for (size_t i = 60; i < 64 && i < value.size(); ++i) {
      value[i] = static_cast<char>(~value[i]);
    }
    leveldb::WriteOptions sync;
    sync.sync = true;
    ASSERT_TRUE(db.Put(sync, key, value).ok());
  });
  Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir.path().string());
  ASSERT_TRUE(store.ok());
  RecoveryOutcome outcome = recover_actor_checked(**store, "e/2026/precinct/TN/0101");
  ASSERT_TRUE(outcome.fault.has_value());
  EXPECT_EQ(outcome.fault->actor, "e/2026/precinct/TN/0101");
  EXPECT_EQ(outcome.fault->seq, 7u);
  EXPECT_TRUE(outcome.fault->kind == FaultKind::kBrokenChain || outcome.fault->kind == FaultKind::kUnreadableEntry);
  Result<RecoveredActor> refused = recover_actor(**store, "e/2026/precinct/TN/0101");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("actor 'e/2026/precinct/TN/0101' seq 7"), std::string::npos)
      << refused.error().message;
  LogVerification verification = verify_actor_log(**store, "e/2026/precinct/TN/0101");
  EXPECT_FALSE(verification.ok());
  EXPECT_EQ(verification.entries_verified, 6u);
  // The neighbour is untouched.
  EXPECT_TRUE(recover_actor(**store, "e/2026/precinct/TN/0102").ok());
}

TEST(LevelDbStore, ATornLogTailLosesWholeBatchesOnly) {
  TempDir dir;
  std::vector<EncodedEntry> first = make_chain(kGenesisHash, 1, 4, 1, "first");
  {
    Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir.path().string());
    ASSERT_TRUE(store.ok());
    WriteBatch one;
    add_log(one, "a", first);
    ASSERT_TRUE((*store)->commit(one).ok());
    WriteBatch many;  // the last batch, for many actors
    for (int i = 0; i < 30; ++i) {
      add_log(many, "b/" + std::to_string(i), make_chain(kGenesisHash, 1, 3, 1, std::to_string(i)));
    }
    ASSERT_TRUE((*store)->commit(many).ok());
  }
  // Tear the last record of the write-ahead log, as a crash mid-write would.
  std::filesystem::path newest_log;
  for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
    if (file.path().extension() == ".log" && (newest_log.empty() || file.path() > newest_log)) {
      newest_log = file.path();
    }
  }
  ASSERT_FALSE(newest_log.empty());
  const auto size = std::filesystem::file_size(newest_log);
  std::filesystem::resize_file(newest_log, size - 100);

  Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir.path().string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  Result<RecoveredActor> a = recover_actor(**store, "a");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->tail, first);
  Result<std::vector<std::string>> actors = (*store)->list_actors("", 100);
  ASSERT_TRUE(actors.ok());
  EXPECT_EQ(*actors, std::vector<std::string>{"a"});  // none of the torn batch
  for (int i = 0; i < 30; ++i) {
    EXPECT_TRUE((*store)->read_log("b/" + std::to_string(i), 1, 10)->empty());
  }
}

TEST(LevelDbStore, CompactionKeepsEverything) {
  TempDir dir;
  Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir.path().string());
  ASSERT_TRUE(store.ok());
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 300);
  WriteBatch batch;
  add_log(batch, "c", log);
  ASSERT_TRUE((*store)->commit(batch).ok());
  WriteBatch cut;
  ASSERT_TRUE(cut.truncate_log_after("c", 100).ok());
  std::vector<EncodedEntry> kept(log.begin(), log.begin() + 100);
  ASSERT_TRUE(cut.put_meta("c", meta_for(kept)).ok());
  ASSERT_TRUE((*store)->commit(cut).ok());
  (*store)->compact();
  Result<RecoveredActor> recovered = recover_actor(**store, "c");
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->tail, kept);
}

TEST(LevelDbStore, OneProcessOpensADirectory) {
  TempDir dir;
  Result<std::unique_ptr<LevelDbStore>> first = LevelDbStore::open(dir.path().string());
  ASSERT_TRUE(first.ok());
  Result<std::unique_ptr<LevelDbStore>> second = LevelDbStore::open(dir.path().string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, quorum::ErrorCode::kIo);
  LevelDbOptions no_create;
  no_create.create_if_missing = false;
  EXPECT_FALSE(LevelDbStore::open((dir.path() / "missing").string(), no_create).ok());
}

// Recovery runs before an actor serves, never beside its own writer; but
// reads of one actor while another thread commits to it always see whole
// batches: every prefix read is a valid chain.
TEST(LevelDbStore, ConcurrentReadersDuringCommits) {
  TempDir dir;
  Result<std::unique_ptr<LevelDbStore>> opened = LevelDbStore::open(dir.path().string());
  ASSERT_TRUE(opened.ok());
  LevelDbStore& store = **opened;
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 200);
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    do {
      Result<std::vector<RawEntry>> read = store.read_log("r", 1, kMaxReadEntries);
      std::vector<std::string> bytes;
      if (read.ok()) {
        for (RawEntry& entry : *read) {
          bytes.push_back(std::move(entry.bytes));
        }
      }
      if (!read.ok() || read->size() % 10 != 0 ||
          !verify_chain(0, kGenesisHash, std::span<const std::string>(bytes)).ok()) {
        failures.fetch_add(1);
      }
      reads.fetch_add(1);
    } while (!done.load());
  });
  for (size_t committed = 0; committed < log.size(); committed += 10) {
    WriteBatch batch;
    std::vector<EncodedEntry> prefix(log.begin(), log.begin() + static_cast<long>(committed + 10));
    for (size_t i = committed; i < committed + 10; ++i) {
      ASSERT_TRUE(batch.append("r", log[i]).ok());
    }
    ASSERT_TRUE(batch.put_meta("r", meta_for(prefix)).ok());
    ASSERT_TRUE(store.commit(batch).ok());
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_TRUE(recover_actor(store, "r").ok());
}

// LevelDB's background work runs on the environment's own thread, at the
// raised nice value, in the order it was scheduled; jobs still queued when
// the environment goes run first.
TEST(BackgroundEnv, RunsJobsInOrderOnOneLowPriorityThread) {
  struct Seen {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<int> order;
    std::vector<std::thread::id> threads;
    std::vector<int> nice;
  };
  Seen seen;
  struct Job {
    Seen* seen;
    int n;
  };
  auto run = [](void* arg) {
    Job* job = static_cast<Job*>(arg);
    const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
    std::lock_guard lock(job->seen->mutex);
    job->seen->order.push_back(job->n);
    job->seen->threads.push_back(std::this_thread::get_id());
    job->seen->nice.push_back(nice);
    job->seen->done.notify_all();
  };
  const int base = getpriority(PRIO_PROCESS, 0);
  std::vector<Job> jobs;
  for (int n = 0; n < 8; ++n) {
    jobs.push_back(Job{&seen, n});
  }
  {
    BackgroundEnv env(7);
    for (Job& job : jobs) {
      env.Schedule(run, &job);
    }
    std::unique_lock lock(seen.mutex);
    ASSERT_TRUE(seen.done.wait_for(lock, std::chrono::seconds(10), [&] { return seen.order.size() >= 4; }));
    lock.unlock();
    EXPECT_TRUE(env.lowered());
  }  // the rest run before the destructor returns
  EXPECT_EQ(seen.order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  for (size_t i = 0; i < seen.threads.size(); ++i) {
    EXPECT_EQ(seen.threads[i], seen.threads.front());
    EXPECT_NE(seen.threads[i], std::this_thread::get_id());
    EXPECT_EQ(seen.nice[i], std::min(base + 7, 19));
  }
}

// A store compacts through the environment (flushes and compactions of a few
// megabytes, then a full compaction), and refuses a nice value out of range.
TEST(BackgroundEnv, AStoreCompactsThroughItAndRefusesABadNice) {
  TempDir dir;
  LevelDbOptions options;
  options.background_nice = 20;
  Result<std::unique_ptr<LevelDbStore>> refused = LevelDbStore::open(dir.path().string(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, quorum::ErrorCode::kInvalidArgument);
  options.background_nice = 10;
  options.write_buffer_bytes = size_t{64} << 10;  // many memtable flushes
  Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir.path().string(), options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  for (int actor = 0; actor < 40; ++actor) {
    WriteBatch batch;
    add_log(batch, "a" + std::to_string(actor), make_chain(kGenesisHash, 1, 200));
    ASSERT_TRUE((*store)->commit(batch).ok());
  }
  (*store)->compact();
  for (int actor = 0; actor < 40; ++actor) {
    Result<RecoveredActor> recovered = recover_actor(**store, "a" + std::to_string(actor));
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    EXPECT_EQ(recovered->tail.size(), 200u);
  }
}

}  // namespace
