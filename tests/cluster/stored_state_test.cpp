// StoredTopologyState and next_stored_topology_state: the record both
// topology stores persist and the step every node runs on it.
//  - examples: the first record, final -> joint -> final on reports, an
//    operator's edit waiting while joint, a dead node folded in and not
//    awaited, final-at-once without joint transitions;
//  - the JSON form round-trips, and every malformed field is refused with a
//    message naming it;
//  - a property: random runs of document edits, liveness flips and reports,
//    stepping the record through its JSON form as a store does, keep one
//    sequence (a new target moves the epoch by exactly one, finalizing keeps
//    it), finalize only once every live target node reported, never replace
//    a pending transition by an operator's edit, and keep `from` the last
//    final target (RC_PARAMS="seed=N" replays a failure).
#include "cluster_test_support.hpp"

#include <quorum/cluster/topology_state.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace quorum::cluster {
namespace {

using AliveSet = std::set<std::string>;

std::function<bool(std::string_view)> all_but(AliveSet dead) {
  return [dead = std::move(dead)](std::string_view name) { return !dead.contains(std::string(name)); };
}

std::vector<std::string> names(const Topology& t) {
  std::vector<std::string> out;
  for (const auto& dc : t.data_centers) {
    for (const auto& n : dc.nodes) {
      out.push_back(n.name);
    }
  }
  return out;
}

// Steps like a store: until nothing changes (bounded), through the JSON form.
std::optional<StoredTopologyState> settle(std::optional<StoredTopologyState> record, const Topology& document,
                                          const std::function<bool(std::string_view)>& alive, bool joint) {
  for (int i = 0; i < 4; ++i) {
    auto next = next_stored_topology_state(record, document, alive, joint);
    if (!next) {
      break;
    }
    auto reparsed = parse_stored_topology_state(to_json(*next));
    EXPECT_TRUE(reparsed.ok()) << reparsed.error().message;
    record = *reparsed;
  }
  return record;
}

TEST(StoredTopologyState, TheFirstRecordIsFinalAtTheDocumentEpochWithTheDeadDown) {
  Topology document = testing::sample_topology();
  document.epoch = 4;
  auto first = next_stored_topology_state(std::nullopt, document, all_but({"TX-A-1"}), true);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->epoch, 4u);
  EXPECT_FALSE(first->joint());
  EXPECT_EQ(first->down, AliveSet{"TX-A-1"});
  EXPECT_FALSE(node_named(first->state().target, "TX-A-1")->live);
  EXPECT_EQ(first->state().target.epoch, 4u);
  // Nothing changed: nothing to write.
  EXPECT_FALSE(next_stored_topology_state(first, document, all_but({"TX-A-1"}), true));
  document.epoch = 0;
  EXPECT_EQ(next_stored_topology_state(std::nullopt, document, all_but({}), true)->epoch, 1u);  // epochs start at 1
}

TEST(StoredTopologyState, AnEditGoesJointThenFinalOnceEveryLiveTargetNodeReported) {
  const Topology document = testing::sample_topology();
  auto record = next_stored_topology_state(std::nullopt, document, all_but({}), true);
  Topology drained = *with_node_live(document, "FL-A-2", false);
  drained.epoch = document.epoch + 1;
  auto joint = next_stored_topology_state(record, drained, all_but({}), true);
  ASSERT_TRUE(joint);
  EXPECT_TRUE(joint->joint());
  EXPECT_EQ(joint->epoch, record->epoch + 1);
  EXPECT_EQ(*joint->from, record->state().target);
  EXPECT_EQ(joint->document, drained);
  // Another operator edit waits.
  Topology second = *with_node_live(drained, "FL-A-3", false);
  second.epoch = drained.epoch + 1;
  EXPECT_FALSE(next_stored_topology_state(joint, second, all_but({}), true));
  // All but one report: still joint.
  StoredTopologyState reporting = *joint;
  for (const std::string& name : required_reporters(joint->state())) {
    reporting.reported.insert(name);
  }
  EXPECT_FALSE(reporting.reported.contains("FL-A-2"));  // drained: not awaited
  const std::string last = *reporting.reported.rbegin();
  reporting.reported.erase(last);
  EXPECT_FALSE(next_stored_topology_state(reporting, drained, all_but({}), true));
  reporting.reported.insert(last);
  auto final_record = next_stored_topology_state(reporting, second, all_but({}), true);
  ASSERT_TRUE(final_record);
  EXPECT_FALSE(final_record->joint());
  EXPECT_EQ(final_record->epoch, joint->epoch);  // finalizing keeps the epoch
  EXPECT_EQ(final_record->document, drained);    // the waiting edit is next
  EXPECT_TRUE(final_record->reported.empty());
  auto next = next_stored_topology_state(final_record, second, all_but({}), true);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->epoch, joint->epoch + 1);
  EXPECT_EQ(*next->from, final_record->state().target);
  EXPECT_TRUE(next->reported.empty());
}

TEST(StoredTopologyState, ADeadNodeIsFoldedInAndNotAwaited) {
  const Topology document = testing::sample_topology();
  auto record = next_stored_topology_state(std::nullopt, document, all_but({}), true);
  Topology drained = *with_node_live(document, "FL-A-2", false);
  auto joint = next_stored_topology_state(record, drained, all_but({}), true);
  ASSERT_TRUE(joint);
  // Everyone but TN-B-3 reported; then TN-B-3 dies before reporting.
  StoredTopologyState reporting = *joint;
  for (const std::string& name : required_reporters(joint->state())) {
    if (name != "TN-B-3") {
      reporting.reported.insert(name);
    }
  }
  EXPECT_FALSE(next_stored_topology_state(reporting, drained, all_but({}), true));
  auto folded = next_stored_topology_state(reporting, drained, all_but({"TN-B-3"}), true);
  ASSERT_TRUE(folded);
  EXPECT_TRUE(folded->joint());
  EXPECT_EQ(folded->epoch, joint->epoch + 1);
  EXPECT_EQ(*folded->from, record->state().target);  // still joint with the same old final topology
  EXPECT_EQ(folded->down, AliveSet{"TN-B-3"});
  EXPECT_FALSE(required_reporters(folded->state()).contains("TN-B-3"));
  EXPECT_TRUE(folded->reported.empty());  // reports were for the abandoned target
  StoredTopologyState all = *folded;
  all.reported = required_reporters(folded->state());
  auto final_record = next_stored_topology_state(all, drained, all_but({"TN-B-3"}), true);
  ASSERT_TRUE(final_record);
  EXPECT_FALSE(final_record->joint());
  EXPECT_EQ(final_record->epoch, folded->epoch);
}

TEST(StoredTopologyState, WithoutJointTransitionsEveryChangeIsFinalAtOnce) {
  const Topology document = testing::sample_topology();
  auto record = next_stored_topology_state(std::nullopt, document, all_but({}), false);
  auto down = next_stored_topology_state(record, document, all_but({"UT-A-1"}), false);
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->joint());
  EXPECT_EQ(down->epoch, record->epoch + 1);
  Topology drained = *with_node_live(document, "FL-A-2", false);
  auto edited = next_stored_topology_state(down, drained, all_but({"UT-A-1"}), false);
  ASSERT_TRUE(edited);
  EXPECT_FALSE(edited->joint());
  EXPECT_EQ(edited->epoch, down->epoch + 1);
  // A joint record left by joint transitions is finished at once.
  auto joint = next_stored_topology_state(record, drained, all_but({}), true);
  auto finished = next_stored_topology_state(joint, drained, all_but({}), false);
  ASSERT_TRUE(finished);
  EXPECT_FALSE(finished->joint());
  EXPECT_EQ(finished->epoch, joint->epoch);
}

TEST(StoredTopologyState, ADocumentChangeThatKeepsTheTargetIsRecordedWithoutANewEpoch) {
  const Topology document = testing::sample_topology();
  auto record = next_stored_topology_state(std::nullopt, document, all_but({"FL-A-2"}), true);
  Topology renumbered = document;
  renumbered.epoch += 5;  // only the document's version moved
  auto same = next_stored_topology_state(record, renumbered, all_but({"FL-A-2"}), true);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->epoch, record->epoch);
  EXPECT_EQ(same->document, renumbered);
  EXPECT_FALSE(same->joint());
}

TEST(StoredTopologyState, TheJsonFormRoundTrips) {
  const Topology document = testing::sample_topology();
  auto record = next_stored_topology_state(std::nullopt, document, all_but({"UT-B-2"}), true);
  auto joint =
      next_stored_topology_state(record, *with_node_live(document, "FL-A-2", false), all_but({"UT-B-2"}), true);
  joint->reported = {"FL-A-1", "TX-B-1"};
  const std::string text = to_json(*joint);
  auto parsed = parse_stored_topology_state(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, *joint);
  EXPECT_EQ(to_json(*parsed), text);  // canonical
  EXPECT_EQ(text.back(), '\n');
  auto final_parsed = parse_stored_topology_state(to_json(*record));
  ASSERT_TRUE(final_parsed.ok());
  EXPECT_FALSE(final_parsed->from);
}

TEST(StoredTopologyState, MalformedRecordsAreRefusedNamingTheField) {
  const Topology document = testing::sample_topology();
  auto record = next_stored_topology_state(std::nullopt, document, all_but({}), true);
  auto joint = next_stored_topology_state(record, *with_node_live(document, "FL-A-2", false), all_but({}), true);
  const nlohmann::json good = nlohmann::json::parse(to_json(*joint));
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> mutate;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"version", [](nlohmann::json& j) { j["version"] = 2; }, "\"version\""},
      {"epoch 0", [](nlohmann::json& j) { j["epoch"] = 0; }, "\"epoch\""},
      {"epoch text", [](nlohmann::json& j) { j["epoch"] = "7"; }, "\"epoch\""},
      {"no document", [](nlohmann::json& j) { j.erase("document"); }, "\"document\""},
      {"bad document", [](nlohmann::json& j) { j["document"]["data_centers"] = 7; }, "\"document\""},
      {"down unknown", [](nlohmann::json& j) { j["down"] = {"ZZ-A-1"}; }, "\"down\""},
      {"down drained", [](nlohmann::json& j) { j["down"] = {"FL-A-2"}; }, "\"down\""},
      {"down twice",
       [](nlohmann::json& j) {
         j["down"] = {"FL-A-1", "FL-A-1"};
       },
       "twice"},
      {"no from", [](nlohmann::json& j) { j.erase("from"); }, "\"from\""},
      {"from epoch", [](nlohmann::json& j) { j["from"]["epoch"] = j["epoch"]; }, "\"from\""},
      {"reported unknown", [](nlohmann::json& j) { j["reported"] = {"XX-A-9"}; }, "\"reported\""},
      {"reported type", [](nlohmann::json& j) { j["reported"] = {1}; }, "\"reported\""},
      {"unknown field", [](nlohmann::json& j) { j["extra"] = true; }, "\"extra\""},
  };
  for (const Case& c : cases) {
    nlohmann::json bad = good;
    c.mutate(bad);
    auto parsed = parse_stored_topology_state(bad.dump());
    ASSERT_FALSE(parsed.ok()) << c.what;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << c.what;
    EXPECT_NE(parsed.error().message.find(c.expected), std::string::npos) << c.what << ": " << parsed.error().message;
  }
  for (const char* garbage : {"", "{", "[]", "null", "{\"version\": 1}"}) {
    EXPECT_FALSE(parse_stored_topology_state(garbage).ok()) << garbage;
  }
}

RC_GTEST_PROP(StoredTopologyState, RandomRunsKeepOneSafeSequence, ()) {
  const Topology base = testing::sample_topology();
  const std::vector<std::string> all = names(base);
  const bool joint_mode = *rc::gen::arbitrary<bool>();
  Topology document = base;
  AliveSet dead;
  std::optional<StoredTopologyState> record = next_stored_topology_state(std::nullopt, document, all_but(dead), true);
  RC_ASSERT(record.has_value());
  Topology last_final = record->state().target;
  const int steps = *rc::gen::inRange(1, 80);
  for (int i = 0; i < steps; ++i) {
    const int what = *rc::gen::inRange(0, 4);
    const std::string name = all[*rc::gen::inRange<size_t>(0, all.size())];
    if (what == 0) {  // an operator drains or undrains (kept valid: every DC keeps a node in the document)
      Topology next = *with_node_live(document, name, !node_named(document, name)->live);
      next.epoch = document.epoch + 1;
      if (validate(next).ok()) {
        document = next;
      }
    } else if (what == 1) {  // a node dies or comes back
      if (!dead.erase(name)) {
        dead.insert(name);
      }
    } else {  // some nodes report under the record's epoch
      for (const std::string& n : required_reporters(record->state())) {
        if (*rc::gen::inRange(0, 3) != 0 && record->joint()) {
          record->reported.insert(n);
        }
      }
    }
    std::optional<StoredTopologyState> next = next_stored_topology_state(record, document, all_but(dead), joint_mode);
    if (!next) {
      // Nothing to do: no completed reports pending, and the target already is what it should be (or waits).
      if (record->joint()) {
        const auto required = required_reporters(record->state());
        RC_ASSERT(!std::includes(record->reported.begin(), record->reported.end(), required.begin(), required.end()));
      }
      continue;
    }
    auto reparsed = parse_stored_topology_state(to_json(*next));
    RC_ASSERT(reparsed.ok());
    RC_ASSERT(*reparsed == *next);
    RC_ASSERT(next->reported.empty());
    if (next->epoch == record->epoch) {
      // Finalized (or a document version that keeps the target): the same target.
      RC_ASSERT(next->state().target == record->state().target);
      RC_ASSERT(!next->joint());
      if (record->joint()) {
        const auto required = required_reporters(record->state());
        RC_ASSERT(!joint_mode ||
                  std::includes(record->reported.begin(), record->reported.end(), required.begin(), required.end()));
      }
      last_final = next->state().target;
    } else {
      RC_ASSERT(next->epoch == record->epoch + 1);
      RC_ASSERT(next->joint() == joint_mode);
      if (record->joint()) {
        RC_ASSERT(next->document == record->document);  // only liveness is folded into a pending transition
      }
      if (next->joint()) {
        RC_ASSERT(*next->from == last_final);
      } else {
        last_final = next->state().target;
      }
      // The target is the document it was built from with exactly the dead lowered.
      const Topology target = next->state().target;
      for (const std::string& n : all) {
        const Node* in_document = node_named(next->document, n);
        const Node* in_target = node_named(target, n);
        RC_ASSERT(in_target->live == (in_document->live && !dead.contains(n)));
      }
    }
    record = next;
  }
  // Once everyone reports, it settles final on the latest document and liveness.
  record->reported = required_reporters(record->state());
  for (int round = 0; round < 4 && record->joint(); ++round) {
    record = settle(record, document, all_but(dead), joint_mode);
    record->reported = required_reporters(record->state());
  }
  record = settle(record, document, all_but(dead), false);
  RC_ASSERT(!record->joint());
  RC_ASSERT(same_except_epoch(record->document, document));
}

}  // namespace
}  // namespace quorum::cluster
