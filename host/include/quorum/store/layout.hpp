// How the store's records map onto one ordered key-value space (LevelDB's,
// or MemoryStore's map). Part of the on-disk format: docs/formats.md is the
// reference and tests pin it. Pure functions, safe on any thread.
//
//   l/<actor>\0<be64 seq>                     -> encoded entry (entry.hpp)
//   m/<actor>                                 -> replica meta
//   s/<actor>\0<handler>                      -> projection snapshot
//   i/<actor>\0<command id>                   -> idempotency record (the entry's seq)
//   o/<actor>\0<be64 seq>\0<be32 index>       -> outbox effect bytes
//   p/<actor>                                 -> replication meta (opaque here: replication/codec.hpp)
//
// Actor keys are not escaped: they are validated instead (non-empty, at most
// kMaxActorKeyBytes, no NUL byte), so the NUL after <actor> ends it and no
// actor's range overlaps another's.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/store/records.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace quorum::store {

inline constexpr size_t kMaxActorKeyBytes = 512;
inline constexpr size_t kMaxHandlerNameBytes = 128;
inline constexpr size_t kMaxHandlerVersionBytes = 64;
inline constexpr size_t kMaxProjectionBytes = size_t{16} << 20;  // 16 MiB
inline constexpr size_t kMaxEffectBytes = size_t{1} << 20;       // 1 MiB
// A replication meta record (replication::encode(Meta) is under 200 bytes).
inline constexpr size_t kMaxReplicationMetaBytes = 1024;

// kInvalidArgument unless non-empty, within bounds and free of NUL bytes.
Status validate_actor_key(std::string_view key);
Status validate_handler_name(std::string_view handler);
// Command ids: non-empty, at most kMaxIdBytes (may contain any byte).
Status validate_command_id(std::string_view id);

namespace layout {

std::string log_key(std::string_view actor, uint64_t seq);
std::string log_prefix(std::string_view actor);  // "l/<actor>\0"
std::string meta_key(std::string_view actor);
std::string snapshot_key(std::string_view actor, std::string_view handler);
std::string snapshot_prefix(std::string_view actor);
std::string idempotency_key(std::string_view actor, std::string_view command_id);
std::string outbox_key(std::string_view actor, uint64_t seq, uint32_t index);
std::string outbox_prefix(std::string_view actor);
// "p/<actor>": the replication core's Meta of the actor's key. Not "r/":
// r/<sha256> is reserved for plugin artifacts (docs/formats.md).
std::string replication_meta_key(std::string_view actor);
inline constexpr std::string_view kMetaPrefix = "m/";

// The smallest key greater than every key that starts with `prefix`.
std::string prefix_end(std::string_view prefix);

// Value encodings: canonical msgpack arrays whose first element is the
// record's format version (1; idempotency records 2).
// A replicated key's meta record also carries its replication meta (opaque
// bytes, 1..kMaxReplicationMetaBytes) as a seventh element: one record per
// key and round instead of two. decode_meta sets `replication` to it, or to
// nothing for a six-element record.
std::string encode_meta(const ReplicaMeta& meta, std::string_view replication = {});
Result<ReplicaMeta> decode_meta(std::string_view bytes, std::optional<std::string>* replication = nullptr);
std::string encode_snapshot(const Snapshot& snapshot);
Result<Snapshot> decode_snapshot(std::string_view bytes);
// An idempotency record as stored. Version 2, [2, seq], is what is written:
// the entry's hash is not repeated (find_command reads it from the entry at
// `seq`), which keeps the per-command record small. Version 1, [1, seq, hash],
// is still read; `hash` is set only for it.
struct StoredIdempotency {
  uint64_t seq = 0;
  std::optional<Hash> hash;
  friend bool operator==(const StoredIdempotency&, const StoredIdempotency&) = default;
};
std::string encode_idempotency(uint64_t seq);
Result<StoredIdempotency> decode_idempotency(std::string_view bytes);

}  // namespace layout
}  // namespace quorum::store
