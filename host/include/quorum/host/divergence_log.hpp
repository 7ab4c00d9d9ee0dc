// The last N disagreements between a live handler version and its dark
// candidate, for the operator to read before promoting. Bounded: once full,
// each new record replaces the oldest; the total count keeps growing.
//
// Threads: record() and the readers are safe to call concurrently.
#pragma once

#include <quorum/host/handle_result.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace quorum::host {

struct DivergenceRecord {
  uint64_t sequence = 0;           // 1 for the first divergence of this dark launch
  std::string handler;             // slot name
  uint64_t live_version = 0;       // VersionId of the live version
  uint64_t candidate_version = 0;  // VersionId of the candidate
  std::string key;                 // actor key
  std::string message_id;          // the envelope's "id" ("" if none)
  std::string message;             // the envelope bytes, cut at kMaxRecordedMessageBytes
  HandleResult live;               // what the live version returned
  HandleResult candidate;          // what the candidate returned
};

inline constexpr size_t kDefaultDivergenceCapacity = 256;
inline constexpr size_t kMaxRecordedMessageBytes = 64 * 1024;

class DivergenceLog {
 public:
  explicit DivergenceLog(size_t capacity = kDefaultDivergenceCapacity);

  // Stores a record (its sequence is assigned here) and drops the oldest if
  // the log is full.
  void record(DivergenceRecord record);

  // Oldest first; at most capacity() records.
  std::vector<DivergenceRecord> records() const;
  uint64_t total() const;
  size_t capacity() const noexcept { return capacity_; }

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<DivergenceRecord> records_;
  uint64_t total_ = 0;
};

}  // namespace quorum::host
