// Test helpers for plugin authors: drive a plugin through its C ABI exactly
// as the host does (same envelope, same result parsing), keep each actor's
// projection and history in memory, and read projections back as JSON.
//
//   quorum::sdk::testing::Driver driver(quorum::sdk::descriptor<MyHandler>());
//   auto result = driver.feed("precinct/1", make_message("b-1", "cvr", 0, cvr_json));
//   EXPECT_TRUE(result.ok());
//   EXPECT_EQ(driver.projection_json("precinct/1")["ballots"], 1);
//
// Or load the built shared library itself: Driver::open("path/to/plugin.so").
// Uses nlohmann::json (Debian: nlohmann-json3-dev) for JSON convenience.
#pragma once

#include <quorum/plugin.h>

#include <dlfcn.h>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::sdk::testing {

// The host's message envelope as msgpack bytes: {"id","type","time","data"}.
inline std::string make_message(std::string_view id, std::string_view type, int64_t time_ms,
                                const nlohmann::json& data) {
  nlohmann::json envelope = {{"id", id}, {"type", type}, {"time", time_ms}, {"data", data}};
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(envelope);
  return std::string(bytes.begin(), bytes.end());
}

// msgpack bytes -> JSON (bin values become JSON binary values).
inline nlohmann::json to_json(std::string_view msgpack_bytes) {
  if (msgpack_bytes.empty()) {
    return nullptr;
  }
  return nlohmann::json::from_msgpack(msgpack_bytes.begin(), msgpack_bytes.end());
}

// One handle() outcome as the host would see it.
struct FeedResult {
  int32_t status = QUORUM_STATUS_FAILED;
  std::string error;         // set unless status == QUORUM_STATUS_OK
  std::string projection;    // the new projection bytes (status OK only)
  nlohmann::json effects = nlohmann::json::array();  // [{"to","type","data"}...]
  bool ok() const noexcept { return status == QUORUM_STATUS_OK; }
};

// Parses a plugin's result buffer ({"ok", "projection", "effects"} or
// {"ok": false, "error"}) into a FeedResult; throws std::runtime_error if the
// plugin broke the result format (which is a bug in the plugin or SDK).
inline FeedResult parse_result(int32_t status, const quorum_buffer& buffer) {
  FeedResult result;
  result.status = status;
  if (buffer.data == nullptr || buffer.size == 0) {
    throw std::runtime_error("plugin returned an empty result buffer");
  }
  nlohmann::json body = nlohmann::json::from_msgpack(buffer.data, buffer.data + buffer.size);
  if (!body.is_object() || !body.contains("ok") || !body["ok"].is_boolean()) {
    throw std::runtime_error("plugin result is not a map with a boolean 'ok'");
  }
  const bool ok = body["ok"].get<bool>();
  if (ok != (status == QUORUM_STATUS_OK)) {
    throw std::runtime_error("plugin result 'ok' disagrees with its status code");
  }
  if (!ok) {
    result.error = body.value("error", std::string("(no reason)"));
    return result;
  }
  if (body.contains("projection")) {
    const auto& binary = body["projection"].get_binary();
    result.projection.assign(binary.begin(), binary.end());
  }
  if (body.contains("effects")) {
    result.effects = body["effects"];
  }
  return result;
}

// Drives one plugin descriptor over many actors, in memory.
class Driver {
 public:
  explicit Driver(const quorum_plugin_descriptor* descriptor) : descriptor_(descriptor) {
    if (descriptor_ == nullptr || descriptor_->handle == nullptr || descriptor_->free == nullptr) {
      throw std::invalid_argument("Driver needs a descriptor with handle and free");
    }
  }

  // Loads a plugin shared library (RTLD_NOW | RTLD_LOCAL) and drives it.
  static Driver open(const std::string& path) {
    void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      throw std::runtime_error(std::string("dlopen failed: ") + ::dlerror());
    }
    auto entry = reinterpret_cast<quorum_plugin_entry_fn>(::dlsym(library, QUORUM_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
      ::dlclose(library);
      throw std::runtime_error("plugin does not export " QUORUM_PLUGIN_ENTRY_SYMBOL);
    }
    Driver driver(entry());
    driver.library_ = std::shared_ptr<void>(library, [](void* handle) { ::dlclose(handle); });
    return driver;
  }

  const quorum_plugin_descriptor& descriptor() const noexcept { return *descriptor_; }

  // handle() one message for `key`; on success the projection and history
  // of `key` advance, on rejection nothing changes.
  FeedResult feed(const std::string& key, const std::string& message) {
    Actor& actor = actors_[key];
    quorum_history history{&actor.history, actor.history.size(), &Driver::read_history};
    quorum_buffer out{nullptr, 0, nullptr};
    const int32_t status = descriptor_->handle(bytes(key), bytes(actor.projection), bytes(message), &history, &out);
    FeedResult result;
    try {
      result = parse_result(status, out);
    } catch (...) {
      descriptor_->free(&out);
      throw;
    }
    descriptor_->free(&out);
    if (result.ok()) {
      actor.projection = result.projection;
      actor.history.push_back(message);
    }
    return result;
  }

  // Starts actor `key` from the plugin's init(config) (config as JSON, sent
  // as msgpack), as the host does for a handler with configuration. Throws
  // std::runtime_error if the plugin has no init or init fails.
  void init(const std::string& key, const nlohmann::json& config) {
    if (descriptor_->init == nullptr) {
      throw std::runtime_error("plugin has no init entry point");
    }
    const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(config);
    quorum_buffer out{nullptr, 0, nullptr};
    const int32_t status = descriptor_->init(quorum_bytes{bytes.data(), bytes.size()}, &out);
    FeedResult result;
    try {
      result = parse_result(status, out);
    } catch (...) {
      descriptor_->free(&out);
      throw;
    }
    descriptor_->free(&out);
    if (!result.ok()) {
      throw std::runtime_error("init failed: " + result.error);
    }
    actors_[key].projection = result.projection;
  }

  // Convenience: build the envelope and feed it.
  FeedResult feed(const std::string& key, std::string_view id, std::string_view type, int64_t time_ms,
                  const nlohmann::json& data) {
    return feed(key, make_message(id, type, time_ms, data));
  }

  const std::string& projection(const std::string& key) { return actors_[key].projection; }
  nlohmann::json projection_json(const std::string& key) { return to_json(actors_[key].projection); }
  const std::vector<std::string>& history(const std::string& key) { return actors_[key].history; }

 private:
  struct Actor {
    std::string projection;
    std::vector<std::string> history;
  };

  static quorum_bytes bytes(std::string_view text) noexcept {
    return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  }

  static int32_t read_history(void* context, uint64_t index, quorum_bytes* out) {
    auto* history = static_cast<std::vector<std::string>*>(context);
    if (index >= history->size()) {
      return 1;
    }
    *out = bytes((*history)[index]);
    return 0;
  }

  const quorum_plugin_descriptor* descriptor_;
  std::shared_ptr<void> library_;
  std::map<std::string, Actor> actors_;
};

}  // namespace quorum::sdk::testing
