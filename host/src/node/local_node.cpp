#include <quorum/node/local_node.hpp>

#include <quorum/host/assert.hpp>
#include <quorum/replication/store_log.hpp>
#include <quorum/store/chain.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/leveldb_store.hpp>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace quorum::node {

// ---------------------------------------------------------------------------
// Plugin directory helpers.

namespace {

struct Semver {
  uint64_t major = 0, minor = 0, patch = 0;
  std::string pre;  // empty: a release
};

std::optional<Semver> parse_semver(std::string_view text) {
  Semver out;
  const size_t dash = text.find('-');
  std::string_view core = text.substr(0, dash);
  if (dash != std::string_view::npos) {
    out.pre = std::string(text.substr(dash + 1));
    if (out.pre.empty()) {
      return std::nullopt;
    }
  }
  uint64_t* parts[3] = {&out.major, &out.minor, &out.patch};
  for (int i = 0; i < 3; ++i) {
    const size_t dot = i < 2 ? core.find('.') : core.size();
    if (dot == std::string_view::npos || dot == 0) {
      return std::nullopt;
    }
    std::string_view number = core.substr(0, dot);
    auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), *parts[i]);
    if (error != std::errc{} || end != number.data() + number.size()) {
      return std::nullopt;
    }
    core = i < 2 ? core.substr(dot + 1) : std::string_view{};
  }
  return out;
}

}  // namespace

int compare_semver(std::string_view a, std::string_view b) {
  const std::optional<Semver> x = parse_semver(a);
  const std::optional<Semver> y = parse_semver(b);
  if (!x || !y) {
    if (x.has_value() != y.has_value()) {
      return x ? 1 : -1;
    }
    return a.compare(b);
  }
  if (x->major != y->major) {
    return x->major < y->major ? -1 : 1;
  }
  if (x->minor != y->minor) {
    return x->minor < y->minor ? -1 : 1;
  }
  if (x->patch != y->patch) {
    return x->patch < y->patch ? -1 : 1;
  }
  if (x->pre.empty() != y->pre.empty()) {
    return x->pre.empty() ? 1 : -1;  // a pre-release sorts before its release
  }
  return x->pre.compare(y->pre);
}

Result<std::vector<PluginActivation>> highest_plugin_versions(const std::filesystem::path& directory) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  if (error) {
    return make_error(ErrorCode::kIo, "cannot list plugin directory '" + directory.string() + "': " + error.message());
  }
  std::map<std::string, std::string> best;
  for (const std::filesystem::directory_entry& entry : it) {
    const std::string file = entry.path().filename().string();
    if (file.size() < 4 || file.substr(file.size() - 3) != ".so") {
      continue;
    }
    const std::string stem = file.substr(0, file.size() - 3);
    // <name>-<semver>: the semver starts after the first '-' followed by a digit
    // whose remainder parses.
    for (size_t dash = stem.find('-'); dash != std::string::npos; dash = stem.find('-', dash + 1)) {
      const std::string name = stem.substr(0, dash);
      const std::string version = stem.substr(dash + 1);
      if (name.empty() || !parse_semver(version)) {
        continue;
      }
      auto found = best.find(name);
      if (found == best.end() || compare_semver(found->second, version) < 0) {
        best[name] = version;
      }
      break;
    }
  }
  std::vector<PluginActivation> out;
  for (auto& [name, version] : best) {
    out.push_back(PluginActivation{name, version});
  }
  return out;
}

// ---------------------------------------------------------------------------
// Metrics.

namespace {

template <size_t N>
struct Histogram {
  std::array<double, N> bounds;
  std::array<std::atomic<uint64_t>, N + 1> buckets{};  // last: +Inf
  std::atomic<uint64_t> count{0};
  std::atomic<double> sum{0};

  explicit Histogram(std::array<double, N> b) : bounds(b) {}
  void observe(double value) {
    size_t i = 0;
    while (i < N && value > bounds[i]) {
      ++i;
    }
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    double old = sum.load(std::memory_order_relaxed);
    while (!sum.compare_exchange_weak(old, old + value, std::memory_order_relaxed)) {
    }
  }
  void write(std::string& out, const std::string& name, const std::string& help) const {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cumulative = 0;
    char buffer[64];
    for (size_t i = 0; i <= N; ++i) {
      cumulative += buckets[i].load(std::memory_order_relaxed);
      std::string le = "+Inf";
      if (i < N) {
        std::snprintf(buffer, sizeof buffer, "%g", bounds[i]);
        le = buffer;
      }
      out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    std::snprintf(buffer, sizeof buffer, "%.9g", sum.load(std::memory_order_relaxed));
    out += name + "_sum " + buffer + "\n";
    out += name + "_count " + std::to_string(count.load(std::memory_order_relaxed)) + "\n";
  }
};

enum CommandResult : size_t {
  kResultOk,
  kResultDuplicate,
  kResultRejected,
  kResultInvalid,
  kResultExhausted,
  kResultUnavailable,
  kResultError,
  kResultCount,
};
constexpr const char* kResultNames[kResultCount] = {"ok",        "duplicate",   "rejected", "invalid",
                                                    "exhausted", "unavailable", "error"};

CommandResult classify(const Result<CommandReceipt>& result) {
  if (result.ok()) {
    return result->duplicate ? kResultDuplicate : kResultOk;
  }
  switch (result.error().code) {
    case ErrorCode::kRejected:
      return kResultRejected;
    case ErrorCode::kInvalidArgument:
      return kResultInvalid;
    case ErrorCode::kResourceExhausted:
      return kResultExhausted;
    case ErrorCode::kUnavailable:
      return kResultUnavailable;
    default:
      return kResultError;
  }
}

uint64_t fnv1a(std::string_view bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// The hash of entry `first - 1` of `key` (kGenesisHash for first 1): the
// anchor a log read from `first` verifies its chain against. kUnavailable
// (naming the seq) if that entry is not stored or does not parse.
Result<store::Hash> chain_anchor(const store::EventStore& store, const std::string& key, uint64_t first) {
  if (first <= 1) {
    return store::kGenesisHash;
  }
  const std::string where = "actor '" + key + "' seq " + std::to_string(first - 1);
  Result<std::vector<store::RawEntry>> before = store.read_log(key, first - 1, 1);
  if (!before.ok() || before->empty() || (*before)[0].seq != first - 1) {
    return make_error(ErrorCode::kUnavailable, where + ": entry unreadable");
  }
  Result<store::EntryView> parsed = store::parse_entry((*before)[0].bytes);
  if (!parsed.ok()) {
    return make_error(ErrorCode::kUnavailable, where + ": unreadable entry: " + parsed.error().message);
  }
  return parsed->hash;
}

// Entries first..last of `key` (at most `bound`) as stored, chain-verified
// from the entry before `first`. Errors: kUnavailable naming the key and seq.
Result<std::vector<LogEntryView>> read_verified(const store::EventStore& store, const std::string& key, uint64_t first,
                                                uint64_t last, size_t bound) {
  std::vector<LogEntryView> out;
  if (first > last || bound == 0) {
    return out;
  }
  const size_t want = static_cast<size_t>(std::min<uint64_t>(bound, last - first + 1));
  Result<store::Hash> anchored = chain_anchor(store, key, first);
  if (!anchored.ok()) {
    return anchored.error();
  }
  Result<std::vector<store::RawEntry>> page = store.read_log(key, first, want);
  if (!page.ok()) {
    return make_error(ErrorCode::kUnavailable, "actor '" + key + "': reading the log: " + page.error().message);
  }
  store::ChainVerifier verifier(first - 1, *anchored);
  store::Hash prev = *anchored;
  for (const store::RawEntry& raw : *page) {
    if (raw.seq > last) {
      break;
    }
    if (!verifier.next(raw.bytes, raw.seq)) {
      const store::ChainFault& fault = *verifier.fault();
      return make_error(ErrorCode::kUnavailable, "actor '" + key + "' seq " + std::to_string(fault.seq) + ": " +
                                                     std::string(store::to_string(fault.kind)) + ": " + fault.detail);
    }
    const store::EntryView view = store::parse_entry(raw.bytes).value();
    out.push_back(LogEntryView{view.seq, view.epoch, view.time_ms, std::string(view.id), std::string(view.type),
                               std::string(view.payload), store::to_hex(view.hash), store::to_hex(prev)});
    prev = view.hash;
  }
  return out;
}

Status validate_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return make_error(ErrorCode::kInvalidArgument, "actor key must be 1.." + std::to_string(kMaxKeyBytes) + " bytes");
  }
  return store::validate_actor_key(key);
}

}  // namespace

struct LocalNode::Metrics {
  Histogram<13> batch_commands{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}};
  Histogram<12> commit_seconds{{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1}};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_errors{0};
  std::array<std::atomic<uint64_t>, kResultCount> commands{};
  std::atomic<uint64_t> deliveries{0};
  std::atomic<uint64_t> stream_events{0};
  std::atomic<uint64_t> stream_dropped{0};
};

// ---------------------------------------------------------------------------
// The live stream: subscribers and the thread that calls them.

namespace {

struct Subscriber {
  std::string prefix;
  size_t bound = 0;
  std::function<void(const StreamEvent&)> on_event;
  std::atomic<size_t> queued{0};
  std::atomic<uint64_t> dropped{0};
  std::mutex call_mutex;
  bool closed = false;  // under call_mutex
};

}  // namespace

struct LocalNode::Stream {
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::thread thread;
  std::thread::id thread_id;
  std::mutex mutex;
  std::vector<std::shared_ptr<Subscriber>> subscribers;  // under mutex
  bool open = true;                                      // under mutex
  std::atomic<bool> wanted{false};                       // any subscriber: actors emit events

  void remove(const std::shared_ptr<Subscriber>& subscriber) {
    {
      std::lock_guard lock(mutex);
      std::erase(subscribers, subscriber);
      wanted.store(!subscribers.empty(), std::memory_order_relaxed);
    }
    if (std::this_thread::get_id() == thread_id) {
      subscriber->closed = true;  // inside its own callback: the call mutex is held by us
      return;
    }
    std::lock_guard call(subscriber->call_mutex);
    subscriber->closed = true;
  }

  void publish(std::vector<StreamEvent>& events, Metrics& metrics) {
    std::vector<std::shared_ptr<Subscriber>> targets;
    {
      std::lock_guard lock(mutex);
      if (!open || subscribers.empty()) {
        return;
      }
      targets = subscribers;
    }
    for (StreamEvent& event : events) {
      auto shared = std::make_shared<const StreamEvent>(std::move(event));
      metrics.stream_events.fetch_add(1, std::memory_order_relaxed);
      for (const std::shared_ptr<Subscriber>& subscriber : targets) {
        if (!shared->key.starts_with(subscriber->prefix)) {
          continue;
        }
        if (subscriber->queued.fetch_add(1, std::memory_order_relaxed) >= subscriber->bound) {
          subscriber->queued.fetch_sub(1, std::memory_order_relaxed);
          subscriber->dropped.fetch_add(1, std::memory_order_relaxed);
          metrics.stream_dropped.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        std::lock_guard lock(mutex);
        if (!open) {
          return;
        }
        boost::asio::post(io, [subscriber, shared] {
          {
            std::lock_guard call(subscriber->call_mutex);
            if (!subscriber->closed) {
              subscriber->on_event(*shared);
            }
          }
          subscriber->queued.fetch_sub(1, std::memory_order_relaxed);
        });
      }
    }
  }
};

namespace {

class StreamSubscription final : public Subscription {
 public:
  StreamSubscription(std::shared_ptr<LocalNode::Stream> stream, std::shared_ptr<Subscriber> subscriber)
      : stream_(std::move(stream)), subscriber_(std::move(subscriber)) {}
  ~StreamSubscription() override {
    if (stream_ != nullptr) {
      stream_->remove(subscriber_);
    }
  }
  uint64_t dropped() const override { return subscriber_->dropped.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<LocalNode::Stream> stream_;
  std::shared_ptr<Subscriber> subscriber_;
};

}  // namespace

// ---------------------------------------------------------------------------
// A shard: one thread, one io_context, one registry.

struct LocalNode::Shard {
  struct DeliveryWait {
    size_t source_shard = 0;
    std::string source;
    uint64_t source_seq = 0;
    uint32_t index = 0;
  };

  LocalNode* node = nullptr;
  size_t index = 0;
  boost::asio::io_context io{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  boost::asio::steady_timer timer{io};
  std::thread thread;
  std::mutex post_mutex;
  bool open = true;  // under post_mutex

  // Shard thread only.
  std::unique_ptr<Registry> registry;
  std::unordered_map<ReplyToken, Callback<CommandReceipt>> callbacks;
  std::unordered_map<ReplyToken, DeliveryWait> deliveries;
  // settle_key() calls waiting for their key to have nothing in flight.
  std::vector<std::pair<std::string, Callback<KeyPoint>>> settling;
  ReplyToken next_token = 1;
  bool flush_scheduled = false;
  bool closing = false;
  bool idle_timer = false;  // the timer is armed for the idle period (no actors)

  // Replicated nodes only (node->options_.replication set), shard thread.
  // Requests for a key whose writer is recovering here wait in `parked`
  // (bounded: max_parked, writer_wait_ms); `proposed` holds the last seq of
  // each actor's write in flight, answered when the key's commit reaches it.
  struct Parked {
    std::function<void()> run;
    std::function<void(Error)> fail;
    int64_t deadline_ms = 0;
  };
  std::unique_ptr<replication::StoreLog> log;
  std::unique_ptr<replication::ReplicationNode> repl;
  replication::WriteApplier* applier = nullptr;  // owned by applier_storage
  std::unique_ptr<replication::WriteApplier> applier_storage;
  bool has_topology = false;
  std::unordered_map<std::string, std::vector<Parked>> parked;
  size_t parked_count = 0;
  std::unordered_map<std::string, uint64_t> proposed;
  // The walk over stored keys after a topology change: starts the replicas
  // of the keys this node writes now (generation: a newer change restarts it).
  uint64_t walk_generation = 0;
  std::atomic<uint64_t> replicas_running{0};
  std::atomic<uint64_t> keys_writing{0};
  std::atomic<uint64_t> keys_under_replicated{0};
  int64_t under_replicated_at_ms = 0;
  std::vector<UnderReplicatedKey> under_replicated;  // under errors_mutex

  // Runs `run` now if this node's replica of `key` serves as its writer (or
  // the node is unreplicated); parks it until the writer recovers here;
  // fails it if another node writes the key.
  void when_serving(const std::string& key, std::function<void()> run, std::function<void(Error)> fail);
  // Applies what the replicas asked for: messages out, commits answered,
  // writers started and stopped.
  void handle(replication::NodeOutput& out);
  // Any thread: queues a replication message for this shard. Messages that
  // arrive together are handled by one task (receive_queued), so a round's
  // four AppendReplies per key cost one post, one send and one
  // after_input, not one each. Bounded: past kMaxInbox a message is dropped
  // (counted), as the network could, and the protocol resends it.
  void enqueue_replication(replication::Envelope message);
  void receive_queued();
  static constexpr size_t kMaxInbox = 65536;
  std::mutex inbox_mutex;
  std::vector<replication::Envelope> inbox;  // under inbox_mutex
  std::atomic<uint64_t> inbox_dropped{0};
  void set_topology(uint64_t epoch, bool joint, replication::ConfigOf config_of);
  void walk(uint64_t generation, std::string after, const replication::ConfigOf& config_of);
  void flush_replicated();
  void expire_parked(int64_t now_ms);
  // Submits to the registry once the key's writer serves here.
  void submit_local(Command command, ReplyToken token);

  // Read from any thread.
  std::atomic<uint64_t> actors_active{0};
  std::atomic<uint64_t> actors_failed{0};
  std::atomic<uint64_t> undelivered{0};  // side effects not yet confirmed
  std::atomic<uint64_t> waiting{0};  // commands waiting for an answer here
  mutable std::mutex errors_mutex;
  std::map<std::string, uint64_t> handler_errors;  // under errors_mutex
  RegistryCounters counters;                       // under errors_mutex

  // Posts `fn` unless the shard is closed. Any thread.
  template <class F>
  bool post(F&& fn) {
    std::lock_guard lock(post_mutex);
    if (!open) {
      return false;
    }
    boost::asio::post(io, std::forward<F>(fn));
    return true;
  }

  void answer(ReplyToken token, Result<CommandReceipt> result);
  // Any thread: tells the source shard how a delivery ended.
  void settle(DeliveryWait wait, const Result<CommandReceipt>& result);
  void after_input();
  void schedule_flush();
  void flush();
  void commit_group(store::WriteBatch& batch, std::vector<Actor*>& group);
  void route(Delivery delivery);
  // Sends a delivery through the router (its key lives on another node).
  void route_remote(DeliveryWait wait, Command command);
  // Answers the settle_key() calls whose key has nothing in flight now.
  void check_settling();
  void on_tick();
  void arm_timer();
  void update_gauges(bool full);
  void submit(Command command, Callback<CommandReceipt> done);
  void finish();
};

void LocalNode::Shard::settle(DeliveryWait wait, const Result<CommandReceipt>& result) {
  // A final answer (durable, duplicate, or a refusal that will not change)
  // confirms the delivery; a transient one retries it.
  const bool retry = !result.ok() && (result.error().code == ErrorCode::kUnavailable ||
                                      result.error().code == ErrorCode::kResourceExhausted);
  Shard& source = *node->shards_[wait.source_shard];
  // Dropped when the source is closing: the outbox keeps it for the next start.
  source.post([&source, wait = std::move(wait), retry] {
    if (retry) {
      source.registry->delivery_failed(wait.source, wait.source_seq, wait.index);
    } else {
      source.registry->delivery_confirmed(wait.source, wait.source_seq, wait.index);
    }
    source.after_input();
  });
}

void LocalNode::Shard::answer(ReplyToken token, Result<CommandReceipt> result) {
  if (auto found = deliveries.find(token); found != deliveries.end()) {
    DeliveryWait wait = std::move(found->second);
    deliveries.erase(found);
    settle(std::move(wait), result);
    return;
  }
  auto found = callbacks.find(token);
  QUORUM_ASSERT(found != callbacks.end());
  Callback<CommandReceipt> done = std::move(found->second);
  callbacks.erase(found);
  waiting.fetch_sub(1, std::memory_order_relaxed);
  node->metrics_->commands[classify(result)].fetch_add(1, std::memory_order_relaxed);
  node->in_flight_.fetch_sub(1, std::memory_order_relaxed);
  done(std::move(result));
}

void LocalNode::Shard::route_remote(DeliveryWait wait, Command command) {
  node->options_.remote->submit_remote(std::move(command),
                                       [this, wait = std::move(wait)](Result<CommandReceipt> result) mutable {
                                         settle(std::move(wait), result);
                                       });
}

void LocalNode::Shard::route(Delivery delivery) {
  node->metrics_->deliveries.fetch_add(1, std::memory_order_relaxed);
  RemoteDelivery* remote = node->options_.remote;
  DeliveryWait wait{index, std::move(delivery.source), delivery.source_seq, delivery.index};
  if (remote != nullptr && !remote->is_local(delivery.command.key)) {
    route_remote(std::move(wait), std::move(delivery.command));
    return;
  }
  const size_t target_index = node->shard_of(delivery.command.key);
  Shard& target = *node->shards_[target_index];
  auto deliver = [&target, remote, wait = std::move(wait), command = std::move(delivery.command)]() mutable {
    // Asked again on the target's thread: the key may have moved (or be
    // moving) since the source routed it; a hand-off settles the key on this
    // thread, so a delivery that passes here is ordered before it.
    if (remote != nullptr && !remote->is_local(command.key)) {
      target.route_remote(std::move(wait), std::move(command));
      return;
    }
    if (Status valid = validate_key(command.key); !valid.ok()) {
      // No actor can ever take it: a final answer, so the outbox record goes.
      Shard& source = *target.node->shards_[wait.source_shard];
      source.post([&source, wait] {
        source.registry->delivery_confirmed(wait.source, wait.source_seq, wait.index);
        source.after_input();
      });
      return;
    }
    const ReplyToken token = target.next_token++;
    target.deliveries.emplace(token, std::move(wait));
    target.submit_local(std::move(command), token);
  };
  // Dropped when the target is closing: the outbox keeps it for the next start.
  target.post(std::move(deliver));
}

void LocalNode::Shard::after_input() {
  ActorOutputs outputs;
  registry->take_outputs(outputs);
  for (Delivery& delivery : outputs.deliveries) {
    route(std::move(delivery));
  }
  if (!outputs.events.empty()) {
    node->stream_->publish(outputs.events, *node->metrics_);
  }
  for (Reply& reply : outputs.replies) {
    answer(reply.token, std::move(reply.result));
  }
  schedule_flush();
  if (!settling.empty()) {
    check_settling();
  }
  update_gauges(false);
  if (idle_timer && !closing && registry->active() > 0) {
    arm_timer();  // an actor started: tick at the normal rate again
  }
}

void LocalNode::Shard::check_settling() {
  std::vector<std::pair<std::string, Callback<KeyPoint>>> calls = std::move(settling);
  settling.clear();
  for (auto& [key, done] : calls) {
    Actor* running = registry->find(key);
    if (running == nullptr) {
      // Not running: nothing of it is in flight, and a node asked about a
      // key it never served starts no actor for it.
      Result<std::optional<store::ReplicaMeta>> meta = node->store_->read_meta(key);
      if (!meta.ok()) {
        done(make_error(ErrorCode::kUnavailable, "actor '" + key + "': " + meta.error().message));
      } else {
        done(meta->has_value() ? KeyPoint{(*meta)->last_seq, (*meta)->head} : KeyPoint{});
      }
      continue;
    }
    Actor& actor = *running;
    if (actor.state() != Actor::State::kServing) {
      done(actor.failure());
    } else if (actor.has_admitted() || actor.queue_depth() > 0 || actor.write_in_flight()) {
      settling.emplace_back(std::move(key), std::move(done));
    } else {
      done(KeyPoint{actor.durable_seq(), actor.durable_head()});
    }
  }
}

void LocalNode::Shard::schedule_flush() {
  if (flush_scheduled) {
    return;
  }
  if (!registry->has_writers() && (repl == nullptr || !repl->has_writes())) {
    return;
  }
  flush_scheduled = true;
  // Runs after every task queued now: all of them join this commit.
  boost::asio::post(io, [this] { flush(); });
}

void LocalNode::Shard::commit_group(store::WriteBatch& batch, std::vector<Actor*>& group) {
  size_t commands = 0;
  for (Actor* actor : group) {
    commands += actor->in_flight_entries();
  }
  const auto start = std::chrono::steady_clock::now();
  Status status = node->store_->commit(batch);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Metrics& metrics = *node->metrics_;
  if (status.ok()) {
    metrics.commits.fetch_add(1, std::memory_order_relaxed);
    metrics.commit_seconds.observe(seconds);
    metrics.batch_commands.observe(static_cast<double>(commands));
  } else {
    metrics.commit_errors.fetch_add(1, std::memory_order_relaxed);
  }
  for (Actor* actor : group) {
    registry->write_done(*actor, status);
  }
  batch.clear();
  group.clear();
}

void LocalNode::Shard::flush() {
  flush_scheduled = false;
  if (repl != nullptr) {
    flush_replicated();
    return;
  }
  std::vector<Actor*> writers = registry->writers();
  store::WriteBatch batch;
  std::vector<Actor*> group;
  for (Actor* actor : writers) {
    const size_t ops = actor->write_ops_estimate();
    const size_t bytes = actor->write_bytes_estimate();
    if (!batch.empty() &&
        (batch.size() + ops > store::kMaxBatchOps || batch.byte_size() + bytes > store::kMaxBatchBytes)) {
      commit_group(batch, group);
    }
    actor->take_write(batch);
    group.push_back(actor);
  }
  if (!group.empty()) {
    commit_group(batch, group);
  }
  after_input();
}

void LocalNode::Shard::update_gauges(bool full) {
  actors_active.store(registry->active(), std::memory_order_relaxed);
  if (full) {
    actors_failed.store(registry->failed(), std::memory_order_relaxed);
    undelivered.store(registry->outstanding_deliveries(), std::memory_order_relaxed);
    std::lock_guard lock(errors_mutex);
    handler_errors = registry->handler_errors();
    counters = registry->counters();
  }
}

void LocalNode::Shard::on_tick() {
  if (closing) {
    return;
  }
  if (repl != nullptr && has_topology) {
    const int64_t now = node->clock_->now_ms();
    replication::NodeOutput out;
    repl->tick(static_cast<uint64_t>(now), out);
    handle(out);
    expire_parked(now);
    replicas_running.store(repl->replicas(), std::memory_order_relaxed);
    keys_writing.store(repl->writing(), std::memory_order_relaxed);
    if (now >= under_replicated_at_ms + 1000) {  // a walk over the written keys: once a second
      under_replicated_at_ms = now;
      std::vector<replication::ReplicationNode::UnderReplicated> found =
          repl->under_replicated(std::numeric_limits<size_t>::max());
      keys_under_replicated.store(found.size(), std::memory_order_relaxed);
      std::vector<UnderReplicatedKey> listed;
      for (size_t i = 0; i < found.size() && i < kMaxUnderReplicatedListed; ++i) {
        listed.push_back(UnderReplicatedKey{std::move(found[i].key), found[i].copies, found[i].replicas});
      }
      std::lock_guard lock(errors_mutex);
      under_replicated = std::move(listed);
    }
  }
  registry->tick(node->clock_->now_ms());
  after_input();
  update_gauges(true);
  arm_timer();
}

void LocalNode::Shard::arm_timer() {
  // A shard without actors has nothing to tick: it checks again after
  // kIdleTicks ticks, or at once when an input starts an actor (after_input).
  constexpr int64_t kIdleTicks = 10;
  idle_timer = registry->active() == 0;
  const int64_t tick_ms = std::max<int64_t>(node->options_.tick_ms, 1);
  timer.expires_after(std::chrono::milliseconds(idle_timer ? tick_ms * kIdleTicks : tick_ms));
  timer.async_wait([this](const boost::system::error_code& error) {
    if (!error) {
      on_tick();
    }
  });
}

void LocalNode::Shard::submit(Command command, Callback<CommandReceipt> done) {
  const ReplyToken token = next_token++;
  callbacks.emplace(token, std::move(done));
  waiting.fetch_add(1, std::memory_order_relaxed);
  Status valid = validate_key(command.key);
  if (valid.ok() && command.id.size() > kMaxCommandIdBytes) {
    valid = make_error(ErrorCode::kInvalidArgument, "command id is longer than " +
                                                        std::to_string(kMaxCommandIdBytes) + " bytes");
  }
  if (valid.ok() && (command.type.empty() || command.type.size() > kMaxCommandTypeBytes)) {
    valid = make_error(ErrorCode::kInvalidArgument, "command type must be 1.." +
                                                        std::to_string(kMaxCommandTypeBytes) + " bytes");
  }
  if (valid.ok() && command.data.size() > kMaxCommandDataBytes) {
    valid = make_error(ErrorCode::kInvalidArgument, "command data is larger than " +
                                                        std::to_string(kMaxCommandDataBytes) + " bytes");
  }
  if (!valid.ok()) {
    answer(token, valid.error());
    return;
  }
  submit_local(std::move(command), token);
}

void LocalNode::Shard::submit_local(Command command, ReplyToken token) {
  if (repl == nullptr) {
    registry->submit(std::move(command), token);
    after_input();
    return;
  }
  const std::string key = command.key;
  auto shared = std::make_shared<Command>(std::move(command));
  when_serving(
      key,
      [this, shared, token] {
        registry->submit(std::move(*shared), token);
        after_input();
      },
      [this, token](Error error) { answer(token, std::move(error)); });
}

// ---------------------------------------------------------------------------
// Replication glue (replicated nodes only): the shard drives its
// ReplicationNode with the messages that arrive, its timer and the group
// commit, and couples it to the actors: an actor's new entries are proposed
// to the key's replica, and its write completes when they are committed.

void LocalNode::Shard::when_serving(const std::string& key, std::function<void()> run,
                                    std::function<void(Error)> fail) {
  if (repl == nullptr || registry->find(key) != nullptr) {
    run();  // actors of a replicated node run only while their key's writer serves here
    return;
  }
  if (!has_topology) {
    fail(make_error(ErrorCode::kUnavailable, "node '" + node->options_.node_name + "' is starting; retry"));
    return;
  }
  const int64_t now = node->clock_->now_ms();
  replication::NodeOutput out;
  Status started = repl->activate({key}, false, static_cast<uint64_t>(now), out);
  const replication::KeyReplica* replica = repl->replica(key);
  const bool serving = replica != nullptr && replica->serving();
  const bool writer_here = replica != nullptr && replica->config().writer == repl->self();
  const uint64_t topology = replica != nullptr ? replica->config().topology : 0;
  handle(out);
  if (!started.ok()) {
    fail(make_error(ErrorCode::kResourceExhausted,
                    "node '" + node->options_.node_name + "': " + started.error().message));
  } else if (replica == nullptr) {
    fail(make_error(ErrorCode::kUnavailable, "key '" + key + "' is refused on node '" + node->options_.node_name +
                                                 "' (its stored log failed verification)"));
  } else if (serving) {
    run();
  } else if (!writer_here) {
    fail(make_error(ErrorCode::kUnavailable, "node '" + node->options_.node_name + "' does not write key '" + key +
                                                 "' under topology " + std::to_string(topology) + "; retry"));
  } else if (parked_count >= node->options_.max_parked) {
    fail(make_error(ErrorCode::kResourceExhausted, "too many requests wait for writers to recover on node '" +
                                                       node->options_.node_name + "'; retry later"));
  } else {
    parked[key].push_back(Parked{std::move(run), std::move(fail), now + node->options_.writer_wait_ms});
    ++parked_count;
  }
  schedule_flush();
}

void LocalNode::Shard::expire_parked(int64_t now_ms) {
  for (auto it = parked.begin(); it != parked.end();) {
    std::vector<Parked>& list = it->second;
    std::vector<Parked> expired;
    for (auto p = list.begin(); p != list.end();) {
      if (p->deadline_ms <= now_ms) {
        expired.push_back(std::move(*p));
        p = list.erase(p);
      } else {
        ++p;
      }
    }
    parked_count -= expired.size();
    const std::string key = it->first;
    it = list.empty() ? parked.erase(it) : std::next(it);
    for (Parked& p : expired) {
      p.fail(make_error(ErrorCode::kUnavailable, "key '" + key + "': its writer is still recovering on node '" +
                                                     node->options_.node_name + "'; retry"));
    }
  }
}

void LocalNode::Shard::handle(replication::NodeOutput& out) {
  if (!out.messages.empty()) {
    node->options_.replication->send_replication(std::move(out.messages));
  }
  for (replication::KeyEvent& event : out.events) {
    switch (event.kind) {
      case replication::KeyEvent::Kind::kCommitted: {
        auto it = proposed.find(event.key);
        if (it != proposed.end() && it->second <= event.seq) {
          proposed.erase(it);
          if (Actor* actor = registry->find(event.key); actor != nullptr && actor->write_in_flight()) {
            registry->write_done(*actor, Status{});
          }
        }
        break;
      }
      case replication::KeyEvent::Kind::kTruncated:
      case replication::KeyEvent::Kind::kServingStopped:
        proposed.erase(event.key);
        registry->discard(event.key, "key '" + event.key + "': its writer on node '" + node->options_.node_name +
                                         "' stopped (a newer writer or topology); the command may or may not "
                                         "have been applied: retry with the same id");
        break;
      case replication::KeyEvent::Kind::kServingStarted: {
        auto it = parked.find(event.key);
        if (it != parked.end()) {
          std::vector<Parked> list = std::move(it->second);
          parked.erase(it);
          parked_count -= list.size();
          for (Parked& p : list) {
            p.run();
          }
        }
        break;
      }
    }
  }
  if (out.caught_up) {
    node->options_.replication->caught_up(index, *out.caught_up);
  }
  out.clear();
}

void LocalNode::Shard::enqueue_replication(replication::Envelope message) {
  bool first = false;
  {
    std::lock_guard lock(inbox_mutex);
    if (inbox.size() >= kMaxInbox) {
      inbox_dropped.fetch_add(1, std::memory_order_relaxed);
      return;  // the sender resends
    }
    first = inbox.empty();
    inbox.push_back(std::move(message));
  }
  if (first) {
    post([this] { receive_queued(); });  // closed: nothing runs any more anyway
  }
}

void LocalNode::Shard::receive_queued() {
  std::vector<replication::Envelope> batch;
  {
    std::lock_guard lock(inbox_mutex);
    batch.swap(inbox);
  }
  if (!has_topology || closing) {
    return;  // the senders resend
  }
  replication::NodeOutput out;
  const auto now = static_cast<uint64_t>(node->clock_->now_ms());
  for (const replication::Envelope& message : batch) {
    repl->receive(message, now, out);
  }
  handle(out);
  after_input();
}

void LocalNode::Shard::set_topology(uint64_t epoch, bool joint, replication::ConfigOf config_of) {
  replication::NodeOutput out;
  repl->set_topology(epoch, joint, config_of, static_cast<uint64_t>(node->clock_->now_ms()), out);
  has_topology = true;
  handle(out);
  const uint64_t generation = ++walk_generation;
  walk(generation, std::string(), config_of);
  after_input();
}

void LocalNode::Shard::walk(uint64_t generation, std::string after, const replication::ConfigOf& config_of) {
  if (generation != walk_generation || closing) {
    return;  // a newer topology restarted the walk
  }
  // One page per task, so commands keep flowing between pages.
  constexpr size_t kPage = 1000;
  Result<std::vector<std::string>> page = node->store_->list_actors(after, kPage);
  if (!page.ok()) {
    spdlog::error("{}: listing stored keys to start their writers: {}", node->options_.node_name, page.error().message);
    return;
  }
  std::vector<std::string> mine;
  for (const std::string& key : *page) {
    if (node->shard_of(key) == index && config_of(key).writer == repl->self()) {
      mine.push_back(key);
    }
  }
  const bool complete = page->size() < kPage;
  replication::NodeOutput out;
  if (Status started = repl->activate(mine, complete, static_cast<uint64_t>(node->clock_->now_ms()), out);
      !started.ok()) {
    spdlog::error("{}: starting writers: {}", node->options_.node_name, started.error().message);
  }
  handle(out);
  if (!complete) {
    post([this, generation, next = page->back(), config_of] { walk(generation, next, config_of); });
  }
  schedule_flush();
}

void LocalNode::Shard::flush_replicated() {
  const uint64_t now = static_cast<uint64_t>(node->clock_->now_ms());
  replication::NodeOutput out;
  size_t commands = 0;
  for (Actor* actor : registry->writers()) {
    const replication::KeyReplica* replica = repl->replica(actor->key());
    if (replica == nullptr || !replica->serving() || replica->last_seq() != actor->durable_seq()) {
      // Its writer stopped between the round's inputs and now (the event
      // discards it too), or the log moved under it: start again from the log.
      proposed.erase(actor->key());
      registry->discard(actor->key(), "key '" + actor->key() + "': its writer on node '" + node->options_.node_name +
                                          "' changed; retry with the same id");
      continue;
    }
    std::vector<store::EncodedEntry> proposal;
    actor->take_proposal(proposal);
    commands += proposal.size();
    Result<uint64_t> last = repl->propose(actor->key(), std::move(proposal), now, out);
    if (!last.ok()) {
      registry->write_done(*actor, last.error());
      continue;
    }
    proposed[actor->key()] = *last;
  }
  std::vector<replication::KeyWrite> writes = repl->take_writes();
  if (!writes.empty()) {
    // One batch, one fsync for every replica write of the round (split only
    // past the store's batch bounds; durable() once all parts are).
    store::WriteBatch batch;
    applier->clear();
    const auto start = std::chrono::steady_clock::now();
    auto commit = [&] {
      Status status = node->store_->commit(batch);
      if (!status.ok()) {
        // The replicas were told nothing of this write failed; going on
        // could acknowledge what is not stored. Stop the process: its
        // peers carry on and it recovers from what is durable.
        spdlog::critical("{}: a replicated write failed, stopping: {}", node->options_.node_name,
                         status.error().message);
        std::abort();
      }
      batch.clear();
      applier->clear();
    };
    for (const replication::KeyWrite& w : writes) {
      if (batch.size() + 2 * w.write.entries.size() + 16 > store::kMaxBatchOps / 2 ||
          batch.byte_size() > store::kMaxBatchBytes / 2) {
        commit();
      }
      if (Status added = applier->add(w.key, w.write, batch); !added.ok()) {
        spdlog::critical("{}: preparing a replicated write of key '{}' failed, stopping: {}", node->options_.node_name,
                         w.key, added.error().message);
        std::abort();
      }
    }
    commit();
    Metrics& metrics = *node->metrics_;
    metrics.commits.fetch_add(1, std::memory_order_relaxed);
    metrics.commit_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    metrics.batch_commands.observe(static_cast<double>(commands));
    repl->durable(now, out);
  }
  handle(out);
  after_input();
}

void LocalNode::Shard::finish() {
  // Everything queued before this ran; commit what is pending, then answer
  // the rest.
  closing = true;
  timer.cancel();
  if (repl == nullptr && registry->has_writers()) {
    flush();  // replicated writes need peers: what is not committed now is answered kUnavailable below
  }
  for (auto& [key, list] : parked) {
    for (Parked& p : list) {
      p.fail(make_error(ErrorCode::kUnavailable, "node is shutting down"));
    }
  }
  parked.clear();
  parked_count = 0;
  registry->abandon_all("node '" + node->options_.node_name + "' is shutting down");
  ActorOutputs outputs;
  registry->take_outputs(outputs);
  for (Reply& reply : outputs.replies) {
    answer(reply.token, std::move(reply.result));
  }
  std::vector<ReplyToken> left;
  for (const auto& [token, callback] : callbacks) {
    left.push_back(token);
  }
  for (ReplyToken token : left) {
    answer(token, make_error(ErrorCode::kUnavailable, "node is shutting down"));
  }
  deliveries.clear();
  for (auto& [key, done] : settling) {
    done(make_error(ErrorCode::kUnavailable, "node is shutting down"));
  }
  settling.clear();
  update_gauges(true);
  work.reset();
}

// ---------------------------------------------------------------------------
// LocalNode.

LocalNode::LocalNode(LocalNodeOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<LocalNode>> LocalNode::open(LocalNodeOptions options) {
  if (options.data_dir.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "data_dir is required");
  }
  if (options.shards == 0 || options.shards > 256 || options.max_actors == 0 || options.actor_queue_bound == 0 ||
      options.max_in_flight == 0 || options.max_read_log_entries == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "shards must be 1..256 and max_actors, actor_queue_bound, max_in_flight and "
                      "max_read_log_entries positive");
  }
  std::error_code error;
  std::filesystem::create_directories(options.data_dir / "store", error);
  if (error) {
    return make_error(ErrorCode::kIo, "cannot create '" + (options.data_dir / "store").string() + "': " +
                                          error.message());
  }
  std::unique_ptr<LocalNode> node(new LocalNode(std::move(options)));
  if (Status started = node->start(); !started.ok()) {
    node->shutdown();
    return started.error();
  }
  return node;
}

Status LocalNode::start() {
  started_at_ = std::chrono::steady_clock::now();
  clock_ = options_.clock != nullptr ? options_.clock : &system_clock_;
  metrics_ = std::make_unique<Metrics>();
  stream_ = std::make_shared<Stream>();

  store::LevelDbOptions store_options;
  store_options.sync = options_.sync;
  Result<std::unique_ptr<store::LevelDbStore>> opened =
      store::LevelDbStore::open((options_.data_dir / "store").string(), store_options);
  if (!opened.ok()) {
    stopped_ = true;
    return opened.error();
  }
  store_ = std::move(opened).value();

  host::PluginHost::Options host_options;
  host_options.cache_dir = options_.data_dir / "plugin-cache";
  plugins_ = std::make_unique<host::PluginHost>(host_options);
  runner_ = std::make_unique<host::ProjectionRunner>(*plugins_);
  for (const PluginActivation& activation : options_.activations) {
    const std::filesystem::path path = options_.plugin_dir / (activation.name + "-" + activation.semver + ".so");
    Result<host::VersionId> loaded = plugins_->load(activation.name, path);
    if (!loaded.ok()) {
      stopped_ = true;
      return make_error(loaded.error().code, "loading '" + path.string() + "': " + loaded.error().message);
    }
    if (Status active = plugins_->activate(activation.name, *loaded); !active.ok()) {
      stopped_ = true;
      return make_error(active.error().code, "activating '" + path.string() + "': " + active.error().message);
    }
  }

  stream_->work.emplace(stream_->io.get_executor());
  stream_->thread = std::thread([stream = stream_.get()] { stream->io.run(); });
  stream_->thread_id = stream_->thread.get_id();

  ActorEnv env;
  env.store = store_.get();
  env.plugins = plugins_.get();
  env.runner = runner_.get();
  env.clock = clock_;
  env.emit_events = &stream_->wanted;
  env.options.snapshot_interval = options_.snapshot_interval;
  env.options.queue_bound = options_.actor_queue_bound;
  env.options.replicated = options_.replication != nullptr;
  if (env.options.replicated && options_.replica_id == 0) {
    stopped_ = true;
    return make_error(ErrorCode::kInvalidArgument, "a replicated node needs a non-zero replica id");
  }
  RegistryOptions registry_options;
  registry_options.max_active = std::max<size_t>(1, options_.max_actors / options_.shards);
  registry_options.idle_passivation_ms = options_.idle_passivation_ms;
  for (size_t i = 0; i < options_.shards; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->node = this;
    shard->index = i;
    shard->registry = std::make_unique<Registry>(env, registry_options);
    if (env.options.replicated) {
      store::EventStore* store = store_.get();
      shard->log = std::make_unique<replication::StoreLog>(*store);
      shard->repl = std::make_unique<replication::ReplicationNode>(
          options_.replica_id, *shard->log,
          [store](std::string_view key) { return replication::load_meta(*store, key); }, options_.replication_options);
      shard->applier_storage = std::make_unique<replication::WriteApplier>(*store);
      shard->applier = shard->applier_storage.get();
    }
    shard->work.emplace(shard->io.get_executor());
    shards_.push_back(std::move(shard));
  }
  for (auto& shard : shards_) {
    Shard* raw = shard.get();
    raw->post([raw] { raw->arm_timer(); });
    raw->thread = std::thread([raw] { raw->io.run(); });
  }

  // Undelivered side effects of the last run: start their source actors,
  // which re-send them (receivers drop duplicates). Replicated nodes keep
  // no outbox: a key's writer re-derives its effects when it recovers.
  std::string after;
  for (; options_.replication == nullptr;) {
    Result<std::vector<std::string>> page = store_->list_actors(after, store::kMaxListActors);
    if (!page.ok()) {
      return make_error(page.error().code, "listing actors for outbox recovery: " + page.error().message);
    }
    for (const std::string& actor : *page) {
      Result<std::vector<store::OutboxRecord>> outbox = store_->read_outbox(actor, 0, 0, 1);
      if (outbox.ok() && !outbox->empty()) {
        Shard& shard = *shards_[shard_of(actor)];
        shard.post([&shard, actor] {
          shard.registry->get(actor);
          shard.after_input();
        });
      }
    }
    if (page->size() < store::kMaxListActors) {
      break;
    }
    after = page->back();
  }
  serving_ = true;
  return {};
}

LocalNode::~LocalNode() { shutdown(); }

size_t LocalNode::shard_of(std::string_view key) const noexcept {
  return static_cast<size_t>(fnv1a(key) % shards_.size());
}

void LocalNode::submit(Command command, Callback<CommandReceipt> done) {
  QUORUM_ASSERT(done != nullptr);
  if (!serving_.load(std::memory_order_acquire) || shards_.empty()) {
    metrics_->commands[kResultUnavailable].fetch_add(1, std::memory_order_relaxed);
    done(make_error(ErrorCode::kUnavailable, "node is not serving"));
    return;
  }
  Shard& shard = *shards_[shard_of(command.key)];
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= options_.max_in_flight) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    metrics_->commands[kResultExhausted].fetch_add(1, std::memory_order_relaxed);
    auto refuse = [done] {
      done(make_error(ErrorCode::kResourceExhausted, "too many commands in flight: retry later"));
    };
    if (!shard.post(refuse)) {
      done(make_error(ErrorCode::kUnavailable, "node is shutting down"));
    }
    return;
  }
  auto shared_done = std::make_shared<Callback<CommandReceipt>>(std::move(done));
  const bool posted = shard.post([&shard, command = std::move(command), shared_done]() mutable {
    shard.submit(std::move(command), std::move(*shared_done));
  });
  if (!posted) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    (*shared_done)(make_error(ErrorCode::kUnavailable, "node is shutting down"));
  }
}

void LocalNode::read_actor(std::string key, Callback<ActorView> done) {
  QUORUM_ASSERT(done != nullptr);
  if (shards_.empty() || stopped_.load()) {
    done(make_error(ErrorCode::kUnavailable, "node is not serving"));
    return;
  }
  Shard& shard = *shards_[shard_of(key)];
  auto shared_done = std::make_shared<Callback<ActorView>>(std::move(done));
  const bool posted = shard.post([&shard, key = std::move(key), shared_done] {
    if (Status valid = validate_key(key); !valid.ok()) {
      (*shared_done)(valid.error());
      return;
    }
    shard.when_serving(
        key,
        [&shard, key, shared_done] {
          Actor& actor = shard.registry->get(key);
          Result<ActorView> view =
              actor.state() == Actor::State::kServing ? actor.view() : Result<ActorView>(actor.failure());
          if (view.ok() && view->seq == 0) {
            view = make_error(ErrorCode::kNotFound, "actor '" + key + "' has no entries");
          }
          shard.after_input();
          (*shared_done)(std::move(view));
        },
        [shared_done](Error error) { (*shared_done)(std::move(error)); });
  });
  if (!posted) {
    (*shared_done)(make_error(ErrorCode::kUnavailable, "node is shutting down"));
  }
}

void LocalNode::read_log(std::string key, uint64_t from, size_t limit, Callback<std::vector<LogEntryView>> done) {
  QUORUM_ASSERT(done != nullptr);
  if (shards_.empty() || stopped_.load()) {
    done(make_error(ErrorCode::kUnavailable, "node is not serving"));
    return;
  }
  Shard& shard = *shards_[shard_of(key)];
  auto shared_done = std::make_shared<Callback<std::vector<LogEntryView>>>(std::move(done));
  const size_t bound = std::min({limit, options_.max_read_log_entries, store::kMaxReadEntries});
  const bool posted = shard.post([this, &shard, key = std::move(key), from, bound, shared_done] {
    if (Status valid = validate_key(key); !valid.ok()) {
      return (*shared_done)(valid.error());
    }
    shard.when_serving(
        key, [this, &shard, key, from, bound, shared_done] { read_log_here(shard, key, from, bound, *shared_done); },
        [shared_done](Error error) { (*shared_done)(std::move(error)); });
  });
  if (!posted) {
    (*shared_done)(make_error(ErrorCode::kUnavailable, "node is shutting down"));
  }
}

void LocalNode::read_log_here(Shard& shard, const std::string& key, uint64_t from, size_t bound,
                              Callback<std::vector<LogEntryView>>& done) {
  Actor& actor = shard.registry->get(key);
  if (actor.state() != Actor::State::kServing) {
    return done(actor.failure());
  }
  const uint64_t last = actor.durable_seq();
  Result<std::vector<LogEntryView>> out = read_verified(*store_, key, std::max<uint64_t>(from, 1), last, bound);
  if (out.ok() && !out->empty() && out->back().seq == last &&
      out->back().hash_hex != store::to_hex(actor.durable_head())) {
    return done(make_error(ErrorCode::kUnavailable, "actor '" + key + "' seq " + std::to_string(last) +
                                                        ": the log's head differs from the actor's"));
  }
  done(std::move(out));
}

void LocalNode::read_replica_log(std::string key, uint64_t from, size_t limit, Callback<ReplicaLog> done) {
  if (options_.replication == nullptr) {
    return done(make_error(ErrorCode::kInvalidArgument,
                           "node '" + options_.node_name + "' does not replicate: no replica copy to read"));
  }
  const size_t bound = std::min({limit, options_.max_read_log_entries, store::kMaxReadEntries});
  on_key_shard(
      std::move(key), std::move(done), [this, from, bound](Shard&, const std::string& k, Callback<ReplicaLog>& answer) {
        // The durable Meta: what this replica holds and knows committed.
        Result<std::optional<replication::Meta>> meta = replication::load_meta(*store_, k);
        if (!meta.ok()) {
          return answer(make_error(ErrorCode::kUnavailable, "key '" + k + "': " + meta.error().message));
        }
        if (!meta->has_value()) {
          return answer(
              make_error(ErrorCode::kNotFound, "node '" + options_.node_name + "' holds no copy of key '" + k + "'"));
        }
        ReplicaLog out;
        out.commit = (*meta)->commit;
        out.last_seq = (*meta)->last_seq;
        Result<std::vector<LogEntryView>> entries =
            read_verified(*store_, k, std::max<uint64_t>(from, 1), out.commit, bound);
        if (!entries.ok()) {
          return answer(entries.error());
        }
        out.entries = std::move(entries).value();
        answer(std::move(out));
      });
}

void LocalNode::set_topology(uint64_t epoch, bool joint, replication::ConfigOf config_of) {
  QUORUM_ASSERT(options_.replication != nullptr);
  for (auto& shard : shards_) {
    Shard* raw = shard.get();
    raw->post([raw, epoch, joint, config_of] { raw->set_topology(epoch, joint, config_of); });
  }
}

void LocalNode::receive_replication(replication::Envelope message) {
  QUORUM_ASSERT(options_.replication != nullptr);
  if (shards_.empty() || stopped_.load()) {
    return;
  }
  shards_[shard_of(message.key)]->enqueue_replication(std::move(message));
}

template <class T, class Job>
void LocalNode::on_key_shard(std::string key, Callback<T> done, Job job) {
  QUORUM_ASSERT(done != nullptr);
  if (Status valid = validate_key(key); !valid.ok()) {
    return done(valid.error());
  }
  if (shards_.empty() || stopped_.load()) {
    return done(make_error(ErrorCode::kUnavailable, "node is not serving"));
  }
  Shard& shard = *shards_[shard_of(key)];
  auto shared_done = std::make_shared<Callback<T>>(std::move(done));
  const bool posted = shard.post([&shard, key = std::move(key), shared_done, job = std::move(job)]() mutable {
    job(shard, key, *shared_done);
  });
  if (!posted) {
    (*shared_done)(make_error(ErrorCode::kUnavailable, "node is shutting down"));
  }
}

void LocalNode::settle_key(std::string actor, Callback<KeyPoint> done) {
  on_key_shard(std::move(actor), std::move(done), [](Shard& shard, std::string& key, Callback<KeyPoint>& answer) {
    shard.settling.emplace_back(std::move(key), std::move(answer));
    shard.check_settling();
  });
}

void LocalNode::export_log(std::string actor, uint64_t from, size_t limit, size_t max_bytes,
                           Callback<std::vector<std::string>> done) {
  const size_t bound = std::clamp<size_t>(limit, 1, store::kMaxReadEntries);
  on_key_shard(std::move(actor), std::move(done), [this, from, bound, max_bytes](
                                                    Shard&, const std::string& key,
                                                    Callback<std::vector<std::string>>& answer) {
    auto fail = [&](std::string what) {
      answer(make_error(ErrorCode::kUnavailable, "actor '" + key + "': " + what));
    };
    const uint64_t first = std::max<uint64_t>(from, 1);
    Result<store::Hash> anchor = chain_anchor(*store_, key, first);
    if (!anchor.ok()) {
      return (void)answer(anchor.error());
    }
    Result<std::vector<store::RawEntry>> page = store_->read_log(key, first, bound);
    if (!page.ok()) {
      return fail("reading the log: " + page.error().message);
    }
    store::ChainVerifier verifier(first - 1, *anchor);
    std::vector<std::string> out;
    size_t bytes = 0;
    for (store::RawEntry& raw : *page) {
      if (!out.empty() && bytes + raw.bytes.size() > max_bytes) {
        break;
      }
      if (!verifier.next(raw.bytes, raw.seq)) {
        const store::ChainFault& fault = *verifier.fault();
        return fail("seq " + std::to_string(fault.seq) + ": " + std::string(store::to_string(fault.kind)) + ": " +
                    fault.detail);
      }
      bytes += raw.bytes.size();
      out.push_back(std::move(raw.bytes));
    }
    answer(std::move(out));
  });
}

void LocalNode::import_log(std::string actor, std::vector<std::string> entries, Callback<KeyPoint> done) {
  QUORUM_ASSERT(done != nullptr);
  if (entries.empty() || entries.size() > store::kMaxBatchOps / 3) {
    return done(make_error(ErrorCode::kInvalidArgument,
                           "an import carries 1.." + std::to_string(store::kMaxBatchOps / 3) + " entries"));
  }
  auto job = [this, entries = std::move(entries)](Shard& shard, const std::string& key,
                                                  Callback<KeyPoint>& answer) mutable {
    auto fail = [&](ErrorCode code, std::string what) {
      answer(make_error(code, "importing actor '" + key + "': " + what));
    };
    if (!shard.registry->unload(key)) {
      return fail(ErrorCode::kUnavailable, "the actor has commands in flight; retry");
    }
    Result<std::optional<store::ReplicaMeta>> meta = store_->read_meta(key);
    if (!meta.ok()) {
      return fail(ErrorCode::kIo, meta.error().message);
    }
    store::ReplicaMeta next = meta->value_or(store::ReplicaMeta{});
    const KeyPoint stored{next.last_seq, next.head};
    store::ChainVerifier verifier(stored.seq, stored.head);
    store::WriteBatch batch;
    for (size_t i = 0; i < entries.size(); ++i) {
      Result<store::EncodedEntry> entry = store::EncodedEntry::from_bytes(std::move(entries[i]));
      if (!entry.ok()) {
        return fail(ErrorCode::kInvalidArgument, "entry " + std::to_string(i) + ": " + entry.error().message);
      }
      if (!verifier.next(*entry)) {
        const store::ChainFault& fault = *verifier.fault();
        const std::string what = "seq " + std::to_string(fault.seq) + ": " +
                                 std::string(store::to_string(fault.kind)) + ": " + fault.detail;
        if (i == 0) {
          return fail(ErrorCode::kFailedPrecondition,
                      "does not extend the stored log (seq " + std::to_string(stored.seq) + ", head " +
                          store::to_hex(stored.head).substr(0, 16) + "): " + what);
        }
        return fail(ErrorCode::kInvalidArgument, what);
      }
      const store::EntryView view = entry->view();
      const uint64_t epoch = entry->epoch();
      if (!view.id.empty()) {
        Status added = batch.put_idempotency(key, view.id, store::IdempotencyRecord{view.seq, view.hash});
        if (!added.ok()) {
          return fail(ErrorCode::kInvalidArgument, added.error().message);
        }
      }
      if (Status appended = batch.append(key, std::move(entry).value()); !appended.ok()) {
        return fail(ErrorCode::kInvalidArgument, appended.error().message);
      }
      next.last_accepted_epoch = epoch;
      next.promised_epoch = std::max(next.promised_epoch, epoch);
    }
    next.last_seq = verifier.last_seq();
    next.commit_seq = next.last_seq;
    next.head = verifier.head();
    if (Status put = batch.put_meta(key, next); !put.ok()) {
      return fail(ErrorCode::kInvalidArgument, put.error().message);
    }
    if (Status committed = store_->commit(batch); !committed.ok()) {
      return fail(ErrorCode::kIo, committed.error().message);
    }
    answer(KeyPoint{next.last_seq, next.head});
  };
  on_key_shard(std::move(actor), std::move(done), std::move(job));
}

Result<std::vector<std::pair<std::string, KeyPoint>>> LocalNode::list_stored(std::string_view after,
                                                                             size_t limit) const {
  if (store_ == nullptr || stopped_.load()) {
    return make_error(ErrorCode::kUnavailable, "node is not serving");
  }
  Result<std::vector<std::string>> keys = store_->list_actors(after, std::min(limit, store::kMaxListActors));
  if (!keys.ok()) {
    return keys.error();
  }
  std::vector<std::pair<std::string, KeyPoint>> out;
  out.reserve(keys->size());
  for (std::string& key : *keys) {
    Result<std::optional<store::ReplicaMeta>> meta = store_->read_meta(key);
    if (!meta.ok()) {
      return meta.error();
    }
    KeyPoint point;
    if (meta->has_value()) {
      point = KeyPoint{(*meta)->last_seq, (*meta)->head};
    }
    out.emplace_back(std::move(key), point);
  }
  return out;
}

std::unique_ptr<Subscription> LocalNode::subscribe(std::string prefix, size_t queue_bound,
                                                   std::function<void(const StreamEvent&)> on_event) {
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->prefix = std::move(prefix);
  subscriber->bound = std::max<size_t>(queue_bound, 1);
  subscriber->on_event = std::move(on_event);
  {
    std::lock_guard lock(stream_->mutex);
    if (!stream_->open) {
      return std::make_unique<StreamSubscription>(nullptr, std::move(subscriber));
    }
    stream_->subscribers.push_back(subscriber);
    stream_->wanted.store(true, std::memory_order_relaxed);
  }
  return std::make_unique<StreamSubscription>(stream_, std::move(subscriber));
}

host::PluginHost& LocalNode::plugins() {
  QUORUM_ASSERT(plugins_ != nullptr);
  return *plugins_;
}

Health LocalNode::health() const {
  Health health;
  health.serving = serving_.load(std::memory_order_relaxed);
  health.node_name = options_.node_name;
  for (const auto& shard : shards_) {
    health.actors_active += shard->actors_active.load(std::memory_order_relaxed);
    health.actors_failed += shard->actors_failed.load(std::memory_order_relaxed);
  }
  health.uptime_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at_).count());
  health.replicated = options_.replication != nullptr;
  for (const auto& shard : shards_) {
    health.replicas += shard->replicas_running.load(std::memory_order_relaxed);
    health.keys_writing += shard->keys_writing.load(std::memory_order_relaxed);
    health.keys_under_replicated += shard->keys_under_replicated.load(std::memory_order_relaxed);
    std::lock_guard lock(shard->errors_mutex);
    for (const UnderReplicatedKey& k : shard->under_replicated) {
      if (health.under_replicated.size() < kMaxUnderReplicatedListed) {
        health.under_replicated.push_back(k);
      }
    }
  }
  return health;
}

uint64_t LocalNode::commands_committed() const noexcept {
  return metrics_ ? metrics_->commands[kResultOk].load(std::memory_order_relaxed) : 0;
}

void LocalNode::write_metrics(std::string& out) const {
  const Metrics& metrics = *metrics_;
  auto counter = [&](const std::string& name, const std::string& help, uint64_t value) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + std::to_string(value) + "\n";
  };
  auto gauge_header = [&](const std::string& name, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
  };
  counter("quorum_commits_total", "Store commits (one fsync each).", metrics.commits.load());
  counter("quorum_commit_errors_total", "Store commits that failed.", metrics.commit_errors.load());
  metrics.batch_commands.write(out, "quorum_commit_batch_commands", "Commands per store commit (group commit).");
  metrics.commit_seconds.write(out, "quorum_commit_latency_seconds", "Time of one store commit including fsync.");
  out += "# HELP quorum_commands_total Commands answered, by result.\n# TYPE quorum_commands_total counter\n";
  for (size_t i = 0; i < kResultCount; ++i) {
    out += std::string("quorum_commands_total{result=\"") + kResultNames[i] + "\"} " +
           std::to_string(metrics.commands[i].load()) + "\n";
  }
  counter("quorum_effect_deliveries_total", "Side effect deliveries sent (including re-sends).",
          metrics.deliveries.load());
  counter("quorum_stream_events_total", "Committed entries published to the live stream.",
          metrics.stream_events.load());
  counter("quorum_stream_dropped_total", "Stream events dropped because a subscriber's queue was full.",
          metrics.stream_dropped.load());
  gauge_header("quorum_in_flight_commands", "Commands submitted and not yet answered.");
  out += "quorum_in_flight_commands " + std::to_string(in_flight_.load()) + "\n";
  gauge_header("quorum_shard_queue_depth", "Commands waiting for an answer, by shard.");
  for (const auto& shard : shards_) {
    out += "quorum_shard_queue_depth{shard=\"" + std::to_string(shard->index) + "\"} " +
           std::to_string(shard->waiting.load()) + "\n";
  }
  uint64_t active = 0, failed = 0, undelivered = 0, inbox_dropped = 0;
  std::map<std::string, uint64_t> errors;
  RegistryCounters counters;
  for (const auto& shard : shards_) {
    active += shard->actors_active.load();
    failed += shard->actors_failed.load();
    undelivered += shard->undelivered.load();
    inbox_dropped += shard->inbox_dropped.load();
    std::lock_guard lock(shard->errors_mutex);
    for (const auto& [handler, count] : shard->handler_errors) {
      errors[handler] += count;
    }
    counters.started += shard->counters.started;
    counters.passivated += shard->counters.passivated;
    counters.restarted += shard->counters.restarted;
    counters.failed_total += shard->counters.failed_total;
  }
  gauge_header("quorum_actors_active", "Actors running (not passivated).");
  out += "quorum_actors_active " + std::to_string(active) + "\n";
  gauge_header("quorum_actors_failed", "Running actors refusing service (broken chain, unreadable entry, ...).");
  out += "quorum_actors_failed " + std::to_string(failed) + "\n";
  gauge_header("quorum_outbox_undelivered",
               "Side effects in the outbox not yet confirmed by their receivers (a node leaving the cluster "
               "waits for 0).");
  out += "quorum_outbox_undelivered " + std::to_string(undelivered) + "\n";
  counter("quorum_actors_started_total", "Actors started (recovered from the store).", counters.started);
  counter("quorum_actors_passivated_total", "Actors passivated (idle or LRU).", counters.passivated);
  counter("quorum_actors_restarted_total", "Crashed actors restarted from their log.", counters.restarted);
  counter("quorum_actors_failed_total", "Actors that came up refusing service.", counters.failed_total);
  counter("quorum_replication_inbox_dropped_total",
          "Replication messages dropped because a shard's inbox was full (the protocol resends them).", inbox_dropped);
  out += "# HELP quorum_handler_errors_total Handler calls that failed, by handler.\n"
         "# TYPE quorum_handler_errors_total counter\n";
  for (const auto& [handler, count] : errors) {
    out += "quorum_handler_errors_total{handler=\"" + handler + "\"} " + std::to_string(count) + "\n";
  }
}

void LocalNode::shutdown() {
  if (stopped_.exchange(true)) {
    return;
  }
  serving_ = false;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->post_mutex);
    Shard* raw = shard.get();
    boost::asio::post(raw->io, [raw] { raw->finish(); });
    raw->open = false;
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) {
      shard->thread.join();
    }
  }
  if (stream_ != nullptr) {
    {
      std::lock_guard lock(stream_->mutex);
      stream_->open = false;
      stream_->subscribers.clear();
      stream_->wanted = false;
    }
    stream_->work.reset();
    if (stream_->thread.joinable()) {
      stream_->thread.join();
    }
  }
  // No thread uses the store any more: release the database (its lock) so
  // the directory can be opened again, e.g. by a restarted node.
  for (auto& shard : shards_) {
    shard->registry.reset();
  }
  store_.reset();
}

}  // namespace quorum::node
