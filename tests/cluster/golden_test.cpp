// Placement is part of the protocol: these answers are pinned. If this test
// fails, the hash, the ring or the placement rules changed, and nodes of
// different releases would disagree on writers. Do not "fix" the table
// unless the change is a deliberate, coordinated protocol change.
#include "cluster_test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace quorum::cluster {
namespace {

using testing::NamedReplicaSet;

TEST(ClusterStableHash, IsTheFirstEightBytesOfSha256BigEndian) {
  // Known SHA-256 digests: "" -> e3b0c442 98fc1c14 ..., "abc" -> ba7816bf 8f01cfea ...
  EXPECT_EQ(stable_hash(""), 0xe3b0c44298fc1c14ULL);
  EXPECT_EQ(stable_hash("abc"), 0xba7816bf8f01cfeaULL);
  // 56-byte FIPS 180-2 vector: 248d6a61 d20638b8 ...
  EXPECT_EQ(stable_hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), 0x248d6a61d20638b8ULL);
}

TEST(ClusterSampleTopology, ParsesAndWritesBackByteForByte) {
  std::ifstream file(QUORUM_SAMPLE_TOPOLOGY);
  std::ostringstream text;
  text << file.rdbuf();
  auto topology = parse_topology(text.str());
  ASSERT_TRUE(topology.ok()) << topology.error().message;
  EXPECT_EQ(topology->epoch, 1u);
  ASSERT_EQ(topology->data_centers.size(), 4u);
  for (const DataCenter& dc : topology->data_centers) {
    EXPECT_EQ(dc.nodes.size(), 8u) << dc.name;
  }
  EXPECT_EQ(to_json(*topology), text.str());
}

struct Golden {
  const char* key;
  NamedReplicaSet expected;
};

// Computed once with this implementation on packaging/topology/sample-4x8.json
// and checked by hand for plausibility (home by rule or hash, writer in the
// home DC, follower in its other zone, one follower per other DC); five of
// them were recomputed independently with Python's hashlib.
const Golden kGolden[] = {
    {"e/2026-11-03/precinct/TN/davidson/0101", {"TN", "TN-A-3", {"TN-B-3", "FL-A-4", "TX-A-4", "UT-A-3"}}},
    {"e/2026-11-03/precinct/FL/miami-dade/0042", {"FL", "FL-B-3", {"FL-A-2", "TN-A-4", "TX-A-4", "UT-A-1"}}},
    {"e/2026-11-03/precinct/TX/harris/1207", {"TX", "TX-A-4", {"TX-B-4", "FL-B-2", "TN-B-4", "UT-A-1"}}},
    {"e/2026-11-03/precinct/UT/salt-lake/0310", {"UT", "UT-A-4", {"UT-B-1", "FL-A-3", "TN-B-1", "TX-B-4"}}},
    {"e/2026-11-03/county/TN/shelby", {"TN", "TN-B-3", {"TN-A-1", "FL-A-1", "TX-A-2", "UT-B-4"}}},
    {"e/2026-11-03/precinct/TNX/0001", {"FL", "FL-A-4", {"FL-B-2", "TN-A-2", "TX-B-1", "UT-B-1"}}},
    {"e/2026-11-03/contest/us-senate", {"FL", "FL-B-1", {"FL-A-2", "TN-B-2", "TX-A-4", "UT-B-1"}}},
    {"e/2026-11-03/ballot-style/17", {"FL", "FL-A-3", {"FL-B-1", "TN-B-1", "TX-A-1", "UT-B-2"}}},
    {"audit/batch/000001", {"TN", "TN-A-3", {"TN-B-2", "FL-A-1", "TX-B-1", "UT-B-1"}}},
    {"k", {"TX", "TX-B-4", {"TX-A-1", "FL-A-3", "TN-B-4", "UT-B-3"}}},
    {"e/2026-11-03/precinct", {"FL", "FL-B-1", {"FL-A-4", "TN-A-2", "TX-B-1", "UT-A-2"}}},
    {"results/2026-11-03/summary", {"TN", "TN-B-1", {"TN-A-1", "FL-B-4", "TX-A-3", "UT-B-2"}}},
};

TEST(ClusterPlacement, GoldenAnswersOnTheSampleTopology) {
  const Placement placement = testing::make_placement(testing::sample_topology());
  for (const Golden& golden : kGolden) {
    auto set = placement.replica_set(golden.key);
    ASSERT_TRUE(set.ok()) << golden.key;
    const NamedReplicaSet actual = testing::named(placement, *set);
    EXPECT_EQ(actual, golden.expected) << "key " << golden.key << ": got " << testing::to_string(actual) << ", pinned "
                                       << testing::to_string(golden.expected);
  }
}

}  // namespace
}  // namespace quorum::cluster
