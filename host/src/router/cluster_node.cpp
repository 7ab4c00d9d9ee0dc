#include <quorum/router/cluster_node.hpp>
#include <quorum/router/messages.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace quorum::router {
namespace {

using Clock = std::chrono::steady_clock;
using mailroom::Frame;

Frame make_frame(Kind kind, uint64_t correlation, std::string key, std::string body, uint64_t epoch) {
  Frame frame;
  frame.kind = static_cast<uint8_t>(kind);
  frame.correlation = correlation;
  frame.epoch = epoch;
  frame.key = std::move(key);
  frame.body = std::move(body);
  return frame;
}

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

// An error in a failed reply, as the requesting client should see it.
Error reply_error(const Error& error, std::string_view peer) {
  if (error.code == ErrorCode::kResourceExhausted) {
    return Error{error.code, "the mailroom queue to " + std::string(peer) + " is full; retry later"};
  }
  return Error{ErrorCode::kUnavailable, "cannot reach node " + std::string(peer) + ": " + error.message};
}

}  // namespace

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
    std::lock_guard lock(placement_mutex_);
    placement_ = placement;
  }
  mailroom_->set_peers(peers_of(placement->topology(), name_), placement->topology().epoch);

  node::LocalNodeOptions local_options = options_.local;
  local_options.remote = this;
  auto opened = node::LocalNode::open(std::move(local_options));
  if (!opened) {
    return opened.error();
  }
  local_ = std::move(opened).value();
  ready_.store(true, std::memory_order_release);
  timer_ = std::thread([this] { timer_loop(); });
  spdlog::info("{}: routing in a cluster of {} nodes (topology epoch {}), mailroom on {}", name_,
               peers_of(placement->topology(), "").size(), placement->topology().epoch, self->address);
  return {};
}

Result<std::optional<std::string>> ClusterNode::owner_of(std::string_view key) const {
  std::shared_ptr<const cluster::Placement> placement = topology_.current();
  auto writer = placement->writer(key);
  if (!writer) {
    return writer.error();
  }
  std::string_view owner = placement->node_name(*writer);
  if (owner == name_) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::string(owner));
}

Error ClusterNode::not_ready() const {
  return Error{ErrorCode::kUnavailable, "node " + name_ + " is starting; retry"};
}

bool ClusterNode::is_local(std::string_view key) const {
  auto owner = owner_of(key);
  return !owner.ok() || !owner->has_value();
}

void ClusterNode::submit_remote(node::Command command, node::Callback<node::CommandReceipt> done) {
  submit(std::move(command), std::move(done));
}

void ClusterNode::submit(node::Command command, node::Callback<node::CommandReceipt> done) {
  auto owner = owner_of(command.key);
  if (!owner) {
    done(owner.error());
    return;
  }
  if (!owner->has_value()) {
    local_->submit(std::move(command), std::move(done));
    return;
  }
  std::string key = command.key;
  Frame frame = make_frame(Kind::kCommand, 0, std::move(key), encode(CommandRequest{name_, std::move(command)}),
                           topology_.current()->topology().epoch);
  request(**owner, std::move(frame), std::move(done));
}

void ClusterNode::read_actor(std::string key, node::Callback<node::ActorView> done) {
  auto owner = owner_of(key);
  if (!owner) {
    done(owner.error());
    return;
  }
  if (!owner->has_value()) {
    local_->read_actor(std::move(key), std::move(done));
    return;
  }
  std::string body = encode(ReadRequest{name_, key, 0, 0});
  request(**owner, make_frame(Kind::kReadActor, 0, std::move(key), std::move(body), topology_.current()->topology().epoch),
          std::move(done));
}

void ClusterNode::read_log(std::string key, uint64_t from, size_t limit,
                           node::Callback<std::vector<node::LogEntryView>> done) {
  auto owner = owner_of(key);
  if (!owner) {
    done(owner.error());
    return;
  }
  if (!owner->has_value()) {
    local_->read_log(std::move(key), from, limit, std::move(done));
    return;
  }
  std::string body = encode(ReadRequest{name_, key, from, limit});
  request(**owner, make_frame(Kind::kReadLog, 0, std::move(key), std::move(body), topology_.current()->topology().epoch),
          std::move(done));
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

void ClusterNode::on_frame(std::string_view from, Frame frame) {
  topology_.heard_from(from, Clock::now());
  switch (static_cast<Kind>(frame.kind)) {
    case Kind::kHeartbeat:
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
  }
  counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("{}: frame of unknown kind {} from {} dropped", name_, frame.kind, from);
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

bool ClusterNode::forward_if_moved(Frame& frame, const std::string& origin) {
  auto owner = owner_of(frame.key);
  if (owner.ok() && !owner->has_value()) {
    return false;
  }
  const Kind answer = *reply_kind(frame.kind);
  auto refuse = [&](Error error) {
    reply(origin, make_frame(answer, frame.correlation, frame.key, error_body(answer, std::move(error)), frame.epoch));
  };
  if (!owner) {
    refuse(owner.error());
    return true;
  }
  if (frame.hops >= kMaxHops) {
    counters_.hop_limit.fetch_add(1, std::memory_order_relaxed);
    refuse(Error{ErrorCode::kUnavailable, "key '" + frame.key + "' was forwarded " + std::to_string(frame.hops) +
                                              " times without reaching its owner (the topology is changing); retry"});
    return true;
  }
  counters_.rerouted.fetch_add(1, std::memory_order_relaxed);
  frame.hops += 1;
  frame.epoch = topology_.current()->topology().epoch;
  const std::string next = **owner;
  if (Status sent = mailroom_->send(next, std::move(frame)); !sent.ok()) {
    refuse(reply_error(sent.error(), next));
  }
  return true;
}

void ClusterNode::serve_command(std::string_view from, Frame frame) {
  auto request = decode_command_request(frame.body);
  if (!request) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    reply(std::string(from), make_frame(Kind::kCommandReply, frame.correlation, frame.key,
                                        error_body(Kind::kCommandReply, request.error()), frame.epoch));
    return;
  }
  if (request->command.key != frame.key) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    reply(request->origin,
          make_frame(Kind::kCommandReply, frame.correlation, frame.key,
                     error_body(Kind::kCommandReply,
                                Error{ErrorCode::kInvalidArgument, "command key and frame key differ"}),
                     frame.epoch));
    return;
  }
  if (forward_if_moved(frame, request->origin)) {
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    reply(request->origin, make_frame(Kind::kCommandReply, frame.correlation, frame.key,
                                      error_body(Kind::kCommandReply, not_ready()), frame.epoch));
    return;
  }
  counters_.served_remote.fetch_add(1, std::memory_order_relaxed);
  const uint64_t correlation = frame.correlation;
  const uint64_t epoch = frame.epoch;
  std::string origin = std::move(request->origin);
  std::string key = request->command.key;
  local_->submit(std::move(request->command),
                 [this, origin = std::move(origin), key = std::move(key), correlation, epoch](
                     Result<node::CommandReceipt> result) mutable {
                   reply(origin, make_frame(Kind::kCommandReply, correlation, std::move(key), encode(result), epoch));
                 });
}

void ClusterNode::serve_read(std::string_view from, Frame frame) {
  const Kind answer = *reply_kind(frame.kind);
  auto request = decode_read_request(frame.body);
  if (!request || request->key != frame.key) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    Error error = request ? Error{ErrorCode::kInvalidArgument, "read key and frame key differ"} : request.error();
    reply(request ? request->origin : std::string(from),
          make_frame(answer, frame.correlation, frame.key, error_body(answer, std::move(error)), frame.epoch));
    return;
  }
  if (forward_if_moved(frame, request->origin)) {
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    reply(request->origin,
          make_frame(answer, frame.correlation, frame.key, error_body(answer, not_ready()), frame.epoch));
    return;
  }
  counters_.served_remote.fetch_add(1, std::memory_order_relaxed);
  const uint64_t correlation = frame.correlation;
  const uint64_t epoch = frame.epoch;
  std::string origin = std::move(request->origin);
  std::string key = request->key;
  if (answer == Kind::kReadActorReply) {
    local_->read_actor(std::move(request->key), [this, origin = std::move(origin), key = std::move(key), correlation,
                                                 epoch](Result<node::ActorView> result) mutable {
      reply(origin, make_frame(Kind::kReadActorReply, correlation, std::move(key), encode(result), epoch));
    });
  } else {
    local_->read_log(std::move(request->key), request->from, static_cast<size_t>(request->limit),
                     [this, origin = std::move(origin), key = std::move(key), correlation,
                      epoch](Result<std::vector<node::LogEntryView>> result) mutable {
                       reply(origin, make_frame(Kind::kReadLogReply, correlation, std::move(key), encode(result), epoch));
                     });
  }
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

void ClusterNode::on_topology(std::shared_ptr<const cluster::Placement> placement) {
  {
    std::lock_guard lock(placement_mutex_);
    if (placement_ == placement) {
      return;
    }
    placement_ = placement;
  }
  counters_.topology_changes.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("{}: topology epoch {}", name_, placement->topology().epoch);
  send_peers(*placement);
}

void ClusterNode::timer_loop() {
  constexpr auto kTick = std::chrono::milliseconds(100);
  Clock::time_point next_heartbeat = Clock::now();
  std::unique_lock lock(pending_mutex_);
  while (!closed_) {
    timer_wake_.wait_for(lock, kTick, [this] { return closed_; });
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
    std::shared_ptr<const cluster::Placement> placement = topology_.current();
    on_topology(placement);
    if (options_.heartbeats && now >= next_heartbeat) {
      next_heartbeat = now + options_.heartbeat_interval;
      for (const auto& peer : peers_of(placement->topology(), name_)) {
        (void)mailroom_->send(peer.name, make_frame(Kind::kHeartbeat, 0, {}, {}, placement->topology().epoch));
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
    return node::Health{false, name_, 0, 0, 0};
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
}

}  // namespace quorum::router
