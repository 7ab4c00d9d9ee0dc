// Test helper for the replication adapter's tests (store_log.hpp): a plain
// model of what one key's stored state must be after the WriteApplier's
// writes, and a comparison of a store against it.
#pragma once

#include <quorum/replication/store_log.hpp>
#include <quorum/store/event_store.hpp>
#include <quorum/store/recovery.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quorum::replication::testing {

using store::EncodedEntry;
using store::EventStore;
using store::Hash;
using store::kGenesisHash;

// Entries first.. chained after `prev`, one per id ("" for none).
inline std::vector<EncodedEntry> make_entries(const Hash& prev, uint64_t first, const std::vector<std::string>& ids,
                                              uint64_t epoch) {
  std::vector<EncodedEntry> out;
  Hash h = prev;
  for (size_t i = 0; i < ids.size(); ++i) {
    const uint64_t seq = first + i;
    Result<EncodedEntry> e =
        store::encode_entry(h, store::EntryDraft{seq, epoch, static_cast<int64_t>(seq * 10 + epoch), ids[i], "ballot",
                                                 std::string(1, static_cast<char>(epoch & 0x7f))});
    QUORUM_ASSERT(e.ok());
    h = e->hash();
    out.push_back(std::move(e).value());
  }
  return out;
}

// What one key's stored state must be: a plain model of the applier's job.
struct KeyModel {
  std::vector<EncodedEntry> log;
  std::map<std::string, uint64_t> ids;             // command id -> seq
  std::set<std::pair<uint64_t, uint32_t>> outbox;  // (source seq, index)
  std::map<std::string, uint64_t> snapshots;       // handler -> seq
  std::optional<Meta> meta;
  std::set<std::string> ever;  // every id ever used (absent ones must stay absent)

  Hash head() const { return log.empty() ? kGenesisHash : log.back().hash(); }
  uint64_t last() const { return log.size(); }

  // A write that truncates after `after` (kNoTruncate: no truncation) and
  // appends entries with `new_ids`; the model applies it as it builds it.
  Write write(uint64_t after, const std::vector<std::string>& new_ids, uint64_t epoch, Ballot promised = {1, 0, 1},
              Ballot accepted = {1, 0, 1}, uint64_t commit_back = 0) {
    Write w;
    w.truncate_after = after;
    if (after != kNoTruncate) {
      log.erase(log.begin() + static_cast<std::ptrdiff_t>(std::min<uint64_t>(after, log.size())), log.end());
      std::erase_if(ids, [&](const auto& id) { return id.second > after; });
      std::erase_if(outbox, [&](const auto& record) { return record.first > after; });
      std::erase_if(snapshots, [&](const auto& snapshot) { return snapshot.second > after; });
    }
    w.entries = make_entries(head(), last() + 1, new_ids, epoch);
    for (const EncodedEntry& entry : w.entries) {
      log.push_back(entry);
      const std::string id(entry.view().id);
      if (!id.empty()) {
        ids[id] = entry.seq();
        ever.insert(id);
      }
    }
    Meta m;
    m.promised = promised;
    m.accepted = accepted;
    m.last_seq = last();
    m.vouched = last();
    m.commit = last() - std::min(commit_back, last());
    m.head = head();
    w.meta = m;
    meta = m;
    return w;
  }
};

// The first way `store` differs from `model` for `key` ("" if none).
inline std::string differences(const EventStore& store, const std::string& key, const KeyModel& model) {
  Result<std::vector<store::RawEntry>> raw = store.read_log(key, 0, store::kMaxReadEntries);
  if (!raw.ok()) {
    return "read_log: " + raw.error().message;
  }
  if (raw->size() != model.log.size()) {
    return "log has " + std::to_string(raw->size()) + " entries, model " + std::to_string(model.log.size());
  }
  for (size_t i = 0; i < raw->size(); ++i) {
    if ((*raw)[i].seq != i + 1 || (*raw)[i].bytes != model.log[i].bytes()) {
      return "entry " + std::to_string(i + 1) + " differs";
    }
  }
  StoreLog log(store);
  if (log.read(key, 1, model.last(), SIZE_MAX) != model.log) {
    return "StoreLog::read differs";
  }
  for (uint64_t seq = 0; seq <= model.last() + 1; ++seq) {
    const std::optional<Hash> expected =
        seq == 0 ? std::optional<Hash>(kGenesisHash)
                 : (seq <= model.last() ? std::optional<Hash>(model.log[seq - 1].hash()) : std::nullopt);
    if (log.hash_at(key, seq) != expected) {
      return "StoreLog::hash_at(" + std::to_string(seq) + ") differs";
    }
  }
  if (log.faults() != 0) {
    return "StoreLog counted faults";
  }
  for (const std::string& id : model.ever) {
    Result<std::optional<store::IdempotencyRecord>> found = store.find_command(key, id);
    if (!found.ok()) {
      return "find_command(" + id + "): " + found.error().message;
    }
    auto expected = model.ids.find(id);
    if (expected == model.ids.end()) {
      if (found->has_value()) {
        return "find_command(" + id + ") answers seq " + std::to_string((*found)->seq) + " for a removed entry";
      }
      continue;
    }
    if (!found->has_value() || (*found)->seq != expected->second ||
        (*found)->hash != model.log[expected->second - 1].hash()) {
      return "find_command(" + id + ") is not seq " + std::to_string(expected->second);
    }
  }
  Result<std::optional<Meta>> meta = load_meta(store, key);
  if (!meta.ok() || *meta != model.meta) {
    return "load_meta differs";
  }
  Result<std::optional<store::ReplicaMeta>> replica_meta = store.read_meta(key);
  if (!replica_meta.ok() || replica_meta->has_value() != model.meta.has_value() ||
      (model.meta && **replica_meta != to_replica_meta(*model.meta))) {
    return "m/ meta differs";
  }
  Result<std::vector<store::OutboxRecord>> outbox = store.read_outbox(key, 0, 0, store::kMaxReadOutbox);
  Result<std::vector<store::SnapshotRecord>> snapshots = store.read_snapshots(key);
  if (!outbox.ok() || !snapshots.ok()) {
    return "outbox or snapshots unreadable";
  }
  std::set<std::pair<uint64_t, uint32_t>> stored_outbox;
  for (const store::OutboxRecord& record : *outbox) {
    stored_outbox.emplace(record.source_seq, record.index);
  }
  if (stored_outbox != model.outbox) {
    return "outbox differs";
  }
  std::map<std::string, uint64_t> stored_snapshots;
  for (const store::SnapshotRecord& record : *snapshots) {
    stored_snapshots[record.handler] = record.snapshot.seq;
  }
  if (stored_snapshots != model.snapshots) {
    return "snapshots differ";
  }
  if (model.meta) {
    store::LogVerification verified = store::verify_actor_log(store, key);
    if (!verified.ok()) {
      return "verify_actor_log: " + (verified.fault ? verified.fault->describe() : verified.error->message);
    }
  }
  return "";
}

}  // namespace quorum::replication::testing
