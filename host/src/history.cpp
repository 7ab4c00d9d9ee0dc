#include <quorum/host/history.hpp>

#include <exception>

namespace quorum::host {

int32_t HistoryCursor::read(void* context, uint64_t index, quorum_bytes* out) noexcept {
  if (context == nullptr || out == nullptr) {
    return 1;
  }
  try {
    const auto* history = static_cast<const HistoryAccessor*>(context);
    std::optional<std::string_view> entry = history->read(index);
    if (!entry) {
      return 1;
    }
    *out = quorum_bytes{reinterpret_cast<const uint8_t*>(entry->data()), entry->size()};
    return 0;
  } catch (...) {
    // An accessor that throws (I/O) reads as "cannot produce it".
    return 1;
  }
}

}  // namespace quorum::host
