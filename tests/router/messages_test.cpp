// The router's wire vocabulary (host/include/quorum/router/messages.hpp):
// every request and reply survives a round trip, an owner's error reaches
// the requester with its code and words, and malformed bodies are refused
// with an error (never a crash, never a half-decoded value).
#include <quorum/router/messages.hpp>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace quorum::router
