// EtcdTopologyStore against a real etcd on loopback (quorum_process's
// EtcdServer runs /usr/bin/etcd). Eight stores, one per node of a 4 DC x 2
// node topology, must all see add-node, drain and a crashed node's lease
// expiring, and agree on the epoch; concurrent edits must all apply; a
// garbage document must be reported and ignored. Each test uses its own
// key prefix on one shared etcd. Waits poll with generous deadlines; the
// measured propagation times are printed.
#include <quorum/cluster/etcd_topology_store.hpp>
#include <quorum/process/child_process.hpp>
#include <quorum/process/etcd_server.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace quorum::cluster {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

const std::vector<std::string> kNodes = {"FL-A-1", "FL-B-1", "TN-A-1", "TN-B-1",
                                         "TX-A-1", "TX-B-1", "UT-A-1", "UT-B-1"};

Topology eight_nodes() {
  Topology topology;
  topology.epoch = 1;
  int host = 1;
  for (const char* dc : {"FL", "TN", "TX", "UT"}) {
    DataCenter data_center{dc, {}};
    for (Zone zone : {Zone::kA, Zone::kB}) {
      const std::string name = std::string(dc) + "-" + std::string(to_string(zone)) + "-1";
      data_center.nodes.push_back(Node{name, zone, "127.0.0.1:" + std::to_string(7400 + host++), true});
    }
    topology.data_centers.push_back(std::move(data_center));
  }
  return topology;
}

const Node* find(const Placement& placement, std::string_view name) {
  return node_named(placement.topology(), name);
}

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::seconds deadline = 15s) {
  const auto until = SteadyClock::now() + deadline;
  while (SteadyClock::now() < until) {
    if (predicate()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return predicate();
}

class EtcdStoreTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("topo-etcd-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    Result<process::EtcdServer> server = process::EtcdServer::start(process::EtcdOptions{dir_});
    if (!server) {
      setup_error_ = new std::string(server.error().message);
      return;
    }
    etcd_ = new process::EtcdServer(std::move(server).value());
  }
  static void TearDownTestSuite() {
    if (etcd_ != nullptr) {
      (void)etcd_->stop();
      delete etcd_;
      etcd_ = nullptr;
    }
    fs::remove_all(dir_);
  }
  void SetUp() override {
    ASSERT_NE(etcd_, nullptr) << (setup_error_ ? *setup_error_ : std::string("etcd did not start"));
    prefix_ = std::string("/quorum/") + testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
    Result<std::unique_ptr<EtcdGateway>> gateway = EtcdGateway::create(etcd_->client_url());
    ASSERT_TRUE(gateway.ok());
    gateway_ = std::move(gateway).value();
  }
  void TearDown() override {
    for (auto& store : stores_) {
      store->stop();
    }
  }

  EtcdTopologyStoreOptions options(const std::string& self, bool joint = false) const {
    EtcdTopologyStoreOptions options;
    options.url = etcd_->client_url();
    options.prefix = prefix_;
    options.self = self;
    options.joint_transitions = joint;
    return options;
  }

  // Starts one store per node of kNodes; each records the targets it announces (epoch -> target).
  void start_all(bool joint = false) {
    for (const std::string& node : kNodes) {
      stores_.push_back(std::make_unique<EtcdTopologyStore>(options(node, joint)));
      stores_.back()->on_change([this](std::shared_ptr<const Placement> placement) {
        std::lock_guard lock(seen_mutex_);
        seen_[placement->topology().epoch].insert(to_json(placement->topology()));
      });
      Status started = stores_.back()->start();
      ASSERT_TRUE(started.ok()) << started.error().message;
    }
  }

  // True when every running store shows `epoch` (0: any one epoch), joint or final as asked.
  bool all_at(uint64_t epoch, bool joint) const {
    const uint64_t first = stores_.front()->current()->topology().epoch;
    for (const auto& store : stores_) {
      const TopologyView view = store->state();
      if (view.current->topology().epoch != (epoch == 0 ? first : epoch) || view.joint() != joint) {
        return false;
      }
    }
    return true;
  }

  // The stored record.
  StoredTopologyState record() const {
    Result<EtcdTopologySnapshot> stored = read_etcd_topology(*gateway_, prefix_);
    EXPECT_TRUE(stored.ok() && stored->state);
    return stored.ok() && stored->state ? *stored->state : StoredTopologyState{};
  }

  // Reports every live node of the stored joint target but `except`, through the stores in turn.
  void report_all(const std::set<std::string>& except = {}) {
    const StoredTopologyState stored = record();
    ASSERT_TRUE(stored.joint());
    size_t i = 0;
    for (const std::string& node : required_reporters(stored.state())) {
      if (!except.contains(node)) {
        Status reported = stores_[i++ % stores_.size()]->report_caught_up(node, stored.epoch);
        ASSERT_TRUE(reported.ok()) << reported.error().message;
      }
    }
  }

  // Every epoch was announced with one target, by every store that announced it.
  void expect_one_target_per_epoch() {
    std::lock_guard lock(seen_mutex_);
    EXPECT_FALSE(seen_.empty());
    for (const auto& [epoch, targets] : seen_) {
      EXPECT_EQ(targets.size(), 1u) << "epoch " << epoch << " was announced with different targets";
    }
  }

  // Polls until every running store's placement satisfies `predicate` and all
  // show one epoch; returns how long it took, or nullopt after `deadline`.
  template <class Predicate>
  std::optional<std::chrono::milliseconds> until_all(Predicate predicate, std::chrono::seconds deadline = 15s) {
    const auto start = SteadyClock::now();
    while (SteadyClock::now() - start < deadline) {
      bool ok = true;
      std::optional<uint64_t> epoch;
      for (const auto& store : stores_) {
        const auto placement = store->current();
        if (!predicate(*placement) || (epoch && *epoch != placement->topology().epoch)) {
          ok = false;
          break;
        }
        epoch = placement->topology().epoch;
      }
      if (ok) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

  static inline fs::path dir_;
  static inline process::EtcdServer* etcd_ = nullptr;
  static inline std::string* setup_error_ = nullptr;
  std::string prefix_;
  std::unique_ptr<EtcdGateway> gateway_;
  std::vector<std::unique_ptr<EtcdTopologyStore>> stores_;
  std::mutex seen_mutex_;
  std::map<uint64_t, std::set<std::string>> seen_;
};

TEST_F(EtcdStoreTest, EightStoresSeeChangesWithOneEpoch) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  start_all();
  const auto all_live = [](const Placement& p) {
    return std::all_of(kNodes.begin(), kNodes.end(), [&](const std::string& n) { return find(p, n)->live; });
  };
  ASSERT_TRUE(until_all(all_live));
  const uint64_t epoch0 = stores_[0]->current()->topology().epoch;

  // add-node: the new node is in every topology (not live: it has no lease yet).
  auto edit_start = SteadyClock::now();
  ASSERT_TRUE(stores_[3]->add_node("FL", Node{"FL-A-2", Zone::kA, "127.0.0.1:7499", true}).ok());
  auto took = until_all([](const Placement& p) { return find(p, "FL-A-2") != nullptr; });
  ASSERT_TRUE(took);
  std::cout << "add-node (edit + propagation) reached 8 stores in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - edit_start).count()
            << " ms\n";
  const uint64_t epoch1 = stores_[0]->current()->topology().epoch;
  EXPECT_GT(epoch1, epoch0);
  // The epoch is the stored record's: one sequence, one step for the edit (no gap).
  Result<EtcdTopologySnapshot> stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(stored->state);
  EXPECT_EQ(epoch1, stored->state->epoch);
  EXPECT_EQ(epoch1, epoch0 + 1);
  EXPECT_EQ(stored->state->document, stored->document);
  EXPECT_FALSE(find(*stores_[0]->current(), "FL-A-2")->live);

  // drain
  edit_start = SteadyClock::now();
  ASSERT_TRUE(stores_[5]->drain("TN-A-1").ok());
  took = until_all([](const Placement& p) { return !find(p, "TN-A-1")->live; });
  ASSERT_TRUE(took);
  std::cout << "drain (edit + propagation) reached 8 stores in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - edit_start).count()
            << " ms\n";
  const uint64_t epoch2 = stores_[0]->current()->topology().epoch;
  EXPECT_GT(epoch2, epoch1);
  // The drained node's own store sees it drained too; its document keeps the node.
  EXPECT_NE(find(*stores_[2]->current(), "TN-A-1"), nullptr);

  // A crash: UT-B-1's store stops without revoking its lease; the lease expires.
  std::unique_ptr<EtcdTopologyStore> crashed = std::move(stores_.back());
  stores_.pop_back();
  crashed->stop();  // revokes: replace it by a store with revoke_lease_on_stop = false
  ASSERT_TRUE(until_all([](const Placement& p) { return !find(p, "UT-B-1")->live; }));
  EtcdTopologyStoreOptions no_revoke = options("UT-B-1");
  no_revoke.revoke_lease_on_stop = false;
  crashed = std::make_unique<EtcdTopologyStore>(no_revoke);
  ASSERT_TRUE(crashed->start().ok());
  ASSERT_TRUE(until_all([](const Placement& p) { return find(p, "UT-B-1")->live; }));
  const uint64_t epoch3 = stores_[0]->current()->topology().epoch;
  const auto crash_time = SteadyClock::now();
  crashed->stop();
  took = until_all([](const Placement& p) { return !find(p, "UT-B-1")->live; }, 20s);
  ASSERT_TRUE(took);
  std::cout << "a crashed node (TTL 2 s) was seen dead by 7 stores "
            << std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - crash_time).count()
            << " ms after its store stopped\n";
  EXPECT_GT(stores_[0]->current()->topology().epoch, epoch3);
  EXPECT_TRUE(find(*stores_[0]->current(), "UT-A-1")->live);
}

TEST_F(EtcdStoreTest, ConcurrentEditsAllApply) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  std::mutex epochs_mutex;  // before the stores: outlives their callbacks
  std::map<const EtcdTopologyStore*, std::vector<uint64_t>> epochs;
  EtcdTopologyStore a(options("FL-A-1"));
  EtcdTopologyStore b(options("TN-A-1"));
  for (EtcdTopologyStore* store : {&a, &b}) {
    store->on_change([&, store](std::shared_ptr<const Placement> placement) {
      std::lock_guard lock(epochs_mutex);
      epochs[store].push_back(placement->topology().epoch);
      std::lock_guard seen_lock(seen_mutex_);
      seen_[placement->topology().epoch].insert(to_json(placement->topology()));
    });
  }
  ASSERT_TRUE(a.start().ok());
  const uint64_t first_epoch = a.current()->topology().epoch;
  ASSERT_TRUE(b.start().ok());
  constexpr int kEach = 10;
  std::atomic<int> failures{0};
  const auto adder = [&](EtcdTopologyStore& store, const std::string& dc, int port_base) {
    for (int i = 2; i < 2 + kEach; ++i) {
      Status added = store.add_node(
          dc, Node{dc + "-A-" + std::to_string(i), Zone::kA, "127.0.0.1:" + std::to_string(port_base + i), true});
      if (!added) {
        std::cerr << added.error().message << "\n";
        ++failures;
      }
    }
  };
  std::thread first([&] { adder(a, "TX", 8000); });
  std::thread second([&] { adder(b, "UT", 9000); });
  first.join();
  second.join();
  EXPECT_EQ(failures.load(), 0);
  Result<EtcdTopologySnapshot> stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->document.data_centers[2].nodes.size(), 2u + kEach);
  EXPECT_EQ(stored->document.data_centers[3].nodes.size(), 2u + kEach);
  EXPECT_EQ(stored->document.epoch, 1u + 2 * kEach);
  EXPECT_EQ(stored->alive, (std::set<std::string>{"FL-A-1", "TN-A-1"}));
  // The record follows the document (a later revision, written by one of the stores).
  EXPECT_TRUE(eventually([&] {
    return find(*a.current(), "UT-A-11") != nullptr && find(*a.current(), "TX-A-11") != nullptr &&
           a.current()->topology().epoch == b.current()->topology().epoch;
  }));
  // One sequence: each store's epochs rise, and every epoch has one target whoever announced it. Edits
  // that land between two steps share one epoch, so there are at most as many epochs as edits.
  stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok() && stored->state);
  EXPECT_GT(stored->state->epoch, first_epoch);
  EXPECT_LE(stored->state->epoch, first_epoch + 1 + 2 * kEach);  // b's arrival, the edits
  {
    std::lock_guard lock(epochs_mutex);
    for (const auto& [store, list] : epochs) {
      EXPECT_TRUE(std::is_sorted(list.begin(), list.end()) &&
                  std::adjacent_find(list.begin(), list.end()) == list.end());
    }
  }
  expect_one_target_per_epoch();
  a.stop();
  b.stop();
}

TEST_F(EtcdStoreTest, AGarbageDocumentIsReportedAndIgnored) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  EtcdTopologyStore store(options("FL-A-1"));
  std::atomic<int> callbacks{0};
  store.on_change([&](std::shared_ptr<const Placement>) { ++callbacks; });
  ASSERT_TRUE(store.start().ok());
  const auto before = store.current();
  Result<int64_t> put = gateway_->put(prefix_ + "topology", "{ this is not a topology");
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(store.wait_for_revision(*put, 10s));
  EXPECT_EQ(store.rejected_documents(), 1u);
  EXPECT_EQ(store.current(), before);
  EXPECT_EQ(callbacks.load(), 0);
  // quorumctl-style edits refuse to build on a garbage document.
  Status refused = store.drain("FL-B-1");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("invalid"), std::string::npos);
  // A valid document is applied again.
  Topology next = eight_nodes();
  next.epoch = 2;
  next.data_centers[0].nodes[0].live = false;  // FL-A-1 drained (the only alive node)
  put = gateway_->put(prefix_ + "topology", to_json(next));
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(eventually([&] { return !find(*store.current(), "FL-A-1")->live; }));
  EXPECT_EQ(store.current()->topology().epoch, before->topology().epoch + 1);
  const auto deadline = SteadyClock::now() + 10s;  // the callback runs just after the revision is applied
  while (callbacks.load() == 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(callbacks.load(), 1);
  store.stop();
}

TEST_F(EtcdStoreTest, JointTransitionsFinalizeOnceEveryLiveNodeReported) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  start_all(true);
  // The nodes' arrivals were folded into one pending transition: report it final.
  ASSERT_TRUE(eventually([&] { return all_at(0, true) && record().down.empty(); }));
  report_all();
  ASSERT_TRUE(eventually([&] { return all_at(0, false); }));
  const uint64_t final_epoch = stores_[0]->current()->topology().epoch;

  // An operator's drain: joint with the final epoch on every store.
  ASSERT_TRUE(stores_[1]->drain("TN-A-1").ok());
  ASSERT_TRUE(eventually([&] { return all_at(final_epoch + 1, true); }));
  const TopologyView joint = stores_[5]->state();
  EXPECT_EQ(joint.previous->topology().epoch, final_epoch);
  EXPECT_TRUE(find(*joint.previous, "TN-A-1")->live);
  EXPECT_FALSE(find(*joint.current, "TN-A-1")->live);
  // A second edit waits.
  ASSERT_TRUE(stores_[2]->drain("UT-A-1").ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(all_at(final_epoch + 1, true));
  // Reports: a late one and one for an unknown node change nothing; all but one: still joint.
  EXPECT_TRUE(stores_[0]->report_caught_up("FL-A-1", final_epoch).ok());
  Status unknown = stores_[0]->report_caught_up("ZZ-A-1", final_epoch + 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  report_all({"TX-B-1"});
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(all_at(final_epoch + 1, true));
  Result<EtcdTopologySnapshot> stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->reports[final_epoch + 1].size(), 6u);  // 8 nodes, TN-A-1 drained, TX-B-1 missing
  ASSERT_TRUE(stores_[7]->report_caught_up("TX-B-1", final_epoch + 1).ok());
  // Final, then the waiting edit: joint again, with the reports cleared.
  ASSERT_TRUE(eventually([&] { return all_at(final_epoch + 2, true); }));
  const TopologyView next = stores_[0]->state();
  EXPECT_EQ(next.previous->topology().epoch, final_epoch + 1);
  EXPECT_FALSE(find(*next.previous, "TN-A-1")->live);
  EXPECT_FALSE(find(*next.current, "UT-A-1")->live);
  stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->reports.empty());
  expect_one_target_per_epoch();
}

TEST_F(EtcdStoreTest, ANodeLostWhileJointIsFoldedInAndNotAwaited) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  start_all(true);
  ASSERT_TRUE(eventually([&] { return all_at(0, true) && record().down.empty(); }));
  report_all();
  ASSERT_TRUE(eventually([&] { return all_at(0, false); }));
  const uint64_t final_epoch = stores_[0]->current()->topology().epoch;
  ASSERT_TRUE(stores_[0]->drain("FL-B-1").ok());
  ASSERT_TRUE(eventually([&] { return all_at(final_epoch + 1, true); }));
  report_all({"UT-B-1"});
  // UT-B-1 stops before reporting (its alive key goes): folded, joint with the same final epoch.
  stores_.back()->stop();
  stores_.pop_back();
  ASSERT_TRUE(eventually([&] { return all_at(final_epoch + 2, true); }));
  const TopologyView folded = stores_[3]->state();
  EXPECT_EQ(folded.previous->topology().epoch, final_epoch);
  EXPECT_FALSE(find(*folded.current, "UT-B-1")->live);
  EXPECT_FALSE(required_reporters(record().state()).contains("UT-B-1"));
  report_all();
  ASSERT_TRUE(eventually([&] { return all_at(final_epoch + 2, false); }));
  expect_one_target_per_epoch();
}

TEST_F(EtcdStoreTest, ALeaseExpiryIsExactlyOneEdit) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  start_all();
  stores_.back()->stop();  // revokes; restarted below as a store that crashes
  stores_.pop_back();
  EtcdTopologyStoreOptions no_revoke = options("UT-B-1");
  no_revoke.revoke_lease_on_stop = false;
  stores_.push_back(std::make_unique<EtcdTopologyStore>(no_revoke));
  ASSERT_TRUE(stores_.back()->start().ok());
  ASSERT_TRUE(eventually([&] { return all_at(0, false) && find(*stores_[0]->current(), "UT-B-1")->live; }));
  const uint64_t before = stores_[0]->current()->topology().epoch;
  std::unique_ptr<EtcdTopologyStore> crashed = std::move(stores_.back());
  stores_.pop_back();
  crashed->stop();
  // Seven stores see the expiry and each tries to write it: one txn wins, one epoch.
  ASSERT_TRUE(eventually([&] { return all_at(before + 1, false); }, 20s));
  EXPECT_FALSE(find(*stores_[0]->current(), "UT-B-1")->live);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(all_at(before + 1, false));
  EXPECT_EQ(record().epoch, before + 1);
  EXPECT_EQ(record().down, std::set<std::string>{"UT-B-1"});
  expect_one_target_per_epoch();
}

TEST_F(EtcdStoreTest, AGarbageRecordIsRefusedAndLeftAsItIs) {
  ASSERT_TRUE(seed_etcd_topology(*gateway_, prefix_, eight_nodes()).ok());
  EtcdTopologyStore store(options("FL-A-1"));
  ASSERT_TRUE(store.start().ok());
  const auto before = store.current();
  const std::string garbage = "{ \"version\": 1, \"epoch\": -3 }";
  ASSERT_TRUE(gateway_->put(prefix_ + "state", garbage).ok());
  ASSERT_TRUE(eventually([&] { return store.rejected_states() == 1; }));
  // An edit of the document goes through (FL-A-1, the only node alive, drained); the record is not
  // rebuilt over the garbage, so the target stays.
  ASSERT_TRUE(store.drain("FL-A-1").ok());
  std::this_thread::sleep_for(300ms);
  Result<EtcdRange> value = gateway_->get(prefix_ + "state");
  ASSERT_TRUE(value.ok());
  ASSERT_EQ(value->kvs.size(), 1u);
  EXPECT_EQ(value->kvs[0].value, garbage);
  EXPECT_EQ(store.current(), before);
  Result<EtcdTopologySnapshot> stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->state);
  EXPECT_NE(stored->state_error.find("\"epoch\""), std::string::npos) << stored->state_error;
  // A node starting now refuses to start, naming the key.
  EtcdTopologyStore late(options("TN-A-1"));
  Status started = late.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(started.error().message.find(prefix_ + "state"), std::string::npos) << started.error().message;
  // Deleted by the operator: written again, above the epoch the node saw, with the drain.
  ASSERT_TRUE(gateway_->erase(prefix_ + "state").ok());
  ASSERT_TRUE(eventually([&] { return !find(*store.current(), "FL-A-1")->live; }));
  EXPECT_GT(store.current()->topology().epoch, before->topology().epoch);
  EXPECT_EQ(record().epoch, store.current()->topology().epoch);
  store.stop();
}

TEST_F(EtcdStoreTest, SeedWritesOnlyOnce) {
  EtcdTopologyStore store(options("FL-A-1"));
  Status started = store.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, ErrorCode::kNotFound);
  EXPECT_NE(started.error().message.find("seed"), std::string::npos);
  ASSERT_TRUE(store.seed(eight_nodes()).ok());
  Topology other = eight_nodes();
  other.epoch = 42;
  ASSERT_TRUE(store.seed(other).ok());  // ignored: a document is there
  Result<EtcdTopologySnapshot> stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->document.epoch, 1u);
  ASSERT_TRUE(store.start().ok());
  EXPECT_TRUE(find(*store.current(), "FL-A-1")->live);   // itself: its alive key
  EXPECT_FALSE(find(*store.current(), "FL-B-1")->live);  // no store, no lease
  store.stop();
  // stop() revoked the lease: the alive key is gone at once.
  stored = read_etcd_topology(*gateway_, prefix_);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->alive.empty());
}

// etcd going away after start: the last topology stays, stop() still returns promptly.
TEST(EtcdStoreOutage, KeepsTheLastTopologyWhenEtcdGoesAway) {
  const fs::path dir = fs::temp_directory_path() / ("topo-etcd-outage-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  Result<process::EtcdServer> etcd = process::EtcdServer::start(process::EtcdOptions{dir});
  ASSERT_TRUE(etcd.ok()) << etcd.error().message;
  EtcdTopologyStoreOptions options;
  options.url = etcd->client_url();
  options.self = "FL-A-1";
  options.request_timeout = 1s;
  EtcdTopologyStore store(options);
  ASSERT_TRUE(store.seed(eight_nodes()).ok());
  ASSERT_TRUE(store.start().ok());
  const auto before = store.current();
  ASSERT_TRUE(etcd->stop().ok());
  std::this_thread::sleep_for(1500ms);  // the lease and watch threads notice and retry
  EXPECT_EQ(store.current(), before);
  const auto stopping = SteadyClock::now();
  store.stop();
  EXPECT_LT(SteadyClock::now() - stopping, 10s);
  fs::remove_all(dir);
}

// etcd restarted on the same ports and data: the stores reconnect their
// watches, re-read the prefix and apply a later edit, with one epoch.
TEST(EtcdStoreOutage, ReconnectsWhenEtcdComesBack) {
  const fs::path dir = fs::temp_directory_path() / ("topo-etcd-restart-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Result<std::vector<uint16_t>> ports = process::free_loopback_ports(2);
  ASSERT_TRUE(ports.ok());
  const std::string url = "http://127.0.0.1:" + std::to_string((*ports)[0]);
  const std::string peer = "http://127.0.0.1:" + std::to_string((*ports)[1]);
  const auto spawn_etcd = [&]() -> std::optional<process::ChildProcess> {
    process::SpawnOptions spawn;
    spawn.program = "etcd";
    spawn.args = {"--name",
                  "t",
                  "--data-dir",
                  (dir / "data").string(),
                  "--listen-client-urls",
                  url,
                  "--advertise-client-urls",
                  url,
                  "--listen-peer-urls",
                  peer,
                  "--initial-advertise-peer-urls",
                  peer,
                  "--initial-cluster",
                  "t=" + peer};
    spawn.stdout_file = dir / "etcd.log";
    spawn.stderr_file = dir / "etcd.log";
    Result<process::ChildProcess> child = process::ChildProcess::spawn(std::move(spawn));
    if (!child) {
      return std::nullopt;
    }
    const auto deadline = SteadyClock::now() + 30s;
    while (SteadyClock::now() < deadline) {
      if (process::etcd_healthy(url, 1s)) {
        return std::move(child).value();
      }
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  };
  std::optional<process::ChildProcess> etcd = spawn_etcd();
  ASSERT_TRUE(etcd);
  std::vector<std::unique_ptr<EtcdTopologyStore>> stores;
  for (const char* self : {"FL-A-1", "TN-A-1"}) {
    EtcdTopologyStoreOptions options;
    options.url = url;
    options.self = self;
    options.request_timeout = 1s;
    stores.push_back(std::make_unique<EtcdTopologyStore>(options));
    ASSERT_TRUE(stores.back()->seed(eight_nodes()).ok());
    ASSERT_TRUE(stores.back()->start().ok());
  }
  ASSERT_TRUE(etcd->terminate(10s).ok());
  etcd.reset();
  std::this_thread::sleep_for(500ms);
  etcd = spawn_etcd();
  ASSERT_TRUE(etcd);
  Result<std::unique_ptr<EtcdGateway>> gateway = EtcdGateway::create(url);
  ASSERT_TRUE(gateway.ok());
  Result<Topology> edited = edit_etcd_topology(
      **gateway, kDefaultEtcdPrefix, [](Topology t) { return with_node_live(std::move(t), "UT-A-1", false); });
  ASSERT_TRUE(edited.ok()) << edited.error().message;
  const auto deadline = SteadyClock::now() + 20s;
  bool seen = false;
  while (!seen && SteadyClock::now() < deadline) {
    const auto a = stores[0]->current();
    const auto b = stores[1]->current();
    seen = a->topology().epoch == b->topology().epoch && !find(*a, "UT-A-1")->live && !find(*b, "UT-A-1")->live &&
           find(*a, "FL-A-1")->live && find(*a, "TN-A-1")->live;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(seen);
  for (auto& store : stores) {
    store->stop();
  }
  (void)etcd->terminate(10s);
  fs::remove_all(dir);
}

TEST(EtcdStoreUnreachable, StartFailsWithAClearMessage) {
  EtcdTopologyStoreOptions options;
  options.url = "http://127.0.0.1:1";  // nothing listens on port 1
  options.self = "FL-A-1";
  options.request_timeout = 2s;
  EtcdTopologyStore store(options);
  Status started = store.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(started.error().message.find("http://127.0.0.1:1"), std::string::npos) << started.error().message;
}

}  // namespace
}  // namespace quorum::cluster
