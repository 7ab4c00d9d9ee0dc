// Test harness for the tally and audit plugins: one actor driven through a
// plugin descriptor's C ABI (init with a config, handle, handle_batch), as
// the host does. The SDK's testing::Driver has no init(); this adds it.
#pragma once

#include <quorum/plugin.h>
#include <quorum/sdk/testing.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace quorum::test {

using quorum::sdk::testing::FeedResult;
using quorum::sdk::testing::make_message;

inline quorum_bytes as_bytes(const std::string& text) noexcept {
  return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

inline std::string to_msgpack(const nlohmann::json& value) {
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

inline nlohmann::json read_json_file(const std::string& relative) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/" + relative);
  if (!in) {
    throw std::runtime_error("cannot read test data " + relative);
  }
  return nlohmann::json::parse(in);
}

// The projection a plugin's init() returns for `config` (msgpack of the JSON).
inline std::string init_projection(const quorum_plugin_descriptor& plugin, const nlohmann::json& config) {
  if (plugin.init == nullptr) {
    throw std::runtime_error("plugin has no init");
  }
  const std::string bytes = config.is_null() ? std::string() : to_msgpack(config);
  quorum_buffer out{};
  const int32_t status = plugin.init(as_bytes(bytes), &out);
  FeedResult result;
  try {
    result = quorum::sdk::testing::parse_result(status, out);
  } catch (...) {
    plugin.free(&out);
    throw;
  }
  plugin.free(&out);
  if (!result.ok()) {
    throw std::runtime_error("init failed: " + result.error);
  }
  return result.projection;
}

// One actor of one plugin: its projection, advanced by accepted messages.
class Actor {
 public:
  explicit Actor(const quorum_plugin_descriptor& plugin, std::string key = "actor")
      : plugin_(&plugin), key_(std::move(key)) {}

  Actor& init(const nlohmann::json& config) {
    projection_ = init_projection(*plugin_, config);
    return *this;
  }

  FeedResult feed(const std::string& message) {
    quorum_history history{nullptr, 0, nullptr};
    quorum_buffer out{};
    const int32_t status = plugin_->handle(as_bytes(key_), as_bytes(projection_), as_bytes(message), &history, &out);
    FeedResult result;
    try {
      result = quorum::sdk::testing::parse_result(status, out);
    } catch (...) {
      plugin_->free(&out);
      throw;
    }
    plugin_->free(&out);
    if (result.ok()) {
      projection_ = result.projection;
    }
    return result;
  }

  FeedResult feed(const std::string& id, const std::string& type, int64_t time_ms, const nlohmann::json& data) {
    return feed(make_message(id, type, time_ms, data));
  }

  // handle_batch over `messages` (msgpack envelopes); returns the per-message
  // results ({"ok", ...}) and advances the projection.
  nlohmann::json feed_batch(const std::vector<std::string>& messages) {
    std::string array;
    array.push_back(static_cast<char>(0xdd));
    const uint32_t n = static_cast<uint32_t>(messages.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      array.push_back(static_cast<char>((n >> shift) & 0xff));
    }
    for (const std::string& message : messages) {
      array += message;
    }
    quorum_buffer out{};
    const int32_t status = plugin_->handle_batch(as_bytes(key_), as_bytes(projection_), as_bytes(array), nullptr, &out);
    nlohmann::json body = nlohmann::json::from_msgpack(out.data, out.data + out.size);
    plugin_->free(&out);
    if (status != QUORUM_STATUS_OK) {
      throw std::runtime_error("handle_batch failed: " + body.value("error", std::string("?")));
    }
    const auto& binary = body.at("projection").get_binary();
    projection_.assign(binary.begin(), binary.end());
    return body.at("results");
  }

  const std::string& projection() const noexcept { return projection_; }
  void set_projection(std::string bytes) { projection_ = std::move(bytes); }
  nlohmann::json projection_json() const { return quorum::sdk::testing::to_json(projection_); }

 private:
  const quorum_plugin_descriptor* plugin_;
  std::string key_;
  std::string projection_;
};

}  // namespace quorum::test
