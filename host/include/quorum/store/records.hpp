// The records an EventStore keeps beside the log entries. Plain values; the
// byte encodings are in layout.hpp and docs/formats.md.
#pragma once

#include <quorum/store/entry.hpp>

#include <cstdint>
#include <string>

namespace quorum::store {

// One replica's view of one actor (DESIGN.md §5). Written in the same batch
// as the entries it describes, so it never runs ahead of or behind the log.
struct ReplicaMeta {
  uint64_t promised_epoch = 0;       // the highest epoch this replica promised
  uint64_t last_seq = 0;             // the last entry this replica holds (0: none)
  uint64_t commit_seq = 0;           // the highest seq known committed; <= last_seq
  Hash head{};                       // hash of entry last_seq (kGenesisHash if none)
  uint64_t last_accepted_epoch = 0;  // the epoch in which this replica accepted entry last_seq

  friend bool operator==(const ReplicaMeta&, const ReplicaMeta&) = default;
};

// A handler's projection at a seq: replay resumes after `seq`.
struct Snapshot {
  uint64_t seq = 0;                  // the last entry folded into `projection`
  Hash chain_hash{};                 // hash of entry `seq`, anchoring the tail's verification
  std::string handler_version;       // semver of the handler that built it
  uint32_t projection_schema = 0;    // the handler's projection schema number
  std::string projection;            // msgpack bytes (opaque to the store)

  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

struct SnapshotRecord {
  std::string handler;
  Snapshot snapshot;
  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};

// An applied command id (idempotency key) and the answer it got.
struct IdempotencyRecord {
  uint64_t seq = 0;
  Hash hash{};
  friend bool operator==(const IdempotencyRecord&, const IdempotencyRecord&) = default;
};

// A side effect produced by entry `source_seq` of an actor, not yet
// confirmed by its receiver. `effect` is opaque bytes.
struct OutboxRecord {
  uint64_t source_seq = 0;
  uint32_t index = 0;  // position among that entry's effects
  std::string effect;
  friend bool operator==(const OutboxRecord&, const OutboxRecord&) = default;
};

// An entry as stored: the seq it is filed under and its bytes, unverified.
struct RawEntry {
  uint64_t seq = 0;
  std::string bytes;
  friend bool operator==(const RawEntry&, const RawEntry&) = default;
};

}  // namespace quorum::store
