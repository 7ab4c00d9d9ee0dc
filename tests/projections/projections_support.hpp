// Test helpers for the projections plugin: drive a descriptor through its C
// ABI starting from init(config) (the SDK's Driver always starts from an
// empty projection, i.e. the default config).
#pragma once

#include <quorum/plugin.h>
#include <quorum/sdk/testing.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace projections_test {

using json = nlohmann::json;
using quorum::sdk::testing::FeedResult;

inline FeedResult finish(const quorum_plugin_descriptor* d, int32_t status, quorum_buffer& out) {
  FeedResult result;
  try {
    result = quorum::sdk::testing::parse_result(status, out);
  } catch (...) {
    d->free(&out);
    throw;
  }
  d->free(&out);
  return result;
}

inline FeedResult try_init(const quorum_plugin_descriptor* d, const json& config) {
  const std::vector<uint8_t> bytes = json::to_msgpack(config);
  quorum_buffer out{nullptr, 0, nullptr};
  const int32_t status = d->init(quorum_bytes{bytes.data(), bytes.size()}, &out);
  return finish(d, status, out);
}

class Runner {
 public:
  // config null: start from an empty projection (the handler's default).
  explicit Runner(const quorum_plugin_descriptor* d, const json& config = nullptr) : d_(d) {
    if (!config.is_null()) {
      FeedResult result = try_init(d, config);
      if (!result.ok()) {
        throw std::invalid_argument("init refused the config: " + result.error);
      }
      projection_ = result.projection;
    }
  }

  FeedResult feed_bytes(const std::string& message) {
    quorum_buffer out{nullptr, 0, nullptr};
    const std::string key = "precinct/1";
    const int32_t status = d_->handle(bytes(key), bytes(projection_), bytes(message), nullptr, &out);
    FeedResult result = finish(d_, status, out);
    if (result.ok()) {
      projection_ = result.projection;
    }
    return result;
  }

  FeedResult feed(const std::string& id, const std::string& type, int64_t time_ms, const json& data) {
    return feed_bytes(quorum::sdk::testing::make_message(id, type, time_ms, data));
  }

  const std::string& bytes_now() const { return projection_; }
  json projection() const { return quorum::sdk::testing::to_json(projection_); }

 private:
  static quorum_bytes bytes(const std::string& text) {
    return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  }
  const quorum_plugin_descriptor* d_;
  std::string projection_;
};

}  // namespace projections_test
