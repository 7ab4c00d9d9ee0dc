// Actor: one key's patient actor as a sans-IO state machine.
//
// What: the actor orders the commands of one key. A submitted command is
// checked (shape, idempotency, queue bound) and admitted; process() runs the
// admitted commands through the active handlers (ProjectionRunner) against
// the projections as they will be after every command accepted before them
// ("pending" state), several at once with one handle_batch call per handler
// where that is equivalent to one call per command; a rejection is answered
// then and changes nothing; an accepted command becomes the next log entry
// (seq, epoch, time from the injected clock at admission, id, type, payload,
// hash chain) and waits for the next write.
// take_write() adds every waiting entry (plus its idempotency record, outbox
// records of its side effects, snapshots every N entries and the replica
// meta) to the caller's WriteBatch; the caller commits it (group commit) and
// reports write_done(). Only then are the projections applied, the side
// effects emitted for delivery, and the commands answered {key, seq, hash}.
// A failed write answers its commands (and those accepted after them) with
// kUnavailable and returns to the durable state.
//
// Why sans-IO: the node runtime (LocalNode, threads + LevelDB), the unit and
// property tests (MemoryStore + a fake clock) and the replication simulator
// drive the same code. Storage is read synchronously through EventStore
// (recovery, idempotency look-ups, history); writes and their completions
// are inputs and outputs.
//
// Threads: none. An actor is used by one thread at a time (its shard's).
// Ownership: the actor owns its state; the environment (store, plugin host,
// runner, clock) is borrowed and must outlive it.
#pragma once

#include <quorum/host/plugin_host.hpp>
#include <quorum/host/projection_runner.hpp>
#include <quorum/host/result.hpp>
#include <quorum/node/id_table.hpp>
#include <quorum/node/node_service.hpp>
#include <quorum/store/event_store.hpp>
#include <quorum/store/write_batch.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::node {

// Time, injected (a fake one in tests and the simulator).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;  // unix ms
};

// The system clock.
class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
};

// Who is waiting for an answer; opaque to the actor (the driver maps it to a
// callback). kNoReply: nobody.
using ReplyToken = uint64_t;
inline constexpr ReplyToken kNoReply = 0;

// Store operations one actor may have waiting (its write always fits in one
// WriteBatch, however many actors share it: see LocalNode's group commit).
inline constexpr size_t kMaxPendingOps = store::kMaxBatchOps / 2;
// Admitted commands run through the handlers in one handle_batch call.
inline constexpr size_t kMaxProcessBatch = 256;

struct ActorOptions {
  uint64_t epoch = 1;                             // creation epoch of new entries (1: not yet the writer's ballot)
  uint64_t snapshot_interval = 1000;              // a snapshot of every projection each N entries (0: never)
  size_t queue_bound = 4096;                      // admitted or accepted-but-not-durable commands (+ waiting retries)
  size_t pending_bytes_bound = size_t{48} << 20;  // bytes of those commands' entries and effects
  size_t recent_ids_bound = 4096;                 // applied command ids remembered in memory (older: store look-up)
  size_t history_window = 256;                    // log entries a history read caches
  size_t max_effects_per_command = 1024;
  size_t outbox_resend_bound = store::kMaxReadOutbox;  // outbox records re-sent per recovery
  size_t recovery_tail_bound = 1'000'000;              // longest log tail a recovery replays (needs snapshots)
  // Bits of the 64-bit id fingerprints kept in memory (1..64). Only tests
  // lower it, to force fingerprint collisions.
  unsigned id_fingerprint_bits = 64;
  // Replicated (quorumd in a cluster): the key's log is written through its
  // KeyReplica (replication/), not by the actor. take_write() hands the new
  // entries over as a proposal (the replication adapter stores them with
  // their idempotency records on every replica), and write_done() means
  // "committed on 3 of 5". The actor then keeps no outbox and no snapshots:
  // both would be local to one replica, and a writer on another node would
  // not see them. Instead recovery re-derives the side effects of every
  // entry by replaying the whole log and delivers them again (receivers
  // dedup by the derived command id), so a new writer on any replica
  // delivers what the old one may not have. Cost: recovery replays the whole
  // log (bounded by recovery_tail_bound) and re-sends its effects.
  bool replicated = false;
};

// A side effect to deliver: the command for `command.key`, from entry
// `source_seq` of actor `source` (index among its effects). The receiver
// dedups through command.id, derived from (source, source_seq, index).
struct Delivery {
  std::string source;
  uint64_t source_seq = 0;
  uint32_t index = 0;
  Command command;
};

struct Reply {
  ReplyToken token = kNoReply;
  Result<CommandReceipt> result;
};

// What the actor asks its driver to do; drained with take_outputs().
struct ActorOutputs {
  std::vector<Reply> replies;
  std::vector<Delivery> deliveries;
  std::vector<StreamEvent> events;  // only when ActorEnv::emit_events
  void clear() {
    replies.clear();
    deliveries.clear();
    events.clear();
  }
  bool empty() const noexcept { return replies.empty() && deliveries.empty() && events.empty(); }
};

// What an actor borrows from its node.
struct ActorEnv {
  store::EventStore* store = nullptr;
  const host::PluginHost* plugins = nullptr;
  const host::ProjectionRunner* runner = nullptr;
  const Clock* clock = nullptr;
  ActorOptions options;
  const std::atomic<bool>* emit_events = nullptr;  // null or false: no StreamEvents (read on every write)
};

// The id of the command that delivers effect `index` of entry `source_seq`
// of actor `source`: "fx/<32 hex of sha256(source)>/<seq>/<index>" (bounded
// whatever the key length; stable across restarts).
std::string effect_command_id(std::string_view source, uint64_t source_seq, uint32_t index);

// Outbox record bytes: msgpack [to, type, data(bin)].
std::string encode_effect(const host::Effect& effect);
Result<host::Effect> decode_effect(std::string_view bytes);

// The message envelope handlers see: msgpack {"id","type","time","data"}.
std::string make_envelope(std::string_view id, std::string_view type, int64_t time_ms, std::string_view data);

class Actor {
 public:
  enum class State {
    kServing,  // normal
    kFailed,   // refuses service (broken chain, unreadable entry, failed replay): every call gets kUnavailable
    kCrashed,  // a store or history error during processing: the driver must restart it from its log
  };

  // Recovers `key` from the store (latest snapshots + verified tail) and
  // rebuilds its projections with the active handlers. Never fails: an actor
  // whose stored state cannot be trusted comes back in State::kFailed with
  // failure() naming the key, seq and reason. Undelivered outbox records are
  // emitted as deliveries (take_outputs()).
  static std::unique_ptr<Actor> recover(const ActorEnv& env, std::string key);

  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;
  ~Actor();

  const std::string& key() const noexcept { return key_; }
  State state() const noexcept { return state_; }
  bool serving() const noexcept { return state_ == State::kServing; }
  // kUnavailable naming the key and why (State::kFailed / kCrashed).
  const Error& failure() const;
  bool exists() const noexcept { return durable_.seq > 0; }

  // Input: a command (command.key must equal key()). Answers at once for a
  // malformed command, a full queue, a refusing actor, or a duplicate of a
  // durable command; otherwise the command is admitted: process() answers a
  // rejection, and an accepted command is answered after the write that
  // carries it (or its original) is durable.
  void submit(Command command, ReplyToken token);
  // Runs every admitted command through the handlers (see the top). The
  // driver calls it once per round of inputs (LocalNode: before each group
  // commit), so commands that arrived together share handle_batch calls;
  // take_write() calls it too. Cheap when nothing is admitted.
  void process();
  // Commands admitted and not processed yet.
  bool has_admitted() const noexcept { return !admitted_.empty(); }

  // True when take_write() has something to add and no write is in flight.
  bool wants_write() const noexcept;
  bool write_in_flight() const noexcept { return in_flight_.has_value() || !deleting_.empty(); }
  // Entries in the write in flight.
  size_t in_flight_entries() const noexcept { return in_flight_entries_; }
  // Rough upper bound of the ops and bytes take_write() would add.
  size_t write_ops_estimate() const noexcept;
  size_t write_bytes_estimate() const noexcept;
  // Adds the next write to `batch` (which must have room: see the
  // estimates). Precondition: wants_write(), and nothing admitted (call
  // process() first: it may change what there is to write). The write is
  // then in flight until write_done().
  void take_write(store::WriteBatch& batch);
  // Replicated actors: the same, but the new entries are moved into
  // `proposal` (in seq order, chained to durable_head()) for the key's
  // replica instead of into a batch; nothing else is written. The write is
  // in flight until write_done() (ok once the entries are committed).
  void take_proposal(std::vector<store::EncodedEntry>& proposal);
  // Input: the write taken last is durable (ok) or failed (nothing of it was
  // applied).
  void write_done(const Status& status);

  // Input: the receiver of a delivery answered (durably, as a duplicate, or
  // with a final refusal): its outbox record is deleted in the next write.
  void delivery_confirmed(uint64_t source_seq, uint32_t index);
  // Input: a delivery could not be made now (receiver unavailable, queues
  // full): it is re-emitted on the next tick().
  void delivery_failed(uint64_t source_seq, uint32_t index);
  // Input: time passed; re-emits failed deliveries.
  void tick();

  // Answers everything waiting that is not in flight with kUnavailable
  // (node shutdown, actor restart).
  void abandon(std::string_view reason);

  // Output: drains what the actor wants done.
  void take_outputs(ActorOutputs& out);
  bool has_outputs() const noexcept { return !outputs_.empty(); }

  // Reads (durable state only).
  Result<ActorView> view() const;
  uint64_t durable_seq() const noexcept { return durable_.seq; }
  const store::Hash& durable_head() const noexcept { return durable_.head; }
  const host::ActorProjections& durable_projections() const noexcept { return *durable_.projections; }
  // Commands admitted (not yet processed) or accepted but not durable, and
  // retries waiting for them.
  size_t queue_depth() const noexcept;
  // Deliveries emitted and not yet confirmed.
  size_t outstanding_deliveries() const noexcept { return outstanding_.size(); }
  // No pending entries, no write in flight, no outputs, nothing to delete.
  bool quiescent() const noexcept;
  int64_t last_active_ms() const noexcept { return last_active_ms_; }
  // Handler errors (failed calls, not rejections) by handler since the last take.
  std::map<std::string, uint64_t> take_handler_errors() { return std::exchange(handler_errors_, {}); }

 private:
  class LogHistory;
  struct Pending;
  struct Admitted;
  // Projections are shared, never changed in place: durable_, the write in
  // flight and pending_ often hold the same ones, and copying them for each
  // write cost a memmove of every projection.
  using SharedProjections = std::shared_ptr<const host::ActorProjections>;
  struct StateAt {
    uint64_t seq = 0;
    store::Hash head{};
    SharedProjections projections = std::make_shared<const host::ActorProjections>();
  };

  Actor(const ActorEnv& env, std::string key);
  void start();
  void fail(State state, std::string reason);
  Admitted take_admitted();
  bool resolve_retry();
  size_t batchable_prefix();
  void process_one(const host::HostSnapshot& snapshot);
  bool process_batch(const host::HostSnapshot& snapshot, size_t count);
  Result<Pending> build_entry(Admitted& item, std::vector<host::EmittedEffect>& emitted,
                              const host::ActorProjections* after, const host::HostSnapshot& snapshot, uint64_t seq,
                              const store::Hash& prev, size_t earlier_bytes, size_t earlier_ops) const;
  void accept(Admitted item, Pending pending);
  void reply(ReplyToken token, Result<CommandReceipt> result);
  void reply_error(ReplyToken token, ErrorCode code, std::string message);
  CommandReceipt receipt(uint64_t seq, const store::Hash& hash, bool duplicate) const;
  uint64_t fingerprint(std::string_view id) const noexcept;
  void remember(uint64_t id_fingerprint, uint64_t seq);
  // Recovery that replayed the whole log (replicated, or no snapshot yet),
  // when it is at most recent_ids_bound entries: reads every entry's id
  // into recent_ so that ids_complete_ holds and a new id needs no store
  // look-up (see ids_complete_).
  void learn_ids();
  std::optional<store::IdempotencyRecord> find_applied(std::string_view id, uint64_t id_fingerprint);
  // The seq of the pending entry with this id, or 0.
  uint64_t find_pending(std::string_view id, uint64_t id_fingerprint) const;
  void drop_pending(std::string_view reason);
  void emit_delivery(uint64_t seq, uint32_t index, const host::Effect& effect);
  std::string semver_of(const host::HostSnapshot& snapshot, const std::string& handler, host::VersionId id) const;

  ActorEnv env_;
  std::string key_;
  State state_ = State::kServing;
  std::optional<Error> failure_;
  std::unique_ptr<LogHistory> history_;

  std::deque<Admitted> admitted_;  // not yet run through the handlers, in admission order

  StateAt durable_;              // what the store holds
  StateAt pending_;              // after every accepted command (== durable_ when none)
  std::deque<Pending> entries_;  // accepted, not durable: in-flight ones first
  size_t in_flight_entries_ = 0;
  std::optional<StateAt> in_flight_;  // the state once the in-flight write is durable
  size_t pending_bytes_ = 0;
  size_t pending_ops_ = 0;
  size_t waiting_duplicates_ = 0;

  // Applied ids (bounded: recent_ids_bound, oldest evicted) and ids of
  // pending entries, as fingerprints -> seq (id_table.hpp). A match is a
  // candidate only: a pending one is confirmed against the entry's id, an
  // applied one against the store's idempotency record (which also gives the
  // original answer), so a fingerprint collision never makes a new command a
  // duplicate.
  RecentIds recent_;
  FingerprintMap pending_ids_;
  FingerprintMap batch_ids_;                      // scratch of batchable_prefix()
  std::vector<std::string_view> batch_messages_;  // scratch of process_batch()
  // True while recent_ holds every id this actor ever applied (it started
  // empty in this incarnation, or recovery read every id of a log short
  // enough, and nothing was evicted since): a miss then needs no store
  // look-up, which is a LevelDB Get per new command otherwise.
  bool ids_complete_ = false;

  // Outbox: deliveries sent, to retry, and confirmed (to delete).
  std::map<std::pair<uint64_t, uint32_t>, host::Effect> outstanding_;
  std::vector<std::pair<uint64_t, uint32_t>> retry_;
  std::vector<std::pair<uint64_t, uint32_t>> confirmed_;
  std::vector<std::pair<uint64_t, uint32_t>> deleting_;  // in the in-flight write

  ActorOutputs outputs_;
  int64_t last_active_ms_ = 0;
  std::map<std::string, uint64_t> handler_errors_;
};

}  // namespace quorum::node
