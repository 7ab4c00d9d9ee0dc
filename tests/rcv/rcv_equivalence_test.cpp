// Pins the rcv handler's bytes to the handler as it was before it opted
// into decides_before_mutating (rcv_reference.hpp, a frozen copy; handle_batch
// no longer copies the projection before each message): for the same
// projection and messages, init / handle / handle_batch return the same
// status and bytes, over random ranked streams with malformed CVRs and other
// message types mixed in, and over hand-written and corrupt projections.
// Replay a failure with RC_PARAMS="seed=<seed>".
#include "plugins/rcv/rcv.hpp"
#include "plugin_equivalence.hpp"
#include "rcv_reference.hpp"
#include "rcv_support.hpp"

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
using rcv_test::Ballot;

const quorum_plugin_descriptor& fresh() { return *quorum::sdk::descriptor<quorum::plugins::rcv::Rcv>(); }
const quorum_plugin_descriptor& reference() {
  return *quorum::sdk::descriptor<quorum::plugins::rcv_reference::Rcv>();
}

std::string msgpack(const json& value) {
  const std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

const std::vector<std::string> kCandidates = {"a", "b", "c", "d", "w-write-in"};

rc::Gen<Ballot> gen_ballot() {
  return rc::gen::mapcat(rc::gen::inRange(0, 6), [](int ranks) {
    return rc::gen::container<Ballot>(
        static_cast<size_t>(ranks),
        rc::gen::weightedOneOf<std::vector<std::string>>({
            {1, rc::gen::just(std::vector<std::string>{})},
            {8, rc::gen::map(rc::gen::elementOf(kCandidates), [](std::string c) { return std::vector<std::string>{c}; })},
            {1, rc::gen::container<std::vector<std::string>>(2, rc::gen::elementOf(kCandidates))},
        }));
  });
}

json gen_cvr() {
  std::vector<json> contests;
  for (const char* id : {"contest-2", "contest-1"}) {
    if (*rc::gen::inRange(0, 4) != 0) {
      contests.push_back(rcv_test::ranked_contest(id, *gen_ballot()));
    }
  }
  json cvr = rcv_test::cvr(contests);
  const bool has_position = !contests.empty() && !contests[0]["CVRContestSelection"].empty();
  switch (*rc::gen::inRange(0, 14)) {
    case 0: cvr.erase("CVRSnapshot"); break;                        // rejected
    case 1: cvr["CurrentSnapshotId"] = "missing"; break;            // rejected
    case 2: cvr = json::array({1, 2}); break;                       // rejected
    case 3: {  // one object, not an array (copied first: it lives inside what is replaced)
      const json only = cvr["CVRSnapshot"][0];
      cvr["CVRSnapshot"] = only;
      break;
    }
    case 4: cvr.erase("CurrentSnapshotId"); break;  // the only snapshot
    case 5: {                                        // several snapshots, no current: rejected
      const json again = cvr["CVRSnapshot"][0];
      cvr["CVRSnapshot"].push_back(again);
      cvr.erase("CurrentSnapshotId");
      break;
    }
    case 6:
      if (has_position) {  // a bad Rank
        cvr["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["Rank"] =
            *rc::gen::element<json>(json(-3), json(0.5), json("1"), json(2.0), json(nullptr));
      }
      break;
    case 7:
      if (has_position) {  // HasIndication other than yes, or not a string
        cvr["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["HasIndication"] =
            *rc::gen::element<json>(json("no"), json(1), json(nullptr));
      }
      break;
    case 8:
      if (has_position) {  // no ContestId / ContestSelectionId
        cvr["CVRSnapshot"][0]["CVRContest"][0].erase(*rc::gen::arbitrary<bool>() ? "ContestId" : "@type");
        cvr["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0].erase(
            *rc::gen::arbitrary<bool>() ? "ContestSelectionId" : "@type");
      }
      break;
    default:
      break;
  }
  return cvr;
}

rc::Gen<json> gen_config() {
  return rc::gen::exec([] {
    json config = {{"overvote", *rc::gen::element<std::string>("exhaust_immediately", "skip_to_next")},
                   {"duplicates", *rc::gen::element<std::string>("skip", "exhaust")},
                   {"tie_break", *rc::gen::element<std::string>("previous_rounds_then_lexical", "lexical")}};
    const int skipped = *rc::gen::inRange(-1, 3);
    config["max_skipped_ranks"] = skipped < 0 ? json("unlimited") : json(skipped);
    const int rankings = *rc::gen::inRange(0, 4);
    config["max_rankings"] = rankings == 0 ? json(nullptr) : json(rankings);
    if (*rc::gen::inRange(0, 3) == 0) {
      config["contests"] = {"contest-1"};
    }
    return config;
  });
}

RC_GTEST_PROP(RcvEquivalence, SameBytesAsTheOldHandler, ()) {
  const json config = *gen_config();
  const Raw start = init(fresh(), msgpack(config));
  RC_ASSERT(start == init(reference(), msgpack(config)));
  RC_ASSERT(start.status == QUORUM_STATUS_OK);
  std::vector<std::string> messages;
  const size_t n = *rc::gen::inRange<size_t>(0, 40);
  for (size_t i = 0; i < n; ++i) {
    const bool other = *rc::gen::inRange(0, 10) == 0;
    messages.push_back(quorum::sdk::testing::make_message("b-" + std::to_string(i), other ? "note" : "cvr",
                                                          static_cast<int64_t>(i), gen_cvr()));
  }
  const auto chunks = *rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(1, 9));
  auto same = [](const Raw& a, const Raw& b) { RC_ASSERT(a == b); };
  quorum::test::equivalence::feed_both(fresh(), reference(), projection_of(start), messages, chunks, same);
  quorum::test::equivalence::feed_both(fresh(), reference(), std::string(), messages, chunks, same);
}

TEST(RcvEquivalence, HandWrittenAndCorruptProjections) {
  const std::string message =
      quorum::sdk::testing::make_message("m1", "cvr", 3, rcv_test::ranked_cvr({{"b"}, {"a"}}));
  const json round = {{"continuing", 2}, {"elected", nullptr}, {"eliminated", "b"}, {"exhausted", 0},
                      {"round", 1}, {"tally", {{"b", 1}, {"a", 1}}}};
  const json contest = {{"ballots", 2}, {"candidates", {"a", "b"}}, {"rankings", {{{0, 1}, 1}, {{1}, 1}}},
                        {"rounds", {round}}, {"winner", "a"}};
  const json good = {{"contests", {{"contest-1", contest}}}, {"cvrs", 2},
                     {"rules", {{"contests", nullptr}, {"duplicates", "skip"}, {"max_rankings", nullptr},
                                {"max_skipped_ranks", nullptr}, {"overvote", "exhaust_immediately"},
                                {"tie_break", "lexical"}}}};
  std::vector<json> cases = {good};
  auto edit = [&](auto&& change) {
    json p = good;
    change(p);
    cases.push_back(p);
  };
  edit([](json& p) { p["contests"]["contest-1"]["candidates"] = {"b", "a", 3}; });
  edit([](json& p) { p["contests"]["contest-1"]["rankings"] = {{{0, 7}, 1}}; });
  edit([](json& p) { p["contests"]["contest-1"]["rankings"] = {{{0}, 1, 2}}; });
  edit([](json& p) { p["contests"]["contest-1"]["rankings"] = {{{0}, -1}}; });
  edit([](json& p) { p["contests"]["contest-1"]["rankings"] = {5}; });
  edit([](json& p) { p["contests"]["contest-1"]["rankings"] = "x"; });
  edit([](json& p) { p["contests"]["contest-1"]["rounds"][0]["tally"]["zz"] = 1; });
  edit([](json& p) { p["contests"]["contest-1"]["rounds"][0]["tally"]["a"] = "x"; });
  edit([](json& p) { p["contests"]["contest-1"]["rounds"][0]["exhausted"] = -2; });
  edit([](json& p) { p["contests"]["contest-1"]["rounds"][0]["elected"] = 5; });
  edit([](json& p) { p["contests"]["contest-1"]["winner"] = "nobody"; });
  edit([](json& p) { p["contests"]["contest-1"]["ballots"] = 1.0; });
  edit([](json& p) { p["contests"]["contest-2"] = 7; });
  edit([](json& p) { p["contests"] = json::array(); });
  edit([](json& p) { p["cvrs"] = "two"; });
  edit([](json& p) { p["rules"]["overvote"] = "never"; });
  edit([](json& p) { p["rules"] = 1; });
  edit([](json& p) { p.erase("rules"); });
  edit([](json& p) { p = json::array(); });
  quorum::test::equivalence::expect_same_on_projections(fresh(), reference(), cases, good, msgpack, message);
}

}  // namespace
