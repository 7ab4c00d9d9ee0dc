// Projections rebuilt from a CERTIFIED NIST SP 1500-100 results file
// (tests/data/nist-cdf-test-method/gen-0N/err-gen-0N.json): the definition
// from its contests, candidates and parties; one unit per GpUnit; each unit's
// counts from the file's VoteCounts / OtherCounts at that unit. Leaves are
// the units its BallotStyles name (the spec's rule); a leaf's contests in
// scope are those the file counts there. So rendering nist-err from these
// projections must list the same counts at the same units as the file.
#pragma once

#include "election_results/fixture.hpp"

#include <quorum/election/results.hpp>

#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

namespace quorum::election::testing {

inline std::string text_of(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_object() && value.contains("Text") && !value["Text"].empty()) {
    return value["Text"][0].value("Content", "");
  }
  return {};
}

inline json load_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  return json::parse(in);
}

inline ResultsInput certified_input(const json& err, const std::string& eid) {
  const json& election = err["Election"][0];
  std::set<std::string> leaves;
  for (const json& style : election.value("BallotStyle", json::array())) {
    for (const json& unit : style["GpUnitIds"]) {
      leaves.insert(unit.get<std::string>());
    }
  }
  // unit -> contest -> count map (selections, overvotes, undervotes)
  std::map<std::string, json> counts;
  json contests = json::array();
  for (const json& c : election["Contest"]) {
    const std::string type = c["@type"];
    const std::string cid = c["@id"];
    std::string kind = "other";
    if (type == "ElectionResults.CandidateContest") kind = "candidate";
    if (type == "ElectionResults.PartyContest") kind = "party";
    if (type == "ElectionResults.BallotMeasureContest") kind = "ballot-measure";
    if (type == "ElectionResults.RetentionContest") kind = "retention";
    json selections = json::array();
    for (const json& s : c.value("ContestSelection", json::array())) {
      const std::string sid = s["@id"];
      std::string name = text_of(s.value("Selection", json()));
      std::string party;
      if (s.contains("PartyIds")) {
        party = s["PartyIds"][0];
      }
      selections.push_back({{"id", sid},
                            {"name", name},
                            {"candidates", s.value("CandidateIds", json::array())},
                            {"party", party},
                            {"write_in", s.value("IsWriteIn", false)}});
      for (const json& vc : s.value("VoteCounts", json::array())) {
        json& at = counts[vc["GpUnitId"].get<std::string>()][cid];
        if (at.is_null()) {
          at = contest_count(0, 0, 0, json::object());
        }
        at["selections"][sid] = vc["Count"];
      }
    }
    for (const json& oc : c.value("OtherCounts", json::array())) {
      json& at = counts[oc["GpUnitId"].get<std::string>()][cid];
      if (at.is_null()) {
        at = contest_count(0, 0, 0, json::object());
      }
      at["overvotes"] = oc.value("Overvotes", 0);
      at["undervotes"] = oc.value("Undervotes", 0);
    }
    contests.push_back({{"id", cid},
                        {"name", text_of(c["Name"])},
                        {"kind", kind},
                        {"district", c["ElectionDistrictId"]},
                        {"votes_allowed", c.value("VotesAllowed", 0)},
                        {"rcv", false},
                        {"ranks", 0},
                        {"selections", selections}});
  }
  json candidates = json::array();
  for (const json& c : election.value("Candidate", json::array())) {
    candidates.push_back({{"id", c["@id"]}, {"name", text_of(c["BallotName"])}, {"party", c.value("PartyId", "")}});
  }
  json parties = json::array();
  for (const json& p : err.value("Party", json::array())) {
    parties.push_back({{"id", p["@id"]}, {"name", text_of(p["Name"])}, {"abbreviation", ""}});
  }
  const std::string scope = election["ElectionScopeId"];
  json units = json::array();
  ResultsInput in;
  in.election_id = eid;
  in.all_units = true;
  in.now_ms = 1'700'000'000'000;
  for (const json& g : err["GpUnit"]) {
    const std::string id = g["@id"];
    const bool leaf = leaves.contains(id);
    json scope_contests = json::object();
    for (const json& c : contests) {
      if (!leaf ? id == scope : counts[id].contains(c["id"].get<std::string>())) {
        scope_contests[c["id"].get<std::string>()] = {{"votes_allowed", c["votes_allowed"]}, {"rcv", false}};
      }
    }
    json config{{"id", id},
                {"name", text_of(g.value("Name", json()))},
                {"type", g.value("Type", "other")},
                {"leaf", leaf},
                {"parents", leaf ? json::array({scope}) : json::array()},
                {"leaves", leaf ? 1 : (id == scope ? leaves.size() : 0)},
                {"contests", scope_contests}};
    units.push_back(config);
    json unit_contests = counts.contains(id) ? counts[id] : json::object();
    in.units[id] = pack(json{{"kind", "unit"},
                             {"config", config},
                             {"ballots", 0},
                             {"contests", unit_contests},
                             {"reported", leaf},
                             {"reported_leaves", leaf ? 1 : (id == scope ? leaves.size() : 0)},
                             {"deltas", 0},
                             {"unconfigured_deltas", 0},
                             {"updated_ms", 0}});
  }
  in.directory_pages.push_back(pack(json{{"kind", "directory"}, {"page", 0}, {"units", units}}));
  json definition{{"id", eid},
                  {"name", text_of(election["Name"])},
                  {"date", election.value("StartDate", "")},
                  {"source", "nist"},
                  {"units", units.size()},
                  {"leaves", leaves.size()},
                  {"pages", 1},
                  {"top", {scope}},
                  {"contests", contests},
                  {"candidates", candidates},
                  {"parties", parties}};
  in.election = pack(
      json{{"kind", "election"}, {"definition", definition}, {"reported_leaves", leaves.size()}, {"updated_ms", 0}});
  return in;
}

}  // namespace quorum::election::testing
