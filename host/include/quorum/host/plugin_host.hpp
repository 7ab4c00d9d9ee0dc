// PluginHost: the named handler slots of one node and the versions loaded
// into them; the control plane of hot-swap and dark launch.
//
// Slots run in a fixed activation order (the order add_slot() or the first
// load() of a name created them). Each slot has at most one active version,
// at most one dark candidate, the previously active version (for rollback)
// and any number of standby versions up to Options::max_versions_per_slot.
//
// Hot-swap works by publication: every control operation builds a new
// immutable HostSnapshot (which version is active / dark in each slot) and
// stores it with one atomic pointer swap. A message takes the current
// snapshot (a lease: a shared_ptr) when it starts and uses it to the end, so
// it is handled wholly by one set of versions; calls already in flight finish
// on the versions they started with. A version that is unloaded (unload())
// is dlclose'd when the last snapshot referring to it and the last call
// using it are gone; library_stats() counts unloads that left the file
// mapped.
//
// Threads: every member is safe to call from any thread. Control operations
// (load, activate, rollback, dark_launch, promote, drop, unload) are
// serialised by one mutex and never wait for messages; snapshot() takes no
// mutex: it is one std::atomic<std::shared_ptr> load (libstdc++ guards the
// pointer with a spin bit held for a few instructions) plus a reference
// count increment. A swap therefore costs messages nothing but a cache miss.
// The library of an unloaded version is dlclose'd on whichever thread drops
// the last reference (possibly a message thread finishing its call).
//
// Errors are values (Result / Status); the host keeps running after each.
#pragma once

#include <quorum/host/divergence_log.hpp>
#include <quorum/host/handler_version.hpp>
#include <quorum/host/library_loader.hpp>
#include <quorum/host/result.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::host {

// A dark launch: the candidate and its divergence log.
struct DarkLaunch {
  std::shared_ptr<const HandlerVersion> candidate;
  std::shared_ptr<DivergenceLog> divergences;
};

// What a message sees of one slot.
struct SlotView {
  std::string name;
  std::shared_ptr<const HandlerVersion> active;  // null: the slot does nothing yet
  std::shared_ptr<const DarkLaunch> dark;        // null: no candidate
};

// The versions in force, published atomically. Immutable.
struct HostSnapshot {
  uint64_t generation = 0;  // increases with every published change
  std::vector<SlotView> slots;  // in activation order
};

enum class VersionState { kStandby, kActive, kDark };
std::string_view to_string(VersionState state) noexcept;

struct VersionStatus {
  VersionId id = kNoVersion;
  std::string semver;
  uint32_t projection_schema = 0;
  std::string sha256_hex;
  std::string source_path;
  VersionState state = VersionState::kStandby;
  bool previous = false;  // the version rollback() would return to
  VersionCounters counters;
};

struct SlotStatus {
  std::string name;
  VersionId active = kNoVersion;
  VersionId candidate = kNoVersion;
  VersionId previous = kNoVersion;
  uint64_t divergences = 0;  // total of the current (or last) dark launch
  std::vector<VersionStatus> versions;  // by id
};

class PluginHost {
 public:
  struct Options {
    std::filesystem::path cache_dir;  // content-addressed copies go here (required)
    size_t max_slots = 64;
    size_t max_versions_per_slot = 16;
    size_t divergence_capacity = kDefaultDivergenceCapacity;
  };

  explicit PluginHost(Options options);
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Appends an empty slot to the activation order. Error if the name is not
  // [a-z0-9_-]{1,64}, exists already, or max_slots is reached.
  Status add_slot(std::string_view name);

  // Loads a plugin file as a new standby version of slot `name` (creating
  // the slot at the end of the order if needed). The plugin's descriptor
  // name must equal `name`. Loading bytes already loaded in this slot
  // returns the existing version id. Errors: see LibraryLoader::load, plus
  // kResourceExhausted when the slot holds max_versions_per_slot versions.
  Result<VersionId> load(std::string_view name, const std::filesystem::path& path);

  // Loads a plugin file into the slot its descriptor names (for tools that
  // load every *.so of a directory). Same errors as load(name, path).
  struct Loaded {
    std::string name;
    VersionId version = kNoVersion;
  };
  Result<Loaded> load(const std::filesystem::path& path);

  // Makes `version` the active version of `name`, effective for the next
  // message; the version it replaces becomes the rollback target. swap() is
  // the same operation. Activating the dark candidate is refused (use
  // promote(), which keeps its shadow projections).
  Status activate(std::string_view name, VersionId version);
  Status swap(std::string_view name, VersionId version) { return activate(name, version); }

  // Makes the previously active version active again (and the current one
  // the rollback target, so a second rollback undoes the first).
  Status rollback(std::string_view name);

  // Runs `version` beside the active version as a dark candidate: it sees
  // every message, its outputs are compared and never reach live state.
  // Replaces an earlier candidate (and starts a fresh divergence log).
  Status dark_launch(std::string_view name, VersionId version);
  // The candidate becomes active (runners continue from its shadow
  // projections, so there is no rebuild pause); the old active becomes the
  // rollback target.
  Status promote(std::string_view name);
  // Forgets the candidate; its shadow projections are discarded by runners.
  Status drop(std::string_view name);

  // Releases a standby version. The library is dlclose'd once no message
  // uses it. Refused for the active version and the candidate.
  Status unload(std::string_view name, VersionId version);

  // The versions in force now (a lease for one message).
  std::shared_ptr<const HostSnapshot> snapshot() const;

  std::vector<SlotStatus> list() const;
  Result<SlotStatus> status(std::string_view name) const;
  // Divergence records of the current (or last) dark launch of `name`.
  std::vector<DivergenceRecord> divergences(std::string_view name) const;
  // The HandlerVersion for an id (a lease), or null.
  std::shared_ptr<const HandlerVersion> version(VersionId id) const;

  LoaderStats library_stats() const { return loader_.stats(); }
  const Options& options() const noexcept { return options_; }

 private:
  struct Slot;
  Slot* find_slot(std::string_view name);
  const Slot* find_slot(std::string_view name) const;
  Result<Slot*> require_slot(std::string_view name);
  Result<VersionId> install(std::string_view name, std::shared_ptr<const LoadedLibrary> library);
  std::shared_ptr<const HandlerVersion> find_version(const Slot& slot, VersionId id) const;
  void publish();  // requires mutex_
  SlotStatus describe(const Slot& slot) const;

  const Options options_;
  LibraryLoader loader_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Slot>> slots_;  // activation order
  VersionId next_version_ = 1;
  uint64_t generation_ = 0;
  std::atomic<std::shared_ptr<const HostSnapshot>> snapshot_;
};

}  // namespace quorum::host
