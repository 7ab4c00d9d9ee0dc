// ProjectionRunner: handlers in order, all-or-nothing commands, exception
// containment, and projection continuity across version changes.
#include "test_support.hpp"

#include <gmock/gmock.h>

namespace {

using namespace quorum::host;
using namespace quorum::host::testing;
using ::testing::HasSubstr;

class RunnerTest : public ::testing::Test {
 protected:
  VersionId load(const std::string& slot, const std::string& file) {
    auto id = host_.load(slot, fixture(file));
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : kNoVersion;
  }
  VersionId load_active(const std::string& slot, const std::string& file) {
    const VersionId id = load(slot, file);
    EXPECT_TRUE(host_.activate(slot, id).ok());
    return id;
  }

  ScratchDir dir_;
  PluginHost host_{host_options(dir_)};
  ProjectionRunner runner_{host_};
  TestActor actor_{"precinct/7", {}, {}};
};

TEST_F(RunnerTest, FoldsMessagesAndReturnsEffects) {
  const VersionId v1 = load_active("counter", "counter_v1");
  for (int i = 1; i <= 3; ++i) {
    RunResult result = actor_.feed(runner_, inc("m" + std::to_string(i), i));
    ASSERT_TRUE(result.ok()) << result.error;
    ASSERT_EQ(result.effects.size(), 1u);
    EXPECT_EQ(result.effects[0].handler, "counter");
    EXPECT_EQ(result.effects[0].effect.to, "audit/precinct/7");
    EXPECT_EQ(json_of(result.effects[0].effect.data)["count"], i * (i + 1) / 2);
  }
  EXPECT_EQ(actor_.live("counter")["count"], 6);
  EXPECT_EQ(actor_.projections.at("counter").live.version, v1);
  EXPECT_EQ(actor_.projections.at("counter").live.projection_schema, 1u);
}

TEST_F(RunnerTest, ARefusalByAnyHandlerChangesNothing) {
  load_active("counter", "counter_v1");
  load_active("raw", "raw");
  ASSERT_TRUE(actor_.feed(runner_, inc("m1")).ok());
  const ActorProjections before = actor_.projections;

  // counter accepts, raw (second in order) fails: the command is refused as a whole.
  RunResult garbage = actor_.feed(runner_, quorum::sdk::testing::make_message("garbage", "inc", 0, nullptr));
  EXPECT_EQ(garbage.status, CallStatus::kFailed);
  EXPECT_EQ(garbage.handler, "raw");
  EXPECT_THAT(garbage.error, HasSubstr("malformed result from plugin"));
  EXPECT_TRUE(garbage.projections.empty());
  EXPECT_TRUE(garbage.effects.empty());

  // counter (first) rejects: raw is not consulted.
  RunResult rejected = actor_.feed(runner_, message("m3", "reject"));
  EXPECT_EQ(rejected.status, CallStatus::kRejected);
  EXPECT_EQ(rejected.handler, "counter");
  EXPECT_EQ(rejected.error, "counter refuses message m3");
  EXPECT_EQ(actor_.projections, before);
  EXPECT_EQ(actor_.history.size(), 1u);

  RunResult next = actor_.feed(runner_, inc("m4"));
  ASSERT_TRUE(next.ok()) << next.error;
  EXPECT_EQ(next.effects.size(), 1u);
  EXPECT_EQ(actor_.live("counter")["count"], 2);
}

TEST_F(RunnerTest, AThrowingHandlerFailsOneMessageAndIsCounted) {
  const VersionId v1 = load_active("counter", "counter_v1");
  const VersionId raw = load_active("raw", "raw");
  ASSERT_TRUE(actor_.feed(runner_, inc("m1")).ok());
  RunResult thrown = actor_.feed(runner_, message("m2", "throw"));
  EXPECT_EQ(thrown.status, CallStatus::kFailed);
  EXPECT_EQ(thrown.error, "handler threw: counter was told to throw");
  // A raw C++ plugin throwing straight through the C ABI is contained too.
  RunResult raw_thrown = actor_.feed(runner_, quorum::sdk::testing::make_message("throw", "inc", 0, nullptr));
  EXPECT_EQ(raw_thrown.status, CallStatus::kFailed);
  EXPECT_EQ(raw_thrown.handler, "raw");
  EXPECT_EQ(raw_thrown.error, "plugin threw across the C ABI: raw plugin threw");
  ASSERT_TRUE(actor_.feed(runner_, inc("m4")).ok());
  EXPECT_EQ(actor_.live("counter")["count"], 2);
  EXPECT_EQ(host_.version(v1)->counters().errors, 1u);
  EXPECT_EQ(host_.version(raw)->counters().errors, 1u);
  auto listed = host_.status("counter");
  EXPECT_EQ(listed->versions[0].counters.errors, 1u);
}

TEST_F(RunnerTest, SameSchemaContinuesFromTheOldProjection) {
  load_active("counter", "counter_v1");
  const VersionId v2 = load("counter", "counter_v2");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(actor_.feed(runner_, inc("a" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(host_.swap("counter", v2).ok());
  const uint64_t calls_before = host_.version(v2)->counters().calls;
  RunResult result = actor_.feed(runner_, inc("b"));
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(host_.version(v2)->counters().calls, calls_before + 1) << "no replay for an equal schema";
  const auto projection = actor_.live("counter");
  EXPECT_EQ(projection["count"], 4);
  EXPECT_EQ(projection["by_version"]["1.0.0"], 3);
  EXPECT_EQ(projection["by_version"]["2.0.0"], 1);
  EXPECT_EQ(actor_.projections.at("counter").live.version, v2);
}

TEST_F(RunnerTest, DifferentSchemaWithoutMigrateReplaysHistory) {
  load_active("counter", "counter_v1");
  const VersionId v3 = load("counter", "counter_v3");
  int total = 0;
  for (int i = 1; i <= 600; ++i) {  // more than one replay batch
    ASSERT_TRUE(actor_.feed(runner_, inc("a" + std::to_string(i), i % 7)).ok());
    total += i % 7 == 0 ? 1 : i % 7;
  }
  ASSERT_FALSE(actor_.feed(runner_, message("r", "reject")).ok());
  ASSERT_TRUE(host_.swap("counter", v3).ok());
  RunResult result = actor_.feed(runner_, inc("b", 5));
  ASSERT_TRUE(result.ok()) << result.error;
  const auto projection = actor_.live("counter");
  EXPECT_EQ(projection["n"], total + 5);
  EXPECT_EQ(projection["migrated"], false);
  EXPECT_EQ(projection["last"], "3.0.0");
  EXPECT_EQ(actor_.projections.at("counter").live.projection_schema, 2u);
}

TEST_F(RunnerTest, ReplayGivesEachMessageItsOwnHistory) {
  load_active("counter", "counter_v1");
  const VersionId v5 = load("counter", "counter_v5");  // schema 2, reads history
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(actor_.feed(runner_, inc("a" + std::to_string(i), 2)).ok());
  }
  ASSERT_TRUE(host_.swap("counter", v5).ok());
  const uint64_t calls_before = host_.version(v5)->counters().calls;
  ASSERT_TRUE(actor_.feed(runner_, inc("b", 1)).ok());
  EXPECT_EQ(host_.version(v5)->counters().calls, calls_before + 11) << "10 replayed one by one, then the message";
  EXPECT_EQ(actor_.live("counter")["n"], 21);
  EXPECT_EQ(actor_.live("counter")["history_len"], 10);
}

TEST_F(RunnerTest, DifferentSchemaUsesMigrateWhenPresent) {
  load_active("counter", "counter_v1");
  const VersionId v4 = load("counter", "counter_v4");
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(actor_.feed(runner_, inc("a" + std::to_string(i), 3)).ok());
  }
  ASSERT_TRUE(host_.swap("counter", v4).ok());
  const uint64_t calls_before = host_.version(v4)->counters().calls;
  ASSERT_TRUE(actor_.feed(runner_, inc("b", 1)).ok());
  EXPECT_EQ(host_.version(v4)->counters().calls, calls_before + 2) << "one migrate, one handle";
  EXPECT_EQ(actor_.live("counter")["n"], 13);
  EXPECT_EQ(actor_.live("counter")["migrated"], true);
}

TEST_F(RunnerTest, RollbackAcrossSchemasRebuildsTheOldShape) {
  const VersionId v1 = load_active("counter", "counter_v1");
  const VersionId v3 = load("counter", "counter_v3");
  ASSERT_TRUE(actor_.feed(runner_, inc("a", 2)).ok());
  ASSERT_TRUE(host_.swap("counter", v3).ok());
  ASSERT_TRUE(actor_.feed(runner_, inc("b", 3)).ok());
  EXPECT_EQ(actor_.live("counter")["n"], 5);
  ASSERT_TRUE(host_.rollback("counter").ok());
  ASSERT_TRUE(actor_.feed(runner_, inc("c", 4)).ok());
  EXPECT_EQ(actor_.projections.at("counter").live.version, v1);
  EXPECT_EQ(actor_.live("counter")["count"], 9);
}

TEST_F(RunnerTest, RefreshBringsProjectionsToTheActiveVersionWithoutAMessage) {
  load_active("counter", "counter_v1");
  const VersionId v3 = load("counter", "counter_v3");
  ASSERT_TRUE(actor_.feed(runner_, inc("a", 2)).ok());
  ASSERT_TRUE(host_.swap("counter", v3).ok());
  VectorHistory history(actor_.history);
  auto refreshed = runner_.refresh(actor_.key, actor_.projections, history);
  ASSERT_TRUE(refreshed.ok()) << refreshed.error().message;
  EXPECT_EQ(refreshed->at("counter").live.version, v3);
  EXPECT_EQ(json_of(refreshed->at("counter").live.bytes)["n"], 2);
}

TEST_F(RunnerTest, AHandlerNewToAnActorReplaysItsHistory) {
  load_active("raw", "raw");
  const VersionId v1 = load("counter", "counter_v1");
  ASSERT_TRUE(actor_.feed(runner_, inc("a", 2)).ok());
  ASSERT_TRUE(actor_.feed(runner_, inc("b", 3)).ok());
  EXPECT_EQ(actor_.projections.count("counter"), 0u);
  ASSERT_TRUE(host_.activate("counter", v1).ok());
  ASSERT_TRUE(actor_.feed(runner_, inc("c", 4)).ok());
  EXPECT_EQ(actor_.live("counter")["count"], 9);
}

// run_batch equals run() one message at a time, whether the projection
// continues as it is (same version or same schema: the plugin gets a view of
// the actor's bytes, no copy), is migrated, or is rebuilt from history; and
// it leaves the projections it was given untouched.
TEST_F(RunnerTest, RunBatchEqualsRunOneMessageAtATime) {
  const VersionId v1 = load_active("counter", "counter_v1");
  const VersionId v2 = load("counter", "counter_v2");
  const VersionId v3 = load("counter", "counter_v3");
  const VersionId v4 = load("counter", "counter_v4");
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(actor_.feed(runner_, inc("a" + std::to_string(i), i)).ok());
  }
  auto check = [&](const std::string& prefix) {
    SCOPED_TRACE(prefix);
    std::vector<std::string> messages;
    for (int i = 1; i <= 4; ++i) {
      messages.push_back(inc(prefix + std::to_string(i), i));
    }
    const std::vector<std::string_view> views(messages.begin(), messages.end());
    const ActorProjections before = actor_.projections;
    const std::vector<std::string> history_before = actor_.history;
    const VectorHistory history(history_before);
    const std::shared_ptr<const HostSnapshot> snapshot = host_.snapshot();
    const BatchRunResult batch = runner_.run_batch(*snapshot, actor_.key, actor_.projections, history, views);
    ASSERT_TRUE(batch.complete);
    EXPECT_EQ(actor_.projections, before);
    ASSERT_EQ(batch.effects.size(), messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      const RunResult one = actor_.feed(runner_, messages[i]);
      ASSERT_TRUE(one.ok()) << one.error;
      ASSERT_EQ(batch.effects[i].size(), one.effects.size());
      for (size_t e = 0; e < one.effects.size(); ++e) {
        EXPECT_EQ(batch.effects[i][e].handler, one.effects[e].handler);
        EXPECT_EQ(batch.effects[i][e].effect, one.effects[e].effect);
      }
    }
    // Schema 2 records history_len, which handle_batch sees as of the first
    // message (see run_batch): everything else must be equal.
    ASSERT_EQ(batch.projections.size(), actor_.projections.size());
    const ProjectionState& batched = batch.projections.at("counter").live;
    const ProjectionState& single = actor_.projections.at("counter").live;
    EXPECT_EQ(batched.version, single.version);
    EXPECT_EQ(batched.projection_schema, single.projection_schema);
    nlohmann::json batched_json = json_of(batched.bytes);
    nlohmann::json single_json = json_of(single.bytes);
    batched_json.erase("history_len");
    single_json.erase("history_len");
    EXPECT_EQ(batched_json, single_json);
    if (single.projection_schema == 1) {
      EXPECT_EQ(batch.projections, actor_.projections);
    }
  };
  check("b");  // as it is
  ASSERT_TRUE(host_.swap("counter", v2).ok());
  check("c");  // same schema, another version: as it is
  ASSERT_TRUE(host_.swap("counter", v4).ok());
  check("d");  // schema 1 -> 2 through migrate
  ASSERT_TRUE(host_.swap("counter", v3).ok());
  check("e");  // same schema 2: as it is
  ASSERT_TRUE(host_.swap("counter", v1).ok());
  check("f");  // back to schema 1 without migrate: rebuilt from history
  EXPECT_EQ(actor_.live("counter")["count"], 15 + 5 * 10);
}

}  // namespace
