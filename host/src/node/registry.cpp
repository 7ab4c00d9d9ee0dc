#include <quorum/node/registry.hpp>

#include <quorum/host/assert.hpp>

#include <algorithm>

namespace quorum::node {

Registry::Registry(ActorEnv env, RegistryOptions options) : env_(env), options_(options) {
  QUORUM_ASSERT(options_.max_active > 0);
}

Actor* Registry::find(std::string_view key) {
  auto it = actors_.find(std::string(key));
  return it == actors_.end() ? nullptr : it->second.actor.get();
}

void Registry::touch(Slot& slot) { lru_.splice(lru_.begin(), lru_, slot.lru); }

void Registry::note(Actor& actor) {
  if (actor.has_outputs()) {
    if (std::find(with_outputs_.rbegin(), with_outputs_.rend(), &actor) == with_outputs_.rend()) {
      with_outputs_.push_back(&actor);
    }
  }
  if (actor.wants_write()) {
    writers_.insert(&actor);
  }
  if (actor.has_admitted()) {
    admitted_.insert(&actor);
  }
  if (actor.state() == Actor::State::kCrashed) {
    crashed_.insert(&actor);
  }
}

void Registry::forget(Actor& actor) {
  std::erase(with_outputs_, &actor);
  writers_.erase(&actor);
  admitted_.erase(&actor);
  crashed_.erase(&actor);
}

Actor& Registry::start(std::string_view key) {
  std::unique_ptr<Actor> actor = Actor::recover(env_, std::string(key));
  ++counters_.started;
  if (actor->state() == Actor::State::kFailed) {
    ++counters_.failed_total;
  }
  lru_.emplace_front(key);
  Actor* raw = actor.get();
  actors_.emplace(std::string(key), Slot{std::move(actor), lru_.begin()});
  note(*raw);
  evict_over_bound();
  return *raw;
}

Actor& Registry::get(std::string_view key) {
  auto it = actors_.find(std::string(key));
  if (it != actors_.end()) {
    touch(it->second);
    return *it->second.actor;
  }
  return start(key);
}

bool Registry::passivate(const std::string& key) {
  auto it = actors_.find(key);
  QUORUM_ASSERT(it != actors_.end());
  Actor& actor = *it->second.actor;
  if (!actor.quiescent() || actor.outstanding_deliveries() > 0) {
    return false;
  }
  drop(it);
  ++counters_.passivated;
  return true;
}

void Registry::drop(std::unordered_map<std::string, Slot>::iterator it) {
  Actor& actor = *it->second.actor;
  for (auto& [handler, count] : actor.take_handler_errors()) {
    handler_errors_[handler] += count;
  }
  forget(actor);
  lru_.erase(it->second.lru);
  actors_.erase(it);
}

bool Registry::unload(std::string_view key) {
  auto it = actors_.find(std::string(key));
  if (it == actors_.end()) {
    return true;
  }
  Actor& actor = *it->second.actor;
  if (actor.has_admitted() || actor.queue_depth() > 0 || actor.write_in_flight() || actor.has_outputs()) {
    return false;
  }
  drop(it);
  return true;
}

void Registry::discard(std::string_view key, std::string_view reason) {
  auto it = actors_.find(std::string(key));
  if (it == actors_.end()) {
    return;
  }
  Actor& actor = *it->second.actor;
  if (actor.write_in_flight()) {
    actor.write_done(make_error(ErrorCode::kUnavailable, std::string(reason)));
  }
  actor.abandon(reason);
  ActorOutputs outputs;
  actor.take_outputs(outputs);
  pending_replies_.insert(pending_replies_.end(), std::make_move_iterator(outputs.replies.begin()),
                          std::make_move_iterator(outputs.replies.end()));
  drop(it);
}

void Registry::evict_over_bound() {
  if (actors_.size() <= options_.max_active) {
    return;
  }
  // Least recently used first; skip busy ones (bounded scan). The actor just
  // started is at the front and is never the victim.
  auto it = lru_.end();
  size_t scanned = 0;
  while (actors_.size() > options_.max_active && it != lru_.begin() && scanned < options_.eviction_scan_bound) {
    --it;
    ++scanned;
    if (it == lru_.begin()) {
      break;
    }
    const std::string key = *it;
    auto previous = std::next(it);  // passivate erases `it`
    if (passivate(key)) {
      it = previous;
    }
  }
}

void Registry::submit(Command command, ReplyToken token) {
  const std::string key = command.key;
  Actor& actor = get(key);
  actor.submit(std::move(command), token);
  note(actor);
}

void Registry::delivery_confirmed(std::string_view source, uint64_t source_seq, uint32_t index) {
  Actor& actor = get(source);
  actor.delivery_confirmed(source_seq, index);
  note(actor);
}

void Registry::delivery_failed(std::string_view source, uint64_t source_seq, uint32_t index) {
  Actor& actor = get(source);
  actor.delivery_failed(source_seq, index);
  note(actor);
}

void Registry::process() {
  std::vector<Actor*> actors(admitted_.begin(), admitted_.end());
  admitted_.clear();
  for (Actor* actor : actors) {
    actor->process();
    note(*actor);
  }
}

std::vector<Actor*> Registry::writers() {
  process();
  std::vector<Actor*> out;
  for (Actor* actor : writers_) {
    if (actor->wants_write()) {
      out.push_back(actor);
    }
  }
  writers_.clear();
  std::sort(out.begin(), out.end(), [](const Actor* a, const Actor* b) { return a->key() < b->key(); });
  return out;
}

void Registry::write_done(Actor& actor, const Status& status) {
  actor.write_done(status);
  note(actor);
}

void Registry::supervise() {
  if (crashed_.empty()) {
    return;
  }
  std::vector<std::string> crashed;
  for (Actor* actor : crashed_) {
    if (!actor->write_in_flight()) {
      crashed.push_back(actor->key());
    }
  }
  for (const std::string& key : crashed) {
    auto it = actors_.find(key);
    Actor& old = *it->second.actor;
    old.abandon("actor '" + key + "' restarted after a crash: " + old.failure().message);
    ActorOutputs outputs;
    old.take_outputs(outputs);
    for (auto& [handler, count] : old.take_handler_errors()) {
      handler_errors_[handler] += count;
    }
    forget(old);
    it->second.actor = Actor::recover(env_, key);
    ++counters_.restarted;
    ++counters_.started;
    note(*it->second.actor);
    // The old incarnation's answers still go out.
    std::vector<Reply> replies = std::move(outputs.replies);
    pending_replies_.insert(pending_replies_.end(), std::make_move_iterator(replies.begin()),
                            std::make_move_iterator(replies.end()));
  }
}

void Registry::tick(int64_t now_ms) {
  supervise();
  for (auto& [key, slot] : actors_) {
    slot.actor->tick();
    note(*slot.actor);
  }
  if (options_.idle_passivation_ms <= 0) {
    return;
  }
  auto it = lru_.end();
  size_t scanned = 0;
  while (it != lru_.begin() && scanned < lru_.size()) {
    --it;
    ++scanned;
    auto found = actors_.find(*it);
    QUORUM_ASSERT(found != actors_.end());
    if (now_ms - found->second.actor->last_active_ms() < options_.idle_passivation_ms) {
      break;  // the rest were used more recently
    }
    const std::string key = *it;
    auto next = std::next(it);
    if (passivate(key)) {
      it = next;
    }
  }
}

void Registry::take_outputs(ActorOutputs& out) {
  supervise();
  for (Reply& reply : pending_replies_) {
    out.replies.push_back(std::move(reply));
  }
  pending_replies_.clear();
  std::vector<Actor*> actors = std::move(with_outputs_);
  with_outputs_.clear();
  for (Actor* actor : actors) {
    actor->take_outputs(out);
    for (auto& [handler, count] : actor->take_handler_errors()) {
      handler_errors_[handler] += count;
    }
  }
}

void Registry::abandon_all(std::string_view reason) {
  for (auto& [key, slot] : actors_) {
    slot.actor->abandon(reason);
    note(*slot.actor);
  }
}

void Registry::drop_all() {
  actors_.clear();
  lru_.clear();
  with_outputs_.clear();
  writers_.clear();
  admitted_.clear();
  crashed_.clear();
  pending_replies_.clear();
}

size_t Registry::failed() const noexcept {
  size_t count = 0;
  for (const auto& [key, slot] : actors_) {
    count += slot.actor->state() == Actor::State::kFailed ? 1 : 0;
  }
  return count;
}

size_t Registry::outstanding_deliveries() const noexcept {
  size_t count = 0;
  for (const auto& [key, slot] : actors_) {
    count += slot.actor->outstanding_deliveries();
  }
  return count;
}

size_t Registry::queue_depth() const noexcept {
  size_t depth = 0;
  for (const auto& [key, slot] : actors_) {
    depth += slot.actor->queue_depth();
  }
  return depth;
}

}  // namespace quorum::node
