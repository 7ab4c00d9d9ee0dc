#include <quorum/host/handler_version.hpp>

#include <exception>
#include <utility>

namespace quorum::host {

namespace {

quorum_bytes as_bytes(std::string_view text) noexcept {
  return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Owns one plugin result buffer and hands it back through free() exactly
// once, on every path.
class PluginBuffer {
 public:
  explicit PluginBuffer(quorum_free_fn free) noexcept : free_(free) {}
  ~PluginBuffer() { free_(&buffer_); }
  PluginBuffer(const PluginBuffer&) = delete;
  PluginBuffer& operator=(const PluginBuffer&) = delete;

  quorum_buffer* out() noexcept { return &buffer_; }
  std::string_view view() const noexcept {
    if (buffer_.data == nullptr) {
      return {};
    }
    return std::string_view(reinterpret_cast<const char*>(buffer_.data), buffer_.size);
  }

 private:
  quorum_free_fn free_;
  quorum_buffer buffer_{nullptr, 0, nullptr};
};

// Calls into the plugin, containing anything it throws through the C ABI (a
// C++ plugin written without the SDK). The exception object is destroyed
// here, while the library is still loaded. Returns nullopt-like -1 on a
// throw with `reason` set.
template <class Call>
int32_t contained(Call&& call, std::string& reason) noexcept {
  try {
    return call();
  } catch (const std::exception& error) {
    reason = std::string("plugin threw across the C ABI: ") + error.what();
  } catch (...) {
    reason = "plugin threw a non-standard exception across the C ABI";
  }
  return -1;
}

}  // namespace

HandlerVersion::HandlerVersion(VersionId id, std::shared_ptr<const LoadedLibrary> library)
    : id_(id), library_(std::move(library)) {
  QUORUM_ASSERT(id_ != kNoVersion);
  QUORUM_ASSERT(library_ != nullptr);
  QUORUM_ASSERT(library_->info().handle != nullptr && library_->info().free != nullptr);
}

void HandlerVersion::count(CallStatus status) const noexcept {
  calls_.fetch_add(1, std::memory_order_relaxed);
  if (status == CallStatus::kRejected) {
    rejections_.fetch_add(1, std::memory_order_relaxed);
  } else if (status == CallStatus::kFailed) {
    errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

HandleResult HandlerVersion::handle(std::string_view key, std::string_view projection, std::string_view message,
                                    const HistoryAccessor& history) const {
  const PluginInfo& plugin = info();
  HistoryCursor cursor(history);
  PluginBuffer buffer(plugin.free);
  std::string thrown;
  const int32_t status = contained(
      [&] { return plugin.handle(as_bytes(key), as_bytes(projection), as_bytes(message), cursor.get(), buffer.out()); },
      thrown);
  HandleResult result;
  if (!thrown.empty()) {
    result.status = CallStatus::kFailed;
    result.error = std::move(thrown);
  } else {
    result = parse_handle_result(status, buffer.view());
  }
  count(result.status);
  return result;
}

BatchResult HandlerVersion::handle_batch(std::string_view key, std::string_view projection, std::string_view messages,
                                         size_t count_of_messages, const HistoryAccessor& history) const {
  const PluginInfo& plugin = info();
  BatchResult result;
  if (plugin.handle_batch == nullptr) {
    result.status = CallStatus::kFailed;
    result.error = plugin.name + " " + plugin.semver + " has no handle_batch";
    return result;
  }
  HistoryCursor cursor(history);
  PluginBuffer buffer(plugin.free);
  std::string thrown;
  const int32_t status = contained(
      [&] {
        return plugin.handle_batch(as_bytes(key), as_bytes(projection), as_bytes(messages), cursor.get(), buffer.out());
      },
      thrown);
  if (!thrown.empty()) {
    result.status = CallStatus::kFailed;
    result.error = std::move(thrown);
  } else {
    result = parse_batch_result(status, buffer.view(), count_of_messages);
  }
  count(result.status);
  return result;
}

Result<std::string> HandlerVersion::initial_projection(std::string_view config) const {
  const PluginInfo& plugin = info();
  if (plugin.init == nullptr) {
    return std::string();
  }
  PluginBuffer buffer(plugin.free);
  std::string thrown;
  const int32_t status = contained([&] { return plugin.init(as_bytes(config), buffer.out()); }, thrown);
  Result<std::string> result = thrown.empty() ? parse_projection_result(status, buffer.view())
                                              : Result<std::string>(make_error(ErrorCode::kPluginFailed, thrown));
  count(result.ok() ? CallStatus::kOk : CallStatus::kFailed);
  if (!result.ok()) {
    return make_error(ErrorCode::kPluginFailed,
                      "init of " + plugin.name + " " + plugin.semver + " failed: " + result.error().message);
  }
  return result;
}

Result<std::string> HandlerVersion::migrate(uint32_t from_schema, std::string_view old_projection) const {
  const PluginInfo& plugin = info();
  if (plugin.migrate == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition, plugin.name + " " + plugin.semver + " has no migrate");
  }
  PluginBuffer buffer(plugin.free);
  std::string thrown;
  const int32_t status =
      contained([&] { return plugin.migrate(from_schema, as_bytes(old_projection), buffer.out()); }, thrown);
  Result<std::string> result = thrown.empty() ? parse_projection_result(status, buffer.view())
                                              : Result<std::string>(make_error(ErrorCode::kPluginFailed, thrown));
  count(result.ok() ? CallStatus::kOk : CallStatus::kFailed);
  if (!result.ok()) {
    return make_error(ErrorCode::kPluginFailed, "migrate of " + plugin.name + " " + plugin.semver + " from schema " +
                                                    std::to_string(from_schema) + " failed: " + result.error().message);
  }
  return result;
}

VersionCounters HandlerVersion::counters() const noexcept {
  VersionCounters counters;
  counters.calls = calls_.load(std::memory_order_relaxed);
  counters.rejections = rejections_.load(std::memory_order_relaxed);
  counters.errors = errors_.load(std::memory_order_relaxed);
  counters.divergences = divergences_.load(std::memory_order_relaxed);
  return counters;
}

}  // namespace quorum::host
