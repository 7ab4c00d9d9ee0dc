#include <quorum/replication/codec.hpp>
#include <quorum/replication/store_log.hpp>
#include <quorum/store/layout.hpp>

#include <algorithm>
#include <type_traits>
#include <utility>

#define QUORUM_STORE_LOG_RETURN_IF_ERROR(expression)    \
  do {                                                  \
    if (Status status_ = (expression); !status_.ok()) { \
      return status_;                                   \
    }                                                   \
  } while (false)

namespace quorum::replication {

namespace {

Error invalid_write(std::string_view key, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "replication write of key '" + std::string(key) + "': " + why);
}

// The write's entries continue its truncation point, are consecutive and
// end where its meta says the log ends.
Status check_write(std::string_view key, const Write& write) {
  const Meta& meta = write.meta;
  if (meta.commit > meta.vouched || meta.vouched > meta.last_seq || meta.accepted > meta.promised) {
    return invalid_write(key, "meta does not hold commit <= vouched <= last_seq and accepted <= promised");
  }
  const bool truncates = write.truncate_after != kNoTruncate;
  if (write.entries.empty()) {
    if (truncates && meta.last_seq != write.truncate_after) {
      return invalid_write(key, "truncated after " + std::to_string(write.truncate_after) + " but meta.last_seq is " +
                                    std::to_string(meta.last_seq));
    }
    return {};
  }
  const uint64_t first = write.entries.front().seq();
  if (truncates && first != write.truncate_after + 1) {
    return invalid_write(key, "entries start at seq " + std::to_string(first) + ", not right after the truncation at " +
                                  std::to_string(write.truncate_after));
  }
  for (size_t i = 0; i < write.entries.size(); ++i) {
    if (write.entries[i].seq() != first + i) {
      return invalid_write(key, "entry seqs are not consecutive at seq " + std::to_string(write.entries[i].seq()));
    }
  }
  if (meta.last_seq != write.entries.back().seq() || meta.head != write.entries.back().hash()) {
    return invalid_write(key, "meta.last_seq / head are not the last entry's");
  }
  return {};
}

}  // namespace

// --- StoreLog ---

std::vector<store::EncodedEntry> StoreLog::read(std::string_view key, uint64_t from, uint64_t to,
                                                size_t max_bytes) const {
  std::vector<store::EncodedEntry> out;
  from = std::max<uint64_t>(from, 1);
  if (from > to) {
    return out;
  }
  auto fault = [&] { faults_.fetch_add(1, std::memory_order_relaxed); };
  // The hash the first entry must chain to (the entries after it chain to
  // each other: a read never hands out an entry it could not verify).
  store::Hash prev = store::kGenesisHash;
  if (from > 1) {
    std::optional<store::Hash> anchor = hash_at(key, from - 1);
    if (!anchor) {
      fault();  // entry `from` cannot exist without the one before
      return out;
    }
    prev = *anchor;
  }
  size_t bytes = 0;
  uint64_t seq = from;
  size_t chunk = 16;  // entries per store read, growing: most reads want a few, catch-up wants many
  while (seq <= to) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(to - seq + 1, chunk));
    Result<std::vector<store::RawEntry>> raw = store_.read_log(key, seq, want);
    if (!raw.ok()) {
      fault();
      return out;
    }
    if (raw->empty()) {
      return out;  // the log ends before `to`
    }
    for (store::RawEntry& stored : *raw) {
      if (stored.seq != seq) {
        fault();  // a gap
        return out;
      }
      Result<store::EncodedEntry> entry = store::EncodedEntry::from_bytes(std::move(stored.bytes));
      if (!entry.ok() || entry->seq() != seq || !store::entry_hash_matches(prev, entry->view())) {
        fault();
        return out;
      }
      prev = entry->hash();
      bytes += entry->bytes().size();
      out.push_back(std::move(entry).value());
      seq += 1;
      if (bytes >= max_bytes || seq > to) {
        return out;
      }
    }
    chunk = std::min(chunk * 4, store::kMaxReadEntries);
  }
  return out;
}

std::optional<store::Hash> StoreLog::hash_at(std::string_view key, uint64_t seq) const {
  if (seq == 0) {
    return store::kGenesisHash;
  }
  Result<std::vector<store::RawEntry>> raw = store_.read_log(key, seq, 1);
  if (!raw.ok()) {
    faults_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (raw->empty() || raw->front().seq != seq) {
    return std::nullopt;
  }
  Result<store::EncodedEntry> entry = store::EncodedEntry::from_bytes(std::move(raw->front().bytes));
  if (!entry.ok() || entry->seq() != seq) {
    faults_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return entry->hash();
}

// --- meta ---

store::ReplicaMeta to_replica_meta(const Meta& meta) {
  return store::ReplicaMeta{meta.promised.topology, meta.last_seq, meta.commit, meta.head, meta.accepted.topology};
}

Result<std::optional<Meta>> load_meta(const store::EventStore& store, std::string_view key) {
  Result<std::optional<std::string>> bytes = store.read_replication_meta(key);
  if (!bytes.ok()) {
    return bytes.error();
  }
  if (bytes->has_value()) {
    Result<Meta> meta = decode_meta(**bytes);
    if (!meta.ok()) {
      return make_error(ErrorCode::kIo, "corrupt store: the replication meta of key '" + std::string(key) +
                                            "' does not decode: " + meta.error().message);
    }
    return std::optional<Meta>(*meta);
  }
  Result<std::optional<store::ReplicaMeta>> legacy = store.read_meta(key);
  if (!legacy.ok()) {
    return legacy.error();
  }
  if (legacy->has_value() && (*legacy)->last_seq > 0) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "key '" + std::string(key) + "' holds " + std::to_string((*legacy)->last_seq) +
                          " entries but no replication meta (written before replication)");
  }
  return std::optional<Meta>{};
}

// --- WriteApplier ---

Status WriteApplier::add(std::string_view key, const Write& write, store::WriteBatch& batch) {
  return add_write(key, write, batch);
}

Status WriteApplier::add(std::string_view key, Write&& write, store::WriteBatch& batch) {
  return add_write(key, std::move(write), batch);
}

Status WriteApplier::stored_ids(std::string_view key, uint64_t after, uint64_t upto,
                                std::vector<std::string>& ids) const {
  uint64_t seq = after + 1;
  while (seq <= upto) {
    Result<std::vector<store::RawEntry>> raw = store_.read_log(key, seq, store::kMaxReadEntries);
    if (!raw.ok()) {
      return raw.error();
    }
    if (raw->empty()) {
      return {};
    }
    for (const store::RawEntry& stored : *raw) {
      if (stored.seq > upto) {
        return {};
      }
      Result<store::EntryView> entry = store::parse_entry(stored.bytes);
      if (!entry.ok()) {
        // Its idempotency record cannot be found, so it cannot be removed:
        // refuse rather than leave a record pointing at another command.
        return make_error(ErrorCode::kIo, "corrupt store: entry " + std::to_string(stored.seq) + " of key '" +
                                              std::string(key) +
                                              "', which a truncation removes, is unreadable: " + entry.error().message);
      }
      if (!entry->id.empty()) {
        ids.emplace_back(entry->id);
      }
      seq = stored.seq + 1;
    }
  }
  return {};
}

template <class W>
Status WriteApplier::add_write(std::string_view key, W&& write, store::WriteBatch& batch) {
  if (Status valid = store::validate_actor_key(key); !valid.ok()) {
    return valid;
  }
  if (Status valid = check_write(key, write); !valid.ok()) {
    return valid;
  }
  auto found = keys_.find(key);
  if (found == keys_.end()) {
    found = keys_.emplace(std::string(key), KeyState{}).first;
  }
  KeyState& state = found->second;

  if (write.truncate_after != kNoTruncate) {
    const uint64_t after = write.truncate_after;
    // The command ids of every entry this removes: stored ones this batch
    // has not removed already, and ones it appended. Read before anything
    // is added, so a store error leaves the batch as it was.
    std::vector<std::string> removed;
    if (after < state.stored_cut) {
      if (Status read = stored_ids(key, after, state.stored_cut, removed); !read.ok()) {
        return read;
      }
    }
    for (auto it = state.added.upper_bound(after); it != state.added.end(); ++it) {
      removed.push_back(it->second);
    }
    QUORUM_STORE_LOG_RETURN_IF_ERROR(batch.truncate_log_after(key, after));
    QUORUM_STORE_LOG_RETURN_IF_ERROR(batch.truncate_outbox_after(key, after));
    QUORUM_STORE_LOG_RETURN_IF_ERROR(batch.drop_snapshots_after(key, after));
    // Before the appends below: a command re-appended at another seq puts
    // its record again after this delete (the batch keeps the order).
    for (const std::string& id : removed) {
      QUORUM_STORE_LOG_RETURN_IF_ERROR(batch.delete_idempotency(key, id));
    }
    state.stored_cut = std::min(state.stored_cut, after);
    state.added.erase(state.added.upper_bound(after), state.added.end());
  }

  for (auto& entry : write.entries) {
    const uint64_t seq = entry.seq();
    const store::Hash hash = entry.hash();
    std::string id(entry.view().id);
    Status appended;
    if constexpr (std::is_lvalue_reference_v<W>) {
      appended = batch.append(key, entry);
    } else {
      appended = batch.append(key, std::move(entry));
    }
    if (!appended.ok()) {
      return appended;
    }
    if (!id.empty()) {
      QUORUM_STORE_LOG_RETURN_IF_ERROR(batch.put_idempotency(key, id, store::IdempotencyRecord{seq, hash}));
      state.added.insert_or_assign(seq, std::move(id));
    } else {
      state.added.erase(seq);
    }
  }

  // One record: the replica meta that listings, tools and the store's
  // recovery read, carrying the replication meta (docs/formats.md §4.2).
  return batch.put_meta(key, to_replica_meta(write.meta), encode(write.meta));
}

}  // namespace quorum::replication
