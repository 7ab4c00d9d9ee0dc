// topology.json: parsing, writing and every validation rule, with the error
// message naming what is wrong.
#include "cluster_test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace quorum::cluster {
namespace {

using nlohmann::json;

json sample_json() { return json::parse(to_json(testing::sample_topology())); }

// Parses `document` and expects an error mentioning `needle`.
void expect_refused(const json& document, const std::string& needle) {
  auto topology = parse_topology(document.dump());
  ASSERT_FALSE(topology.ok()) << "accepted, expected an error about: " << needle;
  EXPECT_EQ(topology.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(topology.error().message.find(needle), std::string::npos)
      << "message \"" << topology.error().message << "\" does not mention \"" << needle << "\"";
}

TEST(ClusterTopology, RoundTrips) {
  Topology topology = testing::sample_topology();
  topology.epoch = 42;
  testing::find_node(topology, "TX-B-3")->live = false;
  topology.fallback_order.clear();
  auto again = parse_topology(to_json(topology));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, topology);
}

TEST(ClusterTopology, OptionalFieldsDefault) {
  auto topology = parse_topology(R"({"version": 1, "epoch": 7, "data_centers": [
      {"name": "FL", "nodes": [{"name": "FL-A-1", "zone": "A", "address": "fl1:7400"}]}]})");
  ASSERT_TRUE(topology.ok()) << topology.error().message;
  EXPECT_EQ(topology->epoch, 7u);
  EXPECT_TRUE(topology->data_centers[0].nodes[0].live);
  EXPECT_TRUE(topology->home_rules.empty());
  EXPECT_TRUE(topology->fallback_order.empty());
}

TEST(ClusterTopology, RefusesMalformedDocuments) {
  EXPECT_FALSE(parse_topology("{").ok());
  EXPECT_FALSE(parse_topology("[]").ok());
  json doc = sample_json();
  doc["version"] = 2;
  expect_refused(doc, "\"version\" must be 1");
  doc = sample_json();
  doc["epoch"] = -1;
  expect_refused(doc, "\"epoch\"");
  doc = sample_json();
  doc["extra"] = 1;
  expect_refused(doc, "unknown field \"extra\"");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["liv"] = true;
  expect_refused(doc, "unknown field \"liv\"");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["live"] = "yes";
  expect_refused(doc, "\"live\" must be true or false");
  doc = sample_json();
  doc["data_centers"][1]["nodes"][2].erase("address");
  expect_refused(doc, "\"address\" must be a string");
}

TEST(ClusterTopology, RefusesBadNamesAndZones) {
  json doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["zone"] = "C";
  expect_refused(doc, "zone \"C\" must be \"A\" or \"B\"");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["name"] = "FL-1";
  expect_refused(doc, "must be named FL-A-N");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["name"] = "TN-A-9";  // in FL
  expect_refused(doc, "\"TN-A-9\" in data center FL");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["name"] = "FL-B-9";  // zone A
  expect_refused(doc, "must be named FL-A-N");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["name"] = "FL-A-0";
  expect_refused(doc, "must be named FL-A-N");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["name"] = "FL-A-01";
  expect_refused(doc, "must be named FL-A-N");
  doc = sample_json();
  doc["data_centers"][0]["name"] = "fl";
  expect_refused(doc, "data center name \"fl\"");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][1]["name"] = "FL-A-1";
  expect_refused(doc, "node name FL-A-1 is used twice");
  doc = sample_json();
  doc["data_centers"][1]["name"] = "FL";
  expect_refused(doc, "data center FL is listed twice");
  doc = sample_json();
  doc["data_centers"][2]["nodes"] = json::array();
  expect_refused(doc, "data center TX has no nodes");
  doc = sample_json();
  doc["data_centers"] = json::array();
  expect_refused(doc, "at least one data center");
}

TEST(ClusterTopology, RefusesBadAddresses) {
  for (const char* address : {"", "host", ":7400", "host:", "host:0", "host:65536", "host:74x0", "host:07400"}) {
    json doc = sample_json();
    doc["data_centers"][0]["nodes"][0]["address"] = address;
    expect_refused(doc, "is not host:port");
  }
  json doc = sample_json();
  doc["data_centers"][0]["nodes"][1]["address"] = doc["data_centers"][0]["nodes"][0]["address"];
  expect_refused(doc, "is used by two nodes");
  doc = sample_json();
  doc["data_centers"][0]["nodes"][0]["address"] = "[::1]:7400";
  EXPECT_TRUE(parse_topology(doc.dump()).ok());
}

TEST(ClusterTopology, RefusesBadRulesAndFallbacks) {
  json doc = sample_json();
  doc["home_rules"].push_back({{"prefix", "e/*/precinct/GA"}, {"dc", "GA"}});
  expect_refused(doc, "names unknown data center \"GA\"");
  doc = sample_json();
  doc["home_rules"].push_back({{"prefix", "e//precinct"}, {"dc", "FL"}});
  expect_refused(doc, "empty segment");
  doc = sample_json();
  doc["home_rules"].push_back({{"prefix", "e/2026*/precinct"}, {"dc", "FL"}});
  expect_refused(doc, "'*' must be a whole segment");
  doc = sample_json();
  doc["home_rules"].push_back({{"prefix", ""}, {"dc", "FL"}});
  expect_refused(doc, "must have 1..");
  doc = sample_json();
  doc["fallback_order"] = {"FL", "TN", "TX"};
  expect_refused(doc, "UT is missing");
  doc = sample_json();
  doc["fallback_order"] = {"FL", "TN", "TX", "UT", "FL"};
  expect_refused(doc, "names data center FL twice");
  doc = sample_json();
  doc["fallback_order"] = {"FL", "TN", "TX", "GA"};
  expect_refused(doc, "unknown data center \"GA\"");
}

TEST(ClusterTopology, ReadsFilesAndReportsIoErrors) {
  auto missing = read_topology_file("/nonexistent/topology.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
  EXPECT_TRUE(read_topology_file(QUORUM_SAMPLE_TOPOLOGY).ok());
}

TEST(ClusterHomeRulePattern, MatchesWholeSegmentsOfAPrefix) {
  EXPECT_TRUE(pattern_matches("e/*/precinct/TN", "e/2026-11-03/precinct/TN/davidson/0101"));
  EXPECT_TRUE(pattern_matches("e/*/precinct/TN", "e/2026-11-03/precinct/TN"));
  EXPECT_TRUE(pattern_matches("e/*/precinct/TN", "e//precinct/TN/x"));  // '*' matches an empty segment
  EXPECT_TRUE(pattern_matches("*", "anything/at/all"));
  EXPECT_TRUE(pattern_matches("e", "e"));
  EXPECT_FALSE(pattern_matches("e/*/precinct/TN", "e/2026-11-03/precinct/TNX/1"));
  EXPECT_FALSE(pattern_matches("e/*/precinct/TN", "e/2026-11-03/precinct/T"));
  EXPECT_FALSE(pattern_matches("e/*/precinct/TN", "e/2026-11-03/precinct"));
  EXPECT_FALSE(pattern_matches("e/*/precinct/TN", "e/2026-11-03/precinct/"));
  EXPECT_FALSE(pattern_matches("e/*/precinct/TN", "e/precinct/TN"));
  EXPECT_FALSE(pattern_matches("e/*/precinct/TN", "x/2026/precinct/TN"));
  EXPECT_FALSE(pattern_matches("e", "ex"));
  EXPECT_FALSE(pattern_matches("e", ""));
}

}  // namespace
}  // namespace quorum::cluster
