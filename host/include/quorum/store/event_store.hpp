// EventStore: a node's durable store of actor logs and the records beside
// them (replica meta, replication meta, projection snapshots, idempotency and
// outbox records).
//
// This is the seam the deterministic simulator swaps, as LevelDB's Env is:
// LevelDbStore is the real one, MemoryStore the simulated one, and the same
// test suite runs over both.
//
// Durability: commit() returns only once the whole batch is durable (fsync'd
// for LevelDbStore). A batch is atomic: after a crash either all of it or
// none of it is there. One commit may carry the writes of many actors, so
// one fsync covers them all (group commit, DESIGN.md §11).
//
// Threads: commit() from one writer thread at a time (implementations
// serialize concurrent commits, but batches are meant to be built and
// committed by one shard's loop). Reads may run concurrently with each other
// and with a commit where the implementation says so (LevelDbStore: yes;
// MemoryStore: no, it is single-threaded like the simulator).
//
// Errors are values: kInvalidArgument for a malformed key or argument, kIo
// for a storage failure or a stored record that does not decode. Reads are
// bounded (kMaxRead*); a limit above the bound is clamped to it.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/records.hpp>
#include <quorum/store/write_batch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::store {

inline constexpr size_t kMaxReadEntries = 4096;
inline constexpr size_t kMaxReadBytes = size_t{32} << 20;  // a log read stops after this many bytes
inline constexpr size_t kMaxReadOutbox = 4096;
inline constexpr size_t kMaxListActors = 10'000;
inline constexpr size_t kMaxSnapshotsPerActor = 64;

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Applies the batch atomically; durable when it returns ok. On error
  // nothing of the batch was applied.
  virtual Status commit(const WriteBatch& batch) = 0;

  // Up to `limit` entries of `actor` with seq >= from_seq, in seq order, as
  // stored (unverified: see chain.hpp and recovery.hpp). Stops early after
  // kMaxReadBytes; a gap in seqs shows as a jump in RawEntry::seq.
  virtual Result<std::vector<RawEntry>> read_log(std::string_view actor, uint64_t from_seq,
                                                 size_t limit) const = 0;
  virtual Result<std::optional<ReplicaMeta>> read_meta(std::string_view actor) const = 0;
  virtual Result<std::optional<Snapshot>> read_snapshot(std::string_view actor, std::string_view handler) const = 0;
  // Every handler's latest snapshot of `actor`, by handler name. kIo if more
  // than kMaxSnapshotsPerActor are stored.
  virtual Result<std::vector<SnapshotRecord>> read_snapshots(std::string_view actor) const = 0;
  // The entry command `command_id` became, or nothing. The record holds the
  // seq; the hash comes from the stored entry, which must carry that command
  // id: a record whose entry is missing or another command's is kIo
  // (corrupt), never an answer that could apply a command twice.
  virtual Result<std::optional<IdempotencyRecord>> find_command(std::string_view actor,
                                                                std::string_view command_id) const = 0;
  // Up to `limit` outbox records of `actor` at or after (from_seq, from_index).
  virtual Result<std::vector<OutboxRecord>> read_outbox(std::string_view actor, uint64_t from_seq,
                                                        uint32_t from_index, size_t limit) const = 0;
  // The actor's replication meta as stored (in its meta record, or for keys
  // written before 2026-11-28 in the separate put_replication_meta record),
  // or nothing. Opaque bytes: the replication core decodes them.
  virtual Result<std::optional<std::string>> read_replication_meta(std::string_view actor) const = 0;
  // Up to `limit` actor keys (those with a replica meta) after `after_actor`
  // ("" for the first page), in byte order.
  virtual Result<std::vector<std::string>> list_actors(std::string_view after_actor, size_t limit) const = 0;
};

}  // namespace quorum::store
