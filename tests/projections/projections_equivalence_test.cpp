// Pins the projections handler's bytes to the handler as it was before its
// lazy-reader paths (projections_reference.hpp, a frozen copy): for the same
// projection and messages, init / handle / handle_batch return the same
// status and bytes, over random configs and messages with every kind of
// value (strings, integers, floats, booleans, nil, bins, arrays, maps),
// hand-written projections and corrupt ones.
// Replay a failure with RC_PARAMS="seed=<seed>".
#include "plugins/projections/projections.hpp"
#include "projections_reference.hpp"
#include "plugin_equivalence.hpp"

#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
using quorum::test::equivalence::handle;
using quorum::test::equivalence::handle_batch;
using quorum::test::equivalence::init;
using quorum::test::equivalence::projection_of;
using quorum::test::equivalence::Raw;

const quorum_plugin_descriptor& fresh() {
  return *quorum::sdk::descriptor<quorum::plugins::projections::Projections>();
}
const quorum_plugin_descriptor& reference() {
  return *quorum::sdk::descriptor<quorum::plugins::projections_reference::Projections>();
}

std::string msgpack(const json& value) {
  const std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

// A scalar or small container of any msgpack kind.
rc::Gen<json> gen_value(int depth) {
  std::vector<rc::Gen<json>> kinds = {
      rc::gen::map(rc::gen::elementOf(std::vector<std::string>{"a", "b", "p-01", "", "ü", std::string(300, 'x')}),
                   [](std::string s) { return json(s); }),
      rc::gen::map(rc::gen::inRange<int64_t>(-300, 300), [](int64_t v) { return json(v); }),
      rc::gen::map(rc::gen::arbitrary<uint64_t>(), [](uint64_t v) { return json(v); }),
      rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t v) { return json(v); }),
      rc::gen::map(rc::gen::elementOf(std::vector<double>{0.5, -2.25, 1e300, 3.0, 0.1}), [](double v) { return json(v); }),
      rc::gen::map(rc::gen::arbitrary<bool>(), [](bool v) { return json(v); }),
      rc::gen::just(json(nullptr)),
      rc::gen::just(json::binary({1, 2, 3})),
  };
  if (depth > 0) {
    kinds.push_back(rc::gen::map(rc::gen::container<std::vector<json>>(*rc::gen::inRange(0, 4), gen_value(depth - 1)),
                                 [](std::vector<json> v) { return json(v); }));
    kinds.push_back(rc::gen::map(rc::gen::container<std::vector<json>>(*rc::gen::inRange(0, 3), gen_value(depth - 1)),
                                 [](std::vector<json> v) {
                                   json object = json::object();
                                   const char* keys[] = {"k", "0", "ContestId"};
                                   for (size_t i = 0; i < v.size(); ++i) {
                                     object[keys[i]] = v[i];
                                   }
                                   return object;
                                 }));
  }
  return rc::gen::oneOf(kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6], kinds[7],
                        depth > 0 ? kinds[8] : kinds[0], depth > 0 ? kinds[9] : kinds[1]);
}

const std::vector<std::string> kFields = {
    "type", "id", "time", "data.v", "data.v.k", "data.v[]", "data.v[1]", "data.v.0", "data.v[].k", "data.v[][]",
    "data.v[0].0", "data.CVRSnapshot[].CVRContest[].ContestId", "data.missing", "data"};

rc::Gen<json> gen_config() {
  return rc::gen::exec([] {
    json counters = json::array();
    json indices = json::array();
    const size_t n = *rc::gen::inRange<size_t>(0, 4);
    for (size_t i = 0; i < n; ++i) {
      json c = {{"name", "c" + std::to_string(i)},
                {"field", *rc::gen::elementOf(kFields)},
                {"max_values", *rc::gen::inRange(1, 5)}};
      if (*rc::gen::arbitrary<bool>()) {
        c["types"] = {"cvr"};
      }
      counters.push_back(c);
    }
    const size_t m = *rc::gen::inRange<size_t>(0, 3);
    for (size_t i = 0; i < m; ++i) {
      json x = {{"name", "x" + std::to_string(i)},
                {"field", *rc::gen::elementOf(kFields)},
                {"max_entries", *rc::gen::inRange(1, 4)}};
      if (*rc::gen::arbitrary<bool>()) {
        x["types"] = {"cvr", "note"};
      }
      indices.push_back(x);
    }
    return json{{"counters", counters}, {"indices", indices}};
  });
}

std::vector<std::string> gen_messages() {
  const size_t n = *rc::gen::inRange<size_t>(0, 30);
  std::vector<std::string> messages;
  for (size_t i = 0; i < n; ++i) {
    const std::string id = "m-" + std::to_string(*rc::gen::inRange(0, 20));
    const std::string type = *rc::gen::elementOf(std::vector<std::string>{"cvr", "note", "close"});
    const int64_t time = *rc::gen::inRange<int64_t>(-5, 20);
    json data = json::object();
    data["v"] = *gen_value(2);
    if (*rc::gen::arbitrary<bool>()) {
      data = *gen_value(2);  // any payload at all
    }
    if (*rc::gen::inRange(0, 10) == 0) {
      messages.push_back(msgpack(json::array({1})));  // not an envelope: rejected
    } else {
      messages.push_back(quorum::sdk::testing::make_message(id, type, time, data));
    }
  }
  return messages;
}

RC_GTEST_PROP(ProjectionsEquivalence, SameBytesAsTheOldHandler, ()) {
  const bool defaults = *rc::gen::arbitrary<bool>();
  const json config = defaults ? json(nullptr) : *gen_config();
  std::string start;
  if (!defaults) {
    const Raw a = init(fresh(), msgpack(config));
    RC_ASSERT(a == init(reference(), msgpack(config)));
    RC_ASSERT(a.status == QUORUM_STATUS_OK);
    start = projection_of(a);
  }
  const std::vector<std::string> messages = gen_messages();
  const auto chunks = *rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(1, 9));
  quorum::test::equivalence::feed_both(fresh(), reference(), start, messages, chunks,
                                       [](const Raw& a, const Raw& b) { RC_ASSERT(a == b); });
}

TEST(ProjectionsEquivalence, HandWrittenAndCorruptProjections) {
  const std::string message = quorum::sdk::testing::make_message("m1", "cvr", 3, json{{"v", "a"}});
  const json counter = {{"field", "data.v"}, {"max_values", 2}, {"messages", 1}, {"missing", 0}, {"other", 0},
                        {"types", nullptr}, {"values", {{"b", 1}}}};
  const json index = {{"entries", {{"b", {{"count", 1}, {"first_id", "m0"}, {"first_time", 1}, {"last_id", "m0"},
                                          {"last_time", 1}}}}},
                      {"field", "data.v"}, {"max_entries", 1}, {"messages", 1}, {"missing", 0}, {"overflow", 0},
                      {"types", {"cvr", "cvr"}}};
  const json good = {{"counters", {{"c", counter}}}, {"indices", {{"x", index}}}, {"messages", 1}};
  std::vector<json> cases = {good};
  auto edit = [&](auto&& change) {
    json p = good;
    change(p);
    cases.push_back(p);
  };
  edit([](json& p) { p["counters"]["c"]["field"] = "bad[path"; });        // a path that does not parse
  edit([](json& p) { p["indices"]["x"]["field"] = "nope"; });             // root not id/type/time/data
  edit([](json& p) { p["counters"]["c"]["types"] = {"note"}; });           // not counted: path not used
  edit([](json& p) { p["counters"]["c"]["types"] = {"note"}; p["counters"]["c"]["field"] = "[x"; });
  edit([](json& p) { p["counters"]["c"].erase("field"); });
  edit([](json& p) { p["counters"]["c"]["max_values"] = 0; });
  edit([](json& p) { p["counters"]["c"]["messages"] = -1; });
  edit([](json& p) { p["counters"]["c"]["values"]["z"] = "x"; });
  edit([](json& p) { p["counters"]["c"]["types"] = "cvr"; });
  edit([](json& p) { p["counters"]["c"]["types"] = {1}; });
  edit([](json& p) { p["indices"]["x"]["entries"]["b"].erase("first_id"); });
  edit([](json& p) { p["indices"]["x"]["entries"]["b"]["first_time"] = "soon"; });
  edit([](json& p) { p["indices"]["x"]["entries"]["c"] = 5; });
  edit([](json& p) { p["counters"] = 5; });
  edit([](json& p) { p["messages"] = 1.5; });
  edit([](json& p) { p = json::array({1}); });
  quorum::test::equivalence::expect_same_on_projections(fresh(), reference(), cases, good, msgpack, message);
}

}  // namespace
