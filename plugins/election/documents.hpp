// The election's documents as commands carry them (docs/election-actors.md,
// the issue 6 contract): the definition, a unit's configuration and a
// directory page. Each reader checks types and the invariants the handler
// relies on and returns an error text (empty on success); none throws for a
// well-formed msgpack value of the wrong shape. Unknown keys are allowed and
// kept (the documents are stored canonically, as received).
#pragma once

#include <quorum/sdk/msgpack_reader.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins::election {

inline constexpr size_t kMaxIdBytes = 1024;        // any unit, contest, selection, candidate or party id
inline constexpr size_t kMaxParents = 10000;       // parents of one unit
inline constexpr size_t kMaxUnitContests = 10000;  // contests in scope of one unit

namespace documents_detail {

using quorum::sdk::MsgEntry;
using quorum::sdk::MsgView;

// A required field of `map`, or nullopt (and `error` set) when absent.
inline std::optional<MsgView> field(const MsgView& map, std::string_view key, std::string_view what,
                                    std::string& error) {
  std::optional<MsgView> value = map.find(key);
  if (!value) {
    error = what.empty() ? "missing '" + std::string(key) + "'"
                         : std::string(what) + ": missing '" + std::string(key) + "'";
  }
  return value;
}

inline std::string prefixed(std::string_view what, const std::string& text) {
  return what.empty() ? text : std::string(what) + ": " + text;
}

inline bool read_string(const MsgView& map, std::string_view key, std::string_view what, std::string& out,
                        std::string& error, bool non_empty = false) {
  const std::optional<MsgView> value = field(map, key, what, error);
  if (!value) {
    return false;
  }
  const std::optional<std::string_view> text = value->as_string();
  if (!text) {
    error = prefixed(what, "'" + std::string(key) + "' must be a string");
    return false;
  }
  if (non_empty && (text->empty() || text->size() > kMaxIdBytes)) {
    error = prefixed(what, "'" + std::string(key) + "' must be 1.." + std::to_string(kMaxIdBytes) + " bytes");
    return false;
  }
  out.assign(*text);
  return true;
}

inline bool read_uint(const MsgView& map, std::string_view key, std::string_view what, uint64_t& out,
                      std::string& error) {
  const std::optional<MsgView> value = field(map, key, what, error);
  if (!value) {
    return false;
  }
  const std::optional<uint64_t> number = value->as_uint();
  if (!number) {
    error = prefixed(what, "'" + std::string(key) + "' must be a non-negative integer");
    return false;
  }
  out = *number;
  return true;
}

inline bool read_bool(const MsgView& map, std::string_view key, std::string_view what, bool& out, std::string& error) {
  const std::optional<MsgView> value = field(map, key, what, error);
  if (!value) {
    return false;
  }
  const std::optional<bool> flag = value->as_bool();
  if (!flag) {
    error = prefixed(what, "'" + std::string(key) + "' must be a boolean");
    return false;
  }
  out = *flag;
  return true;
}

// An array of id strings (each 1..kMaxIdBytes).
inline bool read_ids(const MsgView& map, std::string_view key, std::string_view what, std::vector<std::string>& out,
                     std::string& error) {
  const std::optional<MsgView> value = field(map, key, what, error);
  if (!value) {
    return false;
  }
  if (!value->is_array()) {
    error = prefixed(what, "'" + std::string(key) + "' must be an array of strings");
    return false;
  }
  for (const MsgView& element : value->elements()) {
    const std::optional<std::string_view> text = element.as_string();
    if (!text || text->empty() || text->size() > kMaxIdBytes) {
      error = prefixed(
          what, "'" + std::string(key) + "' must hold ids (strings of 1.." + std::to_string(kMaxIdBytes) + " bytes)");
      return false;
    }
    out.emplace_back(*text);
  }
  return true;
}

}  // namespace documents_detail

// What the handler needs of a UnitConfig:
//   {"id", "name", "type", "leaf": bool, "parents": [unit ids, sorted],
//    "leaves": uint, "contests": {contest id: {"votes_allowed": uint, "rcv": bool}}}
struct UnitConfig {
  struct Contest {
    std::string id;
    uint64_t votes_allowed = 0;  // 0 = unknown
    bool rcv = false;
  };
  std::string id;
  bool leaf = false;
  uint64_t leaves = 0;               // precincts under it (1 for a precinct)
  std::vector<std::string> parents;  // strictly increasing, never `id`
  std::vector<Contest> contests;     // sorted by id (a msgpack map's keys are unique once canonical)

  const Contest* contest(std::string_view cid) const {
    auto it = std::lower_bound(contests.begin(), contests.end(), cid,
                               [](const Contest& c, std::string_view key) { return c.id < key; });
    return it != contests.end() && it->id == cid ? &*it : nullptr;
  }
};

// Reads and checks one UnitConfig; errors name the unit.
inline std::string read_unit_config(const quorum::sdk::MsgView& value, UnitConfig& config) {
  using namespace documents_detail;
  config = UnitConfig{};
  if (!value.is_map()) {
    return "a unit config must be a map";
  }
  std::string error;
  if (!read_string(value, "id", "unit config", config.id, error, true)) {
    return error;
  }
  const std::string what = "unit '" + config.id + "'";
  std::string text;
  uint64_t number = 0;
  if (!read_string(value, "name", what, text, error) || !read_string(value, "type", what, text, error) ||
      !read_bool(value, "leaf", what, config.leaf, error) || !read_uint(value, "leaves", what, number, error) ||
      !read_ids(value, "parents", what, config.parents, error)) {
    return error;
  }
  config.leaves = number;
  if (config.parents.size() > kMaxParents) {
    return what + ": more than " + std::to_string(kMaxParents) + " parents";
  }
  for (size_t i = 0; i < config.parents.size(); ++i) {
    if (config.parents[i] == config.id) {
      return what + ": a unit is not its own parent";
    }
    if (i > 0 && !(config.parents[i - 1] < config.parents[i])) {
      return what + ": 'parents' must be sorted and unique";
    }
  }
  const std::optional<MsgView> contests = field(value, "contests", what, error);
  if (!contests) {
    return error;
  }
  if (!contests->is_map()) {
    return what + ": 'contests' must be a map";
  }
  if (contests->items().size() > kMaxUnitContests) {
    return what + ": more than " + std::to_string(kMaxUnitContests) + " contests";
  }
  config.contests.reserve(contests->items().size());
  for (const MsgEntry& entry : contests->items()) {
    const std::optional<std::string_view> cid = entry.key.as_string();
    if (!cid || cid->empty() || cid->size() > kMaxIdBytes) {
      return what + ": 'contests' keys must be contest ids";
    }
    if (!entry.value.is_map()) {
      return what + ": contest '" + std::string(*cid) + "' must be a map";
    }
    UnitConfig::Contest contest;
    contest.id.assign(*cid);
    if (!read_uint(entry.value, "votes_allowed", "", contest.votes_allowed, error) ||
        !read_bool(entry.value, "rcv", "", contest.rcv, error)) {
      return what + ", contest '" + contest.id + "': " + error;  // (the message is built only on failure)
    }
    config.contests.push_back(std::move(contest));
  }
  std::sort(config.contests.begin(), config.contests.end(),
            [](const UnitConfig::Contest& a, const UnitConfig::Contest& b) { return a.id < b.id; });
  for (size_t i = 1; i < config.contests.size(); ++i) {
    if (config.contests[i].id == config.contests[i - 1].id) {
      return what + ": contest '" + config.contests[i].id + "' is listed twice";
    }
  }
  return {};
}

// Checks an election definition (the "definition" command's data) for the
// election `eid`: types, the id, unique contest / selection (per contest) /
// candidate / party ids, every contest's district, and that selections and
// candidates name known candidates and parties.
inline std::string check_definition(const quorum::sdk::MsgView& value, std::string_view eid) {
  using namespace documents_detail;
  if (!value.is_map()) {
    return "the definition must be a map";
  }
  std::string error;
  std::string id;
  std::string text;
  uint64_t number = 0;
  if (!read_string(value, "id", "", id, error)) {
    return error;
  }
  if (id != eid) {
    return "the definition's id '" + id + "' is not the election '" + std::string(eid) + "' of this key";
  }
  if (!read_string(value, "name", "", text, error) || !read_string(value, "date", "", text, error)) {
    return error;
  }
  const bool date_ok = text.empty() || (text.size() == 10 && text[4] == '-' && text[7] == '-' &&
                                        std::all_of(text.begin(), text.end(),
                                                    [](char c) { return c == '-' || (c >= '0' && c <= '9'); }));
  if (!date_ok) {
    return "'date' must be YYYY-MM-DD or empty";
  }
  if (!read_string(value, "source", "", text, error)) {
    return error;
  }
  if (text != "nist" && text != "dominion" && text != "gen") {
    return "'source' must be nist, dominion or gen";
  }
  std::vector<std::string> top;
  if (!read_uint(value, "units", "", number, error) || !read_uint(value, "leaves", "", number, error) ||
      !read_uint(value, "pages", "", number, error) || !read_ids(value, "top", "", top, error)) {
    return error;
  }
  // Parties, then candidates (which name parties), then contests.
  std::set<std::string> parties;
  std::set<std::string> candidates;
  const std::optional<MsgView> party_list = field(value, "parties", "", error);
  if (!party_list) {
    return error;
  }
  if (!party_list->is_array()) {
    return "'parties' must be an array";
  }
  for (const MsgView& party : party_list->elements()) {
    if (!party.is_map()) {
      return "a party must be a map";
    }
    std::string pid;
    if (!read_string(party, "id", "party", pid, error, true) || !read_string(party, "name", "party", text, error) ||
        !read_string(party, "abbreviation", "party", text, error)) {
      return error;
    }
    if (!parties.insert(pid).second) {
      return "party '" + pid + "' is listed twice";
    }
  }
  auto check_party = [&](const MsgView& map, const std::string& what) -> std::string {
    std::string party;
    std::string failure;
    if (!read_string(map, "party", what, party, failure)) {
      return failure;
    }
    if (!party.empty() && parties.count(party) == 0) {
      return what + ": unknown party '" + party + "'";
    }
    return {};
  };
  const std::optional<MsgView> candidate_list = field(value, "candidates", "", error);
  if (!candidate_list) {
    return error;
  }
  if (!candidate_list->is_array()) {
    return "'candidates' must be an array";
  }
  for (const MsgView& candidate : candidate_list->elements()) {
    if (!candidate.is_map()) {
      return "a candidate must be a map";
    }
    std::string cid;
    if (!read_string(candidate, "id", "candidate", cid, error, true) ||
        !read_string(candidate, "name", "candidate '" + cid + "'", text, error)) {
      return error;
    }
    if (!candidates.insert(cid).second) {
      return "candidate '" + cid + "' is listed twice";
    }
    if (std::string failure = check_party(candidate, "candidate '" + cid + "'"); !failure.empty()) {
      return failure;
    }
  }
  const std::optional<MsgView> contest_list = field(value, "contests", "", error);
  if (!contest_list) {
    return error;
  }
  if (!contest_list->is_array()) {
    return "'contests' must be an array";
  }
  std::set<std::string> contests;
  for (const MsgView& contest : contest_list->elements()) {
    if (!contest.is_map()) {
      return "a contest must be a map";
    }
    std::string cid;
    if (!read_string(contest, "id", "contest", cid, error, true)) {
      return error;
    }
    const std::string what = "contest '" + cid + "'";
    if (!contests.insert(cid).second) {
      return what + " is listed twice";
    }
    std::string kind;
    std::string district;
    bool flag = false;
    if (!read_string(contest, "name", what, text, error) || !read_string(contest, "kind", what, kind, error) ||
        !read_string(contest, "district", what, district, error, true) ||
        !read_uint(contest, "votes_allowed", what, number, error) || !read_bool(contest, "rcv", what, flag, error) ||
        !read_uint(contest, "ranks", what, number, error)) {
      return error;
    }
    if (kind != "candidate" && kind != "party" && kind != "ballot-measure" && kind != "retention" && kind != "other") {
      return what + ": 'kind' must be candidate, party, ballot-measure, retention or other";
    }
    const std::optional<MsgView> selections = field(contest, "selections", what, error);
    if (!selections) {
      return error;
    }
    if (!selections->is_array()) {
      return what + ": 'selections' must be an array";
    }
    std::set<std::string> selection_ids;
    for (const MsgView& selection : selections->elements()) {
      if (!selection.is_map()) {
        return what + ": a selection must be a map";
      }
      std::string sid;
      if (!read_string(selection, "id", what + ", selection", sid, error, true)) {
        return error;
      }
      const std::string in_selection = what + ", selection '" + sid + "'";
      if (!selection_ids.insert(sid).second) {
        return in_selection + " is listed twice";
      }
      std::vector<std::string> named;
      if (!read_string(selection, "name", in_selection, text, error) ||
          !read_ids(selection, "candidates", in_selection, named, error) ||
          !read_bool(selection, "write_in", in_selection, flag, error)) {
        return error;
      }
      for (const std::string& candidate : named) {
        if (candidates.count(candidate) == 0) {
          return in_selection + ": unknown candidate '" + candidate + "'";
        }
      }
      if (std::string failure = check_party(selection, in_selection); !failure.empty()) {
        return failure;
      }
    }
  }
  return {};
}

// Checks a directory page ("units" data) for election `eid`, page `page`:
//   {"election": EID, "page": N, "units": [UnitConfig...]} (<= `max_units`,
//   unit ids unique within the page).
inline std::string check_directory(const quorum::sdk::MsgView& value, std::string_view eid, uint64_t page,
                                   size_t max_units) {
  using namespace documents_detail;
  if (!value.is_map()) {
    return "a directory page must be a map";
  }
  std::string error;
  std::string election;
  uint64_t number = 0;
  if (!read_string(value, "election", "", election, error) || !read_uint(value, "page", "", number, error)) {
    return error;
  }
  if (election != eid) {
    return "the page's election '" + election + "' is not the election '" + std::string(eid) + "' of this key";
  }
  if (number != page) {
    return "the page's number " + std::to_string(number) + " is not the page " + std::to_string(page) + " of this key";
  }
  const std::optional<MsgView> units = field(value, "units", "", error);
  if (!units) {
    return error;
  }
  if (!units->is_array()) {
    return "'units' must be an array";
  }
  if (units->elements().size() > max_units) {
    return "a directory page holds at most " + std::to_string(max_units) + " units";
  }
  std::set<std::string> ids;
  UnitConfig config;
  for (const MsgView& unit : units->elements()) {
    if (std::string failure = read_unit_config(unit, config); !failure.empty()) {
      return failure;
    }
    if (!ids.insert(config.id).second) {
      return "unit '" + config.id + "' is listed twice on the page";
    }
  }
  return {};
}

}  // namespace quorum::plugins::election
