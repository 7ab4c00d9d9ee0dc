// A batch of writes for many actors that an EventStore commits atomically
// and durably in one step (one fsync: group commit). Each call validates its
// arguments and encodes its record at once (encode once), so a batch that
// was built without errors always commits as a whole or not at all.
//
// Operations apply in the order they were added: a truncation followed by
// appends replaces a log's tail; a put after a put of the same record wins.
// The store does not check that appends extend the stored chain (the actor
// and replication core do; recover_actor verifies it on every start).
//
// Bounded: at most kMaxBatchOps operations and kMaxBatchBytes of keys and
// values; an add past either bound fails with kResourceExhausted and leaves
// the batch unchanged. Not thread-safe: one thread builds a batch.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/store/entry.hpp>
#include <quorum/store/records.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::store {

inline constexpr size_t kMaxBatchOps = 100'000;
inline constexpr size_t kMaxBatchBytes = size_t{128} << 20;  // 128 MiB

// One operation on the key-value space of layout.hpp.
struct BatchOp {
  enum class Kind {
    kPut,               // key -> value
    kDelete,            // key
    kTruncateLogAfter,  // delete every log entry of `actor` with seq > `seq`
  };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  std::string actor;  // kTruncateLogAfter only
  uint64_t seq = 0;   // kTruncateLogAfter only
};

class WriteBatch {
 public:
  WriteBatch() = default;

  // Appends an entry to an actor's log (filed under entry.seq()).
  Status append(std::string_view actor, const EncodedEntry& entry);
  Status append(std::string_view actor, EncodedEntry&& entry);
  // Replaces the actor's replica meta. Asserts commit_seq <= last_seq.
  Status put_meta(std::string_view actor, const ReplicaMeta& meta);
  // Replaces the latest snapshot of (actor, handler).
  Status put_snapshot(std::string_view actor, std::string_view handler, const Snapshot& snapshot);
  // Records that command `command_id` was applied as entry {seq, hash}.
  Status put_idempotency(std::string_view actor, std::string_view command_id, const IdempotencyRecord& record);
  // Adds an undelivered side effect of entry `source_seq`; removes it once confirmed.
  Status put_outbox(std::string_view actor, uint64_t source_seq, uint32_t index, std::string_view effect);
  Status delete_outbox(std::string_view actor, uint64_t source_seq, uint32_t index);
  // Deletes the actor's log entries after `seq` (0: all). Only log entries:
  // the caller puts the new meta (and drops snapshots, idempotency and outbox
  // records past `seq`) in the same batch.
  Status truncate_log_after(std::string_view actor, uint64_t seq);

  const std::vector<BatchOp>& ops() const noexcept { return ops_; }
  size_t size() const noexcept { return ops_.size(); }
  bool empty() const noexcept { return ops_.empty(); }
  size_t byte_size() const noexcept { return bytes_; }
  void clear() noexcept;

 private:
  Status add(BatchOp op);

  std::vector<BatchOp> ops_;
  size_t bytes_ = 0;
};

}  // namespace quorum::store
