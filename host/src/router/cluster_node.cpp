#include <quorum/router/cluster_node.hpp>
#include <quorum/router/messages.hpp>

#include "make_frame.hpp"

#include <quorum/cluster/stable_hash.hpp>
#include <quorum/replication/codec.hpp>

#include <msgpack.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace quorum::router {
namespace {

using mailroom::Frame;

// The request's reply kind, or nullopt for a frame that is not a request.
std::optional<Kind> reply_kind(uint8_t kind) {
  switch (static_cast<Kind>(kind)) {
    case Kind::kCommand:
      return Kind::kCommandReply;
    case Kind::kReadActor:
      return Kind::kReadActorReply;
    case Kind::kReadLog:
      return Kind::kReadLogReply;
    default:
      return std::nullopt;
  }
}

// The body of a reply of kind `answer` that carries `error`.
std::string error_body(Kind answer, Error error) {
  switch (answer) {
    case Kind::kCommandReply:
      return encode(Result<node::CommandReceipt>(std::move(error)));
    case Kind::kReadActorReply:
      return encode(Result<node::ActorView>(std::move(error)));
    default:
      QUORUM_ASSERT(answer == Kind::kReadLogReply);
      return encode(Result<std::vector<node::LogEntryView>>(std::move(error)));
  }
}

// Every node but `self`, with its mailroom address.
std::vector<mailroom::Peer> peers_of(const cluster::Topology& topology, std::string_view self) {
  std::vector<mailroom::Peer> peers;
  for (const auto& dc : topology.data_centers) {
    for (const auto& node : dc.nodes) {
      if (node.name != self) {
        peers.push_back({node.name, node.address});
      }
    }
  }
  return peers;
}

// The nodes this node sends heartbeats to: every other node of its data
// center, and in each other data center the nodes linked to its index (j ==
// k mod |B| or k == j mod |A|: symmetric for unequal sizes). Any node Y
// reaches any node Z in at most two hops (Y -> the node of Y's data center
// at Z's index mod |A| -> Z), and each heartbeat carries the sender's
// evidence (heartbeat_digest), so the evidence a node holds about any live
// node is at most about two heartbeat intervals old (failure_timeout must
// stay above 2 x heartbeat_interval, as quorumd checks). 4 x 8 nodes: 10
// targets instead of 31 (N-1 in one data center: sqrt-like in general).
std::vector<std::string> heartbeat_targets(const cluster::Topology& topology, std::string_view self) {
  size_t self_dc = topology.data_centers.size();
  size_t self_index = 0;
  for (size_t i = 0; i < topology.data_centers.size(); ++i) {
    const auto& nodes = topology.data_centers[i].nodes;
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (nodes[j].name == self) {
        self_dc = i;
        self_index = j;
      }
    }
  }
  std::vector<std::string> targets;
  for (size_t i = 0; i < topology.data_centers.size(); ++i) {
    const auto& nodes = topology.data_centers[i].nodes;
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (nodes[j].name == self) {
        continue;
      }
      bool linked = self_dc == topology.data_centers.size() || i == self_dc;  // not in the topology: everyone
      if (!linked) {
        const size_t own_size = topology.data_centers[self_dc].nodes.size();
        linked = j == self_index % nodes.size() || self_index == j % own_size;
      }
      if (linked) {
        targets.push_back(nodes[j].name);
      }
    }
  }
  return targets;
}

// An error in a failed reply, as the requesting client should see it.
Error reply_error(const Error& error, std::string_view peer) {
  if (error.code == ErrorCode::kResourceExhausted) {
    return Error{error.code, "the mailroom queue to " + std::string(peer) + " is full; retry later"};
  }
  return Error{ErrorCode::kUnavailable, "cannot reach node " + std::string(peer) + ": " + error.message};
}

}  // namespace

replication::NodeId replica_id_of(std::string_view node_name) noexcept {
  const uint64_t h = cluster::stable_hash(node_name);
  const auto id = static_cast<replication::NodeId>(h ^ (h >> 32));
  return id == 0 ? 1 : id;
}

// Replica ids and node names of one topology, both ways.
struct ClusterNode::ReplicaNames {
  std::unordered_map<replication::NodeId, std::string> names;
  std::unordered_map<std::string, replication::NodeId> ids;
};

Result<std::unique_ptr<ClusterNode>> ClusterNode::open(ClusterNodeOptions options, cluster::TopologyStore& topology) {
  std::unique_ptr<ClusterNode> node(new ClusterNode(std::move(options), topology));
  if (Status started = node->start(); !started.ok()) {
    node->shutdown();
    return started.error();
  }
  return node;
}

ClusterNode::ClusterNode(ClusterNodeOptions options, cluster::TopologyStore& topology)
    : options_(std::move(options)), topology_(topology), name_(options_.local.node_name) {}

ClusterNode::~ClusterNode() { shutdown(); }

Status ClusterNode::start() {
  std::shared_ptr<const cluster::Placement> placement = topology_.current();
  QUORUM_ASSERT(placement != nullptr);
  const cluster::Node* self = cluster::node_named(placement->topology(), name_);
  if (self == nullptr) {
    return make_error(ErrorCode::kNotFound, "node '" + name_ + "' is not in the topology (epoch " +
                                                std::to_string(placement->topology().epoch) + ")");
  }
  mailroom::MailroomOptions mailroom_options = options_.mailroom;
  mailroom_options.node_name = name_;
  mailroom_options.listen_address = self->address;
  mailroom_ = std::make_unique<mailroom::Mailroom>(
      std::move(mailroom_options), [this](std::string_view from, Frame frame) { on_frame(from, std::move(frame)); });
  auto port = mailroom_->start();
  if (!port) {
    return port.error();
  }
  mailroom_port_ = *port;
  {
    std::lock_guard lock(state_mutex_);
    placement_ = placement;
    walking_ = !options_.replicated;  // keys stored here that another node owns now are offered to it
  }
  mailroom_->set_peers(peers_of(placement->topology(), name_), placement->topology().epoch);

  node::LocalNodeOptions local_options = options_.local;
  local_options.remote = this;
  if (options_.replicated) {
    local_options.replication = this;
    local_options.replica_id = replica_id_of(name_);
  }
  auto opened = node::LocalNode::open(std::move(local_options));
  if (!opened) {
    return opened.error();
  }
  local_ = std::move(opened).value();
  if (options_.replicated) {
    apply_replication_topology(topology_.state());
  }
  ready_.store(true, std::memory_order_release);
  timer_ = std::thread([this] { timer_loop(); });
  spdlog::info("{}: routing in a cluster of {} nodes (topology epoch {}), mailroom on {}", name_,
               peers_of(placement->topology(), "").size(), placement->topology().epoch, self->address);
  return {};
}

Result<std::optional<std::string>> ClusterNode::owner_locked(std::string_view key) const {
  auto writer = placement_->writer(key);
  if (!writer) {
    return writer.error();
  }
  std::string_view owner = placement_->node_name(*writer);
  if (owner != name_) {
    return std::optional<std::string>(std::string(owner));
  }
  if (auto sealed = sealed_.find(std::string(key)); sealed != sealed_.end()) {
    return std::optional<std::string>(sealed->second);
  }
  return std::optional<std::string>();
}

template <class RunLocal, class MakeWaiter>
ClusterNode::Route ClusterNode::route(const std::string& key, RunLocal&& run_local, MakeWaiter&& make_waiter,
                                      std::string& peer, Error& error) {
  std::vector<std::string> peers;
  uint64_t id = 0;
  {
    std::lock_guard lock(state_mutex_);
    auto owner = owner_locked(key);
    if (!owner) {
      error = owner.error();
      return Route::kRefused;
    }
    if (owner->has_value()) {
      peer = std::move(**owner);
      return Route::kPeer;
    }
    if (options_.replicated || acquired_.count(key) != 0) {
      run_local();  // replicated: the shard waits for the key's writer to recover here
      return Route::kLocal;
    }
    auto found = acquiring_.find(key);
    if (found == acquiring_.end()) {
      if (stopped_.load()) {
        error = Error{ErrorCode::kUnavailable, "node " + name_ + " is shutting down"};
        return Route::kRefused;
      }
      if (acquiring_.size() >= options_.max_acquisitions) {
        error = Error{ErrorCode::kResourceExhausted, "node " + name_ + " is taking over " +
                                                         std::to_string(acquiring_.size()) + " keys; retry later"};
        return Route::kRefused;
      }
      id = next_acquisition_++;
      Acquisition& acquisition = acquiring_[key];
      acquisition.id = id;
      acquisition.deadline = Clock::now() + options_.request_timeout;
      peers = peers_of_locked();
      acquisition.asked.insert(peers.begin(), peers.end());
      found = acquiring_.find(key);
    } else if (found->second.waiters.size() >= options_.max_waiting_per_key) {
      error = Error{ErrorCode::kResourceExhausted,
                    "too many requests wait for key '" + key + "' to move to node " + name_ + "; retry later"};
      return Route::kRefused;
    }
    found->second.waiters.push_back(make_waiter());
  }
  if (id != 0) {
    start_acquisition(key, id, peers);
  }
  return Route::kQueued;
}

Error ClusterNode::not_ready() const {
  return Error{ErrorCode::kUnavailable, "node " + name_ + " is starting; retry"};
}

bool ClusterNode::is_local(std::string_view key) const {
  std::lock_guard lock(state_mutex_);
  auto owner = owner_locked(key);
  return !owner.ok() || (!owner->has_value() && (options_.replicated || acquired_.count(std::string(key)) != 0));
}

void ClusterNode::submit_remote(node::Command command, node::Callback<node::CommandReceipt> done) {
  submit(std::move(command), std::move(done));
}

void ClusterNode::submit(node::Command command, node::Callback<node::CommandReceipt> done) {
  sync_topology();
  std::string peer;
  Error error;
  const std::string key = command.key;
  const Route where = route(
      key, [&] { local_->submit(std::move(command), std::move(done)); },
      [&] {
        return Waiter{[this, command, done]() mutable { submit(std::move(command), std::move(done)); },
                      [done](Error e) { done(std::move(e)); }};
      },
      peer, error);
  if (where == Route::kRefused) {
    done(std::move(error));
  } else if (where == Route::kPeer) {
    Frame frame = make_frame(Kind::kCommand, 0, key, encode(CommandRequest{name_, std::move(command)}), epoch());
    request(peer, std::move(frame), std::move(done));
  }
}

void ClusterNode::read_actor(std::string key, node::Callback<node::ActorView> done) {
  sync_topology();
  std::string peer;
  Error error;
  const Route where = route(
      key, [&] { local_->read_actor(key, std::move(done)); },
      [&] {
        return Waiter{[this, key, done]() mutable { read_actor(std::move(key), std::move(done)); },
                      [done](Error e) { done(std::move(e)); }};
      },
      peer, error);
  if (where == Route::kRefused) {
    done(std::move(error));
  } else if (where == Route::kPeer) {
    std::string body = encode(ReadRequest{name_, key, 0, 0});
    request(peer, make_frame(Kind::kReadActor, 0, std::move(key), std::move(body), epoch()), std::move(done));
  }
}

void ClusterNode::read_log(std::string key, uint64_t from, size_t limit,
                           node::Callback<std::vector<node::LogEntryView>> done) {
  sync_topology();
  std::string peer;
  Error error;
  const Route where = route(
      key, [&] { local_->read_log(key, from, limit, std::move(done)); },
      [&] {
        return Waiter{[this, key, from, limit, done]() mutable { read_log(std::move(key), from, limit, std::move(done)); },
                      [done](Error e) { done(std::move(e)); }};
      },
      peer, error);
  if (where == Route::kRefused) {
    done(std::move(error));
  } else if (where == Route::kPeer) {
    std::string body = encode(ReadRequest{name_, key, from, limit});
    request(peer, make_frame(Kind::kReadLog, 0, std::move(key), std::move(body), epoch()), std::move(done));
  }
}

void ClusterNode::fail(Pending& callback, Error error) {
  std::visit([&error](auto& done) { done(std::move(error)); }, callback);
}

void ClusterNode::request(const std::string& peer, Frame frame, Pending callback) {
  {
    std::lock_guard lock(pending_mutex_);
    if (closed_) {
      fail(callback, Error{ErrorCode::kUnavailable, "node " + name_ + " is shutting down"});
      return;
    }
    if (pending_.size() >= options_.max_pending) {
      fail(callback, Error{ErrorCode::kResourceExhausted,
                           "too many requests waiting for other nodes (" + std::to_string(pending_.size()) +
                               "); retry later"});
      return;
    }
    frame.correlation = next_correlation_++;
    pending_.emplace(frame.correlation,
                     Waiting{std::move(callback), Clock::now() + options_.request_timeout, peer});
  }
  const uint64_t correlation = frame.correlation;
  counters_.forwarded_out.fetch_add(1, std::memory_order_relaxed);
  Status sent = mailroom_->send(peer, std::move(frame));
  if (sent.ok()) {
    return;
  }
  std::optional<Pending> undone;
  {
    std::lock_guard lock(pending_mutex_);
    if (auto found = pending_.find(correlation); found != pending_.end()) {
      undone = std::move(found->second.callback);
      pending_.erase(found);
    }
  }
  if (undone) {
    fail(*undone, reply_error(sent.error(), peer));
  }
}

void ClusterNode::heard(std::string_view node, Clock::time_point when) {
  {
    std::lock_guard lock(heard_mutex_);
    auto [it, added] = last_heard_.try_emplace(std::string(node), when);
    if (!added) {
      if (it->second >= when) {
        return;
      }
      it->second = when;
    }
  }
  topology_.heard_from(node, when);
}

std::string ClusterNode::heartbeat_digest(const cluster::Topology& topology, Clock::time_point now) {
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> pack(out);
  std::lock_guard lock(heard_mutex_);
  std::erase_if(last_heard_, [&](const auto& entry) { return cluster::node_named(topology, entry.first) == nullptr; });
  pack.pack_array(static_cast<uint32_t>(last_heard_.size() + 1));
  pack.pack_array(2);
  pack.pack(name_);
  pack.pack(uint64_t{0});
  for (const auto& [node, when] : last_heard_) {
    pack.pack_array(2);
    pack.pack(node);
    pack.pack(static_cast<uint64_t>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(now - when).count())));
  }
  return std::string(out.data(), out.size());
}

void ClusterNode::apply_digest(std::string_view body, Clock::time_point now) {
  constexpr uint32_t kMaxEntries = cluster::kMaxDataCenters * cluster::kMaxNodesPerDataCenter + 1;
  constexpr uint64_t kMaxAgeMs = 3'600'000;
  try {
    // Bounded before anything is allocated: kMaxEntries pairs of a short name and an age.
    msgpack::object_handle handle = msgpack::unpack(body.data(), body.size(), nullptr, nullptr,
                                                    msgpack::unpack_limit(kMaxEntries, 0, 256, 0, 0, 3));
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::ARRAY || root.via.array.size > kMaxEntries) {
      counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::shared_ptr<const cluster::Placement> placement = topology_.current();
    for (uint32_t i = 0; i < root.via.array.size; ++i) {
      const msgpack::object& entry = root.via.array.ptr[i];
      if (entry.type != msgpack::type::ARRAY || entry.via.array.size != 2 ||
          entry.via.array.ptr[0].type != msgpack::type::STR ||
          entry.via.array.ptr[1].type != msgpack::type::POSITIVE_INTEGER) {
        continue;
      }
      const std::string_view node(entry.via.array.ptr[0].via.str.ptr, entry.via.array.ptr[0].via.str.size);
      const uint64_t age_ms = entry.via.array.ptr[1].via.u64;
      if (node == name_ || age_ms > kMaxAgeMs || cluster::node_named(placement->topology(), node) == nullptr) {
        continue;
      }
      heard(node, now - std::chrono::milliseconds(age_ms));
    }
  } catch (const std::exception&) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  }
}

void ClusterNode::on_frame(std::string_view from, Frame frame) {
  const Clock::time_point now = Clock::now();
  heard(from, now);
  switch (static_cast<Kind>(frame.kind)) {
    case Kind::kHeartbeat:
      if (!frame.body.empty()) {  // nodes before this change send an empty body
        apply_digest(frame.body, now);
      }
      return;
    case Kind::kCommand:
      serve_command(from, std::move(frame));
      return;
    case Kind::kReadActor:
    case Kind::kReadLog:
      serve_read(from, std::move(frame));
      return;
    case Kind::kCommandReply:
    case Kind::kReadActorReply:
    case Kind::kReadLogReply:
      complete(std::move(frame));
      return;
    case Kind::kHandoffQuery:
      on_handoff_query(std::move(frame));
      return;
    case Kind::kHandoffPoint: {
      const uint64_t id = frame.correlation;
      on_point(std::string(from), frame.key, id, decode_point_reply(frame.body));
      return;
    }
    case Kind::kFetchLog:
      on_fetch_log(std::move(frame));
      return;
    case Kind::kFetchLogReply:
      on_fetch_reply(std::move(frame));
      return;
    case Kind::kHandoffOffer:
      on_offer(from, std::move(frame));
      return;
    case Kind::kHandoffTaken:
      on_taken(from, frame);
      return;
    case Kind::kReplication:
      on_replication(from, frame);
      return;
  }
  counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("{}: frame of unknown kind {} from {} dropped", name_, frame.kind, from);
}

void ClusterNode::apply_replication_topology(const cluster::TopologyView& view) {
  std::shared_ptr<const cluster::Placement> placement = view.current;
  std::shared_ptr<const cluster::Placement> previous = view.previous;
  auto names = std::make_shared<ReplicaNames>();
  std::vector<const cluster::Node*> all;
  for (const cluster::Placement* p : {placement.get(), previous.get()}) {
    if (p == nullptr) {
      continue;
    }
    for (const cluster::DataCenter& dc : p->topology().data_centers) {
      for (const cluster::Node& n : dc.nodes) {
        all.push_back(&n);
      }
    }
  }
  for (const cluster::Node* node : all) {
    {
      const cluster::Node& n = *node;
      if (names->ids.count(n.name) != 0) {
        continue;  // in both topologies
      }
      const replication::NodeId id = replica_id_of(n.name);
      if (auto [it, fresh] = names->names.emplace(id, n.name); !fresh) {
        spdlog::critical("{}: nodes '{}' and '{}' have the same replica id {}; rename one", name_, it->second, n.name,
                         id);
      }
      names->ids.emplace(n.name, id);
    }
  }
  {
    std::lock_guard lock(state_mutex_);
    replica_names_ = names;
  }
  const uint64_t epoch = placement->topology().epoch;
  // A key's replica sets: the writer and its followers under the current
  // placement (DESIGN §4), and while the transition is joint the set under
  // the last final one too (every quorum then needs a majority of both).
  auto config_of = [placement, previous, names, epoch](std::string_view key) {
    replication::KeyConfig config;
    config.topology = epoch;
    Result<cluster::ReplicaSet> set = placement->replica_set(key);
    if (!set.ok()) {
      return config;  // no live data center: no writer (0), nothing to do
    }
    config.writer = names->ids.at(std::string(placement->node_name(set->writer)));
    for (cluster::NodeId n : set->nodes()) {
      config.current.push_back(names->ids.at(std::string(placement->node_name(n))));
    }
    if (previous != nullptr) {
      if (Result<cluster::ReplicaSet> before = previous->replica_set(key); before.ok()) {
        for (cluster::NodeId n : before->nodes()) {
          config.previous.push_back(names->ids.at(std::string(previous->node_name(n))));
        }
      }
    }
    return config;
  };
  local_->set_topology(epoch, previous != nullptr, config_of);
}

void ClusterNode::send_replication(std::vector<replication::Envelope> messages) {
  std::shared_ptr<const ReplicaNames> names;
  {
    std::lock_guard lock(state_mutex_);
    names = replica_names_;
  }
  const uint64_t current = epoch();
  for (replication::Envelope& message : messages) {
    auto to = names != nullptr ? names->names.find(message.to) : decltype(names->names.end()){};
    if (names == nullptr || to == names->names.end()) {
      counters_.replication_unsent.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    std::string key = message.key;
    Frame frame = make_frame(Kind::kReplication, 0, std::move(key), replication::encode(message), current);
    if (mailroom_->send(to->second, std::move(frame)).ok()) {
      counters_.replication_out.fetch_add(1, std::memory_order_relaxed);
    } else {
      counters_.replication_unsent.fetch_add(1, std::memory_order_relaxed);  // resent by the protocol
    }
  }
}

void ClusterNode::caught_up(size_t shard, uint64_t epoch) {
  // Every shard must have caught up; then the timer thread reports it (the
  // store call may wait for the store's own thread: not on a shard's).
  std::lock_guard lock(state_mutex_);
  if (epoch < caught_up_epoch_) {
    return;
  }
  if (epoch > caught_up_epoch_) {
    caught_up_epoch_ = epoch;
    caught_up_shards_.clear();
  }
  caught_up_shards_.insert(shard);
  if (caught_up_shards_.size() == options_.local.shards) {
    report_epoch_ = epoch;
    spdlog::info("{}: caught up every key it writes under joint topology {}", name_, epoch);
  }
}

void ClusterNode::report_caught_up() {
  uint64_t epoch = 0;
  {
    std::lock_guard lock(state_mutex_);
    epoch = std::exchange(report_epoch_, 0);
  }
  if (epoch == 0) {
    return;
  }
  if (Status reported = topology_.report_caught_up(name_, epoch); !reported.ok()) {
    spdlog::warn("{}: reporting caught up under topology {}: {}; retrying", name_, epoch, reported.error().message);
    std::lock_guard lock(state_mutex_);
    report_epoch_ = std::max(report_epoch_, epoch);
  }
}

void ClusterNode::on_replication(std::string_view from, const Frame& frame) {
  if (!options_.replicated || !ready_.load(std::memory_order_acquire)) {
    return;  // the sender resends
  }
  Result<replication::Envelope> message = replication::decode_envelope(frame.body);
  if (!message.ok() || message->key != frame.key) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{}: replication frame from {} dropped: {}", name_, from,
                 message.ok() ? std::string("key differs from the frame's") : message.error().message);
    return;
  }
  counters_.replication_in.fetch_add(1, std::memory_order_relaxed);
  local_->receive_replication(std::move(message).value());
}

void ClusterNode::reply(const std::string& origin, Frame frame) {
  if (origin == name_) {
    complete(std::move(frame));
    return;
  }
  if (Status sent = mailroom_->send(origin, std::move(frame)); !sent.ok()) {
    // The requester times out and its client retries (safe with an id).
    spdlog::warn("{}: cannot answer {}: {}", name_, origin, sent.error().message);
  }
}

void ClusterNode::refuse(const Frame& frame, const std::string& origin, Error error) {
  const Kind answer = *reply_kind(frame.kind);
  reply(origin, make_frame(answer, frame.correlation, frame.key, error_body(answer, std::move(error)), frame.epoch));
}

void ClusterNode::forward(Frame frame, const std::string& origin, const std::string& peer) {
  if (frame.hops >= kMaxHops) {
    counters_.hop_limit.fetch_add(1, std::memory_order_relaxed);
    refuse(frame, origin,
           Error{ErrorCode::kUnavailable, "key '" + frame.key + "' was forwarded " + std::to_string(frame.hops) +
                                              " times without reaching its owner (the topology is changing); retry"});
    return;
  }
  counters_.rerouted.fetch_add(1, std::memory_order_relaxed);
  frame.hops += 1;
  frame.epoch = epoch();
  Frame copy_for_error;
  copy_for_error.kind = frame.kind;
  copy_for_error.correlation = frame.correlation;
  copy_for_error.key = frame.key;
  copy_for_error.epoch = frame.epoch;
  if (Status sent = mailroom_->send(peer, std::move(frame)); !sent.ok()) {
    refuse(copy_for_error, origin, reply_error(sent.error(), peer));
  }
}

void ClusterNode::serve_command(std::string_view from, Frame frame) {
  auto request = decode_command_request(frame.body);
  if (!request) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    refuse(frame, std::string(from), request.error());
    return;
  }
  if (request->command.key != frame.key) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    refuse(frame, request->origin, Error{ErrorCode::kInvalidArgument, "command key and frame key differ"});
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    refuse(frame, request->origin, not_ready());
    return;
  }
  dispatch_command(std::move(frame), std::move(request).value());
}

template <class Request, class RunLocal>
void ClusterNode::serve_here(Frame& frame, Request& request, RunLocal&& run_local,
                             void (ClusterNode::*again)(Frame, Request)) {
  sync_topology();
  std::string peer;
  Error error;
  const Route where = route(
      frame.key, run_local,
      [&] {
        return Waiter{[this, frame, request, again]() mutable { (this->*again)(std::move(frame), std::move(request)); },
                      [this, frame, origin = request.origin](Error e) { refuse(frame, origin, std::move(e)); }};
      },
      peer, error);
  if (where == Route::kRefused) {
    refuse(frame, request.origin, std::move(error));
  } else if (where == Route::kPeer) {
    forward(std::move(frame), request.origin, peer);
  }
}

void ClusterNode::dispatch_command(Frame frame, CommandRequest request) {
  serve_here(
      frame, request,
      [&] {
        counters_.served_remote.fetch_add(1, std::memory_order_relaxed);
        local_->submit(std::move(request.command),
                       [this, origin = request.origin, key = frame.key, correlation = frame.correlation,
                        epoch = frame.epoch](Result<node::CommandReceipt> result) mutable {
                         reply(origin,
                               make_frame(Kind::kCommandReply, correlation, std::move(key), encode(result), epoch));
                       });
      },
      &ClusterNode::dispatch_command);
}

void ClusterNode::serve_read(std::string_view from, Frame frame) {
  auto request = decode_read_request(frame.body);
  if (!request || request->key != frame.key) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    Error error = request ? Error{ErrorCode::kInvalidArgument, "read key and frame key differ"} : request.error();
    refuse(frame, request ? request->origin : std::string(from), std::move(error));
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    refuse(frame, request->origin, not_ready());
    return;
  }
  dispatch_read(std::move(frame), std::move(request).value());
}

void ClusterNode::dispatch_read(Frame frame, ReadRequest request) {
  const Kind answer = *reply_kind(frame.kind);
  serve_here(
      frame, request,
      [&] {
        counters_.served_remote.fetch_add(1, std::memory_order_relaxed);
        const uint64_t correlation = frame.correlation;
        const uint64_t epoch = frame.epoch;
        if (answer == Kind::kReadActorReply) {
          local_->read_actor(request.key, [this, origin = request.origin, key = frame.key, correlation,
                                           epoch](Result<node::ActorView> result) mutable {
            reply(origin, make_frame(Kind::kReadActorReply, correlation, std::move(key), encode(result), epoch));
          });
        } else {
          local_->read_log(request.key, request.from, static_cast<size_t>(request.limit),
                           [this, origin = request.origin, key = frame.key, correlation,
                            epoch](Result<std::vector<node::LogEntryView>> result) mutable {
                             reply(origin,
                                   make_frame(Kind::kReadLogReply, correlation, std::move(key), encode(result), epoch));
                           });
        }
      },
      &ClusterNode::dispatch_read);
}

void ClusterNode::complete(Frame frame) {
  std::optional<Waiting> waiting;
  {
    std::lock_guard lock(pending_mutex_);
    if (auto found = pending_.find(frame.correlation); found != pending_.end()) {
      waiting = std::move(found->second);
      pending_.erase(found);
    }
  }
  if (!waiting) {
    return;  // timed out already, or a duplicate
  }
  switch (static_cast<Kind>(frame.kind)) {
    case Kind::kCommandReply:
      if (auto* done = std::get_if<node::Callback<node::CommandReceipt>>(&waiting->callback)) {
        (*done)(decode_command_reply(frame.body));
        return;
      }
      break;
    case Kind::kReadActorReply:
      if (auto* done = std::get_if<node::Callback<node::ActorView>>(&waiting->callback)) {
        (*done)(decode_actor_reply(frame.body));
        return;
      }
      break;
    case Kind::kReadLogReply:
      if (auto* done = std::get_if<node::Callback<std::vector<node::LogEntryView>>>(&waiting->callback)) {
        (*done)(decode_log_reply(frame.body));
        return;
      }
      break;
    default:
      break;
  }
  counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  fail(waiting->callback, Error{ErrorCode::kUnavailable, "node " + waiting->peer + " answered with the wrong kind"});
}

void ClusterNode::send_peers(const cluster::Placement& placement) {
  mailroom_->set_peers(peers_of(placement.topology(), name_), placement.topology().epoch);
}

uint64_t ClusterNode::epoch() const { return topology_.current()->topology().epoch; }

std::vector<std::string> ClusterNode::peers_of_locked() const {
  std::vector<std::string> names;
  for (const mailroom::Peer& peer : peers_of(placement_->topology(), name_)) {
    if (topology_.alive(peer.name)) {
      names.push_back(peer.name);
    }
  }
  return names;
}

void ClusterNode::sync_topology() {
  const cluster::TopologyView view = topology_.state();
  std::shared_ptr<const cluster::Placement> placement = view.current;
  std::vector<Waiter> waiters;
  bool finalized = false;
  {
    std::lock_guard lock(state_mutex_);
    if (placement_ == placement) {
      if (previous_placement_ == view.previous) {
        return;
      }
      // The same target, now final: only the replicas' configurations change.
      previous_placement_ = view.previous;
      finalized = true;
    }
  }
  if (finalized) {
    if (options_.replicated && ready_.load(std::memory_order_acquire)) {
      apply_replication_topology(view);
    }
    return;
  }
  {
    std::lock_guard lock(state_mutex_);
    if (placement_ == placement) {
      return;
    }
    placement_ = placement;
    previous_placement_ = view.previous;
    // What this node served, sealed and offered was decided under the old
    // topology: decide again. Requests waiting for an acquisition route anew.
    acquired_.clear();
    sealed_.clear();
    offered_.clear();
    for (auto& [key, acquisition] : acquiring_) {
      for (Waiter& waiter : acquisition.waiters) {
        waiters.push_back(std::move(waiter));
      }
    }
    acquiring_.clear();
    walking_ = !options_.replicated;
    walk_after_.clear();
  }
  counters_.topology_changes.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("{}: topology epoch {}", name_, placement->topology().epoch);
  send_peers(*placement);
  // Requests waiting for a node that left the rings (dead or drained) will
  // not be answered in time: fail them now, so their clients retry (same
  // id) and reach the key's new writer instead of waiting request_timeout.
  std::vector<Waiting> orphaned;
  {
    std::lock_guard lock(pending_mutex_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      const cluster::Node* peer = cluster::node_named(placement->topology(), it->second.peer);
      if (peer == nullptr || !peer->live) {
        orphaned.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Waiting& waiting : orphaned) {
    fail(waiting.callback, Error{ErrorCode::kUnavailable, "node " + waiting.peer +
                                                              " left the topology before answering; the request may "
                                                              "or may not have been applied: retry with the same id"});
  }
  if (options_.replicated && ready_.load(std::memory_order_acquire)) {
    apply_replication_topology(view);
  }
  for (Waiter& waiter : waiters) {
    waiter.retry();
  }
}

bool ClusterNode::handoff_busy() const {
  std::lock_guard lock(state_mutex_);
  return walking_ || !acquiring_.empty() || !offered_.empty();
}

void ClusterNode::timer_loop() {
  // Sleeps until the next heartbeat or tick: every 100 ms while requests
  // wait or a handoff runs, every kIdleTick otherwise (topology changes are
  // seen within it), so an idle node wakes a few times a second, not ten.
  constexpr auto kBusyTick = std::chrono::milliseconds(100);
  constexpr auto kIdleTick = std::chrono::milliseconds(250);
  // Heartbeats go out at multiples of the interval on the system clock, on
  // every node at about the same instant (fewer wake-ups of the receivers'
  // mailrooms; with relayed digests, a digest is at most about one interval
  // old when it is sent on).
  const auto aligned_heartbeat = [this](Clock::time_point now) {
    const auto interval = std::chrono::duration_cast<std::chrono::system_clock::duration>(options_.heartbeat_interval);
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return now + std::chrono::duration_cast<Clock::duration>(interval - since_epoch % interval);
  };
  Clock::time_point next_heartbeat = Clock::now();
  bool busy = true;
  std::unique_lock lock(pending_mutex_);
  while (!closed_) {
    Clock::time_point wake = Clock::now() + (busy || !pending_.empty() ? kBusyTick : kIdleTick);
    if (options_.heartbeats) {
      wake = std::min(wake, next_heartbeat);
    }
    timer_wake_.wait_until(lock, wake, [this] { return closed_; });
    if (closed_) {
      break;
    }
    const Clock::time_point now = Clock::now();
    std::vector<Waiting> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (Waiting& waiting : expired) {
      counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
      fail(waiting.callback,
           Error{ErrorCode::kUnavailable,
                 "no answer from node " + waiting.peer + " within " +
                     std::to_string(options_.request_timeout.count()) +
                     " ms (the command may have been applied; retrying with the same id is safe)"});
    }
    sync_topology();
    if (options_.replicated) {
      report_caught_up();
    }
    handoff_tick(now);
    busy = handoff_busy();
    std::shared_ptr<const cluster::Placement> placement = topology_.current();
    if (options_.heartbeats && now >= next_heartbeat) {
      next_heartbeat = aligned_heartbeat(now);
      const std::string digest = heartbeat_digest(placement->topology(), now);
      for (const std::string& peer : heartbeat_targets(placement->topology(), name_)) {
        (void)mailroom_->send(peer, make_frame(Kind::kHeartbeat, 0, {}, digest, placement->topology().epoch));
      }
    }
    lock.lock();
  }
}

std::unique_ptr<node::Subscription> ClusterNode::subscribe(std::string prefix, size_t queue_bound,
                                                           std::function<void(const node::StreamEvent&)> on_event) {
  return local_->subscribe(std::move(prefix), queue_bound, std::move(on_event));
}

host::PluginHost& ClusterNode::plugins() { return local_->plugins(); }

node::Health ClusterNode::health() const {
  if (!local_) {
    node::Health idle;
    idle.node_name = name_;
    return idle;
  }
  node::Health health = local_->health();
  health.serving = health.serving && !stopped_.load();
  return health;
}

void ClusterNode::write_metrics(std::string& out) const {
  if (local_) {
    local_->write_metrics(out);
  }
  if (mailroom_) {
    mailroom_->write_metrics(out);
  }
  auto counter = [&out](const char* name, const char* help, uint64_t value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " counter\n";
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  counter("quorum_router_forwarded_total", "Requests sent to the node that owns their key.",
          counters_.forwarded_out.load());
  counter("quorum_router_served_remote_total", "Requests served here for other nodes.", counters_.served_remote.load());
  counter("quorum_router_rerouted_total", "Requests forwarded again because the topology moved their key.",
          counters_.rerouted.load());
  counter("quorum_router_hop_limit_total", "Requests refused at the hop limit.", counters_.hop_limit.load());
  counter("quorum_router_timeouts_total", "Requests that got no answer in time.", counters_.timeouts.load());
  counter("quorum_router_bad_frames_total", "Frames that could not be decoded.", counters_.bad_frames.load());
  counter("quorum_router_topology_changes_total", "Topology epochs applied.", counters_.topology_changes.load());
  counter("quorum_router_acquisitions_total", "Keys this node checked with every other node before serving them.",
          counters_.acquisitions.load());
  counter("quorum_router_keys_acquired_total", "Keys whose log this node copied from another node (hand-off).",
          counters_.keys_acquired.load());
  counter("quorum_router_entries_imported_total", "Log entries copied from other nodes by hand-offs.",
          counters_.entries_imported.load());
  counter("quorum_router_acquisition_failures_total",
          "Acquisitions that failed (a node did not answer or could not hand over).",
          counters_.acquisition_failures.load());
  counter("quorum_router_handoff_conflicts_total",
          "Keys found with diverged copies on two nodes (logged; the node serves the copy it has).",
          counters_.conflicts.load());
  counter("quorum_router_seals_total", "Keys this node handed to another node on its request.",
          counters_.seals.load());
  counter("quorum_replication_messages_out_total", "Replication messages sent to other nodes.",
          counters_.replication_out.load());
  counter("quorum_replication_messages_in_total", "Replication messages received from other nodes.",
          counters_.replication_in.load());
  counter("quorum_replication_messages_unsent_total",
          "Replication messages not sent (unknown node, full queue); the protocol resends.",
          counters_.replication_unsent.load());
  {
    std::lock_guard lock(state_mutex_);
    out += "# HELP quorum_router_handoffs_pending Keys stored here that another node owns and has not confirmed "
           "taking (at least 1 while the stored keys are still being listed).\n"
           "# TYPE quorum_router_handoffs_pending gauge\n";
    out += "quorum_router_handoffs_pending " + std::to_string(offered_.size() + (walking_ ? 1 : 0)) + "\n";
    out += "# HELP quorum_router_acquiring Keys being taken over from other nodes now.\n"
           "# TYPE quorum_router_acquiring gauge\n";
    out += "quorum_router_acquiring " + std::to_string(acquiring_.size()) + "\n";
  }
  std::shared_ptr<const cluster::Placement> placement = topology_.current();
  if (placement) {
    out += "# HELP quorum_topology_epoch The topology epoch this node routes by.\n# TYPE quorum_topology_epoch gauge\n";
    out += "quorum_topology_epoch " + std::to_string(placement->topology().epoch) + "\n";
  }
}

void ClusterNode::shutdown() {
  if (stopped_.exchange(true)) {
    return;
  }
  {
    std::lock_guard lock(pending_mutex_);
    closed_ = true;
  }
  timer_wake_.notify_all();
  if (timer_.joinable()) {
    timer_.join();
  }
  if (local_) {
    local_->shutdown();
  }
  std::unordered_map<uint64_t, Waiting> pending;
  {
    std::lock_guard lock(pending_mutex_);
    pending.swap(pending_);
  }
  for (auto& [correlation, waiting] : pending) {
    fail(waiting.callback, Error{ErrorCode::kUnavailable, "node " + name_ + " is shutting down"});
  }
  if (mailroom_) {
    mailroom_->stop();
  }
  // No frame arrives any more: requests still waiting for a key's
  // acquisition will not see it end.
  std::unordered_map<std::string, Acquisition> acquiring;
  {
    std::lock_guard lock(state_mutex_);
    acquiring.swap(acquiring_);
  }
  for (auto& [key, acquisition] : acquiring) {
    for (Waiter& waiter : acquisition.waiters) {
      waiter.fail(Error{ErrorCode::kUnavailable, "node " + name_ + " is shutting down"});
    }
  }
}

}  // namespace quorum::router
