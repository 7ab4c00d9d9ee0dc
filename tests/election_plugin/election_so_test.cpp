// The built election-1.1.0.so, loaded through dlopen as the host loads it:
// it exports the descriptor with the fast path, and a precinct's ballot
// reaches its county through the delivered delta.
#include "election_sim.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using nlohmann::json;

TEST(ElectionPluginLibrary, LoadsAndRollsUpABallot) {
  auto driver = quorum::sdk::testing::Driver::open(std::string(QUORUM_PLUGIN_DIR) + "/election-1.1.0.so");
  const quorum_plugin_descriptor& plugin = driver.descriptor();
  EXPECT_STREQ(plugin.name, "election");
  EXPECT_STREQ(plugin.semver, "1.1.0");
  ASSERT_NE(plugin.handle_batch, nullptr);
  quorum::test::ElectionSim sim(&plugin);
  const json contests = {{"c", {{"votes_allowed", 1}, {"rcv", false}}}};
  ASSERT_TRUE(sim.command("election/e/unit/p", "1", "configure", 1,
                          {{"election", "e"}, {"unit", quorum::test::unit_config("p", true, {"k"}, contests)}})
                  .ok());
  const json cvr = {{"UniqueId", "b"},
                    {"CVRSnapshot",
                     {{{"@id", "s"},
                       {"CVRContest",
                        {{{"ContestId", "c"},
                          {"CVRContestSelection",
                           {{{"ContestSelectionId", "x"}, {"SelectionPosition", {{{"HasIndication", "yes"}}}}}}}}}}}}}};
  ASSERT_TRUE(sim.command("election/e/unit/p", "b", "cvr", 2, cvr).ok());
  ASSERT_TRUE(sim.pending().empty());  // pending at the precinct until a flush
  ASSERT_TRUE(sim.command("election/e/unit/p", "f", "flush", 3, json::object()).ok());
  sim.deliver_all(3);
  EXPECT_EQ(sim.projection_json("election/e/unit/k")["contests"]["c"]["selections"]["x"], 1);
  EXPECT_TRUE(sim.command("e/other", "", "cvr", 4, json::object()).projection.empty());
}

}  // namespace
