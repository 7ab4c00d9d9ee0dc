// The election plugin, message by message (docs/election-actors.md): what
// each message does to its actor's projection and which effects it emits,
// and every refusal (each leaves the projection byte for byte unchanged).
#include "election.hpp"
#include "election_sim.hpp"
#include "entry.hpp"

#include <quorum/sdk/sdk.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;
using quorum::plugins::election::ElectionHandler;
using quorum::test::ElectionSim;
using quorum::test::make_message;
using quorum::test::unit_config;

const quorum_plugin_descriptor* plugin() { return quorum::plugins::election::descriptor(); }

json definition(const std::string& eid = "e1") {
  return {
      {"id", eid},
      {"name", "General"},
      {"date", "2026-11-03"},
      {"source", "gen"},
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
          {{{"id", "m-a"}, {"name", "A"}, {"candidates", {"can-a"}}, {"party", "p1"}, {"write_in", false}},
           {{"id", "m-wi"}, {"name", "Write-in"}, {"candidates", json::array()}, {"party", ""}, {"write_in", true}}}}},
        {{"id", "council"},
         {"name", "Council"},
         {"kind", "candidate"},
         {"district", "county"},
         {"votes_allowed", 2},
         {"rcv", true},
         {"ranks", 3},
         {"selections",
          {{{"id", "c-x"}, {"name", "X"}, {"candidates", {"can-x"}}, {"party", ""}, {"write_in", false}}}}}}},
      {"candidates",
       {{{"id", "can-a"}, {"name", "A"}, {"party", "p1"}}, {{"id", "can-x"}, {"name", "X"}, {"party", ""}}}},
      {"parties", {{{"id", "p1"}, {"name", "Party One"}, {"abbreviation", "P1"}}}}};
}

const json kContests = {{"mayor", {{"votes_allowed", 1}, {"rcv", false}}},
                        {"council", {{"votes_allowed", 2}, {"rcv", true}}}};

// One CVR: BallotStyleUnitId `unit`, each (contest, [selections]) marked once.
json ballot(const std::string& unit, const std::vector<std::pair<std::string, std::vector<std::string>>>& marks,
            const std::string& id = "b-1") {
  json contests = json::array();
  for (const auto& [cid, sids] : marks) {
    json selections = json::array();
    for (const std::string& sid : sids) {
      selections.push_back(
          {{"ContestSelectionId", sid}, {"SelectionPosition", {{{"HasIndication", "yes"}, {"NumberVotes", 1}}}}});
    }
    contests.push_back({{"ContestId", cid}, {"CVRContestSelection", selections}});
  }
  return {{"@type", "CVR.CVR"},
          {"UniqueId", id},
          {"BallotStyleUnitId", unit},
          {"CurrentSnapshotId", id + "-s"},
          {"CVRSnapshot", {{{"@id", id + "-s"}, {"Type", "original"}, {"CVRContest", contests}}}}};
}

const json kNothingPending = {{"ballots", 0}, {"contests", json::object()}, {"cvrs", json::object()}, {"since_ms", 0}};

// A sim with election e1: leaves p1, p2 under county and (p1 only) district.
struct Loaded {
  ElectionSim sim{plugin()};
  Loaded() {
    expect_ok(sim.command("election/e1/unit/county", "c-county", "configure", 1,
                          {{"election", "e1"}, {"unit", unit_config("county", false, {}, kContests, 2)}}));
    expect_ok(
        sim.command("election/e1/unit/p1", "c-p1", "configure", 1,
                    {{"election", "e1"}, {"unit", unit_config("p1", true, {"district", "county"}, kContests, 1)}}));
    expect_ok(sim.command("election/e1/unit/p2", "c-p2", "configure", 1,
                          {{"election", "e1"}, {"unit", unit_config("p2", true, {"county"}, kContests, 1)}}));
  }
  static void expect_ok(const quorum::test::FeedResult& result) { ASSERT_TRUE(result.ok()) << result.error; }
};

// Feeds a message that must be refused with `reason` in its error, and
// checks the projection of `key` did not change by a byte.
void expect_refused(ElectionSim& sim, const std::string& key, const std::string& type, const json& data,
                    const std::string& reason) {
  const std::string before = sim.projection(key);
  const size_t pending = sim.pending().size();
  const auto result = sim.command(key, "", type, 99, data);
  EXPECT_FALSE(result.ok()) << type << " on " << key << " was accepted";
  EXPECT_NE(result.error.find(reason), std::string::npos) << "error: " << result.error << "\nwanted: " << reason;
  EXPECT_EQ(sim.projection(key), before) << "a refusal changed " << key;
  EXPECT_EQ(sim.pending().size(), pending);
}

TEST(ElectionPlugin, DescribesItself) {
  EXPECT_STREQ(plugin()->name, "election");
  EXPECT_STREQ(plugin()->semver, "1.1.0");
  EXPECT_NE(plugin()->handle_batch, nullptr);
}

TEST(ElectionPlugin, KeysOutsideTheElectionNamespaceAreAcceptedUnchanged) {
  ElectionSim sim(plugin());
  for (const std::string key : {"e/demo/precinct/1", "electionsX", "electio", "elections-2", "Election/e1/unit/p1"}) {
    // Even a cvr that is not a CVR: this handler does not look.
    const auto result = sim.command(key, "", "cvr", 5, {{"not", "a cvr"}});
    ASSERT_TRUE(result.ok()) << key << ": " << result.error;
    EXPECT_TRUE(result.projection.empty()) << key;
    EXPECT_TRUE(result.effects.empty()) << key;
  }
}

TEST(ElectionPlugin, UnlistedTypesOnElectionKeysAreAcceptedUnchanged) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  for (const std::string key : {"elections", "election/e1", "election/e1/dir/0", "election/e1/unit/p1",
                                "election/e1/contest/council", "election/e1/other/x"}) {
    const std::string before = sim.projection(key);
    const auto result = sim.command(key, "", "audit-note", 5, {{"anything", 1}});
    ASSERT_TRUE(result.ok()) << key;
    EXPECT_EQ(result.projection, before) << key;
  }
}

TEST(ElectionPlugin, CvrOnAnElectionKeyThatIsNoLeafIsRefused) {
  Loaded loaded;
  for (const std::string key :
       {"elections", "election/e1", "election/e1/dir/0", "election/e1/other/x", "election/bad_id!"}) {
    expect_refused(loaded.sim, key, "cvr", ballot("p1", {}), "ballots go to a precinct (leaf) unit");
  }
  expect_refused(loaded.sim, "election/e1/unit/county", "cvr", ballot("county", {}),
                 "ballots go to a precinct (leaf) unit: county is a roll-up");
}

TEST(ElectionPlugin, RegisterKeepsTheListInOrderAndIsIdempotent) {
  ElectionSim sim(plugin());
  ASSERT_TRUE(sim.command("elections", "register/b", "register", 1, {{"id", "b"}, {"name", "B"}}).ok());
  ASSERT_TRUE(sim.command("elections", "register/a", "register", 1, {{"id", "a"}, {"name", "A"}}).ok());
  const std::string before = sim.projection("elections");
  ASSERT_TRUE(sim.command("elections", "", "register", 2, {{"id", "b"}, {"name", "B"}}).ok());
  EXPECT_EQ(sim.projection("elections"), before);
  const json expected = {{"kind", "registry"},
                         {"elections", {{{"id", "b"}, {"name", "B"}}, {{"id", "a"}, {"name", "A"}}}}};
  EXPECT_EQ(sim.projection_json("elections"), expected);
  // Key order on the wire too.
  const auto ordered = nlohmann::ordered_json::from_msgpack(sim.projection("elections"));
  EXPECT_EQ(ordered.begin().key(), "kind");
}

TEST(ElectionPlugin, RegisterRefusals) {
  ElectionSim sim(plugin());
  ASSERT_TRUE(sim.command("elections", "", "register", 1, {{"id", "b"}, {"name", "B"}}).ok());
  expect_refused(sim, "elections", "register", {{"id", "b"}, {"name", "Other"}},
                 "election b is already registered with the name 'B'");
  expect_refused(sim, "elections", "register", {{"id", "bad id"}, {"name", "X"}}, "invalid election id 'bad id'");
  expect_refused(sim, "elections", "register", {{"id", std::string(65, 'a')}, {"name", "X"}}, "invalid election id");
  expect_refused(sim, "elections", "register", {{"id", "x"}}, "register needs");
  expect_refused(sim, "elections", "register", json::array({1, 2}), "register needs");
  expect_refused(sim, "elections", "register", {{"id", "x"}, {"name", std::string(1025, 'n')}}, "at most 1024");
}

TEST(ElectionPlugin, TheRegistryIsBounded) {
  std::vector<std::string> messages;
  for (int i = 0; i <= 10000; ++i) {
    messages.push_back(make_message("", "register", 1, {{"id", "e" + std::to_string(i)}, {"name", "n"}}));
  }
  const auto batch = quorum::test::run_batch(*plugin(), "elections", "", messages);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(batch.results[i]["ok"].get<bool>()) << i;
  }
  EXPECT_FALSE(batch.results[10000]["ok"].get<bool>());
  EXPECT_NE(batch.results[10000]["error"].get<std::string>().find("the registry is full"), std::string::npos);
  EXPECT_EQ(quorum::sdk::testing::to_json(batch.projection)["elections"].size(), 10000u);
}

TEST(ElectionPlugin, DefinitionIsStoredCanonicallyAndImmutable) {
  ElectionSim sim(plugin());
  ASSERT_TRUE(sim.command("election/e1", "d1", "definition", 1, definition()).ok());
  const json stored = sim.projection_json("election/e1");
  EXPECT_EQ(stored["kind"], "election");
  EXPECT_EQ(stored["definition"], definition());
  EXPECT_EQ(stored["reported_leaves"], 0);
  EXPECT_EQ(stored["updated_ms"], 0);
  // Canonical: the same content with the map keys in another order is "the
  // same definition" (accepted unchanged).
  const std::string before = sim.projection("election/e1");
  nlohmann::ordered_json reordered;
  const json original = definition();
  for (auto it = original.rbegin(); it != original.rend(); ++it) {
    reordered[it.key()] = *it;
  }
  const std::vector<uint8_t> bytes = nlohmann::ordered_json::to_msgpack(
      nlohmann::ordered_json{{"id", "d2"}, {"type", "definition"}, {"time", 2}, {"data", reordered}});
  ASSERT_TRUE(sim.command("election/e1", "", "definition", 2, definition()).ok());
  EXPECT_EQ(sim.projection("election/e1"), before);
  // The reordered envelope goes straight through the ABI.
  quorum_buffer out{};
  const std::string message(bytes.begin(), bytes.end());
  const std::string key = "election/e1";
  const int32_t status = plugin()->handle(quorum::test::as_bytes(key), quorum::test::as_bytes(before),
                                          quorum::test::as_bytes(message), nullptr, &out);
  const auto result = quorum::sdk::testing::parse_result(status, out);
  plugin()->free(&out);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.projection, before);
  EXPECT_EQ(sim.projection("election/e1"), before);
  json changed = definition();
  changed["name"] = "Another";
  expect_refused(sim, "election/e1", "definition", changed,
                 "election e1 is already defined with a different definition");
}

TEST(ElectionPlugin, DefinitionRefusals) {
  ElectionSim sim(plugin());
  auto with = [](auto edit) {
    json d = definition();
    edit(d);
    return d;
  };
  const std::string key = "election/e1";
  expect_refused(sim, key, "definition", definition("e2"), "the definition's id 'e2' is not the election 'e1'");
  expect_refused(sim, key, "definition", json::array(), "the definition must be a map");
  expect_refused(sim, key, "definition", with([](json& d) { d.erase("contests"); }), "missing 'contests'");
  expect_refused(sim, key, "definition", with([](json& d) { d["date"] = "3 Nov"; }), "'date' must be YYYY-MM-DD");
  expect_refused(sim, key, "definition", with([](json& d) { d["source"] = "csv"; }), "'source' must be");
  expect_refused(sim, key, "definition", with([](json& d) { d["units"] = -1; }), "'units' must be a non-negative");
  expect_refused(sim, key, "definition", with([](json& d) { d["contests"][1]["id"] = "mayor"; }),
                 "contest 'mayor' is listed twice");
  expect_refused(sim, key, "definition", with([](json& d) { d["contests"][0]["kind"] = "plurality"; }),
                 "'kind' must be");
  expect_refused(sim, key, "definition", with([](json& d) { d["contests"][0]["district"] = ""; }),
                 "'district' must be 1..");
  expect_refused(sim, key, "definition", with([](json& d) { d["contests"][0]["rcv"] = "no"; }),
                 "'rcv' must be a boolean");
  expect_refused(sim, key, "definition", with([](json& d) { d["contests"][0]["selections"][1]["id"] = "m-a"; }),
                 "selection 'm-a' is listed twice");
  expect_refused(sim, key, "definition",
                 with([](json& d) { d["contests"][0]["selections"][0]["candidates"] = {"nobody"}; }),
                 "unknown candidate 'nobody'");
  expect_refused(sim, key, "definition", with([](json& d) { d["candidates"][0]["party"] = "p9"; }),
                 "unknown party 'p9'");
  expect_refused(sim, key, "definition", with([](json& d) { d["parties"].push_back(d["parties"][0]); }),
                 "party 'p1' is listed twice");
  expect_refused(sim, key, "definition", with([](json& d) { d["candidates"].push_back(d["candidates"][0]); }),
                 "candidate 'can-a' is listed twice");
  expect_refused(sim, key, "definition", with([](json& d) { d["top"] = "county"; }), "'top' must be an array");
  EXPECT_TRUE(sim.projection(key).empty());
}

TEST(ElectionPlugin, DirectoryPagesAreValidatedAndImmutable) {
  ElectionSim sim(plugin());
  const json units = {unit_config("county", false, {}, kContests, 2), unit_config("p1", true, {"county"}, kContests)};
  const json page = {{"election", "e1"}, {"page", 0}, {"units", units}};
  ASSERT_TRUE(sim.command("election/e1/dir/0", "u0", "units", 1, page).ok());
  const json stored = sim.projection_json("election/e1/dir/0");
  EXPECT_EQ(stored, json({{"kind", "directory"}, {"page", 0}, {"units", units}}));
  ASSERT_TRUE(sim.command("election/e1/dir/0", "", "units", 2, page).ok());
  EXPECT_EQ(sim.projection_json("election/e1/dir/0"), stored);
  json other = page;
  other["units"].erase(1);
  expect_refused(sim, "election/e1/dir/0", "units", other, "already set with different units");
  expect_refused(sim, "election/e1/dir/1", "units", page, "the page's number 0 is not the page 1");
  expect_refused(sim, "election/e1/dir/01", "units", page, "'01' is not a directory page number");
  json wrong_election = page;
  wrong_election["election"] = "e2";
  expect_refused(sim, "election/e1/dir/3", "units", wrong_election, "the page's election 'e2'");
  json twice = {{"election", "e1"}, {"page", 3}, {"units", {units[0], units[0]}}};
  expect_refused(sim, "election/e1/dir/3", "units", twice, "unit 'county' is listed twice");
  json unsorted = {{"election", "e1"}, {"page", 3}, {"units", {units[0]}}};
  unsorted["units"][0]["parents"] = {"z", "a"};
  expect_refused(sim, "election/e1/dir/3", "units", unsorted, "'parents' must be sorted and unique");
  json too_many = {{"election", "e1"}, {"page", 3}, {"units", json::array()}};
  for (int i = 0; i < 1001; ++i) {
    too_many["units"].push_back(unit_config("u" + std::to_string(i), true, {}, nullptr));
  }
  expect_refused(sim, "election/e1/dir/3", "units", too_many, "at most 1000 units");
  EXPECT_TRUE(sim.projection("election/e1/dir/3").empty());
}

TEST(ElectionPlugin, ConfigureZeroFillsContestsInScope) {
  Loaded loaded;
  const json p1 = loaded.sim.projection_json("election/e1/unit/p1");
  const json zero = {{"ballots", 0},
                     {"overvotes", 0},
                     {"undervotes", 0},
                     {"selections", json::object()},
                     {"write_in_ids", json::array()}};
  EXPECT_EQ(p1, json({{"kind", "unit"},
                      {"config", unit_config("p1", true, {"district", "county"}, kContests, 1)},
                      {"ballots", 0},
                      {"contests", {{"council", zero}, {"mayor", zero}}},
                      {"pending", kNothingPending},
                      {"reported", false},
                      {"reported_ballots", 0},
                      {"reported_contests", json::object()},
                      {"reported_leaves", 0},
                      {"audit", {{"status", "leaf"}, {"differences", json::array()}}},
                      {"deltas", 0},
                      {"unconfigured_deltas", 0},
                      {"updated_ms", 0}}));
  // The contract's key order.
  const auto ordered = nlohmann::ordered_json::from_msgpack(loaded.sim.projection("election/e1/unit/p1"));
  std::vector<std::string> keys;
  for (auto it = ordered.begin(); it != ordered.end(); ++it) {
    keys.push_back(it.key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"kind", "config", "ballots", "contests", "pending", "reported",
                                            "reported_ballots", "reported_contests", "reported_leaves", "audit",
                                            "deltas", "unconfigured_deltas", "updated_ms"}));
  std::vector<std::string> contest_keys;
  for (auto it = ordered["contests"]["mayor"].begin(); it != ordered["contests"]["mayor"].end(); ++it) {
    contest_keys.push_back(it.key());
  }
  EXPECT_EQ(contest_keys,
            (std::vector<std::string>{"ballots", "overvotes", "undervotes", "selections", "write_in_ids"}));
}

TEST(ElectionPlugin, ConfigureRefusals) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  expect_refused(sim, "election/e1/unit/p1", "configure",
                 {{"election", "e1"}, {"unit", unit_config("p1", true, {"county"}, kContests)}},
                 "unit p1 of election e1 is already configured differently");
  expect_refused(sim, "election/e1/unit/p9", "configure",
                 {{"election", "e1"}, {"unit", unit_config("p1", true, {}, kContests)}},
                 "the config is for unit 'p1', the key names unit 'p9'");
  expect_refused(sim, "election/e1/unit/p9", "configure",
                 {{"election", "e2"}, {"unit", unit_config("p9", true, {}, kContests)}},
                 "configure names election 'e2'");
  expect_refused(sim, "election/e1/unit/p9", "configure", {{"election", "e1"}}, "configure needs");
  json bad = unit_config("p9", true, {}, kContests);
  bad["contests"]["mayor"]["votes_allowed"] = "one";
  expect_refused(sim, "election/e1/unit/p9", "configure", {{"election", "e1"}, {"unit", bad}},
                 "contest 'mayor': 'votes_allowed' must be a non-negative integer");
  bad = unit_config("p9", true, {"p9"}, kContests);
  expect_refused(sim, "election/e1/unit/p9", "configure", {{"election", "e1"}, {"unit", bad}},
                 "a unit is not its own parent");
  bad = unit_config("p9", true, {}, kContests);
  bad.erase("leaf");
  expect_refused(sim, "election/e1/unit/p9", "configure", {{"election", "e1"}, {"unit", bad}}, "missing 'leaf'");
  expect_refused(sim, "election/e1/unit/p:2", "configure",
                 {{"election", "e1"}, {"unit", unit_config("p:2", true, {}, kContests)}},
                 "'p:2' is not an escaped unit id");
  // Identical configure: accepted unchanged.
  const std::string before = sim.projection("election/e1/unit/p2");
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "", "configure", 7,
                          {{"election", "e1"}, {"unit", unit_config("p2", true, {"county"}, kContests, 1)}})
                  .ok());
  EXPECT_EQ(sim.projection("election/e1/unit/p2"), before);
}

TEST(ElectionPlugin, EscapedUnitIdsRoundTrip) {
  ElectionSim sim(plugin());
  const std::string unit = "prec fs/23";
  const std::string key = quorum::election::unit_key("e1", unit);
  EXPECT_EQ(key, "election/e1/unit/prec:20fs:2F23");
  ASSERT_TRUE(
      sim.command(key, "c", "configure", 1, {{"election", "e1"}, {"unit", unit_config(unit, true, {"a b"}, kContests)}})
          .ok());
  ASSERT_TRUE(sim.command(key, "b1", "cvr", 5, ballot(unit, {{"mayor", {"m-a"}}})).ok());
  const auto result = sim.command(key, "f1", "flush", 6, json::object());
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.effects.size(), 1u);
  EXPECT_EQ(result.effects[0]["to"], "election/e1/unit/a:20b");
  EXPECT_EQ(result.effects[0]["data"]["from"], unit);
}

TEST(ElectionPlugin, CvrCountsLikeTheTallyAndSendsDeltasToEveryParent) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  // Mayor (vote for 1): an overvote (2 marks); council (vote for 2): one
  // mark, one undervote, and ranked-choice (forwarded).
  auto result = sim.command("election/e1/unit/p1", "cvr/e1/b-1", "cvr", 1000,
                            ballot("p1", {{"mayor", {"m-a", "m-wi"}}, {"council", {"c-x"}}}));
  ASSERT_TRUE(result.ok()) << result.error;
  const json p1 = sim.projection_json("election/e1/unit/p1");
  EXPECT_EQ(p1["ballots"], 1);
  EXPECT_EQ(p1["contests"]["mayor"]["ballots"], 1);
  EXPECT_EQ(p1["contests"]["mayor"]["overvotes"], 1);
  EXPECT_EQ(p1["contests"]["mayor"]["undervotes"], 0);
  EXPECT_EQ(p1["contests"]["mayor"]["selections"], json({{"m-a", 1}, {"m-wi", 1}}));
  // Council is ranked-choice: the unit counts the ballot, not its ranked
  // marks as plurality votes (no undervote, no selection votes).
  EXPECT_EQ(p1["contests"]["council"]["ballots"], 1);
  EXPECT_EQ(p1["contests"]["council"]["undervotes"], 0);
  EXPECT_EQ(p1["contests"]["council"]["overvotes"], 0);
  EXPECT_TRUE(p1["contests"]["council"]["selections"].empty()) << p1["contests"]["council"];
  EXPECT_EQ(p1["updated_ms"], 1000);
  // Nothing is sent yet: the ballot is pending until a flush.
  EXPECT_TRUE(result.effects.empty());
  EXPECT_EQ(p1["pending"]["ballots"], 1);
  EXPECT_EQ(p1["pending"]["contests"]["mayor"]["selections"], json({{"m-a", 1}, {"m-wi", 1}}));
  EXPECT_EQ(p1["pending"]["since_ms"], 1000);
  // The flush: a delta to each parent in sorted order, then the rcv forward.
  const auto flushed = sim.command("election/e1/unit/p1", "flush-1", "flush", 1500, json::object());
  ASSERT_TRUE(flushed.ok()) << flushed.error;
  EXPECT_EQ(sim.projection_json("election/e1/unit/p1")["pending"], kNothingPending);
  EXPECT_EQ(sim.projection_json("election/e1/unit/p1")["updated_ms"], 1000);  // a flush changes no count
  result = flushed;
  ASSERT_EQ(result.effects.size(), 3u);
  EXPECT_EQ(result.effects[0]["to"], "election/e1/unit/county");
  EXPECT_EQ(result.effects[1]["to"], "election/e1/unit/district");
  const json delta = result.effects[0]["data"];
  EXPECT_EQ(result.effects[0]["type"], "delta");
  EXPECT_EQ(delta["from"], "p1");
  EXPECT_EQ(delta["ballots"], 1);
  EXPECT_EQ(delta["contests"]["mayor"],
            json({{"ballots", 1}, {"overvotes", 1}, {"undervotes", 0}, {"selections", {{"m-a", 1}, {"m-wi", 1}}}}));
  EXPECT_EQ(result.effects[1]["data"], delta);
  EXPECT_EQ(result.effects[2]["to"], "election/e1/contest/council");
  EXPECT_EQ(result.effects[2]["type"], "cvrs");
  // The forwarded CVRs: each the same CVR reduced to the one contest.
  json reduced = ballot("p1", {{"council", {"c-x"}}});
  EXPECT_EQ(result.effects[2]["data"], json({{"cvrs", {reduced}}}));
  sim.deliver_all(2000);
  const json county = sim.projection_json("election/e1/unit/county");
  EXPECT_EQ(county["ballots"], 1);
  EXPECT_EQ(county["deltas"], 1);
  EXPECT_EQ(county["unconfigured_deltas"], 0);
  EXPECT_EQ(county["contests"], p1["contests"]);
  EXPECT_EQ(county["updated_ms"], 2000);
  const json district = sim.projection_json("election/e1/unit/district");
  EXPECT_EQ(district["config"], nullptr);
  EXPECT_EQ(district["unconfigured_deltas"], 1);
  EXPECT_EQ(district["contests"], p1["contests"]);
  EXPECT_EQ(sim.projection_json("election/e1/contest/council"),
            json({{"kind", "contest"}, {"ballots", 1}, {"updated_ms", 2000}}));
}

TEST(ElectionPlugin, WriteInsAreFlaggedAtTheLeafAndTheRollUp) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  json cvr = ballot("p2", {{"mayor", {"m-wi"}}});
  cvr["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["CVRWriteIn"] = {
      {"Text", "Someone"}};
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "b", "cvr", 1, cvr).ok());
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "f", "flush", 2, json::object()).ok());
  sim.deliver_all();
  EXPECT_EQ(sim.projection_json("election/e1/unit/p2")["contests"]["mayor"]["write_in_ids"], json({"m-wi"}));
  EXPECT_EQ(sim.projection_json("election/e1/unit/county")["contests"]["mayor"]["write_in_ids"], json({"m-wi"}));
}

TEST(ElectionPlugin, CvrRefusals) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  expect_refused(sim, "election/e1/unit/p9", "cvr", ballot("p9", {}),
                 "unit p9 of election e1 is not configured: load the election first");
  expect_refused(sim, "election/e1/unit/p1", "cvr", ballot("p2", {}),
                 "the ballot's BallotStyleUnitId 'p2' is not unit p1");
  expect_refused(sim, "election/e1/unit/p1", "cvr", {{"UniqueId", "x"}}, "no CVRSnapshot");
  json bad = ballot("p1", {{"mayor", {"m-a"}}});
  bad["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["NumberVotes"] = -1;
  expect_refused(sim, "election/e1/unit/p1", "cvr", bad, "NumberVotes is not a non-negative integer");
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "close", "close", 5, json::object()).ok());
  expect_refused(sim, "election/e1/unit/p1", "cvr", ballot("p1", {}), "precinct p1 has reported (closed)");
  // A delta that would overflow a count.
  const json huge = {{"from", "x"}, {"ballots", UINT64_MAX}, {"contests", json::object()}};
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "fx", "delta", 6, huge).ok());
  const json one = {{"from", "x"}, {"ballots", 1}, {"contests", json::object()}};
  expect_refused(sim, "election/e1/unit/p1", "delta", one, "delta from x: a count would overflow");
}

TEST(ElectionPlugin, CvrWithoutBallotStyleUnitIdIsCountedWhereItWasSent) {
  Loaded loaded;
  json cvr = ballot("p1", {{"mayor", {"m-a"}}});
  cvr.erase("BallotStyleUnitId");
  ASSERT_TRUE(loaded.sim.command("election/e1/unit/p1", "b", "cvr", 1, cvr).ok());
  EXPECT_EQ(loaded.sim.projection_json("election/e1/unit/p1")["ballots"], 1);
}

// A ranked ballot for `unit` with council marks at `ranks` (one selection
// per rank) and `padding` bytes of an extra top-level field.
json ranked_ballot(const std::string& unit, const std::string& id, const std::vector<int>& ranks, size_t padding = 0) {
  json cvr = ballot(unit, {{"council", {}}}, id);
  json& selections = cvr["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"];
  for (int rank : ranks) {
    selections.push_back({{"ContestSelectionId", "c-x"},
                          {"SelectionPosition", {{{"HasIndication", "yes"}, {"NumberVotes", 1}, {"Rank", rank}}}}});
  }
  if (padding > 0) {
    cvr["Notes"] = std::string(padding, 'n');
  }
  return cvr;
}

TEST(ElectionPlugin, ALeafFlushesEveryHundredBallots) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  const uint64_t every = quorum::plugins::election::kFlushBallots;
  for (uint64_t i = 1; i <= 2 * every + 5; ++i) {
    const std::string id = "b" + std::to_string(i);
    const auto result = sim.command("election/e1/unit/p2", id, "cvr", 10, ranked_ballot("p2", id, {1}));
    ASSERT_TRUE(result.ok()) << result.error;
    if (i % every == 0) {  // one delta (p2 has one parent) and one "cvrs" with the hundred ranked ballots
      ASSERT_EQ(result.effects.size(), 2u) << i;
      EXPECT_EQ(result.effects[0]["type"], "delta");
      EXPECT_EQ(result.effects[0]["data"]["ballots"], every);
      EXPECT_EQ(result.effects[1]["to"], "election/e1/contest/council");
      EXPECT_EQ(result.effects[1]["data"]["cvrs"].size(), every);
    } else {
      EXPECT_TRUE(result.effects.empty()) << i;
    }
  }
  EXPECT_EQ(sim.projection_json("election/e1/unit/p2")["pending"]["ballots"], 5);
  sim.deliver_all(20);
  EXPECT_EQ(sim.projection_json("election/e1/unit/county")["ballots"], 2 * every);
  EXPECT_EQ(sim.projection_json("election/e1/unit/county")["deltas"], 2);
  EXPECT_EQ(sim.projection_json("election/e1/contest/council")["ballots"], 2 * every);
  // Closing sends the last five before "reported": the roll-up is settled.
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "close", "close", 30, json::object()).ok());
  sim.deliver_all(40);
  const json county = sim.projection_json("election/e1/unit/county");
  EXPECT_EQ(county["ballots"], 2 * every + 5);
  EXPECT_EQ(county["reported_ballots"], 2 * every + 5);
  EXPECT_EQ(sim.projection_json("election/e1/contest/council")["ballots"], 2 * every + 5);
}

TEST(ElectionPlugin, ALeafFlushesASecondAfterItsOldestPendingBallot) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  const int64_t after = quorum::plugins::election::kFlushAfterMs;
  auto send = [&](const std::string& id, int64_t time) {
    return sim.command("election/e1/unit/p2", id, "cvr", time, ballot("p2", {{"mayor", {"m-a"}}}, id));
  };
  EXPECT_TRUE(send("a", 5000).effects.empty());
  EXPECT_TRUE(send("b", 5000 + after - 1).effects.empty());
  const auto third = send("c", 5000 + after);
  ASSERT_EQ(third.effects.size(), 1u);
  EXPECT_EQ(third.effects[0]["data"]["ballots"], 3);
  EXPECT_EQ(sim.projection_json("election/e1/unit/p2")["pending"], kNothingPending);
  EXPECT_TRUE(send("d", 5000 + after + 1).effects.empty());  // the clock starts again at d
  EXPECT_EQ(sim.projection_json("election/e1/unit/p2")["pending"]["since_ms"], 5000 + after + 1);
}

TEST(ElectionPlugin, PendingRankedBallotsStayUnderTheEffectBound) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  const size_t bound = quorum::plugins::election::kFlushCvrBytes;
  const size_t padding = 8000;  // each reduced CVR a little over 8 KB
  size_t flushes = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "b" + std::to_string(i);
    const auto result = sim.command("election/e1/unit/p2", id, "cvr", 10, ranked_ballot("p2", id, {1}, padding));
    ASSERT_TRUE(result.ok()) << result.error;
    for (const json& effect : result.effects) {
      if (effect["type"] == "cvrs") {
        ++flushes;
        EXPECT_LE(nlohmann::json::to_msgpack(effect["data"]).size(), bound + 64);
        EXPECT_LT(effect["data"]["cvrs"].size(), 40u);
      }
    }
  }
  EXPECT_GE(flushes, 1u);
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "f", "flush", 20, json::object()).ok());
  sim.deliver_all(30);
  EXPECT_EQ(sim.projection_json("election/e1/contest/council")["ballots"], 40);
}

TEST(ElectionPlugin, ARankedBallotItsContestActorCouldNotCountIsRefused) {
  Loaded loaded;
  expect_refused(loaded.sim, "election/e1/unit/p1", "cvr", ranked_ballot("p1", "b", {0}),
                 "ranked-choice contest council: Rank must be an integer from 1 to 2147483647");
}

TEST(ElectionPlugin, FlushWithNothingPendingOrOffALeafChangesNothing) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  for (const char* key : {"election/e1/unit/p1", "election/e1/unit/county", "election/e1/unit/nowhere"}) {
    const std::string before = sim.projection(key);
    const auto result = sim.command(key, "", "flush", 5, json::object());
    ASSERT_TRUE(result.ok()) << key << ": " << result.error;
    EXPECT_TRUE(result.effects.empty()) << key;
    EXPECT_EQ(sim.projection(key), before) << key;
  }
}

TEST(ElectionPlugin, ContestActorCountsCvrsBatches) {
  ElectionSim sim(plugin());
  const json two = {{"cvrs", {ballot("p1", {}, "x"), ballot("p1", {}, "y")}}};
  ASSERT_TRUE(sim.command("election/e1/contest/council", "a", "cvrs", 7, two).ok());
  EXPECT_EQ(sim.projection_json("election/e1/contest/council"),
            json({{"kind", "contest"}, {"ballots", 2}, {"updated_ms", 7}}));
  expect_refused(sim, "election/e1/contest/council", "cvrs", json::object(), "cvrs needs {\"cvrs\": [CVR, ...]}");
  expect_refused(sim, "election/e1/contest/council", "cvrs", {{"cvrs", 3}}, "cvrs needs");
}

// The roll-up's own audit: open while leaves count, pending while deltas
// are in flight, balanced when its counts equal what its leaves reported,
// differs (with the differences) when they do not.
TEST(ElectionPlugin, ARollUpAuditsItselfAgainstWhatItsLeavesReported) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  auto audit = [&] { return sim.projection_json("election/e1/unit/county")["audit"]; };
  EXPECT_EQ(audit()["status"], "open");
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "b1", "cvr", 10, ballot("p1", {{"mayor", {"m-a"}}}, "b1")).ok());
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "b2", "cvr", 10, ballot("p2", {{"mayor", {"m-wi"}}}, "b2")).ok());
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "f", "flush", 11, json::object()).ok());
  sim.deliver_all(12);
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "close-p1", "close", 20, json::object()).ok());
  ASSERT_TRUE(sim.command("election/e1/unit/p2", "close-p2", "close", 20, json::object()).ok());
  // Deliver everything but p2's delta: both reported, a ballot in flight.
  std::vector<quorum::test::PendingEffect>& pending = sim.pending();
  auto held = std::find_if(pending.begin(), pending.end(), [](const auto& effect) {
    return effect.type == "delta" && effect.to == "election/e1/unit/county";
  });
  ASSERT_NE(held, pending.end());
  const quorum::test::PendingEffect delta = *held;
  pending.erase(held);
  sim.deliver_all(30);
  EXPECT_EQ(audit()["status"], "pending");
  sim.pending().push_back(delta);
  sim.deliver_all(40);
  EXPECT_EQ(audit(), json({{"status", "balanced"}, {"differences", json::array()}}));
  EXPECT_EQ(sim.projection_json("election/e1/unit/county")["reported_contests"]["mayor"]["selections"],
            json({{"m-a", 1}, {"m-wi", 1}}));
  // A delta nobody's leaf reported (sent by hand): the audit says where.
  const json stray = {
      {"from", "p1"},
      {"ballots", 1},
      {"contests", {{"mayor", {{"ballots", 1}, {"overvotes", 0}, {"undervotes", 0}, {"selections", {{"m-a", 1}}}}}}}};
  ASSERT_TRUE(sim.command("election/e1/unit/county", "stray", "delta", 50, stray).ok());
  EXPECT_EQ(audit()["status"], "differs");
  EXPECT_EQ(audit()["differences"],
            json({"ballots: 3 from deltas, 2 reported", "contest mayor ballots: 3 from deltas, 2 reported",
                  "contest mayor selection m-a: 2 from deltas, 1 reported"}));
}

TEST(ElectionPlugin, ContestActorCountsForwardedBallots) {
  ElectionSim sim(plugin());
  ASSERT_TRUE(sim.command("election/e1/contest/council", "x", "cvr", 7, ballot("p1", {})).ok());
  ASSERT_TRUE(sim.command("election/e1/contest/council", "y", "cvr", 3, ballot("p1", {})).ok());
  EXPECT_EQ(sim.projection_json("election/e1/contest/council"),
            json({{"kind", "contest"}, {"ballots", 2}, {"updated_ms", 7}}));
}

TEST(ElectionPlugin, DeltaBeforeConfigureIsKeptAndFlagged) {
  ElectionSim sim(plugin());
  const json delta = {{"from", "p1"},
                      {"ballots", 2},
                      {"contests",
                       {{"mayor",
                         {{"ballots", 2},
                          {"overvotes", 0},
                          {"undervotes", 1},
                          {"selections", {{"m-a", 1}}},
                          {"write_in_ids", {"m-a"}}}}}}};
  ASSERT_TRUE(sim.command("election/e1/unit/county", "fx1", "delta", 10, delta).ok());
  json county = sim.projection_json("election/e1/unit/county");
  EXPECT_EQ(county["config"], nullptr);
  EXPECT_EQ(county["unconfigured_deltas"], 1);
  EXPECT_EQ(county["deltas"], 1);
  ASSERT_TRUE(sim.command("election/e1/unit/county", "c", "configure", 11,
                          {{"election", "e1"}, {"unit", unit_config("county", false, {}, kContests, 2)}})
                  .ok());
  ASSERT_TRUE(sim.command("election/e1/unit/county", "fx2", "delta", 12, delta).ok());
  county = sim.projection_json("election/e1/unit/county");
  EXPECT_EQ(county["ballots"], 4);
  EXPECT_EQ(county["deltas"], 2);
  EXPECT_EQ(county["unconfigured_deltas"], 1);
  EXPECT_EQ(county["contests"]["mayor"]["selections"]["m-a"], 2);
  EXPECT_EQ(county["contests"]["mayor"]["undervotes"], 2);
  EXPECT_EQ(county["contests"]["mayor"]["write_in_ids"], json({"m-a"}));
  EXPECT_EQ(county["contests"]["council"]["ballots"], 0);  // zero-filled at configure
  EXPECT_EQ(county["updated_ms"], 12);
}

TEST(ElectionPlugin, DeltaRefusals) {
  Loaded loaded;
  const std::string key = "election/e1/unit/county";
  expect_refused(loaded.sim, key, "delta", {{"ballots", 1}, {"contests", json::object()}}, "needs a string 'from'");
  expect_refused(loaded.sim, key, "delta", {{"from", "p"}, {"ballots", -1}, {"contests", json::object()}},
                 "non-negative integer 'ballots'");
  expect_refused(loaded.sim, key, "delta", {{"from", "p"}, {"ballots", 1}}, "needs 'contests'");
  expect_refused(loaded.sim, key, "delta", {{"from", "p"}, {"ballots", 1}, {"contests", {{"mayor", {{"ballots", 1}}}}}},
                 "needs ballots, overvotes, undervotes and selections");
  expect_refused(
      loaded.sim, key, "delta",
      {{"from", "p"},
       {"ballots", 1},
       {"contests", {{"mayor", {{"ballots", 1}, {"overvotes", 0}, {"undervotes", 0}, {"selections", {{"a", "1"}}}}}}}},
      "'selections' must map ids to non-negative integers");
}

TEST(ElectionPlugin, CloseReportsOnceToEveryParentAndTheElection) {
  Loaded loaded;
  ElectionSim& sim = loaded.sim;
  // Two ballots, their deltas not yet delivered: the close carries the count.
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "b1", "cvr", 10, ballot("p1", {{"mayor", {"m-a"}}}, "b1")).ok());
  ASSERT_TRUE(sim.command("election/e1/unit/p1", "b2", "cvr", 20, ballot("p1", {{"mayor", {"m-b"}}}, "b2")).ok());
  auto first = sim.command("election/e1/unit/p1", "close/e1/p1", "close", 50, json::object());
  ASSERT_TRUE(first.ok()) << first.error;
  // The close flushes first: the pending ballots go before "reported".
  ASSERT_EQ(first.effects.size(), 5u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(first.effects[i]["type"], "delta");
    EXPECT_EQ(first.effects[i]["data"]["ballots"], 2);
  }
  first.effects.erase(first.effects.begin(), first.effects.begin() + 2);
  EXPECT_EQ(first.effects[0]["to"], "election/e1/unit/county");
  EXPECT_EQ(first.effects[1]["to"], "election/e1/unit/district");
  EXPECT_EQ(first.effects[2]["to"], "election/e1");
  for (const json& effect : first.effects) {
    EXPECT_EQ(effect["type"], "reported");
    EXPECT_EQ(effect["data"]["ballots"], 2);
    EXPECT_EQ(effect["data"]["from"], "p1");
    EXPECT_EQ(effect["data"]["contests"]["mayor"]["selections"], json({{"m-a", 1}, {"m-b", 1}}));
  }
  const json p1 = sim.projection_json("election/e1/unit/p1");
  EXPECT_EQ(p1["reported"], true);
  EXPECT_EQ(p1["reported_leaves"], 1);
  EXPECT_EQ(p1["reported_ballots"], 2);
  EXPECT_EQ(p1["updated_ms"], 50);
  // Closing again (another command id): accepted, no change, no effect.
  const std::string before = sim.projection("election/e1/unit/p1");
  const auto again = sim.command("election/e1/unit/p1", "close-again", "close", 60, json::object());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again.effects.empty());
  EXPECT_EQ(sim.projection("election/e1/unit/p1"), before);
  sim.deliver_all(70);
  for (const char* rollup : {"election/e1/unit/county", "election/e1/unit/district"}) {
    const json unit = sim.projection_json(rollup);
    EXPECT_EQ(unit["reported_leaves"], 1) << rollup;
    // Every delta of the reported leaf arrived: ballots == reported_ballots.
    EXPECT_EQ(unit["reported_ballots"], 2) << rollup;
    EXPECT_EQ(unit["ballots"], 2) << rollup;
  }
  EXPECT_EQ(sim.projection_json("election/e1"), json({{"kind", "election"},
                                                      {"definition", nullptr},
                                                      {"reported_ballots", 2},
                                                      {"reported_leaves", 1},
                                                      {"updated_ms", 70}}));
}

TEST(ElectionPlugin, CloseRefusals) {
  Loaded loaded;
  expect_refused(loaded.sim, "election/e1/unit/county", "close", json::object(),
                 "only a precinct (leaf) unit is closed: county is a roll-up");
  expect_refused(loaded.sim, "election/e1/unit/p9", "close", json::object(),
                 "unit p9 of election e1 is not configured");
}

TEST(ElectionPlugin, ReportedRefusalsAndTheElectionActorKeepsItsDefinition) {
  ElectionSim sim(plugin());
  ASSERT_TRUE(sim.command("election/e1", "d", "definition", 1, definition()).ok());
  ASSERT_TRUE(sim.command("election/e1", "r1", "reported", 40, {{"from", "p1"}, {"ballots", 7}}).ok());
  ASSERT_TRUE(sim.command("election/e1", "r2", "reported", 30, {{"from", "p2"}}).ok());  // no count: 0
  const json election = sim.projection_json("election/e1");
  EXPECT_EQ(election["definition"], definition());
  EXPECT_EQ(election["reported_leaves"], 2);
  EXPECT_EQ(election["reported_ballots"], 7);
  EXPECT_EQ(election["updated_ms"], 40);
  expect_refused(sim, "election/e1", "reported", {{"from", 3}}, "reported needs {\"from\": unit id");
  expect_refused(sim, "election/e1", "reported", {{"from", "p3"}, {"ballots", -1}},
                 "'ballots' must be a non-negative integer");
  expect_refused(sim, "election/e1/unit/x", "reported", json::array(), "reported needs");
  // A unit reads the reported counts (for its audit): a malformed one is refused.
  expect_refused(sim, "election/e1/unit/x", "reported", {{"from", "p1"}, {"ballots", 1}, {"contests", 5}},
                 "reported: 'contests' must be a map");
  expect_refused(sim, "election/e1/unit/x", "reported",
                 {{"from", "p1"}, {"ballots", 1}, {"contests", {{"mayor", {{"ballots", 1}}}}}},
                 "reported: contest 'mayor' needs ballots, overvotes, undervotes and selections");
}

TEST(ElectionPlugin, AProjectionOfAnotherKindIsRefusedNotOverwritten) {
  // A hand-made projection of the wrong kind on a unit key: the handler
  // refuses rather than mixing two layouts.
  const json registry = {{"kind", "registry"}, {"elections", json::array()}};
  const std::vector<uint8_t> bytes = json::to_msgpack(registry);
  const std::string projection(bytes.begin(), bytes.end());
  const auto batch = quorum::test::run_batch(
      *plugin(), "election/e1/unit/p1", projection,
      {make_message("", "delta", 1, {{"from", "p"}, {"ballots", 1}, {"contests", json::object()}})});
  EXPECT_FALSE(batch.results[0]["ok"].get<bool>());
  EXPECT_EQ(batch.projection, projection);
}

// A round of ballots through handle_batch (one decode, one encode) gives
// the same projection and the same per-message outcomes and effects as one
// call per message, a refusal in the middle included.
TEST(ElectionPlugin, HandleBatchEqualsOneByOne) {
  Loaded loaded;
  const std::string key = "election/e1/unit/p1";
  const std::string start = loaded.sim.projection(key);
  std::vector<std::string> messages;
  for (int i = 0; i < 20; ++i) {
    json cvr = ballot("p1", {{"mayor", {i % 3 == 0 ? "m-a" : "m-wi"}}, {"council", {"c-x"}}}, "b" + std::to_string(i));
    if (i == 7) {
      cvr["BallotStyleUnitId"] = "p2";  // refused
    }
    // 150 ms apart: the ballot at 1,000 ms past the oldest pending one flushes.
    messages.push_back(make_message("b" + std::to_string(i), "cvr", 100 + 150 * i, cvr));
    if (i == 12) {
      messages.push_back(make_message("f", "flush", 100 + 150 * i, json::object()));
    }
  }
  const auto batch = quorum::test::run_batch(*plugin(), key, start, messages);
  std::string projection = start;
  for (size_t i = 0; i < messages.size(); ++i) {
    quorum_buffer out{};
    const int32_t status = plugin()->handle(quorum::test::as_bytes(key), quorum::test::as_bytes(projection),
                                            quorum::test::as_bytes(messages[i]), nullptr, &out);
    const auto one = quorum::sdk::testing::parse_result(status, out);
    plugin()->free(&out);
    ASSERT_EQ(one.ok(), batch.results[i]["ok"].get<bool>()) << i;
    if (one.ok()) {
      projection = one.projection;
      EXPECT_EQ(one.effects, batch.results[i]["effects"]) << i;
    }
  }
  EXPECT_EQ(batch.projection, projection);
  EXPECT_EQ(quorum::sdk::testing::to_json(projection)["ballots"], 19);
  size_t flushes = 0;
  for (const json& result : batch.results) {
    flushes += result.contains("effects") && !result["effects"].empty() ? 1 : 0;
  }
  EXPECT_EQ(flushes, 2u);  // by time at b8 (b7, due first, is refused), then the "flush" after b12
}

}  // namespace

namespace {

// The fast path of the exported descriptor (entry.hpp): keys outside the
// namespace get their projection back as given, whatever the message bytes.
TEST(ElectionPluginFastPath, OtherKeysSkipTheMessageEntirely) {
  const std::string key = "e/demo/precinct/7";
  const std::string projection = "\x81\xa1x\x01";  // another handler's bytes would never be here, but pass through
  const std::string garbage = "\xc1\xc1 not msgpack";
  quorum_buffer out{};
  const int32_t status = quorum::plugins::election::descriptor()->handle(
      quorum::test::as_bytes(key), quorum::test::as_bytes(projection), quorum::test::as_bytes(garbage), nullptr, &out);
  const auto result = quorum::sdk::testing::parse_result(status, out);
  quorum::plugins::election::descriptor()->free(&out);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.projection, projection);
  EXPECT_TRUE(result.effects.empty());
  // The same bytes on an election key are refused by the SDK's validation.
  const std::string election_key = "election/e1/unit/p1";
  const int32_t refused = quorum::plugins::election::descriptor()->handle(
      quorum::test::as_bytes(election_key), quorum::test::as_bytes(std::string()), quorum::test::as_bytes(garbage),
      nullptr, &out);
  const auto refusal = quorum::sdk::testing::parse_result(refused, out);
  quorum::plugins::election::descriptor()->free(&out);
  EXPECT_FALSE(refusal.ok());
}

TEST(ElectionPluginFastPath, OtherKeysInABatchGetOneAcceptancePerMessage) {
  std::vector<std::string> messages;
  for (int i = 0; i < 5; ++i) {
    messages.push_back(make_message("", "cvr", i, {{"whatever", i}}));
  }
  const auto batch = quorum::test::run_batch(*plugin(), "e/demo/precinct/7", "", messages);
  EXPECT_TRUE(batch.projection.empty());
  ASSERT_EQ(batch.results.size(), 5u);
  for (const json& result : batch.results) {
    EXPECT_EQ(result, json({{"ok", true}, {"effects", json::array()}}));
  }
}

}  // namespace
