// ReplicationNode: every key's KeyReplica on one node (or one shard of it),
// still sans-IO. It is what quorumd's shard and the simulator both drive:
//  - routes each incoming Envelope to its key's replica, starting one (from
//    the key's stored Meta) on first contact;
//  - gathers the replicas' writes into one batch that the embedding makes
//    durable with one fsync (take_writes(), then durable()), so a round of
//    many keys costs one sync — group commit;
//  - ticks only the keys it writes (followers need no timers);
//  - applies topology changes to the replicas it runs and starts the
//    writers of the keys the embedding names (activate()), and reports the
//    node caught up under a joint topology once every key it writes there
//    has recovered under it — the report the topology store waits for
//    before it marks the transition final;
//  - passivates idle follower replicas (memory bounded by active keys).
//
// Inputs and outputs are plain values; nothing here blocks, sleeps or does
// I/O besides the synchronous LogReader / MetaLoader reads. One owner
// thread.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/replication/key_replica.hpp>
#include <quorum/replication/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::replication {

// A key's stored Meta (nullopt: the node holds nothing of it).
using MetaLoader = std::function<Result<std::optional<Meta>>(std::string_view key)>;
// The key's placement under the node's current topology.
using ConfigOf = std::function<KeyConfig(std::string_view key)>;

struct KeyWrite {
  std::string key;
  Write write;
};

struct KeyEvent {
  enum class Kind { kCommitted, kTruncated, kServingStarted, kServingStopped };
  std::string key;
  Kind kind = Kind::kCommitted;
  uint64_t seq = 0;  // kCommitted: the new commit; kTruncated: entries past it are gone
};

struct NodeOutput {
  std::vector<Envelope> messages;
  std::vector<KeyEvent> events;
  std::optional<uint64_t> caught_up;  // this node has caught up every key it writes under this joint topology
  void clear() { *this = NodeOutput{}; }
};

struct ReplicationNodeOptions {
  ReplicaOptions replica;
  size_t max_replicas = 200'000;  // replicas in memory; past it new keys are refused (kResourceExhausted)
  uint64_t idle_ms = 60'000;      // a follower replica untouched this long is dropped from memory
};

class ReplicationNode {
 public:
  ReplicationNode(NodeId self, const LogReader& log, MetaLoader load_meta, ReplicationNodeOptions options = {});

  // The topology changed: `joint` says whether `config_of` gives joint
  // configs (epoch `topology` joint with the one before).
  void set_topology(uint64_t topology, bool joint, ConfigOf config_of, uint64_t now_ms, NodeOutput& out);
  // Keys this node must write under the current topology but runs no
  // replica for yet (a node restart, a transition): start them. Call with
  // `complete` once every such key was named, so the node can report
  // caught up.
  Status activate(const std::vector<std::string>& keys, bool complete, uint64_t now_ms, NodeOutput& out);

  void receive(const Envelope& message, uint64_t now_ms, NodeOutput& out);
  void tick(uint64_t now_ms, NodeOutput& out);
  Result<uint64_t> propose(std::string_view key, std::vector<store::EncodedEntry> entries, uint64_t now_ms,
                           NodeOutput& out);

  // The writes to make durable, in order, as one batch. Then durable().
  std::vector<KeyWrite> take_writes();
  bool has_writes() const noexcept { return !writes_.empty(); }
  // Every write taken so far is durable.
  void durable(uint64_t now_ms, NodeOutput& out);
  // A key whose stored log failed verification: drop its replica, refuse
  // its messages from now on.
  void refuse_key(const std::string& key);

  // Keys this node writes and serves whose committed log is on fewer nodes
  // of their replica set than the set's size (KeyReplica::copies()), with
  // that count and the set's size; at most `limit`, in key order.
  struct UnderReplicated {
    std::string key;
    size_t copies = 0;
    size_t replicas = 0;
  };
  std::vector<UnderReplicated> under_replicated(size_t limit) const;
  // How many keys under_replicated() would list without a limit.
  size_t under_replicated_count() const;

  // The replica of `key`, if running (for reads and the application).
  const KeyReplica* replica(std::string_view key) const;
  size_t replicas() const noexcept { return replicas_.size(); }
  size_t writing() const noexcept { return writers_.size(); }
  NodeId self() const noexcept { return self_; }

 private:
  struct Slot {
    std::unique_ptr<KeyReplica> replica;
    uint64_t last_used_ms = 0;
    uint64_t last_taken_write = 0;  // the highest write id taken for the batch
  };

  Slot* slot(const std::string& key, uint64_t now_ms, NodeOutput& out);  // starts the replica if needed
  void configure(const std::string& key, Slot& s, uint64_t now_ms, NodeOutput& out);
  void collect(const std::string& key, Slot& s, Output& o, NodeOutput& out);
  void check_caught_up(NodeOutput& out);
  void passivate(uint64_t now_ms);

  NodeId self_;
  const LogReader& log_;
  MetaLoader load_meta_;
  ReplicationNodeOptions options_;
  std::map<std::string, Slot, std::less<>> replicas_;
  std::set<std::string, std::less<>> writers_;  // keys whose replica is in a writer role (ticked)
  std::set<std::string, std::less<>> refused_;
  std::vector<KeyWrite> writes_;
  std::map<std::string, uint64_t, std::less<>> taken_;  // key -> last write id handed out, not yet durable

  uint64_t topology_ = 0;
  bool joint_ = false;
  ConfigOf config_of_;
  // Caught-up tracking for a joint topology: writer keys not yet recovered
  // under it, and whether the embedding named them all.
  std::set<std::string, std::less<>> behind_;
  bool activation_complete_ = false;
  bool reported_ = false;
  uint64_t last_passivation_ms_ = 0;
};

}  // namespace quorum::replication
