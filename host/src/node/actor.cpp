#include <quorum/node/actor.hpp>

#include <quorum/host/assert.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/recovery.hpp>

#include <sodium.h>
#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

namespace quorum::node {

int64_t SystemClock::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string effect_command_id(std::string_view source, uint64_t source_seq, uint32_t index) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(source.data()), source.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "fx/";
  for (size_t i = 0; i < 16; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 0xf]);
  }
  id += "/" + std::to_string(source_seq) + "/" + std::to_string(index);
  return id;
}

std::string encode_effect(const host::Effect& effect) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(3);
  packer.pack(effect.to);
  packer.pack(effect.type);
  packer.pack_bin(static_cast<uint32_t>(effect.data.size()));
  packer.pack_bin_body(effect.data.data(), static_cast<uint32_t>(effect.data.size()));
  return std::string(buffer.data(), buffer.size());
}

Result<host::Effect> decode_effect(std::string_view bytes) {
  try {
    msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
    const msgpack::object& array = handle.get();
    if (array.type != msgpack::type::ARRAY || array.via.array.size != 3 ||
        array.via.array.ptr[0].type != msgpack::type::STR || array.via.array.ptr[1].type != msgpack::type::STR ||
        array.via.array.ptr[2].type != msgpack::type::BIN) {
      return make_error(ErrorCode::kInvalidArgument, "outbox record is not [to, type, data]");
    }
    const msgpack::object* items = array.via.array.ptr;
    return host::Effect{std::string(items[0].via.str.ptr, items[0].via.str.size),
                        std::string(items[1].via.str.ptr, items[1].via.str.size),
                        std::string(items[2].via.bin.ptr, items[2].via.bin.size)};
  } catch (const std::exception& error) {
    return make_error(ErrorCode::kInvalidArgument, std::string("outbox record does not decode: ") + error.what());
  }
}

namespace {

// The key of the id fingerprints (SipHash-2-4): random per process, so ids
// cannot be chosen to collide (a collision costs a store look-up, never a
// wrong answer). Fingerprints live only in memory.
const unsigned char* fingerprint_key() {
  static const std::array<unsigned char, crypto_shorthash_KEYBYTES> key = [] {
    const bool initialised = sodium_init() >= 0;
    QUORUM_ASSERT(initialised);
    std::array<unsigned char, crypto_shorthash_KEYBYTES> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return bytes;
  }();
  return key.data();
}

// A msgpack stream that appends to a string: the envelope is packed in place
// (one allocation) instead of into an sbuffer and then copied.
struct StringStream {
  std::string* out;
  void write(const char* data, size_t size) { out->append(data, size); }
};

}  // namespace

std::string make_envelope(std::string_view id, std::string_view type, int64_t time_ms, std::string_view data) {
  std::string out;
  out.reserve(48 + id.size() + type.size() + std::max<size_t>(data.size(), 1));
  StringStream stream{&out};
  msgpack::packer<StringStream> packer(stream);
  packer.pack_map(4);
  packer.pack_str(2);
  packer.pack_str_body("id", 2);
  packer.pack_str(static_cast<uint32_t>(id.size()));
  packer.pack_str_body(id.data(), static_cast<uint32_t>(id.size()));
  packer.pack_str(4);
  packer.pack_str_body("type", 4);
  packer.pack_str(static_cast<uint32_t>(type.size()));
  packer.pack_str_body(type.data(), static_cast<uint32_t>(type.size()));
  packer.pack_str(4);
  packer.pack_str_body("time", 4);
  packer.pack(time_ms);
  packer.pack_str(4);
  packer.pack_str_body("data", 4);
  if (data.empty()) {
    out.push_back(static_cast<char>(0xc0));  // nil
  } else {
    out.append(data);  // already exactly one msgpack value (validated by encode_entry)
  }
  return out;
}

// ---------------------------------------------------------------------------

struct Actor::Admitted {
  Command command;
  uint64_t id_fingerprint = 0;  // of command.id (when not empty)
  ReplyToken token = kNoReply;
  int64_t time_ms = 0;  // stamped at admission
  std::string message;  // the envelope handlers will see
};

struct Actor::Pending {
  uint64_t seq = 0;
  store::EncodedEntry entry;  // moved into the write batch by take_write() when no events are wanted
  store::Hash hash{};         // entry's chain hash (kept: the entry may have been moved)
  bool entry_taken = false;
  std::string message;  // the envelope handlers saw (history for later commands)
  std::string id;
  uint64_t id_fingerprint = 0;
  std::vector<host::Effect> effects;
  std::vector<store::SnapshotRecord> snapshots;  // every snapshot_interval entries
  ReplyToken token = kNoReply;
  std::vector<ReplyToken> duplicates;  // retries that arrived while it was pending
  size_t bytes = 0;
  size_t ops = 0;
};

// The actor's log as handlers see it: durable entries read from the store
// through a bounded cached window, then the pending entries in memory.
class Actor::LogHistory final : public host::HistoryAccessor {
 public:
  LogHistory(const store::EventStore& store, std::string_view key, size_t window, const std::deque<Pending>& pending)
      : store_(&store), key_(key), window_bound_(std::max<size_t>(window, 1)), pending_(&pending) {}

  void set_durable(uint64_t seq) noexcept { durable_ = seq; }
  bool failed() const noexcept { return failed_.has_value(); }
  const std::string& failure() const { return *failed_; }
  void clear_failure() noexcept { failed_.reset(); }

  uint64_t size() const override { return durable_ + pending_->size(); }

  std::optional<std::string_view> read(uint64_t index) const override {
    const uint64_t seq = index + 1;
    if (seq > size()) {
      return std::nullopt;
    }
    if (seq > durable_) {
      return std::string_view((*pending_)[seq - durable_ - 1].message);
    }
    if (seq < window_start_ || seq >= window_start_ + window_.size()) {
      if (!fill(seq)) {
        return std::nullopt;
      }
    }
    return std::string_view(window_[seq - window_start_]);
  }

 private:
  bool fill(uint64_t seq) const {
    window_.clear();
    window_start_ = seq;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(window_bound_, durable_ - seq + 1));
    Result<std::vector<store::RawEntry>> page = store_->read_log(key_, seq, want);
    if (!page.ok()) {
      failed_ = "reading seq " + std::to_string(seq) + ": " + page.error().message;
      return false;
    }
    uint64_t expected = seq;
    for (const store::RawEntry& raw : *page) {
      if (raw.seq != expected || raw.seq > durable_) {
        break;
      }
      Result<store::EntryView> entry = store::parse_entry(raw.bytes);
      if (!entry.ok() || entry->seq != raw.seq) {
        failed_ = "entry seq " + std::to_string(raw.seq) + " is unreadable";
        break;
      }
      window_.push_back(make_envelope(entry->id, entry->type, entry->time_ms, entry->payload));
      ++expected;
    }
    if (window_.empty()) {
      if (!failed_) {
        failed_ = "entry seq " + std::to_string(seq) + " is missing";
      }
      return false;
    }
    return true;
  }

 public:
  void set_window(size_t window) { window_bound_ = std::max<size_t>(window, 1); }

 private:
  const store::EventStore* store_;
  std::string key_;
  size_t window_bound_ = 256;
  mutable std::vector<std::string> window_;
  mutable uint64_t window_start_ = 0;
  uint64_t durable_ = 0;
  const std::deque<Pending>* pending_;
  mutable std::optional<std::string> failed_;
};

// ---------------------------------------------------------------------------

Actor::Actor(const ActorEnv& env, std::string key)
    : env_(env), key_(std::move(key)), recent_(env.options.recent_ids_bound) {
  QUORUM_ASSERT(env_.store != nullptr && env_.plugins != nullptr && env_.runner != nullptr && env_.clock != nullptr);
  QUORUM_ASSERT(env_.options.queue_bound > 0);
  QUORUM_ASSERT(env_.options.id_fingerprint_bits >= 1 && env_.options.id_fingerprint_bits <= 64);
  history_ = std::make_unique<LogHistory>(*env_.store, key_, env_.options.history_window, entries_);
  history_->set_window(env_.options.history_window);
  last_active_ms_ = env_.clock->now_ms();
}

Actor::~Actor() = default;

std::unique_ptr<Actor> Actor::recover(const ActorEnv& env, std::string key) {
  std::unique_ptr<Actor> actor(new Actor(env, std::move(key)));
  actor->start();
  return actor;
}

const Error& Actor::failure() const {
  QUORUM_ASSERT(failure_.has_value());
  return *failure_;
}

void Actor::fail(State state, std::string reason) {
  QUORUM_ASSERT(state != State::kServing);
  if (state_ == State::kFailed) {
    return;  // the first reason stays
  }
  state_ = state;
  failure_ = make_error(ErrorCode::kUnavailable, std::move(reason));
}

void Actor::start() {
  if (Status valid = store::validate_actor_key(key_); !valid.ok()) {
    fail(State::kFailed, "actor key is not valid: " + valid.error().message);
    return;
  }
  store::RecoveryOptions recovery_options;
  recovery_options.max_tail_entries = env_.options.recovery_tail_bound;
  store::RecoveryOutcome outcome = store::recover_actor_checked(*env_.store, key_, recovery_options);
  if (outcome.fault) {
    fail(State::kFailed, "refusing service: " + outcome.fault->describe());
    return;
  }
  if (outcome.error || !outcome.actor) {
    fail(State::kFailed, "actor '" + key_ + "' refusing service: recovery failed: " +
                             (outcome.error ? outcome.error->message : std::string("no result")));
    return;
  }
  const store::RecoveredActor& recovered = *outcome.actor;
  if (!recovered.exists) {
    pending_ = durable_;
    ids_complete_ = true;  // a new actor: every id it will apply passes through remember()
    return;
  }
  durable_.seq = recovered.meta.last_seq;
  durable_.head = recovered.meta.head;
  history_->set_durable(durable_.seq);

  // Projections: each active handler from its snapshot (in its version's
  // terms: continue, migrate or rebuild) and then the entries after it.
  // Replicated actors replay from the first entry and collect every effect.
  const std::shared_ptr<const host::HostSnapshot> snapshot = env_.plugins->snapshot();
  std::map<uint64_t, std::vector<host::Effect>> replayed_effects;
  host::ActorProjections projections;
  bool replayed_whole_log = true;  // no handler started from a snapshot
  for (const host::SlotView& slot : snapshot->slots) {
    if (slot.active == nullptr) {
      continue;
    }
    const host::HandlerVersion& active = *slot.active;
    const store::SnapshotRecord* record = nullptr;
    for (const store::SnapshotRecord& candidate : recovered.snapshots) {
      if (!env_.options.replicated && candidate.handler == slot.name && candidate.snapshot.seq <= durable_.seq) {
        record = &candidate;
      }
    }
    std::optional<host::ProjectionState> prior;
    uint64_t from = 0;  // replayed from here (0: the whole log)
    if (record != nullptr) {
      // The version that wrote it, if loaded; otherwise a version id that
      // matches nothing, so only the schema decides (continue / migrate / rebuild).
      host::VersionId id = std::numeric_limits<host::VersionId>::max();
      if (active.semver() == record->snapshot.handler_version) {
        id = active.id();
      }
      prior = host::ProjectionState{id, record->snapshot.projection_schema, record->snapshot.projection};
      from = record->snapshot.seq;
      replayed_whole_log = false;
    }
    host::PrefixHistory before(*history_, from);
    Result<std::string> bytes = env_.runner->continue_projection(active, prior ? &*prior : nullptr, key_, before);
    if (!bytes.ok()) {
      fail(State::kFailed, "actor '" + key_ + "' seq " + std::to_string(from) +
                               ": refusing service: cannot rebuild the projection of handler '" + slot.name +
                               "': " + bytes.error().message);
      return;
    }
    std::string projection = std::move(bytes).value();
    for (uint64_t seq = from + 1; seq <= durable_.seq; ++seq) {
      std::optional<std::string_view> view = history_->read(seq - 1);
      if (!view) {
        fail(State::kFailed, "actor '" + key_ + "' seq " + std::to_string(seq) + ": refusing service: " +
                                 (history_->failed() ? history_->failure() : std::string("entry unreadable")));
        return;
      }
      const std::string message(*view);  // the handler may read history, which moves the window
      host::PrefixHistory prefix(*history_, seq - 1);
      host::HandleResult result = active.handle(key_, projection, message, prefix);
      if (result.ok()) {
        projection = std::move(result.projection);
        if (env_.options.replicated) {
          // Slot order within each entry, as build_entry() numbers them.
          std::vector<host::Effect>& effects = replayed_effects[seq];
          for (host::Effect& effect : result.effects) {
            effects.push_back(std::move(effect));
          }
        }
      } else if (result.status == host::CallStatus::kFailed) {
        fail(State::kFailed, "actor '" + key_ + "' seq " + std::to_string(seq) + ": refusing service: handler '" +
                                 slot.name + "' failed replaying the log: " + result.error);
        return;
      }
    }
    projections[slot.name].live = host::ProjectionState{active.id(), active.projection_schema(), std::move(projection)};
  }
  durable_.projections = std::make_shared<const host::ActorProjections>(std::move(projections));
  if (history_->failed()) {
    fail(State::kFailed, "actor '" + key_ + "' refusing service: " + history_->failure());
    return;
  }
  // The ids of a short log, read while its entries are still in the
  // store's cache (the replay just read them all). After a snapshot the
  // replay read only the tail: then misses stay confirmed in the store.
  if (replayed_whole_log) {
    learn_ids();
    if (state_ != State::kServing) {
      return;
    }
  }

  if (env_.options.replicated) {
    // Every entry of a replicated log is committed when the actor starts (it
    // starts once its replica serves): deliver all their effects again.
    for (auto& [seq, effects] : replayed_effects) {
      for (size_t i = 0; i < effects.size(); ++i) {
        emit_delivery(seq, static_cast<uint32_t>(i), effects[i]);
      }
    }
    pending_ = durable_;
    return;
  }
  // Undelivered side effects of earlier runs are sent again.
  Result<std::vector<store::OutboxRecord>> outbox =
      env_.store->read_outbox(key_, 0, 0, std::min(env_.options.outbox_resend_bound, store::kMaxReadOutbox));
  if (!outbox.ok()) {
    fail(State::kFailed, "actor '" + key_ + "' refusing service: reading the outbox: " + outbox.error().message);
    return;
  }
  for (const store::OutboxRecord& record : *outbox) {
    Result<host::Effect> effect = decode_effect(record.effect);
    if (!effect.ok()) {
      fail(State::kFailed, "actor '" + key_ + "' seq " + std::to_string(record.source_seq) +
                               ": refusing service: outbox record " + std::to_string(record.index) + ": " +
                               effect.error().message);
      return;
    }
    emit_delivery(record.source_seq, record.index, *effect);
  }
  pending_ = durable_;
}

CommandReceipt Actor::receipt(uint64_t seq, const store::Hash& hash, bool duplicate) const {
  return CommandReceipt{key_, seq, store::to_hex(hash), duplicate};
}

void Actor::reply(ReplyToken token, Result<CommandReceipt> result) {
  if (token == kNoReply) {
    return;
  }
  outputs_.replies.push_back(Reply{token, std::move(result)});
}

void Actor::reply_error(ReplyToken token, ErrorCode code, std::string message) {
  reply(token, make_error(code, std::move(message)));
}

uint64_t Actor::fingerprint(std::string_view id) const noexcept {
  unsigned char digest[crypto_shorthash_BYTES];
  crypto_shorthash(digest, reinterpret_cast<const unsigned char*>(id.data()), id.size(), fingerprint_key());
  uint64_t value = 0;
  static_assert(sizeof digest == sizeof value);
  std::memcpy(&value, digest, sizeof value);
  const unsigned bits = env_.options.id_fingerprint_bits;
  return bits >= 64 ? value : value & ((uint64_t{1} << bits) - 1);
}

void Actor::remember(uint64_t id_fingerprint, uint64_t seq) {
  if (recent_.add(id_fingerprint, seq)) {
    ids_complete_ = false;  // an id was evicted (or, with a bound of 0, never kept)
  }
}

void Actor::learn_ids() {
  QUORUM_ASSERT(recent_.size() == 0 && !ids_complete_);
  const uint64_t last = durable_.seq;
  if (last > env_.options.recent_ids_bound) {
    return;  // too long to keep every id: misses are confirmed in the store
  }
  bool evicted = false;
  uint64_t seq = 1;
  while (seq <= last) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(last - seq + 1, store::kMaxReadEntries));
    Result<std::vector<store::RawEntry>> page = env_.store->read_log(key_, seq, want);
    if (!page.ok()) {
      fail(State::kFailed, "actor '" + key_ + "' refusing service: reading the log's ids at seq " +
                               std::to_string(seq) + ": " + page.error().message);
      return;
    }
    for (const store::RawEntry& raw : *page) {
      Result<store::EntryView> entry = store::parse_entry(raw.bytes);
      if (raw.seq != seq || !entry.ok() || entry->seq != seq) {
        fail(State::kFailed,
             "actor '" + key_ + "' refusing service: entry seq " + std::to_string(seq) + " is missing or unreadable");
        return;
      }
      if (!entry->id.empty()) {
        evicted = recent_.add(fingerprint(entry->id), seq) || evicted;
      }
      ++seq;
    }
    if (page->empty()) {
      fail(State::kFailed, "actor '" + key_ + "' refusing service: entry seq " + std::to_string(seq) + " is missing");
      return;
    }
  }
  ids_complete_ = !evicted;
}

uint64_t Actor::find_pending(std::string_view id, uint64_t id_fingerprint) const {
  uint64_t found = 0;
  pending_ids_.any_of(id_fingerprint, [&](uint64_t seq) {
    const Pending& pending = entries_[seq - durable_.seq - 1];
    QUORUM_ASSERT(pending.seq == seq);
    if (pending.id != id) {
      return false;  // another id with the same fingerprint
    }
    found = seq;
    return true;
  });
  return found;
}

std::optional<store::IdempotencyRecord> Actor::find_applied(std::string_view id, uint64_t id_fingerprint) {
  // A fingerprint match in recent_ is a candidate: the store's record of the
  // id confirms it (and is the original answer). A miss is definite while
  // recent_ holds every id this incarnation applied.
  if (!recent_.may_contain(id_fingerprint) && (durable_.seq == 0 || ids_complete_)) {
    return std::nullopt;
  }
  Result<std::optional<store::IdempotencyRecord>> found = env_.store->find_command(key_, id);
  if (!found.ok()) {
    fail(State::kCrashed, "actor '" + key_ + "': idempotency look-up failed: " + found.error().message);
    return std::nullopt;
  }
  if (*found && (*found)->seq > durable_.seq) {
    return std::nullopt;  // written but not durable yet (cannot happen with one write in flight)
  }
  return *found;
}

size_t Actor::queue_depth() const noexcept { return admitted_.size() + entries_.size() + waiting_duplicates_; }

bool Actor::quiescent() const noexcept {
  return admitted_.empty() && entries_.empty() && !in_flight_ && in_flight_entries_ == 0 && confirmed_.empty() &&
         deleting_.empty() && outputs_.empty() && retry_.empty();
}

void Actor::submit(Command command, ReplyToken token) {
  QUORUM_ASSERT(command.key == key_);
  last_active_ms_ = env_.clock->now_ms();
  if (state_ != State::kServing) {
    reply(token, *failure_);
    return;
  }
  if (command.type.empty() || command.type.size() > store::kMaxTypeBytes) {
    reply_error(token, ErrorCode::kInvalidArgument,
                "command type must be 1.." + std::to_string(store::kMaxTypeBytes) + " bytes");
    return;
  }
  if (command.id.size() > store::kMaxIdBytes) {
    reply_error(token, ErrorCode::kInvalidArgument,
                "command id is longer than " + std::to_string(store::kMaxIdBytes) + " bytes");
    return;
  }
  if (queue_depth() >= env_.options.queue_bound) {
    reply_error(token, ErrorCode::kResourceExhausted,
                "actor '" + key_ + "' queue is full (" + std::to_string(queue_depth()) + " commands waiting)");
    return;
  }
  // Idempotency is decided when the command is processed (resolve_retry),
  // in admission order, so a retry of a command admitted with it sees
  // whether that one was accepted or refused.
  const int64_t time_ms = env_.clock->now_ms();
  std::string message = make_envelope(command.id, command.type, time_ms, command.data);
  const uint64_t id_fingerprint = command.id.empty() ? 0 : fingerprint(command.id);
  admitted_.push_back(Admitted{std::move(command), id_fingerprint, token, time_ms, std::move(message)});
}

Actor::Admitted Actor::take_admitted() {
  QUORUM_ASSERT(!admitted_.empty());
  Admitted item = std::move(admitted_.front());
  admitted_.pop_front();
  return item;
}

bool Actor::resolve_retry() {
  QUORUM_ASSERT(!admitted_.empty());
  const Admitted& item = admitted_.front();
  if (item.command.id.empty()) {
    return false;
  }
  // A retry of a pending command waits for its original; a retry of a
  // durable one gets the original answer now.
  if (const uint64_t seq = find_pending(item.command.id, item.id_fingerprint); seq != 0) {
    Pending& original = entries_[seq - durable_.seq - 1];
    if (item.token != kNoReply) {
      original.duplicates.push_back(item.token);
      ++waiting_duplicates_;
    }
    take_admitted();
    return true;
  }
  std::optional<store::IdempotencyRecord> applied = find_applied(item.command.id, item.id_fingerprint);
  if (state_ != State::kServing) {
    reply(take_admitted().token, *failure_);
    return true;
  }
  if (applied) {
    reply(item.token, receipt(applied->seq, applied->hash, true));
    take_admitted();
    return true;
  }
  return false;
}

size_t Actor::batchable_prefix() {
  // The front is not a retry (resolve_retry). A batch stops before a retry
  // of anything (of a command in the batch, pending, or durable) and never
  // passes a snapshot point: only its last entry can be one.
  size_t limit = std::min(admitted_.size(), kMaxProcessBatch);
  if (const uint64_t interval = env_.options.snapshot_interval; interval > 0) {
    limit = static_cast<size_t>(std::min<uint64_t>(limit, interval - pending_.seq % interval));
  }
  // A fingerprint seen earlier in the batch ends it (a retry of a command in
  // it, or a collision: then only the batch is shorter).
  batch_ids_.clear();
  size_t count = 0;
  for (; count < limit; ++count) {
    const Admitted& item = admitted_[count];
    const std::string& id = item.command.id;
    if (id.empty()) {
      continue;
    }
    if (batch_ids_.contains(item.id_fingerprint) || find_pending(id, item.id_fingerprint) != 0) {
      break;
    }
    batch_ids_.insert(item.id_fingerprint, count);
    if (count > 0) {
      const bool applied = find_applied(id, item.id_fingerprint).has_value();
      if (applied || state_ != State::kServing) {
        break;
      }
    }
  }
  return std::max<size_t>(count, 1);
}

void Actor::process() {
  if (admitted_.empty()) {
    return;
  }
  if (state_ == State::kServing) {
    history_->set_durable(durable_.seq);
    const std::shared_ptr<const host::HostSnapshot> snapshot = env_.plugins->snapshot();
    QUORUM_ASSERT(snapshot != nullptr);
    while (!admitted_.empty() && state_ == State::kServing) {
      if (resolve_retry()) {
        continue;
      }
      const size_t count = batchable_prefix();
      if (state_ != State::kServing) {
        break;
      }
      if (count > 1 && process_batch(*snapshot, count)) {
        continue;
      }
      // One by one: a single command, not batchable, or a batch in which some
      // command is refused (only run() knows what the ones after it see).
      process_one(*snapshot);
      for (size_t i = 1; i < count && !admitted_.empty() && state_ == State::kServing; ++i) {
        if (!resolve_retry()) {
          process_one(*snapshot);
        }
      }
    }
  }
  while (!admitted_.empty()) {
    Admitted item = take_admitted();
    reply(item.token, *failure_);
  }
}

void Actor::process_one(const host::HostSnapshot& snapshot) {
  Admitted item = take_admitted();
  host::RunResult result = env_.runner->run(snapshot, key_, *pending_.projections, *history_, item.message);
  if (history_->failed()) {
    const std::string why = history_->failure();
    history_->clear_failure();
    fail(State::kCrashed, "actor '" + key_ + "' crashed: history unreadable: " + why);
    reply(item.token, *failure_);
    return;
  }
  if (!result.ok()) {
    if (result.status == host::CallStatus::kRejected) {
      reply(item.token,
            make_error(ErrorCode::kRejected, "handler '" + result.handler + "' rejected the command: " + result.error));
    } else {
      ++handler_errors_[result.handler];
      reply(item.token, make_error(ErrorCode::kRejected, "handler '" + result.handler + "' failed: " + result.error));
    }
    return;
  }
  Result<Pending> pending =
      build_entry(item, result.effects, &result.projections, snapshot, pending_.seq + 1, pending_.head, 0, 0);
  if (!pending.ok()) {
    reply(item.token, pending.error());
    return;
  }
  pending_.projections = std::make_shared<const host::ActorProjections>(std::move(result.projections));
  accept(std::move(item), std::move(pending).value());
}

bool Actor::process_batch(const host::HostSnapshot& snapshot, size_t count) {
  QUORUM_ASSERT(count >= 2 && count <= admitted_.size());
  std::vector<std::string_view>& messages = batch_messages_;
  messages.clear();
  for (size_t i = 0; i < count; ++i) {
    messages.push_back(admitted_[i].message);
  }
  host::BatchRunResult result = env_.runner->run_batch(snapshot, key_, *pending_.projections, *history_, messages);
  messages.clear();
  if (!result.complete || history_->failed()) {
    return false;  // one by one: process_one reports a history failure as a crash
  }
  // Every entry must be loggable before any is accepted; otherwise the
  // commands after a refused one would have run against the wrong state.
  std::vector<Pending> built;
  built.reserve(count);
  uint64_t seq = pending_.seq;
  store::Hash head = pending_.head;
  size_t bytes = 0;
  size_t ops = 0;
  for (size_t i = 0; i < count; ++i) {
    const host::ActorProjections* after = i + 1 == count ? &result.projections : nullptr;
    Result<Pending> pending = build_entry(admitted_[i], result.effects[i], after, snapshot, seq + 1, head, bytes, ops);
    if (!pending.ok()) {
      return false;
    }
    seq = pending->seq;
    head = pending->hash;
    bytes += pending->bytes;
    ops += pending->ops;
    built.push_back(std::move(pending).value());
  }
  pending_.projections = std::make_shared<const host::ActorProjections>(std::move(result.projections));
  for (Pending& pending : built) {
    accept(take_admitted(), std::move(pending));
  }
  return true;
}

Result<Actor::Pending> Actor::build_entry(Admitted& item, std::vector<host::EmittedEffect>& emitted,
                                          const host::ActorProjections* after, const host::HostSnapshot& snapshot,
                                          uint64_t seq, const store::Hash& prev, size_t earlier_bytes,
                                          size_t earlier_ops) const {
  // Effects: bounded in number and size.
  if (emitted.size() > env_.options.max_effects_per_command) {
    return make_error(ErrorCode::kRejected, "handlers produced " + std::to_string(emitted.size()) +
                                                " side effects, more than the bound of " +
                                                std::to_string(env_.options.max_effects_per_command));
  }
  std::vector<host::Effect> effects;
  effects.reserve(emitted.size());
  size_t effect_bytes = 0;
  for (host::EmittedEffect& effect : emitted) {
    const size_t size = effect.effect.to.size() + effect.effect.type.size() + effect.effect.data.size() + 16;
    if (size > store::kMaxEffectBytes) {
      return make_error(ErrorCode::kRejected, "handler '" + effect.handler + "' produced a side effect over " +
                                                  std::to_string(store::kMaxEffectBytes) + " bytes");
    }
    effect_bytes += size + 64;
    effects.push_back(std::move(effect.effect));
  }

  Command& command = item.command;
  store::EntryDraft draft;
  draft.seq = seq;
  draft.epoch = env_.options.epoch;
  draft.time_ms = item.time_ms;
  // The draft borrows the command's strings, swapped in and back rather than
  // copied (a batch that falls back to one by one still needs them).
  const bool nil = command.data.empty();
  draft.id.swap(command.id);
  draft.type.swap(command.type);
  if (nil) {
    draft.payload.assign(1, static_cast<char>(0xc0));
  } else {
    draft.payload.swap(command.data);
  }
  Result<store::EncodedEntry> encoded = store::encode_entry(prev, draft);
  draft.id.swap(command.id);
  draft.type.swap(command.type);
  if (!nil) {
    draft.payload.swap(command.data);
  }
  if (!encoded.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "command cannot be logged: " + encoded.error().message);
  }
  std::vector<store::SnapshotRecord> snapshots;
  if (!env_.options.replicated && env_.options.snapshot_interval > 0 && seq % env_.options.snapshot_interval == 0) {
    QUORUM_ASSERT(after != nullptr);  // process() cuts batches at snapshot points
    for (const auto& [handler, state] : *after) {
      if (state.live.bytes.size() > store::kMaxProjectionBytes) {
        continue;  // too big to snapshot: recovery replays it instead
      }
      store::Snapshot taken;
      taken.seq = seq;
      taken.chain_hash = encoded->hash();
      taken.handler_version = semver_of(snapshot, handler, state.live.version);
      taken.projection_schema = state.live.projection_schema;
      taken.projection = state.live.bytes;
      snapshots.push_back(store::SnapshotRecord{handler, std::move(taken)});
    }
  }

  // Bounds: one actor's write must always fit in one store batch.
  size_t bytes = encoded->bytes().size() + 2 * command.id.size() + effect_bytes + 4 * key_.size() + 64;
  for (const store::SnapshotRecord& record : snapshots) {
    bytes += record.snapshot.projection.size() + record.handler.size() + key_.size() + 128;
  }
  const size_t ops = 3 + effects.size() + snapshots.size();
  if (bytes > env_.options.pending_bytes_bound || ops > kMaxPendingOps) {
    return make_error(ErrorCode::kRejected, "the command's entry, side effects and snapshots are too large to store");
  }
  const bool first = entries_.empty() && earlier_ops == 0;
  if (!first && (pending_bytes_ + earlier_bytes + bytes > env_.options.pending_bytes_bound ||
                 pending_ops_ + earlier_ops + ops > kMaxPendingOps)) {
    return make_error(ErrorCode::kResourceExhausted, "actor '" + key_ + "' has too much waiting to be written");
  }
  const store::Hash hash = encoded->hash();
  return Pending{.seq = seq,
                 .entry = std::move(encoded).value(),
                 .hash = hash,
                 .message = {},
                 .id = {},
                 .effects = std::move(effects),
                 .snapshots = std::move(snapshots),
                 .duplicates = {},
                 .bytes = bytes,
                 .ops = ops};
}

void Actor::accept(Admitted item, Pending pending) {
  QUORUM_ASSERT(pending.seq == pending_.seq + 1);
  pending_.seq = pending.seq;
  pending_.head = pending.hash;
  if (!item.command.id.empty()) {
    pending_ids_.insert(item.id_fingerprint, pending.seq);
  }
  pending_bytes_ += pending.bytes;
  pending_ops_ += pending.ops;
  pending.message = std::move(item.message);
  pending.id = std::move(item.command.id);
  pending.id_fingerprint = item.id_fingerprint;
  pending.token = item.token;
  entries_.push_back(std::move(pending));
}

std::string Actor::semver_of(const host::HostSnapshot& snapshot, const std::string& handler, host::VersionId id) const {
  for (const host::SlotView& slot : snapshot.slots) {
    if (slot.name != handler) {
      continue;
    }
    if (slot.active != nullptr && slot.active->id() == id) {
      return slot.active->semver();
    }
    if (slot.dark != nullptr && slot.dark->candidate->id() == id) {
      return slot.dark->candidate->semver();
    }
  }
  if (std::shared_ptr<const host::HandlerVersion> version = env_.plugins->version(id)) {
    return version->semver();
  }
  return "0.0.0";
}

bool Actor::wants_write() const noexcept {
  return !in_flight_ && in_flight_entries_ == 0 && deleting_.empty() && state_ != State::kFailed &&
         (!entries_.empty() || !confirmed_.empty());
}

size_t Actor::write_ops_estimate() const noexcept {
  size_t ops = 1 + confirmed_.size();
  for (const Pending& pending : entries_) {
    ops += 2 + pending.effects.size() + pending.snapshots.size();
  }
  return ops;
}

size_t Actor::write_bytes_estimate() const noexcept {
  size_t bytes = 256 + confirmed_.size() * (key_.size() + 32);
  for (const Pending& pending : entries_) {
    bytes += pending.bytes + 4 * key_.size() + 64 + (pending.effects.size() + 1) * (key_.size() + 32);
    for (const store::SnapshotRecord& record : pending.snapshots) {
      bytes += record.snapshot.projection.size() + key_.size() + record.handler.size() + 128;
    }
  }
  return bytes;
}

void Actor::take_write(store::WriteBatch& batch) {
  QUORUM_ASSERT(!env_.options.replicated);
  QUORUM_ASSERT(wants_write());
  QUORUM_ASSERT(admitted_.empty());
  auto must = [](const Status& status) { QUORUM_ASSERT(status.ok()); };
  // The entry bytes move into the batch (nothing reads them again unless a
  // stream event wants them: then they are copied).
  const bool events = env_.emit_events != nullptr && env_.emit_events->load(std::memory_order_relaxed);
  for (Pending& pending : entries_) {
    if (events) {
      must(batch.append(key_, pending.entry));
    } else {
      must(batch.append(key_, std::move(pending.entry)));
      pending.entry_taken = true;
    }
    if (!pending.id.empty()) {
      must(batch.put_idempotency(key_, pending.id, store::IdempotencyRecord{pending.seq, pending.hash}));
    }
    for (size_t i = 0; i < pending.effects.size(); ++i) {
      must(batch.put_outbox(key_, pending.seq, static_cast<uint32_t>(i), encode_effect(pending.effects[i])));
    }
    for (const store::SnapshotRecord& record : pending.snapshots) {
      must(batch.put_snapshot(key_, record.handler, record.snapshot));
    }
  }
  for (const auto& [seq, index] : confirmed_) {
    must(batch.delete_outbox(key_, seq, index));
  }
  deleting_ = std::move(confirmed_);
  confirmed_.clear();
  in_flight_entries_ = entries_.size();
  if (!entries_.empty()) {
    store::ReplicaMeta meta;
    meta.promised_epoch = env_.options.epoch;
    meta.last_seq = pending_.seq;
    meta.commit_seq = pending_.seq;
    meta.head = pending_.head;
    meta.last_accepted_epoch = env_.options.epoch;
    must(batch.put_meta(key_, meta));
    in_flight_ = pending_;
  } else {
    in_flight_ = std::nullopt;
    // A delete-only write: mark it in flight through deleting_.
    QUORUM_ASSERT(!deleting_.empty());
  }
}

void Actor::take_proposal(std::vector<store::EncodedEntry>& proposal) {
  QUORUM_ASSERT(env_.options.replicated);
  QUORUM_ASSERT(wants_write());
  QUORUM_ASSERT(admitted_.empty());
  QUORUM_ASSERT(confirmed_.empty());  // replicated actors keep no outbox
  QUORUM_ASSERT(!entries_.empty());
  const bool events = env_.emit_events != nullptr && env_.emit_events->load(std::memory_order_relaxed);
  proposal.reserve(proposal.size() + entries_.size());
  for (Pending& pending : entries_) {
    QUORUM_ASSERT(pending.snapshots.empty());
    if (events) {
      proposal.push_back(pending.entry);
    } else {
      proposal.push_back(std::move(pending.entry));
      pending.entry_taken = true;
    }
  }
  in_flight_entries_ = entries_.size();
  in_flight_ = pending_;
}

void Actor::drop_pending(std::string_view reason) {
  for (Pending& pending : entries_) {
    reply_error(pending.token, ErrorCode::kUnavailable, std::string(reason));
    for (ReplyToken duplicate : pending.duplicates) {
      reply_error(duplicate, ErrorCode::kUnavailable, std::string(reason));
    }
  }
  entries_.clear();
  pending_ids_.clear();
  pending_bytes_ = 0;
  pending_ops_ = 0;
  waiting_duplicates_ = 0;
  pending_ = durable_;
}

void Actor::write_done(const Status& status) {
  QUORUM_ASSERT(in_flight_ || in_flight_entries_ > 0 || !deleting_.empty());
  last_active_ms_ = env_.clock->now_ms();
  if (!status.ok()) {
    for (const auto& item : deleting_) {
      confirmed_.push_back(item);
    }
    deleting_.clear();
    in_flight_ = std::nullopt;
    in_flight_entries_ = 0;
    drop_pending("actor '" + key_ + "': the write failed, nothing was stored: " + status.error().message);
    return;
  }
  deleting_.clear();
  if (!in_flight_) {
    QUORUM_ASSERT(in_flight_entries_ == 0);
    return;
  }
  // Durable: projections applied, then side effects dispatched, then replies.
  store::Hash prev = durable_.head;
  durable_ = std::move(*in_flight_);
  in_flight_ = std::nullopt;
  const bool events = env_.emit_events != nullptr && env_.emit_events->load(std::memory_order_relaxed);
  const std::shared_ptr<const host::HostSnapshot> snapshot =
      events ? env_.plugins->snapshot() : std::shared_ptr<const host::HostSnapshot>{};
  for (size_t n = 0; n < in_flight_entries_; ++n) {
    Pending& pending = entries_.front();
    QUORUM_ASSERT(pending.seq <= durable_.seq);
    for (size_t i = 0; i < pending.effects.size(); ++i) {
      emit_delivery(pending.seq, static_cast<uint32_t>(i), pending.effects[i]);
    }
    const store::Hash hash = pending.hash;
    std::string stored;
    std::optional<store::EntryView> view;
    if (events && !pending.entry_taken) {
      view = pending.entry.view();
    } else if (events) {
      // Moved into the write before events were wanted: read it back.
      Result<std::vector<store::RawEntry>> page = env_.store->read_log(key_, pending.seq, 1);
      if (page.ok() && !page->empty() && page->front().seq == pending.seq) {
        stored = std::move(page->front().bytes);
        if (Result<store::EntryView> parsed = store::parse_entry(stored); parsed.ok()) {
          view = *parsed;
        }
      }
    }
    if (view) {
      StreamEvent event;
      event.key = key_;
      event.entry = LogEntryView{view->seq,
                                 view->epoch,
                                 view->time_ms,
                                 std::string(view->id),
                                 std::string(view->type),
                                 std::string(view->payload),
                                 store::to_hex(hash),
                                 store::to_hex(prev)};
      if (n + 1 == in_flight_entries_) {
        Result<ActorView> current = this->view();
        if (current.ok()) {
          event.projections = std::move(current->projections);
        }
      }
      outputs_.events.push_back(std::move(event));
    }
    prev = hash;
    reply(pending.token, receipt(pending.seq, hash, false));
    for (ReplyToken duplicate : pending.duplicates) {
      reply(duplicate, receipt(pending.seq, hash, true));
    }
    waiting_duplicates_ -= pending.duplicates.size();
    if (!pending.id.empty()) {
      remember(pending.id_fingerprint, pending.seq);
      const bool erased = pending_ids_.erase(pending.id_fingerprint, pending.seq);
      QUORUM_ASSERT(erased);
    }
    pending_bytes_ -= pending.bytes;
    pending_ops_ -= pending.ops;
    entries_.pop_front();
  }
  in_flight_entries_ = 0;
  history_->set_durable(durable_.seq);
}

void Actor::emit_delivery(uint64_t seq, uint32_t index, const host::Effect& effect) {
  outstanding_[{seq, index}] = effect;
  outputs_.deliveries.push_back(
      Delivery{key_, seq, index, Command{effect.to, effect_command_id(key_, seq, index), effect.type, effect.data}});
}

void Actor::delivery_confirmed(uint64_t source_seq, uint32_t index) {
  last_active_ms_ = env_.clock->now_ms();
  outstanding_.erase({source_seq, index});
  std::erase(retry_, std::pair<uint64_t, uint32_t>{source_seq, index});
  if (!env_.options.replicated && (std::find(confirmed_.begin(), confirmed_.end(),
                                             std::pair<uint64_t, uint32_t>{source_seq, index}) == confirmed_.end())) {
    confirmed_.emplace_back(source_seq, index);
  }
}

void Actor::delivery_failed(uint64_t source_seq, uint32_t index) {
  if (outstanding_.count({source_seq, index}) != 0) {
    retry_.emplace_back(source_seq, index);
  }
}

void Actor::tick() {
  std::vector<std::pair<uint64_t, uint32_t>> retry = std::move(retry_);
  retry_.clear();
  for (const auto& item : retry) {
    auto it = outstanding_.find(item);
    if (it != outstanding_.end()) {
      host::Effect effect = it->second;
      emit_delivery(item.first, item.second, effect);
    }
  }
}

void Actor::abandon(std::string_view reason) {
  while (!admitted_.empty()) {
    Admitted item = take_admitted();
    reply(item.token, make_error(ErrorCode::kUnavailable, std::string(reason)));
  }
  const size_t keep = in_flight_entries_;
  while (entries_.size() > keep) {
    Pending& pending = entries_.back();
    reply_error(pending.token, ErrorCode::kUnavailable, std::string(reason));
    for (ReplyToken duplicate : pending.duplicates) {
      reply_error(duplicate, ErrorCode::kUnavailable, std::string(reason));
    }
    waiting_duplicates_ -= pending.duplicates.size();
    if (!pending.id.empty()) {
      const bool erased = pending_ids_.erase(pending.id_fingerprint, pending.seq);
      QUORUM_ASSERT(erased);
    }
    pending_bytes_ -= pending.bytes;
    pending_ops_ -= pending.ops;
    entries_.pop_back();
  }
  pending_ = in_flight_ ? *in_flight_ : durable_;
}

void Actor::take_outputs(ActorOutputs& out) {
  for (Reply& reply : outputs_.replies) {
    out.replies.push_back(std::move(reply));
  }
  for (Delivery& delivery : outputs_.deliveries) {
    out.deliveries.push_back(std::move(delivery));
  }
  for (StreamEvent& event : outputs_.events) {
    out.events.push_back(std::move(event));
  }
  outputs_.clear();
}

Result<ActorView> Actor::view() const {
  if (state_ == State::kFailed) {
    return *failure_;
  }
  ActorView view;
  view.key = key_;
  view.seq = durable_.seq;
  view.head_hex = store::to_hex(durable_.head);
  const std::shared_ptr<const host::HostSnapshot> snapshot = env_.plugins->snapshot();
  std::set<std::string, std::less<>> seen;
  auto add = [&](const std::string& handler, const host::HandlerProjection& state) {
    view.projections.push_back(ActorView::Projection{handler, semver_of(*snapshot, handler, state.live.version),
                                                     state.live.projection_schema, state.live.bytes});
    seen.insert(handler);
  };
  for (const host::SlotView& slot : snapshot->slots) {
    if (auto it = durable_.projections->find(slot.name); it != durable_.projections->end()) {
      add(it->first, it->second);
    }
  }
  for (const auto& [handler, state] : *durable_.projections) {
    if (seen.count(handler) == 0) {
      add(handler, state);
    }
  }
  return view;
}

}  // namespace quorum::node
