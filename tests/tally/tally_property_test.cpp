// Properties of the tally handler over random elections and CVRs from the
// SDK's generator (quorum/sdk/testing/cvr_gen.hpp). A failure prints the
// seed; replay it with RC_PARAMS="seed=<seed>" (ctest -L property).
#include "plugin_harness.hpp"
#include "tally.hpp"

#include <quorum/sdk/sdk.hpp>
#include <quorum/sdk/testing/cvr_gen.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

namespace g = quorum::sdk::testing::cvr_gen;
using quorum::plugins::Tally1;
using quorum::plugins::Tally2;
using quorum::test::Actor;
using json = nlohmann::json;

const quorum_plugin_descriptor& v1() { return *quorum::sdk::descriptor<Tally1>(); }
const quorum_plugin_descriptor& v2() { return *quorum::sdk::descriptor<Tally2>(); }

std::string message_for(const json& cvr, int64_t time = 0) {
  return quorum::test::make_message(g::ballot_id(cvr), "cvr", time, cvr);
}

// Feeds every ballot to one actor (with the election's config when `configured`).
Actor tally_of(const quorum_plugin_descriptor& plugin, const g::Election& election, const std::vector<json>& ballots,
               bool configured) {
  Actor actor(plugin);
  actor.init(configured ? election.config() : json(nullptr));
  for (const json& ballot : ballots) {
    const auto result = actor.feed(message_for(ballot));
    RC_ASSERT(result.ok());
  }
  return actor;
}

// A random permutation of `items`, reproducible from rapidcheck's seed.
template <class T>
std::vector<T> shuffled(std::vector<T> items) {
  std::mt19937_64 rng(*rc::gen::arbitrary<uint64_t>());
  std::shuffle(items.begin(), items.end(), rng);
  return items;
}

// Two tally projections (JSON) summed: counts add, id sets unite.
json sum(const json& a, const json& b) {
  json out = a;
  out["ballots"] = a["ballots"].get<uint64_t>() + b["ballots"].get<uint64_t>();
  for (const auto& [cid, contest] : b["contests"].items()) {
    if (!out["contests"].contains(cid)) {
      out["contests"][cid] = contest;
      continue;
    }
    json& into = out["contests"][cid];
    for (const char* field : {"ballots", "overvotes", "undervotes", "write_ins"}) {
      if (contest.contains(field)) {
        into[field] = into[field].get<uint64_t>() + contest[field].get<uint64_t>();
      }
    }
    into["votes_allowed"] = std::max(into["votes_allowed"].get<uint64_t>(), contest["votes_allowed"].get<uint64_t>());
    for (const auto& [sid, votes] : contest["selections"].items()) {
      into["selections"][sid] = into["selections"].value(sid, uint64_t{0}) + votes.get<uint64_t>();
    }
    std::set<std::string> ids(into["write_in_ids"].begin(), into["write_in_ids"].end());
    ids.insert(contest["write_in_ids"].begin(), contest["write_in_ids"].end());
    into["write_in_ids"] = ids;
  }
  return out;
}

RC_GTEST_PROP(TallyProperty, TotalsEqualTheAllocableMarks, ()) {
  const g::Election election = *g::election();
  const std::vector<json> ballots = *g::cvrs(election, 30);
  const json p = tally_of(v2(), election, ballots, false).projection_json();
  RC_ASSERT(p["ballots"].get<size_t>() == ballots.size());

  // Selections: exactly the oracle's (contest, selection) -> votes.
  std::map<std::pair<std::string, std::string>, uint64_t> got;
  for (const auto& [cid, contest] : p["contests"].items()) {
    for (const auto& [sid, votes] : contest["selections"].items()) {
      got[{cid, sid}] = votes.get<uint64_t>();
    }
  }
  RC_ASSERT(got == g::allocable_votes(ballots));

  // Per contest: ballots, over/undervotes (fields, as generated) and write-ins.
  std::map<std::string, uint64_t> contest_ballots, over, under;
  for (const json& ballot : ballots) {
    for (const json& contest : g::current_snapshot(ballot)["CVRContest"]) {
      const std::string cid = contest["ContestId"];
      contest_ballots[cid] += 1;
      over[cid] += contest.value("Overvotes", uint64_t{0});
      under[cid] += contest.value("Undervotes", uint64_t{0});
    }
  }
  for (const auto& [cid, contest] : p["contests"].items()) {
    RC_ASSERT(contest["ballots"].get<uint64_t>() == contest_ballots[cid]);
    RC_ASSERT(contest["overvotes"].get<uint64_t>() == over[cid]);
    RC_ASSERT(contest["undervotes"].get<uint64_t>() == under[cid]);
    uint64_t write_ins = 0;
    for (const auto& sid : contest["write_in_ids"]) {
      write_ins += contest["selections"][sid.get<std::string>()].get<uint64_t>();
    }
    RC_ASSERT(contest["write_ins"].get<uint64_t>() == write_ins);
  }
}

RC_GTEST_PROP(TallyProperty, ComputesOverAndUndervotesFromVotesAllowedWhenTheCvrHasNone, ()) {
  g::Options options;
  options.counts_present = 0;  // never Overvotes/Undervotes in the CVRs
  const g::Election election = *g::election(options);
  const std::vector<json> ballots = *g::cvrs(election, 20, options);
  const json p = tally_of(v1(), election, ballots, true).projection_json();
  std::map<std::string, uint64_t> allowed;
  for (const auto& contest : election.contests) {
    allowed[contest.id] = contest.votes_allowed;
  }
  std::map<std::string, uint64_t> over, under;
  for (const json& ballot : ballots) {
    for (const json& contest : g::current_snapshot(ballot)["CVRContest"]) {
      uint64_t marks = 0;
      for (const json& selection : contest["CVRContestSelection"]) {
        for (const json& position : selection["SelectionPosition"]) {
          marks += position.contains("NumberVotes") ? position["NumberVotes"].get<uint64_t>()
                                                    : (position["HasIndication"] == "yes" ? 1u : 0u);
        }
      }
      const uint64_t n = allowed[contest["ContestId"]];
      over[contest["ContestId"]] += marks > n ? n : 0;
      under[contest["ContestId"]] += marks < n ? n - marks : 0;
    }
  }
  for (const auto& contest : election.contests) {
    const json& got = p["contests"][contest.id];
    RC_ASSERT(got["votes_allowed"].get<uint64_t>() == contest.votes_allowed);
    RC_ASSERT(got["overvotes"].get<uint64_t>() == over[contest.id]);
    RC_ASSERT(got["undervotes"].get<uint64_t>() == under[contest.id]);
    // Every configured selection is listed, write-ins flagged.
    RC_ASSERT(got["selections"].size() == contest.selections.size());
  }
}

RC_GTEST_PROP(TallyProperty, AnyOrderGivesIdenticalBytes, ()) {
  const g::Election election = *g::election();
  const std::vector<json> ballots = *g::cvrs(election, 25);
  const bool configured = *rc::gen::arbitrary<bool>();
  const auto& plugin = *rc::gen::arbitrary<bool>() ? v1() : v2();
  const std::string in_order = tally_of(plugin, election, ballots, configured).projection();
  const std::string permuted = tally_of(plugin, election, shuffled(ballots), configured).projection();
  RC_ASSERT(in_order == permuted);
}

RC_GTEST_PROP(TallyProperty, SameInputSameBytes, ()) {
  const g::Election election = *g::election();
  const std::vector<json> ballots = *g::cvrs(election, 10);
  const std::string first = tally_of(v2(), election, ballots, true).projection();
  const std::string second = tally_of(v2(), election, ballots, true).projection();
  RC_ASSERT(first == second);
  // And one call twice on the same (projection, message): the same result bytes.
  if (!ballots.empty()) {
    const std::string message = message_for(ballots.front());
    auto call = [&] {
      quorum_buffer out{};
      v2().handle(quorum::test::as_bytes("k"), quorum::test::as_bytes(first), quorum::test::as_bytes(message), nullptr,
                  &out);
      std::string bytes(reinterpret_cast<const char*>(out.data), out.size);
      v2().free(&out);
      return bytes;
    };
    RC_ASSERT(call() == call());
  }
}

RC_GTEST_PROP(TallyProperty, TwoActorsSumToOne, ()) {
  const g::Election election = *g::election();
  const std::vector<json> ballots = *g::cvrs(election, 25);
  const bool configured = *rc::gen::arbitrary<bool>();
  std::vector<json> left, right;
  for (const json& ballot : ballots) {
    (*rc::gen::arbitrary<bool>() ? left : right).push_back(ballot);
  }
  const json one = tally_of(v2(), election, ballots, configured).projection_json();
  const json a = tally_of(v2(), election, left, configured).projection_json();
  const json b = tally_of(v2(), election, right, configured).projection_json();
  RC_ASSERT(sum(a, b) == one);
}

RC_GTEST_PROP(TallyProperty, RejectedMessagesLeaveTheProjectionBytesUnchanged, ()) {
  const g::Election election = *g::election();
  const std::vector<json> ballots = *g::cvrs(election, 15);
  // Broken CVRs: not an object, no snapshot, dangling CurrentSnapshotId, bad NumberVotes.
  auto broken = [&](const json& ballot) {
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        return json("not a cvr");
      case 1: {
        json copy = ballot;
        copy.erase("CVRSnapshot");
        return copy;
      }
      case 2: {
        json copy = ballot;
        copy["CurrentSnapshotId"] = "no-such-snapshot";
        return copy;
      }
      default: {
        json bad_position = json::object();
        bad_position["NumberVotes"] = -1;
        json bad_selection = json::object();
        bad_selection["ContestSelectionId"] = "s";
        bad_selection["SelectionPosition"] = json::array();
        bad_selection["SelectionPosition"].push_back(bad_position);
        json bad_contest = json::object();
        bad_contest["ContestId"] = "c";
        bad_contest["CVRContestSelection"] = json::array();
        bad_contest["CVRContestSelection"].push_back(bad_selection);
        json snapshot = json::object();
        snapshot["@id"] = "x";
        snapshot["CVRContest"] = json::array();
        snapshot["CVRContest"].push_back(bad_contest);
        json copy = ballot;
        copy["CVRSnapshot"] = json::array();
        copy["CVRSnapshot"].push_back(snapshot);
        copy["CurrentSnapshotId"] = "x";
        return copy;
      }
    }
  };
  Actor clean(v2());
  Actor mixed(v2());
  clean.init(nullptr);
  mixed.init(nullptr);
  std::vector<std::string> batch;
  for (const json& ballot : ballots) {
    if (*rc::gen::inRange(0, 3) == 0) {
      const std::string bad = quorum::test::make_message(g::ballot_id(ballot), "cvr", 0, broken(ballot));
      const std::string before = mixed.projection();
      const auto result = mixed.feed(bad);
      RC_ASSERT(result.status == QUORUM_STATUS_REJECTED);
      RC_ASSERT(mixed.projection() == before);
      batch.push_back(bad);
    }
    RC_ASSERT(clean.feed(message_for(ballot)).ok());
    RC_ASSERT(mixed.feed(message_for(ballot)).ok());
    batch.push_back(message_for(ballot));
  }
  RC_ASSERT(mixed.projection() == clean.projection());
  // handle_batch agrees: rejected entries change nothing.
  Actor batched(v2());
  batched.init(nullptr);
  const json results = batched.feed_batch(batch);
  RC_ASSERT(results.size() == batch.size());
  RC_ASSERT(batched.projection() == clean.projection());
}

}  // namespace
