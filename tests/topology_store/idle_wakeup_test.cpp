// The embedded store's idle behaviour (issue 4: 32 idle nodes cost a few
// percent of CPU): FailureDetector::next_tick() and heard()'s revival flag
// with a fake clock, then a StaticTopologyStore that sleeps between changes
// yet sees in-place and atomic file edits (inotify), still sees them when
// polling, declares a silent node dead once its timeout runs out and revives
// it as soon as it is heard. Timing: waits poll with generous deadlines; the
// only upper bounds are loose (seconds).
#include <quorum/cluster/failure_detector.hpp>
#include <quorum/cluster/static_topology_store.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

namespace quorum::cluster {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Time = FailureDetector::Clock::time_point;
using testing::ElementsAre;

const Time kStart = Time() + std::chrono::hours(1);
constexpr auto kDeadline = 20s;

TEST(FailureDetectorWakeup, NextTickIsTheEarliestTimeoutOfAnAliveNode) {
  FailureDetector detector("FL-A-1", 3000ms);
  EXPECT_FALSE(detector.next_tick().has_value());  // nothing tracked
  detector.set_nodes({"FL-A-1"}, kStart);
  EXPECT_FALSE(detector.next_tick().has_value());  // self never expires
  detector.set_nodes({"FL-A-1", "FL-A-2", "TN-A-1"}, kStart);
  EXPECT_EQ(detector.next_tick(), kStart + 3000ms);
  detector.heard("FL-A-2", kStart + 1000ms);
  EXPECT_EQ(detector.next_tick(), kStart + 3000ms);  // TN-A-1 still expires first
  detector.heard("TN-A-1", kStart + 1500ms);
  EXPECT_EQ(detector.next_tick(), kStart + 4000ms);
  // Nothing changes before next_tick(); at it, the node dies.
  EXPECT_TRUE(detector.tick(kStart + 3999ms).empty());
  EXPECT_THAT(detector.tick(kStart + 4000ms), ElementsAre("FL-A-2"));
  EXPECT_EQ(detector.next_tick(), kStart + 4500ms);  // the dead node no longer counts
  EXPECT_THAT(detector.tick(kStart + 4500ms), ElementsAre("TN-A-1"));
  EXPECT_FALSE(detector.next_tick().has_value());  // only heard() can change something now
}

TEST(FailureDetectorWakeup, HeardSaysWhenItRevivesADeadNode) {
  FailureDetector detector("FL-A-1", 1000ms);
  detector.set_nodes({"FL-A-1", "FL-A-2"}, kStart);
  EXPECT_FALSE(detector.heard("FL-A-2", kStart + 500ms));  // alive: nothing to do
  EXPECT_FALSE(detector.heard("XX-A-9", kStart + 500ms));  // untracked
  EXPECT_FALSE(detector.heard("FL-A-1", kStart + 500ms));  // self
  EXPECT_THAT(detector.tick(kStart + 1500ms), ElementsAre("FL-A-2"));
  EXPECT_FALSE(detector.heard("FL-A-2", kStart + 400ms));  // older than recorded: ignored
  EXPECT_TRUE(detector.heard("FL-A-2", kStart + 1600ms));
  EXPECT_TRUE(detector.heard("FL-A-2", kStart + 1700ms));  // still dead until the next tick
  EXPECT_THAT(detector.tick(kStart + 1700ms), ElementsAre("FL-A-2"));
  EXPECT_FALSE(detector.heard("FL-A-2", kStart + 1800ms));
  EXPECT_EQ(detector.next_tick(), kStart + 2800ms);
}

class StaticStoreWakeupTest : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("topo-wakeup-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "topology.json").string();
    fs::copy_file(QUORUM_SAMPLE_TOPOLOGY, path_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Polling at 10 s: with inotify (GetParam() true) edits must not wait for it.
  StaticTopologyStoreOptions options(std::chrono::milliseconds timeout) const {
    StaticTopologyStoreOptions o{path_, "FL-A-1", timeout, GetParam() ? 10s : 50ms};
    o.use_inotify = GetParam();
    return o;
  }

  fs::path dir_;
  std::string path_;
};

template <class Predicate>
bool eventually(Predicate predicate) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

bool is_live(const StaticTopologyStore& store, std::string_view name) {
  const Node* node = node_named(store.current()->topology(), name);
  return node != nullptr && node->live;
}

TEST_P(StaticStoreWakeupTest, SeesAtomicAndInPlaceEditsQuickly) {
  StaticTopologyStore store(options(60s));
  ASSERT_TRUE(store.start().ok());
  Result<Topology> stored = read_topology_file(path_);
  ASSERT_TRUE(stored.ok());
  // Atomic replacement (what quorumctl and the mutations do).
  Result<Topology> drained = with_node_live(*stored, "TN-A-2", false);
  drained->epoch = 7;
  auto written_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(write_topology_file(path_, *drained).ok());
  // The state's epoch moves by one whatever the document's epoch says (one sequence, no gaps).
  ASSERT_TRUE(eventually([&] { return store.current()->topology().epoch == 2; }));
  // Not the fallback poll (10 s) nor the re-check (kStaticRecheckInterval, 5 s).
  EXPECT_LT(std::chrono::steady_clock::now() - written_at, 3s);
  EXPECT_FALSE(is_live(store, "TN-A-2"));
  // In place, by hand (truncate and write).
  Result<Topology> undrained = with_node_live(*drained, "TN-A-2", true);
  undrained->epoch = 8;
  written_at = std::chrono::steady_clock::now();
  { std::ofstream(path_, std::ios::trunc) << to_json(*undrained); }
  ASSERT_TRUE(eventually([&] { return store.current()->topology().epoch == 3; }));
  EXPECT_LT(std::chrono::steady_clock::now() - written_at, 3s);
  EXPECT_TRUE(is_live(store, "TN-A-2"));
  if (GetParam()) {
    EXPECT_EQ(store.rejected_files(), 0u);  // read once closed; a poll may catch the file half-written
  }
  store.stop();
}

TEST_P(StaticStoreWakeupTest, ASilentNodeDiesAtItsTimeoutAndRevivesWhenHeard) {
  StaticTopologyStore store(options(600ms));
  ASSERT_TRUE(store.start().ok());
  std::vector<std::string> names;
  for (const auto& dc : store.current()->topology().data_centers) {
    for (const auto& node : dc.nodes) {
      names.push_back(node.name);
    }
  }
  std::atomic<bool> feeding{true};
  std::atomic<bool> include_silent{false};
  std::thread feeder([&] {
    while (feeding) {
      for (const auto& name : names) {
        if (name != "UT-A-3" || include_silent) {
          store.heard_from(name, Clock::now());
        }
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  const uint64_t epoch = store.current()->topology().epoch;
  ASSERT_TRUE(eventually([&] { return !is_live(store, "UT-A-3"); }));
  EXPECT_EQ(store.current()->topology().epoch, epoch + 1);
  EXPECT_TRUE(is_live(store, "UT-A-4"));  // heard every 50 ms: never expires
  const auto heard_at = std::chrono::steady_clock::now();
  include_silent = true;
  ASSERT_TRUE(eventually([&] { return is_live(store, "UT-A-3"); }));
  // Woken by heard_from(), not by a timeout (none is due: every other node is fresh).
  EXPECT_LT(std::chrono::steady_clock::now() - heard_at, 5s);
  EXPECT_EQ(store.current()->topology().epoch, epoch + 2);
  feeding = false;
  feeder.join();
  store.stop();
}

TEST_P(StaticStoreWakeupTest, MutationsAndStopDoNotWaitForAPoll) {
  StaticTopologyStore store(options(60s));
  ASSERT_TRUE(store.start().ok());
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(store.drain("FL-B-2").ok());
  EXPECT_FALSE(is_live(store, "FL-B-2"));
  store.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
}

INSTANTIATE_TEST_SUITE_P(WatchOrPoll, StaticStoreWakeupTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& p) { return p.param ? "Inotify" : "Polling"; });

}  // namespace
}  // namespace quorum::cluster
