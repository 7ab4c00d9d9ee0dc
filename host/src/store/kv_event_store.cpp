#include <quorum/store/kv_event_store.hpp>
#include <quorum/store/layout.hpp>

#include "canonical_msgpack.hpp"

#include <algorithm>
#include <cstdint>
#include <map>

namespace quorum::store {

namespace {

Error corrupt(std::string what) { return make_error(ErrorCode::kIo, "corrupt store: " + std::move(what)); }

Status check_limit(size_t limit) {
  if (limit == 0) {
    return make_error(ErrorCode::kInvalidArgument, "read limit is 0");
  }
  return {};
}

}  // namespace

Status KvEventStore::resolve_range(std::string_view first, std::string_view end, std::string_view what,
                                   KvWrites& resolved) const {
  std::vector<KvWrite>& writes = resolved.writes;
  // Records put earlier in this batch.
  const size_t earlier_writes = writes.size();
  for (size_t i = 0; i < earlier_writes; ++i) {
    const KvWrite earlier = writes[i];
    if (!earlier.is_delete && earlier.key >= first && earlier.key < end) {
      writes.push_back(KvWrite{true, earlier.key, {}});
    }
  }
  // Records already stored (deleting one the batch deleted already is harmless:
  // everything in the range goes).
  size_t found = 0;
  const size_t owned_before = resolved.owned.size();
  Status scanned = kv_scan(first, end, [&](std::string_view key, std::string_view) {
    resolved.owned.emplace_back(key);
    found += 1;
    return found <= kMaxBatchOps;
  });
  if (!scanned.ok()) {
    return scanned.error();
  }
  if (found > kMaxBatchOps) {
    return make_error(ErrorCode::kResourceExhausted, std::string(what) + " would delete more than " +
                                                         std::to_string(kMaxBatchOps) +
                                                         " records in one batch: truncate in steps");
  }
  for (size_t i = owned_before; i < resolved.owned.size(); ++i) {
    writes.push_back(KvWrite{true, resolved.owned[i], {}});
  }
  return {};
}

Status KvEventStore::resolve_snapshots(std::string_view actor, uint64_t seq, KvWrites& resolved) const {
  std::vector<KvWrite>& writes = resolved.writes;
  const std::string prefix = layout::snapshot_prefix(actor);
  const std::string end = layout::prefix_end(prefix);
  // Unlike the other ranges, which records go depends on their values: a
  // snapshot put earlier in this batch replaces the stored one of its
  // handler, so it is the one judged (and a stored one must not be deleted
  // over it).
  auto past = [seq](std::string_view value) {
    Result<Snapshot> snapshot = layout::decode_snapshot(value);
    return !snapshot.ok() || snapshot->seq > seq;  // undecodable: unusable, dropped too
  };
  std::map<std::string_view, size_t> latest;  // key -> index of its last write in this batch
  for (size_t i = 0; i < writes.size(); ++i) {
    if (writes[i].key >= prefix && writes[i].key < end) {
      latest[writes[i].key] = i;
    }
  }
  std::vector<std::string_view> doomed;
  for (const auto& [key, index] : latest) {
    if (!writes[index].is_delete && past(writes[index].value)) {
      doomed.push_back(key);
    }
  }
  size_t found = 0;
  Status scanned = kv_scan(prefix, end, [&](std::string_view key, std::string_view value) {
    found += 1;
    if (!latest.contains(key) && past(value)) {
      resolved.owned.emplace_back(key);
      doomed.push_back(resolved.owned.back());
    }
    return found <= kMaxBatchOps;
  });
  if (!scanned.ok()) {
    return scanned.error();
  }
  if (found > kMaxBatchOps) {
    return make_error(ErrorCode::kResourceExhausted,
                      "dropping the snapshots of actor '" + std::string(actor) + "': more than " +
                          std::to_string(kMaxBatchOps) + " stored");
  }
  for (std::string_view key : doomed) {
    writes.push_back(KvWrite{true, key, {}});
  }
  return {};
}

Result<KvWrites> KvEventStore::resolve(const WriteBatch& batch) const {
  KvWrites resolved;
  std::vector<KvWrite>& writes = resolved.writes;
  writes.reserve(batch.size());
  for (const BatchOp& op : batch.ops()) {
    Status done;
    switch (op.kind) {
      case BatchOp::Kind::kPut: writes.push_back(KvWrite{false, op.key, op.value}); break;
      case BatchOp::Kind::kDelete: writes.push_back(KvWrite{true, op.key, {}}); break;
      case BatchOp::Kind::kTruncateLogAfter: {
        if (op.seq == UINT64_MAX) {
          break;  // nothing is past it (and seq + 1 would wrap to "everything")
        }
        const std::string prefix = layout::log_prefix(op.actor);
        done = resolve_range(layout::log_key(op.actor, op.seq + 1), layout::prefix_end(prefix),
                             "truncating the log of actor '" + std::string(op.actor) + "'", resolved);
        break;
      }
      case BatchOp::Kind::kTruncateOutboxAfter: {
        if (op.seq == UINT64_MAX) {
          break;
        }
        const std::string prefix = layout::outbox_prefix(op.actor);
        done = resolve_range(layout::outbox_key(op.actor, op.seq + 1, 0), layout::prefix_end(prefix),
                             "truncating the outbox of actor '" + std::string(op.actor) + "'", resolved);
        break;
      }
      case BatchOp::Kind::kDropSnapshotsAfter: {
        if (op.seq == UINT64_MAX) {
          break;
        }
        done = resolve_snapshots(op.actor, op.seq, resolved);
        break;
      }
    }
    if (!done.ok()) {
      return done.error();
    }
  }
  return resolved;
}

Status KvEventStore::commit(const WriteBatch& batch) {
  if (batch.empty()) {
    return {};
  }
  Result<KvWrites> writes = resolve(batch);
  if (!writes.ok()) {
    return writes.error();
  }
  return kv_apply(*writes);
}

Result<std::vector<RawEntry>> KvEventStore::read_log(std::string_view actor, uint64_t from_seq, size_t limit) const {
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    return valid.error();
  }
  if (Status valid = check_limit(limit); !valid.ok()) {
    return valid.error();
  }
  limit = std::min(limit, kMaxReadEntries);
  const std::string prefix = layout::log_prefix(actor);
  std::vector<RawEntry> entries;
  size_t bytes = 0;
  std::optional<Error> failure;
  Status scanned = kv_scan(layout::log_key(actor, from_seq), layout::prefix_end(prefix),
                           [&](std::string_view key, std::string_view value) {
                             if (key.size() != prefix.size() + 8) {
                               failure = corrupt("log key of actor '" + std::string(actor) + "' has a bad length");
                               return false;
                             }
                             entries.push_back(RawEntry{detail::get_be64(key.data() + prefix.size()),
                                                        std::string(value)});
                             bytes += value.size();
                             return entries.size() < limit && bytes < kMaxReadBytes;
                           });
  if (!scanned.ok()) {
    return scanned.error();
  }
  if (failure) {
    return *failure;
  }
  return entries;
}

Result<std::optional<ReplicaMeta>> KvEventStore::read_meta(std::string_view actor) const {
  return read_meta_record(actor, nullptr);
}

Result<std::optional<ReplicaMeta>> KvEventStore::read_meta_record(std::string_view actor,
                                                                  std::optional<std::string>* replication) const {
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    return valid.error();
  }
  Result<std::optional<std::string>> bytes = kv_get(layout::meta_key(actor));
  if (!bytes.ok()) {
    return bytes.error();
  }
  if (!bytes->has_value()) {
    return std::optional<ReplicaMeta>{};
  }
  Result<ReplicaMeta> meta = layout::decode_meta(**bytes, replication);
  if (!meta.ok()) {
    return make_error(meta.error().code, "actor '" + std::string(actor) + "': " + meta.error().message);
  }
  return std::optional<ReplicaMeta>(*meta);
}

Result<std::optional<Snapshot>> KvEventStore::read_snapshot(std::string_view actor, std::string_view handler) const {
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    return valid.error();
  }
  if (Status valid = validate_handler_name(handler); !valid.ok()) {
    return valid.error();
  }
  Result<std::optional<std::string>> bytes = kv_get(layout::snapshot_key(actor, handler));
  if (!bytes.ok()) {
    return bytes.error();
  }
  if (!bytes->has_value()) {
    return std::optional<Snapshot>{};
  }
  Result<Snapshot> snapshot = layout::decode_snapshot(**bytes);
  if (!snapshot.ok()) {
    return make_error(snapshot.error().code, "actor '" + std::string(actor) + "' handler '" + std::string(handler) +
                                                 "': " + snapshot.error().message);
  }
  return std::optional<Snapshot>(std::move(snapshot).value());
}

Result<std::vector<SnapshotRecord>> KvEventStore::read_snapshots(std::string_view actor) const {
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    return valid.error();
  }
  const std::string prefix = layout::snapshot_prefix(actor);
  std::vector<SnapshotRecord> records;
  std::optional<Error> failure;
  Status scanned = kv_scan(prefix, layout::prefix_end(prefix), [&](std::string_view key, std::string_view value) {
    if (records.size() == kMaxSnapshotsPerActor) {
      failure = make_error(ErrorCode::kIo, "actor '" + std::string(actor) + "' has more than " +
                                               std::to_string(kMaxSnapshotsPerActor) + " snapshots");
      return false;
    }
    Result<Snapshot> snapshot = layout::decode_snapshot(value);
    if (!snapshot.ok()) {
      failure = make_error(snapshot.error().code, "actor '" + std::string(actor) + "': " + snapshot.error().message);
      return false;
    }
    records.push_back(SnapshotRecord{std::string(key.substr(prefix.size())), std::move(snapshot).value()});
    return true;
  });
  if (!scanned.ok()) {
    return scanned.error();
  }
  if (failure) {
    return *failure;
  }
  return records;
}

Result<std::optional<IdempotencyRecord>> KvEventStore::find_command(std::string_view actor,
                                                                    std::string_view command_id) const {
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    return valid.error();
  }
  if (Status valid = validate_command_id(command_id); !valid.ok()) {
    return valid.error();
  }
  Result<std::optional<std::string>> bytes = kv_get(layout::idempotency_key(actor, command_id));
  if (!bytes.ok()) {
    return bytes.error();
  }
  if (!bytes->has_value()) {
    return std::optional<IdempotencyRecord>{};
  }
  Result<layout::StoredIdempotency> record = layout::decode_idempotency(**bytes);
  if (!record.ok()) {
    return make_error(record.error().code, "actor '" + std::string(actor) + "': " + record.error().message);
  }
  if (record->hash) {
    return std::optional<IdempotencyRecord>(IdempotencyRecord{record->seq, *record->hash});  // version 1
  }
  // Version 2: the hash is the entry's. Only retries of commands applied
  // before the actor's in-memory window get here, so the second read is rare.
  const uint64_t seq = record->seq;
  auto broken = [&](const std::string& why) {
    return corrupt("actor '" + std::string(actor) + "': the idempotency record of a command points at seq " +
                   std::to_string(seq) + ", " + why);
  };
  Result<std::optional<std::string>> entry_bytes = kv_get(layout::log_key(actor, seq));
  if (!entry_bytes.ok()) {
    return entry_bytes.error();
  }
  if (!entry_bytes->has_value()) {
    return broken("which the log does not hold");
  }
  Result<EntryView> entry = parse_entry(**entry_bytes);
  if (!entry.ok()) {
    return broken("whose entry is unreadable: " + entry.error().message);
  }
  if (entry->seq != seq || entry->id != command_id) {
    return broken("whose entry is another command's");
  }
  return std::optional<IdempotencyRecord>(IdempotencyRecord{seq, entry->hash});
}

Result<std::vector<OutboxRecord>> KvEventStore::read_outbox(std::string_view actor, uint64_t from_seq,
                                                            uint32_t from_index, size_t limit) const {
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    return valid.error();
  }
  if (Status valid = check_limit(limit); !valid.ok()) {
    return valid.error();
  }
  limit = std::min(limit, kMaxReadOutbox);
  const std::string prefix = layout::outbox_prefix(actor);
  std::vector<OutboxRecord> records;
  std::optional<Error> failure;
  Status scanned = kv_scan(layout::outbox_key(actor, from_seq, from_index), layout::prefix_end(prefix),
                           [&](std::string_view key, std::string_view value) {
                             if (key.size() != prefix.size() + 13) {
                               failure = corrupt("outbox key of actor '" + std::string(actor) + "' has a bad length");
                               return false;
                             }
                             const char* suffix = key.data() + prefix.size();
                             records.push_back(
                                 OutboxRecord{detail::get_be64(suffix), detail::get_be32(suffix + 9), std::string(value)});
                             return records.size() < limit;
                           });
  if (!scanned.ok()) {
    return scanned.error();
  }
  if (failure) {
    return *failure;
  }
  return records;
}

Result<std::optional<std::string>> KvEventStore::read_replication_meta(std::string_view actor) const {
  // In the meta record (what is written now), else the separate record
  // older versions wrote.
  std::optional<std::string> embedded;
  if (Result<std::optional<ReplicaMeta>> meta = read_meta_record(actor, &embedded); !meta.ok()) {
    return meta.error();
  }
  if (embedded) {
    return embedded;
  }
  return kv_get(layout::replication_meta_key(actor));
}

Result<std::vector<std::string>> KvEventStore::list_actors(std::string_view after_actor, size_t limit) const {
  if (Status valid = check_limit(limit); !valid.ok()) {
    return valid.error();
  }
  limit = std::min(limit, kMaxListActors);
  std::string start(layout::kMetaPrefix);
  if (!after_actor.empty()) {
    start.append(after_actor);
    start.push_back('\0');  // the smallest key after m/<after_actor>
  }
  std::vector<std::string> actors;
  Status scanned = kv_scan(start, layout::prefix_end(layout::kMetaPrefix), [&](std::string_view key, std::string_view) {
    actors.emplace_back(key.substr(layout::kMetaPrefix.size()));
    return actors.size() < limit;
  });
  if (!scanned.ok()) {
    return scanned.error();
  }
  return actors;
}

}  // namespace quorum::store
