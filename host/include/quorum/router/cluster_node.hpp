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
// It also feeds liveness: a heartbeat to every peer each heartbeat_interval,
// and every frame received is evidence for the topology store's failure
// detector (the etcd store ignores it: leases decide there).
//
// Until replication (the next issue), a key lives on its writer only.
//
// Bounds: at most max_pending requests waiting for a remote answer
// (kResourceExhausted beyond, which the API turns into 503); each waits at
// most request_timeout (kUnavailable: the command may still have been
// applied; a retry with the same id is safe). The mailroom bounds its
// per-peer queues.
//
// Threads: all members are safe from any thread (NodeService contract).
// Callbacks run on shard, mailroom or timer threads.
#pragma once

#include <quorum/cluster/topology_store.hpp>
#include <quorum/mailroom/mailroom.hpp>
#include <quorum/node/local_node.hpp>
#include <quorum/node/node_service.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

namespace quorum::router {

struct ClusterNodeOptions {
  node::LocalNodeOptions local;          // local.node_name must be this node's name in the topology
  mailroom::MailroomOptions mailroom;    // node_name and listen_address are set from the topology
  std::chrono::milliseconds request_timeout{10'000};
  // Heartbeats feed the embedded store's failure detector; with etcd the
  // leases decide and heartbeats are off. Each node sends one frame to every
  // other node per interval (N x (N-1) frames per interval in all).
  bool heartbeats = true;
  std::chrono::milliseconds heartbeat_interval{1000};
  size_t max_pending = 100'000;
};

class ClusterNode final : public node::NodeService, private node::RemoteDelivery {
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

  // Where a key's requests go now: this node (nullopt) or a peer's name.
  Result<std::optional<std::string>> owner_of(std::string_view key) const;
  void on_frame(std::string_view from, mailroom::Frame frame);
  void on_topology(std::shared_ptr<const cluster::Placement> placement);
  void send_peers(const cluster::Placement& placement);
  void serve_command(std::string_view from, mailroom::Frame frame);
  void serve_read(std::string_view from, mailroom::Frame frame);
  // Forwards a request this node does not own; false if it owns it.
  bool forward_if_moved(mailroom::Frame& frame, const std::string& origin);
  void reply(const std::string& origin, mailroom::Frame frame);
  void complete(mailroom::Frame frame);
  void timer_loop();
  Error not_ready() const;

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
  };

  ClusterNodeOptions options_;
  cluster::TopologyStore& topology_;
  std::string name_;
  std::unique_ptr<mailroom::Mailroom> mailroom_;
  std::unique_ptr<node::LocalNode> local_;
  uint16_t mailroom_port_ = 0;

  mutable std::mutex placement_mutex_;
  std::shared_ptr<const cluster::Placement> placement_;  // under placement_mutex_

  std::mutex pending_mutex_;
  std::unordered_map<uint64_t, Waiting> pending_;  // under pending_mutex_
  uint64_t next_correlation_ = 1;                  // under pending_mutex_
  bool closed_ = false;                            // under pending_mutex_
  std::condition_variable timer_wake_;
  std::thread timer_;
  Counters counters_;
  std::atomic<bool> ready_{false};  // local_ is open (frames may arrive before)
  std::atomic<bool> stopped_{false};
};

}  // namespace quorum::router
