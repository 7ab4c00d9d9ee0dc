#include "simulation.hpp"

#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/topology.hpp>
#include <quorum/cluster/topology_state.hpp>
#include <quorum/replication/codec.hpp>
#include <quorum/replication/key_replica.hpp>
#include <quorum/replication/replication_node.hpp>
#include <quorum/store/chain.hpp>
#include <quorum/store/entry.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <vector>

namespace quorum::sim {
namespace {

using replication::Envelope;
using replication::KeyConfig;
using replication::KeyReplica;
using replication::Meta;
using replication::NodeId;
using replication::Output;
using store::Hash;

// splitmix64: small, portable, the same sequence everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool per_mille(uint64_t p) { return below(1000) < p; }

 private:
  uint64_t state_;
};

// A node's disk: what is durable, and the writes waiting for the next sync.
class SimDisk final : public replication::LogReader {
 public:
  struct KeyData {
    Meta meta;
    std::vector<std::string> entries;  // entries[i] is seq i + 1, stored bytes
  };
  struct Pending {
    std::string key;
    replication::Write write;
  };

  std::vector<store::EncodedEntry> read(std::string_view key, uint64_t from, uint64_t to,
                                        size_t max_bytes) const override {
    std::vector<store::EncodedEntry> out;
    auto it = keys.find(std::string(key));
    if (it == keys.end()) {
      return out;
    }
    size_t bytes = 0;
    for (uint64_t seq = from; seq <= to && seq <= it->second.entries.size() && (out.empty() || bytes < max_bytes);
         ++seq) {
      auto entry = store::EncodedEntry::from_bytes(it->second.entries[seq - 1]);
      if (!entry.ok()) {
        break;  // unreadable: the replica sees a shorter run
      }
      bytes += entry->bytes().size();
      out.push_back(std::move(entry).value());
    }
    return out;
  }

  std::optional<Hash> hash_at(std::string_view key, uint64_t seq) const override {
    auto got = read(key, seq, seq, 1);
    if (got.empty()) {
      return std::nullopt;
    }
    return got.front().hash();
  }

  void apply(const Pending& p) {
    KeyData& data = keys[p.key];
    if (p.write.truncate_after != replication::kNoTruncate && p.write.truncate_after < data.entries.size()) {
      data.entries.resize(p.write.truncate_after);
    }
    for (const auto& entry : p.write.entries) {
      QUORUM_ASSERT(entry.seq() == data.entries.size() + 1);
      data.entries.push_back(entry.bytes());
    }
    data.meta = p.write.meta;
    QUORUM_ASSERT(data.meta.last_seq == data.entries.size());
  }

  std::map<std::string, KeyData> keys;
  std::deque<Pending> pending;
};

struct Request {
  size_t ballot = 0;
  uint64_t token = 0;
};

// The application side of one key on one node (what quorumd's actor does):
// the writer's id index and waiting clients, and the tally folded from the
// committed prefix on every replica.
struct App {
  std::map<std::string, uint64_t> ids;        // writer, serving: ballot id -> seq in its log
  std::multimap<uint64_t, Request> waiting;  // writer: seq -> requests to answer at commit
  uint64_t checked = 0;                      // committed prefix checked against the oracle
  uint64_t applied = 0;                      // committed prefix folded into the tally
  std::array<uint64_t, 4> tally{};
};

struct Node {
  NodeId id = 0;
  std::string name;
  size_t dc = 0;
  bool up = true;
  bool lost = false;  // removed by the operator after corruption; stays out of the rings
  bool detected_down = false;  // the failure detector took it out of the rings
  bool isolated = false;       // partitioned away (from the topology store too)
  uint64_t changed_at = 0;     // when it last went down or came up
  uint64_t incarnation = 0;
  bool sync_scheduled = false;
  SimDisk disk;
  std::unique_ptr<replication::ReplicationNode> replication;  // null while down
  std::map<std::string, App> apps;
  std::set<std::string> corrupt;
  size_t known = 0;  // the published topology state it knows
};

struct BallotRecord {
  std::string id;
  size_t key = 0;
  uint8_t choice = 0;
  bool sent = false;
  bool acked = false;
  uint64_t seq = 0;
  Hash hash{};
  uint64_t token = 0;
};

struct Published {
  cluster::Topology topology;
  std::optional<cluster::Topology> previous;  // joint while set
  std::shared_ptr<cluster::Placement> placement;
  std::shared_ptr<cluster::Placement> previous_placement;
};

struct Oracle {
  std::vector<Hash> hashes;  // committed log, hashes[i] = seq i + 1
  std::vector<std::string> ids;
  std::set<std::string> id_set;
  std::vector<uint64_t> digests;  // projection after seq i + 1
  std::array<uint64_t, 4> tally{};
};

enum class Kind { kDeliver, kSync, kTick, kCrash, kRestart, kConfig, kClientSend, kClientArrive, kClientReply,
                  kClientRetry, kMutate, kDetect, kPartition, kHealPartition, kDcLoss, kHeal };

struct Event {
  uint64_t time = 0;
  uint64_t order = 0;
  Kind kind = Kind::kTick;
  size_t node = 0;
  uint64_t incarnation = 0;
  std::shared_ptr<Envelope> envelope;
  size_t ballot = 0;
  uint64_t token = 0;
  bool ok = false;
  uint64_t seq = 0;
  Hash hash{};
  size_t version = 0;
  std::vector<size_t> nodes;
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return std::tie(a.time, a.order) > std::tie(b.time, b.order);
  }
};

uint64_t digest_of(uint64_t seq, const std::array<uint64_t, 4>& tally) {
  uint64_t h = 1469598103934665603ull ^ seq;
  for (uint64_t v : tally) {
    h = (h ^ v) * 1099511628211ull;
  }
  return h;
}

std::string hex(const Hash& h) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 6; ++i) {
    out += digits[h[i] >> 4];
    out += digits[h[i] & 15];
  }
  return out;
}

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : options_(options), rng_(options.seed) {}

  SimResult run() {
    setup();
    while (!queue_.empty() && result_.ok) {
      Event event = queue_.top();
      queue_.pop();
      now_ = event.time;
      ++result_.events;
      handle(event);
      if (healed_ && now_ >= heal_deadline_) {
        fail("liveness: " + std::to_string(unacked()) + " ballots still unacknowledged " +
             std::to_string(options_.heal_ms) + " ms after every fault healed" + stuck_report());
      }
      if (healed_ && unacked() == 0 && finished_at_ == 0 && final_state()) {
        finished_at_ = now_ + 2000;  // let the followers learn the last commit
      }
      if (finished_at_ != 0 && now_ >= finished_at_) {
        final_check();
        break;
      }
      if (result_.events > 20'000'000) {
        fail("event budget exhausted");
      }
    }
    result_.end_ms = now_;
    for (const Oracle& o : oracles_) {
      result_.committed += o.hashes.size();
    }
    for (const BallotRecord& b : ballots_) {
      result_.acked += b.acked ? 1 : 0;
    }
    return result_;
  }

 private:
  // --- setup ---

  void setup() {
    const char* dcs[] = {"FL", "TN", "TX", "UT"};
    cluster::Topology topology;
    topology.epoch = 1;
    for (size_t d = 0; d < 4; ++d) {
      cluster::DataCenter dc{dcs[d], {}};
      // Two live nodes per DC (zones A and B), plus one spare that topology
      // changes may bring in.
      const std::string names[] = {std::string(dcs[d]) + "-A-1", std::string(dcs[d]) + "-B-1",
                                   std::string(dcs[d]) + (d % 2 == 0 ? "-A-2" : "-B-2")};
      for (size_t i = 0; i < 3; ++i) {
        const cluster::Zone zone = names[i][3] == 'A' ? cluster::Zone::kA : cluster::Zone::kB;
        dc.nodes.push_back({names[i], zone, "127.0.0.1:" + std::to_string(7000 + nodes_.size()), i < 2});
        Node node;
        node.id = static_cast<NodeId>(nodes_.size());
        node.name = names[i];
        node.dc = d;
        nodes_.push_back(std::move(node));
      }
      topology.data_centers.push_back(std::move(dc));
    }
    desired_ = topology;
    publish(topology, std::nullopt);
    for (size_t k = 0; k < options_.keys; ++k) {
      keys_.push_back("e/sim/precinct/" + std::to_string(k));
    }
    oracles_.resize(keys_.size());
    // The network, from the seed.
    if (options_.faults) {
      loss_ = rng_.range(0, 80);
      duplicate_ = rng_.range(0, 50);
      max_delay_ = rng_.range(2, 30);
      max_append_bytes_ = static_cast<size_t>(rng_.range(200, 8000));
    } else {
      max_delay_ = 3;
    }
    for (Node& node : nodes_) {
      start_replication(node);
      apply_topology(node, 0);
      schedule_tick(node);
    }
    // Ballots at a steady rate over most of the fault phase.
    const uint64_t span = std::max<uint64_t>(options_.fault_ms * 4 / 5, 1);
    for (size_t i = 0; i < options_.ballots; ++i) {
      BallotRecord b;
      b.id = "b-" + std::to_string(i);
      b.key = static_cast<size_t>(rng_.below(keys_.size()));
      b.choice = static_cast<uint8_t>(rng_.below(4));
      ballots_.push_back(b);
      Event e;
      e.kind = Kind::kClientSend;
      e.ballot = i;
      at(50 + span * i / options_.ballots, e);
    }
    if (options_.faults) {
      schedule_faults();
    }
    Event heal;
    heal.kind = Kind::kHeal;
    at(options_.fault_ms, heal);
    Event detector;
    detector.kind = Kind::kDetect;
    at(100, detector);
  }

  void schedule_faults() {
    for (uint64_t t = rng_.range(100, 900); t < options_.fault_ms; t += rng_.range(150, 1200)) {
      Event e;
      e.kind = Kind::kCrash;
      e.node = static_cast<size_t>(rng_.below(nodes_.size()));
      at(t, e);
    }
    for (uint64_t t = rng_.range(300, 2000); t < options_.fault_ms; t += rng_.range(800, 3000)) {
      Event e;
      e.kind = Kind::kPartition;
      at(t, e);
    }
    for (uint64_t t = rng_.range(500, 1500); t < options_.fault_ms; t += rng_.range(1000, 2500)) {
      Event e;
      e.kind = Kind::kMutate;
      at(t, e);
    }
    if (rng_.per_mille(500)) {
      Event e;
      e.kind = Kind::kDcLoss;
      e.node = static_cast<size_t>(rng_.below(4));
      at(rng_.range(500, options_.fault_ms * 3 / 4), e);
    }
  }

  // --- events ---

  void at(uint64_t time, Event e) {
    e.time = time;
    e.order = next_order_++;
    queue_.push(std::move(e));
  }

  void trace(const std::string& what) {
    if (options_.trace) {
      std::fprintf(stderr, "%8llu %s\n", static_cast<unsigned long long>(now_), what.c_str());
    }
  }

  void handle(const Event& e) {
    switch (e.kind) {
      case Kind::kDeliver: return deliver(e);
      case Kind::kSync: return sync(e);
      case Kind::kTick: return tick(e);
      case Kind::kCrash: return crash(nodes_[e.node], rng_.range(50, 1500));
      case Kind::kRestart: return restart(e);
      case Kind::kConfig: return learn_config(nodes_[e.node], e.version);
      case Kind::kClientSend: return client_send(e.ballot);
      case Kind::kClientArrive: return client_arrive(e);
      case Kind::kClientReply: return client_reply(e);
      case Kind::kClientRetry:
        if (!ballots_[e.ballot].acked && ballots_[e.ballot].token == e.token) {
          client_send(e.ballot);
        }
        return;
      case Kind::kMutate: return mutate();
      case Kind::kDetect: return detect();
      case Kind::kPartition: return partition();
      case Kind::kHealPartition:
        blocked_.clear();
        for (Node& n : nodes_) {
          if (n.isolated) {
            n.isolated = false;
            n.changed_at = now_;
          }
        }
        trace("partition healed");
        return;
      case Kind::kDcLoss: return lose_dc(e.node);
      case Kind::kHeal: return heal();
    }
  }

  void schedule_tick(Node& node) {
    Event e;
    e.kind = Kind::kTick;
    e.node = node.id;
    e.incarnation = node.incarnation;
    at(now_ + 10 + rng_.below(3), e);
  }

  void tick(const Event& e) {
    Node& node = nodes_[e.node];
    if (!node.up || e.incarnation != node.incarnation) {
      return;
    }
    replication::NodeOutput out;
    node.replication->tick(now_, out);
    process(node, out);
    schedule_tick(node);
  }

  // --- network ---

  bool link_blocked(size_t a, size_t b) const {
    return blocked_.count({std::min(a, b), std::max(a, b)}) > 0;
  }

  void send(const Envelope& original) {
    ++result_.messages;
    // Through the wire form quorumd uses (codec.hpp), so the simulator
    // exercises it too.
    auto decoded = replication::decode_envelope(replication::encode(original));
    if (!decoded.ok()) {
      return fail("a message did not survive its wire form: " + decoded.error().message);
    }
    const Envelope& m = *decoded;
    if (rng_.per_mille(loss_)) {
      return;
    }
    const int copies = rng_.per_mille(duplicate_) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      Event e;
      e.kind = Kind::kDeliver;
      e.envelope = std::make_shared<Envelope>(m);
      at(now_ + rng_.range(1, max_delay_), e);
    }
  }

  void deliver(const Event& e) {
    const Envelope& m = *e.envelope;
    Node& node = nodes_[m.to];
    if (!node.up || link_blocked(m.from, m.to) || node.corrupt.count(m.key)) {
      return;
    }
    replication::NodeOutput out;
    node.replication->receive(m, now_, out);
    process(node, out);
  }

  // --- disk ---

  void sync(const Event& e) {
    Node& node = nodes_[e.node];
    if (!node.up || e.incarnation != node.incarnation) {
      return;
    }
    node.sync_scheduled = false;
    while (!node.disk.pending.empty()) {
      node.disk.apply(node.disk.pending.front());
      node.disk.pending.pop_front();
    }
    replication::NodeOutput out;
    node.replication->durable(now_, out);
    process(node, out);
  }

  // --- the replicas' outputs ---

  // A fresh ReplicationNode for a node that (re)starts, reading its disk.
  void start_replication(Node& node) {
    replication::ReplicationNodeOptions ro;
    ro.replica.unsafe_commit_followers = options_.unsafe_commit_followers;
    ro.replica.unsafe_accept_below_base = options_.unsafe_accept_below_base;
    ro.replica.max_append_bytes = max_append_bytes_;  // small, so logs often move in several Appends
    ro.idle_ms = 1500;                                 // followers passivate and reload from disk often
    SimDisk& disk = node.disk;
    node.replication = std::make_unique<replication::ReplicationNode>(
        node.id, disk,
        [&disk](std::string_view key) -> Result<std::optional<Meta>> {
          auto it = disk.keys.find(std::string(key));
          return it == disk.keys.end() ? std::optional<Meta>() : std::optional<Meta>(it->second.meta);
        },
        ro);
    for (const std::string& key : node.corrupt) {
      node.replication->refuse_key(key);
    }
  }

  // The node learns published state `version`: every replica it runs is
  // reconfigured, and it starts every key it must write (the sim knows all keys).
  void apply_topology(Node& node, size_t version) {
    node.known = version;
    const Published& p = published_[version];
    replication::NodeOutput out;
    node.replication->set_topology(
        p.topology.epoch, p.previous.has_value(),
        [this, version](std::string_view key) { return config_for(version, std::string(key)); }, now_, out);
    std::vector<std::string> mine;
    for (const std::string& key : keys_) {
      if (!node.corrupt.count(key) && config_for(version, key).writer == node.id) {
        mine.push_back(key);
      }
    }
    QUORUM_ASSERT(node.replication->activate(mine, true, now_, out).ok());
    process(node, out);
  }

  void process(Node& node, replication::NodeOutput& out) {
    if (!result_.ok) {
      return;
    }
    for (auto& w : node.replication->take_writes()) {
      node.disk.pending.push_back({std::move(w.key), std::move(w.write)});
    }
    if (!node.disk.pending.empty() && !node.sync_scheduled) {
      node.sync_scheduled = true;
      Event e;
      e.kind = Kind::kSync;
      e.node = node.id;
      e.incarnation = node.incarnation;
      at(now_ + rng_.range(1, 4), e);
    }
    for (const replication::KeyEvent& event : out.events) {
      on_event(node, event);
      if (!result_.ok) {
        return;
      }
    }
    if (out.caught_up) {
      caught_up(node, *out.caught_up);
    }
    for (const Envelope& m : out.messages) {
      send(m);
    }
    out.clear();
  }

  void on_event(Node& node, const replication::KeyEvent& event) {
    const std::string& key = event.key;
    App& a = node.apps[key];
    const KeyReplica* replica = node.replication->replica(key);
    QUORUM_ASSERT(replica != nullptr);
    const size_t k = key_index(key);
    switch (event.kind) {
      case replication::KeyEvent::Kind::kTruncated:
        for (auto it = a.waiting.upper_bound(event.seq); it != a.waiting.end();) {
          it = a.waiting.erase(it);  // those clients time out and retry
        }
        for (auto it = a.ids.begin(); it != a.ids.end();) {
          it = it->second > event.seq ? a.ids.erase(it) : std::next(it);
        }
        return;
      case replication::KeyEvent::Kind::kServingStopped:
        a.waiting.clear();
        a.ids.clear();
        trace(node.name + " stops writing " + key);
        return;
      case replication::KeyEvent::Kind::kServingStarted:
        trace(node.name + " writes " + key + " under " + replication::to_string(replica->ballot()) + " from seq " +
              std::to_string(replica->last_seq()));
        a.ids.clear();
        a.waiting.clear();
        for (const auto& entry : replica->read(1, replica->last_seq(), SIZE_MAX)) {
          a.ids[std::string(entry.view().id)] = entry.seq();
        }
        // Every acknowledged ballot of this key is in the new writer's log.
        for (const BallotRecord& b : ballots_) {
          if (b.acked && b.key == k && replica->hash_at(b.seq) != b.hash) {
            return fail("acknowledged ballot " + b.id + " (seq " + std::to_string(b.seq) + ") is not in the log of " +
                        node.name + ", the new writer of " + key);
          }
        }
        return;
      case replication::KeyEvent::Kind::kCommitted:
        if (replica->commit() > a.checked) {
          check_commit(node, key, a, *replica);
          if (result_.ok) {
            answer_waiting(node, a, *replica);
          }
        }
        return;
    }
  }

  size_t key_index(const std::string& key) const {
    return static_cast<size_t>(std::find(keys_.begin(), keys_.end(), key) - keys_.begin());
  }

  // Committed prefixes agree everywhere; an id is committed once; the
  // tally folded from a prefix is the same on every replica.
  void check_commit(Node& node, const std::string& key, App& a, const KeyReplica& replica) {
    Oracle& o = oracles_[key_index(key)];
    const uint64_t commit = replica.commit();
    const auto entries = replica.read(a.checked + 1, commit, SIZE_MAX);
    if (entries.size() != commit - a.checked) {
      return fail(node.name + " committed " + key + " to " + std::to_string(commit) + " but cannot read its entries");
    }
    for (const auto& entry : entries) {
      const uint64_t seq = entry.seq();
      const store::EntryView view = entry.view();
      if (seq <= o.hashes.size()) {
        if (o.hashes[seq - 1] != entry.hash()) {
          return fail("committed prefixes disagree: " + key + " seq " + std::to_string(seq) + " is " +
                      hex(entry.hash()) + " (" + std::string(view.id) + ") on " + node.name + " but " +
                      hex(o.hashes[seq - 1]) + " (" + o.ids[seq - 1] + ") was committed before");
        }
      } else {
        const std::string id(view.id);
        if (!o.id_set.insert(id).second) {
          return fail("ballot " + id + " committed twice in " + key + " (again at seq " + std::to_string(seq) + ")");
        }
        o.hashes.push_back(entry.hash());
        o.ids.push_back(id);
        o.tally[static_cast<uint8_t>(view.payload[0]) & 3]++;
        o.digests.push_back(digest_of(seq, o.tally));
      }
      a.tally[static_cast<uint8_t>(view.payload[0]) & 3]++;
      a.applied = seq;
      if (digest_of(seq, a.tally) != o.digests[seq - 1]) {
        return fail("projection of " + key + " at seq " + std::to_string(seq) + " differs on " + node.name);
      }
    }
    a.checked = commit;
  }

  void answer_waiting(Node& node, App& a, const KeyReplica& replica) {
    const uint64_t commit = replica.commit();
    while (!a.waiting.empty() && a.waiting.begin()->first <= commit) {
      const auto [seq, request] = *a.waiting.begin();
      a.waiting.erase(a.waiting.begin());
      Event e;
      e.kind = Kind::kClientReply;
      e.ballot = request.ballot;
      e.token = request.token;
      e.ok = true;
      e.seq = seq;
      e.hash = *replica.hash_at(seq);
      e.node = node.id;
      at(now_ + rng_.range(1, max_delay_), e);
    }
  }

  // --- clients ---

  void client_send(size_t index) {
    BallotRecord& b = ballots_[index];
    if (b.acked) {
      return;
    }
    b.sent = true;
    b.token = ++next_token_;
    // The client reads the topology store and asks the writer it names.
    const Published& p = published_.back();
    auto writer = p.placement->writer(keys_[b.key]);
    QUORUM_ASSERT(writer.ok());
    const size_t to = node_index(p.placement->node_name(*writer));
    if (!rng_.per_mille(loss_)) {
      Event e;
      e.kind = Kind::kClientArrive;
      e.node = to;
      e.ballot = index;
      e.token = b.token;
      at(now_ + rng_.range(1, max_delay_), e);
    }
    Event retry;
    retry.kind = Kind::kClientRetry;
    retry.ballot = index;
    retry.token = b.token;
    at(now_ + 400, retry);
  }

  void client_arrive(const Event& e) {
    Node& node = nodes_[e.node];
    const BallotRecord& b = ballots_[e.ballot];
    const std::string& key = keys_[b.key];
    if (!node.up || node.corrupt.count(key)) {
      return;
    }
    const KeyReplica* replica = node.replication->replica(key);
    if (replica == nullptr || !replica->serving()) {
      return;  // the client retries
    }
    App& a = node.apps[key];
    auto known = a.ids.find(b.id);
    if (known != a.ids.end()) {
      a.waiting.emplace(known->second, Request{e.ballot, e.token});  // a retry: the original answer
      answer_waiting(node, a, *replica);
      return;
    }
    store::EntryDraft draft;
    draft.seq = replica->last_seq() + 1;
    draft.epoch = replica->ballot().topology;
    draft.time_ms = static_cast<int64_t>(now_);
    draft.id = b.id;
    draft.type = "ballot";
    draft.payload = std::string(1, static_cast<char>(b.choice));
    auto entry = store::encode_entry(replica->head(), draft);
    QUORUM_ASSERT(entry.ok());
    replication::NodeOutput out;
    std::vector<store::EncodedEntry> batch;
    batch.push_back(std::move(entry).value());
    auto seq = node.replication->propose(key, std::move(batch), now_, out);
    if (!seq.ok()) {
      return fail("propose refused while serving: " + seq.error().message);
    }
    a.ids[b.id] = *seq;
    a.waiting.emplace(*seq, Request{e.ballot, e.token});
    process(node, out);
  }

  void client_reply(const Event& e) {
    if (rng_.per_mille(loss_)) {
      return;  // the acknowledgement is lost: the client retries, and must get the same answer
    }
    BallotRecord& b = ballots_[e.ballot];
    const Oracle& o = oracles_[b.key];
    if (e.seq == 0 || e.seq > o.hashes.size() || o.hashes[e.seq - 1] != e.hash || o.ids[e.seq - 1] != b.id) {
      return fail("ballot " + b.id + " acknowledged at seq " + std::to_string(e.seq) + " " + hex(e.hash) +
                  ", which is not its committed entry");
    }
    if (b.acked && (b.seq != e.seq || b.hash != e.hash)) {
      return fail("ballot " + b.id + " acknowledged at two positions");
    }
    b.acked = true;
    b.seq = e.seq;
    b.hash = e.hash;
  }

  size_t unacked() const {
    return static_cast<size_t>(std::count_if(ballots_.begin(), ballots_.end(), [](const auto& b) { return !b.acked; }));
  }

  // --- faults ---

  void crash(Node& node, uint64_t down_ms) {
    if (!node.up || healed_) {
      return;
    }
    size_t down = 0;
    for (const Node& n : nodes_) {
      down += n.up ? 0 : 1;
    }
    if (down >= 2) {
      return;  // single crashes stay within what 3 of 5 tolerates; lose_dc() goes further
    }
    crash_now(node);
    Event e;
    e.kind = Kind::kRestart;
    e.node = node.id;
    at(now_ + down_ms, e);
  }

  void crash_now(Node& node) {
    ++result_.crashes;
    trace("crash " + node.name);
    node.up = false;
    node.changed_at = now_;
    ++node.incarnation;
    node.sync_scheduled = false;
    // Unsynced writes: a random prefix reached the disk, the rest is lost.
    const size_t kept = static_cast<size_t>(rng_.below(node.disk.pending.size() + 1));
    for (size_t i = 0; i < kept; ++i) {
      node.disk.apply(node.disk.pending[i]);
    }
    node.disk.pending.clear();
    node.replication.reset();
    node.apps.clear();
    // Seeded corruption of one stored entry, found by the chain at restart.
    if (options_.faults && result_.corruptions == 0 && rng_.per_mille(60)) {
      std::vector<std::string> candidates;
      for (const auto& [key, data] : node.disk.keys) {
        if (!data.entries.empty()) {
          candidates.push_back(key);
        }
      }
      if (!candidates.empty()) {
        auto& entries = node.disk.keys[candidates[rng_.below(candidates.size())]].entries;
        std::string& bytes = entries[rng_.below(entries.size())];
        bytes[rng_.below(bytes.size())] ^= static_cast<char>(1 + rng_.below(255));
        ++result_.corruptions;
        corrupted_node_ = node.id;
        trace("corrupt an entry on " + node.name);
      }
    }
  }

  void restart(const Event& e) {
    Node& node = nodes_[e.node];
    if (node.up) {
      return;
    }
    node.up = true;
    node.changed_at = now_;
    ++node.incarnation;
    trace("restart " + node.name);
    // Recovery verifies every key's chain; a broken one refuses service.
    for (const auto& [key, data] : node.disk.keys) {
      const store::ChainReport report = store::verify_chain(0, store::kGenesisHash, data.entries);
      const bool meta_ok = report.ok() && report.last_seq == data.meta.last_seq && report.head == data.meta.head;
      if (!meta_ok && !node.corrupt.count(key)) {
        node.corrupt.insert(key);
        trace(node.name + " refuses " + key + ": its log does not verify");
        if (corrupted_node_ != node.id) {
          return fail(node.name + ": log of " + key + " does not verify, but nothing corrupted it");
        }
        detected_ = true;
        // The operator takes the node out of the rings.
        node.lost = true;
        pending_removal_ = node.id;
        Event m;
        m.kind = Kind::kMutate;
        at(now_ + 1, m);
      }
    }
    start_replication(node);
    apply_topology(node, published_.size() - 1);
    schedule_tick(node);
  }

  void lose_dc(size_t dc) {
    if (healed_) {
      return;
    }
    ++result_.dc_losses;
    result_.dc_losses_while_joint += final_state() ? 0 : 1;
    trace("lose data center " + std::to_string(dc));
    const uint64_t down_ms = rng_.range(300, 2500);
    for (Node& node : nodes_) {
      if (node.dc == dc && node.up) {
        crash_now(node);
        Event e;
        e.kind = Kind::kRestart;
        e.node = node.id;
        at(now_ + down_ms, e);
      }
    }
  }

  void partition() {
    if (healed_ || !blocked_.empty()) {
      return;
    }
    ++result_.partitions;
    std::vector<size_t> side;
    if (rng_.per_mille(500)) {
      const size_t dc = static_cast<size_t>(rng_.below(4));
      for (const Node& n : nodes_) {
        if (n.dc == dc) {
          side.push_back(n.id);
        }
      }
      trace("partition data center " + std::to_string(dc));
    } else {
      side.push_back(static_cast<size_t>(rng_.below(nodes_.size())));
      trace("partition " + nodes_[side[0]].name);
    }
    for (size_t a : side) {
      nodes_[a].isolated = true;  // its heartbeats / lease stop reaching the store
      nodes_[a].changed_at = now_;
      for (size_t b = 0; b < nodes_.size(); ++b) {
        if (std::find(side.begin(), side.end(), b) == side.end()) {
          blocked_.insert({std::min(a, b), std::max(a, b)});
        }
      }
    }
    Event e;
    e.kind = Kind::kHealPartition;
    at(now_ + rng_.range(100, 1500), e);
  }

  void heal() {
    healed_ = true;
    heal_deadline_ = now_ + options_.heal_ms;
    blocked_.clear();
    for (Node& n : nodes_) {
      if (n.isolated) {
        n.isolated = false;
        n.changed_at = now_;
      }
    }
    loss_ = 0;
    duplicate_ = 0;
    trace("heal");
    for (Node& node : nodes_) {
      if (!node.up) {
        Event e;
        e.kind = Kind::kRestart;
        e.node = node.id;
        at(now_ + 1, e);
      }
    }
    for (size_t i = 0; i < ballots_.size(); ++i) {
      if (ballots_[i].sent && !ballots_[i].acked) {
        client_send(i);
      }
    }
  }

  // --- topology ---

  size_t node_index(std::string_view name) const {
    for (const Node& n : nodes_) {
      if (n.name == name) {
        return n.id;
      }
    }
    QUORUM_ASSERT(false && "unknown node");
    return 0;
  }

  std::vector<NodeId> set_of(const cluster::Placement& placement, const std::string& key) const {
    auto set = placement.replica_set(key);
    QUORUM_ASSERT(set.ok());
    std::vector<NodeId> out;
    for (const cluster::NodeId id : set->nodes()) {
      out.push_back(static_cast<NodeId>(node_index(placement.node_name(id))));
    }
    return out;
  }

  KeyConfig config_for(size_t version, const std::string& key) const {
    const Published& p = published_[version];
    KeyConfig c;
    c.topology = p.topology.epoch;
    c.current = set_of(*p.placement, key);
    c.writer = c.current.front();
    if (p.previous) {
      c.previous = set_of(*p.previous_placement, key);
    }
    return c;
  }

  void publish(cluster::Topology topology, std::optional<cluster::Topology> previous) {
    Published p;
    auto placement = cluster::Placement::create(topology);
    if (!placement.ok()) {
      std::fprintf(stderr, "sim topology: %s\n", placement.error().message.c_str());
    }
    QUORUM_ASSERT(placement.ok());
    p.placement = std::make_shared<cluster::Placement>(std::move(placement).value());
    if (previous) {
      auto before = cluster::Placement::create(*previous);
      QUORUM_ASSERT(before.ok());
      p.previous_placement = std::make_shared<cluster::Placement>(std::move(before).value());
    }
    p.topology = std::move(topology);
    p.previous = std::move(previous);
    published_.push_back(std::move(p));
    reported_.clear();
    if (published_.back().previous) {
      const size_t v = published_.size() - 1;
      for (const std::string& key : keys_) {
        const KeyConfig c = config_for(v, key);
        const bool writer_moved = c.writer != c.previous.front();
        const bool follower_moved = std::any_of(c.current.begin() + 1, c.current.end(), [&](NodeId n) {
          return std::find(c.previous.begin(), c.previous.end(), n) == c.previous.end();
        });
        result_.writer_and_follower_moved += writer_moved && follower_moved ? 1 : 0;
      }
    }
    const size_t version = published_.size() - 1;
    if (options_.trace) {
      std::string live;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        live += is_live(published_.back().topology, i) ? " " + nodes_[i].name : "";
      }
      trace("publish topology " + std::to_string(published_.back().topology.epoch) +
            (published_.back().previous ? " (joint):" : " (final):") + live);
    }
    if (version == 0) {
      return;
    }
    for (Node& node : nodes_) {
      Event e;
      e.kind = Kind::kConfig;
      e.node = node.id;
      e.version = version;
      at(now_ + rng_.range(1, 60), e);
    }
    // Sometimes a whole data center goes down right inside the transition.
    if (published_.back().previous && options_.faults && !healed_ && rng_.per_mille(150)) {
      Event e;
      e.kind = Kind::kDcLoss;
      e.node = static_cast<size_t>(rng_.below(4));
      at(now_ + rng_.range(1, 40), e);
    }
  }

  void learn_config(Node& node, size_t version) {
    if (!node.up || version <= node.known) {
      return;
    }
    apply_topology(node, version);
  }

  bool final_state() const { return !published_.back().previous.has_value(); }

  // The embedded failure detector: a node down for 300 ms leaves the rings,
  // one back for 500 ms rejoins them (each a topology change).
  void detect() {
    Event again;
    again.kind = Kind::kDetect;
    at(now_ + 100, again);
    std::vector<std::pair<size_t, bool>> changes;
    for (const Node& n : nodes_) {
      const bool down = !n.up || n.isolated;
      if (down && !n.detected_down && now_ >= n.changed_at + 300 && is_live(desired_, n.id)) {
        changes.push_back({n.id, false});
      } else if (!down && n.detected_down && !n.lost && now_ >= n.changed_at + 500) {
        changes.push_back({n.id, true});
      }
    }
    if (!changes.empty()) {
      change_topology(changes, true, true);
    }
  }

  bool is_live(const cluster::Topology& t, size_t index) const {
    for (const auto& dc : t.data_centers) {
      for (const auto& n : dc.nodes) {
        if (n.name == nodes_[index].name) {
          return n.live;
        }
      }
    }
    return false;
  }

  // An operator's change: take one or two live nodes out and bring zero to
  // two others in (among them replacing a key's writer and a follower at
  // once), or take out a node whose log failed to verify.
  void mutate() {
    std::vector<std::pair<size_t, bool>> changes;
    if (pending_removal_) {
      changes.push_back({*pending_removal_, false});
      // Replace it: bring in a node that is out of the rings but healthy.
      for (const Node& n : nodes_) {
        if (n.up && !n.lost && !is_live(desired_, n.id)) {
          changes.push_back({n.id, true});
          break;
        }
      }
      if (change_topology(changes, true, false) || !is_live(desired_, *pending_removal_)) {
        pending_removal_.reset();
      } else {
        Event again;  // too few live nodes to take it out now: try again soon
        again.kind = Kind::kMutate;
        at(now_ + 200, again);
      }
      return;
    }
    if (healed_ || !final_state()) {
      return;  // one transition at a time: an operator's change waits
    }
    const size_t out_count = static_cast<size_t>(rng_.range(1, 2));
    for (size_t i = 0; i < out_count; ++i) {
      changes.push_back({static_cast<size_t>(rng_.below(nodes_.size())), false});
    }
    const size_t in_count = static_cast<size_t>(rng_.range(0, 2));
    for (size_t i = 0; i < in_count; ++i) {
      const size_t candidate = static_cast<size_t>(rng_.below(nodes_.size()));
      if (!nodes_[candidate].lost && !nodes_[candidate].detected_down) {
        changes.push_back({candidate, true});
      }
    }
    change_topology(changes, false, false);
  }

  // Applies `changes` (node, live) to the topology the store wants, then
  // lets the store's rule (cluster::next_topology_state, as quorumd's stores
  // use it) decide what to publish. Liveness changes are forced (they fold
  // into a pending transition); an operator's wait.
  bool change_topology(const std::vector<std::pair<size_t, bool>>& changes, bool forced, bool by_detector) {
    cluster::Topology next = desired_;
    for (const auto& [index, live] : changes) {
      for (auto& dc : next.data_centers) {
        for (auto& n : dc.nodes) {
          if (n.name == nodes_[index].name) {
            n.live = live;
          }
        }
      }
    }
    size_t live = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      live += is_live(next, i) ? 1 : 0;
    }
    if (live < 5 || next.data_centers == desired_.data_centers) {
      return false;
    }
    if (by_detector) {
      for (const auto& [index, is_up] : changes) {
        nodes_[index].detected_down = !is_up;
      }
    }
    desired_ = next;
    advance_topology(forced);
    return true;
  }

  void advance_topology(bool forced) {
    for (int i = 0; i < 2; ++i) {  // at most: finalize, then start the next transition
      const Published& p = published_.back();
      const cluster::TopologyState now{p.topology, p.previous};
      std::set<std::string> reported;
      for (NodeId n : reported_) {
        reported.insert(nodes_[n].name);
      }
      const std::optional<cluster::TopologyState> next = cluster::next_topology_state(now, desired_, reported, forced);
      if (!next) {
        return;
      }
      if (now.joint() && !next->joint()) {
        ++result_.transitions;
      }
      publish(next->target, next->from);
    }
  }

  // A node's report that it caught up every key it writes under the joint
  // topology. Final once every live node of the target reported.
  void caught_up(const Node& node, uint64_t topology) {
    const Published& p = published_.back();
    if (!p.previous || p.topology.epoch != topology) {
      return;
    }
    reported_.insert(node.id);
    advance_topology(false);
  }

  // --- the end ---

  std::string stuck_report() const {
    std::ostringstream s;
    s << "; topology " << published_.back().topology.epoch << (final_state() ? " final" : " joint");
    for (size_t k = 0; k < keys_.size(); ++k) {
      const KeyConfig c = config_for(published_.size() - 1, keys_[k]);
      const Node& w = nodes_[c.writer];
      s << "; " << keys_[k] << ": writer " << w.name << (w.up ? "" : " (down)");
      const KeyReplica* r = w.replication ? w.replication->replica(keys_[k]) : nullptr;
      if (r != nullptr) {
        s << " " << replication::to_string(r->role()) << " commit " << r->commit() << " last " << r->last_seq();
      }
    }
    return s.str();
  }

  void final_check() {
    for (size_t k = 0; k < keys_.size() && result_.ok; ++k) {
      const Oracle& o = oracles_[k];
      std::set<std::string> acked;
      for (const BallotRecord& b : ballots_) {
        if (b.key == k) {
          if (!b.acked) {
            return fail("ballot " + b.id + " never acknowledged");
          }
          acked.insert(b.id);
        }
      }
      if (acked != o.id_set || o.ids.size() != acked.size()) {
        return fail("tally of " + keys_[k] + ": " + std::to_string(o.ids.size()) + " committed ballots, " +
                    std::to_string(acked.size()) + " acknowledged: not the same set");
      }
      std::array<uint64_t, 4> expected{};
      for (const BallotRecord& b : ballots_) {
        if (b.key == k) {
          expected[b.choice]++;
        }
      }
      if (expected != o.tally) {
        return fail("tally of " + keys_[k] + " differs from the acknowledged ballots");
      }
      // Every replica of the final set holds the whole committed log.
      const KeyConfig c = config_for(published_.size() - 1, keys_[k]);
      for (NodeId n : c.current) {
        const Node& node = nodes_[n];
        if (node.corrupt.count(keys_[k])) {
          continue;
        }
        const KeyReplica* r = node.replication ? node.replication->replica(keys_[k]) : nullptr;
        const uint64_t commit = r != nullptr ? r->commit() : (node.disk.keys.count(keys_[k]) ? node.disk.keys.at(keys_[k]).meta.commit : 0);
        if (commit != o.hashes.size()) {
          return fail("replica " + node.name + " of " + keys_[k] + " is at commit " + std::to_string(commit) + ", not " +
                      std::to_string(o.hashes.size()) + ", after healing");
        }
      }
    }
    if (result_.corruptions > 0 && !detected_) {
      // The corrupted node may have been overwritten before it restarted
      // (its entry replaced by a truncation): then nothing is left to find.
      bool still_there = false;
      for (const auto& [key, data] : nodes_[corrupted_node_].disk.keys) {
        still_there = still_there || !store::verify_chain(0, store::kGenesisHash, data.entries).ok();
      }
      if (still_there) {
        fail("a corrupted entry was never detected");
      }
    }
  }

  void fail(const std::string& what) {
    if (!result_.ok) {
      return;
    }
    result_.ok = false;
    result_.failure = "at " + std::to_string(now_) + " ms: " + what;
  }

  SimOptions options_;
  Rng rng_;
  SimResult result_;
  uint64_t now_ = 0;
  uint64_t next_order_ = 0;
  uint64_t next_token_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::deque<Node> nodes_;  // never relocated: replicas hold references to their disks
  std::vector<std::string> keys_;
  std::vector<BallotRecord> ballots_;
  std::vector<Oracle> oracles_;
  std::vector<Published> published_;
  std::set<NodeId> reported_;  // nodes caught up under the pending joint topology
  cluster::Topology desired_;  // what the topology store wants (operator edits and liveness applied)
  std::set<std::pair<size_t, size_t>> blocked_;
  uint64_t loss_ = 0;       // per mille
  uint64_t duplicate_ = 0;  // per mille
  uint64_t max_delay_ = 3;
  size_t max_append_bytes_ = 16 * 1024;
  bool healed_ = false;
  uint64_t heal_deadline_ = 0;
  uint64_t finished_at_ = 0;
  std::optional<size_t> pending_removal_;
  size_t corrupted_node_ = SIZE_MAX;
  bool detected_ = false;
};

}  // namespace

std::string SimResult::summary() const {
  std::ostringstream s;
  s << (ok ? "ok" : "FAILED") << " events=" << events << " end_ms=" << end_ms << " acked=" << acked
    << " committed=" << committed << " messages=" << messages << " crashes=" << crashes << " dc_losses=" << dc_losses
    << " partitions=" << partitions << " transitions=" << transitions << " corruptions=" << corruptions
    << " writer_and_follower_moved=" << writer_and_follower_moved << " dc_losses_while_joint=" << dc_losses_while_joint;
  if (!ok) {
    s << "\n" << failure;
  }
  return s.str();
}

SimResult run_simulation(const SimOptions& options) { return Simulation(options).run(); }

std::string replay_command(const SimOptions& options) {
  std::string cmd = "build/release/tests/sim/quorum_sim --seed " + std::to_string(options.seed);
  const SimOptions defaults;
  if (options.fault_ms != defaults.fault_ms) {
    cmd += " --fault-ms " + std::to_string(options.fault_ms);
  }
  if (options.keys != defaults.keys) {
    cmd += " --keys " + std::to_string(options.keys);
  }
  if (options.ballots != defaults.ballots) {
    cmd += " --ballots " + std::to_string(options.ballots);
  }
  if (!options.faults) {
    cmd += " --no-faults";
  }
  if (options.unsafe_accept_below_base) {
    cmd += " --unsafe-accept-below-base";
  }
  if (options.unsafe_commit_followers != 0) {
    cmd += " --unsafe-commit-followers " + std::to_string(options.unsafe_commit_followers);
  }
  return cmd + " --trace";
}

}  // namespace quorum::sim
