// Dark launch: a candidate runs beside the live version on the same
// messages, divergences are counted and recorded (bounded), nothing it
// returns reaches live state; promote uses its shadow projections, drop
// discards them.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <chrono>

namespace {

using namespace quorum::host;
using namespace quorum::host::testing;
using ::testing::HasSubstr;

class DarkLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1_ = host_.load("counter", fixture("counter_v1")).value();
    ASSERT_TRUE(host_.activate("counter", v1_).ok());
  }

  ScratchDir dir_;
  PluginHost host_{host_options(dir_)};
  ProjectionRunner runner_{host_};
  VersionId v1_ = kNoVersion;
};

TEST_F(DarkLaunchTest, CountsAndRecordsDivergencesAndLeavesLiveStateAlone) {
  const VersionId candidate = host_.load("counter", fixture("counter_diverge")).value();
  TestActor with_candidate{"precinct/1", {}, {}};
  TestActor reference{"precinct/1", {}, {}};
  // Some history before the dark launch: the shadow starts from the live projection.
  ASSERT_TRUE(with_candidate.feed(runner_, inc("early", 2)).ok());
  ASSERT_TRUE(host_.dark_launch("counter", candidate).ok());
  EXPECT_EQ(host_.status("counter")->candidate, candidate);

  // by >= 10: the candidate emits a different effect; by == 13: it throws.
  const std::vector<int> amounts = {1, 2, 10, 3, 11, 4, 13};
  for (size_t i = 0; i < amounts.size(); ++i) {
    RunResult result = with_candidate.feed(runner_, inc("m" + std::to_string(i), amounts[i]));
    ASSERT_TRUE(result.ok()) << result.error;
    ASSERT_EQ(result.effects.size(), 1u);
    EXPECT_EQ(result.effects[0].effect.type, "counted") << "live effects come from the live version only";
  }
  // Live state equals a run without any candidate.
  PluginHost plain_host(host_options(dir_));
  ASSERT_TRUE(plain_host.activate("counter", plain_host.load("counter", fixture("counter_v1")).value()).ok());
  ProjectionRunner plain_runner(plain_host);
  ASSERT_TRUE(reference.feed(plain_runner, inc("early", 2)).ok());
  for (size_t i = 0; i < amounts.size(); ++i) {
    ASSERT_TRUE(reference.feed(plain_runner, inc("m" + std::to_string(i), amounts[i])).ok());
  }
  EXPECT_EQ(with_candidate.projections.at("counter").live.bytes, reference.projections.at("counter").live.bytes);
  EXPECT_EQ(with_candidate.live("counter")["count"], 46);

  // Three divergences: effects differ on 10 and 11, the candidate failed on 13.
  // (After its failure the shadow count differs, so later messages would
  // diverge too; 13 comes last here to keep the count readable.)
  const SlotStatus status = host_.status("counter").value();
  EXPECT_EQ(status.divergences, 3u);
  EXPECT_EQ(host_.version(candidate)->counters().divergences, 3u);
  EXPECT_EQ(host_.version(candidate)->counters().errors, 1u);
  EXPECT_EQ(host_.version(v1_)->counters().errors, 0u);
  auto records = host_.divergences("counter");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].sequence, 1u);
  EXPECT_EQ(records[0].key, "precinct/1");
  EXPECT_EQ(records[0].message_id, "m2");
  EXPECT_EQ(records[0].message, inc("m2", 10));
  EXPECT_EQ(records[0].live_version, v1_);
  EXPECT_EQ(records[0].candidate_version, candidate);
  EXPECT_EQ(records[0].live.effects[0].type, "counted");
  EXPECT_EQ(records[0].candidate.effects[0].type, "counted-big");
  EXPECT_EQ(records[1].message_id, "m4");
  EXPECT_EQ(records[1].candidate.effects[0].type, "counted-big");
  EXPECT_EQ(records[2].message_id, "m6");
  EXPECT_EQ(records[2].live.status, CallStatus::kOk);
  EXPECT_EQ(records[2].candidate.status, CallStatus::kFailed);
  EXPECT_THAT(records[2].candidate.error, HasSubstr("candidate cannot count 13"));

  // The shadow skipped the message it failed on, as it would have as live.
  const auto& shadow = with_candidate.projections.at("counter").shadow;
  ASSERT_TRUE(shadow.has_value());
  EXPECT_EQ(shadow->version, candidate);
  EXPECT_EQ(json_of(shadow->bytes)["count"], 46 - 13);
}

TEST_F(DarkLaunchTest, KeepsOnlyTheLastRecordsButCountsAll) {
  PluginHost::Options options = host_options(dir_);
  options.divergence_capacity = 16;
  PluginHost host(options);
  ASSERT_TRUE(host.activate("counter", host.load("counter", fixture("counter_v1")).value()).ok());
  ASSERT_TRUE(host.dark_launch("counter", host.load("counter", fixture("counter_diverge")).value()).ok());
  ProjectionRunner runner(host);
  TestActor actor{"k", {}, {}};
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(actor.feed(runner, inc("m" + std::to_string(i), 10)).ok());
  }
  EXPECT_EQ(host.status("counter")->divergences, 40u);
  auto records = host.divergences("counter");
  ASSERT_EQ(records.size(), 16u);
  EXPECT_EQ(records.front().message_id, "m24");
  EXPECT_EQ(records.back().message_id, "m39");
}

TEST_F(DarkLaunchTest, PromoteContinuesFromTheShadowWithoutRebuilding) {
  // The candidate has another schema and no migrate: without its shadow it
  // would have to replay every actor's history.
  const VersionId v3 = host_.load("counter", fixture("counter_v3")).value();
  TestActor actor{"k", {}, {}};
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(actor.feed(runner_, inc("a" + std::to_string(i), 1)).ok());
  }
  ASSERT_TRUE(host_.dark_launch("counter", v3).ok());
  ASSERT_TRUE(actor.feed(runner_, inc("b", 1)).ok());  // builds the shadow (one replay)
  ASSERT_TRUE(actor.feed(runner_, inc("c", 1)).ok());
  EXPECT_EQ(actor.live("counter")["count"], 52);
  EXPECT_EQ(json_of(actor.projections.at("counter").shadow->bytes)["n"], 52);

  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(host_.promote("counter").ok());
  const auto promote_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(host_.status("counter")->active, v3);
  EXPECT_EQ(host_.status("counter")->previous, v1_);
  EXPECT_EQ(host_.status("counter")->candidate, kNoVersion);

  const uint64_t calls_before = host_.version(v3)->counters().calls;
  ASSERT_TRUE(actor.feed(runner_, inc("d", 1)).ok());
  EXPECT_EQ(host_.version(v3)->counters().calls, calls_before + 1) << "no replay after promote";
  EXPECT_EQ(actor.projections.at("counter").live.version, v3);
  EXPECT_EQ(actor.live("counter")["n"], 53);
  EXPECT_FALSE(actor.projections.at("counter").shadow.has_value());
  std::printf("promote took %lld us\n", static_cast<long long>(promote_us));
}

TEST_F(DarkLaunchTest, DropDiscardsTheCandidateAndItsShadows) {
  const VersionId v2 = host_.load("counter", fixture("counter_v2")).value();
  TestActor actor{"k", {}, {}};
  ASSERT_TRUE(host_.dark_launch("counter", v2).ok());
  ASSERT_TRUE(actor.feed(runner_, inc("a", 4)).ok());
  ASSERT_TRUE(actor.projections.at("counter").shadow.has_value());
  ASSERT_TRUE(host_.drop("counter").ok());
  EXPECT_FALSE(host_.drop("counter").ok());
  ASSERT_TRUE(actor.feed(runner_, inc("b", 1)).ok());
  EXPECT_FALSE(actor.projections.at("counter").shadow.has_value());
  EXPECT_EQ(actor.live("counter")["count"], 5);
  EXPECT_EQ(actor.live("counter")["by_version"].size(), 1u) << "v2 never touched live state";
  EXPECT_EQ(host_.status("counter")->active, v1_);
  const SlotStatus status = host_.status("counter").value();
  for (const auto& version : status.versions) {
    EXPECT_NE(version.state, VersionState::kDark);
  }
}

TEST_F(DarkLaunchTest, RefusesCandidatesThatMakeNoSense) {
  EXPECT_FALSE(host_.dark_launch("counter", v1_).ok()) << "already active";
  EXPECT_FALSE(host_.promote("counter").ok()) << "no candidate";
  const VersionId v2 = host_.load("counter", fixture("counter_v2")).value();
  ASSERT_TRUE(host_.dark_launch("counter", v2).ok());
  auto activate = host_.activate("counter", v2);
  ASSERT_FALSE(activate.ok());
  EXPECT_THAT(activate.error().message, HasSubstr("promote it instead"));
}

}  // namespace
