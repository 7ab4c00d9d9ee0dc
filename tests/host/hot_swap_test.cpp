// Hot-swap under load: feeder threads push many messages to many actors
// while another thread swaps versions back and forth. Every message must be
// handled exactly once and wholly by one version, and a version unloaded
// meanwhile must leave /proc/self/maps once the last call using it ends.
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

namespace {

using namespace quorum::host;
using namespace quorum::host::testing;

TEST(HotSwap, EveryMessageIsHandledOnceAndWhollyByOneVersion) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  const VersionId v1 = host.load("counter", fixture("counter_v1")).value();
  const VersionId v2 = host.load("counter", fixture("counter_v2")).value();
  ASSERT_TRUE(host.activate("counter", v1).ok());
  ProjectionRunner runner(host);

  constexpr int kThreads = 4;
  constexpr int kActorsPerThread = 16;
  constexpr int kMessagesPerActor = 300;
  std::atomic<int> feeders_running{kThreads};
  std::atomic<uint64_t> swaps{0};

  struct Tally {
    uint64_t messages = 0;
    std::map<std::string, uint64_t> by_version;  // from the effects
    uint64_t split = 0;                          // messages whose effect and projection disagree
    uint64_t failed = 0;
  };
  std::vector<Tally> tallies(kThreads);
  std::vector<std::vector<TestActor>> actors(kThreads);

  std::vector<std::thread> feeders;
  for (int t = 0; t < kThreads; ++t) {
    feeders.emplace_back([&, t] {
      for (int a = 0; a < kActorsPerThread; ++a) {
        actors[t].push_back(TestActor{"precinct/" + std::to_string(t) + "/" + std::to_string(a), {}, {}});
      }
      for (int m = 0; m < kMessagesPerActor; ++m) {
        for (TestActor& actor : actors[t]) {
          RunResult result = actor.feed(runner, inc(actor.key + "#" + std::to_string(m)));
          Tally& tally = tallies[t];
          if (!result.ok() || result.effects.size() != 1) {
            ++tally.failed;
            continue;
          }
          ++tally.messages;
          const std::string effect_version = json_of(result.effects[0].effect.data)["v"];
          const std::string projection_version = json_of(result.projections.at("counter").live.bytes)["last"];
          tally.by_version[effect_version] += 1;
          if (effect_version != projection_version ||
              json_of(result.effects[0].effect.data)["count"] != static_cast<uint64_t>(m + 1)) {
            ++tally.split;
          }
        }
      }
      feeders_running.fetch_sub(1);
    });
  }
  std::thread swapper([&] {
    bool to_v2 = true;
    while (feeders_running.load() > 0) {
      ASSERT_TRUE(host.swap("counter", to_v2 ? v2 : v1).ok());
      to_v2 = !to_v2;
      swaps.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  for (auto& feeder : feeders) {
    feeder.join();
  }
  swapper.join();

  const uint64_t total = static_cast<uint64_t>(kThreads) * kActorsPerThread * kMessagesPerActor;
  uint64_t handled = 0;
  std::map<std::string, uint64_t> by_version;
  for (const Tally& tally : tallies) {
    EXPECT_EQ(tally.failed, 0u);
    EXPECT_EQ(tally.split, 0u) << "a message was split across versions";
    handled += tally.messages;
    for (const auto& [version, count] : tally.by_version) {
      by_version[version] += count;
    }
  }
  EXPECT_EQ(handled, total);
  EXPECT_GT(swaps.load(), 20u);
  EXPECT_GT(by_version["1.0.0"], 0u);
  EXPECT_GT(by_version["2.0.0"], 0u);
  EXPECT_EQ(by_version["1.0.0"] + by_version["2.0.0"], total);
  // The projections agree: none lost, none doubled, per actor and per version.
  std::map<std::string, uint64_t> by_version_in_projections;
  for (const auto& thread_actors : actors) {
    for (const TestActor& actor : thread_actors) {
      const auto projection = actor.live("counter");
      EXPECT_EQ(projection["count"], kMessagesPerActor) << actor.key;
      EXPECT_EQ(actor.history.size(), static_cast<size_t>(kMessagesPerActor));
      for (const auto& [version, count] : projection["by_version"].items()) {
        by_version_in_projections[version] += count.get<uint64_t>();
      }
    }
  }
  EXPECT_EQ(by_version_in_projections, by_version);
  EXPECT_EQ(host.version(v1)->counters().calls + host.version(v2)->counters().calls, total);
  std::printf("hot-swap test: %llu messages, %llu swaps, v1 handled %llu, v2 handled %llu\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(swaps.load()),
              static_cast<unsigned long long>(by_version["1.0.0"]),
              static_cast<unsigned long long>(by_version["2.0.0"]));
}

TEST(HotSwap, AVersionUnloadedUnderLoadIsUnmappedWhenItsLastCallEnds) {
  ScratchDir dir;
  PluginHost host(host_options(dir));
  const VersionId v1 = host.load("counter", fixture("counter_v1")).value();
  const VersionId v2 = host.load("counter", fixture("counter_v2")).value();
  ASSERT_TRUE(host.activate("counter", v1).ok());
  const std::filesystem::path v1_path = host.version(v1)->library().mapped_path();
  const std::filesystem::path v2_path = host.version(v2)->library().mapped_path();
  ProjectionRunner runner(host);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> fed{0};
  std::vector<std::thread> feeders;
  for (int t = 0; t < 3; ++t) {
    feeders.emplace_back([&, t] {
      TestActor actor{"k/" + std::to_string(t), {}, {}};
      uint64_t n = 0;
      while (!stop.load()) {
        RunResult result = actor.feed(runner, inc(std::to_string(n)));
        ASSERT_TRUE(result.ok()) << result.error;
        ++n;
        fed.fetch_add(1);
      }
      EXPECT_EQ(actor.live("counter")["count"], n);
    });
  }
  while (fed.load() < 500) {
    std::this_thread::yield();
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(host.swap("counter", i % 2 == 0 ? v2 : v1).ok());
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  ASSERT_EQ(host.status("counter")->active, v1);
  ASSERT_TRUE(host.swap("counter", v2).ok());
  ASSERT_TRUE(host.unload("counter", v1).ok());  // while messages are still flowing
  const uint64_t after_unload = fed.load();
  while (fed.load() < after_unload + 500) {
    std::this_thread::yield();
  }
  stop = true;
  for (auto& feeder : feeders) {
    feeder.join();
  }
  EXPECT_FALSE(is_mapped_in_process(v1_path)) << v1_path;
  EXPECT_TRUE(is_mapped_in_process(v2_path));
  const LoaderStats stats = host.library_stats();
  EXPECT_EQ(stats.loaded, 2u);
  EXPECT_EQ(stats.unloaded, 1u);
  EXPECT_EQ(stats.still_mapped, 0u);
  EXPECT_EQ(stats.resident, 1u);
}

}  // namespace
