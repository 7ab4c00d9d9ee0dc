// Election definitions: the NIST pe-err parser, the hierarchy and the load
// commands (definition.hpp).
#include <quorum/election/definition.hpp>
#include <quorum/election/keys.hpp>
#include <quorum/host/content_store.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

namespace quorum::election {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxDefinitionFileBytes = uint64_t{512} << 20;

Error bad(std::string_view file, std::string_view path, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, std::string(file) + ": " + std::string(path) + ": " + what);
}

// A plain string, or an InternationalizedText {"Text": [{"Content", "Language"}]}
// (the English text when there is one, else the first).
std::string text_of(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_object() && value.contains("Text") && value["Text"].is_array()) {
    std::string first;
    for (const json& text : value["Text"]) {
      if (!text.is_object() || !text.contains("Content") || !text["Content"].is_string()) {
        continue;
      }
      const std::string content = text["Content"].get<std::string>();
      if (text.value("Language", "") == "en") {
        return content;
      }
      if (first.empty()) {
        first = content;
      }
    }
    return first;
  }
  return "";
}

// Reads an optional string field; false (and `error`) when present but not a string.
bool string_field(const json& object, const char* field, std::string& out) {
  if (!object.contains(field) || object[field].is_null()) {
    return true;
  }
  if (!object[field].is_string()) {
    return false;
  }
  out = object[field].get<std::string>();
  return true;
}

// An optional array of strings.
bool id_list(const json& object, const char* field, std::vector<std::string>& out) {
  if (!object.contains(field) || object[field].is_null()) {
    return true;
  }
  const json& list = object[field];
  if (list.is_string()) {  // lenient: a single id
    out.push_back(list.get<std::string>());
    return true;
  }
  if (!list.is_array()) {
    return false;
  }
  for (const json& item : list) {
    if (!item.is_string()) {
      return false;
    }
    out.push_back(item.get<std::string>());
  }
  return true;
}

bool count_field(const json& object, const char* field, uint64_t& out) {
  if (!object.contains(field) || object[field].is_null()) {
    return true;
  }
  if (!object[field].is_number_integer() || object[field].get<int64_t>() < 0) {
    return false;
  }
  out = object[field].get<uint64_t>();
  return true;
}

// "ElectionResults.CandidateContest" -> "CandidateContest".
std::string_view short_type(const json& object) {
  if (!object.contains("@type") || !object["@type"].is_string()) {
    return {};
  }
  std::string_view type = object["@type"].get_ref<const std::string&>();
  const size_t dot = type.rfind('.');
  return dot == std::string_view::npos ? type : type.substr(dot + 1);
}

const json* array_field(const json& object, const char* field) {
  if (!object.contains(field) || object[field].is_null()) {
    return nullptr;
  }
  return &object[field];
}

Result<std::string> required_id(const json& object, std::string_view file, const std::string& path) {
  if (!object.is_object()) {
    return bad(file, path, "not an object");
  }
  if (!object.contains("@id") || !object["@id"].is_string() || object["@id"].get_ref<const std::string&>().empty()) {
    return bad(file, path, "no \"@id\" string");
  }
  return object["@id"].get<std::string>();
}

Status parse_selection(const json& item, std::string_view file, const std::string& path,
                       const std::unordered_map<std::string, size_t>& candidate_index,
                       const std::vector<Candidate>& candidates, const std::unordered_map<std::string, size_t>& parties,
                       const std::vector<Party>& party_list, Selection& selection) {
  Result<std::string> id = required_id(item, file, path);
  if (!id) {
    return id.error();
  }
  selection.id = *id;
  const std::string_view type = short_type(item);
  if (!id_list(item, "CandidateIds", selection.candidates)) {
    return bad(file, path + ".CandidateIds", "not an array of ids");
  }
  for (const std::string& candidate : selection.candidates) {
    if (!candidate_index.contains(candidate)) {
      return bad(file, path + ".CandidateIds", "names no Candidate: '" + candidate + "'");
    }
  }
  std::vector<std::string> party_ids;
  if (!id_list(item, type == "PartySelection" ? "PartyIds" : "EndorsementPartyIds", party_ids)) {
    return bad(file, path, "party ids are not an array of ids");
  }
  for (const std::string& party : party_ids) {
    if (!parties.contains(party)) {
      return bad(file, path, "names no Party: '" + party + "'");
    }
  }
  if (item.contains("IsWriteIn") && !item["IsWriteIn"].is_null()) {
    if (!item["IsWriteIn"].is_boolean()) {
      return bad(file, path + ".IsWriteIn", "not a boolean");
    }
    selection.write_in = item["IsWriteIn"].get<bool>();
  }
  if (!party_ids.empty()) {
    selection.party = party_ids.front();
  } else if (selection.candidates.size() == 1) {
    selection.party = candidates[candidate_index.at(selection.candidates.front())].party;
  }
  // A readable name: the candidates, the parties, or the measure's choice.
  std::string name;
  for (const std::string& candidate : selection.candidates) {
    name += (name.empty() ? "" : " / ") + candidates[candidate_index.at(candidate)].name;
  }
  if (name.empty() && type == "PartySelection") {
    for (const std::string& party : party_ids) {
      name += (name.empty() ? "" : " / ") + party_list[parties.at(party)].name;
    }
  }
  if (name.empty() && item.contains("Selection")) {
    name = text_of(item["Selection"]);
  }
  if (name.empty() && selection.write_in) {
    name = "Write-in";
  }
  selection.name = name.empty() ? selection.id : name;
  return {};
}

Status parse_contest(const json& item, std::string_view file, const std::string& path,
                     const std::unordered_map<std::string, size_t>& candidate_index,
                     const std::vector<Candidate>& candidates, const std::unordered_map<std::string, size_t>& parties,
                     const std::vector<Party>& party_list, Contest& contest) {
  Result<std::string> id = required_id(item, file, path);
  if (!id) {
    return id.error();
  }
  contest.id = *id;
  const std::string_view type = short_type(item);
  contest.kind = type == "CandidateContest"       ? "candidate"
                 : type == "PartyContest"         ? "party"
                 : type == "BallotMeasureContest" ? "ballot-measure"
                 : type == "RetentionContest"     ? "retention"
                                                  : "other";
  if (item.contains("Name")) {
    contest.name = text_of(item["Name"]);
  }
  if (contest.name.empty()) {
    contest.name = contest.id;
  }
  if (!string_field(item, "ElectionDistrictId", contest.district) || contest.district.empty()) {
    return bad(file, path + ".ElectionDistrictId", "missing or not a string");
  }
  if (!count_field(item, "VotesAllowed", contest.votes_allowed)) {
    return bad(file, path + ".VotesAllowed", "not a non-negative integer");
  }
  if (contest.votes_allowed == 0 && (contest.kind == "ballot-measure" || contest.kind == "retention")) {
    contest.votes_allowed = 1;  // a measure is a single choice even when the file does not say so
  }
  if (!count_field(item, "NumberOfRanks", contest.ranks)) {
    return bad(file, path + ".NumberOfRanks", "not a non-negative integer");
  }
  std::string variation;
  if (!string_field(item, "VoteVariation", variation)) {
    return bad(file, path + ".VoteVariation", "not a string");
  }
  contest.rcv = variation == "rcv";
  const json* selections = array_field(item, "ContestSelection");
  if (selections != nullptr && !selections->is_array()) {
    return bad(file, path + ".ContestSelection", "not an array");
  }
  std::unordered_set<std::string> seen;
  if (selections != nullptr) {
    for (size_t i = 0; i < selections->size(); ++i) {
      Selection selection;
      const std::string selection_path = path + ".ContestSelection[" + std::to_string(i) + "]";
      if (Status status = parse_selection((*selections)[i], file, selection_path, candidate_index, candidates, parties,
                                          party_list, selection);
          !status) {
        return status;
      }
      if (!seen.insert(selection.id).second) {
        return bad(file, selection_path, "duplicate selection id '" + selection.id + "'");
      }
      contest.selections.push_back(std::move(selection));
    }
  }
  return {};
}

}  // namespace

Result<ElectionDefinition> parse_nist_definition(const json& report, std::string_view file) {
  if (!report.is_object()) {
    return bad(file, "$", "not a JSON object (an ElectionReport)");
  }
  ElectionDefinition definition;
  definition.source = "nist";

  // Parties.
  std::unordered_map<std::string, size_t> parties;
  if (const json* list = array_field(report, "Party")) {
    if (!list->is_array()) {
      return bad(file, "$.Party", "not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = "$.Party[" + std::to_string(i) + "]";
      Result<std::string> id = required_id((*list)[i], file, path);
      if (!id) {
        return id.error();
      }
      Party party{*id, text_of((*list)[i].value("Name", json())), text_of((*list)[i].value("Abbreviation", json()))};
      if (party.name.empty()) {
        party.name = party.id;
      }
      if (!parties.emplace(party.id, definition.parties.size()).second) {
        return bad(file, path, "duplicate party id '" + party.id + "'");
      }
      definition.parties.push_back(std::move(party));
    }
  }

  // Units.
  const json* units = array_field(report, "GpUnit");
  if (units == nullptr || !units->is_array() || units->empty()) {
    return bad(file, "$.GpUnit", "missing, empty or not an array");
  }
  if (units->size() > kMaxUnits) {
    return bad(file, "$.GpUnit", "more than " + std::to_string(kMaxUnits) + " units");
  }
  for (size_t i = 0; i < units->size(); ++i) {
    const std::string path = "$.GpUnit[" + std::to_string(i) + "]";
    const json& item = (*units)[i];
    Result<std::string> id = required_id(item, file, path);
    if (!id) {
      return id.error();
    }
    Unit unit;
    unit.id = *id;
    unit.name = text_of(item.value("Name", json()));
    if (unit.name.empty()) {
      unit.name = unit.id;
    }
    if (!string_field(item, "Type", unit.type)) {
      return bad(file, path + ".Type", "not a string");
    }
    if (unit.type.empty()) {
      unit.type = "other";
    }
    if (!id_list(item, "ComposingGpUnitIds", unit.composing)) {
      return bad(file, path + ".ComposingGpUnitIds", "not an array of ids");
    }
    definition.units.push_back(std::move(unit));
  }

  // The election.
  const json* elections = array_field(report, "Election");
  if (elections == nullptr) {
    return bad(file, "$.Election", "missing");
  }
  const json* election = elections;
  if (elections->is_array()) {
    if (elections->size() != 1) {
      return bad(file, "$.Election", "expected exactly one Election, found " + std::to_string(elections->size()));
    }
    election = &(*elections)[0];
  }
  if (!election->is_object()) {
    return bad(file, "$.Election[0]", "not an object");
  }
  definition.name = text_of(election->value("Name", json()));
  std::string date;
  if (!string_field(*election, "StartDate", date)) {
    return bad(file, "$.Election[0].StartDate", "not a string");
  }
  definition.date = date.substr(0, 10);

  std::unordered_map<std::string, size_t> candidate_index;
  if (const json* list = array_field(*election, "Candidate")) {
    if (!list->is_array()) {
      return bad(file, "$.Election[0].Candidate", "not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = "$.Election[0].Candidate[" + std::to_string(i) + "]";
      const json& item = (*list)[i];
      Result<std::string> id = required_id(item, file, path);
      if (!id) {
        return id.error();
      }
      Candidate candidate{*id, text_of(item.value("BallotName", json())), ""};
      if (candidate.name.empty()) {
        candidate.name = text_of(item.value("Name", json()));
      }
      if (candidate.name.empty()) {
        candidate.name = candidate.id;
      }
      if (!string_field(item, "PartyId", candidate.party)) {
        return bad(file, path + ".PartyId", "not a string");
      }
      if (!candidate.party.empty() && !parties.contains(candidate.party)) {
        return bad(file, path + ".PartyId", "names no Party: '" + candidate.party + "'");
      }
      if (!candidate_index.emplace(candidate.id, definition.candidates.size()).second) {
        return bad(file, path, "duplicate candidate id '" + candidate.id + "'");
      }
      definition.candidates.push_back(std::move(candidate));
    }
  }

  const json* contests = array_field(*election, "Contest");
  if (contests == nullptr || !contests->is_array()) {
    return bad(file, "$.Election[0].Contest", "missing or not an array");
  }
  if (contests->size() > kMaxContests) {
    return bad(file, "$.Election[0].Contest", "more than " + std::to_string(kMaxContests) + " contests");
  }
  for (size_t i = 0; i < contests->size(); ++i) {
    Contest contest;
    if (Status status = parse_contest((*contests)[i], file, "$.Election[0].Contest[" + std::to_string(i) + "]",
                                      candidate_index, definition.candidates, parties, definition.parties, contest);
        !status) {
      return status.error();
    }
    definition.contests.push_back(std::move(contest));
  }

  if (const json* styles = array_field(*election, "BallotStyle")) {
    if (!styles->is_array()) {
      return bad(file, "$.Election[0].BallotStyle", "not an array");
    }
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < styles->size(); ++i) {
      const std::string path = "$.Election[0].BallotStyle[" + std::to_string(i) + "]";
      std::vector<std::string> ids;
      if (!(*styles)[i].is_object() || !id_list((*styles)[i], "GpUnitIds", ids)) {
        return bad(file, path + ".GpUnitIds", "not an array of ids");
      }
      for (std::string& id : ids) {
        if (seen.insert(id).second) {
          definition.ballot_style_units.push_back(std::move(id));
        }
      }
    }
  }
  return definition;
}

Result<ElectionDefinition> load_nist_definition(const std::filesystem::path& path) {
  Result<std::string> text = host::read_file(path, kMaxDefinitionFileBytes);
  if (!text) {
    return make_error(text.error().code, path.string() + ": " + text.error().message);
  }
  json report = json::parse(*text, nullptr, false);
  if (report.is_discarded()) {
    return bad(path.string(), "$", "not valid JSON");
  }
  return parse_nist_definition(report, path.string());
}

Result<Hierarchy> compute_hierarchy(const ElectionDefinition& definition) {
  const size_t n = definition.units.size();
  if (n == 0) {
    return make_error(ErrorCode::kInvalidArgument, "the election has no units");
  }
  if (n > kMaxUnits) {
    return make_error(ErrorCode::kResourceExhausted, "more than " + std::to_string(kMaxUnits) + " units");
  }
  std::unordered_map<std::string, uint32_t> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!index.emplace(definition.units[i].id, static_cast<uint32_t>(i)).second) {
      return make_error(ErrorCode::kInvalidArgument, "duplicate unit id '" + definition.units[i].id + "'");
    }
  }
  std::vector<std::vector<uint32_t>> children(n);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& child : definition.units[i].composing) {
      auto found = index.find(child);
      if (found == index.end()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "unit '" + definition.units[i].id + "' is composed of '" + child + "', which is no unit");
      }
      children[i].push_back(found->second);
    }
  }

  // atoms(U): iterative post-order DFS with cycle detection.
  std::vector<std::vector<uint32_t>> atoms(n);
  std::vector<uint8_t> state(n, 0);  // 0 new, 1 on the stack, 2 done
  for (uint32_t root = 0; root < n; ++root) {
    if (state[root] == 2) {
      continue;
    }
    std::vector<std::pair<uint32_t, size_t>> stack{{root, 0}};
    state[root] = 1;
    while (!stack.empty()) {
      auto& [unit, next] = stack.back();
      if (next < children[unit].size()) {
        const uint32_t child = children[unit][next++];
        if (state[child] == 1) {
          return make_error(ErrorCode::kInvalidArgument,
                            "units compose each other in a cycle (through '" + definition.units[child].id + "')");
        }
        if (state[child] == 0) {
          state[child] = 1;
          stack.emplace_back(child, 0);
        }
        continue;
      }
      std::vector<uint32_t>& own = atoms[unit];
      if (children[unit].empty()) {
        own.push_back(unit);
      } else {
        for (const uint32_t child : children[unit]) {
          own.insert(own.end(), atoms[child].begin(), atoms[child].end());
        }
        std::sort(own.begin(), own.end());
        own.erase(std::unique(own.begin(), own.end()), own.end());
      }
      state[unit] = 2;
      stack.pop_back();
    }
  }

  // containing[a]: the units whose atoms hold atom a (sorted by unit index).
  std::vector<std::vector<uint32_t>> containing(n);
  for (uint32_t unit = 0; unit < n; ++unit) {
    for (const uint32_t atom : atoms[unit]) {
      containing[atom].push_back(unit);
    }
  }

  Hierarchy hierarchy;
  hierarchy.units.resize(n);
  std::vector<bool> leaf(n, false);
  if (definition.ballot_style_units.empty()) {
    for (size_t i = 0; i < n; ++i) {
      leaf[i] = children[i].empty();
    }
  } else {
    for (const std::string& id : definition.ballot_style_units) {
      auto found = index.find(id);
      if (found == index.end()) {
        return make_error(ErrorCode::kInvalidArgument, "a BallotStyle names unit '" + id + "', which is no unit");
      }
      leaf[found->second] = true;
    }
  }

  for (uint32_t unit = 0; unit < n; ++unit) {
    UnitConfig& config = hierarchy.units[unit];
    const Unit& source = definition.units[unit];
    config.id = source.id;
    config.name = source.name;
    config.type = source.type;
    config.leaf = leaf[unit];
    // parents: units R != U with atoms(U) ⊆ atoms(R); candidates are the
    // units holding U's rarest atom.
    const std::vector<uint32_t>& own = atoms[unit];
    QUORUM_ASSERT(!own.empty());
    uint32_t rarest = own.front();
    for (const uint32_t atom : own) {
      if (containing[atom].size() < containing[rarest].size()) {
        rarest = atom;
      }
    }
    for (const uint32_t candidate : containing[rarest]) {
      const std::vector<uint32_t>& theirs = atoms[candidate];
      // own ⊆ theirs: binary searches when own is small (a precinct in a state), else one merge pass.
      const bool subset =
          own.size() * 16 < theirs.size()
              ? std::all_of(own.begin(), own.end(),
                            [&](uint32_t atom) { return std::binary_search(theirs.begin(), theirs.end(), atom); })
              : std::includes(theirs.begin(), theirs.end(), own.begin(), own.end());
      if (candidate != unit && subset) {
        config.parents.push_back(definition.units[candidate].id);
      }
    }
    std::sort(config.parents.begin(), config.parents.end());
    if (config.parents.empty()) {
      hierarchy.top.push_back(source.id);
    }
  }

  for (uint32_t unit = 0; unit < n; ++unit) {
    if (!leaf[unit]) {
      continue;
    }
    ++hierarchy.leaf_count;
    ++hierarchy.units[unit].leaves;
    for (const std::string& parent : hierarchy.units[unit].parents) {
      ++hierarchy.units[index.at(parent)].leaves;
    }
  }
  if (hierarchy.leaf_count == 0) {
    return make_error(ErrorCode::kInvalidArgument, "the election has no leaf unit (where ballots land)");
  }

  // Contests in scope: atoms(district) ∩ atoms(U) ≠ ∅.
  std::vector<size_t> stamp(n, SIZE_MAX);
  std::unordered_set<std::string> contest_ids;
  for (size_t c = 0; c < definition.contests.size(); ++c) {
    const Contest& contest = definition.contests[c];
    if (!contest_ids.insert(contest.id).second) {
      return make_error(ErrorCode::kInvalidArgument, "duplicate contest id '" + contest.id + "'");
    }
    auto district = index.find(contest.district);
    if (district == index.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "contest '" + contest.id + "' has district '" + contest.district + "', which is no unit");
    }
    for (const uint32_t atom : atoms[district->second]) {
      for (const uint32_t unit : containing[atom]) {
        if (stamp[unit] != c) {
          stamp[unit] = c;
          hierarchy.units[unit].contests.push_back(c);
        }
      }
    }
  }
  return hierarchy;
}

std::string short_sha(std::string_view bytes) { return host::to_hex(host::sha256(bytes)).substr(0, 16); }

json unit_config_json(const ElectionDefinition& definition, const UnitConfig& unit) {
  json contests = json::object();
  for (const size_t c : unit.contests) {
    const Contest& contest = definition.contests[c];
    contests[contest.id] = {{"votes_allowed", contest.votes_allowed}, {"rcv", contest.rcv}};
  }
  return {{"id", unit.id},
          {"name", unit.name},
          {"type", unit.type},
          {"leaf", unit.leaf},
          {"parents", unit.parents},
          {"leaves", unit.leaves},
          {"contests", std::move(contests)}};
}

json definition_json(std::string_view eid, const ElectionDefinition& definition, const Hierarchy& hierarchy,
                     size_t pages) {
  json contests = json::array();
  for (const Contest& contest : definition.contests) {
    json selections = json::array();
    for (const Selection& selection : contest.selections) {
      selections.push_back({{"id", selection.id},
                            {"name", selection.name},
                            {"candidates", selection.candidates},
                            {"party", selection.party},
                            {"write_in", selection.write_in}});
    }
    contests.push_back({{"id", contest.id},
                        {"name", contest.name},
                        {"kind", contest.kind},
                        {"district", contest.district},
                        {"votes_allowed", contest.votes_allowed},
                        {"rcv", contest.rcv},
                        {"ranks", contest.ranks},
                        {"selections", std::move(selections)}});
  }
  json candidates = json::array();
  for (const Candidate& candidate : definition.candidates) {
    candidates.push_back({{"id", candidate.id}, {"name", candidate.name}, {"party", candidate.party}});
  }
  json parties = json::array();
  for (const Party& party : definition.parties) {
    parties.push_back({{"id", party.id}, {"name", party.name}, {"abbreviation", party.abbreviation}});
  }
  const size_t units = definition.units.size();
  return {{"id", std::string(eid)},
          {"name", definition.name},
          {"date", definition.date},
          {"source", definition.source},
          {"units", units},
          {"leaves", hierarchy.leaf_count},
          {"pages", pages},
          {"top", hierarchy.top},
          {"contests", std::move(contests)},
          {"candidates", std::move(candidates)},
          {"parties", std::move(parties)}};
}

namespace {

Result<OutCommand> make_command_bytes(std::string key, std::string id_prefix, bool hashed, std::string type,
                                      std::string data) {
  OutCommand command;
  command.key = std::move(key);
  command.type = std::move(type);
  command.data = std::move(data);
  if (command.data.size() > kMaxCommandDataBytes) {
    return make_error(ErrorCode::kResourceExhausted, command.type + " for " + command.key + " is " +
                                                         std::to_string(command.data.size()) +
                                                         " bytes of msgpack, over the node's 256 KiB command limit");
  }
  command.id = hashed ? id_prefix + "/" + short_sha(command.data) : std::move(id_prefix);
  if (command.key.size() > 256 || command.id.size() > 128) {
    return make_error(ErrorCode::kInvalidArgument, command.type + ": key '" + command.key + "' or id '" + command.id +
                                                       "' is over the node's limits (256 / 128 bytes)");
  }
  return command;
}

std::string msgpack_of(const json& value) {
  const std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

Result<OutCommand> make_command(std::string key, std::string id_prefix, bool hashed, std::string type,
                                const json& data) {
  return make_command_bytes(std::move(key), std::move(id_prefix), hashed, std::move(type), msgpack_of(data));
}

// The msgpack of `map` (a JSON object whose LAST key in sorted order, the
// one nlohmann writes last, holds nil) with that nil replaced by `tail`:
// byte for byte json::to_msgpack of the map holding the value `tail` encodes.
std::string splice_last(const json& map, std::string_view tail) {
  std::string bytes = msgpack_of(map);
  QUORUM_ASSERT(!bytes.empty() && static_cast<uint8_t>(bytes.back()) == 0xC0);
  bytes.pop_back();
  bytes.append(tail);
  return bytes;
}

// A msgpack array header for n elements (what nlohmann writes).
std::string array_header(size_t n) {
  std::string out;
  if (n <= 15) {
    out.push_back(static_cast<char>(0x90 | n));
  } else if (n <= 0xFFFF) {
    out = {static_cast<char>(0xDC), static_cast<char>(n >> 8), static_cast<char>(n & 0xFF)};
  } else {
    out = {static_cast<char>(0xDD), static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xFF),
           static_cast<char>((n >> 8) & 0xFF), static_cast<char>(n & 0xFF)};
  }
  return out;
}

}  // namespace

Result<LoadPlan> plan_load(std::string_view eid, const ElectionDefinition& definition, const Hierarchy& hierarchy) {
  if (!valid_election_id(eid)) {
    return make_error(ErrorCode::kInvalidArgument, "election id '" + std::string(eid) + "' is not [A-Za-z0-9.-]{1,64}");
  }
  QUORUM_ASSERT(hierarchy.units.size() == definition.units.size());
  const std::string id(eid);
  LoadPlan plan;
  plan.units = definition.units.size();
  plan.leaves = hierarchy.leaf_count;
  plan.contests = definition.contests.size();

  const auto add = [&](Result<OutCommand> command) -> Status {
    if (!command) {
      return command.error();
    }
    plan.commands.push_back(std::move(*command));
    return {};
  };
  if (Status s = add(make_command(std::string(kElectionsKey), "register/" + id, false, "register",
                                  json{{"id", id}, {"name", definition.name}}));
      !s) {
    return s.error();
  }
  // Directory pages: at most kUnitsPerPage units and kMaxCommandDataBytes
  // each (a unit in scope of many contests has a large config).
  // Configs kept as msgpack bytes (a JSON tree per unit would cost several
  // times more memory for large elections); the page and configure payloads
  // are spliced from them byte for byte as json::to_msgpack would write them.
  std::vector<std::string> configs;
  configs.reserve(hierarchy.units.size());
  std::vector<std::pair<size_t, size_t>> pages;  // [first, end) of each page
  size_t page_bytes = 0;
  constexpr size_t kPageOverhead = 128;  // the page map around the units
  for (const UnitConfig& unit : hierarchy.units) {
    configs.push_back(msgpack_of(unit_config_json(definition, unit)));
    const size_t bytes = configs.back().size();
    if (pages.empty() || pages.back().second - pages.back().first >= kUnitsPerPage ||
        page_bytes + bytes + kPageOverhead > kMaxCommandDataBytes) {
      pages.emplace_back(configs.size() - 1, configs.size() - 1);
      page_bytes = 0;
    }
    ++pages.back().second;
    page_bytes += bytes;
  }
  plan.pages = pages.size();
  if (Status s = add(make_command(election_key(id), "definition/" + id, true, "definition",
                                  definition_json(id, definition, hierarchy, plan.pages)));
      !s) {
    return s.error();
  }
  for (size_t page = 0; page < pages.size(); ++page) {
    std::string units = array_header(pages[page].second - pages[page].first);
    for (size_t i = pages[page].first; i < pages[page].second; ++i) {
      units += configs[i];
    }
    if (Status s =
            add(make_command_bytes(directory_key(id, page), "units/" + id + "/" + std::to_string(page), true, "units",
                                   splice_last(json{{"election", id}, {"page", page}, {"units", nullptr}}, units)));
        !s) {
      return s.error();
    }
  }
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string& unit = hierarchy.units[i].id;
    if (Status s =
            add(make_command_bytes(unit_key(id, unit), "configure/" + id + "/" + escape_segment(unit), true,
                                   "configure", splice_last(json{{"election", id}, {"unit", nullptr}}, configs[i])));
        !s) {
      return s.error();
    }
    std::string().swap(configs[i]);
  }
  return plan;
}

std::string election_id_from_stem(std::string_view stem) {
  std::string id;
  for (const char c : stem) {
    if (id.size() >= kMaxElectionIdBytes) {
      break;
    }
    id.push_back(plain_segment_char(static_cast<unsigned char>(c)) ? c : '-');
  }
  return id.empty() ? "election" : id;
}

}  // namespace quorum::election
