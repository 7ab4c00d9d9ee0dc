// The built tally-1.0.0.so and tally-2.0.0.so, loaded with dlopen through the
// SDK's Driver::open exactly as the host loads them (QUORUM_PLUGIN_DIR).
#include "plugin_harness.hpp"
#include "tally.hpp"

#include <quorum/sdk/sdk.hpp>
#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using quorum::sdk::testing::Driver;
using quorum::test::Actor;
using json = nlohmann::json;

std::string plugin_path(const std::string& file) { return std::string(QUORUM_PLUGIN_DIR) + "/" + file; }

std::vector<std::string> gen03_messages(const std::string& precinct) {
  std::vector<std::string> messages;
  int64_t time = 1730000000000;
  const json report = quorum::test::read_json_file("nist-cdf-test-method/gen-03/cvr-gen-03.json");
  for (const json& cvr : report["CVR"]) {
    if (cvr["BallotStyleUnitId"] == precinct) {
      messages.push_back(quorum::test::make_message(cvr["BallotPrePrintedId"].get<std::string>(), "cvr", time++, cvr));
    }
  }
  return messages;
}

TEST(TallyPlugin, LoadsBothVersionsWithTheirIdentity) {
  Driver one = Driver::open(plugin_path("tally-1.0.0.so"));
  Driver two = Driver::open(plugin_path("tally-2.0.0.so"));
  EXPECT_STREQ(one.descriptor().name, "tally");
  EXPECT_STREQ(two.descriptor().name, "tally");
  EXPECT_STREQ(one.descriptor().semver, "1.0.0");
  EXPECT_STREQ(two.descriptor().semver, "2.0.0");
  EXPECT_EQ(one.descriptor().projection_schema, 1u);
  EXPECT_EQ(two.descriptor().projection_schema, 2u);
  EXPECT_EQ(one.descriptor().abi_major, QUORUM_ABI_MAJOR);
  EXPECT_EQ(two.descriptor().migrate, nullptr);
  EXPECT_TRUE(two.descriptor().capabilities & QUORUM_CAP_INIT);
  EXPECT_TRUE(two.descriptor().capabilities & QUORUM_CAP_HANDLE_BATCH);
}

TEST(TallyPlugin, SharedLibraryGivesTheSameBytesAsTheInProcessHandler) {
  for (const auto& [file, in_process] :
       std::vector<std::pair<std::string, const quorum_plugin_descriptor*>>{
           {"tally-1.0.0.so", quorum::sdk::descriptor<quorum::plugins::Tally1>()},
           {"tally-2.0.0.so", quorum::sdk::descriptor<quorum::plugins::Tally2>()}}) {
    Driver driver = Driver::open(plugin_path(file));
    Driver local(in_process);
    for (const std::string& message : gen03_messages("prec-ac")) {
      ASSERT_TRUE(driver.feed("prec-ac", message).ok());
      ASSERT_TRUE(local.feed("prec-ac", message).ok());
    }
    EXPECT_EQ(driver.projection("prec-ac"), local.projection("prec-ac")) << file;
    EXPECT_EQ(driver.projection_json("prec-ac")["contests"]["cc-president"]["selections"]["cs-president-ak"], 5);
    // Not a CVR: rejected by the library too.
    const auto rejected = driver.feed("prec-ac", "x", "cvr", 0, json{{"no", "snapshot"}});
    EXPECT_EQ(rejected.status, QUORUM_STATUS_REJECTED);
    EXPECT_EQ(rejected.error, "cvr data is not a CVR object (no CVRSnapshot)");
  }
}

// The lead's demo: 1.0.0 runs, then 2.0.0 replaces it mid-stream. 2.0.0 has
// no migrate, so its projection is rebuilt by replaying the log; it must equal
// a 2.0.0 that ran from the start, and carry on from there.
TEST(TallyPlugin, HotSwapOneToTwoByReplayingTheLog) {
  Driver one = Driver::open(plugin_path("tally-1.0.0.so"));
  Driver two = Driver::open(plugin_path("tally-2.0.0.so"));
  const std::vector<std::string> messages = gen03_messages("prec-fs-23");
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(one.feed("prec-fs-23", messages[i]).ok());
  }
  ASSERT_EQ(two.descriptor().migrate, nullptr);
  Actor rebuilt(two.descriptor(), "prec-fs-23");
  for (const std::string& logged : one.history("prec-fs-23")) {
    ASSERT_TRUE(rebuilt.feed(logged).ok());
  }
  for (size_t i = 6; i < messages.size(); ++i) {
    ASSERT_TRUE(rebuilt.feed(messages[i]).ok());
  }
  Driver fresh = Driver::open(plugin_path("tally-2.0.0.so"));
  for (const std::string& message : messages) {
    ASSERT_TRUE(fresh.feed("prec-fs-23", message).ok());
  }
  EXPECT_EQ(rebuilt.projection(), fresh.projection("prec-fs-23"));
  EXPECT_EQ(rebuilt.projection_json()["contests"]["cc-senate"]["ballots"], 10);
}

TEST(TallyPlugin, InitConfigThroughTheLibrary) {
  Driver two = Driver::open(plugin_path("tally-2.0.0.so"));
  Actor actor(two.descriptor());
  actor.init(json{{"contests", {{"cc-president", {{"votes_allowed", 1}, {"selections", {"cs-president-ak", "cs-president-wi"}}, {"write_ins", {"cs-president-wi"}}}}}}});
  const json p = actor.projection_json();
  EXPECT_EQ(p["contests"]["cc-president"]["votes_allowed"], 1);
  EXPECT_EQ(p["contests"]["cc-president"]["write_in_ids"], json({"cs-president-wi"}));
}

}  // namespace
