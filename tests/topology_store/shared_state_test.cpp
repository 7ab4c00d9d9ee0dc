// The embedded store's one sequence: several StaticTopologyStore instances
// over one topology.json (several nodes of one machine) share the record
// <file>.state under the file's lock.
//  - an operator's edit goes joint, waits for every live node's report, then
//    final; a second edit waits meanwhile; every store shows the same states;
//  - a node that dies before reporting is folded in and not awaited;
//  - racing edits through four stores make one sequence: no gap, no
//    duplicate, one topology per epoch across all stores;
//  - every store's detector seeing a node die makes exactly one edit;
//  - a garbage record is refused with a clear error (start) or logged and
//    left untouched (running), and nothing changes until it is removed.
// Timing: every wait polls with a generous deadline.
#include <quorum/cluster/static_topology_store.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace quorum::cluster {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kDeadline = 20s;
const std::vector<std::string> kSelves = {"FL-A-1", "TN-A-1", "TX-A-1", "UT-A-1"};

template <class Predicate>
bool eventually(Predicate predicate) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return predicate();
}

std::optional<std::string> read_bounded_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool is_live(const Placement& placement, std::string_view name) {
  const Node* node = node_named(placement.topology(), name);
  return node != nullptr && node->live;
}

class SharedStateTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("topo-shared-" + std::to_string(::getpid()) + "-" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "topology.json").string();
    fs::copy_file(QUORUM_SAMPLE_TOPOLOGY, path_);
  }
  void TearDown() override {
    for (auto& store : stores_) {
      store->stop();
    }
    fs::remove_all(dir_);
  }

  StaticTopologyStoreOptions options(const std::string& self, std::chrono::milliseconds timeout, bool joint) const {
    StaticTopologyStoreOptions o{path_, self, timeout, 50ms};
    o.joint_transitions = joint;
    return o;
  }

  // One store per name in kSelves; each records every state it announces (epoch -> target, joint).
  void start_all(std::chrono::milliseconds timeout, bool joint) {
    for (const std::string& self : kSelves) {
      stores_.push_back(std::make_unique<StaticTopologyStore>(options(self, timeout, joint)));
      StaticTopologyStore* store = stores_.back().get();
      store->on_change([this, store](std::shared_ptr<const Placement> placement) {
        std::lock_guard lock(seen_mutex_);
        seen_[placement->topology().epoch].insert(to_json(placement->topology()));
        ++announcements_[store];
      });
      Status started = store->start();
      ASSERT_TRUE(started.ok()) << started.error().message;
    }
  }

  // True when every store shows `epoch`, joint or final as asked.
  bool all_at(uint64_t epoch, bool joint) const {
    for (const auto& store : stores_) {
      const TopologyView view = store->state();
      if (view.current->topology().epoch != epoch || view.joint() != joint) {
        return false;
      }
    }
    return true;
  }

  std::string read_state_file() const {
    std::ifstream in(topology_state_path(path_));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
  std::string path_;
  std::vector<std::unique_ptr<StaticTopologyStore>> stores_;
  std::mutex seen_mutex_;
  std::map<uint64_t, std::set<std::string>> seen_;  // epoch -> every target announced at it
  std::map<const StaticTopologyStore*, int> announcements_;
};

TEST_F(SharedStateTest, AnEditGoesJointThenFinalOnceEveryLiveNodeReported) {
  start_all(60s, true);
  ASSERT_TRUE(all_at(1, false));
  ASSERT_TRUE(stores_[0]->drain("FL-A-2").ok());
  ASSERT_TRUE(eventually([&] { return all_at(2, true); }));
  const TopologyView joint = stores_[2]->state();
  EXPECT_FALSE(is_live(*joint.current, "FL-A-2"));
  EXPECT_TRUE(is_live(*joint.previous, "FL-A-2"));
  EXPECT_EQ(joint.previous->topology().epoch, 1u);
  EXPECT_EQ(stores_[1]->previous()->topology(), joint.previous->topology());

  // A second operator edit waits for the pending transition.
  ASSERT_TRUE(stores_[1]->drain("TN-B-2").ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(all_at(2, true));
  EXPECT_TRUE(is_live(*stores_[3]->current(), "TN-B-2"));

  // Reports: every live node of the target, spread over the stores; late and wrong ones change nothing.
  Result<std::optional<StoredTopologyState>> stored = read_topology_state(path_);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  const std::set<std::string> required = required_reporters((*stored)->state());
  EXPECT_EQ(required.size(), 31u);                              // 32 nodes, FL-A-2 drained
  EXPECT_TRUE(stores_[0]->report_caught_up("FL-A-1", 1).ok());  // not the joint epoch: ignored
  Status unknown = stores_[0]->report_caught_up("ZZ-A-1", 2);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  size_t i = 0;
  std::string last;
  for (const std::string& node : required) {
    if (++i == required.size()) {
      last = node;
      break;
    }
    ASSERT_TRUE(stores_[i % stores_.size()]->report_caught_up(node, 2).ok());
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(all_at(2, true));  // one report missing
  EXPECT_EQ((*read_topology_state(path_))->reported.size(), required.size() - 1);
  ASSERT_TRUE(stores_[3]->report_caught_up(last, 2).ok());
  // Final at epoch 2, then at once the waiting edit: epoch 3 joint with 2.
  ASSERT_TRUE(eventually([&] { return all_at(3, true); }));
  const TopologyView next = stores_[0]->state();
  EXPECT_EQ(next.previous->topology().epoch, 2u);
  EXPECT_FALSE(is_live(*next.previous, "FL-A-2"));
  EXPECT_FALSE(is_live(*next.current, "TN-B-2"));
  EXPECT_TRUE((*read_topology_state(path_))->reported.empty());
  std::lock_guard lock(seen_mutex_);
  for (const auto& [epoch, targets] : seen_) {
    EXPECT_EQ(targets.size(), 1u) << "epoch " << epoch << " announced with different targets";
  }
}

TEST_F(SharedStateTest, ADeadNodeIsFoldedInAndNotAwaited) {
  start_all(1500ms, true);
  std::vector<std::string> names;
  for (const auto& dc : stores_[0]->current()->topology().data_centers) {
    for (const auto& node : dc.nodes) {
      names.push_back(node.name);
    }
  }
  std::atomic<bool> feeding{true};
  std::atomic<bool> silent{false};
  std::thread feeder([&] {
    while (feeding) {
      for (const auto& store : stores_) {
        for (const auto& name : names) {
          if (name != "UT-B-3" || !silent) {
            store->heard_from(name, Clock::now());
          }
        }
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  ASSERT_TRUE(stores_[0]->drain("FL-A-2").ok());
  ASSERT_TRUE(eventually([&] { return all_at(2, true); }));
  // Everyone but UT-B-3 reports; UT-B-3 goes silent instead.
  for (const std::string& node : required_reporters((*read_topology_state(path_))->state())) {
    if (node != "UT-B-3") {
      ASSERT_TRUE(stores_[0]->report_caught_up(node, 2).ok());
    }
  }
  EXPECT_TRUE(all_at(2, true));
  silent = true;
  // Folded: epoch 3, still joint with epoch 1, UT-B-3 down and not awaited.
  ASSERT_TRUE(eventually([&] { return all_at(3, true); }));
  const TopologyView folded = stores_[1]->state();
  EXPECT_EQ(folded.previous->topology().epoch, 1u);
  EXPECT_FALSE(is_live(*folded.current, "UT-B-3"));
  EXPECT_FALSE(is_live(*folded.current, "FL-A-2"));
  const auto record = *read_topology_state(path_);
  EXPECT_EQ(record->down, std::set<std::string>{"UT-B-3"});
  EXPECT_TRUE(record->reported.empty());
  for (const std::string& node : required_reporters(record->state())) {
    ASSERT_TRUE(stores_[2]->report_caught_up(node, 3).ok());
  }
  ASSERT_TRUE(eventually([&] { return all_at(3, false); }));
  feeding = false;
  feeder.join();
}

TEST_F(SharedStateTest, RacingEditsMakeOneSequence) {
  start_all(60s, false);
  // Two threads, each through its own stores, toggle disjoint nodes: every edit changes the target.
  constexpr int kEach = 12;
  std::atomic<int> failures{0};
  const auto toggler = [&](size_t first_store, const std::string& node) {
    for (int i = 0; i < kEach; ++i) {
      StaticTopologyStore& store = *stores_[first_store + (i % 2)];
      Status edited = i % 2 == 0 ? store.drain(node) : store.undrain(node);
      if (!edited) {
        ++failures;
      }
    }
  };
  std::thread a([&] { toggler(0, "TX-B-2"); });
  std::thread b([&] { toggler(2, "UT-A-3"); });
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  const uint64_t last = 1 + 2 * kEach;  // no gap, no duplicate
  ASSERT_TRUE(eventually([&] { return all_at(last, false); }));
  const auto record = *read_topology_state(path_);
  EXPECT_EQ(record->epoch, last);
  EXPECT_EQ(record->document.epoch, last);  // each edit raised the document by one too
  std::lock_guard lock(seen_mutex_);
  for (const auto& [epoch, targets] : seen_) {
    EXPECT_EQ(targets.size(), 1u) << "epoch " << epoch << " announced with different targets";
    EXPECT_LE(epoch, last);
  }
}

TEST_F(SharedStateTest, EveryDetectorSeeingADeathMakesOneEdit) {
  start_all(800ms, false);
  std::vector<std::string> names;
  for (const auto& dc : stores_[0]->current()->topology().data_centers) {
    for (const auto& node : dc.nodes) {
      names.push_back(node.name);
    }
  }
  std::atomic<bool> feeding{true};
  std::atomic<bool> include_silent{true};
  std::thread feeder([&] {
    while (feeding) {
      for (const auto& store : stores_) {
        for (const auto& name : names) {
          if (name != "TN-B-4" || include_silent) {
            store->heard_from(name, Clock::now());
          }
        }
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  include_silent = false;
  // Four detectors flip TN-B-4 to dead at about the same time: one edit.
  ASSERT_TRUE(eventually(
      [&] { return std::all_of(stores_.begin(), stores_.end(), [](const auto& s) { return !s->alive("TN-B-4"); }); }));
  ASSERT_TRUE(eventually([&] { return all_at(2, false); }));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(all_at(2, false));
  EXPECT_FALSE(is_live(*stores_[3]->current(), "TN-B-4"));
  EXPECT_EQ((*read_topology_state(path_))->down, std::set<std::string>{"TN-B-4"});
  // Back: one edit again.
  include_silent = true;
  ASSERT_TRUE(eventually([&] { return all_at(3, false); }));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(all_at(3, false));
  EXPECT_TRUE(is_live(*stores_[0]->current(), "TN-B-4"));
  feeding = false;
  feeder.join();
}

TEST_F(SharedStateTest, ARestartedNodeThatFindsItselfDownWritesItselfUp) {
  // A record left by a previous run says FL-A-1 is down.
  Topology document = *read_topology_file(path_);
  StoredTopologyState left;
  left.epoch = 7;
  left.document = document;
  left.down = {"FL-A-1"};
  { std::ofstream(topology_state_path(path_)) << to_json(left); }
  StaticTopologyStore store(options("FL-A-1", 60s, false));
  ASSERT_TRUE(store.start().ok());
  EXPECT_EQ(store.current()->topology().epoch, 8u);
  EXPECT_TRUE(is_live(*store.current(), "FL-A-1"));
  EXPECT_TRUE((*read_topology_state(path_))->down.empty());
  store.stop();
}

TEST_F(SharedStateTest, AGarbageRecordIsRefusedAndLeftAsItIs) {
  // At start: a clear error naming the file.
  { std::ofstream(topology_state_path(path_)) << "{ \"version\": 1, \"epoch\": \"x\" }"; }
  StaticTopologyStore refused(options("FL-A-1", 60s, false));
  Status started = refused.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(started.error().message.find(topology_state_path(path_)), std::string::npos) << started.error().message;
  EXPECT_NE(started.error().message.find("\"epoch\""), std::string::npos) << started.error().message;
  fs::remove(topology_state_path(path_));

  // While running: logged, counted, never overwritten; edits wait.
  start_all(60s, false);
  const auto before = stores_[0]->current();
  const std::string garbage = "this is not a topology state\n";
  { std::ofstream(topology_state_path(path_)) << garbage; }
  ASSERT_TRUE(eventually([&] {
    return std::all_of(stores_.begin(), stores_.end(), [](const auto& s) { return s->rejected_states() == 1; });
  }));
  const std::string document_before = *read_bounded_file(path_);
  Status drained = stores_[1]->drain("FL-B-3");  // refused: it would have to step the record
  ASSERT_FALSE(drained.ok());
  EXPECT_NE(drained.error().message.find("fix or remove"), std::string::npos) << drained.error().message;
  EXPECT_EQ(*read_bounded_file(path_), document_before);
  // quorumctl's edit changes the file only; the record cannot move.
  ASSERT_TRUE(edit_topology_file(path_, [](Topology t) { return with_node_live(std::move(t), "FL-B-3", false); }).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(read_state_file(), garbage);
  for (const auto& store : stores_) {
    EXPECT_EQ(store->current()->topology(), before->topology());
  }
  Status report = stores_[0]->report_caught_up("FL-A-1", 1);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("fix or remove"), std::string::npos) << report.error().message;
  EXPECT_EQ(read_state_file(), garbage);
  // Removed by the operator: rebuilt above the epoch the nodes saw, with the waiting edit.
  fs::remove(topology_state_path(path_));
  ASSERT_TRUE(eventually([&] {
    return std::all_of(stores_.begin(), stores_.end(), [&](const auto& s) {
      return s->current()->topology().epoch > before->topology().epoch && !is_live(*s->current(), "FL-B-3");
    });
  }));
  EXPECT_EQ(stores_[0]->current()->topology().epoch, stores_[3]->current()->topology().epoch);
  EXPECT_EQ(stores_[0]->rejected_files(), 0u);
}

TEST_F(SharedStateTest, DifferentFilesInOneDirectoryKeepSeparateRecords) {
  const std::string other = (dir_ / "other-topology.json").string();
  fs::copy_file(QUORUM_SAMPLE_TOPOLOGY, other);
  StaticTopologyStore a(options("FL-A-1", 60s, false));
  StaticTopologyStore b(StaticTopologyStoreOptions{other, "FL-A-1", 60s, 50ms});
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(a.drain("FL-A-2").ok());
  EXPECT_EQ(a.current()->topology().epoch, 2u);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(b.current()->topology().epoch, 1u);
  EXPECT_TRUE(is_live(*b.current(), "FL-A-2"));
  a.stop();
  b.stop();
}

}  // namespace
}  // namespace quorum::cluster
