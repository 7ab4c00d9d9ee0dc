// The built projections shared library (projections-1.0.0.so), loaded the way
// the host loads it, gives the same bytes as the handler compiled in here.
#include "plugins/projections/projections.hpp"
#include "projections_support.hpp"

#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>

#include <fstream>

namespace {

using quorum::plugins::projections::Projections;
using quorum::sdk::testing::Driver;
using projections_test::json;
using projections_test::Runner;

const std::string kPlugin = std::string(QUORUM_PLUGIN_DIR) + "/projections-1.0.0.so";

TEST(ProjectionsPlugin, LoadsWithItsDescriptor) {
  Driver driver = Driver::open(kPlugin);
  const quorum_plugin_descriptor& d = driver.descriptor();
  EXPECT_EQ(d.abi_major, QUORUM_ABI_MAJOR);
  EXPECT_STREQ(d.name, "projections");
  EXPECT_STREQ(d.semver, "1.0.0");
  EXPECT_EQ(d.projection_schema, 1u);
  EXPECT_EQ(d.capabilities, QUORUM_CAP_INIT | QUORUM_CAP_HANDLE_BATCH);
}

TEST(ProjectionsPlugin, NistCvrsThroughTheLibraryMatchInProcess) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/nist-cdf-test-method/gen-03/cvr-gen-03.json");
  const json report = json::parse(in);
  Driver driver = Driver::open(kPlugin);
  Runner in_process(quorum::sdk::descriptor<Projections>());
  int64_t time = 1'700'000'000'000;
  for (const json& cvr : report["CVR"]) {
    const std::string id = cvr["BallotPrePrintedId"];
    ASSERT_TRUE(driver.feed("county/1", id, "cvr", time, cvr).ok());
    ASSERT_TRUE(in_process.feed(id, "cvr", time, cvr).ok());
    ++time;
  }
  ASSERT_TRUE(driver.feed("county/1", "close", "close-polls", time, nullptr).ok());
  ASSERT_TRUE(in_process.feed("close", "close-polls", time, nullptr).ok());
  EXPECT_EQ(driver.projection("county/1"), in_process.bytes_now());
  const json p = driver.projection_json("county/1");
  EXPECT_EQ(p["messages"], 21);
  EXPECT_EQ(p["counters"]["by_type"]["values"], (json{{"close-polls", 1}, {"cvr", 20}}));
}

TEST(ProjectionsPlugin, InitWithConfigThroughTheLibrary) {
  Driver driver = Driver::open(kPlugin);
  EXPECT_EQ(projections_test::try_init(&driver.descriptor(), {{"counters", 5}}).status, QUORUM_STATUS_REJECTED);
  Runner runner(&driver.descriptor(), {{"counters", {{{"name", "ids"}, {"field", "id"}, {"max_values", 1}}}}});
  ASSERT_TRUE(runner.feed("b", "cvr", 0, nullptr).ok());
  ASSERT_TRUE(runner.feed("a", "cvr", 0, nullptr).ok());
  const json c = runner.projection()["counters"]["ids"];
  EXPECT_EQ(c["values"], (json{{"a", 1}}));
  EXPECT_EQ(c["other"], 1);
}

}  // namespace
