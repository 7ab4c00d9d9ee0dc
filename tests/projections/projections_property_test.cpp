// Property tests of the projections handler (rapidcheck). A failure prints
// the seed; replay it with RC_PARAMS="seed=<seed>" ./projections_property_test.
#include "plugins/projections/projections.hpp"
#include "projections_support.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace {

using quorum::plugins::projections::Projections;
using projections_test::json;
using projections_test::Runner;

struct Msg {
  std::string id;
  std::string type;
  int64_t time;
  json data;
};

const std::vector<std::string> kTypes = {"cvr", "note", "close"};
const std::vector<std::string> kPrecincts = {"p-01", "p-02", "p-03", "p-04", "p-05", "p-06", "p-07", "p-08", "p-09"};

rc::Gen<json> gen_data() {
  return rc::gen::apply(
      [](int precinct, int style, std::vector<std::string> tags) {
        json data = json::object();
        if (precinct >= 0) {
          data["BallotStyleUnitId"] = kPrecincts[static_cast<size_t>(precinct)];
        }
        if (style >= 0) {
          data["BallotStyleId"] = style;  // an integer: rendered in decimal
        }
        data["tags"] = tags;
        return data;
      },
      rc::gen::inRange(-1, static_cast<int>(kPrecincts.size())), rc::gen::inRange(-1, 5),
      rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(kPrecincts)));
}

rc::Gen<Msg> gen_msg() {
  return rc::gen::construct<Msg>(
      rc::gen::map(rc::gen::inRange(0, 50), [](int i) { return "m-" + std::to_string(i); }), rc::gen::elementOf(kTypes),
      rc::gen::inRange<int64_t>(0, 20), gen_data());
}

// Counters and indices on every kind of field, with small random bounds.
rc::Gen<json> gen_config() {
  return rc::gen::apply(
      [](uint32_t b1, uint32_t b2, uint32_t b3, uint32_t b4, uint32_t b5) {
        return json{{"counters",
                     {{{"name", "by_type"}, {"field", "type"}, {"max_values", b1}},
                      {{"name", "by_precinct"}, {"field", "data.BallotStyleUnitId"}, {"types", {"cvr"}}, {"max_values", b2}},
                      {{"name", "by_style"}, {"field", "data.BallotStyleId"}, {"max_values", b3}},
                      {{"name", "by_tag"}, {"field", "data.tags[]"}, {"max_values", b4}}}},
                    {"indices",
                     {{{"name", "precincts"}, {"field", "data.BallotStyleUnitId"}, {"max_entries", b5}},
                      {{"name", "tags"}, {"field", "data.tags[]"}, {"types", {"cvr", "note"}}, {"max_entries", b5}}}}};
      },
      rc::gen::inRange<uint32_t>(1, 5), rc::gen::inRange<uint32_t>(1, 12), rc::gen::inRange<uint32_t>(1, 5),
      rc::gen::inRange<uint32_t>(1, 12), rc::gen::inRange<uint32_t>(1, 12));
}

Runner run(const json& config, const std::vector<Msg>& messages) {
  Runner runner(quorum::sdk::descriptor<Projections>(), config);
  for (const Msg& m : messages) {
    RC_ASSERT(runner.feed(m.id, m.type, m.time, m.data).ok());
  }
  return runner;
}

RC_GTEST_PROP(ProjectionsProperty, OrderDoesNotChangeTheBytes, ()) {
  const json config = *gen_config();
  const auto messages = *rc::gen::container<std::vector<Msg>>(gen_msg());
  const auto keys = *rc::gen::container<std::vector<uint32_t>>(messages.size(), rc::gen::arbitrary<uint32_t>());
  std::vector<size_t> order(messages.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<Msg> shuffled;
  for (size_t i : order) {
    shuffled.push_back(messages[i]);
  }
  // Counters AND indices: the bounds keep the smallest values, and first /
  // last are by (time, id), so nothing depends on arrival order.
  RC_ASSERT(run(config, messages).bytes_now() == run(config, shuffled).bytes_now());
}

RC_GTEST_PROP(ProjectionsProperty, SameInputSameBytes, ()) {
  const json config = *rc::gen::oneOf(gen_config(), rc::gen::just(json(nullptr)));
  const auto messages = *rc::gen::container<std::vector<Msg>>(gen_msg());
  RC_ASSERT(run(config, messages).bytes_now() == run(config, messages).bytes_now());
}

RC_GTEST_PROP(ProjectionsProperty, BoundsAreNeverExceeded, ()) {
  const json config = *gen_config();
  const auto messages = *rc::gen::container<std::vector<Msg>>(gen_msg());
  Runner runner(quorum::sdk::descriptor<Projections>(), config);
  for (const Msg& m : messages) {
    RC_ASSERT(runner.feed(m.id, m.type, m.time, m.data).ok());
    const json p = runner.projection();
    for (const auto& [name, counter] : p["counters"].items()) {
      RC_ASSERT(counter["values"].size() <= counter["max_values"].get<size_t>());
    }
    for (const auto& [name, index] : p["indices"].items()) {
      RC_ASSERT(index["entries"].size() <= index["max_entries"].get<size_t>());
    }
  }
}

// Totals: a counter on a single-valued field accounts for every message it
// counts exactly once; a kept value's count is exact; and "other" holds the
// rest. Checked against a plain std::map model.
RC_GTEST_PROP(ProjectionsProperty, TotalsMatchAModel, ()) {
  const json config = *gen_config();
  const auto messages = *rc::gen::container<std::vector<Msg>>(gen_msg());
  const json p = run(config, messages).projection();
  RC_ASSERT(p["messages"] == messages.size());

  struct Model {
    uint64_t messages = 0, missing = 0;
    std::map<std::string, uint64_t> values;
  };
  std::map<std::string, Model> model;
  for (const Msg& m : messages) {
    const auto add = [&](const std::string& counter, const json* value) {
      Model& x = model[counter];
      ++x.messages;
      if (value == nullptr) {
        ++x.missing;
      } else {
        ++x.values[value->is_string() ? value->get<std::string>() : value->dump()];
      }
    };
    const json type = m.type;
    add("by_type", &type);
    if (m.type == "cvr") {
      add("by_precinct", m.data.contains("BallotStyleUnitId") ? &m.data["BallotStyleUnitId"] : nullptr);
    }
    add("by_style", m.data.contains("BallotStyleId") ? &m.data["BallotStyleId"] : nullptr);
  }
  for (const char* name : {"by_type", "by_precinct", "by_style"}) {
    const json& counter = p["counters"][name];
    const Model& x = model[name];
    uint64_t sum = counter["other"].get<uint64_t>() + counter["missing"].get<uint64_t>();
    for (const auto& [value, count] : counter["values"].items()) {
      RC_ASSERT(x.values.count(value) == 1);
      RC_ASSERT(count.get<uint64_t>() == x.values.at(value));
      sum += count.get<uint64_t>();
    }
    RC_ASSERT(sum == counter["messages"].get<uint64_t>());  // total of a counter == messages it saw
    RC_ASSERT(counter["messages"].get<uint64_t>() == x.messages);
    RC_ASSERT(counter["missing"].get<uint64_t>() == x.missing);
    // The kept values are the smallest ones seen.
    const size_t kept = std::min<size_t>(x.values.size(), counter["max_values"].get<size_t>());
    RC_ASSERT(counter["values"].size() == kept);
    auto it = x.values.begin();
    for (const auto& [value, count] : counter["values"].items()) {
      RC_ASSERT(value == (it++)->first);
    }
  }
  // Fan-out counter: each message counts once per distinct tag.
  uint64_t tag_total = 0;
  for (const Msg& m : messages) {
    const std::set<std::string> tags(m.data["tags"].begin(), m.data["tags"].end());
    tag_total += tags.empty() ? 1 : tags.size();
  }
  const json& by_tag = p["counters"]["by_tag"];
  uint64_t sum = by_tag["other"].get<uint64_t>() + by_tag["missing"].get<uint64_t>();
  for (const auto& [value, count] : by_tag["values"].items()) {
    sum += count.get<uint64_t>();
  }
  RC_ASSERT(sum == tag_total);
  // Index: entries + overflow + missing account for every counted message and value.
  const json& precincts = p["indices"]["precincts"];
  uint64_t index_sum = precincts["overflow"].get<uint64_t>() + precincts["missing"].get<uint64_t>();
  for (const auto& [value, entry] : precincts["entries"].items()) {
    index_sum += entry["count"].get<uint64_t>();
    RC_ASSERT(std::make_pair(entry["first_time"].get<int64_t>(), entry["first_id"].get<std::string>()) <=
              std::make_pair(entry["last_time"].get<int64_t>(), entry["last_id"].get<std::string>()));
  }
  RC_ASSERT(index_sum == messages.size());
}

}  // namespace
