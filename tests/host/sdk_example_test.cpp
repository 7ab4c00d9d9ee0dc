// Loads the out-of-tree SDK example (sdk/examples/ballot_counter, built by
// sdk_example_test.cmake against the installed SDK package) into PluginHost
// and feeds it messages. Usage: host_sdk_example_test <ballot_counter.so>
#include <quorum/host/host.hpp>
#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

namespace {

std::filesystem::path plugin_path;

using namespace quorum::host;
using quorum::sdk::testing::make_message;
using quorum::sdk::testing::to_json;

TEST(SdkExample, OutOfTreePluginLoadsAndHandlesMessages) {
  ASSERT_FALSE(plugin_path.empty()) << "pass the path of ballot_counter.so";
  const auto scratch = std::filesystem::temp_directory_path() / ("quorum-sdk-example-" + std::to_string(::getpid()));
  PluginHost::Options options;
  options.cache_dir = scratch / "cache";
  {
    PluginHost host(options);
    auto version = host.load("ballot_counter", plugin_path);
    ASSERT_TRUE(version.ok()) << version.error().message;
    ASSERT_TRUE(host.activate("ballot_counter", *version).ok());
    ProjectionRunner runner(host);

    ActorProjections projections;
    std::vector<std::string> history;
    auto feed = [&](const std::string& message) {
      VectorHistory view(history);
      RunResult result = runner.run("precinct/1", projections, view, message);
      if (result.ok()) {
        projections = result.projections;
        history.push_back(message);
      }
      return result;
    };
    EXPECT_TRUE(feed(make_message("b-1", "cvr", 1000, {{"contest", "mayor"}})).ok());
    EXPECT_TRUE(feed(make_message("b-2", "cvr", 1001, nullptr)).ok());
    EXPECT_TRUE(feed(make_message("", "note", 1002, "hello")).ok());
    RunResult rejected = feed(make_message("", "cvr", 1003, nullptr));
    EXPECT_EQ(rejected.status, CallStatus::kRejected);
    EXPECT_EQ(rejected.handler, "ballot_counter");
    EXPECT_EQ(rejected.error, "a ballot needs an id");

    const auto projection = to_json(projections.at("ballot_counter").live.bytes);
    EXPECT_EQ(projection["ballots"], 2);
    EXPECT_EQ(projection["by_type"]["cvr"], 2);
    EXPECT_EQ(projection["by_type"]["note"], 1);
    const SlotStatus status = host.status("ballot_counter").value();
    EXPECT_EQ(status.versions.at(0).semver, "1.0.0");
    EXPECT_EQ(status.versions.at(0).counters.calls, 4u);
  }
  std::filesystem::remove_all(scratch);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) {
    plugin_path = argv[1];
  }
  return RUN_ALL_TESTS();
}
