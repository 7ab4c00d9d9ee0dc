// The read-only view of an actor's earlier accepted messages that a handler
// may consult, and its bridge to the ABI's quorum_history cursor. The host
// never copies the log for a call: the plugin pulls the entries it wants.
#pragma once

#include <quorum/plugin.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::host {

// An actor's event log before the current message, oldest first. Entries
// are message envelopes (the same msgpack map handle() receives).
//
// Contract: read(index) returns a view that stays valid until the next
// read() on the same object or until the object is destroyed; nullopt when
// index >= size() or the entry cannot be produced. Implementations are used
// from one thread at a time (the thread handling that actor).
class HistoryAccessor {
 public:
  virtual ~HistoryAccessor() = default;
  virtual uint64_t size() const = 0;
  virtual std::optional<std::string_view> read(uint64_t index) const = 0;
};

// No earlier messages.
class EmptyHistory final : public HistoryAccessor {
 public:
  uint64_t size() const override { return 0; }
  std::optional<std::string_view> read(uint64_t) const override { return std::nullopt; }
};

// A history over a vector the caller owns (tests, the demo tool, small
// in-memory actors). The vector must outlive this object and not change
// while a call uses it.
class VectorHistory final : public HistoryAccessor {
 public:
  explicit VectorHistory(const std::vector<std::string>& entries) noexcept : entries_(&entries) {}
  uint64_t size() const override { return entries_->size(); }
  std::optional<std::string_view> read(uint64_t index) const override {
    if (index >= entries_->size()) {
      return std::nullopt;
    }
    return std::string_view((*entries_)[index]);
  }

 private:
  const std::vector<std::string>* entries_;
};

// The first `length` entries of another history (used to replay message i
// with exactly the history it had when it was first handled).
class PrefixHistory final : public HistoryAccessor {
 public:
  PrefixHistory(const HistoryAccessor& inner, uint64_t length) noexcept
      : inner_(&inner), length_(length < inner.size() ? length : inner.size()) {}
  uint64_t size() const override { return length_; }
  std::optional<std::string_view> read(uint64_t index) const override {
    if (index >= length_) {
      return std::nullopt;
    }
    return inner_->read(index);
  }

 private:
  const HistoryAccessor* inner_;
  uint64_t length_;
};

// The ABI cursor for one call. Lives on the caller's stack for the call.
class HistoryCursor {
 public:
  explicit HistoryCursor(const HistoryAccessor& history) noexcept
      : raw_{const_cast<HistoryAccessor*>(&history), history.size(), &HistoryCursor::read} {}
  HistoryCursor(const HistoryCursor&) = delete;
  HistoryCursor& operator=(const HistoryCursor&) = delete;
  const quorum_history* get() const noexcept { return &raw_; }

 private:
  static int32_t read(void* context, uint64_t index, quorum_bytes* out) noexcept;
  quorum_history raw_;
};

}  // namespace quorum::host
