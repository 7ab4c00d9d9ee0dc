// MemoryStore: an EventStore held in memory, for the deterministic simulator
// and for tests. It keeps two images of the key-value space: what reads see
// (every write so far) and what would survive a crash (every write made
// durable). crash() drops the difference, as a disk loses unsynced writes.
//
// Two ways to write:
//  - commit(batch): write and make durable at once (the EventStore contract).
//  - write(batch) then sync(): the sans-IO core's split, where the write is
//    issued now and the disk's completion arrives later as an input. Reads
//    see a written batch at once; only sync() makes it survive crash(). Like
//    an fsync'd log, sync() makes every earlier write durable, in order.
//
// Fault injection: raw_put/raw_erase change stored bytes directly (both
// images), to model corrupted I/O.
//
// Threads: none. One thread (the simulator's) uses a MemoryStore.
#pragma once

#include <quorum/store/kv_event_store.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace quorum::store {

inline constexpr size_t kMaxUnsyncedWrites = 1024;

class MemoryStore final : public KvEventStore {
 public:
  MemoryStore() = default;

  // Applies the batch to what reads see, not yet durable. Returns the write's
  // number (1, 2, ...), which sync() reports once it is durable.
  // kResourceExhausted once kMaxUnsyncedWrites are waiting for sync().
  Result<uint64_t> write(const WriteBatch& batch);
  // Makes every write so far durable; returns the number of the last one (0 if none ever).
  uint64_t sync();
  // Writes not yet made durable.
  size_t unsynced_writes() const noexcept { return pending_.size(); }
  // Drops every write not made durable, as a power loss would.
  void crash();

  void raw_put(std::string_view key, std::string_view value);
  void raw_erase(std::string_view key);
  std::optional<std::string> raw_get(std::string_view key) const;
  size_t raw_size() const noexcept { return visible_.size(); }

 protected:
  Result<std::optional<std::string>> kv_get(std::string_view key) const override;
  Status kv_scan(std::string_view start, std::string_view end, const KvVisitor& visit) const override;
  Status kv_apply(const KvWrites& writes) override;  // write + sync

 private:
  using Map = std::map<std::string, std::string, std::less<>>;
  // A write that owns its bytes: it outlives the batch until sync().
  struct OwnedWrite {
    bool is_delete = false;
    std::string key;
    std::string value;
  };
  static void apply(Map& map, const std::vector<OwnedWrite>& writes);
  void issue(const KvWrites& writes);

  Map visible_;
  Map durable_;
  std::vector<std::vector<OwnedWrite>> pending_;  // written, not yet durable, in order
  uint64_t writes_issued_ = 0;
};

}  // namespace quorum::store
