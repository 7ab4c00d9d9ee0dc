// Registry: one shard's map of key -> running Actor, with supervision and
// passivation. Sans-IO like the actor: the driver (LocalNode's shard loop,
// or a test) feeds it inputs and drains outputs.
//
// - An actor starts on the first message for it by recovering from the
//   store (Actor::recover). One whose stored state cannot be trusted stays
//   registered in State::kFailed and answers everything with kUnavailable
//   (counted in failed()).
// - Supervision: an actor that crashed while processing (a store read or
//   history error) is restarted from its log once no write of it is in
//   flight; what it had queued (not in flight) is answered kUnavailable.
//   A failing handler only fails its command (the actor's concern).
// - Passivation: quiescent actors idle for idle_passivation_ms are dropped
//   (tick()), and when more than max_active actors run, the least recently
//   used quiescent ones are dropped. Memory is bounded by active actors.
//
// Threads: none; one thread (the shard's) uses a registry.
// Ownership: owns its actors; borrows what ActorEnv points to.
#pragma once

#include <quorum/node/actor.hpp>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace quorum::node {

struct RegistryOptions {
  size_t max_active = 100'000;           // running actors; LRU passivation above it
  int64_t idle_passivation_ms = 60'000;  // a quiescent actor idle this long is dropped (<= 0: never)
  size_t eviction_scan_bound = 64;       // actors looked at per LRU eviction
};

struct RegistryCounters {
  uint64_t started = 0;  // actors recovered (first message, re-activation, restart)
  uint64_t passivated = 0;
  uint64_t restarted = 0;     // crashed actors restarted from their log
  uint64_t failed_total = 0;  // actors that came up refusing service
};

class Registry {
 public:
  Registry(ActorEnv env, RegistryOptions options);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The actor of `key`, started (recovered) if it is not running.
  Actor& get(std::string_view key);
  // The running actor, or null.
  Actor* find(std::string_view key);

  // Inputs, routed to the key's actor (started if needed).
  void submit(Command command, ReplyToken token);
  void delivery_confirmed(std::string_view source, uint64_t source_seq, uint32_t index);
  void delivery_failed(std::string_view source, uint64_t source_seq, uint32_t index);

  // Runs the admitted commands of every actor that has some (Actor::process:
  // the commands that arrived since the last round share handler calls).
  void process();
  // Actors that want a write now, in key order, after process() (the driver
  // takes their writes into one batch, commits it and calls write_done on
  // each).
  std::vector<Actor*> writers();
  // True if writers() may return someone (cheap: no scan).
  bool has_writers() const noexcept { return !writers_.empty() || !admitted_.empty(); }
  void write_done(Actor& actor, const Status& status);

  // Timer: idle passivation, delivery retries, supervision.
  void tick(int64_t now_ms);
  // Restarts crashed actors that have no write in flight.
  void supervise();

  // Drains every actor's outputs.
  void take_outputs(ActorOutputs& out);

  // Drops the actor of `key` if it runs and has nothing queued, accepted or
  // in flight (its next message recovers it from the store): the hand-off
  // of a key between nodes rewrites the stored log under it. Undelivered
  // side effects stay in the outbox and are re-sent by the next incarnation.
  // False if the actor is busy (nothing changed).
  bool unload(std::string_view key);
  // Drops the actor of `key` whatever it holds (replicated keys whose
  // writer stopped here): a write in flight fails, everything waiting is
  // answered kUnavailable with `reason` (clients retry with their ids), and
  // undelivered effects are forgotten (the key's next writer re-derives
  // them). No-op if the key has no running actor.
  void discard(std::string_view key, std::string_view reason);

  // Node shutdown: answers everything queued (nothing may be in flight).
  void abandon_all(std::string_view reason);
  // A process crash in tests: forgets every actor without answering.
  void drop_all();

  size_t active() const noexcept { return actors_.size(); }
  size_t failed() const noexcept;
  size_t queue_depth() const noexcept;
  // Side effects emitted by running actors and not yet confirmed by their
  // receivers (an actor with some is never passivated).
  size_t outstanding_deliveries() const noexcept;
  const RegistryCounters& counters() const noexcept { return counters_; }
  // Handler errors of every actor ever run here, by handler.
  const std::map<std::string, uint64_t>& handler_errors() const noexcept { return handler_errors_; }

 private:
  struct Slot {
    std::unique_ptr<Actor> actor;
    std::list<std::string>::iterator lru;
  };
  Actor& start(std::string_view key);
  void touch(Slot& slot);
  bool passivate(const std::string& key);
  // Removes a running actor (its handler error counts are kept).
  void drop(std::unordered_map<std::string, Slot>::iterator it);
  void evict_over_bound();
  // Files the actor under the sets below after an input reached it.
  void note(Actor& actor);
  void forget(Actor& actor);

  ActorEnv env_;
  RegistryOptions options_;
  std::unordered_map<std::string, Slot> actors_;
  std::list<std::string> lru_;  // front: most recently used
  // Work indexes, so no call scans every actor: actors with outputs to
  // drain, actors that may want a write or have commands to process,
  // crashed actors to restart.
  std::vector<Actor*> with_outputs_;
  std::unordered_set<Actor*> writers_;
  std::unordered_set<Actor*> admitted_;  // actors with admitted commands
  std::unordered_set<Actor*> crashed_;
  RegistryCounters counters_;
  std::map<std::string, uint64_t> handler_errors_;
  std::vector<Reply> pending_replies_;  // answers of restarted actors' old incarnations
};

}  // namespace quorum::node
