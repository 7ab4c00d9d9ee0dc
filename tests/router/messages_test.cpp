// The router's wire vocabulary (host/include/quorum/router/messages.hpp):
// every request and reply (the hand-off's points and raw entries included)
// survives a round trip, an owner's error reaches the requester with its code
// and words, and malformed bodies are refused with an error (never a crash,
// never a half-decoded value).
#include <quorum/router/messages.hpp>

#include <quorum/store/entry.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace quorum::router {
namespace {

TEST(RouterMessages, CommandRequestRoundTrips) {
  CommandRequest request{"TN-A-1", {"e/x/precinct/TN/1", "ballot-7", "cvr", std::string("\x81\xa1" "a\x01", 4)}};
  auto back = decode_command_request(encode(request));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->origin, "TN-A-1");
  EXPECT_EQ(back->command.key, request.command.key);
  EXPECT_EQ(back->command.id, "ballot-7");
  EXPECT_EQ(back->command.type, "cvr");
  EXPECT_EQ(back->command.data, request.command.data);
}

TEST(RouterMessages, ReadRequestRoundTrips) {
  auto back = decode_read_request(encode(ReadRequest{"FL-B-2", "k/1", 5, 100}));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->origin, "FL-B-2");
  EXPECT_EQ(back->key, "k/1");
  EXPECT_EQ(back->from, 5u);
  EXPECT_EQ(back->limit, 100u);
}

TEST(RouterMessages, RepliesRoundTrip) {
  node::CommandReceipt receipt{"k/1", 42, std::string(64, 'a'), true};
  auto r = decode_command_reply(encode(Result<node::CommandReceipt>(receipt)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->key, "k/1");
  EXPECT_EQ(r->seq, 42u);
  EXPECT_EQ(r->hash_hex, receipt.hash_hex);
  EXPECT_TRUE(r->duplicate);

  node::ActorView view;
  view.key = "k/2";
  view.seq = 9;
  view.head_hex = std::string(64, 'b');
  view.projections.push_back({"tally", "1.2.0", 3, std::string("\x00\x01\x02", 3)});
  view.projections.push_back({"audit", "1.0.0", 1, ""});
  auto v = decode_actor_reply(encode(Result<node::ActorView>(view)));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->key, "k/2");
  EXPECT_EQ(v->seq, 9u);
  ASSERT_EQ(v->projections.size(), 2u);
  EXPECT_EQ(v->projections[0].handler, "tally");
  EXPECT_EQ(v->projections[0].projection_schema, 3u);
  EXPECT_EQ(v->projections[0].bytes, std::string("\x00\x01\x02", 3));

  node::LogEntryView entry{3, 1, -5, "id", "cvr", std::string("\xc0", 1), std::string(64, 'c'), std::string(64, 'd')};
  auto l = decode_log_reply(encode(Result<std::vector<node::LogEntryView>>(std::vector{entry, entry})));
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[1].seq, 3u);
  EXPECT_EQ((*l)[1].time_ms, -5);
  EXPECT_EQ((*l)[1].payload, std::string("\xc0", 1));
  EXPECT_EQ((*l)[1].prev_hash_hex, entry.prev_hash_hex);
}

TEST(RouterMessages, TheOwnersErrorKeepsItsCodeAndWords) {
  auto r = decode_command_reply(
      encode(Result<node::CommandReceipt>(Error{ErrorCode::kRejected, "tally: contest 7 is not on this ballot"})));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kRejected);
  EXPECT_EQ(r.error().message, "tally: contest 7 is not on this ballot");
  auto v = decode_actor_reply(encode(Result<node::ActorView>(Error{ErrorCode::kNotFound, "no actor"})));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, ErrorCode::kNotFound);
}

TEST(RouterMessages, MalformedBodiesAreRefused) {
  for (std::string body : {std::string(), std::string("\xc1"), std::string("\x93\x01\x02"), std::string("\x95\xa1x"),
                           std::string("\x85\xa1x\xa1x\xa1x\xa1x\x01")}) {
    EXPECT_FALSE(decode_command_request(body).ok());
    EXPECT_FALSE(decode_read_request(body).ok());
    auto reply = decode_command_reply(body);
    ASSERT_FALSE(reply.ok());
    // A reply that cannot be read means the peer cannot be trusted now: retry later.
    EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  }
  // An error code beyond the known ones.
  EXPECT_EQ(decode_command_reply(std::string("\x93\x01\x7f\xa1x", 5)).error().code, ErrorCode::kUnavailable);
}

// ---------------------------------------------------------------------------
// Hand-off replies: points (kHandoffPoint) and raw entries (kFetchLogReply).

node::KeyPoint point_of(uint64_t seq, uint8_t first_byte) {
  node::KeyPoint point;
  point.seq = seq;
  for (size_t i = 0; i < point.head.size(); ++i) {
    point.head[i] = static_cast<uint8_t>(first_byte + i * 37);  // zeros, 0xff, everything in between
  }
  return point;
}

// msgpack bin of `n` bytes with the bin32 header (any size).
std::string bin32(size_t n, char fill) {
  std::string out("\xc6", 1);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(n, fill);
  return out;
}

TEST(RouterMessages, PointRepliesRoundTrip) {
  for (const node::KeyPoint& point : {node::KeyPoint{}, point_of(1, 0), point_of(77, 0xff), point_of(UINT64_MAX, 9)}) {
    auto back = decode_point_reply(encode(Result<node::KeyPoint>(point)));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->seq, point.seq);
    EXPECT_EQ(back->head, point.head);
    EXPECT_EQ(*back, point);
  }
  auto genesis = decode_point_reply(encode(Result<node::KeyPoint>(node::KeyPoint{})));
  ASSERT_TRUE(genesis.ok());
  EXPECT_EQ(genesis->seq, 0u);
  EXPECT_EQ(genesis->head, store::kGenesisHash);
}

TEST(RouterMessages, EntriesRepliesRoundTripRawBytes) {
  std::string binary;
  for (int i = 0; i < 256; ++i) {
    binary.push_back(static_cast<char>(i));
  }
  const std::string largest(store::kMaxEntryBytes, '\x93');
  std::vector<std::vector<std::string>> cases = {
      {},
      {""},
      {binary, "", std::string("\x00\x00", 2), binary},
      {largest},
      std::vector<std::string>(1000, std::string("\xc1\xc0\xff", 3)),
  };
  for (const std::vector<std::string>& entries : cases) {
    auto back = decode_entries_reply(encode(Result<std::vector<std::string>>(entries)));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, entries);
  }
}

TEST(RouterMessages, HandoffErrorsKeepTheirCodeAndWords) {
  for (int code = 0; code <= static_cast<int>(ErrorCode::kUnavailable); ++code) {
    const Error error{static_cast<ErrorCode>(code), "hand-off " + std::to_string(code) + ": diverged at seq 3"};
    auto point = decode_point_reply(encode(Result<node::KeyPoint>(error)));
    ASSERT_FALSE(point.ok());
    EXPECT_EQ(point.error().code, error.code);
    EXPECT_EQ(point.error().message, error.message);
    auto entries = decode_entries_reply(encode(Result<std::vector<std::string>>(error)));
    ASSERT_FALSE(entries.ok());
    EXPECT_EQ(entries.error().code, error.code);
    EXPECT_EQ(entries.error().message, error.message);
  }
  auto empty = decode_entries_reply(encode(Result<std::vector<std::string>>(Error{ErrorCode::kNotFound, ""})));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(empty.error().message, "");
}

TEST(RouterMessages, MalformedPointRepliesAreRefused) {
  const std::string head32 = std::string("\xc4\x20", 2) + std::string(32, 'h');
  // The well-formed body these are broken from decodes.
  ASSERT_TRUE(decode_point_reply(std::string("\x93\x00\x05", 3) + head32).ok());
  const std::vector<std::string> bodies = {
      std::string(),
      std::string("\xc1", 1),
      std::string("\x93\x00\x05\xc4\x1f", 5) + std::string(31, 'h'),  // head of 31 bytes
      std::string("\x93\x00\x05\xc4\x21", 5) + std::string(33, 'h'),  // head of 33 bytes
      std::string("\x93\x00\x05\xc4\x00", 5),                         // empty head
      std::string("\x93\x00\x05\x07", 4),                             // head not bytes
      std::string("\x93\x00\xff", 3) + head32,                        // negative seq
      std::string("\x93\x00\xa1x", 4) + head32,                       // seq not a number
      std::string("\x92\x00\x05", 3),                                 // no head
      std::string("\x94\x00\x05", 3) + head32 + "\x01",               // a field too many
      std::string("\x93\x02\x05", 3) + head32,                        // unknown reply tag
      std::string("\x93\x01\x7f\xa1x", 5),                            // unknown error code
      std::string("\x92\x01\x05", 3),                                 // error without words
      std::string("\x93\x00\x05", 3) + head32.substr(0, 20),          // truncated
      std::string("\x83\x00\x05\x01\x02\x03\x04", 7),                 // a map, not an array
      // An entries reply is not a point.
      encode(Result<std::vector<std::string>>(std::vector<std::string>{std::string(32, 'h')})),
  };
  for (size_t i = 0; i < bodies.size(); ++i) {
    auto point = decode_point_reply(bodies[i]);
    ASSERT_FALSE(point.ok()) << "body " << i << " decoded to seq " << point->seq;
    // A reply that cannot be read means the peer cannot be trusted now: retry later.
    EXPECT_EQ(point.error().code, ErrorCode::kUnavailable) << i;
  }
}

TEST(RouterMessages, MalformedEntriesRepliesAreRefused) {
  // Well-formed: [0, [bin "abc"]] and an entry of exactly the bound.
  ASSERT_TRUE(decode_entries_reply(std::string("\x92\x00\x91\xc4\x03", 5) + "abc").ok());
  ASSERT_TRUE(decode_entries_reply(std::string("\x92\x00\x91", 3) + bin32(store::kMaxEntryBytes, 'e')).ok());
  const std::vector<std::string> bodies = {
      std::string(),
      std::string("\x92\x00\x91\xa3", 4) + "abc",                              // a str, not bytes
      std::string("\x92\x00\x91\x07", 4),                                      // a number
      std::string("\x92\x00\x92\xc4\x01x\xc0", 7),                             // the second entry is nil
      std::string("\x92\x00\x91\x91\xc4\x01x", 7),                             // an array of bytes
      std::string("\x92\x00\x91", 3) + bin32(store::kMaxEntryBytes + 1, 'e'),  // one byte over the bound
      std::string("\x92\x00\xc4\x01x", 5),                                     // entries not a list
      std::string("\x93\x00\x90\x01", 4),                                      // a field too many
      std::string("\x91\x00", 2),                                              // no entries
      std::string("\x92\x00\x92\xc4\x01x", 6),                                 // truncated list
      std::string("\x92\x00\x91\xc4\x05", 5) + "ab",                           // truncated entry
      // A point is not an entries reply.
      encode(Result<node::KeyPoint>(point_of(3, 1))),
  };
  for (size_t i = 0; i < bodies.size(); ++i) {
    auto entries = decode_entries_reply(bodies[i]);
    ASSERT_FALSE(entries.ok()) << "body " << i << " decoded to " << entries->size() << " entries";
    EXPECT_EQ(entries.error().code, ErrorCode::kUnavailable) << i;
  }
}

TEST(RouterMessages, HandoffKindsKeepTheirWireNumbers) {
  // Part of the node-to-node protocol: a renumbering is an incompatible change.
  EXPECT_EQ(static_cast<int>(Kind::kHandoffQuery), 8);
  EXPECT_EQ(static_cast<int>(Kind::kHandoffPoint), 9);
  EXPECT_EQ(static_cast<int>(Kind::kFetchLog), 10);
  EXPECT_EQ(static_cast<int>(Kind::kFetchLogReply), 11);
  EXPECT_EQ(static_cast<int>(Kind::kHandoffOffer), 12);
  EXPECT_EQ(static_cast<int>(Kind::kHandoffTaken), 13);
  // The hand-off requests are read requests: the offer's seq rides in `from`.
  auto offer = decode_read_request(encode(ReadRequest{"TN-A-1", "k/moved", UINT64_MAX, 0}));
  ASSERT_TRUE(offer.ok());
  EXPECT_EQ(offer->from, UINT64_MAX);
  EXPECT_EQ(offer->key, "k/moved");
}

}  // namespace
}  // namespace quorum::router
