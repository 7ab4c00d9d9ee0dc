// PluginHost control operations: load, activate/swap, rollback, unload,
// list, and unloading that waits for calls in flight.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <algorithm>

namespace {

using namespace quorum::host;
using namespace quorum::host::testing;
using ::testing::HasSubstr;
using quorum::ErrorCode;

const VersionStatus* find(const SlotStatus& slot, VersionId id) {
  for (const auto& version : slot.versions) {
    if (version.id == id) {
      return &version;
    }
  }
  return nullptr;
}

TEST(PluginHost, LoadsActivatesAndLists) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  auto v1 = host.load("counter", fixture("counter_v1"));
  auto v2 = host.load("counter", fixture("counter_v2"));
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_NE(*v1, *v2);
  auto again = host.load("counter", fixture("counter_v1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *v1) << "the same bytes are the same version";

  ASSERT_TRUE(host.activate("counter", *v1).ok());
  auto listed = host.list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "counter");
  EXPECT_EQ(listed[0].active, *v1);
  ASSERT_EQ(listed[0].versions.size(), 2u);
  EXPECT_EQ(find(listed[0], *v1)->state, VersionState::kActive);
  EXPECT_EQ(find(listed[0], *v1)->semver, "1.0.0");
  EXPECT_EQ(find(listed[0], *v2)->state, VersionState::kStandby);
  EXPECT_EQ(find(listed[0], *v2)->semver, "2.0.0");
  EXPECT_EQ(find(listed[0], *v2)->sha256_hex.size(), 64u);

  auto snapshot = host.snapshot();
  ASSERT_EQ(snapshot->slots.size(), 1u);
  EXPECT_EQ(snapshot->slots[0].active->id(), *v1);
}

TEST(PluginHost, RefusesBadPluginsAndKeepsRunning) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  auto abi2 = host.load("raw", fixture("raw_abi2"));
  ASSERT_FALSE(abi2.ok());
  EXPECT_THAT(abi2.error().message, HasSubstr("ABI major 2 is not supported by this host (speaks 1.x)"));
  auto wrong = host.load("tally", fixture("counter_v1"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.error().message, HasSubstr("descriptor field 'name' is 'counter', expected 'tally'"));
  auto bad_slot = host.load("Tally", fixture("counter_v1"));
  ASSERT_FALSE(bad_slot.ok());
  EXPECT_EQ(bad_slot.error().code, ErrorCode::kInvalidArgument);
  auto unknown = host.activate("counter", 99);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto good = host.load("counter", fixture("counter_v1"));
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(host.activate("counter", *good).ok());
}

TEST(PluginHost, SlotsKeepTheirActivationOrder) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  ASSERT_TRUE(host.add_slot("raw").ok());
  ASSERT_TRUE(host.load("counter", fixture("counter_v1")).ok());
  ASSERT_TRUE(host.load("raw", fixture("raw")).ok());
  EXPECT_FALSE(host.add_slot("raw").ok());
  auto listed = host.list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "raw");
  EXPECT_EQ(listed[1].name, "counter");
}

TEST(PluginHost, RollbackReturnsToThePreviousVersion) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  auto v1 = host.load("counter", fixture("counter_v1"));
  auto v2 = host.load("counter", fixture("counter_v2"));
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_FALSE(host.rollback("counter").ok()) << "nothing to roll back to yet";
  ASSERT_TRUE(host.activate("counter", *v1).ok());
  ASSERT_TRUE(host.swap("counter", *v2).ok());
  EXPECT_EQ(host.status("counter")->active, *v2);
  EXPECT_EQ(host.status("counter")->previous, *v1);
  ASSERT_TRUE(host.rollback("counter").ok());
  EXPECT_EQ(host.status("counter")->active, *v1);
  EXPECT_EQ(host.status("counter")->previous, *v2);
  ASSERT_TRUE(host.rollback("counter").ok());
  EXPECT_EQ(host.status("counter")->active, *v2);
}

TEST(PluginHost, UnloadIsRefusedForVersionsInUse) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  auto v1 = host.load("counter", fixture("counter_v1"));
  auto v2 = host.load("counter", fixture("counter_v2"));
  ASSERT_TRUE(host.activate("counter", *v1).ok());
  ASSERT_TRUE(host.dark_launch("counter", *v2).ok());
  auto active = host.unload("counter", *v1);
  ASSERT_FALSE(active.ok());
  EXPECT_THAT(active.error().message, HasSubstr("is active"));
  auto dark = host.unload("counter", *v2);
  ASSERT_FALSE(dark.ok());
  EXPECT_THAT(dark.error().message, HasSubstr("dark candidate"));
  ASSERT_TRUE(host.drop("counter").ok());
  EXPECT_TRUE(host.unload("counter", *v2).ok());
  EXPECT_EQ(host.status("counter")->versions.size(), 1u);
}

TEST(PluginHost, OldVersionIsUnmappedOnceNoCallUsesIt) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  auto v1 = host.load("counter", fixture("counter_v1"));
  auto v2 = host.load("counter", fixture("counter_v2"));
  ASSERT_TRUE(v1.ok() && v2.ok());
  ASSERT_TRUE(host.activate("counter", *v1).ok());
  const std::filesystem::path v1_path = host.version(*v1)->library().mapped_path();
  ASSERT_TRUE(is_mapped_in_process(v1_path));

  // A message in flight holds the snapshot it started with.
  std::shared_ptr<const HostSnapshot> in_flight = host.snapshot();
  ASSERT_TRUE(host.swap("counter", *v2).ok());
  ASSERT_TRUE(host.unload("counter", *v1).ok());
  EXPECT_EQ(host.version(*v1), nullptr);
  EXPECT_TRUE(is_mapped_in_process(v1_path)) << "a call in flight still uses v1";
  EmptyHistory history;
  HandleResult result = in_flight->slots[0].active->handle("k", "", inc("m"), history);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(json_of(result.projection)["last"], "1.0.0");
  EXPECT_EQ(host.library_stats().unloaded, 0u);

  in_flight.reset();  // the call ends
  EXPECT_FALSE(is_mapped_in_process(v1_path)) << "v1 must be gone from /proc/self/maps";
  const LoaderStats stats = host.library_stats();
  EXPECT_EQ(stats.unloaded, 1u);
  EXPECT_EQ(stats.still_mapped, 0u);
  EXPECT_EQ(stats.resident, 1u);
}

TEST(PluginHost, BoundsVersionsPerSlot) {
  ScratchDir dir;
  PluginHost::Options options = host_options(dir);
  options.max_versions_per_slot = 2;
  PluginHost host(options);
  ASSERT_TRUE(host.load("counter", fixture("counter_v1")).ok());
  ASSERT_TRUE(host.load("counter", fixture("counter_v2")).ok());
  auto third = host.load("counter", fixture("counter_v3"));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
}

TEST(PluginHost, LoadsEveryPluginOfADirectoryIntoTheSlotsTheyName) {
  ScratchDir dir;
  const auto plugins = dir.path() / "plugins";
  std::filesystem::create_directories(plugins);
  std::filesystem::copy_file(fixture("counter_v1"), plugins / "a_counter.so");
  std::filesystem::copy_file(fixture("raw"), plugins / "b_raw.so");
  std::filesystem::copy_file(fixture("raw_abi2"), plugins / "c_abi2.so");
  PluginHost host(host_options(dir));
  std::vector<std::string> loaded;
  std::vector<std::string> refused;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(plugins)) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto result = host.load(file);
    if (result.ok()) {
      loaded.push_back(result->name);
      EXPECT_TRUE(host.activate(result->name, result->version).ok());
    } else {
      refused.push_back(result.error().message);
    }
  }
  EXPECT_EQ(loaded, (std::vector<std::string>{"counter", "raw"}));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_THAT(refused[0], HasSubstr("c_abi2.so: ABI major 2 is not supported by this host (speaks 1.x)"));
}

// The usage example in the report to the lead, verbatim: load a directory,
// feed messages through the runner, hot-swap, read projections.
TEST(PluginHost, DemoToolUsage) {
  ScratchDir dir;
  const std::filesystem::path plugin_dir = QUORUM_PLUGIN_DIR;
  const std::filesystem::path cache = dir.path() / "cache";
  std::vector<std::string> log;  // the actor's accepted messages
  // --- example starts
  quorum::host::PluginHost host({.cache_dir = cache});
  auto v1 = host.load("counter", plugin_dir / "fixture_counter_v1.so").value();
  auto v2 = host.load("counter", plugin_dir / "fixture_counter_v2.so").value();
  if (!host.activate("counter", v1).ok()) return;          // errors are values
  quorum::host::ProjectionRunner runner(host);
  quorum::host::ActorProjections state;                    // one actor's projections
  auto feed = [&](const std::string& msg) {
    auto r = runner.run("precinct/1", state, quorum::host::VectorHistory(log), msg);
    if (r.ok()) { state = std::move(r.projections); log.push_back(msg); }
    return r;                                              // r.effects, r.error
  };
  feed(quorum::sdk::testing::make_message("b-1", "inc", 0, {{"by", 2}}));
  (void)host.swap("counter", v2);                          // the next message runs on v2
  feed(quorum::sdk::testing::make_message("b-2", "inc", 0, {{"by", 3}}));
  auto json = quorum::sdk::testing::to_json(state.at("counter").live.bytes);
  // --- example ends
  EXPECT_EQ(json["count"], 5);
  EXPECT_EQ(json["last"], "2.0.0");
}

}  // namespace
