// FailureDetector with a fake clock: examples, then a property against a
// reference model (RC_PARAMS="seed=N" replays a failure).
#include <quorum/cluster/failure_detector.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>

namespace quorum::cluster {
namespace {

using std::chrono::milliseconds;
using Time = FailureDetector::Clock::time_point;
using testing::ElementsAre;
using testing::IsEmpty;

const Time kStart = Time() + std::chrono::hours(1);

TEST(FailureDetector, NewNodesAreAliveForOneTimeoutThenDeadWhenSilent) {
  FailureDetector detector("FL-A-1", milliseconds(3000));
  detector.set_nodes({"FL-A-1", "FL-A-2", "TN-A-1"}, kStart);
  EXPECT_THAT(detector.tick(kStart + milliseconds(2999)), IsEmpty());
  EXPECT_TRUE(detector.alive("FL-A-2"));
  detector.heard("TN-A-1", kStart + milliseconds(2000));
  EXPECT_THAT(detector.tick(kStart + milliseconds(3000)), ElementsAre("FL-A-2"));
  EXPECT_FALSE(detector.alive("FL-A-2"));
  EXPECT_TRUE(detector.alive("TN-A-1"));
  EXPECT_TRUE(detector.alive("FL-A-1"));  // self, never heard
  EXPECT_THAT(detector.tick(kStart + milliseconds(5000)), ElementsAre("TN-A-1"));
}

TEST(FailureDetector, HeardAgainIsAliveAtTheNextTick) {
  FailureDetector detector("FL-A-1", milliseconds(1000));
  detector.set_nodes({"FL-A-2"}, kStart);
  EXPECT_THAT(detector.tick(kStart + milliseconds(1500)), ElementsAre("FL-A-2"));
  detector.heard("FL-A-2", kStart + milliseconds(1600));
  EXPECT_FALSE(detector.alive("FL-A-2"));  // only tick() changes states
  EXPECT_THAT(detector.tick(kStart + milliseconds(1700)), ElementsAre("FL-A-2"));
  EXPECT_TRUE(detector.alive("FL-A-2"));
  EXPECT_THAT(detector.tick(kStart + milliseconds(2599)), IsEmpty());
  // Evidence older than what is recorded does not move the clock back.
  detector.heard("FL-A-2", kStart + milliseconds(100));
  EXPECT_THAT(detector.tick(kStart + milliseconds(2600)), ElementsAre("FL-A-2"));
}

TEST(FailureDetector, SelfIsAlwaysAliveAndUnknownNodesAreIgnored) {
  FailureDetector detector("FL-A-1", milliseconds(100));
  detector.set_nodes({"FL-A-1"}, kStart);
  detector.heard("XX-A-1", kStart);
  EXPECT_THAT(detector.tick(kStart + std::chrono::hours(5)), IsEmpty());
  EXPECT_TRUE(detector.alive("FL-A-1"));
  EXPECT_EQ(detector.size(), 1u);
}

TEST(FailureDetector, SetNodesKeepsKnownNodesAndForgetsRemovedOnes) {
  FailureDetector detector("FL-A-1", milliseconds(1000));
  detector.set_nodes({"FL-A-2", "FL-A-3"}, kStart);
  EXPECT_THAT(detector.tick(kStart + milliseconds(1000)), ElementsAre("FL-A-2", "FL-A-3"));
  // FL-A-2 stays dead (not a fresh grace period); FL-A-4 is new and alive.
  detector.set_nodes({"FL-A-2", "FL-A-4"}, kStart + milliseconds(1100));
  EXPECT_THAT(detector.tick(kStart + milliseconds(1200)), IsEmpty());
  EXPECT_FALSE(detector.alive("FL-A-2"));
  EXPECT_TRUE(detector.alive("FL-A-4"));
  EXPECT_TRUE(detector.alive("FL-A-3"));  // untracked: the detector does not lower it
  EXPECT_EQ(detector.size(), 2u);
}

// A random schedule of heard() and tick() on 4 nodes against a model: after
// each tick a node (not self) is alive iff now - max(start, last heard) < timeout,
// and tick() returns exactly the nodes whose answer changed.
RC_GTEST_PROP(FailureDetectorProperty, MatchesTheReferenceModel, ()) {
  const std::vector<std::string> names = {"FL-A-1", "FL-A-2", "FL-B-1", "TN-A-1"};
  const int timeout_ms = *rc::gen::inRange(1, 5000);
  FailureDetector detector(names[0], milliseconds(timeout_ms));
  detector.set_nodes(names, kStart);
  std::map<std::string, Time> last;
  std::map<std::string, bool> alive;
  for (const auto& name : names) {
    last[name] = kStart;
    alive[name] = true;
  }
  Time now = kStart;
  const int steps = *rc::gen::inRange(1, 200);
  for (int i = 0; i < steps; ++i) {
    now += milliseconds(*rc::gen::inRange(0, 2 * timeout_ms));
    if (*rc::gen::arbitrary<bool>()) {
      const std::string& name = names[*rc::gen::inRange<size_t>(0, names.size())];
      detector.heard(name, now);
      last[name] = std::max(last[name], now);
    } else {
      std::vector<std::string> expected_changes;
      for (const auto& name : names) {
        const bool expected = name == names[0] || now - last[name] < milliseconds(timeout_ms);
        if (expected != alive[name]) {
          expected_changes.push_back(name);
          alive[name] = expected;
        }
      }
      std::sort(expected_changes.begin(), expected_changes.end());
      RC_ASSERT(detector.tick(now) == expected_changes);
      for (const auto& name : names) {
        RC_ASSERT(detector.alive(name) == alive[name]);
      }
    }
  }
}

}  // namespace
}  // namespace quorum::cluster
