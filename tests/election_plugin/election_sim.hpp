// An in-memory stand-in for the host around the election plugin: one
// projection per key, client commands deduplicated by command id per key
// (the host's idempotency), and side effects queued with the id the host
// gives them (source key, source seq, index) so a duplicate delivery is
// dropped exactly as the host drops it. Tests deliver the queue in any
// order, or duplicate entries, to check the roll-ups do not care.
#pragma once

#include <quorum/plugin.h>
#include <quorum/sdk/testing.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace quorum::test {

using quorum::sdk::testing::FeedResult;
using quorum::sdk::testing::make_message;

inline nlohmann::json read_json_file(const std::string& relative) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/" + relative);
  if (!in) {
    throw std::runtime_error("cannot read test data " + relative);
  }
  return nlohmann::json::parse(in);
}

inline quorum_bytes as_bytes(const std::string& text) noexcept {
  return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// A side effect waiting for delivery.
struct PendingEffect {
  std::string id;  // "fx/<source key>/<seq>/<index>": what the host dedups on
  std::string to;
  std::string type;
  nlohmann::json data;
};

class ElectionSim {
 public:
  explicit ElectionSim(const quorum_plugin_descriptor* plugin) : plugin_(plugin) {}

  // A client command (or an effect) for `key`: dropped (accepted, nothing
  // run) when `id` was applied to `key` before; else handled, and on
  // acceptance the projection advances and the effects are queued.
  FeedResult command(const std::string& key, const std::string& id, const std::string& type, int64_t time_ms,
                     const nlohmann::json& data) {
    Actor& actor = actors_[key];
    if (!id.empty() && actor.applied.count(id) != 0) {
      ++duplicates_;
      FeedResult duplicate;
      duplicate.status = QUORUM_STATUS_OK;
      duplicate.projection = actor.projection;
      return duplicate;
    }
    const std::string message = make_message(id, type, time_ms, data);
    quorum_buffer out{nullptr, 0, nullptr};
    const int32_t status = plugin_->handle(as_bytes(key), as_bytes(actor.projection), as_bytes(message), nullptr, &out);
    FeedResult result = quorum::sdk::testing::parse_result(status, out);
    plugin_->free(&out);
    if (result.ok()) {
      actor.projection = result.projection;
      actor.seq += 1;
      if (!id.empty()) {
        actor.applied.insert(id);
      }
      uint32_t index = 0;
      for (const nlohmann::json& effect : result.effects) {
        pending_.push_back(PendingEffect{"fx/" + key + "/" + std::to_string(actor.seq) + "/" + std::to_string(index++),
                                         effect.at("to"), effect.at("type"), effect.at("data")});
      }
    }
    return result;
  }

  std::vector<PendingEffect>& pending() noexcept { return pending_; }

  // Delivers pending effect `index` (removing it); returns the handler's result.
  FeedResult deliver(size_t index, int64_t time_ms = 0) {
    PendingEffect effect = pending_.at(index);
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
    return command(effect.to, effect.id, effect.type, time_ms, effect.data);
  }

  // Delivers everything pending (and what that emits) in queue order.
  void deliver_all(int64_t time_ms = 0) {
    while (!pending_.empty()) {
      FeedResult result = deliver(0, time_ms);
      if (!result.ok()) {
        throw std::runtime_error("an effect was refused: " + result.error);
      }
    }
  }

  const std::string& projection(const std::string& key) { return actors_[key].projection; }
  nlohmann::json projection_json(const std::string& key) {
    return quorum::sdk::testing::to_json(actors_[key].projection);
  }
  uint64_t duplicates() const noexcept { return duplicates_; }

 private:
  struct Actor {
    std::string projection;
    uint64_t seq = 0;
    std::set<std::string> applied;
  };
  const quorum_plugin_descriptor* plugin_;
  std::map<std::string, Actor> actors_;
  std::vector<PendingEffect> pending_;
  uint64_t duplicates_ = 0;
};

// handle_batch over `messages` (msgpack envelopes) for one key, as the node
// runs a round: returns {"projection": bytes as a string, "results": [...]}.
struct BatchOutcome {
  std::string projection;
  nlohmann::json results;
};

inline BatchOutcome run_batch(const quorum_plugin_descriptor& plugin, const std::string& key,
                              const std::string& projection, const std::vector<std::string>& messages) {
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
  const int32_t status = plugin.handle_batch(as_bytes(key), as_bytes(projection), as_bytes(array), nullptr, &out);
  nlohmann::json body = nlohmann::json::from_msgpack(out.data, out.data + out.size);
  plugin.free(&out);
  if (status != QUORUM_STATUS_OK) {
    throw std::runtime_error("handle_batch failed: " + body.value("error", std::string("?")));
  }
  const auto& binary = body.at("projection").get_binary();
  return BatchOutcome{std::string(binary.begin(), binary.end()), body.at("results")};
}

// A UnitConfig as the contract spells it.
inline nlohmann::json unit_config(const std::string& id, bool leaf, std::vector<std::string> parents,
                                  const nlohmann::json& contests, uint64_t leaves = 0) {
  std::sort(parents.begin(), parents.end());
  return {{"id", id},
          {"name", "Unit " + id},
          {"type", leaf ? "precinct" : "county"},
          {"leaf", leaf},
          {"parents", parents},
          {"leaves", leaves},
          {"contests", contests.is_null() ? nlohmann::json::object() : contests}};
}

}  // namespace quorum::test
