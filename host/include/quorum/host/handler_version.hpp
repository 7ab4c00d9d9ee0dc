// One loaded version of a handler: a validated plugin plus the host's
// numbers about it. It is the only place the host calls into plugin code.
// Each call copies the plugin's result out of the plugin's buffer, parses it
// (handle_result.hpp), and hands the buffer back through free() exactly
// once, whatever the result looked like. A plugin that throws through the C
// boundary (a raw C++ plugin without the SDK) is caught and counted as a
// failed call.
//
// Ownership: held by std::shared_ptr. It keeps its LoadedLibrary alive, so a
// caller holding a HandlerVersion (a "lease") can finish its call even after
// the version was swapped out; the library is unloaded when the last holder
// lets go.
//
// Threads: every member is safe to call concurrently (plugins are pure and
// the counters are atomic).
#pragma once

#include <quorum/host/handle_result.hpp>
#include <quorum/host/history.hpp>
#include <quorum/host/library_loader.hpp>
#include <quorum/host/result.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace quorum::host {

using VersionId = uint64_t;  // unique within one PluginHost; 0 means "none"
inline constexpr VersionId kNoVersion = 0;

// Counters of one version (snapshots of atomics).
struct VersionCounters {
  uint64_t calls = 0;        // handle / handle_batch / init / migrate calls made
  uint64_t rejections = 0;   // calls that returned REJECTED
  uint64_t errors = 0;       // calls that FAILED (plugin error, exception, malformed result)
  uint64_t divergences = 0;  // as a dark candidate: messages where it disagreed with the live version
};

class HandlerVersion {
 public:
  HandlerVersion(VersionId id, std::shared_ptr<const LoadedLibrary> library);
  HandlerVersion(const HandlerVersion&) = delete;
  HandlerVersion& operator=(const HandlerVersion&) = delete;

  VersionId id() const noexcept { return id_; }
  const PluginInfo& info() const noexcept { return library_->info(); }
  const std::string& name() const noexcept { return library_->info().name; }
  const std::string& semver() const noexcept { return library_->info().semver; }
  uint32_t projection_schema() const noexcept { return library_->info().projection_schema; }
  bool has_init() const noexcept { return library_->info().init != nullptr; }
  bool has_migrate() const noexcept { return library_->info().migrate != nullptr; }
  bool has_handle_batch() const noexcept { return library_->info().handle_batch != nullptr; }
  bool reads_history() const noexcept { return library_->info().has(QUORUM_CAP_READS_HISTORY); }
  const LoadedLibrary& library() const noexcept { return *library_; }

  // handle(): fold one message into `projection`. Never throws; a broken
  // plugin gives status kFailed with a reason.
  HandleResult handle(std::string_view key, std::string_view projection, std::string_view message,
                      const HistoryAccessor& history) const;

  // handle_batch(): `messages` is a msgpack array of `count` envelopes. A
  // plugin without handle_batch gives kFailed ("no handle_batch").
  BatchResult handle_batch(std::string_view key, std::string_view projection, std::string_view messages,
                           size_t count, const HistoryAccessor& history) const;

  // The projection of a new actor: init(config) when the plugin has it,
  // otherwise the empty projection (""). Error: kPluginFailed.
  Result<std::string> initial_projection(std::string_view config = {}) const;

  // migrate(from_schema, old). Error: kFailedPrecondition if the plugin has
  // no migrate, kPluginFailed if it failed.
  Result<std::string> migrate(uint32_t from_schema, std::string_view old_projection) const;

  VersionCounters counters() const noexcept;
  void count_divergence() const noexcept { divergences_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void count(CallStatus status) const noexcept;

  VersionId id_;
  std::shared_ptr<const LoadedLibrary> library_;
  mutable std::atomic<uint64_t> calls_{0};
  mutable std::atomic<uint64_t> rejections_{0};
  mutable std::atomic<uint64_t> errors_{0};
  mutable std::atomic<uint64_t> divergences_{0};
};

}  // namespace quorum::host
