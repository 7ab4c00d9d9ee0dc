// Unit tests of the rcv handler's rules, run in-process through the C ABI.
#include "plugins/rcv/rcv.hpp"
#include "rcv_support.hpp"

#include <gtest/gtest.h>

namespace {

using quorum::plugins::rcv::Rcv;
using rcv_test::Ballot;
using rcv_test::json;
using rcv_test::ranked_cvr;
using rcv_test::Runner;

const quorum_plugin_descriptor* rcv() { return quorum::sdk::descriptor<Rcv>(); }

// Feeds `count` copies of a ballot, asserting each is accepted.
void feed(Runner& runner, const Ballot& ballot, int count = 1) {
  static int next_id = 0;
  for (int i = 0; i < count; ++i) {
    auto result = runner.feed("b-" + std::to_string(++next_id), ranked_cvr(ballot));
    ASSERT_TRUE(result.ok()) << result.error;
  }
}

json contest(const Runner& runner, const std::string& id = "contest-1") { return runner.projection()["contests"][id]; }

TEST(RcvDescriptor, NameVersionAndCapabilities) {
  const quorum_plugin_descriptor* d = rcv();
  EXPECT_STREQ(d->name, "rcv");
  EXPECT_STREQ(d->semver, "1.1.0");
  EXPECT_EQ(d->projection_schema, 1u);
  EXPECT_TRUE(d->capabilities & QUORUM_CAP_INIT);
  EXPECT_FALSE(d->capabilities & QUORUM_CAP_READS_HISTORY);
}

TEST(RcvConfig, DefaultsAreRctabLike) {
  Runner runner(rcv());
  feed(runner, {{"a"}});
  const json rules = runner.projection()["rules"];
  EXPECT_EQ(rules["overvote"], "exhaust_immediately");
  EXPECT_TRUE(rules["max_skipped_ranks"].is_null());
  EXPECT_TRUE(rules["max_rankings"].is_null());
  EXPECT_EQ(rules["duplicates"], "skip");
  EXPECT_EQ(rules["tie_break"], "previous_rounds_then_lexical");
  EXPECT_TRUE(rules["contests"].is_null());
}

TEST(RcvConfig, InitWithoutConfigEqualsEmptyProjection) {
  Runner from_init(rcv(), json::object());
  Runner from_nothing(rcv());
  feed(from_init, {{"a"}, {"b"}});
  feed(from_nothing, {{"a"}, {"b"}});
  EXPECT_EQ(from_init.bytes_now(), from_nothing.bytes_now());
}

TEST(RcvConfig, BadConfigsAreRefused) {
  for (const json& config : {json{{"overvote", "sometimes"}}, json{{"max_skipped_ranks", -1}},
                             json{{"max_rankings", 0}}, json{{"duplicates", 3}}, json{{"tie_break", "random"}},
                             json{{"batch_elimination", true}}, json{{"contests", "c1"}}, json{{"colour", "red"}},
                             json::array({1, 2})}) {
    auto result = Runner::try_init(rcv(), config);
    EXPECT_EQ(result.status, QUORUM_STATUS_REJECTED) << config.dump();
    EXPECT_NE(result.error.find("rcv config"), std::string::npos) << result.error;
  }
  auto ok = Runner::try_init(rcv(), {{"max_skipped_ranks", "unlimited"}, {"batch_elimination", false}});
  EXPECT_TRUE(ok.ok()) << ok.error;
}

TEST(RcvRounds, MajorityInRoundOne) {
  Runner runner(rcv());
  feed(runner, {{"a"}, {"b"}}, 3);
  feed(runner, {{"b"}, {"a"}}, 2);
  const json c = contest(runner);
  ASSERT_EQ(c["rounds"].size(), 1u);
  EXPECT_EQ(c["rounds"][0]["tally"], (json{{"a", 3}, {"b", 2}}));
  EXPECT_EQ(c["rounds"][0]["elected"], "a");
  EXPECT_TRUE(c["rounds"][0]["eliminated"].is_null());
  EXPECT_EQ(c["rounds"][0]["continuing"], 5);
  EXPECT_EQ(c["rounds"][0]["round"], 1);
  EXPECT_EQ(c["winner"], "a");
  EXPECT_EQ(c["ballots"], 5);
  EXPECT_EQ(runner.projection()["cvrs"], 5);
}

TEST(RcvRounds, EliminationTransfersToNextChoice) {
  Runner runner(rcv());
  feed(runner, {{"a"}}, 4);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}, {"b"}}, 2);
  const json c = contest(runner);
  ASSERT_EQ(c["rounds"].size(), 2u);
  EXPECT_EQ(c["rounds"][0]["tally"], (json{{"a", 4}, {"b", 3}, {"c", 2}}));
  EXPECT_EQ(c["rounds"][0]["eliminated"], "c");
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 4}, {"b", 5}}));
  EXPECT_EQ(c["rounds"][1]["elected"], "b");
  EXPECT_EQ(c["winner"], "b");
}

TEST(RcvRounds, ABallotThatExhaustsIsCountedAsExhausted) {
  Runner runner(rcv());
  feed(runner, {{"a"}}, 4);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}}, 2);  // no further choice: exhausts when c goes
  const json c = contest(runner);
  ASSERT_EQ(c["rounds"].size(), 2u);
  EXPECT_EQ(c["rounds"][0]["exhausted"], 0);
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 4}, {"b", 3}}));
  EXPECT_EQ(c["rounds"][1]["exhausted"], 2);
  EXPECT_EQ(c["rounds"][1]["continuing"], 7);
  EXPECT_EQ(c["winner"], "a");  // 4 of 7 continuing votes
}

TEST(RcvRounds, EveryBallotExhaustedMeansNoWinner) {
  Runner runner(rcv());
  feed(runner, {{"a", "b"}}, 2);  // overvote at rank 1: exhausted from the start
  const json c = contest(runner);
  ASSERT_EQ(c["rounds"].size(), 1u);
  EXPECT_EQ(c["rounds"][0]["tally"], (json{{"a", 0}, {"b", 0}}));
  EXPECT_EQ(c["rounds"][0]["exhausted"], 2);
  EXPECT_TRUE(c["winner"].is_null());
  EXPECT_EQ(c["ballots"], 2);
}

// Overvote at rank 1, then c: exhausted at once by default; counts for c
// with skip_to_next.
TEST(RcvOvervote, ExhaustImmediatelyVersusSkipToNext) {
  for (const char* rule : {"exhaust_immediately", "skip_to_next"}) {
    Runner runner(rcv(), {{"overvote", rule}});
    feed(runner, {{"a"}}, 3);
    feed(runner, {{"b"}}, 2);
    feed(runner, {{"a", "b"}, {"c"}});
    const json round1 = contest(runner)["rounds"][0];
    if (std::string(rule) == "exhaust_immediately") {
      EXPECT_EQ(round1["tally"], (json{{"a", 3}, {"b", 2}, {"c", 0}}));
      EXPECT_EQ(round1["exhausted"], 1);
    } else {
      EXPECT_EQ(round1["tally"], (json{{"a", 3}, {"b", 2}, {"c", 1}}));
      EXPECT_EQ(round1["exhausted"], 0);
    }
  }
}

TEST(RcvOvervote, ExhaustsOnlyWhenTheCountReachesTheOvervote) {
  Runner runner(rcv());
  feed(runner, {{"a"}}, 3);
  feed(runner, {{"b"}}, 2);
  feed(runner, {{"c"}, {"a", "b"}, {"b"}});  // counts for c, then exhausts at rank 2
  const json c = contest(runner);
  EXPECT_EQ(c["rounds"][0]["tally"]["c"], 1);
  EXPECT_EQ(c["rounds"][0]["eliminated"], "c");
  EXPECT_EQ(c["rounds"][1]["exhausted"], 1);
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 3}, {"b", 2}}));
}

TEST(RcvSkippedRanks, UnlimitedByDefault) {
  Runner runner(rcv());
  feed(runner, {{"a"}}, 4);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}, {}, {}, {"b"}}, 2);
  const json c = contest(runner);
  EXPECT_EQ(c["rounds"][0]["eliminated"], "c");
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 4}, {"b", 5}}));
  EXPECT_EQ(c["rounds"][1]["exhausted"], 0);
}

TEST(RcvSkippedRanks, MoreThanTheLimitExhausts) {
  Runner runner(rcv(), {{"max_skipped_ranks", 1}});
  feed(runner, {{"a"}}, 4);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}, {}, {"b"}});      // one skipped rank: allowed
  feed(runner, {{"c"}, {}, {}, {"b"}});  // two skipped ranks: exhausts
  feed(runner, {{}, {}, {"b"}});         // two skipped before rank 3: exhausted from round 1
  const json c = contest(runner);
  EXPECT_EQ(c["ballots"], 10);
  EXPECT_EQ(c["rounds"][0]["tally"], (json{{"a", 4}, {"b", 3}, {"c", 2}}));
  EXPECT_EQ(c["rounds"][0]["exhausted"], 1);
  EXPECT_EQ(c["rounds"][0]["eliminated"], "c");
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 4}, {"b", 4}}));
  EXPECT_EQ(c["rounds"][1]["exhausted"], 2);
}

TEST(RcvSkippedRanks, ZeroAllowsNoGap) {
  Runner runner(rcv(), {{"max_skipped_ranks", 0}});
  feed(runner, {{"a"}}, 2);
  feed(runner, {{"c"}, {}, {"a"}});
  const json c = contest(runner);
  EXPECT_EQ(c["candidates"], json::parse(R"(["a", "c"])"));
  EXPECT_EQ(c["rankings"], json::parse(R"([[[0], 2], [[1], 1]])"));  // c's ballot stops before the gap
  EXPECT_EQ(c["rounds"][0]["tally"], (json{{"a", 2}, {"c", 1}}));
}

TEST(RcvDuplicates, LaterDuplicatesAreSkippedByDefault) {
  Runner runner(rcv());
  feed(runner, {{"a"}}, 4);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}, {"c"}, {"b"}}, 2);
  const json c = contest(runner);
  EXPECT_EQ(c["rankings"], json::parse(R"([[[0], 4], [[1], 3], [[2, 1], 2]])"));
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 4}, {"b", 5}}));
  EXPECT_EQ(c["winner"], "b");
}

TEST(RcvDuplicates, ExhaustOnDuplicateWhenConfigured) {
  Runner runner(rcv(), {{"duplicates", "exhaust"}});
  feed(runner, {{"a"}}, 4);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}, {"c"}, {"b"}}, 2);
  const json c = contest(runner);
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 4}, {"b", 3}}));
  EXPECT_EQ(c["rounds"][1]["exhausted"], 2);
  EXPECT_EQ(c["winner"], "a");
}

TEST(RcvTies, NoHistoryFallsBackToSmallestId) {
  Runner runner(rcv());
  feed(runner, {{"a"}}, 3);
  feed(runner, {{"c"}}, 2);
  feed(runner, {{"b"}}, 2);
  feed(runner, {{"d"}}, 2);
  EXPECT_EQ(contest(runner)["rounds"][0]["eliminated"], "b");
}

TEST(RcvTies, PreviousRoundDecides) {
  // Round 1: a 5, b 3, c 2, d 1 -> d goes, its ballot moves to c.
  // Round 2: a 5, b 3, c 3: b and c tie; in round 1 c had fewer (2 < 3): c goes.
  Runner runner(rcv());
  feed(runner, {{"a"}}, 5);
  feed(runner, {{"b"}}, 3);
  feed(runner, {{"c"}}, 2);
  feed(runner, {{"d"}, {"c"}});
  const json c = contest(runner);
  EXPECT_EQ(c["rounds"][0]["eliminated"], "d");
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"a", 5}, {"b", 3}, {"c", 3}}));
  EXPECT_EQ(c["rounds"][1]["eliminated"], "c");

  Runner lexical(rcv(), {{"tie_break", "lexical"}});
  feed(lexical, {{"a"}}, 5);
  feed(lexical, {{"b"}}, 3);
  feed(lexical, {{"c"}}, 2);
  feed(lexical, {{"d"}, {"c"}});
  EXPECT_EQ(contest(lexical)["rounds"][1]["eliminated"], "b");
}

TEST(RcvTies, EvenFinalTwoEliminatesByTieBreakThenElects) {
  Runner runner(rcv());
  feed(runner, {{"x"}}, 2);
  feed(runner, {{"y"}}, 2);
  const json c = contest(runner);
  ASSERT_EQ(c["rounds"].size(), 2u);
  EXPECT_EQ(c["rounds"][0]["eliminated"], "x");
  EXPECT_EQ(c["rounds"][1]["tally"], (json{{"y", 2}}));
  EXPECT_EQ(c["rounds"][1]["exhausted"], 2);
  EXPECT_EQ(c["winner"], "y");
}

TEST(RcvBallots, WriteInsAreCandidatesLikeAnyOther) {
  Runner runner(rcv());
  feed(runner, {{"cs-write-in"}, {"a"}}, 3);
  feed(runner, {{"a"}}, 2);
  EXPECT_EQ(contest(runner)["winner"], "cs-write-in");
}

TEST(RcvBallots, RankingsAreCompactAndRenumberedWhenACandidateArrives) {
  Runner runner(rcv());
  feed(runner, {{"c"}, {"b"}}, 2);
  EXPECT_EQ(contest(runner)["candidates"], json::parse(R"(["b", "c"])"));
  EXPECT_EQ(contest(runner)["rankings"], json::parse(R"([[[1, 0], 2]])"));
  feed(runner, {{"a"}});
  EXPECT_EQ(contest(runner)["candidates"], json::parse(R"(["a", "b", "c"])"));
  EXPECT_EQ(contest(runner)["rankings"], json::parse(R"([[[0], 1], [[2, 1], 2]])"));
}

TEST(RcvBallots, IndicationsAndUnrankedContests) {
  json ballot = ranked_cvr({{"a"}, {"b"}});
  auto& positions = ballot["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][1]["SelectionPosition"];
  positions[0]["HasIndication"] = "no";  // b's mark does not count
  ballot["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0].erase("HasIndication");
  // A plurality contest (no Rank) is not tabulated.
  ballot["CVRSnapshot"][0]["CVRContest"].push_back(
      {{"ContestId", "mayor"},
       {"CVRContestSelection",
        {{{"ContestSelectionId", "m1"}, {"SelectionPosition", {{{"HasIndication", "yes"}, {"NumberVotes", 1}}}}}}}});
  Runner runner(rcv());
  ASSERT_TRUE(runner.feed("b-1", ballot).ok());
  const json p = runner.projection();
  EXPECT_EQ(p["contests"].size(), 1u);
  EXPECT_EQ(p["contests"]["contest-1"]["candidates"], json::parse(R"(["a"])"));
  // A ballot with no ranked contest is accepted and counted as a cvr only.
  ASSERT_TRUE(runner.feed("b-2", rcv_test::cvr({})).ok());
  EXPECT_EQ(runner.projection()["cvrs"], 2);
  EXPECT_EQ(runner.projection()["contests"]["contest-1"]["ballots"], 1);
}

TEST(RcvBallots, UsesTheCurrentSnapshot) {
  json ballot = ranked_cvr({{"a"}});
  json modified = ballot["CVRSnapshot"][0];
  modified["@id"] = "snap-2";
  modified["Type"] = "modified";
  modified["CVRContest"] = json::array({rcv_test::ranked_contest("contest-1", {{"b"}})});
  ballot["CVRSnapshot"].push_back(modified);
  ballot["CurrentSnapshotId"] = "snap-2";
  Runner runner(rcv());
  ASSERT_TRUE(runner.feed("b-1", ballot).ok());
  EXPECT_EQ(contest(runner)["winner"], "b");
}

TEST(RcvConfig, ContestsFilterAndMaxRankings) {
  Runner runner(rcv(), {{"contests", {"keep"}}, {"max_rankings", 2}});
  ASSERT_TRUE(runner
                  .feed("b-1", rcv_test::cvr({rcv_test::ranked_contest("keep", {{"a"}, {"b"}, {"c"}}),
                                              rcv_test::ranked_contest("drop", {{"a"}})}))
                  .ok());
  const json p = runner.projection();
  EXPECT_EQ(p["contests"].size(), 1u);
  EXPECT_EQ(p["contests"]["keep"]["candidates"], json::parse(R"(["a", "b"])"));
  EXPECT_EQ(p["rules"]["contests"], json::parse(R"(["keep"])"));
  EXPECT_EQ(p["rules"]["max_rankings"], 2);
}

TEST(RcvReject, MalformedCvrsAreRejectedAndChangeNothing) {
  Runner runner(rcv());
  feed(runner, {{"a"}, {"b"}});
  const std::string before = runner.bytes_now();
  json no_snapshot = ranked_cvr({{"a"}});
  no_snapshot.erase("CVRSnapshot");
  json unknown_current = ranked_cvr({{"a"}});
  unknown_current["CurrentSnapshotId"] = "nope";
  json two_without_current = ranked_cvr({{"a"}});
  two_without_current.erase("CurrentSnapshotId");
  two_without_current["CVRSnapshot"].push_back(two_without_current["CVRSnapshot"][0]);
  json rank_zero = ranked_cvr({{"a"}});
  rank_zero["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["Rank"] = 0;
  json rank_text = ranked_cvr({{"a"}});
  rank_text["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["Rank"] = "1";
  json no_selection_id = ranked_cvr({{"a"}});
  no_selection_id["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0].erase("ContestSelectionId");
  json no_contest_id = ranked_cvr({{"a"}});
  no_contest_id["CVRSnapshot"][0]["CVRContest"][0].erase("ContestId");
  for (const json& bad : {no_snapshot, unknown_current, two_without_current, rank_zero, rank_text, no_selection_id,
                          no_contest_id, json("not a map"), json(nullptr)}) {
    auto result = runner.feed("bad", bad);
    EXPECT_EQ(result.status, QUORUM_STATUS_REJECTED) << bad.dump();
    EXPECT_FALSE(result.error.empty());
    EXPECT_EQ(runner.bytes_now(), before);
  }
  EXPECT_NE(runner.feed("bad", no_snapshot).error.find("CVRSnapshot"), std::string::npos);
}

// "cvrs" (an election precinct's flush) equals its CVRs one "cvr" at a time,
// and one bad CVR refuses the whole message without a change.
TEST(RcvBatches, CvrsEqualsItsCvrsOneByOne) {
  const std::vector<Ballot> ballots = {{{"a"}, {"b"}}, {{"b"}}, {{"c"}, {"a"}}, {{"b"}, {"c"}}, {{"a"}}, {{"c"}}};
  Runner one(rcv());
  Runner many(rcv());
  json cvrs = json::array();
  for (const Ballot& ballot : ballots) {
    feed(one, ballot);
    cvrs.push_back(ranked_cvr(ballot));
  }
  auto result = many.feed("batch", {{"cvrs", cvrs}}, "cvrs");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(many.bytes_now(), one.bytes_now());
  EXPECT_EQ(many.projection()["cvrs"], ballots.size());

  const std::string before = many.bytes_now();
  json bad = cvrs;
  bad[3]["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["Rank"] = 0;
  for (const json& data : {json{{"cvrs", bad}}, json{{"cvrs", 1}}, json::object(), json("cvrs")}) {
    auto refused = many.feed("bad", data, "cvrs");
    EXPECT_EQ(refused.status, QUORUM_STATUS_REJECTED) << data.dump();
    EXPECT_EQ(many.bytes_now(), before);
  }
  ASSERT_TRUE(many.feed("none", {{"cvrs", json::array()}}, "cvrs").ok());
  EXPECT_EQ(many.bytes_now(), before);
}

TEST(RcvChaining, OtherMessageTypesPassUnchanged) {
  Runner runner(rcv(), {{"overvote", "skip_to_next"}});
  feed(runner, {{"a"}, {"b"}});
  feed(runner, {{"b"}});
  const std::string before = runner.bytes_now();
  for (const char* type : {"tally", "audit-note", "close-polls"}) {
    auto result = runner.feed("x", {{"anything", 1}}, type);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(runner.bytes_now(), before);
  }
}

TEST(RcvCodec, DecodeEncodeIsTheIdentity) {
  Runner runner(rcv(), {{"max_skipped_ranks", 2}, {"contests", {"z", "contest-1"}}});
  feed(runner, {{"a"}, {"b"}, {"c"}}, 2);
  feed(runner, {{"c"}, {"a", "b"}});
  feed(runner, {{"b"}});
  const std::string& bytes = runner.bytes_now();
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  Rcv::Projection projection;
  Rcv::decode(handle.get(), projection);
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  Rcv::encode(packer, projection);
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), bytes);
}

}  // namespace
