// ClusterNode: the NodeService of a quorumd that is one node of a cluster
// (DESIGN.md §4, §6). Any node accepts any command and any read: the router
// sends it through the mailroom to the node that owns the key under the
// current topology (Placement::writer), and the answer comes back the same
// way. A request that reaches a node that no longer owns its key (the
// topology changed in flight) is forwarded to the current owner, at most
// kMaxHops times. Side effects whose receiver lives elsewhere leave the
// local outbox through this router (RemoteDelivery) and are applied exactly
// once by the receiver's dedup on the derived command id.
//
// It also feeds liveness: every heartbeat_interval (aligned on the system
// clock) a heartbeat to the nodes of its data center and to the nodes at its
// index in the others, carrying a digest of the evidence it holds (node, age);
// every frame received and every digest entry is evidence for the topology
// store's failure detector (the etcd store ignores it: leases decide there).
// Any node's evidence reaches any other in at most two hops, so it is at most
// about two intervals old.
//
// Replicated (options.replicated, docs/replication.md): every key's log is
// on its writer and four followers, the local node's shards replicate it
// through kReplication frames, and there is no hand-off. Otherwise a key
// lives on its writer only, so when the topology moves a key its log moves
// with it (handoff.cpp):
// - Before a node serves a key it owns under a topology it has not served
//   it under yet, it acquires the key: it asks every other node in the
//   topology (kHandoffQuery). Each seals the key (from then on it sends the
//   key's requests to the asker, until its own topology changes) and, once
//   nothing of the key is in flight there, answers its stored seq and head.
//   The new owner copies the longest log's missing suffix (kFetchLog,
//   chain-verified, imported with its idempotency records) and then serves
//   the key: retries of commands applied by the old owner are duplicates.
//   Requests for the key wait meanwhile (bounded), and fail with
//   kUnavailable if a node does not answer within request_timeout.
// - After each topology change a node offers the keys it holds but no longer
//   owns to their owners (kHandoffOffer), which acquire them and confirm
//   (kHandoffTaken): a drained node gives everything away without traffic.
//   quorum_router_handoffs_pending counts what is not confirmed yet.
// - Two copies that diverged (a node died before handing its keys off and
//   came back after another node had written them) are never merged: the
//   node keeps serving the log it has, logs the conflict and counts it
//   (quorum_router_handoff_conflicts_total); replication removes the cause.
//
// Bounds: at most max_pending requests waiting for a remote answer
// (kResourceExhausted beyond, which the API turns into 503); each waits at
// most request_timeout (kUnavailable: the command may still have been
// applied; a retry with the same id is safe). The mailroom bounds its
// per-peer queues.
//
// Threads: all members are safe from any thread (NodeService contract).
// Callbacks run on shard, mailroom or timer threads. Lock order:
// state_mutex_ before a shard's post lock and the mailroom's locks; no
// callback runs under state_mutex_.
#pragma once

#include <quorum/cluster/topology_store.hpp>
#include <quorum/mailroom/mailroom.hpp>
#include <quorum/node/local_node.hpp>
#include <quorum/node/node_service.hpp>
#include <quorum/router/messages.hpp>
#include <quorum/replication/types.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace quorum::router {

struct ClusterNodeOptions {
  node::LocalNodeOptions local;          // local.node_name must be this node's name in the topology
  mailroom::MailroomOptions mailroom;    // node_name and listen_address are set from the topology
  std::chrono::milliseconds request_timeout{10'000};
  // Heartbeats feed the embedded store's failure detector; with etcd the
  // leases decide and heartbeats are off. Each node sends one frame per
  // interval to (its data center's size - 1) + (number of other data
  // centers) peers at least: 10 in the 4 x 8 topology, not 31.
  bool heartbeats = true;
  std::chrono::milliseconds heartbeat_interval{400};
  size_t max_pending = 100'000;
  // Hand-off bounds: keys being acquired at once (offers beyond it wait for
  // the offerer's next round), requests waiting for one key's acquisition
  // (kResourceExhausted beyond), keys offered at once.
  size_t max_acquisitions = 4096;
  size_t max_waiting_per_key = 4096;
  size_t max_offers = 1024;
  std::chrono::milliseconds reoffer_interval{3000};
  // Replicated (DESIGN §4, §5): each key's log lives on its writer and four
  // followers and a command is answered once 3 of 5 hold it; no hand-off.
  // Off: the hand-off cluster above (one copy per key).
  bool replicated = false;
};

// A node's id in replication ballots and envelopes: a stable 32-bit hash of
// its name (never 0). Part of the protocol: the same name gives the same id
// on every node and across restarts.
replication::NodeId replica_id_of(std::string_view node_name) noexcept;

class ClusterNode final : public node::NodeService, private node::RemoteDelivery, private node::ReplicationPeer {
 public:
  // Starts the mailroom on this node's address in the topology, opens the
  // local node, and starts routing. The store must be started and outlive
  // the node. Errors: kNotFound (this node is not in the topology), the
  // mailroom's and LocalNode::open's errors.
  static Result<std::unique_ptr<ClusterNode>> open(ClusterNodeOptions options, cluster::TopologyStore& topology);

  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  void submit(node::Command command, node::Callback<node::CommandReceipt> done) override;
  void read_actor(std::string key, node::Callback<node::ActorView> done) override;
  void read_replica_log(std::string key, uint64_t from, size_t limit,
                        node::Callback<node::NodeService::ReplicaLog> done) override {
    if (!local_) {
      return done(Error{ErrorCode::kUnavailable, "node is starting"});
    }
    local_->read_replica_log(std::move(key), from, limit, std::move(done));
  }
  void read_log(std::string key, uint64_t from, size_t limit,
                node::Callback<std::vector<node::LogEntryView>> done) override;
  // Committed events of the actors on THIS node (a cluster-wide stream is
  // the results issue's work).
  std::unique_ptr<node::Subscription> subscribe(std::string prefix, size_t queue_bound,
                                                std::function<void(const node::StreamEvent&)> on_event) override;
  host::PluginHost& plugins() override;
  node::Health health() const override;
  void write_metrics(std::string& out) const override;
  void shutdown() override;

  const std::string& name() const noexcept { return name_; }
  uint16_t mailroom_port() const noexcept { return mailroom_port_; }
  node::LocalNode& local() noexcept { return *local_; }

 private:
  ClusterNode(ClusterNodeOptions options, cluster::TopologyStore& topology);
  Status start();

  // RemoteDelivery (side effects from the local outbox).
  bool is_local(std::string_view key) const override;
  void submit_remote(node::Command command, node::Callback<node::CommandReceipt> done) override;

  using Clock = std::chrono::steady_clock;

  // A request waiting for its key's acquisition: run again, or fail.
  struct Waiter {
    std::function<void()> retry;
    std::function<void(Error)> fail;
  };
  enum class Route {
    kLocal,    // ran here (run_local)
    kPeer,     // belongs to another node (the peer's name is set)
    kQueued,   // waits for the key's acquisition
    kRefused,  // the error is set
  };
  // Where a request for `key` goes under the topology this node applied
  // (placement_) and its seals. kLocal runs `run_local` under state_mutex_,
  // so no seal or topology change can slip between the decision and the
  // local submission; kQueued keeps make_waiter() and starts the key's
  // acquisition if none runs. Defined in handoff.cpp.
  template <class RunLocal, class MakeWaiter>
  Route route(const std::string& key, RunLocal&& run_local, MakeWaiter&& make_waiter, std::string& peer,
              Error& error);
  // The node a key's requests go to, nullopt for this one. Requires state_mutex_.
  Result<std::optional<std::string>> owner_locked(std::string_view key) const;
  // Applies the store's current topology if it changed (peers, hand-off
  // state). Any thread; not under state_mutex_.
  void sync_topology();
  // Replication (replicated only): the key configs of a placement, the
  // shards' messages out, their reports, the messages in.
  void send_replication(std::vector<replication::Envelope> messages) override;
  void caught_up(size_t shard, uint64_t epoch) override;
  void on_replication(std::string_view from, const mailroom::Frame& frame);
  void apply_replication_topology(const cluster::TopologyView& view);
  // Timer thread: tells the topology store this node caught up (report_epoch_).
  void report_caught_up();
  struct ReplicaNames;  // replica id <-> node name of the current and previous topology
  std::shared_ptr<const ReplicaNames> replica_names_;            // under state_mutex_
  std::shared_ptr<const cluster::Placement> previous_placement_;  // while joint; under state_mutex_
  uint64_t caught_up_epoch_ = 0;                                 // under state_mutex_
  std::set<size_t> caught_up_shards_;                            // under state_mutex_
  uint64_t report_epoch_ = 0;                                    // to report; under state_mutex_
  uint64_t epoch() const;
  // Every other node of placement_ the store takes for alive (those may
  // hold keys). Requires state_mutex_.
  std::vector<std::string> peers_of_locked() const;
  void on_frame(std::string_view from, mailroom::Frame frame);
  void send_peers(const cluster::Placement& placement);
  void serve_command(std::string_view from, mailroom::Frame frame);
  void dispatch_command(mailroom::Frame frame, CommandRequest request);
  void serve_read(std::string_view from, mailroom::Frame frame);
  void dispatch_read(mailroom::Frame frame, ReadRequest request);
  // A request from another node: runs it here (run_local), sends it on, or
  // refuses it; while its key is being acquired it waits and then goes
  // through `again` (dispatch_command / dispatch_read).
  template <class Request, class RunLocal>
  void serve_here(mailroom::Frame& frame, Request& request, RunLocal&& run_local,
                  void (ClusterNode::*again)(mailroom::Frame, Request));
  // Sends a request on to `peer`, or refuses it at the hop limit.
  void forward(mailroom::Frame frame, const std::string& origin, const std::string& peer);
  // Answers `origin` with `error` for the request `frame`.
  void refuse(const mailroom::Frame& frame, const std::string& origin, Error error);
  void reply(const std::string& origin, mailroom::Frame frame);
  void complete(mailroom::Frame frame);
  void timer_loop();
  Error not_ready() const;

  // Hand-off (handoff.cpp).
  struct Acquisition {
    uint64_t id = 0;
    std::vector<Waiter> waiters;
    std::set<std::string> asked;                    // peers that have not answered
    std::map<std::string, node::KeyPoint> answers;  // peer -> its point
    std::optional<node::KeyPoint> local;            // this node's point (settled)
    std::set<std::string> offered_by;               // peers to confirm to (kHandoffTaken)
    std::string source;                             // the peer whose log is copied
    node::KeyPoint target;                          // its point
    Clock::time_point deadline;
    Clock::time_point queried;  // queries are sent again to peers that stay silent
  };
  struct Offer {
    std::string owner;
    uint64_t seq = 0;
    Clock::time_point sent;
  };
  // Starts the acquisition `id` of `key` (created under state_mutex_).
  void start_acquisition(const std::string& key, uint64_t id, const std::vector<std::string>& peers);
  void on_handoff_query(mailroom::Frame frame);
  void on_point(const std::string& from, const std::string& key, uint64_t id, Result<node::KeyPoint> point);
  void on_fetch_log(mailroom::Frame frame);
  void on_fetch_reply(mailroom::Frame frame);
  void on_offer(std::string_view from, mailroom::Frame frame);
  void on_taken(std::string_view from, const mailroom::Frame& frame);
  void fetch_next(const std::string& key, uint64_t id, const std::string& source, uint64_t from);
  void on_imported(const std::string& key, uint64_t id, Result<node::KeyPoint> point);
  // Ends acquisition `id`: the waiters run again (or fail with `error`).
  void finish(const std::string& key, uint64_t id, std::optional<Error> error);
  // Timer: acquisition deadlines, the offer walk, re-offers.
  void handoff_tick(Clock::time_point now);
  void send_offer(const std::string& key, const Offer& offer);

  using Pending = std::variant<node::Callback<node::CommandReceipt>, node::Callback<node::ActorView>,
                               node::Callback<std::vector<node::LogEntryView>>>;
  struct Waiting {
    Pending callback;
    std::chrono::steady_clock::time_point deadline;
    std::string peer;
  };
  // Registers a request and sends it; on failure answers it at once.
  void request(const std::string& peer, mailroom::Frame frame, Pending callback);
  static void fail(Pending& callback, Error error);

  struct Counters {
    std::atomic<uint64_t> forwarded_out{0};   // requests sent to their owner
    std::atomic<uint64_t> served_remote{0};   // requests served for other nodes
    std::atomic<uint64_t> rerouted{0};        // requests forwarded again (topology moved)
    std::atomic<uint64_t> hop_limit{0};       // refused at the hop limit
    std::atomic<uint64_t> timeouts{0};
    std::atomic<uint64_t> bad_frames{0};
    std::atomic<uint64_t> topology_changes{0};
    std::atomic<uint64_t> acquisitions{0};      // acquisitions completed
    std::atomic<uint64_t> keys_acquired{0};     // ... that copied entries from another node
    std::atomic<uint64_t> entries_imported{0};
    std::atomic<uint64_t> acquisition_failures{0};
    std::atomic<uint64_t> conflicts{0};
    std::atomic<uint64_t> seals{0};             // keys sealed for another node
    std::atomic<uint64_t> replication_out{0};   // replication messages sent
    std::atomic<uint64_t> replication_in{0};    // ... received
    std::atomic<uint64_t> replication_unsent{0};  // ... not sent (no such node, queue full)
  };

  ClusterNodeOptions options_;
  cluster::TopologyStore& topology_;
  std::string name_;
  std::unique_ptr<mailroom::Mailroom> mailroom_;
  std::unique_ptr<node::LocalNode> local_;
  uint16_t mailroom_port_ = 0;

  // Routing and hand-off state, under state_mutex_. acquired_: keys this
  // node may serve under placement_ (acquired, with the seq then; bounded:
  // cleared when too large, which only costs re-acquisitions); sealed_: keys
  // handed to another node (its name) under placement_; offered_: keys held
  // here, owned elsewhere, not yet confirmed taken.
  mutable std::mutex state_mutex_;
  std::shared_ptr<const cluster::Placement> placement_;
  std::unordered_map<std::string, uint64_t> acquired_;
  std::unordered_map<std::string, std::string> sealed_;
  std::unordered_map<std::string, Acquisition> acquiring_;
  uint64_t next_acquisition_ = 1;
  std::map<std::string, Offer> offered_;
  bool walking_ = false;    // listing stored keys to offer
  std::string walk_after_;  // the last key listed

  std::mutex pending_mutex_;
  std::unordered_map<uint64_t, Waiting> pending_;  // under pending_mutex_
  uint64_t next_correlation_ = 1;                  // under pending_mutex_
  bool closed_ = false;                            // under pending_mutex_
  std::condition_variable timer_wake_;
  bool handoff_busy() const;  // a handoff needs handoff_tick() at the 100 ms rate
  // Liveness evidence this node holds, direct or relayed by heartbeat
  // digests (at most one entry per node of the topology: pruned on every
  // heartbeat, digest entries for unknown nodes ignored).
  std::mutex heard_mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_heard_;  // under heard_mutex_
  // Records evidence (if newer than what is held) and passes it to the topology store.
  void heard(std::string_view node, std::chrono::steady_clock::time_point when);
  // msgpack [[name, age_ms], ...]: this node at age 0, then every node it holds evidence for.
  std::string heartbeat_digest(const cluster::Topology& topology, std::chrono::steady_clock::time_point now);
  void apply_digest(std::string_view body, std::chrono::steady_clock::time_point now);
  std::thread timer_;
  Counters counters_;
  std::atomic<bool> ready_{false};  // local_ is open (frames may arrive before)
  std::atomic<bool> stopped_{false};
};

}  // namespace quorum::router
