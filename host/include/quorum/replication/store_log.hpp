// The replication core over a node's EventStore (docs/replication.md,
// "Wiring it into quorumd"): the three seams KeyReplica / ReplicationNode
// need from storage, so quorumd's shards run the same sans-IO core as the
// simulator on the real store.
//  - StoreLog: the LogReader. Reads entries straight from the store, checks
//    each is well-formed, filed under its seq and chained to the one before;
//    a read stops at the first entry that is not (the replica then sees a
//    shorter run and sends what it has) and counts the fault.
//  - load_meta: the MetaLoader. A key's Meta is its own record, p/<key>
//    (replication/codec.hpp form; docs/formats.md §4.6).
//  - WriteApplier: turns a round's Writes (ReplicationNode::take_writes(),
//    in order) into operations of the one WriteBatch the shard commits. A
//    truncation also removes what hangs off the removed entries:
//    idempotency records (by the removed entries' command ids), outbox
//    records and snapshots past the truncation point. Each append files the
//    entry's idempotency record. Each Write stores its Meta and the store's
//    m/<key> ReplicaMeta (list_actors and the tools read it).
//
// The applier reads the store to find the command ids of stored entries a
// truncation removes, and remembers what it added to the current batch, so
// several writes of one key in a round compose (a later truncation may
// remove entries an earlier write appended). It assumes each batch is
// committed (or dropped) before the next one is built: clear() in between.
//
// Threads: StoreLog's reads may run beside a commit where the store allows
// it (LevelDbStore); WriteApplier has one owner (the shard building the
// batch).
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/replication/key_replica.hpp>
#include <quorum/replication/types.hpp>
#include <quorum/store/event_store.hpp>
#include <quorum/store/write_batch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::replication {

class StoreLog final : public LogReader {
 public:
  // `store` must outlive this.
  explicit StoreLog(const store::EventStore& store) : store_(store) {}

  std::vector<store::EncodedEntry> read(std::string_view key, uint64_t from, uint64_t to,
                                        size_t max_bytes) const override;
  std::optional<store::Hash> hash_at(std::string_view key, uint64_t seq) const override;

  // Reads cut short by a store error or an entry that is malformed, filed
  // under another seq or not chained (the embedding reports them).
  uint64_t faults() const noexcept { return faults_.load(std::memory_order_relaxed); }

 private:
  const store::EventStore& store_;
  mutable std::atomic<uint64_t> faults_{0};
};

// The key's stored Meta; nullopt if the node holds nothing of it. Errors:
// kIo if the store fails or the stored bytes do not decode;
// kFailedPrecondition if the key has a log (m/<key> with entries) but no
// replication meta (written before replication: treating it as empty
// would overwrite its entries).
Result<std::optional<Meta>> load_meta(const store::EventStore& store, std::string_view key);

// The store's ReplicaMeta for a replication Meta (m/<key>).
store::ReplicaMeta to_replica_meta(const Meta& meta);

class WriteApplier {
 public:
  // `store` must outlive this; it is read, never written.
  explicit WriteApplier(const store::EventStore& store) : store_(store) {}

  // Adds write `write` of `key` to `batch` (after the writes added since
  // clear()). Errors: kInvalidArgument for a write that does not hang
  // together (entries not consecutive, meta not at their end), kIo if the
  // store fails or a stored entry the truncation removes is unreadable,
  // kResourceExhausted if the batch is full. On error `batch` may hold part
  // of the write: drop the batch (and clear()).
  Status add(std::string_view key, const Write& write, store::WriteBatch& batch);
  // As above; large entries are moved into the batch instead of copied.
  Status add(std::string_view key, Write&& write, store::WriteBatch& batch);

  // The batch was committed or dropped: a new one starts.
  void clear() { keys_.clear(); }

 private:
  // What this batch does to one key so far.
  struct KeyState {
    // Stored entries past this seq are deleted by this batch.
    uint64_t stored_cut = kNoTruncate;
    // Entries this batch appends that are still in it: seq -> command id
    // (only those with an id).
    std::map<uint64_t, std::string> added;
  };

  template <class W>
  Status add_write(std::string_view key, W&& write, store::WriteBatch& batch);
  // Command ids of the stored entries in (after, upto], still in the store.
  Status stored_ids(std::string_view key, uint64_t after, uint64_t upto, std::vector<std::string>& ids) const;

  const store::EventStore& store_;
  std::map<std::string, KeyState, std::less<>> keys_;
};

}  // namespace quorum::replication
