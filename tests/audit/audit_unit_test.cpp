// The audit handler in-process through its C ABI descriptor.
#include "audit.hpp"
#include "plugin_harness.hpp"

#include <quorum/sdk/sdk.hpp>

#include <gtest/gtest.h>

namespace {

using quorum::plugins::Audit;
using quorum::test::Actor;
using json = nlohmann::json;

const quorum_plugin_descriptor& audit() { return *quorum::sdk::descriptor<Audit>(); }

json position(int votes, const char* allocable = "yes") {
  return {{"HasIndication", "yes"}, {"IsAllocable", allocable}, {"NumberVotes", votes}};
}

json cvr(const std::string& preprinted, json contests) {
  return {{"@type", "CVR.CVR"},
          {"BallotPrePrintedId", preprinted},
          {"CurrentSnapshotId", "s"},
          {"CVRSnapshot", json::array({{{"@id", "s"}, {"CVRContest", std::move(contests)}}})}};
}

json contest(const std::string& id, std::vector<std::pair<std::string, json>> selections) {
  json list = json::array();
  for (auto& [sid, p] : selections) {
    list.push_back({{"ContestSelectionId", sid}, {"SelectionPosition", json::array({p})}});
  }
  return {{"ContestId", id}, {"CVRContestSelection", list}};
}

const json kConfig = {{"contests",
                       {{"c1", {{"selections", {"a", "b", "c"}}, {"votes_allowed", 1}}},
                        {"c2", {{"selections", {"x", "y"}}, {"votes_allowed", 2}}}}},
                      {"window", {{"start_ms", 1000}, {"end_ms", 2000}}}};

TEST(AuditHash, IsFnv1a64) {
  // FNV-1a 64 test vectors: "" and "a" (tag byte + text is plain FNV-1a of the concatenation).
  EXPECT_EQ(quorum::plugins::fnv1a64('a', ""), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(quorum::plugins::fnv1a64('f', "oobar"), 0x85944171f73967e8ull);
}

TEST(AuditDescriptor, Identity) {
  EXPECT_STREQ(audit().name, "audit");
  EXPECT_STREQ(audit().semver, "1.0.0");
  EXPECT_TRUE(audit().capabilities & QUORUM_CAP_INIT);
}

TEST(AuditHandle, WithoutConfigSaysWhichChecksAreSkipped) {
  Actor actor(audit());
  actor.init(nullptr);
  ASSERT_TRUE(actor.feed("m1", "cvr", 5, cvr("p1", json::array({contest("zz", {{"q", position(1)}})}))).ok());
  const json p = actor.projection_json();
  EXPECT_EQ(p["checks"]["contests"], "skipped: no \"contests\" in the init config");
  EXPECT_EQ(p["checks"]["window"], "skipped: no \"window\" in the init config");
  EXPECT_EQ(p["checks"]["duplicates"], "on");
  EXPECT_TRUE(p["config"]["contests"].is_null());
  EXPECT_EQ(p["counts"]["unknown_contest"], 0);
  EXPECT_EQ(p["reconcile"], json({{"duplicates", 0}, {"malformed", 0}, {"received", 1}, {"tallied", 1}}));
  EXPECT_EQ(p["ids"].get_binary().size(), 16u);  // message id + BallotPrePrintedId
  EXPECT_EQ(p["schema"], 1);
}

TEST(AuditHandle, FindsUnknownContestsSelectionsOvervotesAndLateBallots) {
  Actor actor(audit());
  actor.init(kConfig);
  ASSERT_TRUE(actor
                  .feed("m1", "cvr", 1500,
                        cvr("p1", json::array({contest("c1", {{"a", position(1)}, {"b", position(1)}}),  // overvote
                                               contest("c2", {{"x", position(1)}, {"nope", position(1)}}),
                                               contest("c9", {{"a", position(1)}})})))
                  .ok());
  ASSERT_TRUE(actor.feed("m2", "cvr", 2001, cvr("p2", json::array({contest("c1", {{"a", position(1)}})}))).ok());
  json overvoted_field = contest("c1", {{"a", position(1, "no")}, {"b", position(1, "no")}});
  overvoted_field["Overvotes"] = 1;
  ASSERT_TRUE(actor.feed("m3", "cvr", 1000, cvr("p3", json::array({overvoted_field}))).ok());
  ASSERT_TRUE(actor.feed("m4", "cvr", 2000, cvr("p4", json::array({contest("c2", {{"y", position(1)}})}))).ok());
  const json p = actor.projection_json();
  EXPECT_EQ(p["checks"]["contests"], "on");
  EXPECT_EQ(p["checks"]["window"], "on");
  EXPECT_EQ(p["counts"]["overvote"], 2);
  EXPECT_EQ(p["counts"]["unknown_selection"], 1);
  EXPECT_EQ(p["counts"]["unknown_contest"], 1);
  EXPECT_EQ(p["counts"]["outside_window"], 1);
  EXPECT_EQ(p["counts"]["undervote"], 1);  // m4: 1 vote of 2 (counted, not listed)
  const json& findings = p["findings"];
  ASSERT_EQ(findings.size(), 5u);
  EXPECT_EQ(findings[0], json({{"detail", "contest 'c1': 2 allocable votes, 1 allowed"}, {"id", "m1"}, {"kind", "overvote"}, {"seq", 0}}));
  EXPECT_EQ(findings[1]["detail"], "selection 'nope' is not on contest 'c2'");
  EXPECT_EQ(findings[2]["detail"], "contest 'c9' is not in the election");
  EXPECT_EQ(findings[3]["kind"], "outside_window");
  EXPECT_EQ(findings[3]["id"], "m2");
  EXPECT_EQ(findings[3]["seq"], 1);
  EXPECT_EQ(findings[4]["detail"], "contest 'c1': Overvotes 1");
}

TEST(AuditHandle, RecordsDuplicatesByMessageIdPrePrintedIdAndUniqueId) {
  Actor actor(audit());
  actor.init(nullptr);
  json with_unique = cvr("p1", json::array());
  with_unique["UniqueId"] = "u1";
  ASSERT_TRUE(actor.feed("m1", "cvr", 0, with_unique).ok());
  ASSERT_TRUE(actor.feed("m1", "cvr", 0, cvr("p2", json::array())).ok());  // same message id
  ASSERT_TRUE(actor.feed("m2", "cvr", 0, cvr("p1", json::array())).ok());  // same pre-printed id
  json other = cvr("p3", json::array());
  other["UniqueId"] = "u1";
  ASSERT_TRUE(actor.feed("m3", "cvr", 0, other).ok());  // same UniqueId
  ASSERT_TRUE(actor.feed("p4", "cvr", 0, cvr("m9", json::array())).ok());  // ids live in separate namespaces
  const json p = actor.projection_json();
  EXPECT_EQ(p["reconcile"], json({{"duplicates", 3}, {"malformed", 0}, {"received", 5}, {"tallied", 2}}));
  EXPECT_EQ(p["counts"]["duplicate"], 3);
  EXPECT_EQ(p["findings"][0]["detail"], "message id 'm1' was already received");
  EXPECT_EQ(p["findings"][1]["detail"], "BallotPrePrintedId 'p1' was already received");
  EXPECT_EQ(p["findings"][2]["detail"], "UniqueId 'u1' was already received");
}

TEST(AuditHandle, RejectDuplicatesRejectsAndChangesNothing) {
  Actor actor(audit());
  actor.init(json{{"reject_duplicates", true}});
  ASSERT_TRUE(actor.feed("m1", "cvr", 0, cvr("p1", json::array())).ok());
  const std::string before = actor.projection();
  const auto again = actor.feed("m2", "cvr", 0, cvr("p1", json::array()));
  EXPECT_EQ(again.status, QUORUM_STATUS_REJECTED);
  EXPECT_EQ(again.error, "duplicate ballot: BallotPrePrintedId 'p1' was already received");
  EXPECT_EQ(actor.projection(), before);
  EXPECT_EQ(actor.projection_json()["checks"]["duplicates"], "on (rejecting)");
}

TEST(AuditHandle, MalformedIsRecordedNotRejectedAndItsIdsAreNotRemembered) {
  Actor actor(audit());
  actor.init(nullptr);
  ASSERT_TRUE(actor.feed("m1", "cvr", 0, json{{"BallotPrePrintedId", "p1"}}).ok());
  ASSERT_TRUE(actor.feed("m1", "cvr", 0, cvr("p1", json::array())).ok());  // the corrected resubmission
  const json p = actor.projection_json();
  EXPECT_EQ(p["reconcile"], json({{"duplicates", 0}, {"malformed", 1}, {"received", 2}, {"tallied", 1}}));
  EXPECT_EQ(p["findings"][0]["kind"], "malformed");
  EXPECT_EQ(p["findings"][0]["detail"], "cvr data is not a CVR object (no CVRSnapshot)");
}

TEST(AuditHandle, KeepsOnlyTheMostRecentHundredFindings) {
  Actor actor(audit());
  actor.init(kConfig);
  for (int i = 0; i < 130; ++i) {
    ASSERT_TRUE(actor.feed("m" + std::to_string(i), "cvr", 0, cvr("p" + std::to_string(i), json::array())).ok());
  }
  const json p = actor.projection_json();
  EXPECT_EQ(p["counts"]["outside_window"], 130);
  ASSERT_EQ(p["findings"].size(), 100u);
  EXPECT_EQ(p["findings"][0]["seq"], 30);
  EXPECT_EQ(p["findings"][99]["seq"], 129);
  EXPECT_EQ(p["ids"].get_binary().size(), 130u * 2 * 8);
}

TEST(AuditHandle, IgnoresOtherTypes) {
  Actor actor(audit());
  actor.init(kConfig);
  const std::string before = actor.projection();
  ASSERT_TRUE(actor.feed("t", "tally-delta", 0, json{{"x", 1}}).ok());
  EXPECT_EQ(actor.projection(), before);
}

TEST(AuditProjection, BrokenReconciliationFailsTheCall) {
  Actor actor(audit());
  actor.init(nullptr);
  ASSERT_TRUE(actor.feed("m1", "cvr", 0, cvr("p1", json::array())).ok());
  json p = actor.projection_json();
  p["reconcile"]["received"] = 2;
  actor.set_projection(quorum::test::to_msgpack(p));
  const auto result = actor.feed("m2", "cvr", 0, cvr("p2", json::array()));
  EXPECT_EQ(result.status, QUORUM_STATUS_FAILED);
  EXPECT_NE(result.error.find("audit reconciliation broken"), std::string::npos) << result.error;
}

}  // namespace
