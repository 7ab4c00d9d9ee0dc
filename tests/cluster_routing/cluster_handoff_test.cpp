// Actors move while load runs: a real cluster (4 data centers x 2 nodes,
// embedded topology store, real mailroom TCP) under a steady stream of
// precinct commands whose side effects roll up into three counties, while
// the topology changes twice:
//  a. two spare nodes, FL-A-2 and TN-B-2, are added drained, started, then
//     undrained (keys move to them);
//  b. TX-B-1 is drained, its quorum_router_handoffs_pending gauge is awaited
//     at 0, it leaves the load and the file, and its process ends.
// The client retries every refused or unanswered command with the SAME id
// through another node. Afterwards, read through the live nodes:
//  - retries after the moves: acknowledged ids sent again are answered as
//    duplicates with their original seq and hash;
//  - nothing lost: every acknowledged id is in its key's log, at the position
//    and with the hash its receipt named;
//  - nothing doubled: no id twice in any log (precincts and counties);
//  - nothing invented: every precinct log id was sent by the test for that key;
//  - each log chains (prev_hash of n+1 == hash of n, seq 1..N) and the actor's
//    view (seq, head, projection count/total) agrees with its log;
//  - each county's total equals the precinct entries routed to it;
//  - keys did move (placement before vs after) and the nodes report
//    quorum_router_keys_acquired_total > 0.
// Prints one summary line ("handoff: ...") for the record.
#include "cluster_routing/quorumd_member.hpp"
#include "support/scratch_dir.hpp"

#include <quorum/client/http_client.hpp>
#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/static_topology_store.hpp>
#include <quorum/cluster/topology_store.hpp>
#include <quorum/process/child_process.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace quorum {
namespace {

using nlohmann::json;
using test_support::ScratchDir;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPrecincts = 48;
constexpr int kCounties = 3;
constexpr int kLoadThreads = 2;
constexpr int kMaxAttempts = 40;                // per command id
constexpr seconds kRetryBudget{25};             // per command id
constexpr milliseconds kClientTimeout{12'000};  // per HTTP request (the router gives up after 10 s)

std::string precinct_key(int i) { return "e/h/precinct/" + std::to_string(i); }
std::string county_key(int c) { return "e/h/county/" + std::to_string(c); }

std::string ms_since(Clock::time_point start) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count()) + " ms";
}

using test_support::Member;

// The client load: kLoadThreads threads, each posting "add" commands to the
// precinct keys in turn through the current targets (round-robin), retrying
// a command that was not answered 200 with the same id through the next
// target. Every id ends acknowledged or uncertain (never answered 200: it may
// or may not have been applied).
class Load {
 public:
  struct Target {
    std::string name;
    std::string url;
  };
  struct Ack {
    int precinct = 0;
    uint64_t seq = 0;
    std::string hash;
    std::string via;  // the node that answered 200
  };

  ~Load() { stop(); }

  void set_targets(std::vector<Target> targets) {
    std::lock_guard lock(mutex_);
    targets_ = std::move(targets);
  }
  void add_target(Target target) {
    std::lock_guard lock(mutex_);
    targets_.push_back(std::move(target));
  }
  void remove_target(const std::string& name) {
    std::lock_guard lock(mutex_);
    std::erase_if(targets_, [&](const Target& t) { return t.name == name; });
  }

  void start() {
    for (int t = 0; t < kLoadThreads; ++t) {
      threads_.emplace_back([this, t] { run(t); });
    }
  }
  // Stops after each thread has settled its current id (acked or uncertain).
  void stop() {
    stop_.store(true);
    for (std::thread& t : threads_) {
      t.join();
    }
    threads_.clear();
  }

  // After stop():
  std::map<std::string, Ack> acked;               // id -> receipt
  std::map<std::string, int> uncertain;           // id -> precinct
  std::map<std::string, std::string> errors;      // id -> the last refusal, for uncertain ids
  uint64_t retries = 0;                           // attempts after the first
  uint64_t retried_ids = 0;                       // ids that needed more than one attempt
  uint64_t duplicate_answers = 0;                 // 200 with "duplicate": true (only after a retry is that right)
  std::vector<std::string> first_try_duplicates;  // ids answered "duplicate" on their first attempt
  std::vector<std::string> bad_receipts;          // 200 whose body is not a receipt for the key
  std::vector<std::string> retry_reasons;         // why attempts failed (the first kMaxReasons)
  static constexpr size_t kMaxReasons = 8;

 private:
  std::optional<Target> pick(size_t turn) {
    std::lock_guard lock(mutex_);
    if (targets_.empty()) {
      return std::nullopt;
    }
    return targets_[turn % targets_.size()];
  }

  void run(int thread) {
    std::map<std::string, std::unique_ptr<client::HttpClient>> clients;  // url -> connection (one per thread)
    size_t turn = static_cast<size_t>(thread);
    for (uint64_t n = 0; !stop_.load(); ++n) {
      const int precinct = static_cast<int>((n + static_cast<uint64_t>(thread) * (kPrecincts / 2)) % kPrecincts);
      const std::string key = precinct_key(precinct);
      const std::string id = "b-" + std::to_string(thread) + "-" + std::to_string(n);
      const std::string body =
          json{{"id", id}, {"type", "add"}, {"data", {{"by", 1}, {"to", county_key(precinct % kCounties)}}}}.dump();
      const std::string target_path = "/v1/actors/" + client::url_encode(key) + "/commands";
      const auto started = Clock::now();
      std::string first_error;  // of the first failed attempt
      std::string last_error;
      bool settled = false;
      int attempt = 0;
      for (; attempt < kMaxAttempts && Clock::now() - started < kRetryBudget; ++attempt) {
        if (attempt > 0) {
          if (first_error.empty()) {
            first_error = last_error;
          }
          std::this_thread::sleep_for(milliseconds(std::min(50 * attempt, 500)));
        }
        std::optional<Target> via = pick(turn++);
        if (!via) {
          last_error = "no target";
          continue;
        }
        std::unique_ptr<client::HttpClient>& c = clients[via->url];
        if (!c) {
          client::HttpClient::Options options;
          options.timeout = kClientTimeout;
          auto made = client::HttpClient::create(via->url, options);
          if (!made) {
            last_error = via->name + ": " + made.error().message;
            continue;
          }
          c = std::move(made).value();
        }
        Result<client::Response> r = c->post(target_path, body, "application/json");
        if (!r) {
          last_error = via->name + ": transport: " + r.error().message;
          c.reset();  // reconnect next time
          continue;
        }
        if (r->status != 200) {
          last_error = via->name + ": " + std::to_string(r->status) + " " + r->error_text();
          continue;
        }
        json receipt = json::parse(r->body, nullptr, false);
        std::lock_guard lock(mutex_);
        if (!receipt.is_object() || receipt.value("key", "") != key || !receipt.contains("seq") ||
            !receipt["seq"].is_number_unsigned() || !receipt.contains("hash") || !receipt["hash"].is_string()) {
          bad_receipts.push_back(id + " via " + via->name + ": " + r->body.substr(0, 200));
        } else {
          acked[id] = Ack{precinct, receipt["seq"].get<uint64_t>(), receipt["hash"].get<std::string>(), via->name};
        }
        if (receipt.is_object() && receipt.value("duplicate", false)) {
          ++duplicate_answers;
          if (attempt == 0) {
            first_try_duplicates.push_back(id + " via " + via->name);
          }
        }
        settled = true;
        break;
      }
      std::lock_guard lock(mutex_);
      if (attempt > 0) {
        retries += static_cast<uint64_t>(attempt);
        ++retried_ids;
        if (retry_reasons.size() < kMaxReasons) {
          retry_reasons.push_back(id + " [" + (settled ? first_error : last_error) + "]");
        }
      }
      if (!settled) {
        uncertain[id] = precinct;
        errors[id] = last_error;
      }
    }
  }

  std::mutex mutex_;
  std::vector<Target> targets_;  // under mutex_
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

class ClusterHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ports = process::free_loopback_ports(10);
    ASSERT_TRUE(ports.ok()) << ports.error().message;
    topology_ = test_support::four_dc_topology(*ports);
    for (size_t next_port = 8; next_port < ports->size(); ++next_port) {
      spare_addresses_.push_back("127.0.0.1:" + std::to_string((*ports)[next_port]));
    }
    topology_file_ = (dir_.path() / "topology.json").string();
    ASSERT_TRUE(cluster::write_topology_file(topology_file_, topology_).ok());
    test_support::add_members(members_, topology_, dir_.path());
    test_support::start_all(members_, topology_file_);
  }

  void TearDown() override { test_support::stop_all(members_); }

  void start(Member& m) { test_support::start_member(m, topology_file_); }
  void wait_ready(Member& m) { test_support::wait_member_ready(m); }
  static std::unique_ptr<client::HttpClient> connect(const Member& m) {
    return test_support::connect_member(m, kClientTimeout);
  }
  static double metric(const Member& m, const std::string& name) { return test_support::member_metric(m, name); }
  Member& member(const std::string& name) { return test_support::member_named(members_, name); }


  std::vector<Member*> live_members() {
    std::vector<Member*> live;
    for (Member& m : members_) {
      if (m.child && m.child->running() && !removed_.count(m.name)) {
        live.push_back(&m);
      }
    }
    return live;
  }

  // Edits the topology file and waits until every live node's effective
  // epoch has risen (so each has seen the edit; epochs are per node).
  cluster::Topology edit(const std::string& what, const cluster::TopologyEdit& change) {
    std::map<std::string, double> before;
    for (Member* m : live_members()) {
      before[m->name] = metric(*m, "quorum_topology_epoch");
    }
    auto edited = cluster::edit_topology_file(topology_file_, change);
    EXPECT_TRUE(edited.ok()) << what << ": " << (edited.ok() ? "" : edited.error().message);
    if (!edited.ok()) {
      return cluster::Topology{};
    }
    const auto deadline = Clock::now() + seconds(15);
    for (Member* m : live_members()) {
      if (!before.count(m->name)) {
        continue;
      }
      while (metric(*m, "quorum_topology_epoch") <= before[m->name] && Clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(50));
      }
      EXPECT_GT(metric(*m, "quorum_topology_epoch"), before[m->name]) << m->name << " did not see: " << what;
    }
    snapshots_.push_back(*edited);
    return *edited;
  }

  // GET through the live nodes in turn until one answers (200 or 404);
  // null json for 404, nullopt if none answered.
  std::optional<json> read_json(const std::string& target) {
    const auto deadline = Clock::now() + seconds(30);
    std::string last;
    while (Clock::now() < deadline) {
      std::vector<Member*> live = live_members();
      Member& via = *live[read_turn_++ % live.size()];
      auto c = connect(via);
      auto r = c ? c->get(target) : Result<client::Response>(make_error(ErrorCode::kUnavailable, "no client"));
      if (r.ok() && r->status == 404) {
        return json();
      }
      if (r.ok() && r->status == 200) {
        json parsed = json::parse(r->body, nullptr, false);
        if (!parsed.is_discarded()) {
          return parsed;
        }
        last = via.name + ": unparsable " + r->body.substr(0, 200);
      } else {
        last = via.name + ": " + (r.ok() ? std::to_string(r->status) + " " + r->error_text() : r.error().message);
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    ADD_FAILURE() << "GET " << target << " failed through every node; last: " << last;
    return std::nullopt;
  }

  // A key's whole log, paged (nullopt if unreadable).
  std::optional<std::vector<json>> read_whole_log(const std::string& key) {
    std::vector<json> entries;
    for (uint64_t from = 1;;) {
      auto page =
          read_json("/v1/actors/" + client::url_encode(key) + "/log?from=" + std::to_string(from) + "&limit=1000");
      if (!page) {
        return std::nullopt;
      }
      if (page->is_null()) {
        return entries;  // 404: no entries
      }
      if (!page->contains("entries") || !(*page)["entries"].is_array()) {
        ADD_FAILURE() << key << ": log page without entries: " << page->dump().substr(0, 300);
        return std::nullopt;
      }
      const json& list = (*page)["entries"];
      for (const json& e : list) {
        entries.push_back(e);
      }
      if (list.size() < 1000) {
        return entries;
      }
      from += list.size();
    }
  }

  // Checks a log's shape: seq 1..N, hashes chain, and the view (seq, head)
  // agrees. Returns the ids in order.
  std::vector<std::string> check_chain(const std::string& key, const std::vector<json>& log, const json& view) {
    std::vector<std::string> ids;
    std::string prev;
    for (size_t i = 0; i < log.size(); ++i) {
      const json& e = log[i];
      EXPECT_EQ(e.value("seq", uint64_t{0}), i + 1) << key << ": entry " << i << ": " << e.dump();
      if (i > 0) {
        EXPECT_EQ(e.value("prev_hash", ""), prev) << key << " seq " << i + 1 << ": prev_hash does not chain";
      }
      prev = e.value("hash", "");
      ids.push_back(e.value("id", ""));
    }
    EXPECT_EQ(view.value("seq", uint64_t{0}), log.size()) << key << ": view seq vs log length; " << view.dump();
    if (!log.empty()) {
      EXPECT_EQ(view.value("head", ""), prev) << key << ": view head vs last log hash";
    }
    return ids;
  }

  // The ledger projection's {count, total} of a view ({-1, -1} if absent).
  static std::pair<int64_t, int64_t> ledger(const json& view) {
    if (!view.is_object() || !view.contains("projections") || !view["projections"].contains("ledger")) {
      return {-1, -1};
    }
    const json& value = view["projections"]["ledger"]["value"];
    if (!value.is_object()) {
      return {-1, -1};
    }
    return {value.value("count", int64_t{-1}), value.value("total", int64_t{-1})};
  }

  ScratchDir dir_{"quorum-handoff"};
  cluster::Topology topology_;
  std::string topology_file_;
  std::vector<std::string> spare_addresses_;  // for FL-A-2 and TN-B-2
  std::deque<Member> members_;                // deque: references stay valid when spares join
  std::set<std::string> removed_;
  std::vector<cluster::Topology> snapshots_;
  size_t read_turn_ = 0;
};

std::string first_few(const std::vector<std::string>& items, size_t n = 8) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < n; ++i) {
    out += (i ? ", " : "") + items[i];
  }
  if (items.size() > n) {
    out += ", ... (" + std::to_string(items.size()) + " in all)";
  }
  return out;
}

TEST_F(ClusterHandoffTest, NodesAddedAndRemovedWhileLoadRunsLoseNothingAndDoubleNothing) {
  const auto test_start = Clock::now();
  snapshots_.push_back(topology_);
  Load load;
  {
    std::vector<Load::Target> targets;
    for (const Member& m : members_) {
      targets.push_back({m.name, m.url});
    }
    load.set_targets(std::move(targets));
  }
  const auto load_start = Clock::now();
  load.start();
  std::this_thread::sleep_for(seconds(3));

  // a. FL-A-2 and TN-B-2 join drained (they own nothing), start, serve, and
  // are undrained together.
  edit("add FL-A-2 and TN-B-2 drained", [&](cluster::Topology t) -> Result<cluster::Topology> {
    auto one = cluster::with_node_added(
        std::move(t), "FL", cluster::Node{"FL-A-2", cluster::Zone::kA, spare_addresses_[0], /*live=*/false});
    if (!one) {
      return one;
    }
    return cluster::with_node_added(std::move(one).value(), "TN",
                                    cluster::Node{"TN-B-2", cluster::Zone::kB, spare_addresses_[1], /*live=*/false});
  });
  for (const std::string name : {"FL-A-2", "TN-B-2"}) {
    members_.push_back(Member{name, "", dir_.path() / name, std::nullopt, {}});
    start(members_.back());
  }
  for (const std::string name : {"FL-A-2", "TN-B-2"}) {
    Member& spare = member(name);
    wait_ready(spare);
    ASSERT_FALSE(spare.url.empty()) << name;
    load.add_target({spare.name, spare.url});
  }
  edit("undrain FL-A-2 and TN-B-2", [](cluster::Topology t) -> Result<cluster::Topology> {
    auto one = cluster::with_node_live(std::move(t), "FL-A-2", true);
    if (!one) {
      return one;
    }
    return cluster::with_node_live(std::move(one).value(), "TN-B-2", true);
  });
  std::this_thread::sleep_for(seconds(4));

  // b. TX-B-1 drains; once it has handed off every key it held, it leaves
  // the load, the file and the machine.
  Member& leaving = member("TX-B-1");
  edit("drain TX-B-1", [](cluster::Topology t) { return cluster::with_node_live(std::move(t), "TX-B-1", false); });
  const auto drained_at = Clock::now();
  double pending = -1;
  double max_pending = -1;
  bool drained = false;
  std::optional<Clock::time_point> zero_since;
  while (Clock::now() - drained_at < seconds(30)) {
    pending = metric(leaving, "quorum_router_handoffs_pending");
    max_pending = std::max(max_pending, pending);
    if (pending < 0 && Clock::now() - drained_at > seconds(5)) {
      break;  // the gauge does not exist: no point waiting out the deadline
    }
    if (pending == 0) {
      // Two zero reads a second apart: a gauge refreshed on a timer is not stale.
      if (!zero_since) {
        zero_since = Clock::now();
      } else if (Clock::now() - *zero_since >= seconds(1)) {
        drained = true;
        break;
      }
    } else {
      zero_since.reset();
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  const std::string drain_took = ms_since(drained_at);
  EXPECT_TRUE(drained) << "TX-B-1's quorum_router_handoffs_pending did not settle at 0 within 30 s after its drain "
                       << "(last " << pending << ", max seen " << max_pending << "; -1 means the gauge is absent)";
  load.remove_target(leaving.name);
  std::this_thread::sleep_for(milliseconds(500));  // requests already sent through it finish
  removed_.insert(leaving.name);                   // no longer read from nor waited for
  edit("remove TX-B-1", [](cluster::Topology t) { return cluster::with_node_removed(std::move(t), "TX-B-1"); });
  EXPECT_TRUE(leaving.child->terminate(seconds(10)).ok());

  // c. Load runs on a while after the last change.
  std::this_thread::sleep_for(seconds(4));
  load.stop();
  const auto load_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - load_start).count();

  EXPECT_TRUE(load.bad_receipts.empty()) << first_few(load.bad_receipts);
  EXPECT_TRUE(load.first_try_duplicates.empty())
      << "answered as duplicates on their first attempt: " << first_few(load.first_try_duplicates);
  ASSERT_GT(load.acked.size(), 100u) << "too little load got through to prove anything";

  // What the test sent, per precinct.
  std::vector<std::set<std::string>> sent(kPrecincts);
  std::vector<std::map<std::string, Load::Ack>> acked(kPrecincts);
  for (const auto& [id, ack] : load.acked) {
    sent[ack.precinct].insert(id);
    acked[ack.precinct][id] = ack;
  }
  for (const auto& [id, precinct] : load.uncertain) {
    sent[precinct].insert(id);
  }

  // Retries after the moves: the earliest and a middle acknowledged id of
  // every precinct, sent again through the live nodes in turn, are answered
  // as duplicates with their original seq and hash (the dedup state moved
  // with the key).
  size_t resent = 0;
  for (int p = 0; p < kPrecincts; ++p) {
    std::vector<std::pair<uint64_t, std::string>> by_seq;
    for (const auto& [id, ack] : acked[p]) {
      by_seq.emplace_back(ack.seq, id);
    }
    std::sort(by_seq.begin(), by_seq.end());
    if (by_seq.empty()) {
      ADD_FAILURE() << precinct_key(p) << ": no acknowledged command";
      continue;
    }
    for (size_t pick : {size_t{0}, by_seq.size() / 2}) {
      const std::string& id = by_seq[pick].second;
      const Load::Ack& ack = acked[p][id];
      const std::string body =
          json{{"id", id}, {"type", "add"}, {"data", {{"by", 1}, {"to", county_key(p % kCounties)}}}}.dump();
      std::optional<client::Response> answer;
      std::string via_name;
      for (int attempt = 0; attempt < 10 && !answer; ++attempt) {
        std::vector<Member*> live = live_members();
        Member& via = *live[read_turn_++ % live.size()];
        via_name = via.name;
        auto c = connect(via);
        auto r =
            c ? c->post("/v1/actors/" + client::url_encode(precinct_key(p)) + "/commands", body, "application/json")
              : Result<client::Response>(make_error(ErrorCode::kUnavailable, "no client"));
        if (r.ok() && r->status != 503) {
          answer = *r;
        } else {
          std::this_thread::sleep_for(milliseconds(200));
        }
      }
      ASSERT_TRUE(answer) << id << " could not be re-sent to " << precinct_key(p);
      ++resent;
      json receipt = json::parse(answer->body, nullptr, false);
      EXPECT_EQ(answer->status, 200u) << "re-sent " << id << " via " << via_name << ": " << answer->body;
      EXPECT_TRUE(receipt.is_object() && receipt.value("duplicate", false))
          << "re-sent " << id << " (acked seq " << ack.seq << " via " << ack.via << ") via " << via_name
          << " was not answered as a duplicate: " << answer->body;
      EXPECT_TRUE(receipt.is_object() && receipt.value("seq", uint64_t{0}) == ack.seq &&
                  receipt.value("hash", "") == ack.hash)
          << "re-sent " << id << ": original seq " << ack.seq << " hash " << ack.hash << ", now " << answer->body;
    }
  }

  // Precinct logs: nothing lost, nothing doubled, nothing invented.
  std::vector<int64_t> county_expected(kCounties, 0);
  uint64_t entries_total = 0;
  for (int p = 0; p < kPrecincts; ++p) {
    const std::string key = precinct_key(p);
    auto log = read_whole_log(key);
    auto view = read_json("/v1/actors/" + client::url_encode(key));
    ASSERT_TRUE(log && view) << key;
    const std::vector<std::string> ids = check_chain(key, *log, *view);
    std::map<std::string, uint64_t> position;  // id -> seq
    std::vector<std::string> doubled, invented, lost, moved_position;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!position.emplace(ids[i], i + 1).second) {
        doubled.push_back(ids[i] + " at seq " + std::to_string(position[ids[i]]) + " and " + std::to_string(i + 1));
      }
      if (!sent[p].count(ids[i])) {
        invented.push_back(ids[i]);
      }
    }
    for (const auto& [id, ack] : acked[p]) {
      auto at = position.find(id);
      if (at == position.end()) {
        lost.push_back(id + " (acked seq " + std::to_string(ack.seq) + " via " + ack.via + ")");
      } else if (at->second != ack.seq || (*log)[at->second - 1].value("hash", "") != ack.hash) {
        moved_position.push_back(id + " (acked seq " + std::to_string(ack.seq) + " via " + ack.via + ", log seq " +
                                 std::to_string(at->second) + ")");
      }
    }
    const auto [count, total] = ledger(*view);
    EXPECT_TRUE(lost.empty()) << key << ": " << lost.size() << " of " << acked[p].size()
                              << " acknowledged ids are missing from the log (" << log->size()
                              << " entries): " << first_few(lost);
    EXPECT_TRUE(doubled.empty()) << key << ": ids applied twice: " << first_few(doubled);
    EXPECT_TRUE(invented.empty()) << key << ": ids the test never sent to this key: " << first_few(invented);
    EXPECT_TRUE(moved_position.empty()) << key << ": acknowledged at another seq/hash than the log shows: "
                                        << first_few(moved_position);
    EXPECT_EQ(count, static_cast<int64_t>(log->size())) << key << ": projection count vs log; " << view->dump();
    EXPECT_EQ(total, static_cast<int64_t>(log->size())) << key << ": projection total vs log; " << view->dump();
    county_expected[p % kCounties] += static_cast<int64_t>(log->size());
    entries_total += log->size();
  }

  // Counties: the roll-up happened exactly once per precinct entry. The
  // side effects arrive eventually: poll until each county reaches its
  // total, passes it (doubled), makes no progress for 5 s, or 30 s pass.
  const auto counties_deadline = Clock::now() + seconds(30);
  for (int c = 0; c < kCounties; ++c) {
    const std::string key = county_key(c);
    std::pair<int64_t, int64_t> seen{-1, -1};
    auto progressed_at = Clock::now();
    while (Clock::now() < counties_deadline && Clock::now() - progressed_at < seconds(5)) {
      auto view = read_json("/v1/actors/" + client::url_encode(key));
      if (!view) {
        break;
      }
      const std::pair<int64_t, int64_t> now_seen = ledger(*view);
      if (now_seen != seen) {
        progressed_at = Clock::now();
        seen = now_seen;
      }
      if (seen.second >= county_expected[c]) {
        break;  // reached (or passed: doubled, checked below)
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    EXPECT_EQ(seen.second, county_expected[c]) << key << ": total vs the precinct entries routed to it";
    EXPECT_EQ(seen.first, county_expected[c]) << key << ": count vs the precinct entries routed to it";
    auto log = read_whole_log(key);
    auto view = read_json("/v1/actors/" + client::url_encode(key));
    ASSERT_TRUE(log && view) << key;
    const std::vector<std::string> ids = check_chain(key, *log, *view);
    std::set<std::string> unique;
    std::vector<std::string> doubled;
    for (const std::string& id : ids) {
      if (!unique.insert(id).second) {
        doubled.push_back(id);
      }
    }
    EXPECT_TRUE(doubled.empty()) << key << ": side effects applied twice: " << first_few(doubled);
    EXPECT_EQ(static_cast<int64_t>(log->size()), county_expected[c]) << key << ": log length";
  }

  // Keys did move: some precinct or county changed owner between snapshots.
  std::vector<cluster::Placement> placements;
  for (const cluster::Topology& t : snapshots_) {
    auto placement = cluster::Placement::create(t);
    ASSERT_TRUE(placement.ok()) << placement.error().message;
    placements.push_back(std::move(placement).value());
  }
  std::vector<std::string> keys;
  for (int p = 0; p < kPrecincts; ++p) {
    keys.push_back(precinct_key(p));
  }
  for (int c = 0; c < kCounties; ++c) {
    keys.push_back(county_key(c));
  }
  std::vector<std::string> moved;
  for (const std::string& key : keys) {
    std::vector<std::string> owners;
    for (const cluster::Placement& placement : placements) {
      auto writer = placement.writer(key);
      ASSERT_TRUE(writer.ok()) << key;
      std::string owner(placement.node_name(*writer));
      if (owners.empty() || owners.back() != owner) {
        owners.push_back(owner);
      }
    }
    if (owners.size() > 1) {
      std::string path = key + ":";
      for (const std::string& o : owners) {
        path += " " + o;
      }
      moved.push_back(path);
    }
  }
  EXPECT_FALSE(moved.empty()) << "no key changed owner: the test proves nothing";
  double acquired = 0;
  std::vector<std::string> absent;
  for (Member* m : live_members()) {
    const double v = metric(*m, "quorum_router_keys_acquired_total");
    if (v < 0) {
      absent.push_back(m->name);
    } else {
      acquired += v;
    }
  }
  EXPECT_TRUE(absent.empty()) << "quorum_router_keys_acquired_total is absent on " << first_few(absent);
  EXPECT_GT(acquired, 0) << "no node reports having acquired a key, yet these moved: " << first_few(moved, 60);

  std::vector<std::string> uncertain;
  for (const auto& [id, error] : load.errors) {
    uncertain.push_back(id + " [" + error + "]");
  }
  std::cout << "handoff: acked=" << load.acked.size() << " uncertain=" << load.uncertain.size()
            << " retried_ids=" << load.retried_ids << " retries=" << load.retries
            << " duplicate_answers=" << load.duplicate_answers << " resent=" << resent
            << " log_entries=" << entries_total << " moved_keys=" << moved.size() << " acquired=" << acquired
            << " drain_wait=" << drain_took << " max_pending=" << max_pending << " load=" << load_ms
            << " ms total=" << ms_since(test_start) << std::endl;
  std::cout << "handoff: moved " << first_few(moved, 60) << std::endl;
  if (!load.retry_reasons.empty()) {
    std::cout << "handoff: retried " << first_few(load.retry_reasons) << std::endl;
  }
  if (!uncertain.empty()) {
    std::cout << "handoff: uncertain " << first_few(uncertain) << std::endl;
  }
}

}  // namespace
}  // namespace quorum
