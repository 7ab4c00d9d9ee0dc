// The formats of GET /v1/results over a built Results model (results.hpp).
#include <quorum/election/results.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace quorum::election {
namespace {

using Json = nlohmann::ordered_json;

std::string dump(const Json& value) {
  // Invalid UTF-8 from a file's names must not make rendering throw.
  return value.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json reporting_json(const Reporting& r) { return Json{{"reported", r.reported}, {"total", r.total}}; }

Json count_json(const Count& c) {
  Json selections = Json::object();
  for (const auto& [sid, votes] : c.selections) {
    selections[sid] = votes;
  }
  return Json{{"ballots", c.ballots},
              {"overvotes", c.overvotes},
              {"undervotes", c.undervotes},
              {"selections", std::move(selections)}};
}

Json rounds_json(const std::vector<RoundResult>& rounds) {
  Json out = Json::array();
  for (const RoundResult& r : rounds) {
    Json tallies = Json::object();
    for (const auto& [sid, n] : r.tallies) {
      tallies[sid] = n;
    }
    out.push_back(Json{{"round", r.round},
                       {"tallies", std::move(tallies)},
                       {"exhausted", r.exhausted},
                       {"eliminated", r.eliminated},
                       {"elected", r.elected ? Json(*r.elected) : Json(nullptr)}});
  }
  return out;
}

Json parties_json(const std::vector<Party>& parties) {
  Json out = Json::array();
  for (const Party& p : parties) {
    out.push_back(Json{{"id", p.id}, {"name", p.name}, {"abbreviation", p.abbreviation}});
  }
  return out;
}

Json model_json(const Results& results) {
  Json contests = Json::array();
  for (const ContestResult& c : results.contests) {
    Json selections = Json::array();
    for (const SelectionResult& s : c.selections) {
      selections.push_back(Json{{"id", s.id},
                                {"name", s.name},
                                {"party", s.party},
                                {"write_in", s.write_in},
                                {"votes", s.votes},
                                {"percent", s.percent}});
    }
    Json contest{{"id", c.id},
                 {"name", c.name},
                 {"kind", c.kind},
                 {"district", Json{{"id", c.district_id}, {"name", c.district_name}}},
                 {"votes_allowed", c.votes_allowed},
                 {"rcv", c.rcv},
                 {"reporting", reporting_json(c.reporting)},
                 {"ballots", c.ballots},
                 {"overvotes", c.overvotes},
                 {"undervotes", c.undervotes},
                 {"selections", std::move(selections)}};
    if (c.rcv) {
      contest["rounds"] = rounds_json(c.rounds);
    }
    contests.push_back(std::move(contest));
  }
  Json out{{"election", Json{{"id", results.id}, {"name", results.name}, {"date", results.date}}},
           {"status", results.status},
           {"updated_ms", results.updated_ms},
           {"reporting", reporting_json(results.reporting)},
           {"contests", std::move(contests)},
           {"parties", parties_json(results.parties)},
           {"audit", Json{{"computed", results.audit.computed},
                          {"units_checked", results.audit.units_checked},
                          {"pending", results.audit.pending},
                          {"differences", results.audit.differences}}}};
  if (results.has_units) {
    Json units = Json::array();
    for (const UnitResult& u : results.units) {
      Json counts = Json::object();
      for (const auto& [cid, count] : u.contests) {
        counts[cid] = count_json(count);
      }
      units.push_back(Json{{"id", u.id},
                           {"name", u.name},
                           {"type", u.type},
                           {"leaf", u.leaf},
                           {"ballots", u.ballots},
                           {"reported", u.reported},
                           {"contests", std::move(counts)}});
    }
    out["units"] = std::move(units);
  }
  return out;
}

// --- NIST SP 1500-100 v2

Json text(const std::string& content) {
  return Json{
      {"@type", "ElectionResults.InternationalizedText"},
      {"Text",
       Json::array({Json{{"@type", "ElectionResults.LanguageString"}, {"Content", content}, {"Language", "en-us"}}})}};
}

const std::set<std::string>& reporting_unit_types() {
  static const std::set<std::string> types = {"ballot-batch",   "ballot-style-area",
                                              "borough",        "city",
                                              "city-council",   "combined-precinct",
                                              "congressional",  "country",
                                              "county",         "county-council",
                                              "drop-box",       "judicial",
                                              "municipality",   "other",
                                              "polling-place",  "precinct",
                                              "school",         "special",
                                              "split-precinct", "state",
                                              "state-house",    "state-senate",
                                              "town",           "township",
                                              "utility",        "village",
                                              "vote-center",    "ward",
                                              "water"};
  return types;
}

Json vote_count(uint64_t count, const std::string& unit, std::optional<uint64_t> round = std::nullopt) {
  Json out{{"@type", "ElectionResults.VoteCounts"}, {"Count", count}, {"GpUnitId", unit}, {"Type", "total"}};
  if (round) {
    out["Round"] = *round;
  }
  return out;
}

// Per contest, the units its counts are listed at: its district unit, then
// every other unit with the contest in scope (roll-ups and leaves), in unit
// order. Certified NIST reports list the election's scope (the county) and
// the precincts, even for a contest whose district is a congressional one;
// every such unit is in scope, so the export holds each certified count
// (and the other roll-ups' counts too). One pass over the units.
using ContestUnits = std::unordered_map<std::string, std::vector<const UnitResult*>>;
ContestUnits units_of_contests(const Results& results) {
  ContestUnits out;
  std::unordered_map<std::string, const UnitResult*> by_id;
  for (const UnitResult& u : results.units) {
    by_id.emplace(u.id, &u);
  }
  for (const ContestResult& c : results.contests) {
    std::vector<const UnitResult*>& units = out[c.id];
    if (auto it = by_id.find(c.district_id); it != by_id.end()) {
      units.push_back(it->second);
    }
  }
  for (const UnitResult& u : results.units) {
    for (const auto& [cid, count] : u.contests) {
      auto it = out.find(cid);
      if (it != out.end() && (it->second.empty() || it->second.front() != &u)) {
        it->second.push_back(&u);
      }
    }
  }
  return out;
}

const Count* count_at(const UnitResult& unit, const std::string& cid) {
  auto it = unit.contests.find(cid);
  return it == unit.contests.end() ? nullptr : &it->second;
}

std::string nist_time(int64_t ms) {
  // DateTimeWithZone: 2026-11-03T20:15:00Z
  std::string iso = iso_time_ms(ms);
  return iso.substr(0, 19) + "Z";
}

Json nist_json(const Results& results) {
  std::unordered_set<std::string> parties;
  Json party_list = Json::array();
  for (const Party& p : results.parties) {
    parties.insert(p.id);
    Json party{{"@id", p.id}, {"@type", "ElectionResults.Party"}, {"Name", text(p.name.empty() ? p.id : p.name)}};
    if (!p.abbreviation.empty()) {
      party["Abbreviation"] = text(p.abbreviation);
    }
    party_list.push_back(std::move(party));
  }
  Json gp_units = Json::array();
  for (const UnitResult& u : results.units) {
    Json unit{
        {"@id", u.id}, {"@type", "ElectionResults.ReportingUnit"}, {"Name", text(u.name.empty() ? u.id : u.name)}};
    if (reporting_unit_types().contains(u.type)) {
      unit["Type"] = u.type;
    } else {
      unit["Type"] = "other";
      if (!u.type.empty()) {
        unit["OtherType"] = u.type;
      }
    }
    if (!u.leaf) {
      unit["SubUnitsReported"] = u.reported_leaves;
      unit["TotalSubUnits"] = u.leaves;
    }
    gp_units.push_back(std::move(unit));
  }
  Json candidates = Json::array();
  for (const Candidate& c : results.candidates) {
    Json candidate{{"@id", c.id}, {"@type", "ElectionResults.Candidate"}, {"BallotName", text(c.name)}};
    if (!c.party.empty() && parties.contains(c.party)) {
      candidate["PartyId"] = c.party;
    }
    candidates.push_back(std::move(candidate));
  }
  Json contests = Json::array();
  const ContestUnits contest_units = units_of_contests(results);
  for (const ContestResult& c : results.contests) {
    const std::vector<const UnitResult*>& units = contest_units.at(c.id);
    std::string type = "ElectionResults.CandidateContest";
    if (c.kind == "party") {
      type = "ElectionResults.PartyContest";
    } else if (c.kind == "ballot-measure") {
      type = "ElectionResults.BallotMeasureContest";
    } else if (c.kind == "retention") {
      type = "ElectionResults.RetentionContest";
    }
    const bool measure = c.kind == "ballot-measure" || c.kind == "retention";
    Json selections = Json::array();
    for (const SelectionResult& s : c.selections) {
      Json counts = Json::array();
      for (const UnitResult* u : units) {
        const Count* count = count_at(*u, c.id);
        uint64_t votes = 0;
        if (count != nullptr) {
          if (auto it = count->selections.find(s.id); it != count->selections.end()) {
            votes = it->second;
          }
        }
        counts.push_back(vote_count(votes, u->id));
      }
      for (const RoundResult& r : c.rounds) {
        if (auto it = r.tallies.find(s.id); it != r.tallies.end()) {
          counts.push_back(vote_count(it->second, c.district_id, r.round));
        }
      }
      Json selection{{"@id", s.id}};
      if (measure) {
        selection["@type"] = "ElectionResults.BallotMeasureSelection";
        selection["Selection"] = text(s.name.empty() ? s.id : s.name);
      } else if (c.kind == "party" && !s.party.empty() && parties.contains(s.party)) {
        selection["@type"] = "ElectionResults.PartySelection";
        selection["PartyIds"] = Json::array({s.party});
      } else {
        selection["@type"] = "ElectionResults.CandidateSelection";
        if (!s.candidates.empty()) {
          selection["CandidateIds"] = s.candidates;
        }
        if (s.write_in) {
          selection["IsWriteIn"] = true;
        }
      }
      selection["VoteCounts"] = std::move(counts);
      selections.push_back(std::move(selection));
    }
    Json other = Json::array();
    for (const UnitResult* u : units) {
      const Count* count = count_at(*u, c.id);
      other.push_back(Json{{"@type", "ElectionResults.OtherCounts"},
                           {"GpUnitId", u->id},
                           {"Overvotes", count != nullptr ? count->overvotes : 0},
                           {"Undervotes", count != nullptr ? count->undervotes : 0}});
    }
    Json contest{{"@id", c.id},
                 {"@type", type},
                 {"ElectionDistrictId", c.district_id},
                 {"Name", c.name.empty() ? c.id : c.name},
                 {"SubUnitsReported", c.reporting.reported},
                 {"TotalSubUnits", c.reporting.total},
                 {"ContestSelection", std::move(selections)},
                 {"OtherCounts", std::move(other)}};
    if (type == "ElectionResults.CandidateContest") {
      contest["VotesAllowed"] = c.votes_allowed;
      if (c.rcv) {
        contest["VoteVariation"] = "rcv";
      }
    }
    if (type == "ElectionResults.RetentionContest") {
      // The candidate retained: the first candidate named by a selection.
      for (const SelectionResult& s : c.selections) {
        if (!s.candidates.empty()) {
          contest["CandidateId"] = s.candidates.front();
          break;
        }
      }
      if (!contest.contains("CandidateId")) {
        contest["@type"] = "ElectionResults.BallotMeasureContest";
      }
    }
    contests.push_back(std::move(contest));
  }
  const std::string generated = nist_time(results.generated_ms);
  const std::string date = results.date.empty() ? generated.substr(0, 10) : results.date;
  std::string scope =
      results.top.empty() ? (results.units.empty() ? std::string() : results.units.front().id) : results.top.front();
  Json election{{"@type", "ElectionResults.Election"},
                {"ElectionScopeId", scope},
                {"StartDate", date},
                {"EndDate", date},
                {"Name", text(results.name.empty() ? results.id : results.name)},
                {"Type", "other"},
                {"OtherType", "not stated in the loaded definition"},
                {"Candidate", std::move(candidates)},
                {"Contest", std::move(contests)}};
  return Json{{"@type", "ElectionResults.ElectionReport"},
              {"Format", "precinct-level"},
              {"GeneratedDate", generated},
              {"Issuer", "Quorum"},
              {"IssuerAbbreviation", "Quorum"},
              {"SequenceStart", 1},
              {"SequenceEnd", 1},
              {"Status", results.status},
              {"VendorApplicationId", "quorumd /v1/results"},
              {"GpUnit", std::move(gp_units)},
              {"Party", std::move(party_list)},
              {"Election", Json::array({std::move(election)})}};
}

// --- AP Elections API v2 shape

Json ap_json(const Results& results) {
  std::unordered_map<std::string, std::string> abbreviation;
  for (const Party& p : results.parties) {
    abbreviation[p.id] = p.abbreviation.empty() ? p.name : p.abbreviation;
  }
  const std::string stamp = iso_time_ms(results.updated_ms > 0 ? results.updated_ms : results.generated_ms);
  Json races = Json::array();
  const ContestUnits contest_units = units_of_contests(results);
  for (const ContestResult& c : results.contests) {
    Json reporting_units = Json::array();
    for (const UnitResult* u : contest_units.at(c.id)) {
      const uint64_t total = u->leaf ? 1 : u->leaves;
      const uint64_t reported = u->leaf ? (u->reported ? 1 : 0) : u->reported_leaves;
      const Count* count = count_at(*u, c.id);
      Json candidates = Json::array();
      uint32_t order = 0;
      for (const SelectionResult& s : c.selections) {
        uint64_t votes = 0;
        if (count != nullptr) {
          if (auto it = count->selections.find(s.id); it != count->selections.end()) {
            votes = it->second;
          }
        }
        const size_t space = s.name.rfind(' ');
        Json candidate{{"first", space == std::string::npos ? std::string() : s.name.substr(0, space)},
                       {"last", space == std::string::npos ? s.name : s.name.substr(space + 1)},
                       {"party", abbreviation.contains(s.party) ? abbreviation[s.party] : s.party},
                       {"candidateID", s.id},
                       {"ballotOrder", ++order},
                       {"voteCount", votes}};
        if (s.write_in) {
          candidate["writeIn"] = true;
        }
        candidates.push_back(std::move(candidate));
      }
      const double pct = total == 0 ? 0.0 : std::round(10000.0 * static_cast<double>(reported) / total) / 100.0;
      reporting_units.push_back(Json{{"reportingunitID", u->id},
                                     {"reportingunitName", u->name.empty() ? u->id : u->name},
                                     {"level", u->id == c.district_id ? "district" : "subunit"},
                                     {"lastUpdated", iso_time_ms(u->updated_ms > 0 ? u->updated_ms : 0)},
                                     {"precinctsReporting", reported},
                                     {"precinctsTotal", total},
                                     {"precinctsReportingPct", pct},
                                     {"candidates", std::move(candidates)}});
    }
    races.push_back(Json{{"test", false},
                         {"raceID", c.id},
                         {"raceType", "General"},
                         {"officeID", c.id},
                         {"officeName", c.name},
                         {"numWinners", c.votes_allowed},
                         {"rcv", c.rcv},
                         {"reportingUnits", std::move(reporting_units)}});
  }
  return Json{{"electionDate", results.date}, {"timestamp", stamp}, {"races", std::move(races)}};
}

// --- CSV (RFC 4180)

void csv_cell(std::string& out, std::string_view cell) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += cell;
    return;
  }
  out.push_back('"');
  for (char c : cell) {
    if (c == '"') {
      out.push_back('"');
    }
    out.push_back(c);
  }
  out.push_back('"');
}

void csv_row(std::string& out, std::initializer_list<std::string_view> cells) {
  bool first = true;
  for (std::string_view cell : cells) {
    if (!first) {
      out.push_back(',');
    }
    first = false;
    csv_cell(out, cell);
  }
  out += "\r\n";
}

}  // namespace

std::string iso_time_ms(int64_t time_ms) {
  if (time_ms < 0) {
    time_ms = 0;
  }
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(time_ms % 1000));
  return buffer;
}

std::optional<ResultsFormat> parse_results_format(std::string_view name) {
  if (name.empty() || name == "json") return ResultsFormat::kJson;
  if (name == "nist-err") return ResultsFormat::kNistErr;
  if (name == "ap") return ResultsFormat::kAp;
  if (name == "csv") return ResultsFormat::kCsv;
  if (name == "audit") return ResultsFormat::kAudit;
  return std::nullopt;
}

bool format_needs_units(ResultsFormat format) { return format != ResultsFormat::kJson; }

std::string_view content_type(ResultsFormat format) {
  return format == ResultsFormat::kCsv ? "text/csv; charset=utf-8" : "application/json";
}

std::string render_json(const Results& results) { return dump(model_json(results)); }
std::string render_nist_err(const Results& results) { return dump(nist_json(results)); }
std::string render_ap(const Results& results) { return dump(ap_json(results)); }

std::string render_csv(const Results& results) {
  std::string out;
  csv_row(out, {"contest_id", "contest_name", "unit_id", "unit_name", "unit_type", "leaf", "reported", "ballots",
                "overvotes", "undervotes", "selection_id", "selection_name", "party", "write_in", "votes"});
  std::unordered_map<std::string, const ContestResult*> contests;
  for (const ContestResult& c : results.contests) {
    contests.emplace(c.id, &c);
  }
  for (const ContestResult& c : results.contests) {
    for (const UnitResult& u : results.units) {
      const Count* count = count_at(u, c.id);
      if (count == nullptr) {
        continue;
      }
      const std::string reported =
          u.leaf ? (u.reported ? "1/1" : "0/1") : std::to_string(u.reported_leaves) + "/" + std::to_string(u.leaves);
      for (const SelectionResult& s : c.selections) {
        auto it = count->selections.find(s.id);
        const uint64_t votes = it == count->selections.end() ? 0 : it->second;
        csv_row(out,
                {c.id, c.name, u.id, u.name, u.type, u.leaf ? "true" : "false", reported,
                 std::to_string(count->ballots), std::to_string(count->overvotes), std::to_string(count->undervotes),
                 s.id, s.name, s.party, s.write_in ? "true" : "false", std::to_string(votes)});
      }
    }
  }
  return out;
}

std::string render_audit(const Results& results) {
  Json units = Json::array();
  std::unordered_map<std::string, uint64_t> leaf_ballots;
  for (const UnitResult& u : results.units) {
    if (u.leaf) {
      for (const std::string& p : u.parents) {
        leaf_ballots[p] += u.ballots;
      }
    }
  }
  for (const UnitResult& u : results.units) {
    if (u.leaf) {
      continue;
    }
    const uint64_t sum = leaf_ballots.contains(u.id) ? leaf_ballots[u.id] : 0;
    units.push_back(Json{{"id", u.id},
                         {"ballots", u.ballots},
                         {"leaf_ballots", sum},
                         {"state", sum == u.ballots ? "checked" : "pending"},
                         {"handler_audit", u.handler_audit}});
  }
  Json out{{"election", results.id},
           {"status", results.status},
           {"computed", results.audit.computed},
           {"units_checked", results.audit.units_checked},
           {"pending", results.audit.pending},
           {"differences", results.audit.differences},
           {"ok", results.audit.differences.empty()},
           {"units", std::move(units)}};
  return dump(out);
}

std::string render(const Results& results, ResultsFormat format) {
  switch (format) {
    case ResultsFormat::kJson:
      return render_json(results);
    case ResultsFormat::kNistErr:
      return render_nist_err(results);
    case ResultsFormat::kAp:
      return render_ap(results);
    case ResultsFormat::kCsv:
      return render_csv(results);
    case ResultsFormat::kAudit:
      return render_audit(results);
  }
  return render_json(results);
}

}  // namespace quorum::election
