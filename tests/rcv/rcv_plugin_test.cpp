// The built rcv shared library (rcv-1.1.0.so), loaded the way the host loads
// it, gives the same bytes as the handler compiled into this test.
#include "plugins/rcv/rcv.hpp"
#include "rcv_support.hpp"

#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>

#include <fstream>

namespace {

using quorum::plugins::rcv::Rcv;
using quorum::sdk::testing::Driver;
using rcv_test::json;
using rcv_test::Runner;

const std::string kPlugin = std::string(QUORUM_PLUGIN_DIR) + "/rcv-1.1.0.so";

TEST(RcvPlugin, LoadsWithItsDescriptor) {
  Driver driver = Driver::open(kPlugin);
  const quorum_plugin_descriptor& d = driver.descriptor();
  EXPECT_EQ(d.abi_major, QUORUM_ABI_MAJOR);
  EXPECT_STREQ(d.name, "rcv");
  EXPECT_STREQ(d.semver, "1.1.0");
  EXPECT_EQ(d.projection_schema, 1u);
  EXPECT_EQ(d.capabilities, QUORUM_CAP_INIT | QUORUM_CAP_HANDLE_BATCH);
  EXPECT_NE(d.init, nullptr);
  EXPECT_NE(d.handle_batch, nullptr);
}

TEST(RcvPlugin, RctabFileThroughTheLibraryMatchesInProcess) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/rctab/test_set_1_exhaust_at_overvote_cvr.json");
  const json report = json::parse(in);
  Driver driver = Driver::open(kPlugin);
  Runner in_process(quorum::sdk::descriptor<Rcv>());
  for (const json& cvr : report["CVR"]) {
    const std::string id = cvr["BallotPrePrintedId"];
    auto result = driver.feed("contest/001", id, "cvr", 1'700'000'000'000, cvr);
    ASSERT_TRUE(result.ok()) << result.error;
    ASSERT_TRUE(in_process.feed(id, cvr).ok());
  }
  EXPECT_EQ(driver.projection("contest/001"), in_process.bytes_now());
  EXPECT_EQ(driver.projection_json("contest/001")["contests"]["contest-001"]["winner"], "cs-b");
  auto rejected = driver.feed("contest/001", "bad", "cvr", 0, json{{"CVR", 1}});
  EXPECT_EQ(rejected.status, QUORUM_STATUS_REJECTED);
  EXPECT_EQ(driver.projection("contest/001"), in_process.bytes_now());
}

TEST(RcvPlugin, InitWithConfigThroughTheLibrary) {
  Driver driver = Driver::open(kPlugin);
  auto refused = Runner::try_init(&driver.descriptor(), {{"overvote", "maybe"}});
  EXPECT_EQ(refused.status, QUORUM_STATUS_REJECTED);
  Runner runner(&driver.descriptor(), {{"overvote", "skip_to_next"}, {"max_skipped_ranks", 1}});
  ASSERT_TRUE(runner.feed("b-1", rcv_test::ranked_cvr({{"a", "b"}, {"c"}})).ok());
  const json p = runner.projection();
  EXPECT_EQ(p["rules"]["overvote"], "skip_to_next");
  EXPECT_EQ(p["rules"]["max_skipped_ranks"], 1);
  EXPECT_EQ(p["contests"]["contest-1"]["winner"], "c");
}

}  // namespace
