// The edits shared by the stores and quorumctl, and node-name parsing.
#include <quorum/cluster/topology_store.hpp>

#include <gtest/gtest.h>

namespace quorum::cluster {
namespace {

Topology sample() {
  Result<Topology> topology = read_topology_file(QUORUM_SAMPLE_TOPOLOGY);
  EXPECT_TRUE(topology.ok()) << (topology.ok() ? "" : topology.error().message);
  return topology.value();
}

TEST(ParseNodeName, SplitsDataCenterAndZone) {
  Result<NodeNameParts> parts = parse_node_name("TX9-B-12");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->data_center, "TX9");
  EXPECT_EQ(parts->zone, Zone::kB);
  for (const char* bad : {"", "FL", "FL-A", "FL-A-", "FL-C-1", "fl-A-1", "FL-A-0", "FL-A-01", "FL-A-1x", "-A-1",
                          "1FL-A-1", "FL--A-1", "FL-AB-1"}) {
    Result<NodeNameParts> refused = parse_node_name(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(refused.error().message.find("DC-ZONE-N"), std::string::npos);
  }
}

TEST(Edits, AddNodeAppendsToItsDataCenter) {
  const Topology before = sample();
  Result<Topology> after = with_node_added(before, "TN", Node{"TN-B-9", Zone::kB, "10.2.2.9:7400", true});
  ASSERT_TRUE(after.ok()) << after.error().message;
  ASSERT_EQ(after->data_centers[1].name, "TN");
  EXPECT_EQ(after->data_centers[1].nodes.size(), before.data_centers[1].nodes.size() + 1);
  EXPECT_EQ(after->data_centers[1].nodes.back().name, "TN-B-9");
  EXPECT_EQ(after->epoch, before.epoch);  // the stores raise it
}

TEST(Edits, AddNodeRefusesDuplicatesUnknownDataCentersAndMismatches) {
  const Topology before = sample();
  struct Case {
    std::string dc;
    Node node;
    ErrorCode code;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"FL", Node{"FL-A-1", Zone::kA, "10.9.9.9:7400", true}, ErrorCode::kInvalidArgument, "already exists"},
      {"FL", Node{"FL-A-9", Zone::kA, "10.1.1.1:7400", true}, ErrorCode::kInvalidArgument, "already used"},
      {"GA", Node{"GA-A-1", Zone::kA, "10.9.9.9:7400", true}, ErrorCode::kNotFound, "no data center"},
      {"FL", Node{"TN-A-9", Zone::kA, "10.9.9.9:7400", true}, ErrorCode::kInvalidArgument, "does not belong"},
      {"FL", Node{"FL-A-9", Zone::kB, "10.9.9.9:7400", true}, ErrorCode::kInvalidArgument, "does not belong"},
      {"FL", Node{"FL_A_9", Zone::kA, "10.9.9.9:7400", true}, ErrorCode::kInvalidArgument, "DC-ZONE-N"},
      {"FL", Node{"FL-A-9", Zone::kA, "nohost", true}, ErrorCode::kInvalidArgument, "host:port"},
  };
  for (const Case& c : cases) {
    Result<Topology> refused = with_node_added(before, c.dc, c.node);
    ASSERT_FALSE(refused.ok()) << c.node.name;
    EXPECT_EQ(refused.error().code, c.code) << refused.error().message;
    EXPECT_NE(refused.error().message.find(c.words), std::string::npos) << refused.error().message;
  }
}

TEST(Edits, RemoveDrainUndrain) {
  const Topology before = sample();
  Result<Topology> removed = with_node_removed(before, "UT-B-4");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->data_centers[3].nodes.size(), 7u);
  EXPECT_EQ(with_node_removed(before, "UT-B-9").error().code, ErrorCode::kNotFound);

  Result<Topology> drained = with_node_live(before, "FL-A-2", false);
  ASSERT_TRUE(drained.ok());
  EXPECT_FALSE(drained->data_centers[0].nodes[1].live);
  EXPECT_FALSE(same_except_epoch(before, *drained));
  Result<Topology> undrained = with_node_live(*drained, "FL-A-2", true);
  ASSERT_TRUE(undrained.ok());
  EXPECT_TRUE(same_except_epoch(before, *undrained));
  EXPECT_EQ(with_node_live(before, "FL-A-9", false).error().code, ErrorCode::kNotFound);
}

TEST(Edits, RemovingTheLastNodeOfADataCenterIsRefused) {
  Topology small = sample();
  for (DataCenter& dc : small.data_centers) {
    dc.nodes.resize(1);
  }
  ASSERT_TRUE(validate(small).ok());
  Result<Topology> refused = with_node_removed(small, "FL-A-1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
}

TEST(Edits, EffectiveTopologyLowersDrainedAndDeadNodes) {
  Topology document = sample();
  document.data_centers[0].nodes[0].live = false;  // drained FL-A-1
  const Topology effective = effective_topology(
      document, [](std::string_view name) { return name != "FL-A-2"; }, 77);
  EXPECT_EQ(effective.epoch, 77u);
  EXPECT_FALSE(effective.data_centers[0].nodes[0].live);
  EXPECT_FALSE(effective.data_centers[0].nodes[1].live);
  EXPECT_TRUE(effective.data_centers[0].nodes[2].live);
  EXPECT_TRUE(effective.data_centers[1].nodes[0].live);
}

}  // namespace
}  // namespace quorum::cluster
