// ProjectionRunner: runs one message for one actor through every active
// handler, sans-IO. It owns no actor state: the caller passes the actor's
// projections and history in and gets the new projections and side effects
// back, so the same code serves the node's actors, the simulator, the demo
// tool and a citizen's verifier.
//
// Per message, with the versions of one HostSnapshot (taken at the start and
// held to the end, so a hot-swap never splits a message):
// - Each slot's projection is first brought to the slot's active version:
//   same version or same projection_schema -> continue from it; otherwise
//   migrate() if the new version has it; otherwise rebuild by replaying the
//   actor's history through the new version from its init (or empty)
//   projection. A slot new to the actor starts from init and, if the actor
//   has history, replays it.
// - Handlers run in activation order. If one rejects or fails, the command is
//   refused with that handler's reason and nothing changes (no projection,
//   no shadow, no effect). Otherwise all new projections and all effects
//   (in slot order) are returned.
// - A slot with a dark candidate also runs the candidate on the same message
//   from its own shadow projection; outputs are compared (status, effects,
//   and projection bytes when the schemas are equal), divergences are
//   counted and recorded, and nothing the candidate returns reaches live
//   state. After promote() the shadow becomes the live projection as is.
//
// Threads: run() is const and safe to call concurrently for different
// actors; the caller must not run two messages of the same actor at once
// (an actor is single-threaded by design). Control operations on the
// PluginHost may happen at any time from other threads.
#pragma once

#include <quorum/host/handle_result.hpp>
#include <quorum/host/history.hpp>
#include <quorum/host/plugin_host.hpp>
#include <quorum/host/result.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::host {

// A projection and the version that wrote it.
struct ProjectionState {
  VersionId version = kNoVersion;
  uint32_t projection_schema = 0;
  std::string bytes;
  friend bool operator==(const ProjectionState&, const ProjectionState&) = default;
};

// One slot's state for one actor: the live projection and, during a dark
// launch, the candidate's shadow projection.
struct HandlerProjection {
  ProjectionState live;
  std::optional<ProjectionState> shadow;
  friend bool operator==(const HandlerProjection&, const HandlerProjection&) = default;
};

// All projections of one actor, by handler (slot) name. Owned by the actor.
using ActorProjections = std::map<std::string, HandlerProjection, std::less<>>;

struct EmittedEffect {
  std::string handler;  // the slot that produced it
  Effect effect;
};

struct RunResult {
  CallStatus status = CallStatus::kFailed;  // kOk, or why the command was refused
  std::string handler;                      // the slot that refused (status != kOk)
  std::string error;                        // its reason (status != kOk)
  ActorProjections projections;             // the new state (status == kOk only)
  std::vector<EmittedEffect> effects;       // status == kOk only
  uint64_t generation = 0;                  // the HostSnapshot used
  bool ok() const noexcept { return status == CallStatus::kOk; }
};

// The outcome of run_batch(). Usable only when complete.
struct BatchRunResult {
  bool complete = false;                            // every handler accepted every message
  ActorProjections projections;                     // the state after the last message
  std::vector<std::vector<EmittedEffect>> effects;  // per message, in slot order
  uint64_t generation = 0;                          // the HostSnapshot used
};

class ProjectionRunner {
 public:
  struct Options {
    // Messages per handle_batch call when rebuilding a projection of a
    // handler that does not read history.
    size_t replay_batch_size = 256;
  };

  // The host must outlive the runner.
  explicit ProjectionRunner(const PluginHost& host) : ProjectionRunner(host, Options{}) {}
  ProjectionRunner(const PluginHost& host, Options options);

  // Handles `message` (a msgpack envelope) for actor `key`, whose state is
  // `current` and whose earlier accepted messages are `history`. On kOk the
  // caller stores result.projections and appends the message to history.
  RunResult run(std::string_view key, const ActorProjections& current, const HistoryAccessor& history,
                std::string_view message) const;
  // The same with a snapshot the caller already holds.
  RunResult run(const HostSnapshot& snapshot, std::string_view key, const ActorProjections& current,
                const HistoryAccessor& history, std::string_view message) const;

  // Runs `messages` (envelopes, in log order) with one handle_batch call per
  // active handler: the per-message cost of decoding and encoding each
  // projection is paid once per batch. When complete, the result equals
  // calling run() once per message (the projections after the last one, the
  // effects of each). It is attempted only where that equality is certain:
  // no slot has a dark candidate, and every active handler has handle_batch
  // and does not read history (handle_batch sees the history before the
  // first message). Otherwise, or when any handler refuses or fails any
  // message, the result is not complete and nothing of it may be used: the
  // caller runs the messages one by one with run(), which also names the
  // refusing handler and its reason.
  BatchRunResult run_batch(const HostSnapshot& snapshot, std::string_view key, const ActorProjections& current,
                           const HistoryAccessor& history, const std::vector<std::string_view>& messages) const;

  // Brings every projection to the active versions without a message (so a
  // reader sees projections in the current schema after a swap). Shadows
  // are kept as they are. Error if a handler fails to migrate or replay.
  Result<ActorProjections> refresh(std::string_view key, const ActorProjections& current,
                                   const HistoryAccessor& history) const;

  // The projection `version` would have for this actor, continuing from
  // `prior` (null: none yet) as described above. Public for tests and tools.
  Result<std::string> continue_projection(const HandlerVersion& version, const ProjectionState* prior,
                                          std::string_view key, const HistoryAccessor& history) const;

 private:
  Result<std::string> replay(const HandlerVersion& version, std::string projection, std::string_view key,
                             const HistoryAccessor& history) const;

  const PluginHost* host_;
  Options options_;
};

}  // namespace quorum::host
