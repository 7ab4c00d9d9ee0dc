// LocalNode: one quorumd node's core, the NodeService without replication.
//
// What: keyed actors (actor.hpp) spread over a fixed number of shards by a
// stable hash of the key (FNV-1a 64). Each shard is one thread running a
// boost::asio::io_context and owns its actors (registry.hpp), so actor state
// needs no locks. Group commit: after the commands that are ready have run,
// a shard gathers every actor's pending writes into one store WriteBatch and
// commits it with sync = true (LevelDB also merges the shards' concurrent
// writers); commands that arrive during the commit queue for the next one.
// Side effects cross actors (and shards) as messages, through the durable
// outbox; the receiver dedups by the derived command id.
//
// Limits: a node-wide bound on commands submitted and not yet answered
// (max_in_flight: kResourceExhausted, which the HTTP layer turns into 503 +
// Retry-After), per-actor queue bounds, per-subscriber stream queues (drops
// counted), bounded log reads, max active actors with LRU and idle
// passivation.
//
// Threads: every public member is safe from any thread (NodeService
// contract). Callbacks run on shard threads (commands, reads) or on the
// stream thread (subscriptions). After shutdown() returned, calls answer
// inline with kUnavailable (the one case a callback runs on the caller's
// stack) and subscribe() returns an inert subscription.
//
// Ownership: the node owns its store, plugin host and threads; destroying
// it shuts it down.
#pragma once

#include <quorum/host/plugin_host.hpp>
#include <quorum/host/projection_runner.hpp>
#include <quorum/node/actor.hpp>
#include <quorum/node/node_service.hpp>
#include <quorum/node/registry.hpp>
#include <quorum/replication/replication_node.hpp>
#include <quorum/replication/types.hpp>
#include <quorum/store/event_store.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace quorum::node {

// One handler to activate: <plugin_dir>/<name>-<semver>.so.
struct PluginActivation {
  std::string name;
  std::string semver;
  friend bool operator==(const PluginActivation&, const PluginActivation&) = default;
};

// The highest semver of each plugin name among the files <name>-<semver>.so
// of `directory`, sorted by name (the default activation of quorumd).
// Files that do not follow the pattern are ignored. Error: kIo if the
// directory cannot be listed.
Result<std::vector<PluginActivation>> highest_plugin_versions(const std::filesystem::path& directory);

// Orders two semvers (major.minor.patch[-pre]); <0, 0, >0. Unparsable
// strings sort before every valid version, then by bytes.
int compare_semver(std::string_view a, std::string_view b);

// Where side effects go when their key's actor lives on another node: the
// cluster router (host/include/quorum/router/). Without one, every key is
// local. The receiver dedups by the derived command id, as on one node.
class RemoteDelivery {
 public:
  virtual ~RemoteDelivery() = default;
  // True if `key`'s actor lives on this node now. Any thread; cheap.
  virtual bool is_local(std::string_view key) const = 0;
  // Submits the command to the key's node. `done` runs exactly once, on any
  // thread: a receipt (or a final refusal) confirms the delivery, and
  // kUnavailable / kResourceExhausted make the source retry it later.
  virtual void submit_remote(Command command, Callback<CommandReceipt> done) = 0;
};

// The cluster side of replication, implemented by the router: the node's
// shards hand it the replication messages for other nodes and the reports
// for the topology store. Every member is called from shard threads and
// must not block.
class ReplicationPeer {
 public:
  virtual ~ReplicationPeer() = default;
  // Best effort: the protocol resends whatever is lost.
  virtual void send_replication(std::vector<replication::Envelope> messages) = 0;
  // Every key this node writes under the joint topology `epoch` has
  // recovered under it (one shard's share: the router waits for all).
  virtual void caught_up(size_t shard, uint64_t epoch) = 0;
};

// A key's durable position on this node: its last stored seq and that
// entry's hash (kGenesisHash at seq 0). The hand-off of keys between nodes
// compares positions to find the longest copy.
struct KeyPoint {
  uint64_t seq = 0;
  store::Hash head = store::kGenesisHash;
  friend bool operator==(const KeyPoint&, const KeyPoint&) = default;
};

struct LocalNodeOptions {
  std::filesystem::path data_dir;       // required: LevelDB in <data_dir>/store, plugin copies in <data_dir>/plugin-cache
  std::string node_name = "local-1";
  size_t shards = 2;                    // event-loop threads (about one per core)
  size_t max_actors = 100'000;          // running actors on the node (split evenly over shards)
  int64_t idle_passivation_ms = 60'000;
  uint64_t snapshot_interval = 1000;    // entries between projection snapshots (0: never)
  size_t actor_queue_bound = 4096;      // accepted-but-not-durable commands per actor
  size_t max_in_flight = 100'000;       // commands submitted and not yet answered, node-wide
  size_t max_read_log_entries = 1000;   // bound on read_log's limit
  int64_t tick_ms = 100;                // passivation / delivery retry timer
  bool sync = true;                     // LevelDB sync writes; false only for benchmarks (NOT durable)
  // Plugins: each activation loads <plugin_dir>/<name>-<semver>.so and
  // activates it, in this order (the handlers' activation order). See
  // highest_plugin_versions() for the default.
  std::filesystem::path plugin_dir;
  std::vector<PluginActivation> activations;
  const Clock* clock = nullptr;         // null: the system clock; must outlive the node
  RemoteDelivery* remote = nullptr;     // null: every key is local; must outlive the node
  // Replication (DESIGN §4, §5): null runs unreplicated (one node, or the
  // hand-off cluster). Otherwise every key's log is written through its
  // KeyReplica: a command is answered once 3 of 5 replicas hold it
  // durably, and actors run only where their key's writer serves.
  ReplicationPeer* replication = nullptr;  // must outlive the node
  replication::NodeId replica_id = 0;      // this node's id in ballots and envelopes (non-zero)
  replication::ReplicationNodeOptions replication_options;
  int64_t writer_wait_ms = 10'000;         // a request waits this long for its key's writer to recover here
  size_t max_parked = 100'000;             // requests waiting for writers to recover, per shard
};

class LocalNode final : public NodeService {
 public:
  // Opens the store, loads and activates the plugins, starts the shards and
  // re-sends undelivered outbox records. Errors: kInvalidArgument (options),
  // kIo (the store), plugin load/activation errors (naming the file).
  static Result<std::unique_ptr<LocalNode>> open(LocalNodeOptions options);

  ~LocalNode() override;
  LocalNode(const LocalNode&) = delete;
  LocalNode& operator=(const LocalNode&) = delete;

  void submit(Command command, Callback<CommandReceipt> done) override;
  void read_actor(std::string key, Callback<ActorView> done) override;
  void read_log(std::string key, uint64_t from, size_t limit, Callback<std::vector<LogEntryView>> done) override;
  void read_replica_log(std::string key, uint64_t from, size_t limit, Callback<ReplicaLog> done) override;
  std::unique_ptr<Subscription> subscribe(std::string prefix, size_t queue_bound,
                                          std::function<void(const StreamEvent&)> on_event) override;
  host::PluginHost& plugins() override;
  Health health() const override;
  void write_metrics(std::string& out) const override;
  void shutdown() override;

  // Hand-off of keys between nodes (the cluster router moves a key's log when
  // the topology moves the key; replication will replace the transfer). The
  // router keeps the key's new commands away from this node while it calls
  // these (it seals the key), so nothing is accepted on a copy being moved.

  // The key's point once nothing of it is admitted, accepted or in flight:
  // commands submitted before this call are durable (or answered) first.
  // Errors: kUnavailable (the actor refuses service; the node stops).
  void settle_key(std::string key, Callback<KeyPoint> done);
  // Up to `limit` stored entries of `key` from seq `from`, as raw bytes
  // (chain-verified), at most `max_bytes` in all but at least one; none
  // when `from` is one past the stored log. Errors: kUnavailable (entry
  // from - 1 is not stored here, a broken chain, a store error).
  void export_log(std::string key, uint64_t from, size_t limit, size_t max_bytes,
                  Callback<std::vector<std::string>> done);
  // Appends `entries` (raw, as export_log gives them) to the key's stored log
  // in one durable batch, with their idempotency records and the replica
  // meta, and drops the key's running actor so its next message recovers
  // (replays) the longer log. The first entry must follow the stored last
  // entry and chain to its hash. Errors: kFailedPrecondition (it does not:
  // the two copies diverged; nothing changed), kInvalidArgument (bytes that
  // do not parse or chain), kUnavailable (the actor is busy: retry), kIo.
  void import_log(std::string key, std::vector<std::string> entries, Callback<KeyPoint> done);
  // Keys with a stored log after `after` (byte order), at most `limit`
  // (clamped to store::kMaxListActors), with their stored points.
  Result<std::vector<std::pair<std::string, KeyPoint>>> list_stored(std::string_view after, size_t limit) const;

  // Replicated nodes: the topology changed (or is first known). `config_of`
  // gives each key's replica sets under epoch `epoch` (joint: with the one
  // before). Every shard reconfigures its replicas and starts recovering
  // the keys stored here that this node now writes. Any thread.
  void set_topology(uint64_t epoch, bool joint, replication::ConfigOf config_of);
  // Replicated nodes: a message from another node's replica. Any thread.
  void receive_replication(replication::Envelope message);

  const LocalNodeOptions& options() const noexcept { return options_; }
  // The shard a key lives on (stable: FNV-1a 64 of the key bytes mod shards).
  size_t shard_of(std::string_view key) const noexcept;
  // Total commands answered as durable (not duplicates) since start.
  uint64_t commands_committed() const noexcept;

  struct Shard;
  struct Stream;
  struct Metrics;

 private:
  explicit LocalNode(LocalNodeOptions options);
  Status start();
  // Validates `key` and runs job(shard, key, done) on the key's shard
  // thread; answers `done` with the error instead if the key is invalid or
  // the node stops (inline then).
  // read_log on the key's shard thread, once its writer serves here.
  void read_log_here(Shard& shard, const std::string& key, uint64_t from, size_t bound,
                     Callback<std::vector<LogEntryView>>& done);
  template <class T, class Job>
  void on_key_shard(std::string key, Callback<T> done, Job job);

  LocalNodeOptions options_;
  SystemClock system_clock_;
  const Clock* clock_ = nullptr;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<host::PluginHost> plugins_;
  std::unique_ptr<host::ProjectionRunner> runner_;
  std::shared_ptr<Stream> stream_;
  std::unique_ptr<Metrics> metrics_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> serving_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> in_flight_{0};
  std::chrono::steady_clock::time_point started_at_;
};

}  // namespace quorum::node
