// The entry format: round trips, malformed bytes, the pinned golden vector
// (docs/formats.md), the canonical msgpack body and the chain verifier.
#include <quorum/store/chain.hpp>
#include <quorum/store/entry.hpp>
#include <quorum/store/layout.hpp>

#include "store_test_support.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <string>

namespace {

using namespace quorum::store;
using quorum::Result;
using quorum::Status;
using quorum::ErrorCode;
using quorum::store::testing::make_chain;
using quorum::store::testing::msgpack_string;

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// msgpack {"contest": "mayor", "choice": "alice"}
const std::string kGoldenPayload = from_hex("82a7636f6e74657374a56d61796f72a663686f696365a5616c696365");

EntryDraft golden_draft_1() { return EntryDraft{1, 7, 1730000000000, "ballot-0001", "cast", kGoldenPayload}; }
EntryDraft golden_draft_2() { return EntryDraft{2, 7, 1730000000500, "", "close", std::string(1, '\xc0')}; }

TEST(EntryGolden, FirstEntryBytesAndHashArePinned) {
  Result<EncodedEntry> entry = encode_entry(kGenesisHash, golden_draft_1());
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(to_hex(entry->hash()), "ab0cca2d66d55033007a2a2d0294171b0c6ca51ad3eb791c503d28b571f5f9cd");
  EXPECT_EQ(entry->bytes(),
            from_hex("0100000000000000010000000000000007ab0cca2d66d55033007a2a2d0294171b0c6ca51ad3eb791c503d28b571f5f9"
                     "cd94cf00000192cc091400ab62616c6c6f742d30303031a463617374c41c82a7636f6e74657374a56d61796f72a663"
                     "686f696365a5616c696365"));
  EXPECT_EQ(entry->bytes().size(), 106u);
}

TEST(EntryGolden, SecondEntryChainsToTheFirst) {
  Result<EncodedEntry> first = encode_entry(kGenesisHash, golden_draft_1());
  ASSERT_TRUE(first.ok());
  Result<EncodedEntry> second = encode_entry(first->hash(), golden_draft_2());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(to_hex(second->hash()), "7d8e211c6a6fad75b68f71a4cab0095dcdfef9bb33791bee54f9963b8a991f61");
  EXPECT_EQ(second->bytes(), from_hex("01000000000000000200000000000000077d8e211c6a6fad75b68f71a4cab0095dcdfef9bb33"
                                      "791bee54f9963b8a991f6194cf00000192cc0915f4a0a5636c6f7365c401c0"));
  std::vector<EncodedEntry> chain;
  chain.push_back(std::move(first).value());
  chain.push_back(std::move(second).value());
  ChainReport report = verify_chain(0, kGenesisHash, std::span<const EncodedEntry>(chain));
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.verified, 2u);
  EXPECT_EQ(report.head, chain[1].hash());
}

TEST(EntryGolden, BodyIsWhatMsgpackCxxPacks) {
  // The hashed body equals msgpack-c's own packing of [time_ms, id, type, bin].
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack(int64_t{1730000000000});
  packer.pack(std::string("ballot-0001"));
  packer.pack(std::string("cast"));
  packer.pack_bin(static_cast<uint32_t>(kGoldenPayload.size()));
  packer.pack_bin_body(kGoldenPayload.data(), static_cast<uint32_t>(kGoldenPayload.size()));
  EXPECT_EQ(encode_entry_body(1730000000000, "ballot-0001", "cast", kGoldenPayload),
            std::string(buffer.data(), buffer.size()));
}

TEST(EntryCodec, RoundTripsEveryField) {
  EntryDraft draft{42, 9, -5, std::string("id\0with-nul", 11), "tally-delta", msgpack_string("x")};
  Result<EncodedEntry> encoded = encode_entry(kGenesisHash, draft);
  ASSERT_TRUE(encoded.ok());
  Result<Entry> decoded = decode_entry(encoded->bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->seq, 42u);
  EXPECT_EQ(decoded->epoch, 9u);
  EXPECT_EQ(decoded->time_ms, -5);
  EXPECT_EQ(decoded->id, draft.id);
  EXPECT_EQ(decoded->type, draft.type);
  EXPECT_EQ(decoded->payload, draft.payload);
  EXPECT_EQ(decoded->hash, encoded->hash());
  EXPECT_EQ(encoded->seq(), 42u);
  EXPECT_EQ(encoded->epoch(), 9u);
  EXPECT_EQ(encoded->view().to_entry(), *decoded);
  EXPECT_TRUE(entry_hash_matches(kGenesisHash, encoded->view()));
  EXPECT_FALSE(entry_hash_matches(encoded->hash(), encoded->view()));
}

TEST(EntryCodec, RoundTripsLargeFieldsAtTheirBounds) {
  EntryDraft draft{1, 1, INT64_MIN, std::string(kMaxIdBytes, 'i'), std::string(kMaxTypeBytes, 't'), ""};
  draft.payload = std::string("\xc6", 1);  // bin32 of 1 MiB - 5 bytes fills the payload bound
  const uint32_t size = static_cast<uint32_t>(kMaxPayloadBytes - 5);
  for (int shift = 24; shift >= 0; shift -= 8) {
    draft.payload.push_back(static_cast<char>((size >> shift) & 0xff));
  }
  draft.payload.append(size, 'p');
  ASSERT_EQ(draft.payload.size(), kMaxPayloadBytes);
  Result<EncodedEntry> encoded = encode_entry(kGenesisHash, draft);
  ASSERT_TRUE(encoded.ok()) << encoded.error().message;
  EXPECT_LE(encoded->bytes().size(), kMaxEntryBytes);
  Result<Entry> decoded = decode_entry(encoded->bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->time_ms, INT64_MIN);
  EXPECT_EQ(decoded->payload, draft.payload);
}

TEST(EntryCodec, RefusesDraftsOutsideTheBounds) {
  auto refused = [](EntryDraft draft) {
    Result<EncodedEntry> encoded = encode_entry(kGenesisHash, draft);
    return !encoded.ok() && encoded.error().code == ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused(EntryDraft{0, 1, 0, "", "cast", msgpack_string("a")}));                       // seq 0
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, "", "", msgpack_string("a")}));                           // empty type
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, std::string(kMaxIdBytes + 1, 'x'), "t", msgpack_string("a")}));
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, "", std::string(kMaxTypeBytes + 1, 't'), msgpack_string("a")}));
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, "", "t", ""}));                                            // no value
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, "", "t", "\xa5" "ab"}));                                   // truncated
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, "", "t", "\x01\x02"}));                                    // two values
  EXPECT_TRUE(refused(EntryDraft{1, 1, 0, "", "t", "\xc1"}));                                        // never used
}

// Every malformed-byte case is an error value, never a crash.
TEST(EntryCodec, MalformedBytesAreErrors) {
  Result<EncodedEntry> good = encode_entry(kGenesisHash, golden_draft_1());
  ASSERT_TRUE(good.ok());
  const std::string bytes = good->bytes();
  auto rejects = [](const std::string& candidate, std::string_view fragment) {
    Result<Entry> decoded = decode_entry(candidate);
    if (decoded.ok()) {
      return ::testing::AssertionFailure() << "accepted";
    }
    if (decoded.error().code != ErrorCode::kInvalidArgument) {
      return ::testing::AssertionFailure() << "wrong code";
    }
    if (decoded.error().message.find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure() << "message: " << decoded.error().message;
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(rejects("", "truncated header"));
  EXPECT_TRUE(rejects(bytes.substr(0, 48), "truncated header"));
  std::string version = bytes;
  version[0] = 2;
  EXPECT_TRUE(rejects(version, "unknown format version"));
  std::string seq_zero = bytes;
  seq_zero[8] = 0;
  EXPECT_TRUE(rejects(seq_zero, "seq 0"));
  for (size_t cut = 49; cut < bytes.size(); ++cut) {
    EXPECT_TRUE(rejects(bytes.substr(0, cut), "")) << "cut at " << cut;
  }
  EXPECT_TRUE(rejects(bytes + "x", "trailing bytes"));
  const std::string header = bytes.substr(0, kEntryHeaderBytes);
  EXPECT_TRUE(rejects(header + "\x93\x01\xa0\xa1t", "3 fields"));
  EXPECT_TRUE(rejects(header + "\x94\xa0\xa0\xa1t\xc4\x01\xc0", "time_ms"));         // time is a string
  EXPECT_TRUE(rejects(header + "\x94\x01\x01\xa1t\xc4\x01\xc0", "id"));              // id is an int
  EXPECT_TRUE(rejects(header + "\x94\x01\xa0\xa1t\xa1\xc0", "payload"));             // payload is a str
  EXPECT_TRUE(rejects(header + "\x94\x01\xa0\xa0\xc4\x01\xc0", "type is empty"));    // empty type
  EXPECT_TRUE(rejects(header + "\x94\x01\xa0\xa1t\xc4\x02\x01\x02", "exactly one"));  // two payload values
  // Non-canonical forms: the same value in a longer encoding.
  EXPECT_TRUE(rejects(header + std::string("\x94\xcc\x01\xa0\xa1t\xc4\x01\xc0", 9), "shortest"));
  EXPECT_TRUE(rejects(header + std::string("\x94\x01\xd9\x00\xa1t\xc4\x01\xc0", 9), "shortest"));
  EXPECT_TRUE(rejects(header + std::string("\xdc\x00\x04\x01\xa0\xa1t\xc4\x01\xc0", 10), "shortest"));
  EXPECT_TRUE(rejects(header + std::string("\x94\xd0\xff\xa0\xa1t\xc4\x01\xc0", 9), "shortest"));
}

TEST(EntryCodec, FromBytesValidates) {
  Result<EncodedEntry> good = encode_entry(kGenesisHash, golden_draft_1());
  ASSERT_TRUE(good.ok());
  Result<EncodedEntry> again = EncodedEntry::from_bytes(good->bytes());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *good);
  EXPECT_FALSE(EncodedEntry::from_bytes(good->bytes().substr(0, 60)).ok());
}

TEST(ChainVerifier, ReportsTheFirstBadSeqAndWhy) {
  std::vector<EncodedEntry> chain = make_chain(kGenesisHash, 1, 5);
  std::vector<std::string> bytes;
  for (const EncodedEntry& entry : chain) {
    bytes.push_back(entry.bytes());
  }
  EXPECT_TRUE(verify_chain(0, kGenesisHash, std::span<const std::string>(bytes)).ok());

  std::vector<std::string> flipped = bytes;
  flipped[2][kEntryHeaderBytes + 3] ^= 0x01;  // inside the body of seq 3
  ChainReport broken = verify_chain(0, kGenesisHash, std::span<const std::string>(flipped));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.fault->seq, 3u);
  EXPECT_EQ(broken.verified, 2u);
  EXPECT_EQ(broken.head, chain[1].hash());

  std::vector<std::string> missing = bytes;
  missing.erase(missing.begin() + 3);
  ChainReport gap = verify_chain(0, kGenesisHash, std::span<const std::string>(missing));
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.fault->seq, 4u);
  EXPECT_EQ(gap.fault->kind, FaultKind::kSeqMismatch);

  std::vector<std::string> garbage = bytes;
  garbage[0] = "nonsense";
  ChainReport unreadable = verify_chain(0, kGenesisHash, std::span<const std::string>(garbage));
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.fault->seq, 1u);
  EXPECT_EQ(unreadable.fault->kind, FaultKind::kUnreadableEntry);

  // From an anchor: entries 3..5 follow (2, hash of 2); a wrong anchor breaks.
  std::span<const std::string> suffix(bytes.data() + 2, 3);
  EXPECT_TRUE(verify_chain(2, chain[1].hash(), suffix).ok());
  ChainReport wrong_anchor = verify_chain(2, chain[0].hash(), suffix);
  ASSERT_FALSE(wrong_anchor.ok());
  EXPECT_EQ(wrong_anchor.fault->kind, FaultKind::kBrokenChain);
  EXPECT_EQ(wrong_anchor.fault->seq, 3u);
}

TEST(ChainVerifier, StoredSeqMustBeConsecutive) {
  std::vector<EncodedEntry> chain = make_chain(kGenesisHash, 1, 3);
  ChainVerifier verifier;
  EXPECT_TRUE(verifier.next(chain[0], 1));
  EXPECT_FALSE(verifier.next(chain[2].bytes(), 3));
  ASSERT_TRUE(verifier.fault().has_value());
  EXPECT_EQ(verifier.fault()->kind, FaultKind::kSeqGap);
  EXPECT_EQ(verifier.fault()->seq, 2u);
  EXPECT_FALSE(verifier.next(chain[1], 2));  // sticky
}

TEST(Layout, KeysAreValidatedAndPinned) {
  EXPECT_FALSE(validate_actor_key("").ok());
  EXPECT_FALSE(validate_actor_key(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(validate_actor_key(std::string(kMaxActorKeyBytes + 1, 'k')).ok());
  EXPECT_TRUE(validate_actor_key(std::string(kMaxActorKeyBytes, 'k')).ok());
  EXPECT_TRUE(validate_actor_key("e/2026-11-03/precinct/TN/davidson/0101").ok());
  EXPECT_EQ(layout::log_key("p/1", 258), std::string("l/p/1\0\0\0\0\0\0\0\x01\x02", 14));
  EXPECT_EQ(layout::meta_key("p/1"), "m/p/1");
  EXPECT_EQ(layout::snapshot_key("p/1", "tally"), std::string("s/p/1\0tally", 11));
  EXPECT_EQ(layout::idempotency_key("p/1", "b-7"), std::string("i/p/1\0b-7", 9));
  EXPECT_EQ(layout::outbox_key("p/1", 3, 2), std::string("o/p/1\0\0\0\0\0\0\0\0\x03\0\0\0\0\x02", 19));
  // Log keys sort by seq within an actor, and one actor's range excludes
  // another whose key extends it.
  EXPECT_LT(layout::log_key("a", 255), layout::log_key("a", 256));
  EXPECT_LT(layout::log_key("a", UINT64_MAX), layout::prefix_end(layout::log_prefix("a")));
  EXPECT_GE(layout::log_key("ab", 1), layout::prefix_end(layout::log_prefix("a")));
}

TEST(Layout, RecordValuesRoundTripAndRejectGarbage) {
  ReplicaMeta meta{9, 100, 98, make_chain(kGenesisHash, 1, 1)[0].hash(), 8};
  Result<ReplicaMeta> meta_back = layout::decode_meta(layout::encode_meta(meta));
  ASSERT_TRUE(meta_back.ok());
  EXPECT_EQ(*meta_back, meta);
  Snapshot snapshot{12, meta.head, "1.2.3", 4, msgpack_string("projection")};
  Result<Snapshot> snapshot_back = layout::decode_snapshot(layout::encode_snapshot(snapshot));
  ASSERT_TRUE(snapshot_back.ok());
  EXPECT_EQ(*snapshot_back, snapshot);
  // Idempotency records: [2, seq] is written (pinned); [1, seq, hash] is still read.
  EXPECT_EQ(layout::encode_idempotency(77), "\x92\x02\x4d");
  EXPECT_EQ(layout::encode_idempotency(300), "\x92\x02\xcd\x01\x2c");
  Result<layout::StoredIdempotency> record_back = layout::decode_idempotency(layout::encode_idempotency(77));
  ASSERT_TRUE(record_back.ok());
  EXPECT_EQ(*record_back, (layout::StoredIdempotency{77, std::nullopt}));
  std::string v1("\x93\x01\x4d\xc4\x20", 5);
  v1.append(reinterpret_cast<const char*>(meta.head.data()), meta.head.size());
  Result<layout::StoredIdempotency> v1_back = layout::decode_idempotency(v1);
  ASSERT_TRUE(v1_back.ok());
  EXPECT_EQ(*v1_back, (layout::StoredIdempotency{77, meta.head}));
  EXPECT_FALSE(layout::decode_idempotency(v1 + "x").ok());
  EXPECT_FALSE(layout::decode_idempotency(v1.substr(0, 20)).ok());
  EXPECT_FALSE(layout::decode_idempotency(layout::encode_idempotency(77) + "x").ok());
  EXPECT_FALSE(layout::decode_idempotency(std::string("\x92\x02\x00", 3)).ok());  // seq 0
  EXPECT_FALSE(layout::decode_idempotency("\x92\x03\x4d").ok());                  // unknown version
  EXPECT_FALSE(layout::decode_idempotency("\x92\x01\x4d").ok());                  // version 1 needs the hash
  EXPECT_FALSE(layout::decode_idempotency("").ok());

  EXPECT_FALSE(layout::decode_meta("").ok());
  EXPECT_FALSE(layout::decode_meta(layout::encode_meta(meta) + "x").ok());
  std::string bad_bytes = layout::encode_meta(ReplicaMeta{9, 100, 100, meta.head, 8});
  EXPECT_TRUE(layout::decode_meta(bad_bytes).ok());
  bad_bytes[4] = static_cast<char>(101);  // commit_seq past last_seq
  EXPECT_FALSE(layout::decode_meta(bad_bytes).ok());
  EXPECT_FALSE(layout::decode_snapshot(layout::encode_snapshot(snapshot).substr(0, 20)).ok());
  EXPECT_FALSE(layout::decode_idempotency("\x93\x02\x01\xc4\x00").ok());
}

// A replicated key's meta record carries its replication meta as a seventh
// element (one record per round, not two); six-element records still read.
TEST(Layout, MetaCarriesTheReplicationMeta) {
  ReplicaMeta meta{9, 100, 98, make_chain(kGenesisHash, 1, 1)[0].hash(), 8};
  const std::string six = layout::encode_meta(meta);
  const std::string seven = layout::encode_meta(meta, "replication-bytes");
  EXPECT_EQ(static_cast<unsigned char>(six[0]), 0x96);
  EXPECT_EQ(static_cast<unsigned char>(seven[0]), 0x97);
  std::optional<std::string> embedded = "stale";
  Result<ReplicaMeta> back = layout::decode_meta(seven, &embedded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, meta);
  EXPECT_EQ(embedded, "replication-bytes");
  EXPECT_TRUE(layout::decode_meta(seven).ok());  // readers of the replica meta alone
  back = layout::decode_meta(six, &embedded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(embedded, std::nullopt);
  // Refused: an empty or oversize seventh element, one that is not bin, an
  // eighth element, trailing bytes.
  std::string empty_bin = six;
  empty_bin[0] = static_cast<char>(0x97);
  empty_bin += std::string("\xc4\x00", 2);
  EXPECT_FALSE(layout::decode_meta(empty_bin).ok());
  std::string oversize = six;
  oversize[0] = static_cast<char>(0x97);
  oversize += std::string("\xc5\x04\x01", 3) + std::string(kMaxReplicationMetaBytes + 1, 'x');
  EXPECT_FALSE(layout::decode_meta(oversize).ok());
  std::string not_bin = six;
  not_bin[0] = static_cast<char>(0x97);
  not_bin += "\xa1x";
  EXPECT_FALSE(layout::decode_meta(not_bin).ok());
  std::string eight = seven;
  eight[0] = static_cast<char>(0x98);
  eight += "\x01";
  EXPECT_FALSE(layout::decode_meta(eight).ok());
  EXPECT_FALSE(layout::decode_meta(seven + "x").ok());
}

}  // namespace
