// Cost per command of the HTTP command path's codec work, one thread:
// decoding an NDJSON batch of 1000 ~200-byte CVR ballots (the body
// loadgen_bench sends) and rendering the 1000 per-command results of
// POST /v1/commands. Each has a "Dom" twin doing the same work the way the
// node did before (json::parse + command_from_json; nlohmann::json results
// + dump_json), for comparison. items_per_second = commands per second.
//
//   build/release/tests/bench/codec_bench --benchmark_counters_tabular=true
#include <quorum/node/command_codec.hpp>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using quorum::node::Command;
using quorum::node::CommandReceipt;

constexpr int kBatch = 1000;

// The NDJSON body of loadgen_bench: one CVR command per line.
std::string ndjson_body() {
  static const char* const choices[] = {"alice", "bob", "carol", "dave"};
  std::string body;
  for (int n = 0; n < kBatch; ++n) {
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"key\":\"e/2026-11-03/precinct/TN/davidson/%04d\",\"id\":\"00c0ffee00c0ffee-%d\",\"type\":\"cvr\","
                  "\"data\":{\"CVRSnapshot\":[{\"@id\":\"s\",\"CVRContest\":[{\"ContestId\":\"mayor\","
                  "\"CVRContestSelection\":[{\"ContestSelectionId\":\"%s\",\"SelectionPosition\":[{\"HasIndication\":"
                  "\"yes\",\"NumberVotes\":1}]}]}]}],\"CurrentSnapshotId\":\"s\"}}\n",
                  n % 1000, n, choices[n % 4]);
    body += line;
  }
  return body;
}

void BM_DecodeNdjson(benchmark::State& state) {
  std::string body = ndjson_body();
  for (auto _ : state) {
    auto items = quorum::node::decode_batch_ndjson(body);
    benchmark::DoNotOptimize(items);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_DecodeNdjson);

void BM_DecodeNdjsonDom(benchmark::State& state) {
  std::string body = ndjson_body();
  for (auto _ : state) {
    std::vector<quorum::Result<Command>> items;
    size_t start = 0;
    while (start < body.size()) {
      size_t end = body.find('\n', start);
      std::string_view line(body.data() + start, end - start);
      start = end + 1;
      items.push_back(quorum::node::command_from_json({}, json::parse(line)));
    }
    benchmark::DoNotOptimize(items);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_DecodeNdjsonDom);

std::vector<CommandReceipt> receipts() {
  std::vector<CommandReceipt> out;
  for (int n = 0; n < kBatch; ++n) {
    char key[64];
    std::snprintf(key, sizeof key, "e/2026-11-03/precinct/TN/davidson/%04d", n);
    out.push_back({key, static_cast<uint64_t>(1000 + n), std::string(64, 'a'), n % 7 == 0});
  }
  return out;
}

void BM_RenderResults(benchmark::State& state) {
  std::vector<CommandReceipt> all = receipts();
  for (auto _ : state) {
    std::vector<std::string> results(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      quorum::node::append_receipt_json(results[i], all[i]);
    }
    std::string body;
    for (const std::string& r : results) {
      body += r;
      body.push_back('\n');
    }
    benchmark::DoNotOptimize(body);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_RenderResults);

void BM_RenderResultsDom(benchmark::State& state) {
  std::vector<CommandReceipt> all = receipts();
  for (auto _ : state) {
    std::vector<json> results(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      results[i] = quorum::node::receipt_to_json(all[i]);
    }
    std::string body;
    for (const json& r : results) {
      body += quorum::node::dump_json(r);
      body.push_back('\n');
    }
    benchmark::DoNotOptimize(body);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_RenderResultsDom);

}  // namespace

BENCHMARK_MAIN();
