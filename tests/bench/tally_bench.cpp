// Throughput of the tally plugin through the C ABI, one thread: the built
// tally-1.0.0.so / tally-2.0.0.so loaded with dlopen, exactly as the host
// calls it (msgpack envelope in, {ok, projection, effects} out, free()).
//
//   build-tally/tests/bench/tally_bench --benchmark_counters_tabular=true
//
// The message is a typical gen-03 CVR (6 of the election's 8 contests,
// ~2 KB of msgpack); the projection is "realistic": the precinct actor's
// projection after its gen-03 ballots, with every contest of the election
// configured through init (8 contests, 24 selections), and it is fed back
// each call, as the host does. items_per_second = handle() calls per second.
//
// BM_NodeRound/<plugin>: each shipped handler as the node runs it under
// loadgen_bench (see there); run one with --benchmark_filter=NodeRound and
// compare plugin builds by pointing QUORUM_BENCH_PLUGIN_DIR at another
// build's plugins/, or run under callgrind for stable instruction counts.
#include <quorum/plugin.h>
#include <quorum/sdk/testing.hpp>

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const quorum_plugin_descriptor* load(const std::string& file) {
  const char* dir = std::getenv("QUORUM_BENCH_PLUGIN_DIR");  // e.g. another build's plugins, to compare
  const std::string path = std::string(dir != nullptr ? dir : QUORUM_PLUGIN_DIR) + "/" + file;
  void* library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept loaded for the process
  if (library == nullptr) {
    throw std::runtime_error(std::string("dlopen: ") + ::dlerror());
  }
  auto entry = reinterpret_cast<quorum_plugin_entry_fn>(::dlsym(library, QUORUM_PLUGIN_ENTRY_SYMBOL));
  if (entry == nullptr) {
    throw std::runtime_error("no entry point in " + path);
  }
  return entry();
}

nlohmann::json read_json(const std::string& relative) {
  std::ifstream in(std::string(QUORUM_TEST_DATA_DIR) + "/" + relative);
  if (!in) {
    throw std::runtime_error("cannot read " + relative);
  }
  return nlohmann::json::parse(in);
}

quorum_bytes bytes(const std::string& s) {
  return quorum_bytes{reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string projection_of(const quorum_buffer& out) {
  nlohmann::json body = nlohmann::json::from_msgpack(out.data, out.data + out.size);
  const auto& binary = body.at("projection").get_binary();
  return std::string(binary.begin(), binary.end());
}

// The election definition of gen-03 as init config (every contest, its
// selections, votes allowed and write-ins), from err-gen-03.json.
std::string gen03_config() {
  const nlohmann::json err = read_json("nist-cdf-test-method/gen-03/err-gen-03.json");
  nlohmann::json contests = nlohmann::json::object();
  for (const auto& contest : err["Election"][0]["Contest"]) {
    nlohmann::json entry = {{"votes_allowed", contest.value("VotesAllowed", 1)},
                            {"selections", nlohmann::json::array()},
                            {"write_ins", nlohmann::json::array()}};
    for (const auto& selection : contest["ContestSelection"]) {
      entry["selections"].push_back(selection["@id"]);
      if (selection.value("IsWriteIn", false)) {
        entry["write_ins"].push_back(selection["@id"]);
      }
    }
    contests[contest["@id"].get<std::string>()] = entry;
  }
  const std::vector<uint8_t> packed = nlohmann::json::to_msgpack(nlohmann::json{{"contests", contests}});
  return std::string(packed.begin(), packed.end());
}

struct Fixture {
  const quorum_plugin_descriptor* plugin;
  std::vector<std::string> messages;  // the precinct's gen-03 CVRs as envelopes
  std::string projection;             // after init + all of them

  explicit Fixture(const std::string& file) : plugin(load(file)) {
    const nlohmann::json cvrs = read_json("nist-cdf-test-method/gen-03/cvr-gen-03.json");
    for (const auto& cvr : cvrs["CVR"]) {
      if (cvr["BallotStyleUnitId"] == "prec-fs-23") {
        messages.push_back(
            quorum::sdk::testing::make_message(cvr["BallotPrePrintedId"].get<std::string>(), "cvr", 1730000000000, cvr));
      }
    }
    const std::string config = gen03_config();
    quorum_buffer out{};
    if (plugin->init(bytes(config), &out) != QUORUM_STATUS_OK) {
      throw std::runtime_error("init failed");
    }
    projection = projection_of(out);
    plugin->free(&out);
    for (const std::string& message : messages) {
      if (plugin->handle(bytes("prec-fs-23"), bytes(projection), bytes(message), nullptr, &out) != QUORUM_STATUS_OK) {
        throw std::runtime_error("handle failed");
      }
      projection = projection_of(out);
      plugin->free(&out);
    }
  }
};

// One handle() per iteration; the projection it returns is the next input.
void BM_TallyHandle(benchmark::State& state, const char* file) {
  Fixture fixture(file);
  const std::string key = "prec-fs-23";
  const std::string& message = fixture.messages[3];
  std::string projection = fixture.projection;
  quorum_history history{nullptr, 0, nullptr};
  for (auto _ : state) {
    quorum_buffer out{};
    const int32_t status = fixture.plugin->handle(bytes(key), bytes(projection), bytes(message), &history, &out);
    if (status != QUORUM_STATUS_OK) {
      state.SkipWithError("handle failed");
      fixture.plugin->free(&out);
      break;
    }
    // The host's cheapest use of the result: keep the projection bin. Find
    // it without a JSON round trip: {"ok": true, "projection": bin32 ...}.
    // Layout from the SDK: 0x83, "ok", true, "projection", 0xc6 + 4-byte size.
    const uint8_t* p = out.data + 1 + 3 + 1 + 11;
    const size_t size = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | size_t{p[4]};
    projection.assign(reinterpret_cast<const char*>(p + 5), size);
    fixture.plugin->free(&out);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["projection_bytes"] = static_cast<double>(projection.size());
  state.counters["message_bytes"] = static_cast<double>(message.size());
}

// handle_batch of `range(0)` messages per call: items = messages per second.
void BM_TallyHandleBatch(benchmark::State& state, const char* file) {
  Fixture fixture(file);
  const std::string key = "prec-fs-23";
  const size_t batch = static_cast<size_t>(state.range(0));
  // A msgpack array header + the envelopes back to back.
  std::string messages;
  messages.push_back(static_cast<char>(0xdd));
  for (int shift = 24; shift >= 0; shift -= 8) {
    messages.push_back(static_cast<char>((batch >> shift) & 0xff));
  }
  for (size_t i = 0; i < batch; ++i) {
    messages += fixture.messages[i % fixture.messages.size()];
  }
  std::string projection = fixture.projection;
  for (auto _ : state) {
    quorum_buffer out{};
    const int32_t status = fixture.plugin->handle_batch(bytes(key), bytes(projection), bytes(messages), nullptr, &out);
    if (status != QUORUM_STATUS_OK) {
      state.SkipWithError("handle_batch failed");
      fixture.plugin->free(&out);
      break;
    }
    const uint8_t* p = out.data + 1 + 3 + 1 + 11;
    const size_t size = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | size_t{p[4]};
    projection.assign(reinterpret_cast<const char*>(p + 5), size);
    fixture.plugin->free(&out);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}

// What the node's handlers do per round under loadgen_bench (node_cpu.sh):
// one handle_batch of `range(0)` loadgen-style ballots (~250 bytes, unique
// message ids, no init config) per plugin, on a precinct projection that
// already holds `range(1)` ballots (the audit id set grows with them), the
// returned projection kept as the next input. items = commands.
std::string loadgen_ballot(uint64_t n) {
  static const char* const choices[] = {"alice", "bob", "carol", "dave"};
  const nlohmann::json data = {
      {"CVRSnapshot",
       nlohmann::json::array({{{"@id", "s"},
                               {"CVRContest",
                                nlohmann::json::array({{{"ContestId", "mayor"},
                                                        {"CVRContestSelection",
                                                         nlohmann::json::array({{{"ContestSelectionId", choices[n % 4]},
                                                                                 {"SelectionPosition",
                                                                                  nlohmann::json::array(
                                                                                      {{{"HasIndication", "yes"},
                                                                                        {"NumberVotes", 1}}})}}})}}})}}})},
      {"CurrentSnapshotId", "s"}};
  char id[64];
  std::snprintf(id, sizeof id, "%016llx-%llu", 0x1234abcdull, static_cast<unsigned long long>(n));
  return quorum::sdk::testing::make_message(id, "cvr", 1730000000000 + static_cast<int64_t>(n), data);
}

std::string batch_of(uint64_t first, size_t count) {
  std::string messages;
  messages.push_back(static_cast<char>(0xdd));
  for (int shift = 24; shift >= 0; shift -= 8) {
    messages.push_back(static_cast<char>((count >> shift) & 0xff));
  }
  for (size_t i = 0; i < count; ++i) {
    messages += loadgen_ballot(first + i);
  }
  return messages;
}

// One round (not inlined: `valgrind --tool=callgrind --toggle-collect='*node_round*'` counts just the timed
// rounds; divide by the iterations the benchmark prints).
[[gnu::noinline]] std::string node_round(const quorum_plugin_descriptor* plugin, const std::string& projection,
                                         const std::string& batch);

std::string run_batch(const quorum_plugin_descriptor* plugin, const std::string& projection, const std::string& batch) {
  quorum_buffer out{};
  if (plugin->handle_batch(bytes("precinct-1"), bytes(projection), bytes(batch), nullptr, &out) != QUORUM_STATUS_OK) {
    plugin->free(&out);
    throw std::runtime_error("handle_batch failed");
  }
  const uint8_t* p = out.data + 1 + 3 + 1 + 11;
  const size_t size = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | size_t{p[4]};
  std::string next(reinterpret_cast<const char*>(p + 5), size);
  plugin->free(&out);
  return next;
}

std::string node_round(const quorum_plugin_descriptor* plugin, const std::string& projection,
                       const std::string& batch) {
  return run_batch(plugin, projection, batch);
}

void BM_NodeRound(benchmark::State& state, const char* file) {
  const quorum_plugin_descriptor* plugin = load(file);
  const size_t round = static_cast<size_t>(state.range(0));
  const uint64_t history = static_cast<uint64_t>(state.range(1));
  std::string projection;
  for (uint64_t n = 0; n < history; n += 100) {
    projection = run_batch(plugin, projection, batch_of(n, 100));
  }
  // Rounds of fresh ballots (distinct ids), fed in turn; the projection
  // restarts from the seeded one when they run out so it does not grow.
  std::vector<std::string> rounds;
  for (uint64_t i = 0; i < 64; ++i) {
    rounds.push_back(batch_of(history + i * round, round));
  }
  const std::string seeded = projection;
  size_t next = 0;
  for (auto _ : state) {
    if (next == rounds.size()) {
      next = 0;
      projection = seeded;
    }
    projection = node_round(plugin, projection, rounds[next++]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(round));
  state.counters["projection_bytes"] = static_cast<double>(projection.size());
}

BENCHMARK_CAPTURE(BM_NodeRound, audit, "audit-1.0.0.so")->Args({4, 600})->Args({4, 5000});
BENCHMARK_CAPTURE(BM_NodeRound, projections, "projections-1.0.0.so")->Args({4, 600});
BENCHMARK_CAPTURE(BM_NodeRound, rcv, "rcv-1.1.0.so")->Args({4, 600});
BENCHMARK_CAPTURE(BM_NodeRound, tally_v2, "tally-2.0.0.so")->Args({4, 600});
// election on a key outside its namespace (what it costs every other actor).
BENCHMARK_CAPTURE(BM_NodeRound, election, "election-1.1.0.so")->Args({4, 600});

BENCHMARK_CAPTURE(BM_TallyHandle, v1, "tally-1.0.0.so");
BENCHMARK_CAPTURE(BM_TallyHandle, v2, "tally-2.0.0.so");
BENCHMARK_CAPTURE(BM_TallyHandleBatch, v1, "tally-1.0.0.so")->Arg(1)->Arg(16)->Arg(256);
BENCHMARK_CAPTURE(BM_TallyHandleBatch, v2, "tally-2.0.0.so")->Arg(16)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
