// StaticTopologyStore on a temporary topology.json: file edits, silences,
// mutations and bad files. Timing: every wait polls with a generous deadline.
#include <quorum/cluster/static_topology_store.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace quorum::cluster {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kDeadline = 20s;

class StaticStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("topo-static-" + std::to_string(::getpid()) + "-" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "topology.json").string();
    fs::copy_file(QUORUM_SAMPLE_TOPOLOGY, path_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  StaticTopologyStoreOptions options(std::chrono::milliseconds timeout) const {
    return StaticTopologyStoreOptions{path_, "FL-A-1", timeout, 50ms};
  }

  std::string read_file() const {
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
  std::string path_;
};

const Node* find(const Placement& placement, std::string_view name) {
  return node_named(placement.topology(), name);
}

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

TEST_F(StaticStoreTest, StartsWithTheFileEpochAndEveryNodeAlive) {
  StaticTopologyStore store(options(60s));
  ASSERT_TRUE(store.start().ok());
  auto placement = store.current();
  ASSERT_NE(placement, nullptr);
  EXPECT_EQ(placement->topology().epoch, 1u);
  EXPECT_TRUE(find(*placement, "UT-B-4")->live);
  store.stop();
}

TEST_F(StaticStoreTest, StartFailsOnAMissingOrInvalidFile) {
  StaticTopologyStore missing(StaticTopologyStoreOptions{(dir_ / "none.json").string(), "FL-A-1", 1s, 50ms});
  Status status = missing.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kIo);
  std::ofstream(path_) << "{ not json";
  StaticTopologyStore invalid(options(1s));
  status = invalid.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(StaticStoreTest, PicksUpAFileEdit) {
  StaticTopologyStore store(options(60s));
  std::atomic<int> callbacks{0};
  std::atomic<uint64_t> last_epoch{0};
  store.on_change([&](std::shared_ptr<const Placement> placement) {
    last_epoch = placement->topology().epoch;
    ++callbacks;
  });
  ASSERT_TRUE(store.start().ok());
  Result<Topology> edited = with_node_live(*read_topology_file(path_), "TN-A-1", false);
  ASSERT_TRUE(edited.ok());
  edited->epoch = 5;
  ASSERT_TRUE(write_topology_file(path_, *edited).ok());
  ASSERT_TRUE(eventually([&] { return !find(*store.current(), "TN-A-1")->live; }));
  // One sequence: the state's epoch moves by one, whatever epoch the file's document carries.
  EXPECT_EQ(store.current()->topology().epoch, 2u);
  // The callback runs on the store thread just after current() changed.
  EXPECT_TRUE(eventually([&] { return callbacks.load() == 1; }));
  EXPECT_EQ(last_epoch.load(), 2u);
  store.stop();
  const int after_stop = callbacks.load();
  edited->epoch = 6;
  ASSERT_TRUE(write_topology_file(path_, *with_node_live(*edited, "TN-A-1", true)).ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(callbacks.load(), after_stop);  // no callback after stop()
}

TEST_F(StaticStoreTest, ASilentNodeGoesDownAndComesBack) {
  StaticTopologyStore store(options(1500ms));
  ASSERT_TRUE(store.start().ok());
  const std::vector<std::string> names = [&] {
    std::vector<std::string> all;
    for (const auto& dc : store.current()->topology().data_centers) {
      for (const auto& node : dc.nodes) {
        all.push_back(node.name);
      }
    }
    return all;
  }();
  std::atomic<bool> feeding{true};
  std::atomic<bool> include_silent{false};
  std::thread feeder([&] {
    while (feeding) {
      for (const auto& name : names) {
        if (name != "TX-B-2" || include_silent) {
          store.heard_from(name, Clock::now());
        }
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  const uint64_t start_epoch = store.current()->topology().epoch;
  EXPECT_TRUE(eventually([&] { return !find(*store.current(), "TX-B-2")->live; }));
  EXPECT_TRUE(find(*store.current(), "TX-B-1")->live);
  EXPECT_TRUE(find(*store.current(), "FL-A-1")->live);  // self is never heard from and stays alive
  const uint64_t dead_epoch = store.current()->topology().epoch;
  EXPECT_EQ(dead_epoch, start_epoch + 1);
  include_silent = true;
  EXPECT_TRUE(eventually([&] { return find(*store.current(), "TX-B-2")->live; }));
  EXPECT_EQ(store.current()->topology().epoch, dead_epoch + 1);
  feeding = false;
  feeder.join();
  store.stop();
}

TEST_F(StaticStoreTest, MutationsEditTheFileAndApplyBeforeReturning) {
  StaticTopologyStore store(options(60s));
  ASSERT_TRUE(store.start().ok());
  ASSERT_TRUE(store.drain("FL-A-3").ok());
  EXPECT_FALSE(find(*store.current(), "FL-A-3")->live);
  EXPECT_EQ(read_topology_file(path_)->epoch, 2u);
  EXPECT_EQ(store.current()->topology().epoch, 2u);
  ASSERT_TRUE(store.add_node("UT", Node{"UT-A-5", Zone::kA, "10.4.1.5:7400", true}).ok());
  EXPECT_NE(find(*store.current(), "UT-A-5"), nullptr);
  ASSERT_TRUE(store.undrain("FL-A-3").ok());
  ASSERT_TRUE(store.remove_node("UT-A-5").ok());
  EXPECT_EQ(find(*store.current(), "UT-A-5"), nullptr);
  EXPECT_TRUE(find(*store.current(), "FL-A-3")->live);
  EXPECT_EQ(store.current()->topology().epoch, 5u);

  const std::string before = read_file();
  Status refused = store.add_node("FL", Node{"FL-A-2", Zone::kA, "10.9.9.9:7400", true});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("already exists"), std::string::npos);
  EXPECT_FALSE(store.drain("FL-A-99").ok());
  EXPECT_EQ(read_file(), before);  // refused edits change nothing
  EXPECT_EQ(store.current()->topology().epoch, 5u);
  store.stop();
}

TEST_F(StaticStoreTest, ABadFileIsReportedAndIgnored) {
  StaticTopologyStore store(options(60s));
  ASSERT_TRUE(store.start().ok());
  const auto before = store.current();
  std::ofstream(path_) << "{\"version\": 1, \"epoch\": 9, \"data_centers\": 7}";
  ASSERT_TRUE(eventually([&] { return store.rejected_files() == 1; }));
  EXPECT_EQ(store.current(), before);
  Result<Topology> edited = with_node_live(before->topology(), "FL-B-1", false);
  edited->epoch = 3;
  ASSERT_TRUE(write_topology_file(path_, *edited).ok());
  ASSERT_TRUE(eventually([&] { return store.current()->topology().epoch == 2; }));
  EXPECT_FALSE(find(*store.current(), "FL-B-1")->live);
  store.stop();
}

}  // namespace
}  // namespace quorum::cluster
