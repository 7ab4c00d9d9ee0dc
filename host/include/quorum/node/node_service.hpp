// NodeService: everything one quorumd node does for its clients, behind one
// interface — the seam between the node's core (actors, event store, group
// commit; host/src/node/) and its front ends (the HTTP API, and later the
// mailroom, which forwards commands from other nodes).
//
// Contract:
// - Every asynchronous call invokes its callback exactly once, on a node
//   thread (never inline from the caller's stack unless said so), and never
//   after shutdown() returned. Callbacks must be quick and must not block:
//   post real work elsewhere.
// - Errors are values: quorum::Error with an ErrorCode the front end maps to
//   a status (see http_status()).
// - Threads: all members are safe to call from any thread.
#pragma once

#include <quorum/host/plugin_host.hpp>
#include <quorum/host/result.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::node {

// Bounds on what a client can send (each refused with a clear error).
inline constexpr size_t kMaxKeyBytes = 256;
inline constexpr size_t kMaxCommandIdBytes = 128;
inline constexpr size_t kMaxCommandTypeBytes = 64;
inline constexpr size_t kMaxCommandDataBytes = size_t{256} << 10;  // 256 KiB of msgpack per command
inline constexpr size_t kMaxBatchCommands = 10'000;

// One command as a client submitted it, decoded and validated
// (command_codec.hpp): data is exactly one msgpack value.
struct Command {
  std::string key;   // actor key, e.g. "e/2026-11-03/precinct/TN/davidson/0101"
  std::string id;    // idempotency key (a ballot id); empty = none
  std::string type;  // e.g. "cvr"
  std::string data;  // msgpack bytes
};

// The answer to an accepted command: it is durable at this seq.
struct CommandReceipt {
  std::string key;
  uint64_t seq = 0;
  std::string hash_hex;    // the entry's hash, 64 hex digits
  bool duplicate = false;  // true: a retry; this is the original answer
};

// An actor's projections as of `seq`.
struct ActorView {
  std::string key;
  uint64_t seq = 0;          // last applied entry (0: empty actor)
  std::string head_hex;      // hash of entry seq
  struct Projection {
    std::string handler;
    std::string version;     // semver of the version that made it
    uint32_t projection_schema = 0;
    std::string bytes;       // msgpack
  };
  std::vector<Projection> projections;  // in handler order
};

// One log entry as read back (decoded and verified against its chain).
struct LogEntryView {
  uint64_t seq = 0;
  uint64_t epoch = 0;
  int64_t time_ms = 0;
  std::string id;
  std::string type;
  std::string payload;  // msgpack bytes of the command data
  std::string hash_hex;
  std::string prev_hash_hex;
};

// What the live stream carries: a committed entry and the projections it
// changed.
struct StreamEvent {
  std::string key;
  LogEntryView entry;
  std::vector<ActorView::Projection> projections;
};

// Alive while the subscriber wants events; destroying it unsubscribes.
class Subscription {
 public:
  virtual ~Subscription() = default;
  // Events dropped because the subscriber's bounded queue was full.
  virtual uint64_t dropped() const = 0;
};

// A key this node writes whose committed log is on fewer replicas than its
// replica set has nodes (a follower lags, is down, or is being filled).
struct UnderReplicatedKey {
  std::string key;
  uint64_t copies = 0;
  uint64_t replicas = 0;
};

struct Health {
  bool serving = false;       // false while starting, recovering or shutting down
  std::string node_name;
  uint64_t actors_active = 0;
  uint64_t actors_failed = 0; // actors refusing service (broken chain, ...)
  uint64_t uptime_ms = 0;
  // Replicated nodes (refreshed about once a second).
  bool replicated = false;
  uint64_t replicas = 0;               // key replicas in memory (writers and followers)
  uint64_t keys_writing = 0;           // keys this node writes (recovering or serving)
  uint64_t keys_under_replicated = 0;  // of those, serving with fewer copies than replicas
  std::vector<UnderReplicatedKey> under_replicated;  // the first kMaxUnderReplicatedListed of them
};
inline constexpr size_t kMaxUnderReplicatedListed = 100;

template <class T>
using Callback = std::function<void(Result<T>)>;

class NodeService {
 public:
  virtual ~NodeService() = default;

  // Runs the command through the key's actor: handlers -> log -> durable
  // (fsync) -> projections applied -> side effects dispatched -> receipt.
  // Errors: kInvalidArgument (malformed), kRejected (a handler refused; the
  // message names the handler and its reason), kResourceExhausted (queues
  // full: retry later), kUnavailable (the actor refuses service, e.g. a
  // broken hash chain, or the node is not serving).
  virtual void submit(Command command, Callback<CommandReceipt> done) = 0;

  // The actor's projections (kNotFound if it has never seen a command).
  virtual void read_actor(std::string key, Callback<ActorView> done) = 0;
  // Entries from seq `from` (1-based), at most `limit` (bounded by the node).
  virtual void read_log(std::string key, uint64_t from, size_t limit, Callback<std::vector<LogEntryView>> done) = 0;

  // This node's own copy of the key's log (replicated nodes; no routing):
  // committed entries from `from`, at most `limit`, as this replica holds
  // them, with the commit seq it knows (a follower learns it from the
  // writer's next message, so it may lag) and its last stored seq.
  // Errors: kInvalidArgument (the node does not replicate), kNotFound (no
  // copy of the key here), kUnavailable (a stored entry does not verify).
  struct ReplicaLog {
    uint64_t commit = 0;
    uint64_t last_seq = 0;
    std::vector<LogEntryView> entries;
  };
  virtual void read_replica_log(std::string key, uint64_t from, size_t limit, Callback<ReplicaLog> done) {
    (void)key;
    (void)from;
    (void)limit;
    done(Error{ErrorCode::kInvalidArgument, "this node does not replicate: no replica copy to read"});
  }

  // Committed events of keys starting with `prefix`. `on_event` runs on a
  // node thread; at most `queue_bound` events wait for it, later ones are
  // dropped and counted.
  virtual std::unique_ptr<Subscription> subscribe(std::string prefix, size_t queue_bound,
                                                  std::function<void(const StreamEvent&)> on_event) = 0;

  // The plugin host of this node (load, swap, dark launch, promote, rollback).
  virtual host::PluginHost& plugins() = 0;

  virtual Health health() const = 0;
  // Prometheus text exposition format (commits, batch sizes, latencies,
  // queue depths, handler errors, actors active, ...), appended to `out`.
  virtual void write_metrics(std::string& out) const = 0;

  // Stops accepting work, finishes what is durable, answers everything
  // pending (kUnavailable), and returns when no callback can run any more.
  virtual void shutdown() = 0;
};

}  // namespace quorum::node
