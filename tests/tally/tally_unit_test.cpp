// The tally handler in-process through its C ABI descriptor: counting rules,
// snapshots, rejections, config, canonical bytes, schema 1 vs 2.
#include "plugin_harness.hpp"
#include "tally.hpp"

#include <quorum/sdk/sdk.hpp>

#include <gtest/gtest.h>

namespace {

using quorum::plugins::Tally1;
using quorum::plugins::Tally2;
using quorum::test::Actor;
using json = nlohmann::json;

const quorum_plugin_descriptor& v1() { return *quorum::sdk::descriptor<Tally1>(); }
const quorum_plugin_descriptor& v2() { return *quorum::sdk::descriptor<Tally2>(); }

json position(int votes, const char* allocable = "yes", const char* indication = "yes") {
  json p = {{"@type", "CVR.SelectionPosition"}, {"HasIndication", indication}, {"IsAllocable", allocable}};
  if (votes >= 0) {
    p["NumberVotes"] = votes;
  }
  return p;
}

json selection(const std::string& id, json positions) {
  return {{"ContestSelectionId", id}, {"SelectionPosition", std::move(positions)}};
}

json contest(const std::string& id, json selections) {
  return {{"ContestId", id}, {"CVRContestSelection", std::move(selections)}};
}

json cvr(json contests, const std::string& snapshot_id = "s1") {
  return {{"@type", "CVR.CVR"},
          {"BallotStyleUnitId", "p1"},
          {"CurrentSnapshotId", snapshot_id},
          {"CVRSnapshot", json::array({{{"@id", snapshot_id}, {"Type", "original"}, {"CVRContest", std::move(contests)}}})}};
}

TEST(TallyDescriptor, TwoVersionsOneName) {
  EXPECT_STREQ(v1().name, "tally");
  EXPECT_STREQ(v1().semver, "1.0.0");
  EXPECT_EQ(v1().projection_schema, 1u);
  EXPECT_STREQ(v2().semver, "2.0.0");
  EXPECT_EQ(v2().projection_schema, 2u);
  EXPECT_NE(v1().init, nullptr);
  // No migrate: the host rebuilds a 2.0.0 projection by replaying the log.
  EXPECT_EQ(v2().migrate, nullptr);
  EXPECT_FALSE(v2().capabilities & QUORUM_CAP_MIGRATE);
  EXPECT_FALSE(v2().capabilities & QUORUM_CAP_READS_HISTORY);
}

TEST(TallyHandle, CountsAllocableVotesPerSelection) {
  Actor actor(v1());
  const json ballot = cvr(json::array({contest("c1", json::array({selection("a", json::array({position(1)})),
                                                                   selection("b", json::array({position(1, "no")})),
                                                                   selection("c", json::array({position(1, "unknown")}))}))}));
  ASSERT_TRUE(actor.feed("b1", "cvr", 0, ballot).ok());
  ASSERT_TRUE(actor.feed("b2", "cvr", 0, ballot).ok());
  const json p = actor.projection_json();
  EXPECT_EQ(p["ballots"], 2);
  EXPECT_EQ(p["schema"], 1);
  EXPECT_EQ(p["contests"]["c1"]["selections"]["a"], 2);
  EXPECT_EQ(p["contests"]["c1"]["selections"]["b"], 0);  // IsAllocable "no"
  EXPECT_EQ(p["contests"]["c1"]["selections"]["c"], 2);  // "unknown" counts
}

TEST(TallyHandle, MissingNumberVotesIsOneWhenIndicated) {
  Actor actor(v1());
  ASSERT_TRUE(actor
                  .feed("b1", "cvr", 0,
                        cvr(json::array({contest("c1", json::array({selection("a", json::array({position(-1)})),
                                                                     selection("b", json::array({position(-1, "yes", "no")})),
                                                                     selection("c", json::array({position(2)}))}))})))
                  .ok());
  const json s = actor.projection_json()["contests"]["c1"]["selections"];
  EXPECT_EQ(s["a"], 1);
  EXPECT_EQ(s["b"], 0);
  EXPECT_EQ(s["c"], 2);  // NumberVotes is taken as given (cumulative voting)
}

TEST(TallyHandle, CountsOnlyTheCurrentSnapshot) {
  json ballot = cvr(json::array({contest("c1", json::array({selection("a", json::array({position(1)}))}))}), "orig");
  ballot["CVRSnapshot"].push_back(
      {{"@id", "adj"}, {"Type", "modified"}, {"CVRContest", json::array({contest("c1", json::array({selection("b", json::array({position(1)}))}))})}});
  Actor named(v1());
  ASSERT_TRUE(named.feed("b1", "cvr", 0, ballot).ok());  // CurrentSnapshotId = "orig"
  EXPECT_EQ(named.projection_json()["contests"]["c1"]["selections"], json({{"a", 1}}));

  ballot.erase("CurrentSnapshotId");  // absent: the last snapshot counts
  Actor last(v1());
  ASSERT_TRUE(last.feed("b1", "cvr", 0, ballot).ok());
  EXPECT_EQ(last.projection_json()["contests"]["c1"]["selections"], json({{"b", 1}}));
}

TEST(TallyHandle, RejectsWhatIsNotACvrAndChangesNothing) {
  Actor actor(v1());
  ASSERT_TRUE(actor.feed("b0", "cvr", 0, cvr(json::array({contest("c1", json::array({selection("a", json::array({position(1)}))}))}))).ok());
  const std::string before = actor.projection();

  auto not_a_map = actor.feed("b1", "cvr", 0, json::array({1, 2}));
  EXPECT_EQ(not_a_map.status, QUORUM_STATUS_REJECTED);
  EXPECT_NE(not_a_map.error.find("not a CVR object"), std::string::npos) << not_a_map.error;

  auto no_snapshot = actor.feed("b2", "cvr", 0, json{{"@type", "CVR.CVR"}, {"BallotStyleUnitId", "p1"}});
  EXPECT_EQ(no_snapshot.status, QUORUM_STATUS_REJECTED);
  EXPECT_EQ(no_snapshot.error, "cvr data is not a CVR object (no CVRSnapshot)");

  json dangling = cvr(json::array(), "s1");
  dangling["CurrentSnapshotId"] = "nope";
  auto bad_current = actor.feed("b3", "cvr", 0, dangling);
  EXPECT_EQ(bad_current.status, QUORUM_STATUS_REJECTED);
  EXPECT_EQ(bad_current.error, "CurrentSnapshotId 'nope' names no CVRSnapshot");

  auto bad_votes = actor.feed(
      "b4", "cvr", 0, cvr(json::array({contest("c1", json::array({selection("a", json::array({{{"NumberVotes", "one"}}}))}))})));
  EXPECT_EQ(bad_votes.status, QUORUM_STATUS_REJECTED);
  EXPECT_NE(bad_votes.error.find("NumberVotes"), std::string::npos);

  auto no_contest_id = actor.feed("b5", "cvr", 0, cvr(json::array({{{"CVRContestSelection", json::array()}}})));
  EXPECT_EQ(no_contest_id.status, QUORUM_STATUS_REJECTED);

  auto negative = actor.feed("b6", "cvr", 0, cvr(json::array({{{"ContestId", "c1"}, {"Overvotes", -1}}})));
  EXPECT_EQ(negative.status, QUORUM_STATUS_REJECTED);

  EXPECT_EQ(actor.projection(), before);
}

TEST(TallyHandle, IgnoresOtherMessageTypes) {
  Actor actor(v1());
  ASSERT_TRUE(actor.feed("x", "audit-note", 0, json{{"anything", 1}}).ok());
  EXPECT_EQ(actor.projection_json(), json({{"ballots", 0}, {"contests", json::object()}, {"schema", 1}}));
  ASSERT_TRUE(actor.feed("b1", "cvr", 0, cvr(json::array())).ok());
  const std::string before = actor.projection();
  ASSERT_TRUE(actor.feed("y", "rcv-round", 0, nullptr).ok());
  EXPECT_EQ(actor.projection(), before);
}

TEST(TallyHandle, UsesOverUnderVoteFieldsOrComputesThemFromVotesAllowed) {
  Actor actor(v1());
  actor.init(json{{"contests", {{"c2", {{"votes_allowed", 2}, {"selections", {"x", "y", "z"}}}}}}});
  // c1: fields present; c2: computed from votes_allowed 2.
  json c1 = contest("c1", json::array({selection("a", json::array({position(1)}))}));
  c1["Overvotes"] = 0;
  c1["Undervotes"] = 3;
  ASSERT_TRUE(actor.feed("b1", "cvr", 0,
                         cvr(json::array({c1, contest("c2", json::array({selection("x", json::array({position(1)}))}))})))
                  .ok());  // c2: 1 mark of 2 -> 1 undervote
  ASSERT_TRUE(actor
                  .feed("b2", "cvr", 0,
                        cvr(json::array({contest("c2", json::array({selection("x", json::array({position(1, "no")})),
                                                                     selection("y", json::array({position(1, "no")})),
                                                                     selection("z", json::array({position(1, "no")}))}))})))
                  .ok());  // c2: 3 marks of 2 -> 2 overvotes (the votes lost), none allocable
  ASSERT_TRUE(actor.feed("b3", "cvr", 0, cvr(json::array({contest("c2", json::array())}))).ok());  // blank: 2 undervotes
  const json p = actor.projection_json();
  EXPECT_EQ(p["contests"]["c1"]["overvotes"], 0);
  EXPECT_EQ(p["contests"]["c1"]["undervotes"], 3);
  EXPECT_EQ(p["contests"]["c1"]["votes_allowed"], 0);
  EXPECT_EQ(p["contests"]["c2"]["overvotes"], 2);
  EXPECT_EQ(p["contests"]["c2"]["undervotes"], 3);
  EXPECT_EQ(p["contests"]["c2"]["votes_allowed"], 2);
  EXPECT_EQ(p["contests"]["c2"]["selections"], json({{"x", 1}, {"y", 0}, {"z", 0}}));
}

TEST(TallyHandle, WriteInsFromCvrWriteInOrConfig) {
  Actor actor(v1());
  actor.init(json{{"contests", {{"c1", {{"selections", {"a", "wi-1"}}, {"write_ins", {"wi-1"}}}}}}});
  json with_text = position(1);
  with_text["CVRWriteIn"] = {{"Text", "Ada"}};
  ASSERT_TRUE(actor
                  .feed("b1", "cvr", 0,
                        cvr(json::array({contest("c1", json::array({selection("wi-1", json::array({position(1)})),
                                                                     selection("wi-2", json::array({with_text}))}))})))
                  .ok());
  const json c1 = actor.projection_json()["contests"]["c1"];
  EXPECT_EQ(c1["write_in_ids"], json({"wi-1", "wi-2"}));
  EXPECT_EQ(c1["write_ins"], 2);
  EXPECT_EQ(c1["selections"], json({{"a", 0}, {"wi-1", 1}, {"wi-2", 1}}));
}

TEST(TallyHandle, VoteForN) {
  Actor actor(v1());
  actor.init(json{{"contests", {{"c1", {{"votes_allowed", 2}}}}}});
  ASSERT_TRUE(actor
                  .feed("b1", "cvr", 0,
                        cvr(json::array({contest("c1", json::array({selection("a", json::array({position(1)})),
                                                                     selection("b", json::array({position(1)}))}))})))
                  .ok());
  const json c1 = actor.projection_json()["contests"]["c1"];
  EXPECT_EQ(c1["selections"], json({{"a", 1}, {"b", 1}}));
  EXPECT_EQ(c1["overvotes"], 0);
  EXPECT_EQ(c1["undervotes"], 0);
}

TEST(TallyHandle, SchemaTwoCountsBallotsPerContestOncePerBallot) {
  Actor actor(v2());
  const json c1 = contest("c1", json::array({selection("a", json::array({position(1)}))}));
  ASSERT_TRUE(actor.feed("b1", "cvr", 0, cvr(json::array({c1, c1}))).ok());  // listed twice: one ballot
  ASSERT_TRUE(actor.feed("b2", "cvr", 0, cvr(json::array({c1}))).ok());
  const json p = actor.projection_json();
  EXPECT_EQ(p["schema"], 2);
  EXPECT_EQ(p["contests"]["c1"]["ballots"], 2);
  EXPECT_EQ(p["contests"]["c1"]["selections"]["a"], 3);
}

TEST(TallyProjection, CanonicalBytesAndExactLayout) {
  Actor actor(v2());
  actor.init(json{{"contests", {{"zz", {{"votes_allowed", 1}, {"selections", {"q", "p"}}, {"write_ins", {"w"}}}}}}});
  ASSERT_TRUE(actor.feed("b1", "cvr", 0, cvr(json::array({contest("aa", json::array({selection("s", json::array({position(1)}))}))}))).ok());
  // Exact bytes: keys in the documented order, maps sorted, shortest ints.
  const json expected_json = {
      {"ballots", 1},
      {"contests",
       {{"aa", {{"ballots", 1}, {"overvotes", 0}, {"selections", {{"s", 1}}}, {"undervotes", 0}, {"votes_allowed", 0},
                {"write_in_ids", json::array()}, {"write_ins", 0}}},
        {"zz", {{"ballots", 0}, {"overvotes", 0}, {"selections", {{"p", 0}, {"q", 0}, {"w", 0}}}, {"undervotes", 0},
                {"votes_allowed", 1}, {"write_in_ids", {"w"}}, {"write_ins", 0}}}}},
      {"schema", 2}};
  // nlohmann::json objects are sorted maps and pack as the smallest ints: the same canonical bytes.
  EXPECT_EQ(actor.projection(), quorum::test::to_msgpack(expected_json));
}

TEST(TallyProjection, DecodesUnsortedHandWrittenProjectionsIntoCanonicalOnes) {
  // A projection whose maps are not in canonical order (msgpack written by hand).
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(2);
  packer.pack(std::string("contests"));
  packer.pack_map(2);
  packer.pack(std::string("z"));
  packer.pack_map(1);
  packer.pack(std::string("selections"));
  packer.pack_map(2);
  packer.pack(std::string("y"));
  packer.pack(3);
  packer.pack(std::string("x"));
  packer.pack(4);
  packer.pack(std::string("a"));
  packer.pack_map(0);
  packer.pack(std::string("ballots"));
  packer.pack(7);
  Actor actor(v1());
  actor.set_projection(std::string(buffer.data(), buffer.size()));
  ASSERT_TRUE(actor.feed("n", "noop", 0, nullptr).ok());
  const json p = actor.projection_json();
  EXPECT_EQ(p["ballots"], 7);
  EXPECT_EQ(p["contests"]["z"]["selections"], json({{"x", 4}, {"y", 3}}));
  Actor canonical(v1());
  canonical.set_projection(actor.projection());
  ASSERT_TRUE(canonical.feed("n", "noop", 0, nullptr).ok());
  EXPECT_EQ(canonical.projection(), actor.projection());
}

TEST(TallyProjection, CorruptProjectionFailsCleanly) {
  Actor actor(v1());
  actor.set_projection(quorum::test::to_msgpack(json{{"ballots", "many"}}));
  auto result = actor.feed("b1", "cvr", 0, cvr(json::array()));
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("tally projection"), std::string::npos) << result.error;
}

TEST(TallyInit, RejectsABadConfigWithAReason) {
  quorum_buffer out{};
  const std::string config = quorum::test::to_msgpack(json{{"contests", {{"c1", {{"votes_allowed", -2}}}}}});
  EXPECT_NE(v1().init(quorum::test::as_bytes(config), &out), QUORUM_STATUS_OK);
  const json body = json::from_msgpack(out.data, out.data + out.size);
  v1().free(&out);
  EXPECT_NE(body["error"].get<std::string>().find("votes_allowed"), std::string::npos);
  // Empty config: an empty tally.
  EXPECT_EQ(quorum::test::init_projection(v1(), nullptr),
            quorum::test::to_msgpack(json({{"ballots", 0}, {"contests", json::object()}, {"schema", 1}})));
}

TEST(TallyBatch, EqualsSequentialHandlesIncludingRejections) {
  std::vector<std::string> messages;
  for (int i = 0; i < 5; ++i) {
    messages.push_back(quorum::test::make_message(
        "b" + std::to_string(i), "cvr", i,
        cvr(json::array({contest("c1", json::array({selection(i % 2 ? "a" : "b", json::array({position(1)}))}))}))));
  }
  messages.insert(messages.begin() + 2, quorum::test::make_message("bad", "cvr", 0, json{{"x", 1}}));
  Actor sequential(v2());
  for (const auto& message : messages) {
    sequential.feed(message);
  }
  Actor batch(v2());
  const json results = batch.feed_batch(messages);
  ASSERT_EQ(results.size(), messages.size());
  EXPECT_FALSE(results[2]["ok"]);
  EXPECT_TRUE(results[3]["ok"]);
  EXPECT_EQ(batch.projection(), sequential.projection());
}

}  // namespace
