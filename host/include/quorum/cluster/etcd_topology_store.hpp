// EtcdTopologyStore: the production topology store (DESIGN.md §6) on etcd v3
// (3.4+), through its JSON gateway (etcd_gateway.hpp).
//
// Layout under a prefix (default "/quorum/default/"; docs/formats.md):
//   <prefix>topology      the topology.json document; its `live` flag means
//                         "not drained"
//   <prefix>alive/<node>  a key attached to that node's lease (TTL 2 s,
//                         kept alive every TTL/3); present = alive
// Effective topology = the document with live = doc.live && alive key
// present. Effective epoch = the etcd revision of the latest change under
// the prefix that this node applied and that changed its effective topology
// (at start: the highest mod_revision under the prefix), so nodes that
// applied the same changes show the same epoch. A change that leaves the
// effective topology as it was publishes nothing. After a reconnection the
// store re-ranges; if that shows a changed topology whose highest
// mod_revision is not above the current epoch (a key was deleted while the
// watch was down), the epoch is the range's revision: still monotonic, but
// possibly different from other nodes' until the next change.
//
// start(): grant the lease, put the alive key, range the prefix, then watch
// from the range's revision + 1 on the store's watch thread; a second thread
// keeps the lease alive. If etcd is unreachable at start: kUnavailable naming
// the URL. If it goes away later: the last topology stays, the store logs,
// re-grants the lease if it expired, re-ranges and watches again with a
// bounded backoff (100 ms doubling to 2 s). A document that does not parse
// or validate is logged and ignored (the previous topology stays).
//
// Mutations: read-modify-write of <prefix>topology, a transaction comparing
// mod_revision, retried on conflict (at most 64 times), document epoch + 1.
// They return once etcd accepted the write (the watch applies it shortly
// after; wait_for_revision() waits for that).
//
// Bounds: one range answer at most 64 MiB and one watch message at most
// 32 MiB (etcd_gateway.hpp), so the alive set is bounded by them; an edit
// is tried at most kMaxEtcdEditAttempts times.
// Threads: a watch thread (applies changes, runs on_change) and a lease
// thread. Every member is thread-safe; on_change is set before start().
#pragma once

#include <quorum/cluster/etcd_gateway.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <condition_variable>
#include <mutex>
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
};

// What is stored under a prefix, read once (quorumctl topology show).
struct EtcdTopologySnapshot {
  Topology document;            // as stored (`live` = not drained)
  std::set<std::string> alive;  // nodes with an alive key
  int64_t revision = 0;         // the highest mod_revision under the prefix
  int64_t document_revision = 0;
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
  void on_change(std::function<void(std::shared_ptr<const Placement>)> callback) override;
  void heard_from(std::string_view node, Clock::time_point now) override;  // ignored: leases decide
  bool alive(std::string_view node) const override;  // its lease's alive key is present
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
  const std::string& prefix() const noexcept { return options_.prefix; }

 private:
  std::string document_key() const { return options_.prefix + "topology"; }
  std::string alive_prefix() const { return options_.prefix + "alive/"; }
  Status register_alive(EtcdGateway& gateway);
  // Ranges the prefix and applies it (running on_change if `notify`); returns the range revision.
  Result<int64_t> resync(EtcdGateway& gateway, bool notify);
  // Under mutex_: rebuilds the effective placement at epoch `revision`; returns it if it changed.
  std::shared_ptr<const Placement> republish_locked(int64_t revision);
  // Waits up to `delay` unless stopping; false when stopping.
  bool pause(std::chrono::milliseconds delay);
  void cancel_watch();
  // Under mutex_: a stored document value; false (and logged) if refused.
  bool apply_document_locked(const std::string& value, int64_t revision);
  void watch_loop(int64_t start_revision);
  void lease_loop();
  Status mutate(const TopologyEdit& edit);
  bool stopping() const;

  const EtcdTopologyStoreOptions options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::condition_variable wake_;
  Topology document_;
  std::set<std::string, std::less<>> alive_;
  std::shared_ptr<const Placement> current_;
  int64_t applied_revision_ = 0;
  int64_t lease_ = 0;
  uint64_t rejected_documents_ = 0;
  bool stopping_ = false;
  std::function<void(std::shared_ptr<const Placement>)> callback_;
  EtcdWatch* watch_ = nullptr;  // under mutex_: the open watch, to cancel it
  std::thread watch_thread_;
  std::thread lease_thread_;
};

}  // namespace quorum::cluster
