// EtcdTopologyStore: the production topology store (DESIGN.md §5, §6) on etcd
// v3 (3.4+), through its JSON gateway (etcd_gateway.hpp).
//
// Layout under a prefix (default "/quorum/default/"; docs/formats.md):
//   <prefix>topology      the topology.json document; its `live` flag means
//                         "not drained"; edited by operators (quorumctl)
//   <prefix>alive/<node>  a key attached to that node's lease (TTL 2 s,
//                         kept alive every TTL/3); present = alive
//   <prefix>state         the transition record (StoredTopologyState, its
//                         `reported` always empty): epoch, the document the
//                         target was built from, the nodes down, and while
//                         joint the last final topology
//   <prefix>reports/<epoch>/<node>  node reported caught up under <epoch>
// Effective topology = the record's target; its epoch is the record's, one
// sequence for all nodes (no longer etcd revisions).
//
// Who writes the record: every node. After applying any change under the
// prefix (its watch), each store runs next_stored_topology_state on the
// record, the document, the alive keys and the reports it holds, and if
// that yields a new record it writes it in one txn that compares the
// record's mod_revision with the one it read (create_revision 0 for the
// first) and clears <prefix>reports/. Racing nodes compute from the same
// record; exactly one txn wins, the others fail and see the winner's record
// through their watch. So a lease expiry (its alive key deleted) becomes
// exactly one liveness edit, an operator's edit of the document one new
// target (or waits while joint), and the last report one final mark. A
// record that does not parse is logged and never overwritten: the store
// keeps its state until an operator fixes the key (start() fails on it).
// A record written anew (the first, or after an operator deleted it) starts
// at the etcd revision it was computed from at least, so epochs never fall
// below those of earlier versions (etcd revisions) nor below what a node saw.
// With joint_transitions off (the default: its users do not report yet)
// every record is written final.
//
// start(): grant the lease, put the alive key, range the prefix (creating
// the record if there is none), then watch from the range's revision + 1 on
// the store's watch thread; a second thread keeps the lease alive. If etcd
// is unreachable at start: kUnavailable naming the URL. If it goes away
// later: the last topology stays, the store logs, re-grants the lease if it
// expired, re-ranges and watches again with a bounded backoff (100 ms
// doubling to 2 s). A document that does not parse or validate is logged
// and ignored (the previous topology stays).
//
// Mutations: read-modify-write of <prefix>topology, a transaction comparing
// mod_revision, retried on conflict (at most 64 times), document epoch + 1.
// They return once etcd accepted the write (the watch applies it shortly
// after; wait_for_revision() waits for that). report_caught_up() puts its
// key in a txn comparing the record's mod_revision, so a report never
// outlives the record it answers.
//
// Bounds: one range answer at most 64 MiB and one watch message at most
// 32 MiB (etcd_gateway.hpp), so the alive set is bounded by them; reports
// are cleared by every record write; an edit is tried at most
// kMaxEtcdEditAttempts times.
// Threads: a watch thread (applies changes, writes records, runs on_change)
// and a lease thread. Every member is thread-safe; on_change is set before
// start().
#pragma once

#include <quorum/cluster/etcd_gateway.hpp>
#include <quorum/cluster/topology_state.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace quorum::cluster {

inline constexpr std::string_view kDefaultEtcdPrefix = "/quorum/default/";
inline constexpr int kMaxEtcdEditAttempts = 64;

struct EtcdTopologyStoreOptions {
  std::string url;  // the etcd client URL, http://HOST:PORT
  std::string prefix = std::string(kDefaultEtcdPrefix);
  std::string self;                                 // this node's name: its alive key
  int64_t lease_ttl_seconds = 2;                    // etcd rounds TTLs below its minimum up
  std::chrono::milliseconds request_timeout{3000};  // each etcd call
  bool revoke_lease_on_stop = true;                 // false: stop() leaves the lease to expire (a crash)
  bool joint_transitions = false;                   // see the header; the same for every node of the prefix
};

// What is stored under a prefix, read once (quorumctl topology show).
struct EtcdTopologySnapshot {
  Topology document;            // as stored (`live` = not drained)
  std::set<std::string> alive;  // nodes with an alive key
  int64_t revision = 0;         // the highest mod_revision under the prefix
  int64_t document_revision = 0;
  std::optional<StoredTopologyState> state;           // <prefix>state; nullopt if absent or invalid
  int64_t state_revision = 0;                         // its mod_revision (0: absent)
  std::string state_error;                            // why <prefix>state was refused ("" if it was not)
  std::map<uint64_t, std::set<std::string>> reports;  // <prefix>reports/<epoch>/<node>
};
Result<EtcdTopologySnapshot> read_etcd_topology(EtcdGateway& gateway, std::string_view prefix);
// Read-modify-write of <prefix>topology with `edit` (epoch + 1), retried on
// conflict. Returns the stored document.
Result<Topology> edit_etcd_topology(EtcdGateway& gateway, std::string_view prefix, const TopologyEdit& edit);
// Puts `topology` as <prefix>topology unless a document is there already.
// Ok(true) if it was written.
Result<bool> seed_etcd_topology(EtcdGateway& gateway, std::string_view prefix, const Topology& topology);

class EtcdTopologyStore final : public TopologyStore {
 public:
  explicit EtcdTopologyStore(EtcdTopologyStoreOptions options);
  ~EtcdTopologyStore() override;
  EtcdTopologyStore(const EtcdTopologyStore&) = delete;
  EtcdTopologyStore& operator=(const EtcdTopologyStore&) = delete;

  // Puts the document if absent (quorumd --etcd --topology FILE); any time.
  Status seed(const Topology& topology);

  Status start() override;  // kUnavailable: etcd unreachable; kNotFound: no document under the prefix
  void stop() override;
  std::shared_ptr<const Placement> current() const override;
  TopologyView state() const override;
  void on_change(std::function<void(std::shared_ptr<const Placement>)> callback) override;
  // Puts <prefix>reports/<epoch>/<node> if `epoch` is the pending joint
  // epoch of the record this store holds (in a txn on that record's
  // revision); returns once etcd accepted it. The watches finalize.
  Status report_caught_up(std::string_view node, uint64_t epoch) override;
  void heard_from(std::string_view node, Clock::time_point now) override;  // ignored: leases decide
  bool alive(std::string_view node) const override;                        // its lease's alive key is present
  Status add_node(std::string_view data_center, Node node) override;
  Status remove_node(std::string_view node_name) override;
  Status drain(std::string_view node_name) override;
  Status undrain(std::string_view node_name) override;

  // The revision of the last change applied (0 before start).
  int64_t applied_revision() const;
  // Waits until a change at `revision` or later was applied; false on timeout.
  bool wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) const;
  // Documents under <prefix>topology refused since start (each is logged).
  uint64_t rejected_documents() const;
  // Records under <prefix>state refused since start (each is logged).
  uint64_t rejected_states() const;
  const std::string& prefix() const noexcept { return options_.prefix; }

 private:
  std::string document_key() const { return options_.prefix + "topology"; }
  std::string alive_prefix() const { return options_.prefix + "alive/"; }
  std::string state_key() const { return options_.prefix + "state"; }
  std::string reports_prefix() const { return options_.prefix + "reports/"; }
  Status register_alive(EtcdGateway& gateway);
  // Ranges the prefix and applies it (running on_change if `notify`); returns the range revision.
  Result<int64_t> resync(EtcdGateway& gateway, bool notify);
  // Under mutex_: applies one key's value (or its deletion) to the caches.
  void apply_key_locked(const EtcdKeyValue& kv, bool deleted);
  // Under mutex_: rebuilds the view from record_; returns it if it changed.
  std::optional<TopologyView> republish_locked();
  // Steps the record from the caches and writes the step by txn (see the
  // header).
  enum class Advanced { kNothing, kWrote, kLost };  // kLost: another node's write came first
  Result<Advanced> advance(EtcdGateway& gateway);
  // Waits up to `delay` unless stopping; false when stopping.
  bool pause(std::chrono::milliseconds delay);
  void cancel_watch();
  // Under mutex_: a stored document value; false (and logged) if refused.
  bool apply_document_locked(const std::string& value, int64_t revision);
  // Under mutex_: a stored record value; false (and logged) if refused.
  bool apply_state_locked(const std::string& value, int64_t revision);
  void watch_loop(int64_t start_revision);
  void lease_loop();
  Status mutate(const TopologyEdit& edit);
  bool stopping() const;
  void announce(const std::optional<TopologyView>& changed);

  const EtcdTopologyStoreOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::condition_variable wake_;
  Topology document_;
  std::set<std::string, std::less<>> alive_;
  std::optional<StoredTopologyState> record_;
  int64_t record_revision_ = 0;                        // record_'s mod_revision
  bool record_refused_ = false;                        // the stored record does not parse: never overwrite it
  std::string record_error_;                           // why it was refused
  std::map<uint64_t, std::set<std::string>> reports_;  // bounded: reports/ is cleared by every record write
  TopologyView view_;
  int64_t applied_revision_ = 0;
  int64_t lease_ = 0;
  uint64_t rejected_documents_ = 0;
  uint64_t rejected_states_ = 0;
  bool stopping_ = false;
  std::function<void(std::shared_ptr<const Placement>)> callback_;
  EtcdWatch* watch_ = nullptr;  // under mutex_: the open watch, to cancel it
  std::thread watch_thread_;
  std::thread lease_thread_;
};

}  // namespace quorum::cluster
