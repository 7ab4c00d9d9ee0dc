// The built audit-1.0.0.so, loaded with dlopen (Driver::open) from QUORUM_PLUGIN_DIR.
#include "audit.hpp"
#include "plugin_harness.hpp"

#include <quorum/sdk/sdk.hpp>
#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>

namespace {

using quorum::sdk::testing::Driver;
using quorum::test::Actor;
using json = nlohmann::json;

TEST(AuditPlugin, AuditsGen03ThroughTheSharedLibrary) {
  Driver driver = Driver::open(std::string(QUORUM_PLUGIN_DIR) + "/audit-1.0.0.so");
  EXPECT_STREQ(driver.descriptor().name, "audit");
  EXPECT_STREQ(driver.descriptor().semver, "1.0.0");
  EXPECT_EQ(driver.descriptor().projection_schema, 1u);

  // The election definition from the certified results: every contest, its selections, votes allowed.
  const json err = quorum::test::read_json_file("nist-cdf-test-method/gen-03/err-gen-03.json");
  json contests = json::object();
  for (const json& contest : err["Election"][0]["Contest"]) {
    json selections = json::array();
    for (const json& selection : contest["ContestSelection"]) {
      selections.push_back(selection["@id"]);
    }
    contests[contest["@id"].get<std::string>()] = {{"selections", selections},
                                                   {"votes_allowed", contest.value("VotesAllowed", 1)}};
  }
  const json config = {{"contests", contests}, {"window", {{"start_ms", 1730000000000}, {"end_ms", 1730000000018}}}};

  Actor actor(driver.descriptor(), "county");
  actor.init(config);
  Actor local(*quorum::sdk::descriptor<quorum::plugins::Audit>(), "county");
  local.init(config);
  int64_t time = 1730000000000;
  json first;
  const json report = quorum::test::read_json_file("nist-cdf-test-method/gen-03/cvr-gen-03.json");
  for (const json& cvr : report["CVR"]) {
    first = first.is_null() ? cvr : first;
    const std::string message = quorum::test::make_message(cvr["BallotPrePrintedId"].get<std::string>(), "cvr", time++, cvr);
    ASSERT_TRUE(actor.feed(message).ok());
    ASSERT_TRUE(local.feed(message).ok());
  }
  // The first ballot scanned again under a new message id.
  ASSERT_TRUE(actor.feed("rescan-1", "cvr", 1730000000005, first).ok());
  const json p = actor.projection_json();
  EXPECT_EQ(p["reconcile"], json({{"duplicates", 1}, {"malformed", 0}, {"received", 21}, {"tallied", 20}}));
  EXPECT_EQ(p["counts"]["unknown_contest"], 0);
  EXPECT_EQ(p["counts"]["unknown_selection"], 0);
  EXPECT_EQ(p["counts"]["overvote"], 0);
  EXPECT_EQ(p["counts"]["outside_window"], 1);  // the 20th ballot, at start + 19 ms
  EXPECT_EQ(p["findings"].size(), 2u);
  EXPECT_EQ(p["findings"][1]["detail"], "BallotPrePrintedId 'b-1-prec-fs-23' was already received");
  // The library and the in-process handler agree byte for byte.
  ASSERT_TRUE(local.feed("rescan-1", "cvr", 1730000000005, first).ok());
  EXPECT_EQ(actor.projection(), local.projection());
}

}  // namespace
