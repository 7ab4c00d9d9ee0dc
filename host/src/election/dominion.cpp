// Dominion manifests and CvrExport sessions (dominion.hpp).
#include <quorum/election/dominion.hpp>
#include <quorum/host/content_store.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

namespace quorum::election {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxManifestBytes = uint64_t{256} << 20;

Error bad(const std::filesystem::path& file, std::string_view path, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, file.string() + ": " + std::string(path) + ": " + what);
}

std::optional<int64_t> int_field(const json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_number_integer()) {
    return std::nullopt;
  }
  return object[field].get<int64_t>();
}

std::string string_field(const json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_string()) {
    return "";
  }
  return object[field].get<std::string>();
}

// The "List" of a manifest; nullopt (no error) for an optional manifest that is absent.
Result<std::optional<json>> read_list(const std::filesystem::path& directory, const char* name, bool required) {
  const std::filesystem::path path = directory / (std::string(name) + ".json");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (required) {
      return make_error(ErrorCode::kNotFound, path.string() + ": missing (a Dominion export needs " + name + ")");
    }
    return std::optional<json>();
  }
  Result<std::string> text = host::read_file(path, kMaxManifestBytes);
  if (!text) {
    return make_error(text.error().code, path.string() + ": " + text.error().message);
  }
  json document = json::parse(*text, nullptr, false);
  if (document.is_discarded()) {
    return bad(path, "$", "not valid JSON");
  }
  if (!document.is_object() || !document.contains("List") || !document["List"].is_array()) {
    return bad(path, "$.List", "missing or not an array");
  }
  return std::optional<json>(std::move(document["List"]));
}

struct Entry {
  int64_t id = 0;
  std::string description;
};

// Every item of a list must be an object with an integer "Id".
Result<std::vector<Entry>> entries(const std::filesystem::path& file, const json& list) {
  std::vector<Entry> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::optional<int64_t> id = int_field(list[i], "Id");
    if (!id) {
      return bad(file, "$.List[" + std::to_string(i) + "].Id", "missing or not an integer");
    }
    out.push_back({*id, string_field(list[i], "Description")});
  }
  return out;
}

bool yes_no(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text == "YES" || text == "NO";
}

}  // namespace

Result<DominionManifest> load_dominion_manifest(const std::filesystem::path& directory) {
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) {
    return make_error(ErrorCode::kNotFound, directory.string() + ": not a directory (a Dominion export directory)");
  }
  DominionManifest manifest;
  manifest.directory = directory;
  ElectionDefinition& definition = manifest.definition;
  definition.source = "dominion";
  const auto file = [&](const char* name) { return directory / (std::string(name) + ".json"); };

  std::string jurisdiction;
  {
    auto list = read_list(directory, "ElectionEventManifest", false);
    if (!list) {
      return list.error();
    }
    if (*list && !(*list)->empty()) {
      const json& event = (**list)[0];
      definition.name = string_field(event, "Description");
      jurisdiction = string_field(event, "Jurisdiction");
      const std::string date = string_field(event, "ElectionDate");
      if (date.size() == 8 && std::all_of(date.begin(), date.end(), ::isdigit)) {
        definition.date = date.substr(0, 4) + "-" + date.substr(4, 2) + "-" + date.substr(6, 2);
      }
    }
  }
  if (definition.name.empty()) {
    definition.name = directory.filename().string();
  }

  // Parties.
  {
    auto list = read_list(directory, "PartyManifest", false);
    if (!list) {
      return list.error();
    }
    if (*list) {
      auto parties = entries(file("PartyManifest"), **list);
      if (!parties) {
        return parties.error();
      }
      for (const Entry& party : *parties) {
        definition.parties.push_back({std::to_string(party.id), party.description, ""});
      }
    }
  }

  // Units: portions (leaves), precinct roll-ups, districts, the county.
  auto portions_list = read_list(directory, "PrecinctPortionManifest", true);
  if (!portions_list) {
    return portions_list.error();
  }
  std::map<int64_t, std::vector<int64_t>> precincts;  // precinct -> portions
  std::vector<std::pair<Entry, int64_t>> portions;    // portion, precinct
  for (size_t i = 0; i < (**portions_list).size(); ++i) {
    const json& item = (**portions_list)[i];
    const std::optional<int64_t> id = int_field(item, "Id");
    const std::optional<int64_t> precinct = int_field(item, "PrecinctId");
    if (!id || !precinct) {
      return bad(file("PrecinctPortionManifest"), "$.List[" + std::to_string(i) + "]",
                 "Id and PrecinctId must be integers");
    }
    if (!manifest.portions.insert(*id).second) {
      return bad(file("PrecinctPortionManifest"), "$.List[" + std::to_string(i) + "].Id",
                 "duplicate portion " + std::to_string(*id));
    }
    portions.push_back({{*id, string_field(item, "Description")}, *precinct});
    precincts[*precinct].push_back(*id);
  }
  if (portions.empty()) {
    return bad(file("PrecinctPortionManifest"), "$.List", "no precinct portion");
  }
  for (const auto& [portion, precinct] : portions) {
    const bool split = precincts[precinct].size() > 1;
    definition.units.push_back(
        {std::to_string(portion.id),
         portion.description.empty() ? "Portion " + std::to_string(portion.id) : portion.description,
         split ? "split-precinct" : "precinct",
         {}});
  }
  for (const auto& [precinct, members] : precincts) {
    if (members.size() < 2) {
      continue;
    }
    Unit unit{"precinct-" + std::to_string(precinct), "Precinct " + std::to_string(precinct), "precinct", {}};
    for (const int64_t portion : members) {
      unit.composing.push_back(std::to_string(portion));
    }
    definition.units.push_back(std::move(unit));
  }

  std::unordered_set<int64_t> districts;
  {
    auto district_list = read_list(directory, "DistrictManifest", false);
    if (!district_list) {
      return district_list.error();
    }
    auto membership = read_list(directory, "DistrictPrecinctPortionManifest", false);
    if (!membership) {
      return membership.error();
    }
    if (*district_list && *membership) {
      std::map<int64_t, std::vector<std::string>> members;
      for (size_t i = 0; i < (**membership).size(); ++i) {
        const std::optional<int64_t> district = int_field((**membership)[i], "DistrictId");
        const std::optional<int64_t> portion = int_field((**membership)[i], "PrecinctPortionId");
        if (!district || !portion || !manifest.portions.contains(*portion)) {
          return bad(file("DistrictPrecinctPortionManifest"), "$.List[" + std::to_string(i) + "]",
                     "DistrictId and PrecinctPortionId must be integers naming a known portion");
        }
        members[*district].push_back(std::to_string(*portion));
      }
      auto list = entries(file("DistrictManifest"), **district_list);
      if (!list) {
        return list.error();
      }
      for (const Entry& district : *list) {
        auto found = members.find(district.id);
        if (found == members.end()) {
          continue;  // a district without portions has no ballots: no unit
        }
        districts.insert(district.id);
        definition.units.push_back(
            {"district-" + std::to_string(district.id),
             district.description.empty() ? "District " + std::to_string(district.id) : district.description, "other",
             std::move(found->second)});
      }
    }
  }
  {
    Unit county{std::string(kDominionTopUnit), jurisdiction.empty() ? definition.name : jurisdiction, "county", {}};
    for (const auto& [portion, precinct] : portions) {
      county.composing.push_back(std::to_string(portion.id));
    }
    definition.units.push_back(std::move(county));
  }

  // Contests and their candidates.
  auto contest_list = read_list(directory, "ContestManifest", true);
  if (!contest_list) {
    return contest_list.error();
  }
  std::map<int64_t, size_t> contest_index;
  for (size_t i = 0; i < (**contest_list).size(); ++i) {
    const json& item = (**contest_list)[i];
    const std::string path = "$.List[" + std::to_string(i) + "]";
    const std::optional<int64_t> id = int_field(item, "Id");
    if (!id) {
      return bad(file("ContestManifest"), path + ".Id", "missing or not an integer");
    }
    const std::optional<int64_t> vote_for = int_field(item, "VoteFor");
    const std::optional<int64_t> ranks = int_field(item, "NumOfRanks");
    if ((vote_for && *vote_for < 0) || (ranks && *ranks < 0)) {
      return bad(file("ContestManifest"), path, "VoteFor and NumOfRanks must be >= 0");
    }
    if (contest_index.contains(*id)) {
      return bad(file("ContestManifest"), path + ".Id", "duplicate contest " + std::to_string(*id));
    }
    Contest contest;
    contest.id = std::to_string(*id);
    contest.name = string_field(item, "Description");
    if (contest.name.empty()) {
      contest.name = "Contest " + contest.id;
    }
    contest.kind = "candidate";
    const std::optional<int64_t> district = int_field(item, "DistrictId");
    contest.district = district && districts.contains(*district) ? "district-" + std::to_string(*district)
                                                                 : std::string(kDominionTopUnit);
    contest.votes_allowed = vote_for ? static_cast<uint64_t>(*vote_for) : 0;
    contest.ranks = ranks ? static_cast<uint64_t>(*ranks) : 0;
    contest.rcv = contest.ranks > 0;
    manifest.contests[*id] = {contest.rcv};
    contest_index[*id] = definition.contests.size();
    definition.contests.push_back(std::move(contest));
  }
  if (definition.contests.size() > kMaxContests) {
    return bad(file("ContestManifest"), "$.List", "more than " + std::to_string(kMaxContests) + " contests");
  }

  auto candidate_list = read_list(directory, "CandidateManifest", true);
  if (!candidate_list) {
    return candidate_list.error();
  }
  for (size_t i = 0; i < (**candidate_list).size(); ++i) {
    const json& item = (**candidate_list)[i];
    const std::string path = "$.List[" + std::to_string(i) + "]";
    const std::optional<int64_t> id = int_field(item, "Id");
    const std::optional<int64_t> contest = int_field(item, "ContestId");
    if (!id || !contest) {
      return bad(file("CandidateManifest"), path, "Id and ContestId must be integers");
    }
    auto found = contest_index.find(*contest);
    if (found == contest_index.end()) {
      return bad(file("CandidateManifest"), path + ".ContestId",
                 "contest " + std::to_string(*contest) + " is not in ContestManifest");
    }
    if (manifest.candidates.contains(*id)) {
      return bad(file("CandidateManifest"), path + ".Id", "duplicate candidate " + std::to_string(*id));
    }
    const bool write_in = string_field(item, "Type") == "WriteIn";
    manifest.candidates[*id] = {*contest, write_in};
    std::string name = string_field(item, "Description");
    if (name.empty()) {
      name = write_in ? "Write-in" : "Candidate " + std::to_string(*id);
    }
    const std::string cid = std::to_string(*id);
    definition.candidates.push_back({cid, name, ""});
    definition.contests[found->second].selections.push_back({cid, name, {cid}, "", write_in});
  }
  for (Contest& contest : definition.contests) {
    const bool measure =
        !contest.selections.empty() && std::all_of(contest.selections.begin(), contest.selections.end(),
                                                   [](const Selection& s) { return !s.write_in && yes_no(s.name); });
    if (measure) {
      contest.kind = "ballot-measure";
    }
  }
  return manifest;
}

namespace {

// One card set (Original or Modified) as a CVRSnapshot.
Result<json> snapshot_of(const json& cards_holder, const std::string& snapshot_id, const char* type,
                         const DominionManifest& manifest) {
  const json* cards = cards_holder.contains("Cards") ? &cards_holder["Cards"] : nullptr;
  if (cards == nullptr || !cards->is_array()) {
    return make_error(ErrorCode::kInvalidArgument, std::string(type) + ": no Cards array");
  }
  // Contest order as on the cards; a contest on two cards is merged.
  std::vector<int64_t> order;
  std::map<int64_t, json> contests;
  for (const json& card : *cards) {
    if (!card.is_object() || !card.contains("Contests") || !card["Contests"].is_array()) {
      return make_error(ErrorCode::kInvalidArgument, "a card has no Contests array");
    }
    for (const json& contest : card["Contests"]) {
      const std::optional<int64_t> id = int_field(contest, "Id");
      if (!id) {
        return make_error(ErrorCode::kInvalidArgument, "a card contest has no integer Id");
      }
      auto info = manifest.contests.find(*id);
      if (info == manifest.contests.end()) {
        return make_error(ErrorCode::kInvalidArgument, "contest " + std::to_string(*id) + " is not in ContestManifest");
      }
      auto [slot, inserted] = contests.try_emplace(*id);
      json& out = slot->second;
      if (inserted) {
        order.push_back(*id);
        out = {{"@type", "CVR.CVRContest"},
               {"ContestId", std::to_string(*id)},
               {"Overvotes", 0},
               {"Undervotes", 0},
               {"CVRContestSelection", json::array()}};
      }
      for (const char* field : {"Overvotes", "Undervotes"}) {
        const std::optional<int64_t> value = int_field(contest, field);
        if (value && *value < 0) {
          return make_error(ErrorCode::kInvalidArgument,
                            std::string(field) + " of contest " + std::to_string(*id) + " is negative");
        }
        out[field] = out[field].get<int64_t>() + value.value_or(0);
      }
      if (!contest.contains("Marks") || !contest["Marks"].is_array()) {
        return make_error(ErrorCode::kInvalidArgument, "contest " + std::to_string(*id) + " has no Marks array");
      }
      json& selections = out["CVRContestSelection"];
      for (const json& mark : contest["Marks"]) {
        const std::optional<int64_t> candidate = int_field(mark, "CandidateId");
        if (!candidate) {
          return make_error(ErrorCode::kInvalidArgument,
                            "a mark of contest " + std::to_string(*id) + " has no integer CandidateId");
        }
        auto known = manifest.candidates.find(*candidate);
        if (known == manifest.candidates.end() || known->second.contest != *id) {
          return make_error(ErrorCode::kInvalidArgument, "candidate " + std::to_string(*candidate) +
                                                             " is not a candidate of contest " + std::to_string(*id) +
                                                             " in CandidateManifest");
        }
        const bool is_vote = mark.value("IsVote", false);
        const bool ambiguous = mark.value("IsAmbiguous", false);
        json position = {{"@type", "CVR.SelectionPosition"},
                         {"HasIndication", ambiguous ? "unknown" : "yes"},
                         {"NumberVotes", 1},
                         {"IsAllocable", is_vote ? "yes" : "no"}};
        if (info->second.rcv) {
          const std::optional<int64_t> rank = int_field(mark, "Rank");
          if (!rank || *rank < 1) {
            return make_error(ErrorCode::kInvalidArgument,
                              "a mark of ranked-choice contest " + std::to_string(*id) + " has no Rank >= 1");
          }
          position["Rank"] = *rank;
        }
        if (known->second.write_in) {
          position["CVRWriteIn"] = {{"@type", "CVR.CVRWriteIn"}};
        }
        const std::string sid = std::to_string(*candidate);
        auto existing = std::find_if(selections.begin(), selections.end(),
                                     [&](const json& s) { return s["ContestSelectionId"] == sid; });
        if (existing == selections.end()) {
          selections.push_back({{"@type", "CVR.CVRContestSelection"},
                                {"ContestSelectionId", sid},
                                {"SelectionPosition", json::array()}});
          existing = selections.end() - 1;
        }
        (*existing)["SelectionPosition"].push_back(std::move(position));
      }
    }
  }
  json list = json::array();
  for (const int64_t id : order) {
    list.push_back(std::move(contests[id]));
  }
  return json{{"@id", snapshot_id}, {"@type", "CVR.CVRSnapshot"}, {"Type", type}, {"CVRContest", std::move(list)}};
}

}  // namespace

Result<json> dominion_session_to_cvr(const json& session, const DominionManifest& manifest) {
  if (!session.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "a session is not an object");
  }
  const std::optional<int64_t> tabulator = int_field(session, "TabulatorId");
  const std::optional<int64_t> batch = int_field(session, "BatchId");
  const std::optional<int64_t> record = int_field(session, "RecordId");
  if (!tabulator || !batch || !record) {
    return make_error(ErrorCode::kInvalidArgument, "TabulatorId, BatchId and RecordId must be integers");
  }
  const std::string unique = std::to_string(*tabulator) + "-" + std::to_string(*batch) + "-" + std::to_string(*record);
  const bool has_original = session.contains("Original") && session["Original"].is_object();
  const bool has_modified = session.contains("Modified") && session["Modified"].is_object();
  if (!has_original && !has_modified) {
    return make_error(ErrorCode::kInvalidArgument, "session " + unique + " has neither Original nor Modified");
  }
  // The current card set: Modified when it says IsCurrent (or Original does not).
  const bool modified_current = has_modified && (session["Modified"].value("IsCurrent", false) || !has_original ||
                                                 !session["Original"].value("IsCurrent", true));
  const json& current = modified_current ? session["Modified"] : session["Original"];
  const std::optional<int64_t> portion = int_field(current, "PrecinctPortionId");
  if (!portion) {
    return make_error(ErrorCode::kInvalidArgument, "session " + unique + " has no integer PrecinctPortionId");
  }
  if (!manifest.portions.contains(*portion)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "PrecinctPortionId " + std::to_string(*portion) + " is not in PrecinctPortionManifest");
  }
  json snapshots = json::array();
  std::string current_id;
  for (const auto& [present, field, type] :
       {std::tuple{has_original, "Original", "interpreted"}, std::tuple{has_modified, "Modified", "modified"}}) {
    if (!present) {
      continue;
    }
    const std::string id = unique + "-" + (std::string_view(field) == "Original" ? "original" : "modified");
    Result<json> snapshot = snapshot_of(session[field], id, type, manifest);
    if (!snapshot) {
      return make_error(snapshot.error().code, std::string(field) + ": " + snapshot.error().message);
    }
    snapshots.push_back(std::move(*snapshot));
    if (&session[field] == &current) {
      current_id = id;
    }
  }
  json cvr = {{"@type", "CVR.CVR"},
              {"UniqueId", unique},
              {"BallotStyleUnitId", std::to_string(*portion)},
              {"CreatingDeviceId", "tabulator-" + std::to_string(*tabulator)},
              {"BatchId", std::to_string(*batch)},
              {"BatchSequenceId", *record},
              {"CurrentSnapshotId", current_id},
              {"CVRSnapshot", std::move(snapshots)}};
  if (const std::optional<int64_t> style = int_field(current, "BallotTypeId")) {
    cvr["BallotStyleId"] = std::to_string(*style);
  }
  return cvr;
}

}  // namespace quorum::election
