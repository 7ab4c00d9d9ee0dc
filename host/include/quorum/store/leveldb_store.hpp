// LevelDbStore: the real EventStore, one LevelDB per node in a directory.
//
// Every commit is one leveldb::WriteBatch written with sync = true: one fsync
// per batch, however many actors it carries. paranoid_checks is on, and
// every read verifies block checksums, so storage corruption comes back as a
// kIo error instead of wrong data.
//
// Write cost (CPU per command is what limits a node): a commit's writes go
// into LevelDB sorted by key (stable, so later writes of a key still win):
// consecutive memtable inserts then share their skip-list search path, which
// is in cache, instead of missing it at every level (about a fifth of the
// store's CPU per command: store_recovery_bench phase 4). One
// leveldb::WriteBatch is reused across commits. Blocks stay snappy-
// compressed: measured on node-like writes, no compression cost as much CPU
// or more (more bytes to write and compact) and about twice the disk.
//
// Compactions: LevelDB's background work (memtable flushes, compactions)
// runs on a thread at a lower CPU priority (BackgroundEnv), so on a small
// machine it takes the CPU the client-facing threads leave instead of
// competing with them.
//
// Threads: commits are serialized by an internal mutex (one writer thread is
// the intended use); reads are safe concurrently with each other and with a
// commit (LevelDB's guarantees). Only one process may open a directory.
#pragma once

#include <quorum/store/kv_event_store.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace leveldb {
class DB;
class Cache;
class FilterPolicy;
class WriteBatch;
}  // namespace leveldb

namespace quorum::store {

class BackgroundEnv;

struct LevelDbOptions {
  bool create_if_missing = true;
  bool error_if_exists = false;
  size_t block_cache_bytes = size_t{64} << 20;
  size_t write_buffer_bytes = size_t{32} << 20;
  // False only for benchmarks that measure without fsync; the store then is
  // NOT durable at commit().
  bool sync = true;
  // Added to the nice value of LevelDB's background thread (0..19; 0 keeps
  // the process's priority). See BackgroundEnv.
  int background_nice = 10;
};

class LevelDbStore final : public KvEventStore {
 public:
  // Opens (or creates) the store in `directory`. Errors: kIo (LevelDB refused:
  // the message says why, e.g. a lock held by another process or corruption).
  static Result<std::unique_ptr<LevelDbStore>> open(const std::string& directory, const LevelDbOptions& options = {});

  ~LevelDbStore() override;  // closes the database
  LevelDbStore(const LevelDbStore&) = delete;
  LevelDbStore& operator=(const LevelDbStore&) = delete;

  const std::string& directory() const noexcept { return directory_; }

  // Compacts the whole key space (LevelDB CompactRange) and blocks until it
  // is done: for operators after a bulk load or truncations, and benchmarks
  // that measure reads without background compaction beside them.
  void compact();

  // One leveldb::WriteBatch, sync = true; serialized with other commits.
  Status commit(const WriteBatch& batch) override;

 protected:
  Result<std::optional<std::string>> kv_get(std::string_view key) const override;
  Status kv_scan(std::string_view start, std::string_view end, const KvVisitor& visit) const override;
  Status kv_apply(const KvWrites& writes) override;

 private:
  LevelDbStore() = default;

  std::string directory_;
  bool sync_ = true;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<BackgroundEnv> env_;  // outlives db_
  std::unique_ptr<leveldb::DB> db_;
  std::mutex commit_mutex_;
  // Guarded by commit_mutex_: reused so its buffer is not regrown per commit.
  std::unique_ptr<leveldb::WriteBatch> batch_;
  std::vector<const KvWrite*> order_;
};

}  // namespace quorum::store
