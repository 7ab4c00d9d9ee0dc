// Recovery: what an actor reads from its node's store before it serves, and
// the operator's full-log verification.
//
// recover_actor() reads the replica meta, every handler's latest snapshot and
// the log tail after the oldest snapshot, and verifies the hash chain from
// that snapshot's chain hash (or from genesis) up to the head recorded in
// meta. Any inconsistency comes back as an error naming the actor, the first
// seq that cannot be trusted and the reason (FaultKind): the actor must then
// refuse service rather than serve wrong data (and repair from replicas).
//
// Pure functions over an EventStore: they hold no state, and may run on
// several threads at once for different actors when the store allows
// concurrent reads (LevelDbStore does). They read meta and log in separate
// calls, not from one snapshot: never run them while the same actor's
// writes are being committed (recovery happens before an actor serves).
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/store/chain.hpp>
#include <quorum/store/event_store.hpp>

#include <optional>
#include <string>
#include <vector>

namespace quorum::store {

// A fault in one actor's stored state.
struct ActorFault {
  std::string actor;
  uint64_t seq = 0;  // the first seq that cannot be trusted (0: not about one entry)
  FaultKind kind = FaultKind::kBrokenChain;
  std::string detail;

  // "actor '<key>' seq <n>: <kind>: <detail>"
  std::string describe() const;
  // kIo with describe() as the message.
  Error to_error() const;
};

struct RecoveredActor {
  std::string actor;
  bool exists = false;   // false: no meta, log or snapshots (a new actor)
  ReplicaMeta meta;      // zero for a new actor
  std::vector<SnapshotRecord> snapshots;
  uint64_t tail_after_seq = 0;      // the tail starts at tail_after_seq + 1
  std::vector<EncodedEntry> tail;   // verified entries tail_after_seq+1 .. meta.last_seq
};

struct RecoveryOptions {
  // An actor whose tail is longer than this is refused (kResourceExhausted):
  // it needs a snapshot first. Bounds the memory one recovery takes.
  size_t max_tail_entries = 1'000'000;
  // Entries read per store call.
  size_t read_page_entries = kMaxReadEntries;
};

// On failure: an ActorFault's to_error() (code kIo), or the store's own
// error, or kResourceExhausted for an over-long tail. recover_actor_checked
// returns the fault itself for callers that act on its fields.
Result<RecoveredActor> recover_actor(const EventStore& store, std::string_view actor,
                                     const RecoveryOptions& options = {});

struct RecoveryOutcome {
  std::optional<RecoveredActor> actor;  // set on success
  std::optional<ActorFault> fault;      // set when the stored state is inconsistent
  std::optional<Error> error;           // set when the store failed to answer or a bound was hit
};
RecoveryOutcome recover_actor_checked(const EventStore& store, std::string_view actor,
                                      const RecoveryOptions& options = {});

// Full verification of one actor's log from genesis: every entry's bytes and
// hash, consecutive seqs, meta's last seq and head, and every snapshot's
// chain hash against the entry at its seq. Streams the log in pages: memory
// does not grow with the log.
struct LogVerification {
  std::string actor;
  uint64_t entries_verified = 0;
  uint64_t last_seq = 0;
  Hash head{};
  std::optional<ActorFault> fault;
  std::optional<Error> error;  // the store failed to answer
  bool ok() const noexcept { return !fault && !error; }
};
LogVerification verify_actor_log(const EventStore& store, std::string_view actor);

}  // namespace quorum::store
