// The sans-IO actor and registry over MemoryStore with a fake clock: the
// processing order, batching, idempotency, rejection, the outbox, passivation,
// recovery and refusing service on a broken chain. No threads.
#include "node_test_support.hpp"

#include <quorum/store/layout.hpp>

#include <gtest/gtest.h>

namespace quorum::node {
namespace {

using testing::add;
using testing::Harness;

TEST(ActorTest, ReplyAndProjectionOnlyAfterTheWriteIsDurable) {
  Harness h;
  const ReplyToken token = h.submit(add("p/1", "b-1", 5));
  EXPECT_FALSE(h.answered(token));
  EXPECT_EQ(h.seq("p/1"), 0u);
  ASSERT_EQ(h.begin_write(), 1u);
  // In flight: still nothing answered or applied.
  EXPECT_FALSE(h.answered(token));
  EXPECT_EQ(h.seq("p/1"), 0u);
  EXPECT_EQ(h.projection("p/1"), nullptr);
  h.complete_write();
  ASSERT_TRUE(h.answered(token));
  ASSERT_TRUE(h.reply(token).ok()) << h.reply(token).error().message;
  const CommandReceipt& receipt = *h.reply(token);
  EXPECT_EQ(receipt.key, "p/1");
  EXPECT_EQ(receipt.seq, 1u);
  EXPECT_EQ(receipt.hash_hex.size(), 64u);
  EXPECT_FALSE(receipt.duplicate);
  EXPECT_EQ(h.projection("p/1")["total"], 5);
  const std::vector<store::Entry> log = h.log("p/1");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(store::to_hex(log[0].hash), receipt.hash_hex);
  EXPECT_EQ(log[0].epoch, 1u);
  EXPECT_EQ(log[0].time_ms, h.clock.now);
  EXPECT_EQ(log[0].id, "b-1");
  EXPECT_EQ(log[0].type, "add");
}

TEST(ActorTest, AFailedWriteAnswersNothingDurableAndChangesNothing) {
  Harness h;
  const ReplyToken first = h.submit(add("p/1", "b-1", 5));
  ASSERT_EQ(h.begin_write(), 1u);
  const ReplyToken second = h.submit(add("p/1", "b-2", 7));  // accepted on top of the in-flight one
  h.complete_write(false);
  ASSERT_TRUE(h.answered(first));
  ASSERT_TRUE(h.answered(second));
  EXPECT_EQ(h.reply(first).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(h.reply(second).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(h.seq("p/1"), 0u);
  EXPECT_TRUE(h.log("p/1").empty());
  EXPECT_FALSE(h.registry->get("p/1").wants_write());
  // The retry goes through and gets seq 1.
  const ReplyToken retry = h.submit(add("p/1", "b-1", 5));
  h.commit();
  ASSERT_TRUE(h.reply(retry).ok());
  EXPECT_EQ(h.reply(retry)->seq, 1u);
  EXPECT_EQ(h.projection("p/1")["total"], 5);
}

TEST(ActorTest, CommandsQueuedDuringAWriteJoinTheNextOne) {
  Harness h;
  const ReplyToken a = h.submit(add("p/1", "a", 1));
  ASSERT_EQ(h.begin_write(), 1u);
  EXPECT_EQ(h.batch_appends(), 1u);
  const ReplyToken b = h.submit(add("p/1", "b", 2));
  const ReplyToken c = h.submit(add("p/1", "c", 3));
  EXPECT_FALSE(h.answered(b));
  EXPECT_FALSE(h.registry->get("p/1").wants_write());  // one write in flight per actor
  h.complete_write();
  ASSERT_TRUE(h.reply(a).ok());
  EXPECT_FALSE(h.answered(b));
  EXPECT_FALSE(h.answered(c));
  EXPECT_EQ(h.projection("p/1")["total"], 1);
  ASSERT_EQ(h.begin_write(), 1u);
  EXPECT_EQ(h.batch_appends(), 2u);  // b and c in one write
  h.complete_write();
  EXPECT_EQ(h.reply(b)->seq, 2u);
  EXPECT_EQ(h.reply(c)->seq, 3u);
  // c ran against the projection as it would be after b (pending state).
  EXPECT_EQ(h.projection("p/1")["total"], 6);
  EXPECT_EQ(h.projection("p/1")["count"], 3);
  EXPECT_TRUE(store::verify_actor_log(h.store, "p/1").ok());
}

TEST(ActorTest, ManyActorsShareOneBatch) {
  Harness h;
  std::vector<ReplyToken> tokens;
  for (int i = 0; i < 20; ++i) {
    tokens.push_back(h.submit(add("p/" + std::to_string(i), "b", i)));
  }
  EXPECT_EQ(h.begin_write(), 20u);
  EXPECT_EQ(h.batch_appends(), 20u);
  h.complete_write();
  for (ReplyToken token : tokens) {
    ASSERT_TRUE(h.reply(token).ok());
    EXPECT_EQ(h.reply(token)->seq, 1u);
  }
}

TEST(ActorTest, ARetryInFlightGetsTheOriginalAnswerAndIsAppliedOnce) {
  Harness h;
  const ReplyToken original = h.submit(add("p/1", "ballot-7", 4));
  const ReplyToken queued_retry = h.submit(add("p/1", "ballot-7", 4));  // before any write
  ASSERT_EQ(h.begin_write(), 1u);
  EXPECT_EQ(h.batch_appends(), 1u);
  const ReplyToken in_flight_retry = h.submit(add("p/1", "ballot-7", 4));
  EXPECT_FALSE(h.answered(in_flight_retry));  // answered when the original is durable
  h.complete_write();
  ASSERT_TRUE(h.reply(original).ok());
  for (ReplyToken retry : {queued_retry, in_flight_retry}) {
    ASSERT_TRUE(h.reply(retry).ok());
    EXPECT_TRUE(h.reply(retry)->duplicate);
    EXPECT_EQ(h.reply(retry)->seq, h.reply(original)->seq);
    EXPECT_EQ(h.reply(retry)->hash_hex, h.reply(original)->hash_hex);
  }
  // After durable: answered at once, no write.
  const ReplyToken late = h.submit(add("p/1", "ballot-7", 4));
  ASSERT_TRUE(h.answered(late));
  EXPECT_TRUE(h.reply(late)->duplicate);
  EXPECT_EQ(h.reply(late)->hash_hex, h.reply(original)->hash_hex);
  EXPECT_FALSE(h.registry->get("p/1").wants_write());
  // After a restart: from the store's idempotency record.
  h.crash();
  const ReplyToken after_restart = h.submit(add("p/1", "ballot-7", 4));
  ASSERT_TRUE(h.answered(after_restart));
  ASSERT_TRUE(h.reply(after_restart).ok());
  EXPECT_TRUE(h.reply(after_restart)->duplicate);
  EXPECT_EQ(h.reply(after_restart)->seq, 1u);
  EXPECT_EQ(h.reply(after_restart)->hash_hex, h.reply(original)->hash_hex);
  EXPECT_EQ(h.log("p/1").size(), 1u);
  EXPECT_EQ(h.projection("p/1")["total"], 4);
}

// Ids beyond the in-memory window (recent_ids_bound) are found in the
// store: a retry of an evicted id is still a duplicate, in one batch or
// one by one, and a batch holding a retry of its own command applies it once.
TEST(ActorTest, RetriesOfIdsEvictedFromMemoryAreFoundInTheStore) {
  ActorOptions options;
  options.recent_ids_bound = 3;
  Harness h(options);
  std::vector<ReplyToken> originals;
  for (int i = 0; i < 10; ++i) {
    originals.push_back(h.admit(add("p/1", "ballot-" + std::to_string(i), i)));
  }
  h.commit();
  for (ReplyToken token : originals) {
    ASSERT_TRUE(h.reply(token).ok());
  }
  // Admitted together: retries of evicted and of remembered ids, a new
  // command, and a retry of that new command in the same batch.
  const ReplyToken evicted = h.admit(add("p/1", "ballot-0", 0));
  const ReplyToken fresh = h.admit(add("p/1", "ballot-10", 10));
  const ReplyToken remembered = h.admit(add("p/1", "ballot-9", 9));
  const ReplyToken fresh_again = h.admit(add("p/1", "ballot-10", 10));
  const ReplyToken evicted_too = h.admit(add("p/1", "ballot-4", 4));
  h.commit();
  for (ReplyToken retry : {evicted, remembered, evicted_too}) {
    ASSERT_TRUE(h.reply(retry).ok());
    EXPECT_TRUE(h.reply(retry)->duplicate);
  }
  EXPECT_EQ(h.reply(evicted)->seq, 1u);
  EXPECT_EQ(h.reply(evicted)->hash_hex, h.reply(originals[0])->hash_hex);
  EXPECT_EQ(h.reply(evicted_too)->seq, 5u);
  ASSERT_TRUE(h.reply(fresh).ok());
  EXPECT_FALSE(h.reply(fresh)->duplicate);
  EXPECT_EQ(h.reply(fresh)->seq, 11u);
  ASSERT_TRUE(h.reply(fresh_again).ok());
  EXPECT_TRUE(h.reply(fresh_again)->duplicate);
  EXPECT_EQ(h.reply(fresh_again)->seq, 11u);
  EXPECT_EQ(h.log("p/1").size(), 11u);
  EXPECT_EQ(h.projection("p/1")["total"], 55);
}

// Writes an idempotency record for `id` pointing at seq 1 (another
// command's entry): a look-up in the store finds it and refuses.
void plant_stale_record(Harness& h, const std::string& key, const std::string& id) {
  store::WriteBatch plant;
  ASSERT_TRUE(plant.put_idempotency(key, id, store::IdempotencyRecord{1, store::Hash{}}).ok());
  ASSERT_TRUE(h.store.commit(plant).ok());
}

// A recovered actor whose whole log fits in recent_ids_bound reads every
// id back at recovery, so a new id is known to be new without asking the
// store (one LevelDB Get per new command otherwise). Shown by planting a
// stale idempotency record for a new id: it is not consulted. A longer log
// keeps asking the store, and a retry of an old id is still a duplicate.
TEST(ActorTest, ARecoveredShortLogDecidesNewIdsInMemory) {
  ActorOptions options;
  options.recent_ids_bound = 5;
  Harness h(options);
  for (int i = 0; i < 5; ++i) {
    h.submit(add("p/short", "s-" + std::to_string(i), 1));
    h.submit(add("p/long", "l-" + std::to_string(i), 1));
  }
  h.submit(add("p/long", "l-5", 1));  // 6 entries: more than the bound
  h.commit();
  ASSERT_EQ(h.seq("p/short"), 5u);
  ASSERT_EQ(h.seq("p/long"), 6u);
  h.crash();
  plant_stale_record(h, "p/short", "new-id");
  plant_stale_record(h, "p/long", "new-id");

  const ReplyToken short_new = h.submit(add("p/short", "new-id", 1));
  const ReplyToken long_new = h.submit(add("p/long", "new-id", 1));
  const ReplyToken short_retry = h.submit(add("p/short", "s-2", 1));
  const ReplyToken long_retry = h.submit(add("p/long", "l-0", 1));
  h.commit();
  ASSERT_TRUE(h.reply(short_new).ok());
  EXPECT_FALSE(h.reply(short_new)->duplicate);  // decided in memory: the planted record was not read
  EXPECT_EQ(h.reply(short_new)->seq, 6u);
  // The long log asks the store, which finds the planted record and sees
  // that it points at another command's entry.
  ASSERT_FALSE(h.reply(long_new).ok());
  EXPECT_NE(h.reply(long_new).error().message.find("idempotency look-up failed"), std::string::npos)
      << h.reply(long_new).error().message;
  for (ReplyToken retry : {short_retry, long_retry}) {
    ASSERT_TRUE(h.reply(retry).ok());
    EXPECT_TRUE(h.reply(retry)->duplicate);
  }
  EXPECT_EQ(h.reply(short_retry)->seq, 3u);
  EXPECT_EQ(h.reply(long_retry)->seq, 1u);
  EXPECT_EQ(h.log("p/short").size(), 6u);
  EXPECT_EQ(h.log("p/long").size(), 6u);
  EXPECT_EQ(h.projection("p/short")["total"], 6);
}

// After a snapshot the recovery replays only the log's tail, so it does not
// read the ids back (that would read the whole log again): a miss is still
// confirmed in the store, which here finds the planted record.
TEST(ActorTest, ARecoveryFromASnapshotStillAsksTheStore) {
  ActorOptions options;
  options.recent_ids_bound = 10;
  options.snapshot_interval = 2;
  Harness h(options);
  for (int i = 0; i < 4; ++i) {
    h.submit(add("p/snap", "s-" + std::to_string(i), 1));
  }
  h.commit();
  ASSERT_EQ(h.seq("p/snap"), 4u);
  h.crash();
  plant_stale_record(h, "p/snap", "new-id");
  const ReplyToken fresh = h.submit(add("p/snap", "new-id", 1));
  ASSERT_TRUE(h.answered(fresh));
  ASSERT_FALSE(h.reply(fresh).ok());
  EXPECT_NE(h.reply(fresh).error().message.find("idempotency look-up failed"), std::string::npos)
      << h.reply(fresh).error().message;
}

// The idempotency tables hold fingerprints of ids; with 1-bit fingerprints
// every two ids collide. A collision must never make a new command a
// duplicate (a dropped ballot), and a retry must still get its original
// answer: pending, remembered, evicted from memory, and after a restart.
TEST(ActorTest, FingerprintCollisionsNeverMakeANewCommandADuplicate) {
  for (const size_t bound : {size_t{4}, size_t{4096}}) {
    SCOPED_TRACE("recent_ids_bound " + std::to_string(bound));
    ActorOptions options;
    options.id_fingerprint_bits = 1;
    options.recent_ids_bound = bound;
    options.snapshot_interval = 7;
    Harness h(options);
    std::vector<ReplyToken> originals;
    int64_t total = 0;
    auto expect_fresh = [&](ReplyToken token, uint64_t seq) {
      ASSERT_TRUE(h.reply(token).ok()) << h.reply(token).error().message;
      EXPECT_FALSE(h.reply(token)->duplicate);
      EXPECT_EQ(h.reply(token)->seq, seq);
    };
    // Admitted together (one handle_batch), one by one, and while a write
    // of earlier ones is in flight (pending ids collide with new ones).
    for (int i = 0; i < 10; ++i) {
      originals.push_back(h.admit(add("p/1", "ballot-" + std::to_string(i), i)));
      total += i;
    }
    h.commit();
    for (int i = 10; i < 15; ++i) {
      originals.push_back(h.submit(add("p/1", "ballot-" + std::to_string(i), i)));
      total += i;
      h.commit();
    }
    for (int i = 15; i < 20; ++i) {
      originals.push_back(h.submit(add("p/1", "ballot-" + std::to_string(i), i)));
      total += i;
    }
    ASSERT_EQ(h.begin_write(), 1u);
    const ReplyToken pending_retry = h.submit(add("p/1", "ballot-17", 17));
    for (int i = 20; i < 25; ++i) {
      originals.push_back(h.submit(add("p/1", "ballot-" + std::to_string(i), i)));
      total += i;
    }
    h.complete_write();
    h.commit();
    for (size_t i = 0; i < originals.size(); ++i) {
      ASSERT_TRUE(h.answered(originals[i])) << i;
      expect_fresh(originals[i], i + 1);
    }
    ASSERT_TRUE(h.answered(pending_retry));
    ASSERT_TRUE(h.reply(pending_retry).ok());
    EXPECT_TRUE(h.reply(pending_retry)->duplicate);
    EXPECT_EQ(h.reply(pending_retry)->seq, 18u);
    // Retries of every id, in one round and one by one: the original answers.
    std::vector<ReplyToken> retries;
    for (int i = 0; i < 25; ++i) {
      retries.push_back(h.admit(add("p/1", "ballot-" + std::to_string(i), i)));
    }
    h.pump();  // all duplicates: answered at processing, nothing to write
    EXPECT_FALSE(h.registry->get("p/1").wants_write());
    for (int i = 0; i < 25; ++i) {
      ASSERT_TRUE(h.answered(retries[i])) << i;
      ASSERT_TRUE(h.reply(retries[i]).ok());
      EXPECT_TRUE(h.reply(retries[i])->duplicate) << i;
      EXPECT_EQ(h.reply(retries[i])->seq, static_cast<uint64_t>(i + 1));
      EXPECT_EQ(h.reply(retries[i])->hash_hex, h.reply(originals[i])->hash_hex);
    }
    // After a restart (ids no longer complete in memory): still exact.
    h.crash();
    const ReplyToken after_restart = h.submit(add("p/1", "ballot-3", 3));
    const ReplyToken fresh = h.submit(add("p/1", "ballot-25", 25));
    total += 25;
    h.commit();
    ASSERT_TRUE(h.answered(after_restart));
    ASSERT_TRUE(h.answered(fresh));
    ASSERT_TRUE(h.reply(after_restart).ok());
    EXPECT_TRUE(h.reply(after_restart)->duplicate);
    EXPECT_EQ(h.reply(after_restart)->seq, 4u);
    expect_fresh(fresh, 26);
    EXPECT_EQ(h.log("p/1").size(), 26u);
    EXPECT_EQ(h.projection("p/1")["total"], total);
    EXPECT_TRUE(store::verify_actor_log(h.store, "p/1").ok());
  }
}

TEST(ActorTest, ARejectionIsAnsweredAtOnceAndChangesNothing) {
  Harness h;
  h.submit(add("p/1", "a", 3));
  h.commit();
  const std::string head = store::to_hex(h.registry->get("p/1").durable_head());
  const ReplyToken rejected = h.submit(Command{"p/1", "r-1", "reject", testing::msgpack_of(nullptr)});
  ASSERT_TRUE(h.answered(rejected));
  EXPECT_EQ(h.reply(rejected).error().code, ErrorCode::kRejected);
  EXPECT_NE(h.reply(rejected).error().message.find("ledger"), std::string::npos);
  const ReplyToken failing = h.submit(Command{"p/1", "t-1", "throw", testing::msgpack_of(nullptr)});
  ASSERT_TRUE(h.answered(failing));
  EXPECT_EQ(h.reply(failing).error().code, ErrorCode::kRejected);
  EXPECT_NE(h.reply(failing).error().message.find("failed"), std::string::npos);
  EXPECT_FALSE(h.registry->get("p/1").wants_write());
  EXPECT_EQ(h.seq("p/1"), 1u);
  EXPECT_EQ(store::to_hex(h.registry->get("p/1").durable_head()), head);
  EXPECT_EQ(h.projection("p/1")["total"], 3);
  // The failing handler failed only that command; the actor still serves,
  // and a rejected id can be used again (it was never applied).
  const ReplyToken next = h.submit(add("p/1", "r-1", 2));
  h.commit();
  ASSERT_TRUE(h.reply(next).ok());
  EXPECT_EQ(h.reply(next)->seq, 2u);
  h.pump();
  EXPECT_EQ(h.registry->handler_errors().at("ledger"), 1u);
}

TEST(ActorTest, SideEffectsAreAppliedExactlyOnceAcrossCrashes) {
  Harness h;
  const ReplyToken token = h.submit(add("precinct/1", "b-1", 3, "county/1"));
  ASSERT_EQ(h.begin_write(), 1u);
  EXPECT_TRUE(h.deliveries.empty());  // nothing dispatched before durable
  h.complete_write();
  ASSERT_TRUE(h.reply(token).ok());
  ASSERT_EQ(h.deliveries.size(), 1u);
  EXPECT_EQ(h.deliveries[0].command.key, "county/1");
  EXPECT_EQ(h.deliveries[0].command.id, effect_command_id("precinct/1", 1, 0));
  {
    Result<std::vector<store::OutboxRecord>> outbox = h.store.read_outbox("precinct/1", 0, 0, 10);
    ASSERT_TRUE(outbox.ok());
    EXPECT_EQ(outbox->size(), 1u);  // written in the same batch as the entry
  }

  // 1. Crash between the write and the delivery: the restarted actor re-sends.
  h.crash();
  EXPECT_TRUE(h.deliveries.empty());
  h.registry->get("precinct/1");  // restart (LocalNode does this for actors with an outbox)
  h.pump();
  ASSERT_EQ(h.deliveries.size(), 1u);
  ASSERT_TRUE(h.deliver_one());
  h.commit();  // the county's entry is durable; the confirmation is queued at the precinct

  // 2. Crash after the receiver applied it but before the outbox record was deleted.
  h.crash();
  h.registry->get("precinct/1");
  h.pump();
  ASSERT_EQ(h.deliveries.size(), 1u);
  h.settle();
  EXPECT_EQ(h.projection("county/1")["total"], 3);
  EXPECT_EQ(h.projection("county/1")["count"], 1);
  EXPECT_EQ(h.log("county/1").size(), 1u);
  Result<std::vector<store::OutboxRecord>> outbox = h.store.read_outbox("precinct/1", 0, 0, 10);
  ASSERT_TRUE(outbox.ok());
  EXPECT_TRUE(outbox->empty());
}

TEST(ActorTest, IdleActorsPassivateAndComeBackFromSnapshotPlusTail) {
  ActorOptions actor_options;
  actor_options.snapshot_interval = 3;
  RegistryOptions registry_options;
  registry_options.idle_passivation_ms = 1000;
  Harness h(actor_options, registry_options);
  for (int i = 1; i <= 7; ++i) {
    h.submit(add("p/1", "b-" + std::to_string(i), i));
    h.commit();
  }
  const Result<ActorView> before = h.registry->get("p/1").view();
  ASSERT_TRUE(before.ok());
  Result<std::optional<store::Snapshot>> snapshot = h.store.read_snapshot("p/1", "ledger");
  ASSERT_TRUE(snapshot.ok());
  ASSERT_TRUE(snapshot->has_value());
  EXPECT_EQ((*snapshot)->seq, 6u);
  EXPECT_EQ((*snapshot)->handler_version, "1.0.0");

  h.clock.now += 500;
  h.registry->tick(h.clock.now);
  EXPECT_EQ(h.registry->active(), 1u);  // not idle long enough
  h.clock.now += 1000;
  h.registry->tick(h.clock.now);
  EXPECT_EQ(h.registry->active(), 0u);
  EXPECT_EQ(h.registry->counters().passivated, 1u);

  const Result<ActorView> after = h.registry->get("p/1").view();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->seq, 7u);
  EXPECT_EQ(after->head_hex, before->head_hex);
  ASSERT_EQ(after->projections.size(), 1u);
  EXPECT_EQ(testing::json_of(after->projections[0].bytes), testing::json_of(before->projections[0].bytes));
  EXPECT_EQ(h.projection("p/1")["total"], 28);
}

TEST(ActorTest, TheRegistryKeepsAtMostMaxActiveActors) {
  RegistryOptions registry_options;
  registry_options.max_active = 3;
  Harness h({}, registry_options);
  for (int i = 0; i < 10; ++i) {
    h.submit(add("p/" + std::to_string(i), "b", 1));
    h.commit();
    EXPECT_LE(h.registry->active(), 3u);
  }
  EXPECT_EQ(h.projection("p/0")["total"], 1);  // re-activated from the store
}

TEST(ActorTest, ABrokenChainMakesTheActorRefuseService) {
  Harness h;
  for (int i = 1; i <= 3; ++i) {
    h.submit(add("p/1", "b-" + std::to_string(i), i));
    h.commit();
  }
  h.submit(add("p/2", "x", 1));
  h.commit();
  // Flip a byte of entry 2's payload: its hash no longer follows.
  const std::string key = store::layout::log_key("p/1", 2);
  std::string bytes = *h.store.raw_get(key);
  bytes[bytes.size() - 1] = static_cast<char>(bytes[bytes.size() - 1] ^ 0x01);
  h.store.raw_put(key, bytes);
  h.crash();

  const ReplyToken token = h.submit(add("p/1", "b-4", 4));
  ASSERT_TRUE(h.answered(token));
  ASSERT_FALSE(h.reply(token).ok());
  EXPECT_EQ(h.reply(token).error().code, ErrorCode::kUnavailable);
  const std::string& message = h.reply(token).error().message;
  EXPECT_NE(message.find("p/1"), std::string::npos) << message;
  EXPECT_NE(message.find("seq 2"), std::string::npos) << message;
  Result<ActorView> view = h.registry->get("p/1").view();
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(h.registry->failed(), 1u);
  EXPECT_EQ(h.registry->counters().failed_total, 1u);
  // Other actors are unaffected.
  EXPECT_EQ(h.projection("p/2")["total"], 1);
}

TEST(ActorTest, RestartRecoversThePreCrashState) {
  ActorOptions actor_options;
  actor_options.snapshot_interval = 5;
  Harness h(actor_options);
  for (int i = 1; i <= 23; ++i) {
    h.submit(add("p/" + std::to_string(i % 3), "b-" + std::to_string(i), i));
    if (i % 4 == 0) {
      h.commit();
    }
  }
  h.commit();
  std::map<std::string, std::pair<uint64_t, nlohmann::json>> before;
  for (int k = 0; k < 3; ++k) {
    const std::string key = "p/" + std::to_string(k);
    before[key] = {h.seq(key), h.projection(key)};
  }
  // Unsynced work is lost on crash; what was acknowledged is not.
  h.submit(add("p/0", "lost", 1000));
  h.begin_write();
  h.write_then_crash();
  for (const auto& [key, state] : before) {
    EXPECT_EQ(h.seq(key), state.first) << key;
    EXPECT_EQ(h.projection(key), state.second) << key;
    EXPECT_TRUE(store::verify_actor_log(h.store, key).ok());
  }
}

TEST(ActorTest, AFullQueueAnswersResourceExhausted) {
  ActorOptions actor_options;
  actor_options.queue_bound = 4;
  Harness h(actor_options);
  std::vector<ReplyToken> tokens;
  for (int i = 0; i < 4; ++i) {
    tokens.push_back(h.submit(add("p/1", "b-" + std::to_string(i), 1)));
  }
  const ReplyToken over = h.submit(add("p/1", "b-over", 1));
  ASSERT_TRUE(h.answered(over));
  EXPECT_EQ(h.reply(over).error().code, ErrorCode::kResourceExhausted);
  h.commit();
  for (ReplyToken token : tokens) {
    EXPECT_TRUE(h.reply(token).ok());
  }
  const ReplyToken again = h.submit(add("p/1", "b-over", 1));
  h.commit();
  EXPECT_TRUE(h.reply(again).ok());
}

TEST(ActorTest, DurableEntriesAreStreamedWithTheirProjections) {
  Harness h;
  h.events_wanted = true;
  h.submit(add("p/1", "a", 1));
  h.submit(add("p/1", "b", 2));
  EXPECT_TRUE(h.events.empty());
  h.commit();
  ASSERT_EQ(h.events.size(), 2u);
  EXPECT_EQ(h.events[0].entry.seq, 1u);
  EXPECT_EQ(h.events[1].entry.seq, 2u);
  EXPECT_EQ(h.events[1].entry.prev_hash_hex, h.events[0].entry.hash_hex);
  ASSERT_EQ(h.events[1].projections.size(), 1u);
  EXPECT_EQ(testing::json_of(h.events[1].projections[0].bytes)["total"], 3);
}

TEST(ActorTest, AHotSwapReplaysTheLogFromTheStore) {
  ActorOptions actor_options;
  actor_options.history_window = 2;  // the replay pages through the store
  Harness h(actor_options);
  for (int i = 1; i <= 5; ++i) {
    h.submit(add("p/1", "b-" + std::to_string(i), i));
    h.commit();
  }
  Result<host::VersionId> v2 = h.plugins().load("ledger", testing::ledger_plugin("2.0.0"));
  ASSERT_TRUE(v2.ok()) << v2.error().message;
  ASSERT_TRUE(h.plugins().activate("ledger", *v2).ok());
  // The schema changed and there is no migrate: the next command rebuilds
  // the projection by replaying entries 1..5 through 2.0.0.
  const ReplyToken token = h.submit(add("p/1", "b-6", 6));
  h.commit();
  ASSERT_TRUE(h.reply(token).ok());
  Result<ActorView> view = h.registry->get("p/1").view();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->projections[0].version, "2.0.0");
  EXPECT_EQ(view->projections[0].projection_schema, 2u);
  EXPECT_EQ(testing::json_of(view->projections[0].bytes)["total"], 21);
  EXPECT_EQ(testing::json_of(view->projections[0].bytes)["count"], 6);
  // And a restart rebuilds the same from the log.
  h.crash();
  EXPECT_EQ(h.projection("p/1")["total"], 21);
}

TEST(ActorTest, AnUnreadableOldEntryFoundDuringAReplayCrashesTheActorWhichThenRefusesService) {
  ActorOptions actor_options;
  actor_options.history_window = 2;
  actor_options.snapshot_interval = 4;
  Harness h(actor_options);
  for (int i = 1; i <= 5; ++i) {
    h.submit(add("p/1", "b-" + std::to_string(i), i));
    h.commit();
  }
  h.store.raw_erase(store::layout::log_key("p/1", 2));  // before the snapshot: recovery does not read it
  Result<host::VersionId> v2 = h.plugins().load("ledger", testing::ledger_plugin("2.0.0"));
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(h.plugins().activate("ledger", *v2).ok());
  const ReplyToken token = h.submit(add("p/1", "b-6", 6));
  ASSERT_TRUE(h.answered(token));
  EXPECT_EQ(h.reply(token).error().code, ErrorCode::kUnavailable);
  // Supervision restarts it from its log; the rebuild needs entry 2 too,
  // so the new incarnation refuses service, naming the seq.
  h.pump();
  EXPECT_EQ(h.registry->counters().restarted, 1u);
  const ReplyToken again = h.submit(add("p/1", "b-7", 7));
  ASSERT_TRUE(h.answered(again));
  EXPECT_EQ(h.reply(again).error().code, ErrorCode::kUnavailable);
  EXPECT_NE(h.reply(again).error().message.find("p/1"), std::string::npos);
  EXPECT_EQ(h.registry->failed(), 1u);
  EXPECT_EQ(h.seq("p/1"), 5u);
}

TEST(ActorTest, MalformedCommandsAreRefused) {
  Harness h;
  const ReplyToken no_type = h.submit(Command{"p/1", "x", "", testing::msgpack_of(1)});
  EXPECT_EQ(h.reply(no_type).error().code, ErrorCode::kInvalidArgument);
  const ReplyToken bad_payload = h.submit(Command{"p/1", "y", "add", std::string("\xc1", 1)});
  ASSERT_TRUE(h.answered(bad_payload));
  EXPECT_FALSE(h.reply(bad_payload).ok());
  EXPECT_EQ(h.seq("p/1"), 0u);
}

}  // namespace
}  // namespace quorum::node
