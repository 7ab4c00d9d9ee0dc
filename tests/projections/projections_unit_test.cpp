// Unit tests of the projections handler: paths, bounds, defaults, codec.
#include "plugins/projections/projections.hpp"
#include "projections_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace {

using quorum::plugins::projections::Projections;
using projections_test::json;
using projections_test::Runner;

const quorum_plugin_descriptor* plugin() { return quorum::sdk::descriptor<Projections>(); }

// A counter config with one counter named "c" on `field`.
json one_counter(const std::string& field, uint32_t max_values = 1000) {
  return {{"counters", {{{"name", "c"}, {"field", field}, {"max_values", max_values}}}}};
}

json values_of(const std::string& field, const json& data, const std::string& type = "cvr") {
  Runner runner(plugin(), one_counter(field));
  EXPECT_TRUE(runner.feed("m-1", type, 42, data).ok());
  return runner.projection()["counters"]["c"];
}

TEST(ProjectionsDescriptor, NameVersionAndCapabilities) {
  const quorum_plugin_descriptor* d = plugin();
  EXPECT_STREQ(d->name, "projections");
  EXPECT_STREQ(d->semver, "1.0.0");
  EXPECT_EQ(d->projection_schema, 1u);
  EXPECT_TRUE(d->capabilities & QUORUM_CAP_INIT);
}

TEST(ProjectionsDefault, CountsTypesPrecinctsStylesAndContests) {
  Runner runner(plugin());  // no init: the default config
  const json cvr = {{"BallotStyleUnitId", "p-1"},
                    {"BallotStyleId", "s-A"},
                    {"CVRSnapshot",
                     {{{"@id", "s1"}, {"CVRContest", {{{"ContestId", "mayor"}}, {{"ContestId", "rcv-1"}}}}},
                      {{"@id", "s2"}, {"CVRContest", {{{"ContestId", "mayor"}}}}}}}};
  ASSERT_TRUE(runner.feed("b-1", "cvr", 10, cvr).ok());
  ASSERT_TRUE(runner.feed("b-2", "cvr", 20, {{"BallotStyleUnitId", "p-2"}}).ok());
  ASSERT_TRUE(runner.feed("n-1", "note", 30, nullptr).ok());
  const json p = runner.projection();
  EXPECT_EQ(p["messages"], 3);
  EXPECT_EQ(p["counters"]["by_type"]["values"], (json{{"cvr", 2}, {"note", 1}}));
  EXPECT_TRUE(p["counters"]["by_type"]["types"].is_null());
  EXPECT_EQ(p["counters"]["by_precinct"]["values"], (json{{"p-1", 1}, {"p-2", 1}}));
  EXPECT_EQ(p["counters"]["by_precinct"]["messages"], 2);  // only "cvr" messages
  EXPECT_EQ(p["counters"]["by_precinct"]["types"], json::array({"cvr"}));
  EXPECT_EQ(p["counters"]["by_style"]["values"], (json{{"s-A", 1}}));
  EXPECT_EQ(p["counters"]["by_style"]["missing"], 1);
  // Fan-out: a ballot counts once per distinct contest, across snapshots.
  EXPECT_EQ(p["counters"]["by_contest"]["values"], (json{{"mayor", 1}, {"rcv-1", 1}}));
  EXPECT_EQ(p["counters"]["by_contest"]["missing"], 1);
  EXPECT_EQ(p["counters"]["by_type"]["max_values"], 1000);
  const json precinct = p["indices"]["precincts"]["entries"]["p-1"];
  EXPECT_EQ(precinct, (json{{"count", 1}, {"first_id", "b-1"}, {"first_time", 10}, {"last_id", "b-1"}, {"last_time", 10}}));
  EXPECT_EQ(p["indices"]["precincts"]["max_entries"], 1000);
}

TEST(ProjectionsDefault, EmptyConfigIsTheDefaultAndInitMatchesNoInit) {
  Runner from_empty(plugin(), json::object());
  Runner from_nothing(plugin());
  ASSERT_TRUE(from_empty.feed("b-1", "cvr", 1, {{"BallotStyleUnitId", "p"}}).ok());
  ASSERT_TRUE(from_nothing.feed("b-1", "cvr", 1, {{"BallotStyleUnitId", "p"}}).ok());
  EXPECT_EQ(from_empty.bytes_now(), from_nothing.bytes_now());
}

TEST(ProjectionsPaths, EnvelopeFields) {
  EXPECT_EQ(values_of("type", nullptr, "close-polls")["values"], (json{{"close-polls", 1}}));
  EXPECT_EQ(values_of("id", nullptr)["values"], (json{{"m-1", 1}}));
  EXPECT_EQ(values_of("time", nullptr)["values"], (json{{"42", 1}}));
  EXPECT_EQ(values_of("type.x", nullptr)["missing"], 1);  // scalars have no members
}

TEST(ProjectionsPaths, MapsArraysAndFanOut) {
  const json data = {{"a", {{"b", "deep"}}},
                     {"list", {{{"k", "x"}}, {{"k", "y"}}, {{"k", "x"}}}},
                     {"grid", {{1, 2}, {2, 3}}}};
  EXPECT_EQ(values_of("data.a.b", data)["values"], (json{{"deep", 1}}));
  EXPECT_EQ(values_of("data.list[1].k", data)["values"], (json{{"y", 1}}));
  EXPECT_EQ(values_of("data.list.1.k", data)["values"], (json{{"y", 1}}));
  EXPECT_EQ(values_of("data.list[].k", data)["values"], (json{{"x", 1}, {"y", 1}}));  // distinct per message
  EXPECT_EQ(values_of("data.grid[][]", data)["values"], (json{{"1", 1}, {"2", 1}, {"3", 1}}));
  EXPECT_EQ(values_of("data.grid[1][0]", data)["values"], (json{{"2", 1}}));
  EXPECT_EQ(values_of("data.grid.[].0", data)["values"], (json{{"1", 1}, {"2", 1}}));
  EXPECT_EQ(values_of("data.list[7].k", data)["missing"], 1);
  EXPECT_EQ(values_of("data.a[]", data)["missing"], 1);
  EXPECT_EQ(values_of("data.nope", data)["missing"], 1);
  EXPECT_EQ(values_of("data.list", data)["missing"], 1);  // an array is not a scalar
}

TEST(ProjectionsPaths, ScalarRendering) {
  const json data = {{"i", 7}, {"n", -3}, {"t", true}, {"f", 1.5}, {"z", nullptr}, {"m", json::object()}};
  EXPECT_EQ(values_of("data.i", data)["values"], (json{{"7", 1}}));
  EXPECT_EQ(values_of("data.n", data)["values"], (json{{"-3", 1}}));
  EXPECT_EQ(values_of("data.t", data)["values"], (json{{"true", 1}}));
  EXPECT_EQ(values_of("data.f", data)["values"], (json{{"1.5", 1}}));
  EXPECT_EQ(values_of("data.z", data)["missing"], 1);
  EXPECT_EQ(values_of("data.m", data)["missing"], 1);
  // Long strings are cut to 256 bytes, never inside a UTF-8 sequence.
  const std::string long_text = std::string(255, 'x') + "\xc3\xa9" + "tail";
  const json cut = values_of("data.s", {{"s", long_text}})["values"];
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut.begin().key(), std::string(255, 'x'));
}

TEST(ProjectionsPaths, BadPathsAreRefusedAtInit) {
  for (const char* field : {"", "foo", "data..x", ".data", "data.", "data[x]", "data[1", "data]x", "data[]x",
                            "id2", "data[-1]"}) {
    auto result = projections_test::try_init(plugin(), one_counter(field));
    EXPECT_EQ(result.status, QUORUM_STATUS_REJECTED) << field;
    EXPECT_NE(result.error.find("projections config"), std::string::npos) << result.error;
  }
  for (const char* field : {"data", "data[]", "data[0][1].x", "time", "data.@type", "data.0"}) {
    EXPECT_TRUE(projections_test::try_init(plugin(), one_counter(field)).ok()) << field;
  }
}

TEST(ProjectionsConfig, BadConfigsAreRefused) {
  const json counter = {{"name", "c"}, {"field", "type"}};
  for (const json& config : {json{{"counters", counter}},                                                    // not an array
                             json{{"counters", {counter, counter}}},                                          // duplicate
                             json{{"counters", {{{"name", "bad name"}, {"field", "type"}}}}},                 // name
                             json{{"counters", {{{"name", "c"}}}}},                                           // no field
                             json{{"counters", {{{"name", "c"}, {"field", "type"}, {"max_values", 0}}}}},      // bound
                             json{{"counters", {{{"name", "c"}, {"field", "type"}, {"max_values", 100001}}}}},
                             json{{"counters", {{{"name", "c"}, {"field", "type"}, {"max_entries", 5}}}}},    // wrong key
                             json{{"counters", {{{"name", "c"}, {"field", "type"}, {"types", "cvr"}}}}},      // types
                             json{{"indices", {{{"name", "i"}, {"field", "type"}, {"max_values", 5}}}}},
                             json{{"graphs", json::array()}}, json::array({1})}) {
    auto result = projections_test::try_init(plugin(), config);
    EXPECT_EQ(result.status, QUORUM_STATUS_REJECTED) << config.dump();
  }
  // A counter and an index may share a name; an explicit config replaces the default.
  Runner runner(plugin(), {{"counters", {counter}}, {"indices", {counter}}});
  ASSERT_TRUE(runner.feed("m", "x", 0, nullptr).ok());
  EXPECT_EQ(runner.projection()["counters"].size(), 1u);
  EXPECT_EQ(runner.projection()["indices"].size(), 1u);
}

TEST(ProjectionsConfig, TypesFilter) {
  Runner runner(plugin(), {{"counters", {{{"name", "c"}, {"field", "data.k"}, {"types", {"b", "a", "a"}}}}}});
  for (const char* type : {"a", "b", "c"}) {
    ASSERT_TRUE(runner.feed("m", type, 0, {{"k", type}}).ok());
  }
  const json c = runner.projection()["counters"]["c"];
  EXPECT_EQ(c["types"], json::array({"a", "b"}));
  EXPECT_EQ(c["messages"], 2);
  EXPECT_EQ(c["values"], (json{{"a", 1}, {"b", 1}}));
  EXPECT_EQ(runner.projection()["messages"], 3);
}

TEST(ProjectionsBounds, CounterKeepsTheSmallestValuesAndSpillsToOther) {
  Runner runner(plugin(), one_counter("data.k", 2));
  for (const char* k : {"m", "z", "m", "y", "a", "z"}) {
    ASSERT_TRUE(runner.feed("x", "cvr", 0, {{"k", k}}).ok());
  }
  ASSERT_TRUE(runner.feed("x", "cvr", 0, json::object()).ok());
  const json c = runner.projection()["counters"]["c"];
  // Kept: the two smallest values ever seen, with exact counts.
  EXPECT_EQ(c["values"], (json{{"a", 1}, {"m", 2}}));
  EXPECT_EQ(c["other"], 3);  // z, y, z
  EXPECT_EQ(c["missing"], 1);
  EXPECT_EQ(c["messages"], 7);
}

TEST(ProjectionsBounds, IndexKeepsTheSmallestEntriesAndCountsOverflow) {
  Runner runner(
      plugin(), {{"indices", {{{"name", "i"}, {"field", "data.k"}, {"max_entries", 1}}}}});
  ASSERT_TRUE(runner.feed("b-1", "cvr", 5, {{"k", "q"}}).ok());
  ASSERT_TRUE(runner.feed("b-2", "cvr", 6, {{"k", "q"}}).ok());
  ASSERT_TRUE(runner.feed("b-3", "cvr", 7, {{"k", "p"}}).ok());  // evicts q (2 to overflow)
  ASSERT_TRUE(runner.feed("b-4", "cvr", 8, {{"k", "r"}}).ok());  // larger than p: overflow
  const json i = runner.projection()["indices"]["i"];
  EXPECT_EQ(i["entries"].size(), 1u);
  EXPECT_EQ(i["entries"]["p"]["count"], 1);
  EXPECT_EQ(i["overflow"], 3);
  EXPECT_EQ(i["messages"], 4);
}

TEST(ProjectionsIndex, FirstAndLastAreByTimeThenId) {
  Runner runner(plugin(), {{"indices", {{{"name", "i"}, {"field", "data.k"}}}}});
  ASSERT_TRUE(runner.feed("b-5", "cvr", 50, {{"k", "p"}}).ok());
  ASSERT_TRUE(runner.feed("b-9", "cvr", 10, {{"k", "p"}}).ok());  // earlier time: the first
  ASSERT_TRUE(runner.feed("b-1", "cvr", 90, {{"k", "p"}}).ok());
  ASSERT_TRUE(runner.feed("b-2", "cvr", 90, {{"k", "p"}}).ok());  // same time, larger id: the last
  const json e = runner.projection()["indices"]["i"]["entries"]["p"];
  EXPECT_EQ(e, (json{{"count", 4}, {"first_id", "b-9"}, {"first_time", 10}, {"last_id", "b-2"}, {"last_time", 90}}));
}

TEST(ProjectionsCodec, DecodeEncodeIsTheIdentity) {
  Runner runner(plugin());
  ASSERT_TRUE(runner.feed("b-1", "cvr", -5, {{"BallotStyleUnitId", "p"}, {"BallotStyleId", 3}}).ok());
  ASSERT_TRUE(runner.feed("n-1", "note", 7, nullptr).ok());
  const std::string& bytes = runner.bytes_now();
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  Projections::Projection projection;
  Projections::decode(handle.get(), projection);
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  Projections::encode(packer, projection);
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), bytes);
  EXPECT_EQ(runner.projection()["indices"]["precincts"]["entries"]["p"]["first_time"], -5);
}

// The NIST synthetic general election gen-03: 20 CVRs, 2 precincts of 10.
TEST(ProjectionsNist, Gen03Defaults) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/nist-cdf-test-method/gen-03/cvr-gen-03.json");
  const json report = json::parse(in);
  Runner runner(plugin());
  int64_t time = 1000;
  for (const json& cvr : report["CVR"]) {
    ASSERT_TRUE(runner.feed(cvr["BallotPrePrintedId"], "cvr", time++, cvr).ok());
  }
  const json p = runner.projection();
  EXPECT_EQ(p["counters"]["by_type"]["values"], (json{{"cvr", 20}}));
  EXPECT_EQ(p["counters"]["by_precinct"]["values"], (json{{"prec-ac", 10}, {"prec-fs-23", 10}}));
  EXPECT_EQ(p["counters"]["by_style"]["values"], (json{{"Aldersgate Church", 10}, {"Fire Station 23", 10}}));
  EXPECT_EQ(p["counters"]["by_contest"]["values"]["cc-president"], 20);
  EXPECT_EQ(p["indices"]["precincts"]["entries"]["prec-fs-23"]["first_id"], "b-1-prec-fs-23");
}

}  // namespace
