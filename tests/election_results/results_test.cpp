// The results builder and its formats over hand-built projections
// (fixture.hpp), the gatherer and the HTTP routes over a ProjectionNode.
#include "election_results/certified_fixture.hpp"
#include "election_results/fixture.hpp"
#include "election_results/projection_node.hpp"

#include <quorum/election/results.hpp>
#include <quorum/election/results_gather.hpp>
#include <quorum/http/api.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <future>
#include <set>
#include <sstream>

namespace quorum::election {
namespace {

using nlohmann::json;
using testing::input;
using testing::pack;

Results build(int phase, bool all_units = true) {
  Result<Results> results = build_results(input(phase, all_units));
  EXPECT_TRUE(results.ok()) << (results ? "" : results.error().message);
  return std::move(results).value();
}

const ContestResult& contest(const Results& r, const std::string& id) {
  for (const ContestResult& c : r.contests) {
    if (c.id == id) {
      return c;
    }
  }
  throw std::runtime_error("no contest " + id);
}

std::vector<uint64_t> votes(const ContestResult& c) {
  std::vector<uint64_t> out;
  for (const SelectionResult& s : c.selections) {
    out.push_back(s.votes);
  }
  return out;
}

TEST(ResultsModel, BeforeAnyBallotEverySelectionIsZeroInDefinitionOrder) {
  Results r = build(0);
  EXPECT_EQ(r.status, "unofficial-partial");
  EXPECT_EQ(r.reporting.reported, 0U);
  EXPECT_EQ(r.reporting.total, 2U);
  ASSERT_EQ(r.contests.size(), 3U);
  EXPECT_EQ(r.contests[0].id, "mayor");
  ASSERT_EQ(r.contests[0].selections.size(), 3U);
  EXPECT_EQ(r.contests[0].selections[0].id, "cs-alice");
  EXPECT_EQ(r.contests[0].selections[2].id, "cs-wi");
  EXPECT_TRUE(r.contests[0].selections[2].write_in);
  EXPECT_EQ(votes(r.contests[0]), (std::vector<uint64_t>{0, 0, 0}));
  EXPECT_EQ(r.contests[0].district_name, "Demo County");
  EXPECT_EQ(r.contests[0].reporting.total, 2U);
  EXPECT_TRUE(contest(r, "council").rounds.empty());
  // Zero-filled per unit too: prec-b has prop-1 in scope with both answers.
  const UnitResult& b = r.units[2];
  ASSERT_EQ(b.id, "prec-b");
  ASSERT_TRUE(b.contests.contains("prop-1"));
  EXPECT_EQ(b.contests.at("prop-1").selections.size(), 2U);
  EXPECT_FALSE(r.units[1].contests.contains("prop-1"));  // not on prec-a's ballots
}

TEST(ResultsModel, CountsComeFromTheDistrictUnitWithPercentOfSelectionVotes) {
  Results r = build(1);
  const ContestResult& mayor = contest(r, "mayor");
  EXPECT_EQ(votes(mayor), (std::vector<uint64_t>{2, 1, 0}));
  EXPECT_EQ(mayor.ballots, 3U);
  EXPECT_DOUBLE_EQ(mayor.selections[0].percent, 66.67);
  EXPECT_DOUBLE_EQ(mayor.selections[1].percent, 33.33);
  EXPECT_EQ(mayor.reporting.reported, 1U);
  EXPECT_EQ(r.reporting.reported, 1U);
  EXPECT_EQ(r.status, "unofficial-partial");
  EXPECT_EQ(r.updated_ms, 1'793'730'000'000);
}

TEST(ResultsModel, PartialWhileARollUpLacksDeltasOfItsReportedLeaves) {
  // Both precincts closed and the election actor knows, but the county has
  // not yet applied the last precinct's deltas (nor one of the "reported"
  // effects): the counts shown are not final, so the status must not say so.
  for (const char* lag : {"ballots", "reported"}) {
    ResultsInput in = input(2);
    json county = json::from_msgpack(in.units.at("county"));
    if (std::string(lag) == "ballots") {
      county["ballots"] = county["ballots"].get<uint64_t>() - 2;
    } else {
      county["reported_leaves"] = 1;
    }
    in.units["county"] = pack(county);
    Result<Results> r = build_results(std::move(in));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->reporting.reported, 2U) << lag;
    EXPECT_EQ(r->status, "unofficial-partial") << lag;
  }
}

TEST(ResultsModel, CompleteWhenEveryLeafReported) {
  Results r = build(2);
  EXPECT_EQ(r.status, "unofficial-complete");
  EXPECT_EQ(votes(contest(r, "mayor")), (std::vector<uint64_t>{2, 2, 1}));
  const ContestResult& prop = contest(r, "prop-1");
  EXPECT_EQ(votes(prop), (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(prop.undervotes, 1U);
}

TEST(ResultsModel, RankedChoiceRoundsFromTheRcvProjection) {
  Results r = build(1);
  const ContestResult& council = contest(r, "council");
  ASSERT_EQ(council.rounds.size(), 2U);
  EXPECT_EQ(council.rounds[0].round, 1U);
  EXPECT_EQ(council.rounds[0].eliminated, std::vector<std::string>{"c3"});
  EXPECT_FALSE(council.rounds[0].elected);
  EXPECT_EQ(council.rounds[1].tallies.at("c1"), 2U);
  EXPECT_EQ(council.rounds[1].elected, std::optional<std::string>("c1"));
  EXPECT_TRUE(contest(r, "mayor").rounds.empty());
}

TEST(ResultsModel, JsonOnlyReadsTheDistrictUnit) {
  Results r = build(1, false);
  EXPECT_FALSE(r.has_units);
  EXPECT_EQ(votes(contest(r, "mayor")), (std::vector<uint64_t>{2, 1, 0}));
  // Leaves were not read: no audit (rather than a false "pending").
  EXPECT_FALSE(r.audit.computed);
  EXPECT_EQ(r.audit.pending, 0U);
  json j = json::parse(render_json(r));
  EXPECT_FALSE(j.contains("units"));
  EXPECT_FALSE(j["audit"]["computed"].get<bool>());
}

TEST(ResultsModel, ErrorsNameTheActorAndChangeNothing) {
  ResultsInput in = input(1);
  json election = testing::election_projection(1);
  election["definition"] = nullptr;
  in.election = pack(election);
  Result<Results> r = build_results(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("no definition"), std::string::npos);

  in = input(1);
  json unit = testing::unit_projection("prec-a", 1);
  unit["ballots"] = "three";
  in.units["prec-a"] = pack(unit);
  r = build_results(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kPluginFailed);
  EXPECT_NE(r.error().message.find("election/demo-2026/unit/prec-a"), std::string::npos) << r.error().message;

  in = input(1);
  in.units["prec-a"] = pack(json{{"kind", "directory"}});
  r = build_results(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("kind 'directory'"), std::string::npos) << r.error().message;

  // Empty projections (the handler never changed the actor) read as absent.
  in = input(1);
  in.units["prec-a"] = "";
  in.rcv["council"] = "";
  r = build_results(in);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->units[1].seen);
  EXPECT_EQ(r->units[1].name, "Precinct A");
  EXPECT_TRUE(contest(*r, "council").rounds.empty());
  in.election = "";
  r = build_results(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);

  in = input(1);
  in.election = std::string("\xc1", 1);  // never valid msgpack
  r = build_results(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kPluginFailed);
}

TEST(ResultsAudit, RollUpsEqualTheirLeavesOrArePending) {
  Results r = build(2);
  EXPECT_EQ(r.audit.units_checked, 2U);  // county, and ward-9 (0 == 0)
  EXPECT_EQ(r.audit.pending, 0U);
  EXPECT_TRUE(r.audit.differences.empty());

  // A leaf counted that its roll-up has not heard of yet: pending.
  ResultsInput in = input(1);
  in.units["prec-b"] = pack(testing::unit_projection("prec-b", 2));
  Result<Results> pending = build_results(in);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->audit.pending, 1U);
  EXPECT_TRUE(pending->audit.differences.empty());

  // Same ballots, different votes: a difference naming unit, contest, selection.
  in = input(2);
  json county = testing::unit_projection("county", 2);
  county["contests"]["mayor"]["selections"]["cs-alice"] = 3;
  in.units["county"] = pack(county);
  Result<Results> differ = build_results(in);
  ASSERT_TRUE(differ.ok());
  ASSERT_EQ(differ->audit.differences.size(), 1U);
  EXPECT_EQ(differ->audit.differences[0], "unit county contest mayor selection cs-alice: 3, its leaves sum to 2");
  json audit = json::parse(render_audit(*differ));
  EXPECT_FALSE(audit["ok"].get<bool>());
  EXPECT_EQ(audit["units"][0]["state"], "checked");
}

TEST(ResultsRender, JsonHasTheSpecShape) {
  json j = json::parse(render_json(build(1)));
  EXPECT_EQ(j["election"]["id"], "demo-2026");
  EXPECT_EQ(j["election"]["date"], "2026-11-03");
  EXPECT_EQ(j["status"], "unofficial-partial");
  EXPECT_EQ(j["reporting"], (json{{"reported", 1}, {"total", 2}}));
  const json& mayor = j["contests"][0];
  EXPECT_EQ(mayor["district"], (json{{"id", "county"}, {"name", "Demo County"}}));
  EXPECT_EQ(mayor["selections"][0]["votes"], 2);
  EXPECT_EQ(mayor["selections"][0]["party"], "par-dem");
  EXPECT_FALSE(mayor.contains("rounds"));
  const json& council = j["contests"][2];
  EXPECT_EQ(council["rounds"][0]["eliminated"], json::array({"c3"}));
  EXPECT_TRUE(council["rounds"][0]["elected"].is_null());
  EXPECT_EQ(council["rounds"][1]["elected"], "c1");
  EXPECT_EQ(j["units"].size(), 4U);
  EXPECT_EQ(j["units"][1]["contests"]["mayor"]["selections"]["cs-alice"], 2);
  EXPECT_EQ(j["audit"]["units_checked"], 2);
  EXPECT_EQ(j["parties"][0], (json{{"id", "par-dem"}, {"name", "Democratic"}, {"abbreviation", "DEM"}}));
}

TEST(ResultsRender, NistErrListsTheDistrictAndEveryUnitInScope) {
  json err = json::parse(render_nist_err(build(1)));
  EXPECT_EQ(err["@type"], "ElectionResults.ElectionReport");
  EXPECT_EQ(err["Status"], "unofficial-partial");
  EXPECT_EQ(err["GeneratedDate"], "2026-11-03T21:06:40Z");
  ASSERT_EQ(err["GpUnit"].size(), 4U);
  EXPECT_EQ(err["GpUnit"][0]["SubUnitsReported"], 1);
  EXPECT_EQ(err["GpUnit"][0]["TotalSubUnits"], 2);
  EXPECT_FALSE(err["GpUnit"][1].contains("TotalSubUnits"));  // a leaf
  const json& contests = err["Election"][0]["Contest"];
  const json& mayor = contests[0];
  EXPECT_EQ(mayor["@type"], "ElectionResults.CandidateContest");
  std::vector<std::string> units;
  for (const json& vc : mayor["ContestSelection"][0]["VoteCounts"]) {
    units.push_back(vc["GpUnitId"]);
    EXPECT_EQ(vc["Type"], "total");
  }
  EXPECT_EQ(units, (std::vector<std::string>{"county", "prec-a", "prec-b", "ward-9"}));  // the district first
  EXPECT_EQ(mayor["ContestSelection"][0]["VoteCounts"][0]["Count"], 2);
  EXPECT_EQ(mayor["ContestSelection"][0]["CandidateIds"], json::array({"can-alice"}));
  EXPECT_EQ(mayor["ContestSelection"][2]["IsWriteIn"], true);
  EXPECT_EQ(mayor["OtherCounts"].size(), 4U);
  const json& prop = contests[1];
  EXPECT_EQ(prop["@type"], "ElectionResults.BallotMeasureContest");
  EXPECT_EQ(prop["ContestSelection"][0]["@type"], "ElectionResults.BallotMeasureSelection");
  EXPECT_EQ(prop["ContestSelection"][0]["VoteCounts"].size(), 2U);  // county, prec-b
  const json& council = contests[2];
  size_t round_counts = 0;
  for (const json& vc : council["ContestSelection"][0]["VoteCounts"]) {
    if (vc.contains("Round")) {
      ++round_counts;
      EXPECT_EQ(vc["GpUnitId"], "county");
    }
  }
  EXPECT_EQ(round_counts, 2U);  // c1 in rounds 1 and 2
  EXPECT_EQ(json::parse(render_nist_err(build(2)))["Status"], "unofficial-complete");
}

TEST(ResultsRender, ApHasRacesReportingUnitsAndCandidates) {
  json ap = json::parse(render_ap(build(1)));
  EXPECT_EQ(ap["electionDate"], "2026-11-03");
  ASSERT_EQ(ap["races"].size(), 3U);
  const json& mayor = ap["races"][0];
  EXPECT_EQ(mayor["officeName"], "Mayor");
  const json& county = mayor["reportingUnits"][0];
  EXPECT_EQ(county["level"], "district");
  EXPECT_EQ(county["precinctsReporting"], 1);
  EXPECT_EQ(county["precinctsTotal"], 2);
  EXPECT_EQ(county["precinctsReportingPct"], 50.0);
  EXPECT_EQ(county["candidates"][0]["last"], "Adams");
  EXPECT_EQ(county["candidates"][0]["first"], "Alice");
  EXPECT_EQ(county["candidates"][0]["party"], "DEM");
  EXPECT_EQ(county["candidates"][0]["voteCount"], 2);
  EXPECT_EQ(mayor["reportingUnits"][2]["reportingunitID"], "prec-b");
  EXPECT_EQ(mayor["reportingUnits"][2]["precinctsReporting"], 0);
}

TEST(ResultsRender, CsvHasOneRowPerContestUnitAndSelectionQuoted) {
  const std::string csv = render_csv(build(2));
  std::istringstream lines(csv);
  std::string line;
  size_t rows = 0;
  std::getline(lines, line);
  EXPECT_EQ(line.rfind("contest_id,contest_name,unit_id", 0), 0U);
  while (std::getline(lines, line)) {
    ++rows;
  }
  // mayor: 4 units x 3; prop-1: county, prec-b x 2; council: county, a, b x 3.
  EXPECT_EQ(rows, 12U + 4U + 9U);
  EXPECT_NE(
      csv.find("prop-1,\"Proposition 1, \"\"Parks\"\"\",county,Demo County,county,false,2/2,2,0,1,prop-1-yes,Yes,,"
               "false,1\r\n"),
      std::string::npos)
      << csv;
}

TEST(ResultsParsers, SummaryDirectoryAndRegistry) {
  Result<ElectionSummary> summary = summarize_election(testing::kEid, pack(testing::election_projection(0)));
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->district_units, std::vector<std::string>{"county"});
  EXPECT_EQ(summary->rcv_contests, std::vector<std::string>{"council"});
  EXPECT_EQ(summary->pages, 1U);
  Result<std::vector<std::string>> ids = directory_unit_ids(pack(testing::directory_projection()));
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, testing::unit_ids());
  Result<std::optional<std::string>> last = last_registered_election(pack(testing::registry_projection()));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<std::string>("demo-2026"));
  last = last_registered_election(pack(json{{"kind", "registry"}, {"elections", json::array()}}));
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->has_value());
  EXPECT_EQ(parse_results_format("nist-err"), ResultsFormat::kNistErr);
  EXPECT_FALSE(parse_results_format("xml"));
  EXPECT_EQ(iso_time_ms(1'793'730'000'123), "2026-11-03T18:20:00.123Z");
}

// nist-err from projections rebuilt out of NIST's certified results: every
// count the certified file lists is listed at the same unit with the same
// value, and nothing else but zeros.
void expect_same_counts_as_certified(const std::string& name) {
  const json certified = testing::load_json(std::string(QUORUM_TEST_DATA_DIR) + "/nist-cdf-test-method/" + name +
                                            "/err-" + name + ".json");
  Result<Results> results = build_results(testing::certified_input(certified, name));
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_EQ(results->status, "unofficial-complete");
  EXPECT_TRUE(results->audit.differences.empty()) << results->audit.differences.front();
  const json ours = json::parse(render_nist_err(*results));
  const json& our_contests = ours["Election"][0]["Contest"];
  const json& their_contests = certified["Election"][0]["Contest"];
  ASSERT_EQ(our_contests.size(), their_contests.size());
  size_t compared = 0;
  for (size_t i = 0; i < their_contests.size(); ++i) {
    const json& theirs = their_contests[i];
    const json& mine = our_contests[i];
    ASSERT_EQ(mine["@id"], theirs["@id"]);
    EXPECT_EQ(mine["@type"], theirs["@type"]) << theirs["@id"];
    for (size_t k = 0; k < theirs["ContestSelection"].size(); ++k) {
      std::map<std::string, json> listed;
      for (const json& vc : mine["ContestSelection"][k]["VoteCounts"]) {
        listed[vc["GpUnitId"]] = vc["Count"];
      }
      std::set<std::string> certified_units;
      for (const json& vc : theirs["ContestSelection"][k]["VoteCounts"]) {
        certified_units.insert(vc["GpUnitId"]);
        ASSERT_TRUE(listed.contains(vc["GpUnitId"])) << theirs["@id"] << " " << vc["GpUnitId"];
        EXPECT_EQ(listed[vc["GpUnitId"]], vc["Count"]) << theirs["@id"] << " " << vc["GpUnitId"];
        ++compared;
      }
      for (const auto& [unit, count] : listed) {
        if (!certified_units.contains(unit)) {
          EXPECT_EQ(count, 0) << theirs["@id"] << " lists " << unit;
        }
      }
    }
    std::map<std::string, json> other;
    for (const json& oc : mine["OtherCounts"]) {
      other[oc["GpUnitId"]] = oc;
    }
    ASSERT_EQ(other.size(), theirs["OtherCounts"].size()) << theirs["@id"];
    for (const json& oc : theirs["OtherCounts"]) {
      ASSERT_TRUE(other.contains(oc["GpUnitId"]));
      EXPECT_EQ(other[oc["GpUnitId"]]["Overvotes"], oc["Overvotes"]);
      EXPECT_EQ(other[oc["GpUnitId"]]["Undervotes"], oc["Undervotes"]);
    }
  }
  EXPECT_GT(compared, 20U);
}

TEST(ResultsCertified, NistErrOfGen03ListsWhatTheCertifiedFileLists) { expect_same_counts_as_certified("gen-03"); }
TEST(ResultsCertified, NistErrOfGen01ListsWhatTheCertifiedFileLists) { expect_same_counts_as_certified("gen-01"); }

// --- the gatherer over a node

Result<ResultsInput> gather(testing::ProjectionNode& node, GatherRequest request) {
  std::promise<Result<ResultsInput>> promise;
  gather_results(node, std::move(request), [&promise](Result<ResultsInput> r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

TEST(ResultsGather, JsonReadsRegistryElectionDistrictsAndRcvContestsOnly) {
  testing::ProjectionNode node(testing::actors(1));
  Result<ResultsInput> in = gather(node, GatherRequest{"", false, 0, 2});
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(in->election_id, "demo-2026");  // the last registered
  std::map<std::string, size_t> reads = node.reads();
  EXPECT_EQ(reads.size(), 4U);
  EXPECT_TRUE(reads.contains("elections"));
  EXPECT_TRUE(reads.contains("election/demo-2026/unit/county"));
  EXPECT_TRUE(reads.contains("election/demo-2026/contest/council"));
  EXPECT_FALSE(reads.contains("election/demo-2026/unit/prec-a"));
  Result<Results> results = build_results(*in);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(votes(contest(*results, "mayor")), (std::vector<uint64_t>{2, 1, 0}));
  EXPECT_EQ(contest(*results, "council").rounds.size(), 2U);
}

TEST(ResultsGather, AllUnitsReadsEveryPageAndUnitAndMissingActorsAreZero) {
  testing::ProjectionNode::Actors actors = testing::actors(1);
  actors.erase(unit_key(testing::kEid, "prec-b"));  // never received a command
  testing::ProjectionNode node(actors);
  Result<ResultsInput> in = gather(node, GatherRequest{"demo-2026", true, 0, 1});
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(in->directory_pages.size(), 1U);
  EXPECT_EQ(in->units.size(), 3U);
  Result<Results> results = build_results(*in);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->units.size(), 4U);
  EXPECT_FALSE(results->units[2].seen);
  EXPECT_EQ(results->units[2].name, "Precinct B");  // from the directory
}

TEST(ResultsGather, ErrorsAreValues) {
  testing::ProjectionNode node(testing::actors(1));
  Result<ResultsInput> missing = gather(node, GatherRequest{"nope", false, 0, 4});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "election nope is not loaded");
  node.fail_key(unit_key(testing::kEid, "prec-a"), Error{ErrorCode::kUnavailable, "broken chain"});
  Result<ResultsInput> failed = gather(node, GatherRequest{"demo-2026", true, 0, 3});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(failed.error().message.find("election/demo-2026/unit/prec-a"), std::string::npos);
  testing::ProjectionNode empty({});
  Result<ResultsInput> none = gather(empty, GatherRequest{"", false, 0, 4});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

// --- the routes

struct Answer {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

Answer get(http::Api& api, const std::string& target) {
  http::Request request{http::beast_http::verb::get, target, 11};
  std::promise<Answer> promise;
  std::optional<http::StreamRequest> stream = api.handle(request, [&promise](http::Response response) {
    promise.set_value(
        Answer{response.result_int(), std::string(response[http::beast_http::field::content_type]), response.body()});
  });
  EXPECT_FALSE(stream);
  return promise.get_future().get();
}

TEST(ResultsRoutes, EveryFormatAndTheErrors) {
  testing::ProjectionNode node(testing::actors(2));
  http::Api api(node, http::ApiOptions{});
  Answer json_answer = get(api, "/v1/results");
  ASSERT_EQ(json_answer.status, 200U) << json_answer.body;
  EXPECT_EQ(json::parse(json_answer.body)["status"], "unofficial-complete");
  EXPECT_FALSE(json::parse(json_answer.body).contains("units"));
  EXPECT_TRUE(json::parse(get(api, "/v1/results?units=all").body).contains("units"));
  Answer csv = get(api, "/v1/results?election=demo-2026&format=csv");
  EXPECT_EQ(csv.status, 200U);
  EXPECT_EQ(csv.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(json::parse(get(api, "/v1/results?format=nist-err").body)["Status"], "unofficial-complete");
  EXPECT_EQ(json::parse(get(api, "/v1/results?format=ap").body)["races"].size(), 3U);
  EXPECT_TRUE(json::parse(get(api, "/v1/results?format=audit").body)["ok"].get<bool>());

  Answer bad = get(api, "/v1/results?format=xml");
  EXPECT_EQ(bad.status, 400U);
  EXPECT_NE(json::parse(bad.body)["error"].get<std::string>().find("unknown format 'xml'"), std::string::npos);
  EXPECT_EQ(get(api, "/v1/results?election=a/b").status, 400U);
  EXPECT_EQ(get(api, "/v1/results?colour=red").status, 400U);
  Answer missing = get(api, "/v1/results?election=other");
  EXPECT_EQ(missing.status, 404U);
  EXPECT_EQ(json::parse(missing.body)["error"], "election other is not loaded");

  Answer page = get(api, "/");
  EXPECT_EQ(page.status, 200U);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/v1/results/events"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);  // no internet assets
  EXPECT_EQ(page.body.find("https://"), std::string::npos);

  http::Request events{http::beast_http::verb::get, "/v1/results/events?election=demo-2026", 11};
  std::optional<http::StreamRequest> stream = api.handle(events, [](http::Response) { FAIL(); });
  ASSERT_TRUE(stream);
  EXPECT_TRUE(stream->results);
  EXPECT_EQ(stream->election, "demo-2026");
  EXPECT_EQ(get(api, "/v1/results/events?format=csv").status, 400U);
}

TEST(ResultsLive, SubscribersShareOneRecomputeAndSeeChanges) {
  testing::ProjectionNode node(testing::actors(1));
  http::ResultsService service(node, nullptr);
  auto latest = [&service] {
    std::promise<Result<std::string>> promise;
    service.latest_json("", [&promise](Result<std::string> r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  };
  Result<std::string> first = latest();
  ASSERT_TRUE(first.ok());
  const size_t reads = node.total_reads();
  Result<std::string> again = latest();  // within kLiveMaxAgeMs: no new reads
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(node.total_reads(), reads);
  node.set_actors(testing::actors(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(http::kLiveMaxAgeMs + 50));
  Result<std::string> later = latest();
  ASSERT_TRUE(later.ok());
  EXPECT_NE(*later, *first);
  EXPECT_EQ(json::parse(*later)["status"], "unofficial-complete");
  // A small election: every unit read for the audit, none listed.
  EXPECT_TRUE(json::parse(*later)["audit"]["computed"].get<bool>());
  EXPECT_EQ(json::parse(*later)["audit"]["units_checked"], 2);
  EXPECT_FALSE(json::parse(*later).contains("units"));
}

}  // namespace
}  // namespace quorum::election
