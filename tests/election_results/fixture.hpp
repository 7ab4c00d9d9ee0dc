// A hand-built election for the results tests: the projections the
// `election` and `rcv` plugins would leave on each actor
// (/work/notes/s13-election-spec.md layouts), written with nlohmann's
// msgpack encoder, in three phases:
//   0  loaded, no ballots
//   1  prec-a counted 3 ballots and reported (closed)
//   2  prec-b counted 2 ballots and reported too (complete)
// Units: county (roll-up, the district of every contest, top), prec-a and
// prec-b (leaves), ward-9 (a roll-up no leaf lands in: leaves 0). Contests:
// mayor (vote for 1, write-in), prop-1 (ballot measure, only on prec-b's
// ballots), council (ranked choice, rounds from the rcv projection).
#pragma once

#include <quorum/election/keys.hpp>
#include <quorum/election/results.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace quorum::election::testing {

using nlohmann::json;

inline std::string pack(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return {bytes.begin(), bytes.end()};
}

inline const char* kEid = "demo-2026";

inline json definition() {
  return json{
      {"id", kEid},
      {"name", "Demo County General, 2026"},
      {"date", "2026-11-03"},
      {"source", "nist"},
      {"units", 4},
      {"leaves", 2},
      {"pages", 1},
      {"top", {"county"}},
      {"contests",
       {{{"id", "mayor"},
         {"name", "Mayor"},
         {"kind", "candidate"},
         {"district", "county"},
         {"votes_allowed", 1},
         {"rcv", false},
         {"ranks", 0},
         {"selections",
          {{{"id", "cs-alice"},
            {"name", "Alice Adams"},
            {"candidates", {"can-alice"}},
            {"party", "par-dem"},
            {"write_in", false}},
           {{"id", "cs-bob"},
            {"name", "Bob Brown"},
            {"candidates", {"can-bob"}},
            {"party", "par-rep"},
            {"write_in", false}},
           {{"id", "cs-wi"}, {"name", "Write-in"}, {"candidates", json::array()}, {"party", ""}, {"write_in", true}}}}},
        {{"id", "prop-1"},
         {"name", "Proposition 1, \"Parks\""},
         {"kind", "ballot-measure"},
         {"district", "county"},
         {"votes_allowed", 1},
         {"rcv", false},
         {"ranks", 0},
         {"selections",
          {{{"id", "prop-1-yes"}, {"name", "Yes"}, {"candidates", json::array()}, {"party", ""}, {"write_in", false}},
           {{"id", "prop-1-no"}, {"name", "No"}, {"candidates", json::array()}, {"party", ""}, {"write_in", false}}}}},
        {{"id", "council"},
         {"name", "City Council"},
         {"kind", "candidate"},
         {"district", "county"},
         {"votes_allowed", 1},
         {"rcv", true},
         {"ranks", 3},
         {"selections",
          {{{"id", "c1"}, {"name", "Carol Chen"}, {"candidates", {"can-c1"}}, {"party", ""}, {"write_in", false}},
           {{"id", "c2"}, {"name", "Dan Diaz"}, {"candidates", {"can-c2"}}, {"party", ""}, {"write_in", false}},
           {{"id", "c3"}, {"name", "Eve Evans"}, {"candidates", {"can-c3"}}, {"party", ""}, {"write_in", false}}}}}}},
      {"candidates",
       {{{"id", "can-alice"}, {"name", "Alice Adams"}, {"party", "par-dem"}},
        {{"id", "can-bob"}, {"name", "Bob Brown"}, {"party", "par-rep"}},
        {{"id", "can-c1"}, {"name", "Carol Chen"}, {"party", ""}},
        {{"id", "can-c2"}, {"name", "Dan Diaz"}, {"party", ""}},
        {{"id", "can-c3"}, {"name", "Eve Evans"}, {"party", ""}}}},
      {"parties",
       {{{"id", "par-dem"}, {"name", "Democratic"}, {"abbreviation", "DEM"}},
        {{"id", "par-rep"}, {"name", "Republican"}, {"abbreviation", "REP"}}}}};
}

inline json unit_config(const std::string& id) {
  const json plain{{"votes_allowed", 1}, {"rcv", false}};
  const json ranked{{"votes_allowed", 1}, {"rcv", true}};
  if (id == "county") {
    return {{"id", "county"},
            {"name", "Demo County"},
            {"type", "county"},
            {"leaf", false},
            {"parents", json::array()},
            {"leaves", 2},
            {"contests", {{"council", ranked}, {"mayor", plain}, {"prop-1", plain}}}};
  }
  if (id == "prec-a") {
    return {{"id", "prec-a"},
            {"name", "Precinct A"},
            {"type", "precinct"},
            {"leaf", true},
            {"parents", {"county"}},
            {"leaves", 1},
            {"contests", {{"council", ranked}, {"mayor", plain}}}};
  }
  if (id == "prec-b") {
    return {{"id", "prec-b"},
            {"name", "Precinct B"},
            {"type", "precinct"},
            {"leaf", true},
            {"parents", {"county"}},
            {"leaves", 1},
            {"contests", {{"council", ranked}, {"mayor", plain}, {"prop-1", plain}}}};
  }
  return {{"id", "ward-9"},
          {"name", "Ward 9"},
          {"type", "ward"},
          {"leaf", false},
          {"parents", json::array()},
          {"leaves", 0},
          {"contests", {{"mayor", plain}}}};
}

inline const std::vector<std::string>& unit_ids() {
  static const std::vector<std::string> ids = {"county", "prec-a", "prec-b", "ward-9"};
  return ids;
}

inline json contest_count(uint64_t ballots, uint64_t over, uint64_t under, json selections) {
  return {{"ballots", ballots},
          {"overvotes", over},
          {"undervotes", under},
          {"selections", std::move(selections)},
          {"write_in_ids", json::array()}};
}

// prec-a's and prec-b's counts (each leaf's ballots).
inline json leaf_contests(const std::string& id) {
  if (id == "prec-a") {
    return {{"mayor", contest_count(3, 0, 0, {{"cs-alice", 2}, {"cs-bob", 1}})},
            {"council", contest_count(3, 0, 0, {{"c1", 1}, {"c2", 1}, {"c3", 1}})}};
  }
  return {{"mayor", contest_count(2, 0, 0, {{"cs-bob", 1}, {"cs-wi", 1}})},
          {"prop-1", contest_count(2, 0, 1, {{"prop-1-yes", 1}})},
          {"council", contest_count(2, 0, 0, {{"c2", 2}})}};
}

inline json unit_projection(const std::string& id, int phase) {
  json p{{"kind", "unit"},    {"config", unit_config(id)}, {"ballots", 0}, {"contests", json::object()},
         {"reported", false}, {"reported_ballots", 0},     {"reported_leaves", 0}, {"deltas", 0},
         {"unconfigured_deltas", 0}, {"updated_ms", 0}};
  const bool a = phase >= 1;
  const bool b = phase >= 2;
  if (id == "prec-a" && a) {
    p["ballots"] = 3;
    p["contests"] = leaf_contests(id);
    p["reported"] = true;
    p["reported_leaves"] = 1;
    p["updated_ms"] = 1'793'730'000'000;
  } else if (id == "prec-b" && b) {
    p["ballots"] = 2;
    p["contests"] = leaf_contests(id);
    p["reported"] = true;
    p["reported_leaves"] = 1;
    p["updated_ms"] = 1'793'733'600'000;
  } else if (id == "county" && a) {
    // The sum of its leaves' deltas.
    json sum = leaf_contests("prec-a");
    uint64_t ballots = 3;
    if (b) {
      ballots += 2;
      const json b_contests = leaf_contests("prec-b");
      for (const auto& [cid, count] : b_contests.items()) {
        json& into = sum[cid];
        if (into.is_null()) {
          into = contest_count(0, 0, 0, json::object());
        }
        for (const char* field : {"ballots", "overvotes", "undervotes"}) {
          into[field] = into[field].get<uint64_t>() + count[field].get<uint64_t>();
        }
        for (const auto& [sid, votes] : count["selections"].items()) {
          into["selections"][sid] = into["selections"].value(sid, uint64_t{0}) + votes.get<uint64_t>();
        }
      }
    }
    p["ballots"] = ballots;
    p["contests"] = sum;
    p["reported_leaves"] = b ? 2 : 1;
    p["reported_ballots"] = ballots;  // every delta of its reported leaves arrived
    p["deltas"] = b ? 2 : 1;
    p["updated_ms"] = b ? 1'793'733'600'000 : 1'793'730'000'000;
  }
  return p;
}

inline json election_projection(int phase) {
  return {{"kind", "election"},
          {"definition", definition()},
          {"reported_leaves", phase},
          {"updated_ms", phase == 0 ? 0 : (phase == 1 ? 1'793'730'000'000 : 1'793'733'600'000)}};
}

inline json directory_projection() {
  json units = json::array();
  for (const std::string& id : unit_ids()) {
    units.push_back(unit_config(id));
  }
  return {{"kind", "directory"}, {"page", 0}, {"units", units}};
}

inline json round(uint64_t k, json tally, uint64_t exhausted, json eliminated, json elected) {
  uint64_t continuing = 0;
  for (auto& [id, n] : tally.items()) {
    continuing += n.get<uint64_t>();
  }
  return {{"continuing", continuing},
          {"elected", std::move(elected)},
          {"eliminated", std::move(eliminated)},
          {"exhausted", exhausted},
          {"round", k},
          {"tally", std::move(tally)}};
}

inline json rcv_projection(int phase) {
  json rounds = json::array();
  uint64_t ballots = 0;
  if (phase == 1) {
    ballots = 3;
    rounds.push_back(round(1, {{"c1", 1}, {"c2", 1}, {"c3", 1}}, 0, "c3", nullptr));
    rounds.push_back(round(2, {{"c1", 2}, {"c2", 1}}, 0, nullptr, "c1"));
  } else if (phase == 2) {
    ballots = 5;
    rounds.push_back(round(1, {{"c1", 1}, {"c2", 3}, {"c3", 1}}, 0, nullptr, "c2"));
  }
  json contests = json::object();
  if (ballots > 0) {
    contests["council"] = {{"ballots", ballots},
                           {"candidates", {"c1", "c2", "c3"}},
                           {"rankings", json::array()},
                           {"rounds", rounds},
                           {"winner", rounds.back()["elected"]}};
  }
  return {{"contests", contests},
          {"cvrs", ballots},
          {"rules",
           {{"contests", nullptr},
            {"duplicates", "skip"},
            {"max_rankings", nullptr},
            {"max_skipped_ranks", nullptr},
            {"overvote", "exhaust_immediately"},
            {"tie_break", "previous_rounds_then_lexical"}}}};
}

inline json registry_projection() {
  return {{"kind", "registry"},
          {"elections", {{{"id", "older-1"}, {"name", "Older"}}, {{"id", kEid}, {"name", "Demo"}}}}};
}

// Actor key -> handler slot -> projection bytes, as a node would hold them.
inline std::map<std::string, std::map<std::string, std::string>> actors(int phase) {
  std::map<std::string, std::map<std::string, std::string>> out;
  out[std::string(kElectionsKey)]["election"] = pack(registry_projection());
  out[election_key(kEid)]["election"] = pack(election_projection(phase));
  out[directory_key(kEid, 0)]["election"] = pack(directory_projection());
  for (const std::string& id : unit_ids()) {
    out[unit_key(kEid, id)]["election"] = pack(unit_projection(id, phase));
  }
  if (phase > 0) {
    out[contest_key(kEid, "council")]["election"] = pack(json{{"kind", "contest"}, {"ballots", phase == 1 ? 3 : 5}});
    out[contest_key(kEid, "council")]["rcv"] = pack(rcv_projection(phase));
  }
  return out;
}

// The builder's input straight from the projections (what the gatherer reads
// with all_units).
inline ResultsInput input(int phase, bool all_units = true) {
  ResultsInput in;
  in.election_id = kEid;
  in.election = pack(election_projection(phase));
  in.all_units = all_units;
  in.now_ms = 1'793'740'000'000;
  if (all_units) {
    in.directory_pages.push_back(pack(directory_projection()));
    for (const std::string& id : unit_ids()) {
      in.units[id] = pack(unit_projection(id, phase));
    }
  } else {
    in.units["county"] = pack(unit_projection("county", phase));
  }
  if (phase > 0) {
    in.rcv["council"] = pack(rcv_projection(phase));
  }
  return in;
}

}  // namespace quorum::election::testing
