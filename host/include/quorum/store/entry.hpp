// An actor's log entry: its fields, its one stored/sent byte form, and the
// hash that chains it to the entry before it. The format is part of the
// protocol (docs/formats.md, with a golden vector): any copy of a log can be
// checked by anyone with a SHA-256 and a msgpack reader.
//
//   hash = SHA-256(prev_hash || be64(seq) || be64(epoch) || body)
//   body = canonical msgpack [time_ms, id, type, payload as bin]
//
// seq counts from 1; prev_hash of seq 1 is 32 zero bytes. epoch is the
// creation epoch: it is hashed and never changes (the per-replica acceptance
// epoch lives in ReplicaMeta, not here).
//
// Encode once: encode_entry() builds the bytes that are stored, sent to
// followers and hashed; nothing re-encodes them later. Decoding validates
// every field and returns an Error (kInvalidArgument) on malformed bytes.
// All functions are pure and safe to call from any thread.
#pragma once

#include <quorum/host/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quorum::store {

using Hash = std::array<uint8_t, 32>;

inline constexpr Hash kGenesisHash{};  // prev_hash of seq 1

// Bounds on one entry's fields (an entry past them is refused, not stored).
inline constexpr size_t kMaxIdBytes = 256;
inline constexpr size_t kMaxTypeBytes = 128;
inline constexpr size_t kMaxPayloadBytes = size_t{1} << 20;  // 1 MiB
// The fixed header before the body: version, be64 seq, be64 epoch, hash.
inline constexpr size_t kEntryHeaderBytes = 1 + 8 + 8 + 32;
inline constexpr uint8_t kEntryFormatVersion = 1;
// Header + the largest body the bounds above allow (with msgpack framing).
inline constexpr size_t kMaxEntryBytes = kEntryHeaderBytes + 1 + 9 + (3 + kMaxIdBytes) + (2 + kMaxTypeBytes) +
                                         (5 + kMaxPayloadBytes);

// What the writer decides; the hash is derived from it and the previous hash.
struct EntryDraft {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  int64_t time_ms = 0;
  std::string id;       // idempotency key (a ballot id); may be empty
  std::string type;     // the command type; must not be empty
  std::string payload;  // exactly one msgpack value: the command data
};

// A decoded entry that owns its fields.
struct Entry {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  int64_t time_ms = 0;
  std::string id;
  std::string type;
  std::string payload;
  Hash hash{};

  friend bool operator==(const Entry&, const Entry&) = default;
};

// A decoded entry whose strings point into the encoded bytes (no copies).
// Valid only while those bytes are alive and unchanged.
struct EntryView {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  int64_t time_ms = 0;
  std::string_view id;
  std::string_view type;
  std::string_view payload;
  Hash hash{};
  std::string_view body;  // the hashed msgpack body

  Entry to_entry() const;
};

// The encoded form of one entry, validated: either built by encode_entry()
// or checked by EncodedEntry::from_bytes(). Owns its bytes.
class EncodedEntry {
 public:
  // Validates `bytes` (the same checks as parse_entry, not the chain).
  static Result<EncodedEntry> from_bytes(std::string bytes);

  const std::string& bytes() const noexcept { return bytes_; }
  std::string release() && noexcept { return std::move(bytes_); }
  uint64_t seq() const noexcept;
  uint64_t epoch() const noexcept;
  Hash hash() const noexcept;
  std::string_view body() const noexcept;
  EntryView view() const;  // never fails: the bytes were validated

  friend bool operator==(const EncodedEntry&, const EncodedEntry&) = default;

 private:
  explicit EncodedEntry(std::string bytes) noexcept : bytes_(std::move(bytes)) {}
  friend Result<EncodedEntry> encode_entry(const Hash& prev_hash, const EntryDraft& draft);
  std::string bytes_;
};

// Builds the entry that follows prev_hash. Errors (kInvalidArgument): seq 0,
// empty type, a field over its bound, or a payload that is not exactly one
// msgpack value.
Result<EncodedEntry> encode_entry(const Hash& prev_hash, const EntryDraft& draft);

// Parses and validates encoded bytes: version, lengths, canonical msgpack body
// with exactly [int, str, str, bin], bounds, payload well-formed, no trailing
// bytes. Does not check the hash (that needs prev_hash: see chain.hpp).
Result<EntryView> parse_entry(std::string_view bytes);
// parse_entry + copies of the fields.
Result<Entry> decode_entry(std::string_view bytes);

// The chain hash of an entry from its parts.
Hash entry_hash(const Hash& prev_hash, uint64_t seq, uint64_t epoch, std::string_view body) noexcept;
// True if the stored hash of a parsed entry is the one prev_hash implies.
bool entry_hash_matches(const Hash& prev_hash, const EntryView& entry) noexcept;

// The canonical body bytes of [time_ms, id, type, payload].
std::string encode_entry_body(int64_t time_ms, std::string_view id, std::string_view type, std::string_view payload);

// Lower-case hex, for messages and documentation.
std::string to_hex(const Hash& hash);

}  // namespace quorum::store
