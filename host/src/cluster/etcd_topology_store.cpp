#include <quorum/cluster/etcd_topology_store.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace quorum::cluster {

namespace {

constexpr std::chrono::milliseconds kBackoffMin{100};
constexpr std::chrono::milliseconds kBackoffMax{2000};
// How long one EtcdWatch::next() waits. Only a bound: stop() and
// cancel_watch() wake a waiting next() at once (EtcdWatch::cancel), so an
// idle watch costs no wake-ups.
constexpr std::chrono::milliseconds kWatchPoll{30'000};

std::string document_key_of(std::string_view prefix) { return std::string(prefix) + "topology"; }

Error no_document(std::string_view prefix) {
  return make_error(ErrorCode::kNotFound, "etcd holds no topology at " + document_key_of(prefix) +
                                              "; seed it (quorumd --etcd URL --topology FILE)");
}

}  // namespace

// ---- Free functions ----

Result<EtcdTopologySnapshot> read_etcd_topology(EtcdGateway& gateway, std::string_view prefix) {
  Result<EtcdRange> range = gateway.get_prefix(prefix);
  if (!range) {
    return range.error();
  }
  const std::string document_key = document_key_of(prefix);
  const std::string alive_prefix = std::string(prefix) + "alive/";
  EtcdTopologySnapshot snapshot;
  bool found = false;
  for (const EtcdKeyValue& kv : range->kvs) {
    snapshot.revision = std::max(snapshot.revision, kv.mod_revision);
    if (kv.key == document_key) {
      Result<Topology> parsed = parse_topology(kv.value);
      if (!parsed) {
        return make_error(ErrorCode::kFailedPrecondition,
                          "the topology stored at " + document_key + " is invalid: " + parsed.error().message);
      }
      snapshot.document = std::move(parsed).value();
      snapshot.document_revision = kv.mod_revision;
      found = true;
    } else if (kv.key.starts_with(alive_prefix)) {
      snapshot.alive.insert(kv.key.substr(alive_prefix.size()));
    }
  }
  if (!found) {
    return no_document(prefix);
  }
  return snapshot;
}

Result<Topology> edit_etcd_topology(EtcdGateway& gateway, std::string_view prefix, const TopologyEdit& edit) {
  const std::string key = document_key_of(prefix);
  for (int attempt = 0; attempt < kMaxEtcdEditAttempts; ++attempt) {
    Result<EtcdRange> range = gateway.get(key);
    if (!range) {
      return range.error();
    }
    if (range->kvs.empty()) {
      return no_document(prefix);
    }
    const EtcdKeyValue& stored = range->kvs.front();
    Result<Topology> parsed = parse_topology(stored.value);
    if (!parsed) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the topology stored at " + key + " is invalid: " + parsed.error().message);
    }
    const uint64_t epoch = parsed->epoch;
    Result<Topology> edited = edit(std::move(parsed).value());
    if (!edited) {
      return edited.error();
    }
    edited->epoch = epoch + 1;
    if (Status valid = validate(*edited); !valid) {
      return valid.error();
    }
    Result<bool> written = gateway.put_if_unchanged(key, to_json(*edited), stored.mod_revision);
    if (!written) {
      return written.error();
    }
    if (*written) {
      return edited;
    }
  }
  return make_error(ErrorCode::kUnavailable, "the topology at " + key + " changed under " +
                                                 std::to_string(kMaxEtcdEditAttempts) + " attempts to edit it");
}

Result<bool> seed_etcd_topology(EtcdGateway& gateway, std::string_view prefix, const Topology& topology) {
  if (Status valid = validate(topology); !valid) {
    return valid.error();
  }
  return gateway.put_if_unchanged(document_key_of(prefix), to_json(topology), 0);
}

// ---- EtcdTopologyStore ----

EtcdTopologyStore::EtcdTopologyStore(EtcdTopologyStoreOptions options) : options_(std::move(options)) {
  QUORUM_ASSERT(options_.lease_ttl_seconds >= 1);
}

EtcdTopologyStore::~EtcdTopologyStore() { stop(); }

Status EtcdTopologyStore::seed(const Topology& topology) {
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  if (!gateway) {
    return gateway.error();
  }
  Result<bool> seeded = seed_etcd_topology(**gateway, options_.prefix, topology);
  if (!seeded) {
    return seeded.error();
  }
  spdlog::info("topology: {} {}", document_key(), *seeded ? "seeded" : "already present; seed ignored");
  return {};
}

Status EtcdTopologyStore::register_alive(EtcdGateway& gateway) {
  Result<int64_t> lease = gateway.lease_grant(options_.lease_ttl_seconds);
  if (!lease) {
    return lease.error();
  }
  Result<int64_t> put = gateway.put(alive_prefix() + options_.self, options_.self, *lease);
  if (!put) {
    return put.error();
  }
  std::lock_guard lock(mutex_);
  lease_ = *lease;
  return {};
}

Status EtcdTopologyStore::start() {
  if (options_.self.empty() || options_.prefix.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "etcd topology store: self and prefix must not be empty");
  }
  QUORUM_ASSERT(!watch_thread_.joinable());
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  if (!gateway) {
    return gateway.error();
  }
  if (Status registered = register_alive(**gateway); !registered) {
    return make_error(registered.error().code, "cannot start the topology store: " + registered.error().message);
  }
  Result<int64_t> revision = resync(**gateway, false);
  if (!revision || !current()) {
    (void)(*gateway)->lease_revoke(lease_);
    return revision ? make_error(ErrorCode::kInvalidArgument,
                                 "the topology stored at " + document_key() + " is invalid (see the log)")
                    : revision.error();
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  spdlog::info("topology: etcd {} prefix {}: epoch {}, {} alive", options_.url, options_.prefix,
               current()->topology().epoch, alive_.size());
  watch_thread_ = std::thread([this, next = *revision + 1] { watch_loop(next); });
  lease_thread_ = std::thread([this] { lease_loop(); });
  return {};
}

void EtcdTopologyStore::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (watch_ != nullptr) {
      watch_->cancel();
    }
  }
  wake_.notify_all();
  changed_.notify_all();
  const bool was_running = watch_thread_.joinable();
  if (watch_thread_.joinable()) {
    watch_thread_.join();
  }
  if (lease_thread_.joinable()) {
    lease_thread_.join();
  }
  if (was_running && options_.revoke_lease_on_stop) {
    Result<std::unique_ptr<EtcdGateway>> gateway =
        EtcdGateway::create(options_.url, EtcdGateway::Options{std::chrono::milliseconds(1000)});
    if (gateway) {
      if (Status revoked = (*gateway)->lease_revoke(lease_); !revoked) {
        spdlog::warn("topology: could not revoke the lease of {}: {}", options_.self, revoked.error().message);
      }
    }
  }
}

std::shared_ptr<const Placement> EtcdTopologyStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void EtcdTopologyStore::on_change(std::function<void(std::shared_ptr<const Placement>)> callback) {
  std::lock_guard lock(mutex_);
  callback_ = std::move(callback);
}

bool EtcdTopologyStore::alive(std::string_view node) const {
  std::lock_guard lock(mutex_);
  return alive_.contains(node);
}

void EtcdTopologyStore::heard_from(std::string_view, Clock::time_point) {}

int64_t EtcdTopologyStore::applied_revision() const {
  std::lock_guard lock(mutex_);
  return applied_revision_;
}

bool EtcdTopologyStore::wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return applied_revision_ >= revision; });
}

uint64_t EtcdTopologyStore::rejected_documents() const {
  std::lock_guard lock(mutex_);
  return rejected_documents_;
}

bool EtcdTopologyStore::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

bool EtcdTopologyStore::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_; });
  return !stopping_;
}

void EtcdTopologyStore::cancel_watch() {
  std::lock_guard lock(mutex_);
  if (watch_ != nullptr) {
    watch_->cancel();
  }
}

bool EtcdTopologyStore::apply_document_locked(const std::string& value, int64_t revision) {
  Result<Topology> parsed = parse_topology(value);
  if (!parsed) {
    ++rejected_documents_;
    spdlog::error("topology: ignoring the document at {} (revision {}): {}; keeping epoch {}", document_key(), revision,
                  parsed.error().message, current_ ? current_->topology().epoch : 0);
    return false;
  }
  document_ = std::move(parsed).value();
  return true;
}

std::shared_ptr<const Placement> EtcdTopologyStore::republish_locked(int64_t revision) {
  if (document_.data_centers.empty()) {
    return nullptr;  // no valid document yet
  }
  Topology candidate = effective_topology(
      document_, [this](std::string_view name) { return alive_.contains(name); }, static_cast<uint64_t>(revision));
  if (current_ && same_except_epoch(candidate, current_->topology())) {
    return nullptr;
  }
  if (current_ && candidate.epoch <= current_->topology().epoch) {
    candidate.epoch = current_->topology().epoch + 1;  // never backwards (see the header)
  }
  Result<Placement> placement = Placement::create(std::move(candidate));
  if (!placement) {
    spdlog::error("topology: cannot place the topology at revision {}: {}", revision, placement.error().message);
    return nullptr;
  }
  current_ = std::make_shared<const Placement>(std::move(placement).value());
  return current_;
}

Result<int64_t> EtcdTopologyStore::resync(EtcdGateway& gateway, bool notify) {
  Result<EtcdRange> range = gateway.get_prefix(options_.prefix);
  if (!range) {
    return range.error();
  }
  const std::string key = document_key();
  const std::string alive = alive_prefix();
  std::shared_ptr<const Placement> changed;
  std::function<void(std::shared_ptr<const Placement>)> callback;
  {
    std::lock_guard lock(mutex_);
    int64_t highest = 0;
    bool document_found = false;
    std::set<std::string, std::less<>> alive_now;
    for (const EtcdKeyValue& kv : range->kvs) {
      highest = std::max(highest, kv.mod_revision);
      if (kv.key == key) {
        document_found = true;
        apply_document_locked(kv.value, kv.mod_revision);
      } else if (kv.key.starts_with(alive)) {
        alive_now.insert(kv.key.substr(alive.size()));
      }
    }
    if (!document_found) {
      if (!current_) {
        return no_document(options_.prefix);
      }
      spdlog::error("topology: {} is missing; keeping epoch {}", key, current_->topology().epoch);
    }
    alive_ = std::move(alive_now);
    int64_t epoch = highest;
    if (current_ && epoch <= static_cast<int64_t>(current_->topology().epoch)) {
      epoch = range->revision;  // something changed while the watch was down (see the header)
    }
    changed = republish_locked(epoch);
    applied_revision_ = std::max(applied_revision_, range->revision);
    callback = callback_;
  }
  changed_.notify_all();
  if (changed && notify) {
    spdlog::info("topology: epoch {} (re-read {})", changed->topology().epoch, options_.prefix);
  }
  if (changed && callback && notify) {
    callback(changed);
  }
  return range->revision;
}

void EtcdTopologyStore::watch_loop(int64_t next_revision) {
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  QUORUM_ASSERT(gateway.ok());  // start() created one with the same URL
  const std::string key = document_key();
  const std::string alive = alive_prefix();
  std::chrono::milliseconds backoff = kBackoffMin;
  bool resync_needed = false;
  bool down = false;
  const auto failed = [&](const Error& error) {
    if (!down) {
      spdlog::warn("topology: etcd watch at {} failed: {}; keeping epoch {}, retrying", options_.url, error.message,
                   current()->topology().epoch);
      down = true;
    }
    resync_needed = true;
    const bool go_on = pause(backoff);
    backoff = std::min(backoff * 2, kBackoffMax);
    return go_on;
  };
  while (!stopping()) {
    if (resync_needed) {
      Result<int64_t> revision = resync(**gateway, true);
      if (!revision) {
        if (!failed(revision.error())) {
          break;
        }
        continue;
      }
      next_revision = *revision + 1;
      resync_needed = false;
    }
    Result<std::unique_ptr<EtcdWatch>> opened = EtcdWatch::open(
        options_.url, options_.prefix, etcd_prefix_end(options_.prefix), next_revision, options_.request_timeout);
    if (!opened) {
      if (!failed(opened.error())) {
        break;
      }
      continue;
    }
    std::unique_ptr<EtcdWatch> watch = std::move(opened).value();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        break;
      }
      watch_ = watch.get();
    }
    while (true) {
      Result<std::optional<EtcdWatchMessage>> message = watch->next(kWatchPoll);
      if (!message) {
        if (!stopping()) {
          failed(message.error());
        }
        break;
      }
      if (!message->has_value()) {
        if (stopping()) {
          break;
        }
        continue;
      }
      const EtcdWatchMessage& m = **message;
      if (m.canceled || m.compact_revision > 0) {
        failed(make_error(ErrorCode::kUnavailable, "watch canceled by etcd: " + m.cancel_reason));
        break;
      }
      if (m.created) {
        if (down) {
          spdlog::info("topology: etcd at {} is back; epoch {}", options_.url, current()->topology().epoch);
        }
        down = false;
        backoff = kBackoffMin;
      }
      if (m.events.empty()) {
        continue;
      }
      std::shared_ptr<const Placement> changed;
      std::function<void(std::shared_ptr<const Placement>)> callback;
      {
        std::lock_guard lock(mutex_);
        int64_t revision = 0;
        for (const EtcdEvent& event : m.events) {
          revision = std::max(revision, event.kv.mod_revision);
          if (event.kv.key == key) {
            if (event.deleted) {
              spdlog::error("topology: {} was deleted; keeping epoch {}", key, current_->topology().epoch);
            } else {
              apply_document_locked(event.kv.value, event.kv.mod_revision);
            }
          } else if (event.kv.key.starts_with(alive)) {
            std::string name = event.kv.key.substr(alive.size());
            if (event.deleted) {
              alive_.erase(name);
            } else {
              alive_.insert(std::move(name));
            }
          }
        }
        changed = republish_locked(revision);
        applied_revision_ = std::max(applied_revision_, revision);
        next_revision = std::max(next_revision, revision + 1);
        callback = callback_;
      }
      changed_.notify_all();
      if (changed) {
        spdlog::info("topology: epoch {}", changed->topology().epoch);
        if (callback) {
          callback(changed);
        }
      }
    }
    {
      std::lock_guard lock(mutex_);
      watch_ = nullptr;
    }
  }
  std::lock_guard lock(mutex_);
  watch_ = nullptr;
}

void EtcdTopologyStore::lease_loop() {
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  QUORUM_ASSERT(gateway.ok());
  const auto interval =
      std::max(std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3), std::chrono::milliseconds(100));
  bool down = false;
  while (pause(interval)) {
    int64_t lease = 0;
    {
      std::lock_guard lock(mutex_);
      lease = lease_;
    }
    Result<int64_t> ttl = (*gateway)->lease_keepalive(lease);
    if (ttl && *ttl > 0) {
      if (down) {
        spdlog::info("topology: etcd at {} is reachable again; lease of {} kept", options_.url, options_.self);
        down = false;
      }
      continue;
    }
    if (!ttl) {
      if (!down) {
        spdlog::warn("topology: cannot keep the lease of {} alive: {}", options_.self, ttl.error().message);
        down = true;
        cancel_watch();  // the watch may be on a dead connection; reconnect and re-range
      }
      if (ttl.error().code == ErrorCode::kUnavailable) {
        continue;
      }
    }
    // The lease is gone (expired while etcd was away, or revoked): a new one.
    spdlog::warn("topology: the lease of {} expired; registering again", options_.self);
    if (Status registered = register_alive(**gateway); !registered) {
      spdlog::warn("topology: cannot register {} again: {}", options_.self, registered.error().message);
      down = true;
    } else {
      down = false;
    }
  }
}

Status EtcdTopologyStore::mutate(const TopologyEdit& edit) {
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  if (!gateway) {
    return gateway.error();
  }
  Result<Topology> edited = edit_etcd_topology(**gateway, options_.prefix, edit);
  if (!edited) {
    return edited.error();
  }
  return {};
}

Status EtcdTopologyStore::add_node(std::string_view data_center, Node node) {
  const std::string dc(data_center);
  return mutate([&](Topology t) { return with_node_added(std::move(t), dc, node); });
}

Status EtcdTopologyStore::remove_node(std::string_view node_name) {
  return mutate([&](Topology t) { return with_node_removed(std::move(t), node_name); });
}

Status EtcdTopologyStore::drain(std::string_view node_name) {
  return mutate([&](Topology t) { return with_node_live(std::move(t), node_name, false); });
}

Status EtcdTopologyStore::undrain(std::string_view node_name) {
  return mutate([&](Topology t) { return with_node_live(std::move(t), node_name, true); });
}

}  // namespace quorum::cluster
