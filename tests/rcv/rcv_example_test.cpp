// The rcv handler on RCTab's own ranked-choice CVR files (tests/data/rctab).
//
// How the expected rounds were derived (independently of this plugin):
// a 40-line Python script, run once by hand and not at test time, read each
// file with the json module, took the CurrentSnapshotId snapshot of every
// CVR, built rank -> {selections} from the SelectionPositions with
// HasIndication "yes" and a Rank, and ran a textbook IRV loop that re-walks
// every raw ballot from rank 1 in every round (overvote rank: exhaust or
// skip; later duplicates skipped; no skipped-rank limit; eliminate the
// fewest, ties by previous rounds then smallest id). Hand check, and for
// test_set_1 also RCTab's published expected summary
// (test_set_1_exhaust_at_overvote_expected_summary.csv in BrightSpots/rcv:
// round 1 B 6, A 5, C 2, D 1, 1 inactive by overvote; round 2 B 6, A 5, C 3;
// round 3 B 8, A 5, 2 inactive; B elected) agree:
//
// test_set_1_exhaust_at_overvote (15 ballots; ballot 1 ranks a and b both
// first, ballot 8 ranks b and d both second):
//   round 1  a 5, b 6, c 2, d 1   exhausted 1 (ballot 1)    d eliminated
//            (ballot 14 d,c,_,b -> c)
//   round 2  a 5, b 6, c 3        exhausted 1               c eliminated
//            (ballots 3 and 14 -> b; ballot 8 reaches its overvote: exhausted)
//   round 3  a 5, b 8             exhausted 2               b elected (8 > 13/2)
// With overvote "skip_to_next" ballot 1 counts for c (rank 3) instead:
//   round 1  a 5, b 6, c 3, d 1   exhausted 0   d eliminated
//   round 2  a 5, b 6, c 4        exhausted 0   c eliminated
//   round 3  a 6, b 8             exhausted 1   b elected
//
// cdf_json_file1 (15 ballots; ballot 1 ranks d first and second, a third):
//   round 1  a 5, b 5, c 3, d 2   exhausted 0   d eliminated
//            (ballot 1: duplicate d skipped -> a; ballot 14 d,c,a -> c)
//   round 2  a 6, b 5, c 4        exhausted 0   c eliminated
//            (ballots 2, 14 -> a; ballots 3, 13 -> b)
//   round 3  a 8, b 7             exhausted 0   a elected (8 > 15/2)
#include "plugins/rcv/rcv.hpp"
#include "rcv_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace {

using quorum::plugins::rcv::Rcv;
using rcv_test::json;
using rcv_test::Runner;

json load(const std::string& name) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/rctab/" + name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in);
}

// Feeds every CVR of an RCTab report, as the host would (one message each).
json run(const std::string& file, const json& config = nullptr) {
  Runner runner(quorum::sdk::descriptor<Rcv>(), config);
  const json report = load(file);  // (a range-for over load(file)["CVR"] would dangle)
  for (const json& cvr : report["CVR"]) {
    auto result = runner.feed(cvr["BallotPrePrintedId"].get<std::string>(), cvr);
    EXPECT_TRUE(result.ok()) << result.error;
  }
  return runner.projection();
}

json round(const json& tally, int exhausted, const char* eliminated, const char* elected, int number) {
  uint64_t continuing = 0;
  for (const auto& [name, votes] : tally.items()) {
    continuing += votes.get<uint64_t>();
  }
  return {{"continuing", continuing},
          {"elected", elected ? json(elected) : json(nullptr)},
          {"eliminated", eliminated ? json(eliminated) : json(nullptr)},
          {"exhausted", exhausted},
          {"round", number},
          {"tally", tally}};
}

TEST(RcvRctab, TestSet1ExhaustAtOvervote) {
  const json p = run("test_set_1_exhaust_at_overvote_cvr.json");
  EXPECT_EQ(p["cvrs"], 15);
  ASSERT_EQ(p["contests"].size(), 1u);
  const json& c = p["contests"]["contest-001"];
  EXPECT_EQ(c["ballots"], 15);
  EXPECT_EQ(c["candidates"], json::parse(R"(["cs-a", "cs-b", "cs-c", "cs-d"])"));
  const json expected = json::array({
      round({{"cs-a", 5}, {"cs-b", 6}, {"cs-c", 2}, {"cs-d", 1}}, 1, "cs-d", nullptr, 1),
      round({{"cs-a", 5}, {"cs-b", 6}, {"cs-c", 3}}, 1, "cs-c", nullptr, 2),
      round({{"cs-a", 5}, {"cs-b", 8}}, 2, nullptr, "cs-b", 3),
  });
  EXPECT_EQ(c["rounds"], expected) << c["rounds"].dump(1);
  EXPECT_EQ(c["winner"], "cs-b");
}

TEST(RcvRctab, TestSet1WithSkipToNextRank) {
  const json p = run("test_set_1_exhaust_at_overvote_cvr.json", {{"overvote", "skip_to_next"}});
  const json& c = p["contests"]["contest-001"];
  const json expected = json::array({
      round({{"cs-a", 5}, {"cs-b", 6}, {"cs-c", 3}, {"cs-d", 1}}, 0, "cs-d", nullptr, 1),
      round({{"cs-a", 5}, {"cs-b", 6}, {"cs-c", 4}}, 0, "cs-c", nullptr, 2),
      round({{"cs-a", 6}, {"cs-b", 8}}, 1, nullptr, "cs-b", 3),
  });
  EXPECT_EQ(c["rounds"], expected) << c["rounds"].dump(1);
  EXPECT_EQ(c["winner"], "cs-b");
}

TEST(RcvRctab, CdfJsonFile1) {
  const json p = run("cdf_json_file1_cvr.json");
  EXPECT_EQ(p["cvrs"], 15);
  const json& c = p["contests"]["contest-001"];
  EXPECT_EQ(c["ballots"], 15);
  const json expected = json::array({
      round({{"cs-a", 5}, {"cs-b", 5}, {"cs-c", 3}, {"cs-d", 2}}, 0, "cs-d", nullptr, 1),
      round({{"cs-a", 6}, {"cs-b", 5}, {"cs-c", 4}}, 0, "cs-c", nullptr, 2),
      round({{"cs-a", 8}, {"cs-b", 7}}, 0, nullptr, "cs-a", 3),
  });
  EXPECT_EQ(c["rounds"], expected) << c["rounds"].dump(1);
  EXPECT_EQ(c["winner"], "cs-a");
  // Ballot 1 (d, d, a) is stored normalised: the duplicate is gone.
  EXPECT_TRUE(std::find(c["rankings"].begin(), c["rankings"].end(), json::parse("[[3, 0], 1]")) !=
              c["rankings"].end())
      << c["rankings"].dump();
}

TEST(RcvRctab, ReplayingInAnyOrderGivesTheSameBytes) {
  for (const char* file : {"test_set_1_exhaust_at_overvote_cvr.json", "cdf_json_file1_cvr.json"}) {
    json cvrs = load(file)["CVR"];
    Runner forward(quorum::sdk::descriptor<Rcv>());
    Runner backward(quorum::sdk::descriptor<Rcv>());
    for (size_t i = 0; i < cvrs.size(); ++i) {
      ASSERT_TRUE(forward.feed(std::to_string(i), cvrs[i]).ok());
      ASSERT_TRUE(backward.feed(std::to_string(i), cvrs[cvrs.size() - 1 - i]).ok());
    }
    EXPECT_EQ(forward.bytes_now(), backward.bytes_now()) << file;
  }
}

}  // namespace
