#include <quorum/host/assert.hpp>
#include <quorum/host/divergence_log.hpp>

namespace quorum::host {

DivergenceLog::DivergenceLog(size_t capacity) : capacity_(capacity) { QUORUM_ASSERT(capacity_ > 0); }

void DivergenceLog::record(DivergenceRecord record) {
  if (record.message.size() > kMaxRecordedMessageBytes) {
    record.message.resize(kMaxRecordedMessageBytes);
  }
  std::lock_guard lock(mutex_);
  record.sequence = ++total_;
  if (records_.size() == capacity_) {
    records_.pop_front();
  }
  records_.push_back(std::move(record));
  QUORUM_ASSERT(records_.size() <= capacity_);
}

std::vector<DivergenceRecord> DivergenceLog::records() const {
  std::lock_guard lock(mutex_);
  return std::vector<DivergenceRecord>(records_.begin(), records_.end());
}

uint64_t DivergenceLog::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace quorum::host
