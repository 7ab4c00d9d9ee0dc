#include <quorum/store/memory_store.hpp>

namespace quorum::store {

void MemoryStore::apply(Map& map, const std::vector<OwnedWrite>& writes) {
  for (const OwnedWrite& write : writes) {
    if (write.is_delete) {
      map.erase(write.key);
    } else {
      map.insert_or_assign(write.key, write.value);
    }
  }
}

Result<uint64_t> MemoryStore::write(const WriteBatch& batch) {
  if (pending_.size() >= kMaxUnsyncedWrites) {
    return make_error(ErrorCode::kResourceExhausted,
                      std::to_string(kMaxUnsyncedWrites) + " writes are waiting for sync(): sync first");
  }
  Result<KvWrites> writes = resolve(batch);
  if (!writes.ok()) {
    return writes.error();
  }
  issue(*writes);
  return writes_issued_;
}

void MemoryStore::issue(const KvWrites& writes) {
  std::vector<OwnedWrite> owned;
  owned.reserve(writes.writes.size());
  for (const KvWrite& write : writes.writes) {
    owned.push_back(OwnedWrite{write.is_delete, std::string(write.key), std::string(write.value)});
  }
  apply(visible_, owned);
  pending_.push_back(std::move(owned));
  writes_issued_ += 1;
}

uint64_t MemoryStore::sync() {
  for (const std::vector<OwnedWrite>& writes : pending_) {
    apply(durable_, writes);
  }
  pending_.clear();
  return writes_issued_;
}

void MemoryStore::crash() {
  pending_.clear();
  visible_ = durable_;
}

Status MemoryStore::kv_apply(const KvWrites& writes) {
  issue(writes);
  sync();
  return {};
}

void MemoryStore::raw_put(std::string_view key, std::string_view value) {
  visible_.insert_or_assign(std::string(key), std::string(value));
  durable_.insert_or_assign(std::string(key), std::string(value));
}

void MemoryStore::raw_erase(std::string_view key) {
  if (auto it = visible_.find(key); it != visible_.end()) {
    visible_.erase(it);
  }
  if (auto it = durable_.find(key); it != durable_.end()) {
    durable_.erase(it);
  }
}

std::optional<std::string> MemoryStore::raw_get(std::string_view key) const {
  auto it = visible_.find(key);
  if (it == visible_.end()) {
    return std::nullopt;
  }
  return it->second;
}

Result<std::optional<std::string>> MemoryStore::kv_get(std::string_view key) const {
  return raw_get(key);
}

Status MemoryStore::kv_scan(std::string_view start, std::string_view end, const KvVisitor& visit) const {
  for (auto it = visible_.lower_bound(start); it != visible_.end(); ++it) {
    if (!end.empty() && it->first >= end) {
      break;
    }
    if (!visit(it->first, it->second)) {
      break;
    }
  }
  return {};
}

}  // namespace quorum::store
