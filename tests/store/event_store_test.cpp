// One suite over both EventStore implementations (typed tests): batches,
// atomicity, reopen, truncation, bounded reads, idempotency, outbox, actor
// listing and recovery.
#include <quorum/store/event_store.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/memory_store.hpp>
#include <quorum/store/recovery.hpp>

#include "store_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace {

using namespace quorum::store;
using quorum::Result;
using quorum::Status;
using namespace quorum::store::testing;
using quorum::ErrorCode;

template <class Harness>
class EventStoreTest : public ::testing::Test {
 protected:
  Harness harness_;
  EventStore& store() { return harness_.get(); }

  // Commits a chain of `count` entries for `actor` (after what it has).
  std::vector<EncodedEntry> commit_log(const std::string& actor, size_t count, const std::string& tag = "v") {
    std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, count, 1, tag);
    WriteBatch batch;
    add_log(batch, actor, log);
    EXPECT_TRUE(store().commit(batch).ok());
    return log;
  }
};

struct HarnessNames {
  template <class T>
  static std::string GetName(int) {
    return T::name;
  }
};

using Harnesses = ::testing::Types<MemoryHarness, LevelDbHarness>;
TYPED_TEST_SUITE(EventStoreTest, Harnesses, HarnessNames);

TYPED_TEST(EventStoreTest, EmptyStoreAnswersNothing) {
  EventStore& store = this->store();
  Result<std::vector<RawEntry>> log = store.read_log("a", 1, 10);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->empty());
  EXPECT_FALSE(store.read_meta("a")->has_value());
  EXPECT_FALSE(store.read_snapshot("a", "tally")->has_value());
  EXPECT_TRUE(store.read_snapshots("a")->empty());
  EXPECT_FALSE(store.find_command("a", "b-1")->has_value());
  EXPECT_TRUE(store.read_outbox("a", 0, 0, 10)->empty());
  EXPECT_TRUE(store.list_actors("", 10)->empty());
  EXPECT_TRUE(store.commit(WriteBatch{}).ok());
  Result<RecoveredActor> fresh = recover_actor(store, "a");
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->exists);
  EXPECT_TRUE(fresh->tail.empty());
}

TYPED_TEST(EventStoreTest, CommitsLogsOfManyActorsInOneBatch) {
  WriteBatch batch;
  std::map<std::string, std::vector<EncodedEntry>> logs;
  for (int actor = 0; actor < 20; ++actor) {
    const std::string key = "e/precinct/" + std::to_string(actor);
    logs[key] = make_chain(kGenesisHash, 1, static_cast<size_t>(actor % 5 + 1), 1, key);
    add_log(batch, key, logs[key]);
  }
  ASSERT_TRUE(this->store().commit(batch).ok());
  for (const auto& [key, log] : logs) {
    Result<std::vector<RawEntry>> read = this->store().read_log(key, 1, 100);
    ASSERT_TRUE(read.ok());
    ASSERT_EQ(read->size(), log.size());
    for (size_t i = 0; i < log.size(); ++i) {
      EXPECT_EQ((*read)[i].seq, i + 1);
      EXPECT_EQ((*read)[i].bytes, log[i].bytes());
    }
    EXPECT_EQ(**this->store().read_meta(key), meta_for(log));
    Result<RecoveredActor> recovered = recover_actor(this->store(), key);
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    EXPECT_TRUE(recovered->exists);
    EXPECT_EQ(recovered->tail, log);
  }
  Result<std::vector<std::string>> actors = this->store().list_actors("", 100);
  ASSERT_TRUE(actors.ok());
  EXPECT_EQ(actors->size(), 20u);
  EXPECT_TRUE(std::is_sorted(actors->begin(), actors->end()));
}

TYPED_TEST(EventStoreTest, ReopenKeepsEverythingCommitted) {
  std::vector<EncodedEntry> log = this->commit_log("county/davidson", 10);
  WriteBatch extra;
  ASSERT_TRUE(extra.put_snapshot("county/davidson", "tally", Snapshot{5, log[4].hash(), "1.0.0", 2, "\x90"}).ok());
  ASSERT_TRUE(extra.put_idempotency("county/davidson", "id-v3", IdempotencyRecord{3, log[2].hash()}).ok());
  ASSERT_TRUE(extra.put_outbox("county/davidson", 7, 0, "effect").ok());
  ASSERT_TRUE(this->store().commit(extra).ok());
  this->harness_.reopen();
  Result<RecoveredActor> recovered = recover_actor(this->store(), "county/davidson");
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->meta, meta_for(log));
  ASSERT_EQ(recovered->snapshots.size(), 1u);
  EXPECT_EQ(recovered->snapshots[0].handler, "tally");
  EXPECT_EQ(recovered->tail_after_seq, 5u);
  ASSERT_EQ(recovered->tail.size(), 5u);
  EXPECT_EQ(recovered->tail.front(), log[5]);
  EXPECT_EQ(**this->store().find_command("county/davidson", "id-v3"), (IdempotencyRecord{3, log[2].hash()}));
  ASSERT_EQ(this->store().read_outbox("county/davidson", 0, 0, 10)->size(), 1u);
}

TYPED_TEST(EventStoreTest, InvalidKeysAreRefusedAndChangeNothing) {
  WriteBatch batch;
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 1);
  EXPECT_EQ(batch.append("", log[0]).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(batch.append(std::string("a\0b", 3), log[0]).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(batch.append(std::string(kMaxActorKeyBytes + 1, 'k'), log[0]).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(batch.put_snapshot("a", "", Snapshot{}).ok());
  EXPECT_FALSE(batch.put_idempotency("a", "", IdempotencyRecord{}).ok());
  EXPECT_FALSE(batch.put_outbox("a", 1, 0, std::string(kMaxEffectBytes + 1, 'x')).ok());
  EXPECT_TRUE(batch.empty());
  EXPECT_FALSE(this->store().read_log("", 1, 1).ok());
  EXPECT_FALSE(this->store().read_meta(std::string("a\0", 2)).ok());
  EXPECT_FALSE(this->store().read_log("a", 1, 0).ok());  // limit 0
}

TYPED_TEST(EventStoreTest, ReadsAreBounded) {
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, kMaxReadEntries + 10);
  WriteBatch batch;
  add_log(batch, "big", log);
  ASSERT_TRUE(this->store().commit(batch).ok());
  Result<std::vector<RawEntry>> page = this->store().read_log("big", 1, kMaxReadEntries * 4);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->size(), kMaxReadEntries);  // clamped
  Result<std::vector<RawEntry>> window = this->store().read_log("big", 100, 7);
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 7u);
  EXPECT_EQ(window->front().seq, 100u);
  EXPECT_EQ(window->back().seq, 106u);
  Result<std::vector<RawEntry>> tail = this->store().read_log("big", kMaxReadEntries + 5, 100);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->size(), 6u);
  // Paging through list_actors.
  WriteBatch metas;
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(metas.put_meta("actor/" + std::to_string(100 + i), ReplicaMeta{}).ok());
  }
  ASSERT_TRUE(this->store().commit(metas).ok());
  std::vector<std::string> seen;
  std::string after;
  for (;;) {
    Result<std::vector<std::string>> next = this->store().list_actors(after, 10);
    ASSERT_TRUE(next.ok());
    if (next->empty()) {
      break;
    }
    EXPECT_LE(next->size(), 10u);
    seen.insert(seen.end(), next->begin(), next->end());
    after = next->back();
  }
  EXPECT_EQ(seen.size(), 26u);  // 25 + "big"
}

TYPED_TEST(EventStoreTest, TruncationDropsTheTailAndAllowsANewOne) {
  std::vector<EncodedEntry> log = this->commit_log("k", 10);
  std::vector<EncodedEntry> other = this->commit_log("k2", 3);  // a neighbour key must not be touched
  WriteBatch batch;
  ASSERT_TRUE(batch.truncate_log_after("k", 6).ok());
  std::vector<EncodedEntry> rewritten = make_chain(log[5].hash(), 7, 2, 2, "new");
  for (const EncodedEntry& entry : rewritten) {
    ASSERT_TRUE(batch.append("k", entry).ok());
  }
  ReplicaMeta meta{2, 8, 6, rewritten.back().hash(), 2};
  ASSERT_TRUE(batch.put_meta("k", meta).ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  Result<std::vector<RawEntry>> read = this->store().read_log("k", 1, 100);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 8u);
  EXPECT_EQ((*read)[6].bytes, rewritten[0].bytes());
  Result<RecoveredActor> recovered = recover_actor(this->store(), "k");
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->meta, meta);
  EXPECT_EQ(this->store().read_log("k2", 1, 10)->size(), 3u);
  EXPECT_TRUE(recover_actor(this->store(), "k2").ok());

  // Truncating within one batch also drops entries appended earlier in it.
  WriteBatch same;
  std::vector<EncodedEntry> more = make_chain(rewritten.back().hash(), 9, 3);
  for (const EncodedEntry& entry : more) {
    ASSERT_TRUE(same.append("k", entry).ok());
  }
  ASSERT_TRUE(same.truncate_log_after("k", 9).ok());
  ASSERT_TRUE(same.put_meta("k", ReplicaMeta{2, 9, 6, more[0].hash(), 2}).ok());
  ASSERT_TRUE(this->store().commit(same).ok());
  EXPECT_EQ(this->store().read_log("k", 1, 100)->size(), 9u);
  EXPECT_TRUE(recover_actor(this->store(), "k").ok());

  WriteBatch all;
  ASSERT_TRUE(all.truncate_log_after("k", 0).ok());
  ASSERT_TRUE(all.put_meta("k", ReplicaMeta{3, 0, 0, kGenesisHash, 0}).ok());
  ASSERT_TRUE(this->store().commit(all).ok());
  EXPECT_TRUE(this->store().read_log("k", 0, 100)->empty());
  EXPECT_TRUE(recover_actor(this->store(), "k").ok());
}

TYPED_TEST(EventStoreTest, IdempotencyRecordsRoundTrip) {
  // Each record in the batch of its entry, as the actor writes them; the same
  // command id in two actors (different epochs, so different hashes).
  std::vector<EncodedEntry> p1 = make_chain(kGenesisHash, 1, 2, 1, "x");
  Result<EncodedEntry> binary =
      encode_entry(p1[1].hash(), EntryDraft{3, 1, 1003, std::string("bin\0id", 6), "cast", "\xc0"});
  ASSERT_TRUE(binary.ok());
  p1.push_back(*binary);
  std::vector<EncodedEntry> p2 = make_chain(kGenesisHash, 1, 9, 2, "x");
  ASSERT_NE(p1[0].hash(), p2[0].hash());
  WriteBatch batch;
  add_log(batch, "p/1", p1);
  add_log(batch, "p/2", p2);
  ASSERT_TRUE(batch.put_idempotency("p/1", "id-x1", IdempotencyRecord{1, p1[0].hash()}).ok());
  ASSERT_TRUE(batch.put_idempotency("p/1", std::string("bin\0id", 6), IdempotencyRecord{3, p1[2].hash()}).ok());
  ASSERT_TRUE(batch.put_idempotency("p/2", "id-x1", IdempotencyRecord{1, p2[0].hash()}).ok());
  ASSERT_TRUE(batch.put_idempotency("p/2", "id-x9", IdempotencyRecord{9, p2[8].hash()}).ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(**this->store().find_command("p/1", "id-x1"), (IdempotencyRecord{1, p1[0].hash()}));
    EXPECT_EQ(**this->store().find_command("p/1", std::string("bin\0id", 6)), (IdempotencyRecord{3, p1[2].hash()}));
    EXPECT_EQ(**this->store().find_command("p/2", "id-x1"), (IdempotencyRecord{1, p2[0].hash()}));
    EXPECT_EQ(**this->store().find_command("p/2", "id-x9"), (IdempotencyRecord{9, p2[8].hash()}));
    EXPECT_FALSE(this->store().find_command("p/1", "id-x2")->has_value());  // an entry without a record
    EXPECT_FALSE(this->store().find_command("p/1", "ballot-2")->has_value());
    EXPECT_FALSE(this->store().find_command("p/3", "id-x1")->has_value());
    this->harness_.reopen();
  }
  EXPECT_EQ(batch.put_idempotency("p/1", "id-x4", IdempotencyRecord{0, kGenesisHash}).error().code,
            ErrorCode::kInvalidArgument);
}

// A record whose entry is gone or is another command's is corruption (kIo):
// answering "not applied" or the other entry could apply a command twice.
TYPED_TEST(EventStoreTest, IdempotencyRecordWithoutItsEntryIsAnError) {
  std::vector<EncodedEntry> log = this->commit_log("p/1", 3);
  WriteBatch batch;
  ASSERT_TRUE(batch.put_idempotency("p/1", "gone", IdempotencyRecord{9, kGenesisHash}).ok());
  ASSERT_TRUE(batch.put_idempotency("p/1", "moved", IdempotencyRecord{2, log[1].hash()}).ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  Result<std::optional<IdempotencyRecord>> gone = this->store().find_command("p/1", "gone");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kIo);
  EXPECT_NE(gone.error().message.find("seq 9"), std::string::npos) << gone.error().message;
  Result<std::optional<IdempotencyRecord>> moved = this->store().find_command("p/1", "moved");
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().code, ErrorCode::kIo);
  EXPECT_NE(moved.error().message.find("another command"), std::string::npos) << moved.error().message;
  EXPECT_FALSE(this->store().find_command("p/1", "id-v2")->has_value());  // an entry without a record
}

// Records written by the first layout ([1, seq, hash]) are still answered.
TEST(MemoryStoreIdempotency, VersionOneRecordsAreStillRead) {
  MemoryStore store;
  const Hash hash = make_chain(kGenesisHash, 1, 1)[0].hash();
  std::string v1("\x93\x01\x05\xc4\x20", 5);
  v1.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  store.raw_put(layout::idempotency_key("p/1", "old"), v1);
  EXPECT_EQ(**store.find_command("p/1", "old"), (IdempotencyRecord{5, hash}));
  store.raw_put(layout::idempotency_key("p/1", "bad"), "\x92\x03\x05");
  EXPECT_EQ(store.find_command("p/1", "bad").error().code, ErrorCode::kIo);
}

TYPED_TEST(EventStoreTest, OutboxRecordsRoundTripScanAndDelete) {
  WriteBatch batch;
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    for (uint32_t index = 0; index < 3; ++index) {
      ASSERT_TRUE(batch.put_outbox("src", seq, index, "e" + std::to_string(seq) + "." + std::to_string(index)).ok());
    }
  }
  ASSERT_TRUE(batch.put_outbox("src2", 1, 0, "other").ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  Result<std::vector<OutboxRecord>> all = this->store().read_outbox("src", 0, 0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 15u);
  EXPECT_EQ(all->front(), (OutboxRecord{1, 0, "e1.0"}));
  EXPECT_EQ(all->back(), (OutboxRecord{5, 2, "e5.2"}));
  Result<std::vector<OutboxRecord>> from = this->store().read_outbox("src", 3, 1, 4);
  ASSERT_TRUE(from.ok());
  ASSERT_EQ(from->size(), 4u);
  EXPECT_EQ(from->front(), (OutboxRecord{3, 1, "e3.1"}));
  EXPECT_EQ(from->back(), (OutboxRecord{4, 1, "e4.1"}));
  WriteBatch confirm;
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    for (uint32_t index = 0; index < 3; ++index) {
      ASSERT_TRUE(confirm.delete_outbox("src", seq, index).ok());
    }
  }
  ASSERT_TRUE(this->store().commit(confirm).ok());
  Result<std::vector<OutboxRecord>> left = this->store().read_outbox("src", 0, 0, 100);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 3u);
  EXPECT_EQ(left->front().source_seq, 5u);
  EXPECT_EQ(this->store().read_outbox("src2", 0, 0, 100)->size(), 1u);
}

TYPED_TEST(EventStoreTest, SnapshotsArePerHandlerAndTheLatestWins) {
  std::vector<EncodedEntry> log = this->commit_log("c", 20);
  WriteBatch batch;
  ASSERT_TRUE(batch.put_snapshot("c", "tally", Snapshot{5, log[4].hash(), "1.0.0", 1, "\x01"}).ok());
  ASSERT_TRUE(batch.put_snapshot("c", "tally", Snapshot{15, log[14].hash(), "1.1.0", 2, "\x02"}).ok());
  ASSERT_TRUE(batch.put_snapshot("c", "audit", Snapshot{10, log[9].hash(), "0.3.0", 1, "\x03"}).ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  Result<std::optional<Snapshot>> tally = this->store().read_snapshot("c", "tally");
  ASSERT_TRUE(tally.ok());
  EXPECT_EQ(**tally, (Snapshot{15, log[14].hash(), "1.1.0", 2, "\x02"}));
  Result<std::vector<SnapshotRecord>> both = this->store().read_snapshots("c");
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].handler, "audit");
  // Recovery starts after the oldest snapshot (audit, seq 10).
  Result<RecoveredActor> recovered = recover_actor(this->store(), "c");
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->tail_after_seq, 10u);
  EXPECT_EQ(recovered->tail.size(), 10u);
  EXPECT_TRUE(verify_actor_log(this->store(), "c").ok());
}

// LevelDbStore writes a batch sorted by key: the sort must be stable, so a
// put and a delete of one key keep their order (the last wins) however many
// other keys sort between them.
TYPED_TEST(EventStoreTest, PutsAndDeletesOfOneKeyKeepTheirBatchOrder) {
  WriteBatch seed;
  ASSERT_TRUE(seed.put_outbox("z", 2, 0, "stored").ok());
  ASSERT_TRUE(this->store().commit(seed).ok());
  WriteBatch batch;
  ASSERT_TRUE(batch.put_outbox("z", 1, 0, "put-then-deleted").ok());
  for (int i = 0; i < 50; ++i) {  // keys on both sides of "o/z…" in key order
    ASSERT_TRUE(batch.put_outbox("a" + std::to_string(i), 1, 0, "x").ok());
    ASSERT_TRUE(batch.put_outbox("zz" + std::to_string(i), 1, 0, "x").ok());
  }
  ASSERT_TRUE(batch.delete_outbox("z", 1, 0).ok());
  ASSERT_TRUE(batch.delete_outbox("z", 2, 0).ok());  // delete of a stored record, then a put: the put stays
  ASSERT_TRUE(batch.put_outbox("z", 2, 0, "deleted-then-put").ok());
  ASSERT_TRUE(batch.put_outbox("z", 3, 0, "first").ok());  // two puts: the second wins
  ASSERT_TRUE(batch.put_outbox("z", 3, 0, "second").ok());
  ASSERT_TRUE(batch.put_replication_meta("z", "r1").ok());
  ASSERT_TRUE(batch.put_replication_meta("z", "r2").ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  auto check = [&] {
    Result<std::vector<OutboxRecord>> z = this->store().read_outbox("z", 0, 0, 100);
    ASSERT_TRUE(z.ok());
    EXPECT_EQ(*z, (std::vector<OutboxRecord>{{2, 0, "deleted-then-put"}, {3, 0, "second"}}));
    EXPECT_EQ(**this->store().read_replication_meta("z"), "r2");
  };
  check();
  this->harness_.reopen();
  check();
}

// The replication meta rides in the meta record (put_meta with bytes); a
// key written before that keeps its separate record, read when the meta
// record carries none, and shadowed once it does.
TYPED_TEST(EventStoreTest, ReplicationMetaRidesInTheMetaRecord) {
  std::vector<EncodedEntry> log = this->commit_log("k", 3);
  WriteBatch legacy;
  ASSERT_TRUE(legacy.put_replication_meta("k", "old-form").ok());
  ASSERT_TRUE(this->store().commit(legacy).ok());
  EXPECT_EQ(**this->store().read_replication_meta("k"), "old-form");  // six-element meta: the p/ record

  WriteBatch round;
  ASSERT_TRUE(round.put_meta("k", meta_for(log), "new-form").ok());
  EXPECT_EQ(round.size(), 1u);  // one record
  EXPECT_FALSE(round.put_meta("k", meta_for(log), std::string(kMaxReplicationMetaBytes + 1, 'x')).ok());
  EXPECT_FALSE(round.put_meta("k", meta_for(log), "").ok());  // would read back as none
  ASSERT_TRUE(this->store().commit(round).ok());
  auto check = [&] {
    EXPECT_EQ(**this->store().read_replication_meta("k"), "new-form");
    EXPECT_EQ(**this->store().read_meta("k"), meta_for(log));
    Result<std::vector<std::string>> actors = this->store().list_actors("", 10);
    ASSERT_TRUE(actors.ok());
    EXPECT_EQ(*actors, std::vector<std::string>{"k"});
  };
  check();
  this->harness_.reopen();
  check();
  // A key with neither: nothing.
  EXPECT_FALSE(this->store().read_replication_meta("none")->has_value());
}

// The operations a replica's log truncation needs beside truncate_log_after:
// outbox and snapshots past a seq (stored and earlier in the batch), one
// idempotency record; and the replication meta record.
TYPED_TEST(EventStoreTest, RangeDeletesOfOutboxSnapshotsAndIdempotency) {
  std::vector<EncodedEntry> log = this->commit_log("k", 10);
  this->commit_log("k2", 10);  // a neighbour: untouched
  WriteBatch setup;
  for (const std::string actor : {"k", "k2"}) {
    for (uint64_t seq = 1; seq <= 10; ++seq) {
      ASSERT_TRUE(setup.put_outbox(actor, seq, 0, "e").ok());
      ASSERT_TRUE(setup.put_outbox(actor, seq, 1, "f").ok());
    }
    ASSERT_TRUE(setup.put_snapshot(actor, "low", Snapshot{3, log[2].hash(), "1", 1, "\x01"}).ok());
    ASSERT_TRUE(setup.put_snapshot(actor, "at", Snapshot{6, log[5].hash(), "1", 1, "\x01"}).ok());
    ASSERT_TRUE(setup.put_snapshot(actor, "high", Snapshot{8, log[7].hash(), "1", 1, "\x01"}).ok());
    ASSERT_TRUE(setup.put_snapshot(actor, "replaced", Snapshot{9, log[8].hash(), "1", 1, "\x01"}).ok());
    ASSERT_TRUE(setup.put_snapshot(actor, "raised", Snapshot{2, log[1].hash(), "1", 1, "\x01"}).ok());
    ASSERT_TRUE(setup.put_idempotency(actor, "id-v9", IdempotencyRecord{9, log[8].hash()}).ok());
    ASSERT_TRUE(setup.put_idempotency(actor, "id-v2", IdempotencyRecord{2, log[1].hash()}).ok());
  }
  ASSERT_TRUE(setup.put_replication_meta("k", "meta-bytes").ok());
  ASSERT_TRUE(this->store().commit(setup).ok());
  EXPECT_EQ(**this->store().read_replication_meta("k"), "meta-bytes");
  EXPECT_FALSE(this->store().read_replication_meta("k2")->has_value());

  WriteBatch cut;
  ASSERT_TRUE(cut.put_outbox("k", 9, 5, "put earlier in the batch").ok());
  // A snapshot put earlier in the batch replaces the stored one of its
  // handler: judged by its own seq, in both directions.
  ASSERT_TRUE(cut.put_snapshot("k", "replaced", Snapshot{4, log[3].hash(), "1", 1, "\x02"}).ok());
  ASSERT_TRUE(cut.put_snapshot("k", "raised", Snapshot{7, log[6].hash(), "1", 1, "\x02"}).ok());
  ASSERT_TRUE(cut.truncate_log_after("k", 6).ok());
  ASSERT_TRUE(cut.truncate_outbox_after("k", 6).ok());
  ASSERT_TRUE(cut.drop_snapshots_after("k", 6).ok());
  ASSERT_TRUE(cut.delete_idempotency("k", "id-v9").ok());
  ASSERT_TRUE(cut.put_meta("k", meta_for(std::vector<EncodedEntry>(log.begin(), log.begin() + 6))).ok());
  // UINT64_MAX means "nothing is past it", never "everything" (seq + 1 wraps).
  ASSERT_TRUE(cut.truncate_log_after("k2", UINT64_MAX).ok());
  ASSERT_TRUE(cut.truncate_outbox_after("k2", UINT64_MAX).ok());
  ASSERT_TRUE(cut.drop_snapshots_after("k2", UINT64_MAX).ok());
  ASSERT_TRUE(this->store().commit(cut).ok());
  // A snapshot put after the drop stays.
  WriteBatch after;
  ASSERT_TRUE(after.drop_snapshots_after("k", 6).ok());
  ASSERT_TRUE(after.put_snapshot("k", "late", Snapshot{6, log[5].hash(), "1", 1, "\x03"}).ok());
  ASSERT_TRUE(this->store().commit(after).ok());

  EXPECT_EQ(this->store().read_log("k", 1, 100)->size(), 6u);
  Result<std::vector<OutboxRecord>> outbox = this->store().read_outbox("k", 0, 0, 100);
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 12u);
  EXPECT_EQ(outbox->back(), (OutboxRecord{6, 1, "f"}));
  std::vector<std::string> handlers;
  Result<std::vector<SnapshotRecord>> snapshots = this->store().read_snapshots("k");
  ASSERT_TRUE(snapshots.ok());
  for (const SnapshotRecord& record : *snapshots) {
    handlers.push_back(record.handler + "@" + std::to_string(record.snapshot.seq));
  }
  EXPECT_EQ(handlers, (std::vector<std::string>{"at@6", "late@6", "low@3", "replaced@4"}));
  EXPECT_FALSE(this->store().find_command("k", "id-v9")->has_value());
  EXPECT_EQ(this->store().find_command("k", "id-v2")->value().seq, 2u);
  EXPECT_TRUE(verify_actor_log(this->store(), "k").ok());
  EXPECT_EQ(this->store().read_log("k2", 1, 100)->size(), 10u);
  EXPECT_EQ(this->store().read_outbox("k2", 0, 0, 100)->size(), 20u);
  EXPECT_EQ(this->store().read_snapshots("k2")->size(), 5u);
  EXPECT_TRUE(this->store().find_command("k2", "id-v9")->has_value());

  EXPECT_FALSE(cut.put_replication_meta("k", "").ok());
  EXPECT_FALSE(cut.put_replication_meta("k", std::string(kMaxReplicationMetaBytes + 1, 'x')).ok());
  EXPECT_FALSE(cut.delete_idempotency("k", "").ok());
  EXPECT_FALSE(this->store().read_replication_meta("").ok());
}

// A stored snapshot that does not decode is dropped by drop_snapshots_after
// (it could never be used), and kept by everything else.
TEST(MemoryStoreSnapshots, AnUndecodableSnapshotIsDroppedOnTruncation) {
  MemoryStore store;
  store.raw_put(layout::snapshot_key("k", "bad"), "\x01\x02");
  WriteBatch keep;
  ASSERT_TRUE(keep.drop_snapshots_after("k", UINT64_MAX).ok());
  ASSERT_TRUE(store.commit(keep).ok());
  EXPECT_TRUE(store.raw_get(layout::snapshot_key("k", "bad")).has_value());
  WriteBatch drop;
  ASSERT_TRUE(drop.drop_snapshots_after("k", 0).ok());
  ASSERT_TRUE(store.commit(drop).ok());
  EXPECT_FALSE(store.raw_get(layout::snapshot_key("k", "bad")).has_value());
}

TYPED_TEST(EventStoreTest, RecoveryNamesTheActorSeqAndReason) {
  std::vector<EncodedEntry> log = this->commit_log("bad/head", 4);
  WriteBatch wrong_meta;
  ReplicaMeta meta = meta_for(log);
  meta.head = log[1].hash();
  ASSERT_TRUE(wrong_meta.put_meta("bad/head", meta).ok());
  ASSERT_TRUE(this->store().commit(wrong_meta).ok());
  RecoveryOutcome outcome = recover_actor_checked(this->store(), "bad/head");
  ASSERT_TRUE(outcome.fault.has_value());
  EXPECT_EQ(outcome.fault->actor, "bad/head");
  EXPECT_EQ(outcome.fault->seq, 4u);
  EXPECT_EQ(outcome.fault->kind, FaultKind::kMetaHeadMismatch);
  Result<RecoveredActor> refused = recover_actor(this->store(), "bad/head");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("actor 'bad/head' seq 4: meta head mismatch"), std::string::npos)
      << refused.error().message;

  // A gap: meta says 6 entries, the log holds 4.
  WriteBatch longer;
  ReplicaMeta ahead = meta_for(log);
  ahead.last_seq = 6;
  ASSERT_TRUE(longer.put_meta("bad/head", ahead).ok());
  ASSERT_TRUE(this->store().commit(longer).ok());
  outcome = recover_actor_checked(this->store(), "bad/head");
  ASSERT_TRUE(outcome.fault.has_value());
  EXPECT_EQ(outcome.fault->kind, FaultKind::kSeqGap);
  EXPECT_EQ(outcome.fault->seq, 5u);

  // Entries without meta.
  WriteBatch orphan;
  ASSERT_TRUE(orphan.append("orphan", log[0]).ok());
  ASSERT_TRUE(this->store().commit(orphan).ok());
  outcome = recover_actor_checked(this->store(), "orphan");
  ASSERT_TRUE(outcome.fault.has_value());
  EXPECT_EQ(outcome.fault->kind, FaultKind::kMetaMissing);

  // A snapshot whose chain hash disagrees with the log.
  std::vector<EncodedEntry> good = this->commit_log("snap", 6);
  WriteBatch snapshot;
  ASSERT_TRUE(snapshot.put_snapshot("snap", "tally", Snapshot{3, good[1].hash(), "1", 1, "\x90"}).ok());
  ASSERT_TRUE(this->store().commit(snapshot).ok());
  outcome = recover_actor_checked(this->store(), "snap");
  ASSERT_TRUE(outcome.fault.has_value());
  EXPECT_EQ(outcome.fault->kind, FaultKind::kSnapshotMismatch);
  EXPECT_EQ(outcome.fault->seq, 3u);
  EXPECT_FALSE(verify_actor_log(this->store(), "snap").ok());
}

TYPED_TEST(EventStoreTest, RecoveryRefusesAGapInsideTheLog) {
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 6);
  WriteBatch batch;
  for (const EncodedEntry& entry : log) {
    if (entry.seq() != 4) {
      ASSERT_TRUE(batch.append("holey", entry).ok());
    }
  }
  ASSERT_TRUE(batch.put_meta("holey", meta_for(log)).ok());
  ASSERT_TRUE(this->store().commit(batch).ok());
  RecoveryOutcome outcome = recover_actor_checked(this->store(), "holey");
  ASSERT_TRUE(outcome.fault.has_value());
  EXPECT_EQ(outcome.fault->kind, FaultKind::kSeqGap);
  EXPECT_EQ(outcome.fault->seq, 4u);
  LogVerification verification = verify_actor_log(this->store(), "holey");
  ASSERT_FALSE(verification.ok());
  EXPECT_EQ(verification.fault->seq, 4u);
  EXPECT_EQ(verification.entries_verified, 3u);
}

TYPED_TEST(EventStoreTest, RecoveryTailIsBounded) {
  this->commit_log("long", 50);
  RecoveryOptions options;
  options.max_tail_entries = 10;
  Result<RecoveredActor> refused = recover_actor(this->store(), "long", options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  options.max_tail_entries = 50;
  options.read_page_entries = 7;  // many pages
  Result<RecoveredActor> recovered = recover_actor(this->store(), "long", options);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->tail.size(), 50u);
}

// A batch that cannot be applied changes nothing, for any of its actors.
TYPED_TEST(EventStoreTest, AFailedCommitAppliesNothing) {
  // More stored entries than one truncation may delete (kMaxBatchOps).
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, kMaxBatchOps + 1);
  for (size_t first = 0; first < log.size(); first += kMaxBatchOps / 2) {
    WriteBatch part;
    for (size_t i = first; i < std::min(log.size(), first + kMaxBatchOps / 2); ++i) {
      ASSERT_TRUE(part.append("huge", log[i]).ok());
    }
    ASSERT_TRUE(this->store().commit(part).ok());
  }
  WriteBatch batch;
  for (int i = 0; i < 10; ++i) {
    add_log(batch, "n/" + std::to_string(i), make_chain(kGenesisHash, 1, 2, 1, std::to_string(i)));
  }
  ASSERT_TRUE(batch.truncate_log_after("huge", 0).ok());
  Status refused = this->store().commit(batch);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  EXPECT_TRUE(this->store().list_actors("", 100)->empty());
  EXPECT_EQ(this->store().read_log("huge", kMaxBatchOps + 1, 10)->size(), 1u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(this->store().read_log("n/" + std::to_string(i), 1, 10)->empty());
  }
}

// The batch builds its keys itself (into its own chunks): they must be
// exactly layout.hpp's, and stay valid when the batch grows or moves.
TEST(WriteBatch, KeysAreLayoutsAndViewsStayValid) {
  const std::string actor = "e/2026/precinct/TN/0101";
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 3);
  WriteBatch batch;
  ASSERT_TRUE(batch.append(actor, log[0]).ok());
  ASSERT_TRUE(batch.append(actor, EncodedEntry(log[1])).ok());
  ASSERT_TRUE(batch.put_meta(actor, meta_for(log)).ok());
  ASSERT_TRUE(batch.put_snapshot(actor, "tally", Snapshot{2, log[1].hash(), "1.0.0", 1, std::string(100'000, 'p')})
                  .ok());
  ASSERT_TRUE(batch.put_idempotency(actor, std::string("b\0-7", 4), IdempotencyRecord{3, log[2].hash()}).ok());
  ASSERT_TRUE(batch.put_outbox(actor, 258, 7, "effect").ok());
  ASSERT_TRUE(batch.delete_outbox(actor, 3, 1).ok());
  ASSERT_TRUE(batch.truncate_log_after(actor, 9).ok());
  // Many more small operations: several chunks.
  for (uint64_t seq = 1; seq <= 5000; ++seq) {
    ASSERT_TRUE(batch.delete_outbox("filler", seq, 0).ok());
  }
  const std::vector<std::string> expected_keys = {
      layout::log_key(actor, 1),       layout::log_key(actor, 2),
      layout::meta_key(actor),         layout::snapshot_key(actor, "tally"),
      layout::idempotency_key(actor, std::string("b\0-7", 4)), layout::outbox_key(actor, 258, 7),
      layout::outbox_key(actor, 3, 1)};
  auto check = [&](const WriteBatch& b) {
    ASSERT_EQ(b.size(), 8u + 5000u);
    for (size_t i = 0; i < expected_keys.size(); ++i) {
      EXPECT_EQ(b.ops()[i].key, expected_keys[i]) << i;
    }
    EXPECT_EQ(b.ops()[0].value, log[0].bytes());
    EXPECT_EQ(b.ops()[1].value, log[1].bytes());
    EXPECT_EQ(b.ops()[2].value, layout::encode_meta(meta_for(log)));
    EXPECT_EQ(b.ops()[3].value,
              layout::encode_snapshot(Snapshot{2, log[1].hash(), "1.0.0", 1, std::string(100'000, 'p')}));
    EXPECT_EQ(b.ops()[4].value, layout::encode_idempotency(3));
    EXPECT_EQ(b.ops()[5].value, "effect");
    EXPECT_EQ(b.ops()[6].kind, BatchOp::Kind::kDelete);
    EXPECT_EQ(b.ops()[7].kind, BatchOp::Kind::kTruncateLogAfter);
    EXPECT_EQ(b.ops()[7].actor, actor);
    EXPECT_EQ(b.ops()[7].seq, 9u);
    EXPECT_EQ(b.ops().back().key, layout::outbox_key("filler", 5000, 0));
  };
  check(batch);
  const size_t bytes = batch.byte_size();
  WriteBatch moved(std::move(batch));
  check(moved);
  EXPECT_EQ(moved.byte_size(), bytes);
  EXPECT_TRUE(batch.empty());  // NOLINT(bugprone-use-after-move): moving leaves it empty
  ASSERT_TRUE(batch.append("reused", log[0]).ok());
  EXPECT_EQ(batch.ops()[0].key, layout::log_key("reused", 1));
  WriteBatch assigned;
  assigned = std::move(moved);
  check(assigned);
  assigned.clear();
  EXPECT_TRUE(assigned.empty());
  ASSERT_TRUE(assigned.put_meta("after", meta_for(log)).ok());
  EXPECT_EQ(assigned.ops()[0].key, layout::meta_key("after"));
  EXPECT_EQ(assigned.byte_size(), layout::meta_key("after").size() + layout::encode_meta(meta_for(log)).size());
}

TEST(WriteBatch, IsBounded) {
  WriteBatch batch;
  for (size_t i = 0; i < kMaxBatchOps; ++i) {
    ASSERT_TRUE(batch.delete_outbox("a", i, 0).ok());
  }
  Status full = batch.delete_outbox("a", 0, 1);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(batch.size(), kMaxBatchOps);
  batch.clear();
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.byte_size(), 0u);
}

// MemoryStore: the sans-IO split of commit into write and sync completion.
TEST(MemoryStore, WrittenButUnsyncedBatchesVanishOnCrash) {
  MemoryStore store;
  std::vector<EncodedEntry> first = make_chain(kGenesisHash, 1, 3, 1, "a");
  WriteBatch durable;
  add_log(durable, "a", first);
  ASSERT_TRUE(store.commit(durable).ok());

  WriteBatch many;  // a batch over many actors: all or nothing
  for (int i = 0; i < 10; ++i) {
    add_log(many, "m/" + std::to_string(i), make_chain(kGenesisHash, 1, 2, 1, std::to_string(i)));
  }
  Result<uint64_t> written = store.write(many);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(store.unsynced_writes(), 1u);
  EXPECT_EQ(store.list_actors("", 100)->size(), 11u);  // reads see the write
  store.crash();
  EXPECT_EQ(store.list_actors("", 100)->size(), 1u);
  EXPECT_TRUE(store.read_log("m/3", 1, 10)->empty());
  EXPECT_TRUE(recover_actor(store, "a").ok());

  Result<uint64_t> again = store.write(many);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(store.sync(), *again);
  EXPECT_EQ(store.unsynced_writes(), 0u);
  store.crash();
  EXPECT_EQ(store.list_actors("", 100)->size(), 11u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(recover_actor(store, "m/" + std::to_string(i)).ok());
  }
}

TEST(MemoryStore, UnsyncedWritesAreBounded) {
  MemoryStore store;
  WriteBatch batch;
  ASSERT_TRUE(batch.put_outbox("a", 1, 0, "x").ok());
  for (size_t i = 0; i < kMaxUnsyncedWrites; ++i) {
    ASSERT_TRUE(store.write(batch).ok());
  }
  Result<uint64_t> refused = store.write(batch);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  store.sync();
  EXPECT_TRUE(store.write(batch).ok());
}

}  // namespace
