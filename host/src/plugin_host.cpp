#include <quorum/host/descriptor_check.hpp>
#include <quorum/host/plugin_host.hpp>

#include <algorithm>
#include <utility>

namespace quorum::host {

// One handler slot. Guarded by PluginHost::mutex_.
struct PluginHost::Slot {
  std::string name;
  std::vector<std::shared_ptr<const HandlerVersion>> versions;  // loaded, by id; at most max_versions_per_slot
  std::shared_ptr<const HandlerVersion> active;
  VersionId previous = kNoVersion;  // rollback target
  std::shared_ptr<const DarkLaunch> dark;
  std::shared_ptr<DivergenceLog> last_divergences;  // of the current or last dark launch
};

std::string_view to_string(VersionState state) noexcept {
  switch (state) {
    case VersionState::kStandby: return "standby";
    case VersionState::kActive: return "active";
    case VersionState::kDark: return "dark";
  }
  return "unknown";
}

PluginHost::PluginHost(Options options) : options_(std::move(options)), loader_(options_.cache_dir) {
  QUORUM_ASSERT(!options_.cache_dir.empty());
  QUORUM_ASSERT(options_.max_slots > 0 && options_.max_versions_per_slot > 0);
  std::lock_guard lock(mutex_);
  publish();
}

PluginHost::~PluginHost() = default;

PluginHost::Slot* PluginHost::find_slot(std::string_view name) {
  for (auto& slot : slots_) {
    if (slot->name == name) {
      return slot.get();
    }
  }
  return nullptr;
}

const PluginHost::Slot* PluginHost::find_slot(std::string_view name) const {
  for (const auto& slot : slots_) {
    if (slot->name == name) {
      return slot.get();
    }
  }
  return nullptr;
}

Result<PluginHost::Slot*> PluginHost::require_slot(std::string_view name) {
  if (Slot* slot = find_slot(name)) {
    return slot;
  }
  return make_error(ErrorCode::kNotFound, "no handler slot named '" + std::string(name) + "'");
}

std::shared_ptr<const HandlerVersion> PluginHost::find_version(const Slot& slot, VersionId id) const {
  for (const auto& version : slot.versions) {
    if (version->id() == id) {
      return version;
    }
  }
  return nullptr;
}

void PluginHost::publish() {
  auto snapshot = std::make_shared<HostSnapshot>();
  snapshot->generation = ++generation_;
  snapshot->slots.reserve(slots_.size());
  for (const auto& slot : slots_) {
    QUORUM_ASSERT(slot->dark == nullptr || slot->active != nullptr);
    QUORUM_ASSERT(slot->dark == nullptr || slot->dark->candidate != slot->active);
    snapshot->slots.push_back(SlotView{slot->name, slot->active, slot->dark});
  }
  snapshot_.store(std::move(snapshot), std::memory_order_release);
}

std::shared_ptr<const HostSnapshot> PluginHost::snapshot() const { return snapshot_.load(std::memory_order_acquire); }

Status PluginHost::add_slot(std::string_view name) {
  if (!is_valid_handler_name(name)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "handler name '" + std::string(name) + "' does not match [a-z0-9_-]{1,64}");
  }
  std::lock_guard lock(mutex_);
  if (find_slot(name) != nullptr) {
    return make_error(ErrorCode::kFailedPrecondition, "handler slot '" + std::string(name) + "' exists already");
  }
  if (slots_.size() >= options_.max_slots) {
    return make_error(ErrorCode::kResourceExhausted,
                      "the host holds " + std::to_string(options_.max_slots) + " handler slots, the limit");
  }
  auto slot = std::make_unique<Slot>();
  slot->name = std::string(name);
  slots_.push_back(std::move(slot));
  publish();
  return {};
}

Result<VersionId> PluginHost::load(std::string_view name, const std::filesystem::path& path) {
  if (!is_valid_handler_name(name)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "handler name '" + std::string(name) + "' does not match [a-z0-9_-]{1,64}");
  }
  // Load outside the control mutex: reading, hashing and dlopen take
  // milliseconds and must not hold up other control operations' callers.
  Result<std::shared_ptr<const LoadedLibrary>> library = loader_.load(path, name);
  if (!library.ok()) {
    return library.error();
  }
  return install(name, std::move(library).value());
}

Result<PluginHost::Loaded> PluginHost::load(const std::filesystem::path& path) {
  Result<std::shared_ptr<const LoadedLibrary>> library = loader_.load(path);
  if (!library.ok()) {
    return library.error();
  }
  const std::string name = (*library)->info().name;
  Result<VersionId> version = install(name, std::move(library).value());
  if (!version.ok()) {
    return version.error();
  }
  return Loaded{name, *version};
}

Result<VersionId> PluginHost::install(std::string_view name, std::shared_ptr<const LoadedLibrary> library) {
  QUORUM_ASSERT(library != nullptr && library->info().name == name);
  std::shared_ptr<const HandlerVersion> created;
  std::lock_guard lock(mutex_);
  Slot* slot = find_slot(name);
  if (slot == nullptr) {
    if (slots_.size() >= options_.max_slots) {
      return make_error(ErrorCode::kResourceExhausted,
                        "the host holds " + std::to_string(options_.max_slots) + " handler slots, the limit");
    }
    slots_.push_back(std::make_unique<Slot>());
    slot = slots_.back().get();
    slot->name = std::string(name);
  }
  for (const auto& version : slot->versions) {
    if (&version->library() == library.get()) {
      return version->id();
    }
  }
  if (slot->versions.size() >= options_.max_versions_per_slot) {
    return make_error(ErrorCode::kResourceExhausted, "handler '" + std::string(name) + "' holds " +
                                                         std::to_string(slot->versions.size()) +
                                                         " versions, the limit; unload one first");
  }
  created = std::make_shared<const HandlerVersion>(next_version_++, std::move(library));
  slot->versions.push_back(created);
  publish();
  return created->id();
}

Status PluginHost::activate(std::string_view name, VersionId id) {
  std::lock_guard lock(mutex_);
  Result<Slot*> slot = require_slot(name);
  if (!slot.ok()) {
    return slot.error();
  }
  std::shared_ptr<const HandlerVersion> version = find_version(**slot, id);
  if (version == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      "handler '" + std::string(name) + "' has no version " + std::to_string(id));
  }
  if ((*slot)->dark != nullptr && (*slot)->dark->candidate == version) {
    return make_error(ErrorCode::kFailedPrecondition, "version " + std::to_string(id) + " of '" + std::string(name) +
                                                          "' is the dark candidate; promote it instead");
  }
  if ((*slot)->active == version) {
    return {};
  }
  if ((*slot)->active != nullptr) {
    (*slot)->previous = (*slot)->active->id();
  }
  (*slot)->active = std::move(version);
  publish();
  return {};
}

Status PluginHost::rollback(std::string_view name) {
  std::lock_guard lock(mutex_);
  Result<Slot*> slot = require_slot(name);
  if (!slot.ok()) {
    return slot.error();
  }
  Slot& s = **slot;
  std::shared_ptr<const HandlerVersion> previous = find_version(s, s.previous);
  if (previous == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "handler '" + std::string(name) + "' has no previous version to roll back to");
  }
  if (s.dark != nullptr && s.dark->candidate == previous) {
    s.dark = nullptr;  // the rollback target wins over its own dark launch
  }
  s.previous = s.active != nullptr ? s.active->id() : kNoVersion;
  s.active = std::move(previous);
  publish();
  return {};
}

Status PluginHost::dark_launch(std::string_view name, VersionId id) {
  std::lock_guard lock(mutex_);
  Result<Slot*> slot = require_slot(name);
  if (!slot.ok()) {
    return slot.error();
  }
  Slot& s = **slot;
  std::shared_ptr<const HandlerVersion> version = find_version(s, id);
  if (version == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      "handler '" + std::string(name) + "' has no version " + std::to_string(id));
  }
  if (s.active == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "handler '" + std::string(name) + "' has no active version to compare a candidate with");
  }
  if (s.active == version) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "version " + std::to_string(id) + " of '" + std::string(name) + "' is already active");
  }
  auto dark = std::make_shared<DarkLaunch>();
  dark->candidate = std::move(version);
  dark->divergences = std::make_shared<DivergenceLog>(options_.divergence_capacity);
  s.last_divergences = dark->divergences;
  s.dark = std::move(dark);
  publish();
  return {};
}

Status PluginHost::promote(std::string_view name) {
  std::lock_guard lock(mutex_);
  Result<Slot*> slot = require_slot(name);
  if (!slot.ok()) {
    return slot.error();
  }
  Slot& s = **slot;
  if (s.dark == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition, "handler '" + std::string(name) + "' has no dark candidate");
  }
  s.previous = s.active->id();
  s.active = s.dark->candidate;
  s.dark = nullptr;
  publish();
  return {};
}

Status PluginHost::drop(std::string_view name) {
  std::lock_guard lock(mutex_);
  Result<Slot*> slot = require_slot(name);
  if (!slot.ok()) {
    return slot.error();
  }
  if ((*slot)->dark == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition, "handler '" + std::string(name) + "' has no dark candidate");
  }
  (*slot)->dark = nullptr;
  publish();
  return {};
}

Status PluginHost::unload(std::string_view name, VersionId id) {
  std::shared_ptr<const HandlerVersion> released;  // dropped after the lock: may dlclose
  std::lock_guard lock(mutex_);
  Result<Slot*> slot = require_slot(name);
  if (!slot.ok()) {
    return slot.error();
  }
  Slot& s = **slot;
  auto it = std::find_if(s.versions.begin(), s.versions.end(), [&](const auto& v) { return v->id() == id; });
  if (it == s.versions.end()) {
    return make_error(ErrorCode::kNotFound,
                      "handler '" + std::string(name) + "' has no version " + std::to_string(id));
  }
  if (s.active == *it) {
    return make_error(ErrorCode::kFailedPrecondition, "version " + std::to_string(id) + " of '" + std::string(name) +
                                                          "' is active; activate another version first");
  }
  if (s.dark != nullptr && s.dark->candidate == *it) {
    return make_error(ErrorCode::kFailedPrecondition, "version " + std::to_string(id) + " of '" + std::string(name) +
                                                          "' is the dark candidate; drop it first");
  }
  released = std::move(*it);
  s.versions.erase(it);
  if (s.previous == id) {
    s.previous = kNoVersion;
  }
  publish();
  return {};
}

SlotStatus PluginHost::describe(const Slot& slot) const {
  SlotStatus status;
  status.name = slot.name;
  status.active = slot.active != nullptr ? slot.active->id() : kNoVersion;
  status.candidate = slot.dark != nullptr ? slot.dark->candidate->id() : kNoVersion;
  status.previous = slot.previous;
  status.divergences = slot.last_divergences != nullptr ? slot.last_divergences->total() : 0;
  for (const auto& version : slot.versions) {
    VersionStatus v;
    v.id = version->id();
    v.semver = version->semver();
    v.projection_schema = version->projection_schema();
    v.sha256_hex = version->library().sha256_hex();
    v.source_path = version->library().source_path().string();
    v.state = version->id() == status.active      ? VersionState::kActive
              : version->id() == status.candidate ? VersionState::kDark
                                                  : VersionState::kStandby;
    v.previous = version->id() == slot.previous;
    v.counters = version->counters();
    status.versions.push_back(std::move(v));
  }
  return status;
}

std::vector<SlotStatus> PluginHost::list() const {
  std::lock_guard lock(mutex_);
  std::vector<SlotStatus> out;
  out.reserve(slots_.size());
  for (const auto& slot : slots_) {
    out.push_back(describe(*slot));
  }
  return out;
}

Result<SlotStatus> PluginHost::status(std::string_view name) const {
  std::lock_guard lock(mutex_);
  const Slot* slot = find_slot(name);
  if (slot == nullptr) {
    return make_error(ErrorCode::kNotFound, "no handler slot named '" + std::string(name) + "'");
  }
  return describe(*slot);
}

std::vector<DivergenceRecord> PluginHost::divergences(std::string_view name) const {
  std::lock_guard lock(mutex_);
  const Slot* slot = find_slot(name);
  if (slot == nullptr || slot->last_divergences == nullptr) {
    return {};
  }
  return slot->last_divergences->records();
}

std::shared_ptr<const HandlerVersion> PluginHost::version(VersionId id) const {
  std::lock_guard lock(mutex_);
  for (const auto& slot : slots_) {
    if (auto found = find_version(*slot, id)) {
      return found;
    }
  }
  return nullptr;
}

}  // namespace quorum::host
