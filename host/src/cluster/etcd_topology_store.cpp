#include <quorum/cluster/etcd_topology_store.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <utility>

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

// "<reports_prefix><epoch>/<node>" -> {epoch, node}; nullopt for anything else.
std::optional<std::pair<uint64_t, std::string>> parse_report_key(std::string_view key,
                                                                 std::string_view reports_prefix) {
  if (!key.starts_with(reports_prefix)) {
    return std::nullopt;
  }
  key.remove_prefix(reports_prefix.size());
  const size_t slash = key.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash > 19 || slash + 1 == key.size()) {
    return std::nullopt;
  }
  uint64_t epoch = 0;
  for (char c : key.substr(0, slash)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    epoch = epoch * 10 + static_cast<uint64_t>(c - '0');
  }
  return std::pair<uint64_t, std::string>(epoch, std::string(key.substr(slash + 1)));
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
  const std::string state_key = std::string(prefix) + "state";
  const std::string reports_prefix = std::string(prefix) + "reports/";
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
    } else if (kv.key == state_key) {
      snapshot.state_revision = kv.mod_revision;
      Result<StoredTopologyState> parsed = parse_stored_topology_state(kv.value);
      if (parsed) {
        snapshot.state = std::move(parsed).value();
      } else {
        snapshot.state_error = parsed.error().message;
      }
    } else if (auto report = parse_report_key(kv.key, reports_prefix)) {
      snapshot.reports[report->first].insert(report->second);
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
  const auto fail = [&](Error error) {
    (void)(*gateway)->lease_revoke(lease_);
    return error;
  };
  // Range, then step the record (creating it if there is none) until this node has nothing to write: its
  // first view is then the latest record. Bounded: each round either ends or saw another node's write.
  int64_t revision = 0;
  for (int round = 0;; ++round) {
    Result<int64_t> ranged = resync(**gateway, false);
    if (!ranged) {
      return fail(ranged.error());
    }
    revision = *ranged;
    {
      std::lock_guard lock(mutex_);
      if (record_refused_) {
        return fail(make_error(ErrorCode::kFailedPrecondition, "the topology state stored at " + state_key() +
                                                                   " is invalid: " + record_error_ +
                                                                   " (fix or delete it: the nodes write it again)"));
      }
    }
    Result<Advanced> advanced = advance(**gateway);
    if (!advanced) {
      return fail(advanced.error());
    }
    if (*advanced == Advanced::kNothing || round == 8) {
      break;
    }
  }
  if (!current()) {
    return fail(make_error(ErrorCode::kInvalidArgument,
                           "the topology stored at " + document_key() + " cannot be placed (see the log)"));
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  spdlog::info("topology: etcd {} prefix {}: epoch {}, {} alive", options_.url, options_.prefix,
               current()->topology().epoch, alive_.size());
  watch_thread_ = std::thread([this, next = revision + 1] { watch_loop(next); });
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
  return view_.current;
}

TopologyView EtcdTopologyStore::state() const {
  std::lock_guard lock(mutex_);
  return view_;
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

uint64_t EtcdTopologyStore::rejected_states() const {
  std::lock_guard lock(mutex_);
  return rejected_states_;
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
                  parsed.error().message, view_.current ? view_.current->topology().epoch : 0);
    return false;
  }
  document_ = std::move(parsed).value();
  return true;
}

bool EtcdTopologyStore::apply_state_locked(const std::string& value, int64_t revision) {
  Result<StoredTopologyState> parsed = parse_stored_topology_state(value);
  if (!parsed) {
    ++rejected_states_;
    record_refused_ = true;
    record_error_ = parsed.error().message;
    spdlog::error("topology: the record at {} (revision {}) is invalid: {}; keeping epoch {} and leaving it as it is",
                  state_key(), revision, record_error_, view_.current ? view_.current->topology().epoch : 0);
    return false;
  }
  record_ = std::move(parsed).value();
  record_revision_ = revision;
  record_refused_ = false;
  record_error_.clear();
  return true;
}

void EtcdTopologyStore::apply_key_locked(const EtcdKeyValue& kv, bool deleted) {
  if (kv.key == document_key()) {
    if (deleted) {
      spdlog::error("topology: {} was deleted; keeping epoch {}", kv.key,
                    view_.current ? view_.current->topology().epoch : 0);
    } else {
      apply_document_locked(kv.value, kv.mod_revision);
    }
  } else if (kv.key.starts_with(alive_prefix())) {
    std::string name = kv.key.substr(alive_prefix().size());
    if (deleted) {
      alive_.erase(name);
    } else {
      alive_.insert(std::move(name));
    }
  } else if (kv.key == state_key()) {
    if (deleted) {
      // An operator removed it (e.g. a refused one): the nodes write it again, above the epoch they saw.
      spdlog::warn("topology: {} was deleted; it is written again from the document", kv.key);
      record_.reset();
      record_revision_ = 0;
      record_refused_ = false;
    } else {
      apply_state_locked(kv.value, kv.mod_revision);
    }
  } else if (auto report = parse_report_key(kv.key, reports_prefix())) {
    if (deleted) {
      auto it = reports_.find(report->first);
      if (it != reports_.end()) {
        it->second.erase(report->second);
        if (it->second.empty()) {
          reports_.erase(it);
        }
      }
    } else {
      reports_[report->first].insert(std::move(report->second));
    }
  }
}

std::optional<TopologyView> EtcdTopologyStore::republish_locked() {
  if (!record_) {
    return std::nullopt;  // none yet (or deleted): the view stays until one is written
  }
  Result<std::optional<TopologyView>> next = next_view(view_, record_->state());
  if (!next) {
    spdlog::error("topology: {}", next.error().message);
    return std::nullopt;
  }
  if (!next->has_value()) {
    return std::nullopt;
  }
  view_ = **next;
  return view_;
}

void EtcdTopologyStore::announce(const std::optional<TopologyView>& changed) {
  if (!changed) {
    return;
  }
  std::function<void(std::shared_ptr<const Placement>)> callback;
  {
    std::lock_guard lock(mutex_);
    callback = callback_;
  }
  spdlog::info(
      "topology: epoch {} {}", changed->current->topology().epoch,
      changed->previous ? "joint with " + std::to_string(changed->previous->topology().epoch) : std::string("final"));
  if (callback) {
    callback(changed->current);
  }
}

Result<EtcdTopologyStore::Advanced> EtcdTopologyStore::advance(EtcdGateway& gateway) {
  std::string text;
  int64_t expected = 0;
  {
    std::lock_guard lock(mutex_);
    if (record_refused_ || document_.data_centers.empty()) {
      return Advanced::kNothing;  // never build on (or over) a record that does not parse
    }
    std::optional<StoredTopologyState> next = record_;
    if (next) {
      next->reported.clear();
      if (const auto reports = reports_.find(next->epoch); reports != reports_.end()) {
        for (const std::string& name : reports->second) {
          if (node_named(next->document, name) != nullptr) {
            next->reported.insert(name);
          }
        }
      }
    }
    const auto alive = [this](std::string_view name) { return alive_.contains(name); };
    bool changed = false;
    for (int step = 0; step < 4; ++step) {
      const bool first = !next;
      std::optional<StoredTopologyState> stepped =
          next_stored_topology_state(next, document_, alive, options_.joint_transitions);
      if (!stepped) {
        break;
      }
      if (first) {
        // At least the revision it was read at: nodes of earlier versions published etcd revisions as
        // epochs, and a record written anew (first, or after an operator deleted it) never goes below them
        // nor below what this node saw.
        stepped->epoch = std::max(stepped->epoch, static_cast<uint64_t>(std::max<int64_t>(applied_revision_, 1)));
        if (view_.current) {
          stepped->epoch = std::max(stepped->epoch, view_.current->topology().epoch + 1);
        }
      }
      next = std::move(stepped);
      changed = true;
    }
    if (!changed) {
      return Advanced::kNothing;
    }
    next->reported.clear();  // etcd keeps reports as keys; the write clears them
    text = to_json(*next);
    expected = record_ ? record_revision_ : 0;
  }
  Result<bool> written = gateway.put_if_revision(state_key(), expected, state_key(), text, reports_prefix());
  if (!written) {
    return written.error();
  }
  return *written ? Advanced::kWrote : Advanced::kLost;
}

Result<int64_t> EtcdTopologyStore::resync(EtcdGateway& gateway, bool notify) {
  Result<EtcdRange> range = gateway.get_prefix(options_.prefix);
  if (!range) {
    return range.error();
  }
  std::optional<TopologyView> changed;
  {
    std::lock_guard lock(mutex_);
    bool document_found = false;
    bool state_found = false;
    alive_.clear();
    reports_.clear();
    for (const EtcdKeyValue& kv : range->kvs) {
      document_found = document_found || kv.key == document_key();
      state_found = state_found || kv.key == state_key();
      apply_key_locked(kv, false);
    }
    if (!document_found) {
      if (!view_.current) {
        return no_document(options_.prefix);
      }
      spdlog::error("topology: {} is missing; keeping epoch {}", document_key(), view_.current->topology().epoch);
    }
    if (!state_found) {
      record_.reset();
      record_revision_ = 0;
      record_refused_ = false;
    }
    changed = republish_locked();
    applied_revision_ = std::max(applied_revision_, range->revision);
  }
  changed_.notify_all();
  if (notify) {
    announce(changed);
  }
  return range->revision;
}

void EtcdTopologyStore::watch_loop(int64_t next_revision) {
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  QUORUM_ASSERT(gateway.ok());  // start() created one with the same URL
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
      if (Result<Advanced> advanced = advance(**gateway); !advanced) {
        spdlog::warn("topology: cannot write {}: {}", state_key(), advanced.error().message);
      }
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
      std::optional<TopologyView> changed;
      {
        std::lock_guard lock(mutex_);
        int64_t revision = 0;
        for (const EtcdEvent& event : m.events) {
          revision = std::max(revision, event.kv.mod_revision);
          apply_key_locked(event.kv, event.deleted);
        }
        changed = republish_locked();
        applied_revision_ = std::max(applied_revision_, revision);
        next_revision = std::max(next_revision, revision + 1);
      }
      changed_.notify_all();
      announce(changed);
      // This node's step of the record after every applied change (a lost race is answered by the watch).
      if (Result<Advanced> advanced = advance(**gateway); !advanced) {
        spdlog::warn("topology: cannot write {}: {}", state_key(), advanced.error().message);
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

Status EtcdTopologyStore::report_caught_up(std::string_view node, uint64_t epoch) {
  int64_t revision = 0;
  {
    std::lock_guard lock(mutex_);
    if (!record_ || record_refused_) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "topology: no valid record at " + state_key() + " to report on");
    }
    if (node_named(record_->document, node) == nullptr) {
      return make_error(ErrorCode::kInvalidArgument, "topology: " + std::string(node) + " is not a node of epoch " +
                                                         std::to_string(record_->epoch) + "; its report is refused");
    }
    if (!record_->joint() || record_->epoch != epoch) {
      return {};  // late, or already final: nothing to report
    }
    revision = record_revision_;
  }
  Result<std::unique_ptr<EtcdGateway>> gateway =
      EtcdGateway::create(options_.url, EtcdGateway::Options{options_.request_timeout});
  if (!gateway) {
    return gateway.error();
  }
  const std::string key = reports_prefix() + std::to_string(epoch) + "/" + std::string(node);
  Result<bool> written = (*gateway)->put_if_revision(state_key(), revision, key, node, {});
  if (!written) {
    return written.error();
  }
  return {};  // false: the record moved on since (final, or a folded target): the report is moot
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
