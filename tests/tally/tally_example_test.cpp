// The NIST CDF test method elections, end to end: every CVR fed as a "cvr"
// message to the tally actor of its precinct (BallotStyleUnitId); the
// projections must equal the certified results (ERR) exactly.
//
// gen-03: 20 CVRs, 2 precincts, 8 contests, write-ins. Every VoteCounts and
//   OtherCounts entry matches: precinct GpUnits against the precinct actors,
//   the county (ru-county-3) against the sum over precinct actors.
// gen-01: 40 CVRs, straight-party voting, split and combined precincts,
//   vote-for-2. cvr-gen-01.json is the expanded file: the straight-party
//   votes a voter's party mark implies are already present as positions
//   with Status "generated-rules" (IsAllocable "yes"), so a plain tally of it
//   matches every certified count (VoteCounts of all 19 contests including
//   the PartyContest spc-1, and Overvotes/Undervotes) exactly.
//   raw-cvr-gen-01.json, the same ballots before expansion, can NOT match:
//   the tally counts marks as recorded and does not apply straight-party
//   rules (that is a jurisdiction's rule, for a custom plugin or the
//   tabulator's expansion step). The raw test below pins exactly that: the
//   contests without partisan candidates (spc-1, the measures, dog catcher)
//   match, and no partisan count exceeds the certified one.
#include "plugin_harness.hpp"
#include "tally.hpp"

#include <quorum/sdk/sdk.hpp>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace {

using quorum::test::Actor;
using quorum::test::read_json_file;

struct ElectionRun {
  std::map<std::string, Actor> actors;  // by precinct
  std::map<std::string, nlohmann::json> projections;
  std::map<std::string, std::map<std::string, uint64_t>> contest_ballots;  // precinct -> contest -> ballots
  std::map<std::string, uint64_t> ballots;                                 // precinct -> ballots
};

// Feeds every CVR of `file` to its precinct's actor of `plugin`.
ElectionRun run(const quorum_plugin_descriptor& plugin, const std::string& file) {
  const nlohmann::json report = read_json_file(file);
  ElectionRun result;
  int64_t time = 1730000000000;
  for (const nlohmann::json& cvr : report.at("CVR")) {
    const std::string precinct = cvr.at("BallotStyleUnitId");
    auto [it, fresh] = result.actors.try_emplace(precinct, plugin, precinct);
    const auto outcome = it->second.feed(cvr.at("BallotPrePrintedId").get<std::string>(), "cvr", time++, cvr);
    EXPECT_TRUE(outcome.ok()) << outcome.error;
    result.ballots[precinct] += 1;
    std::set<std::string> contests;
    for (const auto& snapshot : cvr.at("CVRSnapshot")) {
      if (snapshot.at("@id") == cvr.at("CurrentSnapshotId")) {
        for (const auto& contest : snapshot.at("CVRContest")) {
          contests.insert(contest.at("ContestId").get<std::string>());
        }
      }
    }
    for (const std::string& contest : contests) {
      result.contest_ballots[precinct][contest] += 1;
    }
  }
  for (auto& [precinct, actor] : result.actors) {
    result.projections[precinct] = actor.projection_json();
  }
  return result;
}

// A contest's field in a precinct projection (0 when the precinct never saw the contest).
uint64_t field(const ElectionRun& run, const std::string& precinct, const std::string& contest, const std::string& name) {
  const nlohmann::json& contests = run.projections.at(precinct).at("contests");
  return contests.contains(contest) ? contests[contest].at(name).get<uint64_t>() : 0;
}

uint64_t votes(const ElectionRun& run, const std::string& precinct, const std::string& contest,
               const std::string& selection) {
  const nlohmann::json& contests = run.projections.at(precinct).at("contests");
  if (!contests.contains(contest) || !contests[contest]["selections"].contains(selection)) {
    return 0;
  }
  return contests[contest]["selections"][selection].get<uint64_t>();
}

// The value for a GpUnit: the precinct's own actor, or the sum over all
// precinct actors for the county (a GpUnit that is not an actor).
template <class Get>
uint64_t for_unit(const ElectionRun& run, const std::string& unit, Get get) {
  if (run.projections.count(unit) != 0) {
    return get(unit);
  }
  uint64_t total = 0;
  for (const auto& [precinct, projection] : run.projections) {
    total += get(precinct);
  }
  return total;
}

// Every certified count of `err_file` equals the tally; and the tally has
// no non-zero count the certification lacks. Returns how many counts matched.
size_t expect_certified(const ElectionRun& tally, const std::string& err_file) {
  const nlohmann::json err = read_json_file(err_file);
  size_t checked = 0;
  std::set<std::pair<std::string, std::string>> certified_selections;
  for (const nlohmann::json& contest : err.at("Election").at(0).at("Contest")) {
    const std::string cid = contest.at("@id");
    std::map<std::string, uint64_t> write_ins_by_unit;
    for (const nlohmann::json& selection : contest.at("ContestSelection")) {
      const std::string sid = selection.at("@id");
      certified_selections.insert({cid, sid});
      for (const nlohmann::json& count : selection.value("VoteCounts", nlohmann::json::array())) {
        const std::string unit = count.at("GpUnitId");
        const uint64_t expected = count.at("Count");
        const uint64_t got = for_unit(tally, unit, [&](const std::string& p) { return votes(tally, p, cid, sid); });
        EXPECT_EQ(got, expected) << cid << " / " << sid << " @ " << unit;
        if (selection.value("IsWriteIn", false)) {
          write_ins_by_unit[unit] += expected;
        }
        ++checked;
      }
    }
    for (const nlohmann::json& other : contest.value("OtherCounts", nlohmann::json::array())) {
      const std::string unit = other.at("GpUnitId");
      for (const char* name : {"Overvotes", "Undervotes"}) {
        if (!other.contains(name)) {
          continue;
        }
        const std::string key = name == std::string("Overvotes") ? "overvotes" : "undervotes";
        const uint64_t got = for_unit(tally, unit, [&](const std::string& p) { return field(tally, p, cid, key); });
        EXPECT_EQ(got, other.at(name).get<uint64_t>()) << cid << " " << name << " @ " << unit;
        ++checked;
      }
      const uint64_t write_ins =
          for_unit(tally, unit, [&](const std::string& p) { return field(tally, p, cid, "write_ins"); });
      EXPECT_EQ(write_ins, write_ins_by_unit[unit]) << cid << " write-ins @ " << unit;
    }
  }
  // Nothing tallied that is not certified.
  for (const auto& [precinct, projection] : tally.projections) {
    for (const auto& [cid, contest] : projection.at("contests").items()) {
      for (const auto& [sid, count] : contest.at("selections").items()) {
        if (count.get<uint64_t>() > 0) {
          EXPECT_TRUE(certified_selections.count({cid, sid})) << "uncertified " << cid << " / " << sid;
        }
      }
    }
  }
  return checked;
}

TEST(TallyGen03, EqualsTheCertifiedResultsExactly) {
  const ElectionRun tally = run(*quorum::sdk::descriptor<quorum::plugins::Tally1>(),
                                "nist-cdf-test-method/gen-03/cvr-gen-03.json");
  ASSERT_EQ(tally.projections.size(), 2u);
  EXPECT_EQ(tally.projections.at("prec-fs-23").at("ballots"), 10);
  EXPECT_EQ(tally.projections.at("prec-ac").at("ballots"), 10);
  const size_t checked = expect_certified(tally, "nist-cdf-test-method/gen-03/err-gen-03.json");
  EXPECT_EQ(checked, 53u + 40u);  // 53 VoteCounts, 20 OtherCounts x (over, under)
}

TEST(TallyGen03, SchemaTwoAddsBallotsPerContestAndKeepsEveryCount) {
  const auto* v2 = quorum::sdk::descriptor<quorum::plugins::Tally2>();
  const ElectionRun tally = run(*v2, "nist-cdf-test-method/gen-03/cvr-gen-03.json");
  expect_certified(tally, "nist-cdf-test-method/gen-03/err-gen-03.json");
  for (const auto& [precinct, contests] : tally.contest_ballots) {
    EXPECT_EQ(tally.projections.at(precinct).at("schema"), 2);
    for (const auto& [cid, ballots] : contests) {
      EXPECT_EQ(field(tally, precinct, cid, "ballots"), ballots) << precinct << " " << cid;
    }
  }
  EXPECT_EQ(field(tally, "prec-ac", "cc-president", "ballots"), 10u);
  // Schema 1 has no per-contest ballots.
  const ElectionRun v1 = run(*quorum::sdk::descriptor<quorum::plugins::Tally1>(),
                             "nist-cdf-test-method/gen-03/cvr-gen-03.json");
  EXPECT_FALSE(v1.projections.at("prec-ac").at("contests").at("cc-president").contains("ballots"));
}

TEST(TallyGen01, ExpandedCvrsEqualTheCertifiedResultsExactly) {
  const ElectionRun tally = run(*quorum::sdk::descriptor<quorum::plugins::Tally2>(),
                                "nist-cdf-test-method/gen-01/cvr-gen-01.json");
  EXPECT_EQ(tally.projections.size(), 4u);  // cp-1-4-5-6, cp-3-7-8-9, ps-2a, ps-2b
  const size_t checked = expect_certified(tally, "nist-cdf-test-method/gen-01/err-gen-01.json");
  EXPECT_GT(checked, 200u);
  // The vote-for-2 contest and the party contest, spot-checked by hand.
  EXPECT_EQ(votes(tally, "ps-2a", "cc-county-assessor", "cs-county-assessor-db-wi"), 4u);
  EXPECT_EQ(field(tally, "ps-2b", "spc-1", "undervotes"), 7u);
}

TEST(TallyGen01, RawCvrsWithoutStraightPartyExpansionFallShortOnlyInPartisanContests) {
  const ElectionRun raw = run(*quorum::sdk::descriptor<quorum::plugins::Tally1>(),
                              "nist-cdf-test-method/gen-01/raw-cvr-gen-01.json");
  const nlohmann::json err = read_json_file("nist-cdf-test-method/gen-01/err-gen-01.json");
  const std::set<std::string> non_partisan = {"spc-1", "bm-proposal-1", "bm-proposal-2", "bm-proposal-3",
                                              "cc-dog-catcher"};
  size_t short_counts = 0;
  for (const nlohmann::json& contest : err.at("Election").at(0).at("Contest")) {
    const std::string cid = contest.at("@id");
    for (const nlohmann::json& selection : contest.at("ContestSelection")) {
      const std::string sid = selection.at("@id");
      for (const nlohmann::json& count : selection.value("VoteCounts", nlohmann::json::array())) {
        const std::string unit = count.at("GpUnitId");
        const uint64_t certified = count.at("Count");
        const uint64_t got = for_unit(raw, unit, [&](const std::string& p) { return votes(raw, p, cid, sid); });
        if (non_partisan.count(cid)) {
          EXPECT_EQ(got, certified) << cid << " / " << sid << " @ " << unit;
        } else {
          EXPECT_LE(got, certified) << cid << " / " << sid << " @ " << unit;
          short_counts += got < certified ? 1 : 0;
        }
      }
    }
  }
  EXPECT_GT(short_counts, 0u);  // straight-party votes are what is missing
}

}  // namespace
