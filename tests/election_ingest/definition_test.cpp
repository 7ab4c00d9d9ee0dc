// Election definitions: NIST pe-err parsing, the hierarchy (atoms, parents,
// leaves, contests in scope; expected values derived by hand from the
// files' GpUnits, see the comments), Dominion manifests and the load
// commands.
#include <quorum/election/definition.hpp>
#include <quorum/election/dominion.hpp>
#include <quorum/election/keys.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "support/scratch_dir.hpp"

namespace {

using namespace quorum::election;
using nlohmann::json;
using Strings = std::vector<std::string>;

const std::string kData = QUORUM_TEST_DATA_DIR;
const std::string kGen01 = kData + "/nist-cdf-test-method/gen-01/pe-err-gen-01.json";
const std::string kGen03 = kData + "/nist-cdf-test-method/gen-03/pe-err-gen-03.json";
const std::string kDominion = kData + "/dominion-sf-2020";

struct Loaded {
  ElectionDefinition definition;
  Hierarchy hierarchy;
  const UnitConfig& unit(const std::string& id) const {
    auto found =
        std::find_if(hierarchy.units.begin(), hierarchy.units.end(), [&](const UnitConfig& u) { return u.id == id; });
    EXPECT_NE(found, hierarchy.units.end()) << id;
    return *found;
  }
  Strings contests_of(const std::string& id) const {
    Strings out;
    for (const size_t c : unit(id).contests) {
      out.push_back(definition.contests[c].id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  Strings leaves() const {
    Strings out;
    for (const UnitConfig& u : hierarchy.units) {
      if (u.leaf) {
        out.push_back(u.id);
      }
    }
    return out;
  }
};

Loaded load(const std::string& path) {
  auto definition = load_nist_definition(path);
  EXPECT_TRUE(definition.ok()) << definition.error().message;
  auto hierarchy = compute_hierarchy(*definition);
  EXPECT_TRUE(hierarchy.ok()) << hierarchy.error().message;
  return {std::move(*definition), std::move(*hierarchy)};
}

Strings sorted(Strings list) {
  std::sort(list.begin(), list.end());
  return list;
}

json decode(const OutCommand& command) {
  return json::from_msgpack(std::vector<uint8_t>(command.data.begin(), command.data.end()));
}

// Every payload is exactly what json::to_msgpack writes for its value (the
// pages and configs are spliced from per-unit bytes: this checks the splice).
void expect_canonical(const LoadPlan& plan) {
  for (const OutCommand& command : plan.commands) {
    const std::vector<uint8_t> again = json::to_msgpack(decode(command));
    EXPECT_EQ(command.data, std::string(again.begin(), again.end())) << command.key;
  }
}

TEST(ElectionDefinition, Gen01ParsesEveryContestKindAndUnit) {
  const Loaded e = load(kGen01);
  EXPECT_EQ(e.definition.source, "nist");
  EXPECT_EQ(e.definition.units.size(), 26u);
  EXPECT_EQ(e.definition.contests.size(), 19u);
  EXPECT_EQ(e.definition.date.size(), 10u);
  std::map<std::string, std::string> kinds;
  for (const Contest& c : e.definition.contests) {
    kinds[c.id] = c.kind;
  }
  EXPECT_EQ(kinds["spc-1"], "party");
  EXPECT_EQ(kinds["cc-president"], "candidate");
  EXPECT_EQ(kinds["bm-proposal-1"], "ballot-measure");
  const Contest& assessor = *std::find_if(e.definition.contests.begin(), e.definition.contests.end(),
                                          [](const Contest& c) { return c.id == "cc-county-assessor"; });
  EXPECT_EQ(assessor.votes_allowed, 2u);
  EXPECT_EQ(assessor.district, "ru-county-1");
  EXPECT_FALSE(assessor.rcv);
  const Contest& justice = *std::find_if(e.definition.contests.begin(), e.definition.contests.end(),
                                         [](const Contest& c) { return c.id == "cc-sc-justice-a"; });
  EXPECT_TRUE(justice.selections.back().write_in);  // cs-sc-justice-a-wi
  EXPECT_FALSE(justice.selections.front().write_in);
  EXPECT_EQ(justice.selections.front().candidates.size(), 1u);
}

// atoms: cp-1-4-5-6 = {prec-1,4,5,6}; ru-congress-1 = {1,3,4,5,6,7,8,9};
// prec-2 = {ps-2a, ps-2b}; ru-stadium = {ps-2a, 3, 7, 8, 9}; ru-county-1 = all.
TEST(ElectionDefinition, Gen01HierarchyFollowsTheAtomsRule) {
  const Loaded e = load(kGen01);
  // Leaves: the units the BallotStyles name.
  EXPECT_EQ(sorted(e.leaves()), (Strings{"cp-1-4-5-6", "cp-3-7-8-9", "ps-2a", "ps-2b"}));
  EXPECT_EQ(e.hierarchy.leaf_count, 4u);
  EXPECT_EQ(e.unit("cp-1-4-5-6").parents, (Strings{"ru-assembly-1", "ru-congress-1", "ru-county-1",
                                                   "ru-county-commisioner-1", "ru-supreme-court-a"}));
  EXPECT_EQ(e.unit("ps-2a").parents, (Strings{"prec-2", "ru-assembly-2", "ru-congress-2", "ru-county-1",
                                              "ru-county-commisioner-2", "ru-stadium", "ru-supreme-court-b"}));
  EXPECT_EQ(e.unit("ps-2b").parents, (Strings{"prec-2", "ru-assembly-2", "ru-congress-2", "ru-county-1",
                                              "ru-county-commisioner-2", "ru-supreme-court-b"}));
  EXPECT_EQ(e.unit("cp-3-7-8-9").parents, (Strings{"ru-assembly-3", "ru-congress-1", "ru-county-1",
                                                   "ru-county-commisioner-3", "ru-stadium", "ru-supreme-court-c"}));
  // Equal atoms make each other's parents (ru-assembly-1 and cp-1-4-5-6).
  const Strings& assembly = e.unit("ru-assembly-1").parents;
  EXPECT_NE(std::find(assembly.begin(), assembly.end(), "cp-1-4-5-6"), assembly.end());
  EXPECT_EQ(e.hierarchy.top, (Strings{"ru-county-1"}));

  EXPECT_EQ(e.unit("ru-county-1").leaves, 4u);
  EXPECT_EQ(e.unit("ru-stadium").leaves, 2u);     // ps-2a, cp-3-7-8-9
  EXPECT_EQ(e.unit("ru-congress-1").leaves, 2u);  // cp-1-4-5-6, cp-3-7-8-9
  EXPECT_EQ(e.unit("prec-2").leaves, 2u);
  EXPECT_EQ(e.unit("ru-assembly-1").leaves, 1u);
  EXPECT_EQ(e.unit("prec-1").leaves, 0u);  // no ballots land there
  EXPECT_FALSE(e.unit("prec-1").leaf);
  EXPECT_EQ(e.unit("ps-2a").leaves, 1u);

  const Strings county_wide{"cc-county-assessor", "cc-dog-catcher", "cc-president", "cc-senate", "spc-1"};
  auto with = [&](Strings extra) {
    extra.insert(extra.end(), county_wide.begin(), county_wide.end());
    return sorted(extra);
  };
  EXPECT_EQ(e.contests_of("ps-2b"),
            with({"bm-proposal-3", "cc-assembly-2", "cc-congress-2", "cc-county-comissioner-2", "cc-sc-justice-b"}));
  EXPECT_EQ(e.contests_of("ps-2a"),
            with({"bm-proposal-2", "cc-assembly-2", "cc-congress-2", "cc-county-comissioner-2", "cc-sc-justice-b"}));
  EXPECT_EQ(e.contests_of("prec-1"),
            with({"bm-proposal-1", "cc-assembly-1", "cc-congress-1", "cc-county-comissioner-1", "cc-sc-justice-a"}));
  EXPECT_EQ(e.contests_of("ru-county-1").size(), 19u);
  // Definition order is kept in the config.
  const std::vector<size_t>& order = e.unit("ru-county-1").contests;
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

TEST(ElectionDefinition, Gen03HierarchyFollowsTheAtomsRule) {
  const Loaded e = load(kGen03);
  EXPECT_EQ(sorted(e.leaves()), (Strings{"prec-ac", "prec-fs-23"}));
  EXPECT_EQ(e.unit("prec-fs-23").parents, (Strings{"ru-assembly-1", "ru-congress-1", "ru-county-3"}));
  EXPECT_EQ(e.unit("prec-ac").parents, (Strings{"ru-assembly-2", "ru-congress-2", "ru-county-3"}));
  EXPECT_EQ(e.hierarchy.top, (Strings{"ru-county-3"}));
  EXPECT_EQ(e.unit("ru-county-3").leaves, 2u);
  EXPECT_EQ(e.unit("ru-congress-2").leaves, 1u);
  EXPECT_EQ(e.contests_of("prec-ac"),
            (Strings{"bm-22.6", "bm-25.3", "cc-assembly-2", "cc-congress-2", "cc-president", "cc-senate"}));
}

TEST(ElectionDefinition, WithoutBallotStylesTheLeavesAreTheAtoms) {
  auto definition = load_nist_definition(kGen03);
  ASSERT_TRUE(definition.ok());
  definition->ballot_style_units.clear();
  auto hierarchy = compute_hierarchy(*definition);
  ASSERT_TRUE(hierarchy.ok());
  EXPECT_EQ(hierarchy->leaf_count, 2u);  // prec-fs-23 and prec-ac have no composing units
}

TEST(ElectionDefinition, LoadPlanCommands) {
  const Loaded e = load(kGen01);
  auto plan = plan_load("gen01", e.definition, e.hierarchy);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->units, 26u);
  EXPECT_EQ(plan->leaves, 4u);
  EXPECT_EQ(plan->contests, 19u);
  EXPECT_EQ(plan->pages, 1u);
  ASSERT_EQ(plan->commands.size(), 1u + 1u + 1u + 26u);
  expect_canonical(*plan);
  const OutCommand& reg = plan->commands[0];
  EXPECT_EQ(reg.key, "elections");
  EXPECT_EQ(reg.type, "register");
  EXPECT_EQ(reg.id, "register/gen01");
  EXPECT_EQ(decode(reg), (json{{"id", "gen01"}, {"name", e.definition.name}}));

  const OutCommand& def = plan->commands[1];
  EXPECT_EQ(def.key, "election/gen01");
  EXPECT_EQ(def.type, "definition");
  EXPECT_EQ(def.id, "definition/gen01/" + short_sha(def.data));
  const json payload = decode(def);
  EXPECT_EQ(payload["units"], 26);
  EXPECT_EQ(payload["leaves"], 4);
  EXPECT_EQ(payload["pages"], 1);
  EXPECT_EQ(payload["source"], "nist");
  EXPECT_EQ(payload["top"], json::array({"ru-county-1"}));
  EXPECT_EQ(payload["contests"].size(), 19u);
  EXPECT_EQ(payload["contests"][0]["selections"][0].size(), 5u);  // id name candidates party write_in

  const OutCommand& page = plan->commands[2];
  EXPECT_EQ(page.key, "election/gen01/dir/0");
  EXPECT_EQ(page.id, "units/gen01/0/" + short_sha(page.data));
  EXPECT_EQ(decode(page)["units"].size(), 26u);

  auto configure = std::find_if(plan->commands.begin(), plan->commands.end(),
                                [](const OutCommand& c) { return c.key == "election/gen01/unit/cp-1-4-5-6"; });
  ASSERT_NE(configure, plan->commands.end());
  EXPECT_EQ(configure->type, "configure");
  EXPECT_EQ(configure->id, "configure/gen01/cp-1-4-5-6/" + short_sha(configure->data));
  const json unit = decode(*configure)["unit"];
  EXPECT_EQ(decode(*configure)["election"], "gen01");
  EXPECT_EQ(unit["leaf"], true);
  EXPECT_EQ(unit["leaves"], 1);
  EXPECT_EQ(unit["parents"].size(), 5u);
  EXPECT_EQ(unit["contests"]["cc-county-assessor"], (json{{"votes_allowed", 2}, {"rcv", false}}));
  EXPECT_FALSE(unit["contests"].contains("cc-congress-2"));

  // The same definition gives the same ids (re-loading is idempotent).
  auto again = plan_load("gen01", e.definition, e.hierarchy);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < plan->commands.size(); ++i) {
    EXPECT_EQ(again->commands[i].id, plan->commands[i].id);
  }
}

TEST(ElectionDefinition, UnitIdsAreEscapedIntoOneKeySegment) {
  ElectionDefinition definition;
  definition.source = "gen";
  definition.units = {{"prec fs/23", "P", "precinct", {}}, {"county", "C", "county", {"prec fs/23"}}};
  definition.contests.push_back({"c:1", "C1", "candidate", "county", 1, false, 0, {}});
  auto hierarchy = compute_hierarchy(definition);
  ASSERT_TRUE(hierarchy.ok());
  auto plan = plan_load("e1", definition, *hierarchy);
  ASSERT_TRUE(plan.ok());
  expect_canonical(*plan);
  auto found = std::find_if(plan->commands.begin(), plan->commands.end(),
                            [](const OutCommand& c) { return c.type == "configure" && c.key.ends_with("23"); });
  ASSERT_NE(found, plan->commands.end());
  EXPECT_EQ(found->key, "election/e1/unit/prec:20fs:2F23");
  EXPECT_TRUE(found->id.starts_with("configure/e1/prec:20fs:2F23/"));
}

TEST(ElectionDefinition, BadDefinitionsAreErrorValues) {
  ElectionDefinition cycle;
  cycle.units = {{"a", "A", "other", {"b"}}, {"b", "B", "other", {"a"}}};
  auto result = compute_hierarchy(cycle);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("cycle"), std::string::npos);

  ElectionDefinition unknown;
  unknown.units = {{"a", "A", "other", {"nope"}}};
  result = compute_hierarchy(unknown);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("'nope'"), std::string::npos);

  ElectionDefinition district;
  district.units = {{"a", "A", "precinct", {}}};
  district.contests.push_back({"c", "C", "candidate", "elsewhere", 1, false, 0, {}});
  result = compute_hierarchy(district);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("'elsewhere'"), std::string::npos);

  ElectionDefinition style;
  style.units = {{"a", "A", "precinct", {}}};
  style.ballot_style_units = {"b"};
  EXPECT_FALSE(compute_hierarchy(style).ok());

  json report = json::parse(R"({"GpUnit": [{"@id": "u", "@type": "ElectionResults.ReportingUnit"}],
     "Election": [{"Contest": [{"@id": "c", "@type": "ElectionResults.CandidateContest"}]}]})");
  auto parsed = parse_nist_definition(report, "x.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message, "x.json: $.Election[0].Contest[0].ElectionDistrictId: missing or not a string");

  report = json::parse(R"({"GpUnit": [{"Type": "precinct"}], "Election": []})");
  parsed = parse_nist_definition(report, "y.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message, "y.json: $.GpUnit[0]: no \"@id\" string");

  auto missing = load_nist_definition(kData + "/no-such-file.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no-such-file.json"), std::string::npos);

  const Loaded e = load(kGen03);
  EXPECT_FALSE(plan_load("bad id!", e.definition, e.hierarchy).ok());
}

TEST(ElectionDefinition, RetentionAndRankedChoiceContests) {
  const json report = json::parse(R"({
    "GpUnit": [{"@id": "city", "Type": "city", "ComposingGpUnitIds": ["p1"]}, {"@id": "p1", "Type": "precinct"}],
    "Party": [{"@id": "par-g", "Name": {"Text": [{"Content": "Green", "Language": "en"}]}, "Abbreviation": "GRN"}],
    "Election": [{"Name": "City", "StartDate": "2026-11-03T00:00:00",
      "Candidate": [{"@id": "cand-j", "BallotName": "Judge J"}, {"@id": "cand-a", "BallotName": "A", "PartyId": "par-g"},
                    {"@id": "cand-b", "BallotName": "B"}],
      "Contest": [
        {"@id": "ret-j", "@type": "ElectionResults.RetentionContest", "Name": "Retain Judge J?",
         "ElectionDistrictId": "city", "CandidateId": "cand-j",
         "ContestSelection": [{"@id": "ret-j-yes", "@type": "ElectionResults.BallotMeasureSelection",
                               "Selection": {"Text": [{"Content": "Yes", "Language": "en"}]}},
                              {"@id": "ret-j-no", "@type": "ElectionResults.BallotMeasureSelection",
                               "Selection": "No"}]},
        {"@id": "mayor", "@type": "ElectionResults.CandidateContest", "Name": "Mayor", "ElectionDistrictId": "city",
         "VotesAllowed": 1, "NumberOfRanks": 3, "VoteVariation": "rcv",
         "ContestSelection": [{"@id": "m-a", "@type": "ElectionResults.CandidateSelection", "CandidateIds": ["cand-a"]},
                              {"@id": "m-b", "@type": "ElectionResults.CandidateSelection", "CandidateIds": ["cand-b"]},
                              {"@id": "m-wi", "@type": "ElectionResults.CandidateSelection", "IsWriteIn": true}]}]}]})");
  auto definition = parse_nist_definition(report, "city.json");
  ASSERT_TRUE(definition.ok()) << definition.error().message;
  EXPECT_EQ(definition->date, "2026-11-03");
  EXPECT_EQ(definition->parties.front().name, "Green");
  EXPECT_EQ(definition->parties.front().abbreviation, "GRN");
  const Contest& retention = definition->contests[0];
  EXPECT_EQ(retention.kind, "retention");
  EXPECT_EQ(retention.votes_allowed, 1u);  // a single choice though the file does not say so
  EXPECT_EQ(retention.selections[0].name, "Yes");
  EXPECT_EQ(retention.selections[1].name, "No");
  const Contest& mayor = definition->contests[1];
  EXPECT_TRUE(mayor.rcv);
  EXPECT_EQ(mayor.ranks, 3u);
  EXPECT_EQ(mayor.selections[0].party, "par-g");  // the candidate's party
  EXPECT_EQ(mayor.selections[0].name, "A");
  EXPECT_TRUE(mayor.selections[2].write_in);
  // No BallotStyle: the leaf is the unit without composing units.
  auto hierarchy = compute_hierarchy(*definition);
  ASSERT_TRUE(hierarchy.ok());
  EXPECT_TRUE(hierarchy->units[1].leaf);
  EXPECT_FALSE(hierarchy->units[0].leaf);
  const json config = unit_config_json(*definition, hierarchy->units[1]);
  EXPECT_EQ(config["contests"]["mayor"], (json{{"votes_allowed", 1}, {"rcv", true}}));

  json bad = report;
  bad["Election"][0]["Contest"][1]["ContestSelection"][0]["CandidateIds"] = json::array({"nobody"});
  auto refused = parse_nist_definition(bad, "city.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "city.json: $.Election[0].Contest[1].ContestSelection[0].CandidateIds: names no Candidate: 'nobody'");
}

TEST(ElectionDefinition, ElectionIdFromStem) {
  EXPECT_EQ(election_id_from_stem("pe-err-gen-01"), "pe-err-gen-01");
  EXPECT_EQ(election_id_from_stem("my election_2024"), "my-election-2024");
  EXPECT_EQ(election_id_from_stem(""), "election");
  EXPECT_EQ(election_id_from_stem(std::string(100, 'a')).size(), 64u);
}

// The SF 2020 manifests: 609 portions, each its own precinct (no roll-up
// per precinct), no district manifests (every contest's district is the
// county), 42 contests of which the supervisor races are ranked.
TEST(DominionDefinition, SanFranciscoManifests) {
  auto manifest = load_dominion_manifest(kDominion);
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  const ElectionDefinition& d = manifest->definition;
  EXPECT_EQ(d.source, "dominion");
  EXPECT_EQ(d.name, "San Francisco Consolidated General Election");
  EXPECT_EQ(d.date, "2020-11-03");
  EXPECT_EQ(d.units.size(), 610u);
  EXPECT_EQ(d.contests.size(), 42u);
  EXPECT_EQ(d.parties.size(), 8u);
  auto hierarchy = compute_hierarchy(d);
  ASSERT_TRUE(hierarchy.ok()) << hierarchy.error().message;
  EXPECT_EQ(hierarchy->leaf_count, 609u);
  EXPECT_EQ(hierarchy->top, (Strings{"county"}));
  const UnitConfig& county = hierarchy->units.back();
  EXPECT_EQ(county.id, "county");
  EXPECT_EQ(county.name, "San Francisco");
  EXPECT_EQ(county.leaves, 609u);
  const UnitConfig& portion = hierarchy->units.front();  // PrecinctPortion Id 1, "PCT 1101"
  EXPECT_EQ(portion.id, "1");
  EXPECT_EQ(portion.name, "PCT 1101");
  EXPECT_TRUE(portion.leaf);
  EXPECT_EQ(portion.parents, (Strings{"county"}));
  EXPECT_EQ(portion.contests.size(), 42u);

  const Contest& president = d.contests.front();
  EXPECT_EQ(president.id, "1");
  EXPECT_EQ(president.name, "PRESIDENT AND VICE PRESIDENT");
  EXPECT_EQ(president.votes_allowed, 1u);
  EXPECT_FALSE(president.rcv);
  EXPECT_EQ(president.district, "county");
  auto write_in = std::find_if(president.selections.begin(), president.selections.end(),
                               [](const Selection& s) { return s.id == "126"; });
  ASSERT_NE(write_in, president.selections.end());
  EXPECT_TRUE(write_in->write_in);
  auto supervisor = std::find_if(d.contests.begin(), d.contests.end(), [](const Contest& c) { return c.id == "12"; });
  ASSERT_NE(supervisor, d.contests.end());
  EXPECT_TRUE(supervisor->rcv);
  EXPECT_EQ(supervisor->ranks, 7u);
  EXPECT_TRUE(manifest->contests.at(12).rcv);
  EXPECT_GT(std::count_if(d.contests.begin(), d.contests.end(), [](const Contest& c) { return c.votes_allowed == 4; }),
            0);  // VoteFor 4 (the school boards)

  // Its configs do not fit one 256 KiB page: the directory splits by size.
  auto plan = plan_load("sf", d, *hierarchy);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_GE(plan->pages, 2u);
  expect_canonical(*plan);
  size_t listed = 0;
  for (const OutCommand& command : plan->commands) {
    EXPECT_LE(command.data.size(), kMaxCommandDataBytes);
    if (command.type == "units") {
      const json page = decode(command);
      EXPECT_LE(page["units"].size(), kUnitsPerPage);
      listed += page["units"].size();
    }
  }
  EXPECT_EQ(listed, 610u);
  EXPECT_EQ(decode(plan->commands[1])["pages"], plan->pages);
}

TEST(DominionDefinition, MissingManifestIsAnErrorNamingIt) {
  auto manifest = load_dominion_manifest(kData + "/nist-cdf-test-method/gen-03");
  ASSERT_FALSE(manifest.ok());
  EXPECT_NE(manifest.error().message.find("PrecinctPortionManifest"), std::string::npos);
}

}  // namespace

namespace {

// A copy of the SF manifests with edits, in a scratch directory.
class ManifestCopy {
 public:
  ManifestCopy() {
    for (const auto& entry : std::filesystem::directory_iterator(kDominion)) {
      if (entry.path().filename().string().ends_with("Manifest.json")) {
        std::filesystem::copy_file(entry.path(), dir_.path() / entry.path().filename());
      }
    }
  }
  json read(const std::string& name) const {
    std::ifstream in(dir_.path() / (name + ".json"));
    return json::parse(in);
  }
  void write(const std::string& name, const json& value) const {
    std::ofstream(dir_.path() / (name + ".json")) << value.dump();
  }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  quorum::test_support::ScratchDir dir_{"dominion-manifests"};
};

TEST(DominionDefinition, SplitPrecinctsAndDistrictsBecomeRollUps) {
  ManifestCopy copy;
  json portions = copy.read("PrecinctPortionManifest");
  portions["List"][1]["PrecinctId"] = portions["List"][0]["PrecinctId"];  // portions 1 and 2: one precinct
  copy.write("PrecinctPortionManifest", portions);
  // District 102 (the contest "US House of Rep District 12") holds portions 1 and 3.
  copy.write("DistrictManifest", {{"List", {{{"Id", 102}, {"Description", "CD 12"}, {"DistrictTypeId", 1}}}}});
  copy.write(
      "DistrictPrecinctPortionManifest",
      {{"List", {{{"DistrictId", 102}, {"PrecinctPortionId", 1}}, {{"DistrictId", 102}, {"PrecinctPortionId", 3}}}}});
  auto manifest = load_dominion_manifest(copy.path());
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  const ElectionDefinition& d = manifest->definition;
  const std::string precinct = "precinct-" + std::to_string(portions["List"][0]["PrecinctId"].get<int>());
  auto hierarchy = compute_hierarchy(d);
  ASSERT_TRUE(hierarchy.ok()) << hierarchy.error().message;
  std::map<std::string, const UnitConfig*> units;
  for (const UnitConfig& unit : hierarchy->units) {
    units[unit.id] = &unit;
  }
  ASSERT_TRUE(units.contains(precinct));
  ASSERT_TRUE(units.contains("district-102"));
  EXPECT_EQ(d.units.size(), 609u + 1u + 1u + 1u);  // portions, the split precinct, the district, the county
  EXPECT_FALSE(units[precinct]->leaf);
  EXPECT_EQ(units[precinct]->leaves, 2u);
  EXPECT_EQ(units["district-102"]->leaves, 2u);
  EXPECT_EQ(units["1"]->type, "split-precinct");
  EXPECT_EQ(units["1"]->parents, (Strings{"county", "district-102", precinct}));
  EXPECT_EQ(units["2"]->parents, (Strings{"county", precinct}));
  EXPECT_EQ(units["3"]->parents, (Strings{"county", "district-102"}));
  auto house = std::find_if(d.contests.begin(), d.contests.end(), [](const Contest& c) { return c.id == "2"; });
  ASSERT_NE(house, d.contests.end());
  EXPECT_EQ(house->district, "district-102");
  // In scope of portion 2 (outside district 102): every contest but the house race.
  EXPECT_EQ(units["2"]->contests.size(), d.contests.size() - 1);
  EXPECT_EQ(units["1"]->contests.size(), d.contests.size());
}

TEST(DominionDefinition, BadManifestsNameFileAndPath) {
  ManifestCopy copy;
  json candidates = copy.read("CandidateManifest");
  candidates["List"][2]["ContestId"] = 9999;
  copy.write("CandidateManifest", candidates);
  auto manifest = load_dominion_manifest(copy.path());
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.error().message, (copy.path() / "CandidateManifest.json").string() +
                                          ": $.List[2].ContestId: contest 9999 is not in ContestManifest");
}

}  // namespace
