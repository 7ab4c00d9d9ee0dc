// NIST CDF test method gen-03 through the election plugin: the two precincts
// and the county configured by hand (parents by the contract's atoms rule,
// computed here from pe-err-gen-03.json), every CVR of cvr-gen-03.json sent
// to its precinct, the deltas delivered; every VoteCounts of prec-ac,
// prec-fs-23 and ru-county-3 in err-gen-03.json must equal the unit
// projections exactly, and so must every OtherCounts over/undervote there.
#include "election.hpp"
#include "election_sim.hpp"
#include "entry.hpp"

#include <quorum/sdk/sdk.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using quorum::test::ElectionSim;
using quorum::test::read_json_file;

const char* const kDir = "nist-cdf-test-method/gen-03/";

struct Gen03 {
  json pe = read_json_file(std::string(kDir) + "pe-err-gen-03.json");
  std::map<std::string, std::set<std::string>> atoms;  // unit -> atoms
  std::set<std::string> leaves;

  Gen03() {
    std::map<std::string, std::vector<std::string>> children;
    for (const json& unit : pe.at("GpUnit")) {
      children[unit.at("@id")] = unit.value("ComposingGpUnitIds", std::vector<std::string>{});
    }
    for (const auto& [id, kids] : children) {
      atoms[id] = atoms_of(id, children, 0);
    }
    for (const json& style : pe.at("Election").at(0).at("BallotStyle")) {
      for (const json& unit : style.at("GpUnitIds")) {
        leaves.insert(unit.get<std::string>());
      }
    }
  }

  static std::set<std::string> atoms_of(const std::string& id,
                                        const std::map<std::string, std::vector<std::string>>& children, int depth) {
    if (depth > 32) {
      throw std::runtime_error("GpUnit cycle");
    }
    const std::vector<std::string>& kids = children.at(id);
    if (kids.empty()) {
      return {id};
    }
    std::set<std::string> out;
    for (const std::string& kid : kids) {
      const std::set<std::string> more = atoms_of(kid, children, depth + 1);
      out.insert(more.begin(), more.end());
    }
    return out;
  }

  std::vector<std::string> parents(const std::string& unit) const {
    std::vector<std::string> out;
    const std::set<std::string>& mine = atoms.at(unit);
    for (const auto& [other, theirs] : atoms) {
      if (other != unit && std::includes(theirs.begin(), theirs.end(), mine.begin(), mine.end())) {
        out.push_back(other);
      }
    }
    return out;  // sorted: std::map order
  }

  json config(const std::string& unit) const {
    json contests = json::object();
    for (const json& contest : pe.at("Election").at(0).at("Contest")) {
      const std::set<std::string>& district = atoms.at(contest.at("ElectionDistrictId"));
      const std::set<std::string>& mine = atoms.at(unit);
      const bool in_scope =
          std::any_of(mine.begin(), mine.end(), [&](const std::string& a) { return district.count(a) != 0; });
      if (in_scope) {
        contests[contest.at("@id").get<std::string>()] = {{"votes_allowed", contest.value("VotesAllowed", 0)},
                                                          {"rcv", false}};
      }
    }
    size_t under = 0;
    for (const std::string& leaf : leaves) {
      const auto p = parents(leaf);
      under += (leaf == unit || std::find(p.begin(), p.end(), unit) != p.end()) ? 1 : 0;
    }
    return quorum::test::unit_config(unit, leaves.count(unit) != 0, parents(unit), contests, under);
  }
};

TEST(ElectionGen03, AtomsRuleGivesTheExpectedParents) {
  const Gen03 gen;
  EXPECT_EQ(gen.leaves, (std::set<std::string>{"prec-ac", "prec-fs-23"}));
  EXPECT_EQ(gen.parents("prec-fs-23"), (std::vector<std::string>{"ru-assembly-1", "ru-congress-1", "ru-county-3"}));
  EXPECT_EQ(gen.parents("prec-ac"), (std::vector<std::string>{"ru-assembly-2", "ru-congress-2", "ru-county-3"}));
  EXPECT_TRUE(gen.parents("ru-county-3").empty());
}

TEST(ElectionGen03, UnitCountsEqualTheCertifiedResultsExactly) {
  const Gen03 gen;
  ElectionSim sim(quorum::plugins::election::descriptor());
  const std::vector<std::string> units = {"prec-ac", "prec-fs-23", "ru-county-3"};
  for (const std::string& unit : units) {
    const auto result = sim.command(quorum::election::unit_key("gen-03", unit), "configure/" + unit, "configure", 1,
                                    {{"election", "gen-03"}, {"unit", gen.config(unit)}});
    ASSERT_TRUE(result.ok()) << unit << ": " << result.error;
  }
  const json cvrs = read_json_file(std::string(kDir) + "cvr-gen-03.json");
  int64_t time = 1730000000000;
  // A flush after every third ballot of a precinct and at the end: each
  // non-empty flush sends one delta per parent.
  std::map<std::string, int> since_flush;
  uint64_t flushes = 0;
  auto flush = [&](const std::string& unit) {
    const auto result = sim.command(quorum::election::unit_key("gen-03", unit), "", "flush", time++, json::object());
    ASSERT_TRUE(result.ok()) << result.error;
    flushes += result.effects.empty() ? 0 : 1;
    since_flush[unit] = 0;
  };
  for (const json& cvr : cvrs.at("CVR")) {
    const std::string unit = cvr.at("BallotStyleUnitId");
    const auto result =
        sim.command(quorum::election::unit_key("gen-03", unit),
                    "cvr/gen-03/" + cvr.at("BallotPrePrintedId").get<std::string>(), "cvr", time++, cvr);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_TRUE(result.effects.empty());  // pending until a flush
    if (++since_flush[unit] == 3) {
      flush(unit);
    }
  }
  flush("prec-ac");
  flush("prec-fs-23");
  EXPECT_EQ(flushes, 8u);  // 10 ballots each: flushes after 3, 6, 9 and the last one
  EXPECT_EQ(sim.pending().size(), 8u * 3u);
  // Deliver the deltas in a scrambled order, some twice (the host's dedup drops those).
  std::mt19937 rng(3);
  std::shuffle(sim.pending().begin(), sim.pending().end(), rng);
  const std::vector<quorum::test::PendingEffect> copy = sim.pending();
  sim.pending().insert(sim.pending().end(), copy.begin(), copy.begin() + 10);
  sim.deliver_all(time);
  EXPECT_EQ(sim.duplicates(), 10u);

  std::map<std::string, json> projections;
  for (const std::string& unit : units) {
    projections[unit] = sim.projection_json(quorum::election::unit_key("gen-03", unit));
  }
  EXPECT_EQ(projections["prec-ac"]["ballots"], 10);
  EXPECT_EQ(projections["prec-fs-23"]["ballots"], 10);
  EXPECT_EQ(projections["ru-county-3"]["ballots"], 20);
  EXPECT_EQ(projections["ru-county-3"]["deltas"], 8);
  EXPECT_EQ(projections["prec-ac"]["pending"]["ballots"], 0);
  // The district units were not configured: their deltas are kept, flagged.
  const json congress = sim.projection_json(quorum::election::unit_key("gen-03", "ru-congress-1"));
  EXPECT_EQ(congress["ballots"], 10);
  EXPECT_EQ(congress["unconfigured_deltas"], 4);

  const json err = read_json_file(std::string(kDir) + "err-gen-03.json");
  size_t vote_counts = 0;
  size_t other_counts = 0;
  for (const json& contest : err.at("Election").at(0).at("Contest")) {
    const std::string cid = contest.at("@id");
    for (const json& selection : contest.at("ContestSelection")) {
      const std::string sid = selection.at("@id");
      for (const json& count : selection.value("VoteCounts", json::array())) {
        const std::string unit = count.at("GpUnitId");
        if (projections.count(unit) == 0) {
          continue;
        }
        const json& counted = projections[unit]["contests"][cid]["selections"];
        ASSERT_TRUE(counted.contains(sid)) << cid << "/" << sid << " @ " << unit;
        EXPECT_EQ(counted[sid], count.at("Count")) << cid << "/" << sid << " @ " << unit;
        ++vote_counts;
      }
      if (selection.value("IsWriteIn", false)) {
        for (const std::string& unit : units) {
          const json& counted = projections[unit]["contests"];
          if (counted.contains(cid) && counted[cid]["selections"].value(sid, 0) > 0) {
            const json& flagged = counted[cid]["write_in_ids"];
            EXPECT_NE(std::find(flagged.begin(), flagged.end(), sid), flagged.end()) << sid << " @ " << unit;
          }
        }
      }
    }
    for (const json& other : contest.value("OtherCounts", json::array())) {
      const std::string unit = other.at("GpUnitId");
      if (projections.count(unit) == 0) {
        continue;
      }
      for (const auto& [name, field] : {std::pair{"Overvotes", "overvotes"}, std::pair{"Undervotes", "undervotes"}}) {
        if (other.contains(name)) {
          EXPECT_EQ(projections[unit]["contests"][cid][field], other.at(name)) << cid << " " << name << " @ " << unit;
          ++other_counts;
        }
      }
    }
  }
  // gen-03 certifies 53 VoteCounts and 20 OtherCounts (each with over and
  // under), all for these three units.
  EXPECT_EQ(vote_counts, 53u);
  EXPECT_EQ(other_counts, 40u);
}

}  // namespace
