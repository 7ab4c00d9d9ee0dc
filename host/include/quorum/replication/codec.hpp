// The wire and disk forms of the replication vocabulary (types.hpp), in
// msgpack. An Envelope travels as the body of one mailroom frame; a Meta is
// stored next to a key's entries. Both are part of the protocol
// (docs/replication.md, "Wire form"): a change here is a protocol change,
// so each form starts with a version.
//
//   envelope: [1, kind, key, from, to, ...fields of the body in declaration order]
//             a ballot is [topology, round, node]; a hash is bin 32;
//             entries are an array of bin (their stored bytes)
//   meta:     [1, promised, accepted, vouched, last_seq, head, commit]
//
// Decoding never throws and checks everything: types, the version, the
// key's length (1..kMaxKeyBytes), at most kMaxEntriesPerMessage entries,
// each a valid stored entry (EncodedEntry::from_bytes), consecutive seqs,
// hashes of 32 bytes, Meta's own invariants. Anything else is
// kInvalidArgument, and the caller drops the frame.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/replication/types.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace quorum::replication {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kMaxKeyBytes = 256;  // as node::kMaxKeyBytes
inline constexpr size_t kMaxEntriesPerMessage = 65536;

std::string encode(const Envelope& envelope);
Result<Envelope> decode_envelope(std::string_view bytes);

std::string encode(const Meta& meta);
Result<Meta> decode_meta(std::string_view bytes);

}  // namespace quorum::replication
