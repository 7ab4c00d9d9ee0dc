// The replication adapter (replication/store_log.hpp) against a plain model
// (store_log_model.hpp), with rapidcheck (RC_PARAMS="seed=N" replays): random
// writes of two keys (appends of chained entries, truncations, commands
// re-appended at other seqs after a truncation), the actor's own outbox and
// snapshot records between them, split into random batches — and on
// MemoryStore random crashes that lose a whole batch — leave every key's
// entries, idempotency answers, meta (p/ and m/), outbox and snapshots
// exactly as the model says, on MemoryStore and LevelDbStore.
#include <quorum/replication/store_log.hpp>
#include <quorum/store/leveldb_store.hpp>
#include <quorum/store/memory_store.hpp>

#include "replication/store_log_model.hpp"
#include "store/store_test_support.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace quorum::replication {
namespace {

using store::EventStore;
using store::WriteBatch;
using testing::differences;
using testing::KeyModel;

// Steps of one key: a write (maybe truncating), or the actor's own records.
void random_step(const std::string& key, KeyModel& model, WriteApplier& applier, WriteBatch& batch, uint64_t& epoch) {
  const int kind = *rc::gen::inRange(0, 10);
  if (kind <= 6 || model.log.empty()) {
    uint64_t after = kNoTruncate;
    if (!model.log.empty() && *rc::gen::inRange(0, 2) == 0) {
      after = *rc::gen::inRange<uint64_t>(0, model.last() + 1);
    }
    if (after != kNoTruncate) {
      epoch += 1;  // a new writer's entries: other hashes for the same seqs
    }
    // Ids from a small pool, so removed commands come back at other seqs;
    // never one the surviving log holds (the actor deduplicates).
    KeyModel kept = model;
    if (after != kNoTruncate) {
      (void)kept.write(after, {}, epoch);
    }
    std::vector<std::string> ids;
    const size_t count = *rc::gen::inRange<size_t>(after == kNoTruncate ? 1 : 0, 5);
    std::set<std::string> taken;
    for (const auto& [id, seq] : kept.ids) {
      taken.insert(id);
    }
    for (size_t i = 0; i < count; ++i) {
      std::string id = *rc::gen::element<std::string>("", "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7");
      if (taken.count(id)) {
        id.clear();
      }
      if (!id.empty()) {
        taken.insert(id);
      }
      ids.push_back(id);
    }
    const uint64_t topology = *rc::gen::inRange<uint64_t>(1, 4);
    const Ballot accepted{topology, 0, 1};
    const Ballot promised{topology + *rc::gen::inRange<uint64_t>(0, 2), 0, 2};
    Write w = model.write(after, ids, epoch, promised, accepted, *rc::gen::inRange<uint64_t>(0, 3));
    const bool moved = *rc::gen::arbitrary<bool>();
    Status added = moved ? applier.add(key, std::move(w), batch) : applier.add(key, w, batch);
    RC_ASSERT(added.ok());
  } else if (kind <= 8) {
    const uint64_t seq = *rc::gen::inRange<uint64_t>(1, model.last() + 1);
    const uint32_t index = *rc::gen::inRange<uint32_t>(0, 2);
    RC_ASSERT(batch.put_outbox(key, seq, index, "effect").ok());
    model.outbox.emplace(seq, index);
  } else {
    const uint64_t seq = *rc::gen::inRange<uint64_t>(1, model.last() + 1);
    const std::string handler = *rc::gen::element<std::string>("tally", "audit");
    RC_ASSERT(batch.put_snapshot(key, handler, store::Snapshot{seq, model.log[seq - 1].hash(), "1", 1, "\x01"}).ok());
    model.snapshots[handler] = seq;
  }
}

// Runs the property over `store`; `crash`, if set, writes a batch without
// syncing it and crashes (MemoryStore), which must leave the durable state.
void run_property(EventStore& store, const std::function<void(const WriteBatch&)>& crash) {
  std::map<std::string, KeyModel> models{{"k", {}}, {"k2", {}}};
  WriteApplier applier(store);
  uint64_t epoch = 1;
  const int batches = *rc::gen::inRange(1, 12);
  for (int b = 0; b < batches; ++b) {
    std::map<std::string, KeyModel> next = models;
    WriteBatch batch;
    applier.clear();
    const int steps = *rc::gen::inRange(1, 10);
    for (int s = 0; s < steps; ++s) {
      const std::string key = *rc::gen::element<std::string>("k", "k2");
      random_step(key, next[key], applier, batch, epoch);
    }
    if (crash && *rc::gen::inRange(0, 4) == 0) {
      crash(batch);  // the batch is lost as a whole
    } else {
      RC_ASSERT(store.commit(batch).ok());
      models = next;
    }
    for (const auto& [key, model] : models) {
      KeyModel expected = model;
      expected.ever.insert(next[key].ever.begin(), next[key].ever.end());  // ids of a lost batch stay absent too
      const std::string diff = differences(store, key, expected);
      RC_LOG() << "batch " << b << " key " << key << ": " << diff << "\n";
      RC_ASSERT(diff.empty());
    }
  }
}

RC_GTEST_PROP(StoreLogProperty, MemoryStoreEqualsTheModel, ()) {
  store::MemoryStore store;
  run_property(store, [&](const WriteBatch& batch) {
    RC_ASSERT(store.write(batch).ok());
    store.crash();
  });
}

RC_GTEST_PROP(StoreLogProperty, LevelDbStoreEqualsTheModel, ()) {
  store::testing::TempDir dir;
  store::LevelDbOptions options;
  options.sync = false;  // contents under test, not durability
  Result<std::unique_ptr<store::LevelDbStore>> opened = store::LevelDbStore::open(dir.path().string(), options);
  RC_ASSERT(opened.ok());
  run_property(**opened, nullptr);
}

}  // namespace
}  // namespace quorum::replication
