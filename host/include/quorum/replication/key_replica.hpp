// KeyReplica: the replication of one key's log on one node, as a sans-IO
// state machine (DESIGN §4, §5; docs/replication.md has the protocol, its
// invariants and why they hold).
//
// Every node that holds a copy of a key runs one. It is a replica for
// whoever holds the highest ballot, and the key's writer when its KeyConfig
// names this node: the writer recovers (Prepare to both replica sets while
// a transition is joint, adopts the best log, fetches what it lacks,
// re-replicates it under its ballot) and then serves proposals, committing
// an entry once it and a majority of every replica set hold it durably
// under its ballot.
//
// It does no I/O. Inputs: configure(), receive(), durable(), tick(),
// propose(). Outputs, appended to an Output: messages to send, durable
// writes to make (in order; report each with durable(id) once fsync'd),
// and events (commit advanced, log truncated, serving started/stopped,
// caught up after a joint transition). Reads of its own durable log go
// through a LogReader (synchronous; entries it asked to write but that are
// not yet durable it serves from memory). The same code runs in quorumd and
// in the deterministic simulator (tests/sim).
//
// The invariant that makes recovery safe (docs/replication.md, "vouched
// prefix"): a replica's entries 1..meta.vouched are exactly the log of the
// writer of meta.accepted, and a replica takes a ballot as accepted only
// once it holds at least that writer's recovered log (Append.base). Entries
// past `vouched` are leftovers of older ballots: never reported, never
// adopted, truncated when overwritten. Within one ballot `vouched` never
// shrinks (late or duplicated Appends change nothing).
//
// Not thread-safe: one owner (a shard, or the simulator) drives it.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/replication/types.hpp>
#include <quorum/store/entry.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::replication {

// Synchronous reads of the durable log of a key.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Entries with seq from..to (inclusive) in order, stopping once max_bytes
  // is reached (at least one entry when from <= to and it exists).
  virtual std::vector<store::EncodedEntry> read(std::string_view key, uint64_t from, uint64_t to,
                                                size_t max_bytes) const = 0;
  // The hash of entry `seq` (>= 1), or nullopt if the log has no such entry.
  virtual std::optional<store::Hash> hash_at(std::string_view key, uint64_t seq) const = 0;
};

inline constexpr uint64_t kNoTruncate = std::numeric_limits<uint64_t>::max();

// A durable write the embedding must make: drop the entries past
// `truncate_after` (if not kNoTruncate), append `entries`, store `meta`,
// all atomically, in the order the writes were asked for; then call
// durable(id).
struct Write {
  uint64_t id = 0;
  uint64_t truncate_after = kNoTruncate;
  std::vector<store::EncodedEntry> entries;
  Meta meta;
};

struct Output {
  std::vector<Envelope> messages;
  std::vector<Write> writes;
  std::optional<uint64_t> committed;        // the commit seq advanced to this
  std::optional<uint64_t> truncated_after;  // entries past this were dropped from the log
  bool serving_started = false;             // the writer may propose from now on
  bool serving_stopped = false;             // the writer stopped: unanswered proposals are uncertain
  std::optional<uint64_t> caught_up;        // the writer recovered under this joint topology
  void clear() { *this = Output{}; }
};

struct ReplicaOptions {
  size_t max_append_bytes = 256 * 1024;  // entries per Append / FetchReply
  uint64_t max_in_flight = 8192;         // entries sent past a follower's match
  uint64_t retry_ms = 200;               // Prepare / Fetch / unanswered Append resend
  uint64_t heartbeat_ms = 100;           // an Append (maybe empty) at least this often
  // Test hook for the simulator's planted-bug test: commit on the writer's
  // own copy plus this many followers, ignoring majorities. 0 = off (never
  // set it anywhere else).
  size_t unsafe_commit_followers = 0;
  // Test hook for the simulator: a replica takes a writer's ballot from any
  // Append that attaches, without holding the writer's recovered log
  // (Append.base) — the hole docs/replication.md describes. Never set it
  // anywhere else.
  bool unsafe_accept_below_base = false;
};

class KeyReplica {
 public:
  enum class Role { kReplica, kPreparing, kFetching, kReplicating, kServing, kWaiting };

  // `durable` is what the node's store holds for the key (Meta{} if none);
  // `log` reads its entries. `log` must outlive the replica.
  KeyReplica(std::string key, NodeId self, const LogReader& log, Meta durable, ReplicaOptions options = {});

  // The key's placement changed (or is first known).
  void configure(const KeyConfig& config, uint64_t now_ms, Output& out);
  // A message for this key from another node.
  void receive(const Envelope& message, uint64_t now_ms, Output& out);
  // Write `id` (and every earlier one) is durable.
  void durable(uint64_t id, uint64_t now_ms, Output& out);
  // Time passed: resends and heartbeats.
  void tick(uint64_t now_ms, Output& out);
  // Writer, serving only: append these entries (they must continue the log:
  // seq last_seq()+1.., chained to head()). Returns the last seq; its
  // commit is reported through Output::committed.
  Result<uint64_t> propose(std::vector<store::EncodedEntry> entries, uint64_t now_ms, Output& out);

  const std::string& key() const noexcept { return key_; }
  NodeId self() const noexcept { return self_; }
  Role role() const noexcept { return role_; }
  bool serving() const noexcept { return role_ == Role::kServing; }
  const Meta& meta() const noexcept { return meta_; }            // including writes not yet durable
  const Meta& durable_meta() const noexcept { return durable_; }  // as on disk
  uint64_t commit() const noexcept { return meta_.commit; }
  uint64_t last_seq() const noexcept { return meta_.last_seq; }
  const store::Hash& head() const noexcept { return meta_.head; }
  const Ballot& ballot() const noexcept { return ballot_; }  // the writer's (zero if never)
  const KeyConfig& config() const noexcept { return config_; }
  // A follower with nothing pending: safe to drop from memory (its state is
  // all on disk).
  bool idle() const noexcept { return role_ == Role::kReplica && durable_write_ + 1 == next_write_ && deferred_.empty(); }

  // Writer, serving only: the nodes of the current replica set known to
  // hold every committed entry durably under this writer's ballot (itself
  // included). Below config().current.size() the key is under-replicated:
  // a follower lags, is down, or is being filled (re-replication).
  size_t copies() const;

  // The hash of entry `seq` as this replica holds it (seq 0: genesis).
  std::optional<store::Hash> hash_at(uint64_t seq) const;
  // Entries from..to as held (not-yet-durable ones from memory).
  std::vector<store::EncodedEntry> read(uint64_t from, uint64_t to, size_t max_bytes) const;

 private:
  struct Progress {
    uint64_t next = 1;   // the next seq to send
    uint64_t match = 0;  // acknowledged durable under ballot_
    uint64_t sent_ms = 0;
    bool sent_once = false;
    uint64_t commit_known = 0;  // the commit seq it acknowledged knowing (AppendReply.commit)
  };

  bool writer_role() const noexcept { return role_ != Role::kReplica && role_ != Role::kWaiting; }
  std::vector<NodeId> members() const;  // union of the config's sets, self excluded
  bool quorum_of(const std::vector<NodeId>& voters) const;
  void issue_write(uint64_t truncate_after, std::vector<store::EncodedEntry> entries, Output& out);
  void reply_after_durable(Envelope message, Output& out);
  void send(NodeId to, Body body, Output& out);

  void on_prepare(NodeId from, const Prepare& m, uint64_t now_ms, Output& out);
  void on_promise(NodeId from, const Promise& m, uint64_t now_ms, Output& out);
  void on_append(NodeId from, const Append& m, uint64_t now_ms, Output& out);
  void on_append_reply(NodeId from, const AppendReply& m, uint64_t now_ms, Output& out);
  void on_fetch(NodeId from, const Fetch& m, Output& out);
  void on_fetch_reply(NodeId from, const FetchReply& m, uint64_t now_ms, Output& out);

  void observe(const Ballot& seen, uint64_t now_ms, Output& out);  // a higher ballot deposes this writer
  void step_down(Output& out);
  void start_prepare(uint64_t now_ms, Output& out);
  void prepared(uint64_t now_ms, Output& out);  // a quorum promised
  void adopt(uint64_t base, uint64_t now_ms, Output& out);
  void send_fetch(uint64_t now_ms, Output& out);
  void send_appends(uint64_t now_ms, bool force, Output& out);
  void send_append(NodeId to, Progress& p, uint64_t now_ms, Output& out);
  void advance_commit(Output& out);
  void learn_commit(uint64_t commit, Output& out);
  // How `incoming` (entries after prev_seq, chained) changes our log: what
  // to drop (kNoTruncate: nothing; else everything past it) and what to
  // append. Entries we hold with the same hash are kept as they are.
  struct Merge {
    uint64_t truncate_after = kNoTruncate;
    std::vector<store::EncodedEntry> entries;
  };
  Merge merge_after(uint64_t prev_seq, const std::vector<store::EncodedEntry>& incoming) const;

  std::string key_;
  NodeId self_;
  const LogReader& log_;
  ReplicaOptions options_;

  Meta meta_;     // current (what the issued writes will make durable)
  Meta durable_;  // durable
  uint64_t next_write_ = 1;
  uint64_t durable_write_ = 0;
  // Entries written but not yet durable: seq -> (write id, entry).
  std::map<uint64_t, std::pair<uint64_t, store::EncodedEntry>> overlay_;
  // The hashes of the last entries of the log as held (durable or not):
  // seqs recent_from_..meta_.last_seq, entry s at recent_[s % size].
  // Every Append carries the hash of the entry before its first one, which
  // in steady state is the writer's previous round's last entry: durable,
  // so no longer in the overlay, and reading it from the store costs a
  // LevelDB iterator seek per follower and round. Kept by issue_write, the
  // only place the log changes, so it always matches meta_.
  static constexpr uint64_t kRecentHashes = 16;
  std::array<store::Hash, kRecentHashes> recent_{};
  uint64_t recent_from_ = 1;  // > meta_.last_seq: none
  // Replies held until a write is durable: (write id, message).
  std::deque<std::pair<uint64_t, Envelope>> deferred_;
  // The meta each issued write leaves on disk, until durable.
  std::deque<std::pair<uint64_t, Meta>> pending_meta_;

  KeyConfig config_;
  Role role_ = Role::kReplica;
  Ballot ballot_;                 // this node's ballot as writer
  uint64_t self_promise_write_ = 0;  // the write that makes our own promise durable
  bool self_promised_ = false;
  bool prepared_joint_ = false;
  std::map<NodeId, Promise> promises_;
  NodeId best_ = 0;
  Promise best_promise_;
  uint64_t base_ = 0;              // the log end adopted at recovery
  uint64_t fetched_to_ = 0;        // while fetching: the best log is ours up to here
  uint32_t fetch_attempts_ = 0;     // unanswered Fetches in a row
  static constexpr uint32_t kMaxFetchAttempts = 5;
  std::map<NodeId, Progress> progress_;
  uint64_t retry_at_ = 0;
};

std::string_view to_string(KeyReplica::Role role) noexcept;

}  // namespace quorum::replication
