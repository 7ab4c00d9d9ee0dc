// Test helpers for the rcv plugin: build ranked CVRs as JSON and drive a
// descriptor through its C ABI with an init config (the SDK's Driver starts
// every actor from an empty projection, i.e. the default config).
#pragma once

#include <quorum/plugin.h>
#include <quorum/sdk/testing.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace rcv_test {

using json = nlohmann::json;

// ranks[i] = the selections marked at rank i + 1 (empty: a skipped rank).
using Ballot = std::vector<std::vector<std::string>>;

// The CVRContest of one ranked contest, RCTab style (Rank on SelectionPosition).
inline json ranked_contest(const std::string& contest_id, const Ballot& ranks) {
  std::map<std::string, std::vector<int>> by_selection;
  for (size_t r = 0; r < ranks.size(); ++r) {
    for (const std::string& selection : ranks[r]) {
      by_selection[selection].push_back(static_cast<int>(r + 1));
    }
  }
  json selections = json::array();
  for (const auto& [selection, selection_ranks] : by_selection) {
    json positions = json::array();
    for (int rank : selection_ranks) {
      positions.push_back({{"@type", "CVR.SelectionPosition"},
                           {"HasIndication", "yes"},
                           {"IsAllocable", "unknown"},
                           {"NumberVotes", 1},
                           {"Rank", rank}});
    }
    selections.push_back(
        {{"@type", "CVR.CVRContestSelection"}, {"ContestSelectionId", selection}, {"SelectionPosition", positions}});
  }
  return {{"@type", "CVR.CVRContest"}, {"ContestId", contest_id}, {"CVRContestSelection", selections}};
}

// A whole CVR with one snapshot holding the given contests.
inline json cvr(const std::vector<json>& contests, const std::string& snapshot_id = "snap-1") {
  return {{"@type", "CVR.CVR"},
          {"BallotStyleId", "style-1"},
          {"BallotStyleUnitId", "precinct-1"},
          {"CurrentSnapshotId", snapshot_id},
          {"CVRSnapshot", json::array({{{"@id", snapshot_id},
                                        {"@type", "CVR.CVRSnapshot"},
                                        {"Type", "original"},
                                        {"CVRContest", contests}}})}};
}

inline json ranked_cvr(const Ballot& ranks, const std::string& contest_id = "contest-1") {
  return cvr({ranked_contest(contest_id, ranks)});
}

// One actor's projection driven through a descriptor, starting from init(config).
class Runner {
 public:
  explicit Runner(const quorum_plugin_descriptor* descriptor, const json& config = nullptr) : d_(descriptor) {
    if (!config.is_null()) {
      const std::vector<uint8_t> bytes = json::to_msgpack(config);
      quorum_buffer out{nullptr, 0, nullptr};
      const int32_t status = d_->init(quorum_bytes{bytes.data(), bytes.size()}, &out);
      quorum::sdk::testing::FeedResult result = parse(status, out);
      if (!result.ok()) {
        throw std::invalid_argument("init refused the config: " + result.error);
      }
      projection_ = result.projection;
    }
  }

  // init(config) status and error, without keeping anything.
  static quorum::sdk::testing::FeedResult try_init(const quorum_plugin_descriptor* d, const json& config) {
    const std::vector<uint8_t> bytes = json::to_msgpack(config);
    quorum_buffer out{nullptr, 0, nullptr};
    const int32_t status = d->init(quorum_bytes{bytes.data(), bytes.size()}, &out);
    return parse_and_free(d, status, out);
  }

  quorum::sdk::testing::FeedResult feed_bytes(const std::string& message) {
    quorum_buffer out{nullptr, 0, nullptr};
    const std::string key = "contest/actor";
    const int32_t status =
        d_->handle(bytes(key), bytes(projection_), bytes(message), nullptr, &out);
    quorum::sdk::testing::FeedResult result = parse(status, out);
    if (result.ok()) {
      projection_ = result.projection;
    }
    return result;
  }

  quorum::sdk::testing::FeedResult feed(const std::string& id, const json& data, const std::string& type = "cvr") {
    return feed_bytes(quorum::sdk::testing::make_message(id, type, 1'700'000'000'000, data));
  }

  const std::string& bytes_now() const { return projection_; }
  json projection() const { return quorum::sdk::testing::to_json(projection_); }

 private:
  static quorum_bytes bytes(const std::string& text) {
    return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  }
  static quorum::sdk::testing::FeedResult parse_and_free(const quorum_plugin_descriptor* d, int32_t status,
                                                         quorum_buffer& out) {
    quorum::sdk::testing::FeedResult result;
    try {
      result = quorum::sdk::testing::parse_result(status, out);
    } catch (...) {
      d->free(&out);
      throw;
    }
    d->free(&out);
    return result;
  }
  quorum::sdk::testing::FeedResult parse(int32_t status, quorum_buffer& out) { return parse_and_free(d_, status, out); }

  const quorum_plugin_descriptor* d_;
  std::string projection_;
};

}  // namespace rcv_test
