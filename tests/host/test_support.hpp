// Helpers shared by the host tests: fixture paths, scratch directories,
// message envelopes and projection decoding.
#pragma once

#include "support/scratch_dir.hpp"
#include <quorum/host/host.hpp>
#include <quorum/sdk/testing.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace quorum::host::testing {

// A built fixture plugin, e.g. fixture("counter_v1").
inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(QUORUM_PLUGIN_DIR) / ("fixture_" + name + ".so");
}

// A fresh directory removed at the end of the test.
using ScratchDir = quorum::test_support::ScratchDir;  // tests/support/scratch_dir.hpp

inline PluginHost::Options host_options(const ScratchDir& dir) {
  PluginHost::Options options;
  options.cache_dir = dir.path() / "cache";
  return options;
}

inline std::string inc(const std::string& id, int by = 1) {
  return quorum::sdk::testing::make_message(id, "inc", 0, {{"by", by}});
}

inline std::string message(const std::string& id, const std::string& type) {
  return quorum::sdk::testing::make_message(id, type, 0, nullptr);
}

inline nlohmann::json json_of(std::string_view msgpack_bytes) { return quorum::sdk::testing::to_json(msgpack_bytes); }

// One actor kept in memory, the way the node's actor will keep it.
struct TestActor {
  std::string key;
  ActorProjections projections;
  std::vector<std::string> history;

  RunResult feed(const ProjectionRunner& runner, const std::string& msg) {
    VectorHistory view(history);
    RunResult result = runner.run(key, projections, view, msg);
    if (result.ok()) {
      projections = result.projections;
      history.push_back(msg);
    }
    return result;
  }
  nlohmann::json live(const std::string& handler) const { return json_of(projections.at(handler).live.bytes); }
};

}  // namespace quorum::host::testing
