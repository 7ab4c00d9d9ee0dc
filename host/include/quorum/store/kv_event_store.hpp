// KvEventStore: the EventStore operations written once over an ordered
// key-value space with the layout of layout.hpp. LevelDbStore and
// MemoryStore supply the three primitives; everything else (key layout,
// record encodings, bounds, truncation) is shared, so the simulator runs the
// same code as production above the key-value space.
#pragma once

#include <quorum/store/event_store.hpp>

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::store {

// A resolved write: truncations already expanded into deletes. Views, not
// copies (encode once, copy once: into the key-value store itself).
struct KvWrite {
  bool is_delete = false;
  std::string_view key;
  std::string_view value;
};

// The resolved writes of one batch, in batch order. Keys and values point
// into the WriteBatch they were resolved from (which must outlive this) or
// into `owned` (keys a truncation found stored); a deque, so they stay put.
struct KvWrites {
  std::vector<KvWrite> writes;
  std::deque<std::string> owned;
};

class KvEventStore : public EventStore {
 public:
  Status commit(const WriteBatch& batch) override;
  Result<std::vector<RawEntry>> read_log(std::string_view actor, uint64_t from_seq, size_t limit) const override;
  Result<std::optional<ReplicaMeta>> read_meta(std::string_view actor) const override;
  Result<std::optional<Snapshot>> read_snapshot(std::string_view actor, std::string_view handler) const override;
  Result<std::vector<SnapshotRecord>> read_snapshots(std::string_view actor) const override;
  Result<std::optional<IdempotencyRecord>> find_command(std::string_view actor,
                                                        std::string_view command_id) const override;
  Result<std::vector<OutboxRecord>> read_outbox(std::string_view actor, uint64_t from_seq, uint32_t from_index,
                                                size_t limit) const override;
  Result<std::optional<std::string>> read_replication_meta(std::string_view actor) const override;
  Result<std::vector<std::string>> list_actors(std::string_view after_actor, size_t limit) const override;

 protected:
  // Called with each (key, value) in [start, end) in key order ("" end: no
  // bound) until it returns false.
  using KvVisitor = std::function<bool(std::string_view key, std::string_view value)>;

  virtual Result<std::optional<std::string>> kv_get(std::string_view key) const = 0;
  virtual Status kv_scan(std::string_view start, std::string_view end, const KvVisitor& visit) const = 0;
  // Applies resolved writes atomically and durably (the commit point). Later
  // writes of one key win over earlier ones.
  virtual Status kv_apply(const KvWrites& writes) = 0;

  // Turns a batch into resolved writes against the current contents (a
  // truncation becomes deletes of the stored records past its seq and of
  // those put earlier in the same batch). Implementations call it and
  // kv_apply under one lock so no commit runs between them.
  Result<KvWrites> resolve(const WriteBatch& batch) const;

 private:
  // The actor's meta record, decoded; `replication` gets its seventh
  // element (read_meta and read_replication_meta both read this record).
  Result<std::optional<ReplicaMeta>> read_meta_record(std::string_view actor,
                                                      std::optional<std::string>* replication) const;
  // Deletes of every key in [first, end): put earlier in the batch or stored.
  Status resolve_range(std::string_view first, std::string_view end, std::string_view what, KvWrites& resolved) const;
  // Deletes of the actor's snapshots past `seq`, as the batch so far leaves them.
  Status resolve_snapshots(std::string_view actor, uint64_t seq, KvWrites& resolved) const;
};

}  // namespace quorum::store
