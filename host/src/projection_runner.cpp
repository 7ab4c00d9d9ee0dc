#include <quorum/host/projection_runner.hpp>

#include <msgpack.hpp>

#include <utility>

namespace quorum::host {

namespace {

// The "id" of a message envelope, for divergence records ("" if absent).
std::string message_id(std::string_view message) {
  try {
    msgpack::object_handle handle = msgpack::unpack(message.data(), message.size());
    const msgpack::object& envelope = handle.get();
    if (envelope.type != msgpack::type::MAP) {
      return {};
    }
    for (uint32_t i = 0; i < envelope.via.map.size; ++i) {
      const msgpack::object_kv& kv = envelope.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == "id" &&
          kv.val.type == msgpack::type::STR) {
        return std::string(kv.val.via.str.ptr, kv.val.via.str.size);
      }
    }
  } catch (...) {
  }
  return {};
}

// msgpack array header for `count` elements.
void write_array_header(std::string& out, size_t count) {
  msgpack::sbuffer header;
  msgpack::packer<msgpack::sbuffer>(header).pack_array(static_cast<uint32_t>(count));
  out.append(header.data(), header.size());
}

bool same_output(const HandleResult& live, const HandleResult& candidate, bool compare_projection) {
  if (live.status != candidate.status) {
    return false;
  }
  if (!live.ok()) {
    return true;  // both refused: reasons may be worded differently
  }
  if (live.effects != candidate.effects) {
    return false;
  }
  return !compare_projection || live.projection == candidate.projection;
}

HandleResult failed_result(std::string error) {
  HandleResult result;
  result.status = CallStatus::kFailed;
  result.error = std::move(error);
  return result;
}

std::string describe(const HandlerVersion& version) {
  return version.name() + " " + version.semver() + " (version " + std::to_string(version.id()) + ")";
}

// The projection to continue from for `active`: the live one, or after a
// promote the candidate's shadow (which is exactly the live projection in
// the active version's terms). Null: the actor has none for this slot.
const ProjectionState* prior_for(const HandlerProjection* state, const HandlerVersion& active) {
  if (state == nullptr) {
    return nullptr;
  }
  if (state->live.version != active.id() && state->shadow && state->shadow->version == active.id()) {
    return &*state->shadow;
  }
  return &state->live;
}

// The prior projection's bytes when `version` continues from them as they
// are (continue_projection would return a copy of them); null otherwise. The
// hot path hands these to the plugin as a view instead of copying them.
const std::string* continued_as_is(const HandlerVersion& version, const ProjectionState* prior) {
  if (prior != nullptr && prior->version != kNoVersion &&
      (prior->version == version.id() || prior->projection_schema == version.projection_schema())) {
    return &prior->bytes;
  }
  return nullptr;
}

}  // namespace

ProjectionRunner::ProjectionRunner(const PluginHost& host, Options options) : host_(&host), options_(options) {
  QUORUM_ASSERT(options_.replay_batch_size > 0);
}

Result<std::string> ProjectionRunner::replay(const HandlerVersion& version, std::string projection,
                                             std::string_view key, const HistoryAccessor& history) const {
  const uint64_t length = history.size();
  uint64_t index = 0;
  // A handler that does not read history gets the log in batches; one that
  // does needs message i to see exactly the i messages before it.
  const bool batch = version.has_handle_batch() && !version.reads_history() && options_.replay_batch_size > 1;
  std::string messages;
  while (index < length) {
    if (batch) {
      const uint64_t count = std::min<uint64_t>(options_.replay_batch_size, length - index);
      messages.clear();
      write_array_header(messages, count);
      bool readable = true;
      for (uint64_t i = index; i < index + count; ++i) {
        std::optional<std::string_view> entry = history.read(i);
        if (!entry) {
          readable = false;
          break;
        }
        messages.append(*entry);
      }
      if (!readable) {
        return make_error(ErrorCode::kIo, "history of '" + std::string(key) + "' is not readable while replaying");
      }
      PrefixHistory prefix(history, index);
      BatchResult result = version.handle_batch(key, projection, messages, count, prefix);
      if (result.ok()) {
        projection = std::move(result.projection);
        index += count;
        continue;
      }
      // A failed batch (a message that throws) is replayed one by one, so
      // the error names the message.
    }
    const uint64_t end = batch ? std::min<uint64_t>(index + options_.replay_batch_size, length) : length;
    for (; index < end; ++index) {
      std::optional<std::string_view> entry = history.read(index);
      if (!entry) {
        return make_error(ErrorCode::kIo, "history entry " + std::to_string(index) + " of '" + std::string(key) +
                                              "' is not readable while replaying");
      }
      const std::string message(*entry);  // the plugin may read history, which invalidates the view
      PrefixHistory prefix(history, index);
      HandleResult result = version.handle(key, projection, message, prefix);
      if (result.ok()) {
        projection = std::move(result.projection);
      } else if (result.status == CallStatus::kFailed) {
        return make_error(ErrorCode::kPluginFailed, "replaying history entry " + std::to_string(index) + " through " +
                                                        describe(version) + " failed: " + result.error);
      }
      // A message the new version rejects leaves its projection unchanged.
    }
  }
  return projection;
}

Result<std::string> ProjectionRunner::continue_projection(const HandlerVersion& version, const ProjectionState* prior,
                                                          std::string_view key, const HistoryAccessor& history) const {
  if (prior != nullptr && prior->version != kNoVersion) {
    if (prior->version == version.id() || prior->projection_schema == version.projection_schema()) {
      return prior->bytes;
    }
    if (version.has_migrate()) {
      return version.migrate(prior->projection_schema, prior->bytes);
    }
  }
  Result<std::string> initial = version.initial_projection();
  if (!initial.ok() || history.size() == 0) {
    return initial;
  }
  return replay(version, std::move(initial).value(), key, history);
}

RunResult ProjectionRunner::run(std::string_view key, const ActorProjections& current, const HistoryAccessor& history,
                                std::string_view message) const {
  // The lease: these versions handle the whole message, whatever swaps
  // happen meanwhile; they stay loaded until `snapshot` goes.
  const std::shared_ptr<const HostSnapshot> snapshot = host_->snapshot();
  QUORUM_ASSERT(snapshot != nullptr);
  return run(*snapshot, key, current, history, message);
}

RunResult ProjectionRunner::run(const HostSnapshot& snapshot, std::string_view key, const ActorProjections& current,
                                const HistoryAccessor& history, std::string_view message) const {
  RunResult out;
  out.generation = snapshot.generation;
  auto refuse = [&](const std::string& handler, CallStatus status, std::string error) {
    RunResult refused;
    refused.status = status;
    refused.handler = handler;
    refused.error = std::move(error);
    refused.generation = snapshot.generation;
    return refused;
  };

  for (const SlotView& slot : snapshot.slots) {
    if (slot.active == nullptr) {
      continue;
    }
    const HandlerVersion& active = *slot.active;
    const auto found = current.find(slot.name);
    const HandlerProjection* state = found != current.end() ? &found->second : nullptr;

    // 1. The live projection in the active version's terms (a view of the
    // current one when it continues as is).
    const ProjectionState* prior = prior_for(state, active);
    std::string rebuilt;
    std::string_view live_before;
    if (const std::string* same = continued_as_is(active, prior)) {
      live_before = *same;
    } else {
      Result<std::string> continued = continue_projection(active, prior, key, history);
      if (!continued.ok()) {
        return refuse(slot.name, CallStatus::kFailed,
                      "cannot bring the projection up to " + describe(active) + ": " + continued.error().message);
      }
      rebuilt = std::move(continued).value();
      live_before = rebuilt;
    }

    // 2. The live call.
    HandleResult live = active.handle(key, live_before, message, history);

    // 3. The dark candidate, on the same message, from its own shadow.
    std::optional<ProjectionState> shadow_after;
    if (slot.dark != nullptr) {
      const HandlerVersion& candidate = *slot.dark->candidate;
      const ProjectionState live_state{active.id(), active.projection_schema(), std::string(live_before)};
      const ProjectionState* shadow_prior = &live_state;
      if (state != nullptr && state->shadow && state->shadow->version == candidate.id()) {
        shadow_prior = &*state->shadow;
      }
      Result<std::string> shadow_before = continue_projection(candidate, shadow_prior, key, history);
      HandleResult shadow = shadow_before.ok()
                                ? candidate.handle(key, *shadow_before, message, history)
                                : failed_result("cannot bring the shadow projection up to " + describe(candidate) +
                                                ": " + shadow_before.error().message);
      const bool comparable = candidate.projection_schema() == active.projection_schema();
      if (!same_output(live, shadow, comparable)) {
        candidate.count_divergence();
        DivergenceRecord record;
        record.handler = slot.name;
        record.live_version = active.id();
        record.candidate_version = candidate.id();
        record.key = std::string(key);
        record.message_id = message_id(message);
        record.message = std::string(message);
        record.live = live;
        record.candidate = shadow;
        slot.dark->divergences->record(std::move(record));
      }
      // The shadow advances as the candidate would have if the message had
      // been accepted by the live handlers (a refusal leaves it unchanged).
      if (shadow.ok()) {
        shadow_after = ProjectionState{candidate.id(), candidate.projection_schema(), std::move(shadow.projection)};
      } else if (shadow_before.ok()) {
        shadow_after = ProjectionState{candidate.id(), candidate.projection_schema(), std::move(shadow_before).value()};
      }
    }

    if (!live.ok()) {
      return refuse(slot.name, live.status, std::move(live.error));
    }
    HandlerProjection& next = out.projections[slot.name];
    next.live = ProjectionState{active.id(), active.projection_schema(), std::move(live.projection)};
    next.shadow = std::move(shadow_after);
    for (Effect& effect : live.effects) {
      out.effects.push_back(EmittedEffect{slot.name, std::move(effect)});
    }
  }
  out.status = CallStatus::kOk;
  return out;
}

BatchRunResult ProjectionRunner::run_batch(const HostSnapshot& snapshot, std::string_view key,
                                           const ActorProjections& current, const HistoryAccessor& history,
                                           const std::vector<std::string_view>& messages) const {
  BatchRunResult out;
  out.generation = snapshot.generation;
  for (const SlotView& slot : snapshot.slots) {
    if (slot.active != nullptr &&
        (slot.dark != nullptr || !slot.active->has_handle_batch() || slot.active->reads_history())) {
      return out;  // not batchable: the caller runs the messages one by one
    }
  }
  std::string array;
  size_t bytes = 0;
  for (std::string_view message : messages) {
    bytes += message.size();
  }
  array.reserve(bytes + 5);
  write_array_header(array, messages.size());
  for (std::string_view message : messages) {
    array.append(message);
  }
  out.effects.resize(messages.size());

  for (const SlotView& slot : snapshot.slots) {
    if (slot.active == nullptr) {
      continue;
    }
    const HandlerVersion& active = *slot.active;
    const auto found = current.find(slot.name);
    const HandlerProjection* state = found != current.end() ? &found->second : nullptr;
    const ProjectionState* prior = prior_for(state, active);
    std::string rebuilt;
    std::string_view live_before;
    if (const std::string* same = continued_as_is(active, prior)) {
      live_before = *same;  // no copy of the projection
    } else {
      Result<std::string> continued = continue_projection(active, prior, key, history);
      if (!continued.ok()) {
        return BatchRunResult{};
      }
      rebuilt = std::move(continued).value();
      live_before = rebuilt;
    }
    BatchResult result = active.handle_batch(key, live_before, array, messages.size(), history);
    if (!result.ok() || result.results.size() != messages.size()) {
      return BatchRunResult{};
    }
    for (size_t i = 0; i < messages.size(); ++i) {
      HandleResult& one = result.results[i];
      if (!one.ok()) {
        return BatchRunResult{};  // a refusal: only run() knows what the next messages would see
      }
      for (Effect& effect : one.effects) {
        out.effects[i].push_back(EmittedEffect{slot.name, std::move(effect)});
      }
    }
    HandlerProjection& next = out.projections[slot.name];
    next.live = ProjectionState{active.id(), active.projection_schema(), std::move(result.projection)};
  }
  out.complete = true;
  return out;
}

Result<ActorProjections> ProjectionRunner::refresh(std::string_view key, const ActorProjections& current,
                                                   const HistoryAccessor& history) const {
  const std::shared_ptr<const HostSnapshot> snapshot = host_->snapshot();
  ActorProjections out;
  for (const SlotView& slot : snapshot->slots) {
    if (slot.active == nullptr) {
      continue;
    }
    const auto found = current.find(slot.name);
    const HandlerProjection* state = found != current.end() ? &found->second : nullptr;
    Result<std::string> bytes = continue_projection(*slot.active, prior_for(state, *slot.active), key, history);
    if (!bytes.ok()) {
      return make_error(bytes.error().code, "handler '" + slot.name + "': " + bytes.error().message);
    }
    HandlerProjection& next = out[slot.name];
    next.live = ProjectionState{slot.active->id(), slot.active->projection_schema(), std::move(bytes).value()};
    if (state != nullptr && slot.dark != nullptr && state->shadow &&
        state->shadow->version == slot.dark->candidate->id()) {
      next.shadow = state->shadow;
    }
  }
  return out;
}

}  // namespace quorum::host
