// A batch of writes for many actors that an EventStore commits atomically
// and durably in one step (one fsync: group commit). Each call validates its
// arguments and encodes its record at once (encode once), so a batch that
// was built without errors always commits as a whole or not at all.
//
// Operations apply in the order they were added: a truncation followed by
// appends replaces a log's tail; a put after a put of the same record wins;
// a put after a delete of the same record stays (and the other way round).
// The store does not check that appends extend the stored chain (the actor
// and replication core do; recover_actor verifies it on every start).
//
// Bounded: at most kMaxBatchOps operations and kMaxBatchBytes of keys and
// values; an add past either bound fails with kResourceExhausted and leaves
// the batch unchanged. Not thread-safe: one thread builds a batch.
//
// Keys and small values are written straight into chunks the batch owns
// (no allocation per operation); a value of 512 bytes or more that is moved
// in (an entry, an encoded snapshot) is kept as it is, not copied.
// Operations hold views of those bytes, valid until clear() or the batch is
// destroyed; moving a batch keeps them valid, copying is not allowed.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/store/entry.hpp>
#include <quorum/store/records.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::store {

inline constexpr size_t kMaxBatchOps = 100'000;
inline constexpr size_t kMaxBatchBytes = size_t{128} << 20;  // 128 MiB

// One operation on the key-value space of layout.hpp.
struct BatchOp {
  enum class Kind {
    kPut,                  // key -> value
    kDelete,               // key
    kTruncateLogAfter,     // delete every log entry of `actor` with seq > `seq`
    kTruncateOutboxAfter,  // delete every outbox record of `actor` with source seq > `seq`
    kDropSnapshotsAfter,   // delete every snapshot of `actor` whose seq > `seq`
  };
  Kind kind = Kind::kPut;
  std::string_view key;    // views of bytes the batch owns
  std::string_view value;
  std::string_view actor;  // the range kinds only
  uint64_t seq = 0;        // the range kinds only
};

class WriteBatch {
 public:
  WriteBatch() = default;
  WriteBatch(WriteBatch&& other) noexcept;  // leaves `other` empty
  WriteBatch& operator=(WriteBatch&& other) noexcept;
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Appends an entry to an actor's log (filed under entry.seq()).
  Status append(std::string_view actor, const EncodedEntry& entry);
  Status append(std::string_view actor, EncodedEntry&& entry);
  // Replaces the actor's replica meta. Asserts commit_seq <= last_seq.
  Status put_meta(std::string_view actor, const ReplicaMeta& meta);
  // Replaces the latest snapshot of (actor, handler).
  Status put_snapshot(std::string_view actor, std::string_view handler, const Snapshot& snapshot);
  // Records that command `command_id` was applied as entry {seq, hash}. Only
  // the seq is stored (the hash is the entry's: find_command reads it back),
  // so the entry must be in this batch or stored. kInvalidArgument for seq 0.
  Status put_idempotency(std::string_view actor, std::string_view command_id, const IdempotencyRecord& record);
  // Adds an undelivered side effect of entry `source_seq`; removes it once confirmed.
  Status put_outbox(std::string_view actor, uint64_t source_seq, uint32_t index, std::string_view effect);
  Status delete_outbox(std::string_view actor, uint64_t source_seq, uint32_t index);
  // The range deletions (truncate_log_after, truncate_outbox_after,
  // drop_snapshots_after) are resolved at commit against the stored records
  // and every earlier operation of the batch; seq UINT64_MAX deletes nothing.
  //
  // Deletes the actor's log entries after `seq` (0: all). Only log entries:
  // the caller puts the new meta (and drops snapshots, idempotency and outbox
  // records past `seq`) in the same batch.
  Status truncate_log_after(std::string_view actor, uint64_t seq);
  // Deletes the idempotency record of `command_id` (a truncation removed its entry).
  Status delete_idempotency(std::string_view actor, std::string_view command_id);
  // Deletes the actor's outbox records whose source seq is past `seq`.
  Status truncate_outbox_after(std::string_view actor, uint64_t seq);
  // Deletes the actor's snapshots whose seq is past `seq` (a snapshot of a
  // truncated log must never be used), whatever handler wrote them; a stored
  // snapshot that does not decode is dropped too (it is unusable anyway).
  // Snapshots at or before `seq` stay, including ones put earlier in the batch.
  Status drop_snapshots_after(std::string_view actor, uint64_t seq);
  // Replaces the actor's replica meta and, in the same record, its
  // replication meta: opaque bytes here (the replication core's encoding,
  // replication/codec.hpp), 1..kMaxReplicationMetaBytes. What the
  // replication adapter writes every round: one record, not two.
  Status put_meta(std::string_view actor, const ReplicaMeta& meta, std::string_view replication);
  // Replaces the actor's separate replication meta record (`p/`), the form
  // versions before 2026-11-28 wrote; read_replication_meta reads it when the
  // meta record carries none. Same bounds.
  Status put_replication_meta(std::string_view actor, std::string_view encoded);

  const std::vector<BatchOp>& ops() const noexcept { return ops_; }
  size_t size() const noexcept { return ops_.size(); }
  bool empty() const noexcept { return ops_.empty(); }
  size_t byte_size() const noexcept { return bytes_; }
  void clear() noexcept;

 private:
  // The meta record, with the replication meta as its seventh element when
  // `replication` is not empty (checked by the callers).
  Status add_meta(std::string_view actor, const ReplicaMeta& meta, std::string_view replication);
  // kResourceExhausted if one more operation of `op_bytes` would pass a bound.
  Status check_room(size_t op_bytes) const;
  void add(BatchOp op);
  Status add_range(BatchOp::Kind kind, std::string_view actor, uint64_t seq);
  // Room for `size` bytes that stays put until clear().
  char* allocate(size_t size);
  std::string_view copy(std::string_view bytes);
  // Keeps `bytes` (copied if small, else moved) and returns a view of them.
  std::string_view keep(std::string&& bytes);
  // "<tag>/<actor>" + (nul ? "\0" : "") + suffix, as layout.hpp builds keys.
  std::string_view make_key(char tag, std::string_view actor, bool nul, std::string_view suffix);

  std::vector<BatchOp> ops_;
  size_t bytes_ = 0;
  std::vector<std::unique_ptr<char[]>> chunks_;
  char* chunk_next_ = nullptr;
  size_t chunk_left_ = 0;
  std::deque<std::string> kept_;  // large values moved in; a deque, so they stay put
};

}  // namespace quorum::store
