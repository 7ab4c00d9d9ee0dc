// Properties of the audit handler over random streams of CVRs with re-sent
// messages, re-scanned ballots under new message ids, shared UniqueIds and
// malformed data. Replay a failure with RC_PARAMS="seed=<seed>".
#include "audit.hpp"
#include "plugin_harness.hpp"
#include "tally.hpp"

#include <quorum/sdk/sdk.hpp>
#include <quorum/sdk/testing/cvr_gen.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace {

namespace g = quorum::sdk::testing::cvr_gen;
using quorum::plugins::Audit;
using quorum::test::Actor;
using json = nlohmann::json;

const quorum_plugin_descriptor& audit() { return *quorum::sdk::descriptor<Audit>(); }

struct Sent {
  std::string message_id;
  json data;
  bool malformed = false;
};

// A stream: fresh ballots, exact re-sends, the same ballot under a new
// message id, a new ballot reusing another's UniqueId, and malformed data.
std::vector<Sent> stream(const g::Election& election) {
  const std::vector<json> ballots = *g::cvrs(election, 25);
  std::vector<Sent> sent;
  size_t next_message = 0;
  for (const json& ballot : ballots) {
    sent.push_back({"m-" + std::to_string(next_message++), ballot, false});
    const int roll = *rc::gen::inRange(0, 10);
    if (roll == 0) {
      sent.push_back(sent[*rc::gen::inRange<size_t>(0, sent.size())]);  // exact re-send
    } else if (roll == 1) {
      Sent again = sent[*rc::gen::inRange<size_t>(0, sent.size())];
      again.message_id = "m-" + std::to_string(next_message++);  // re-scanned: new message id
      sent.push_back(again);
    } else if (roll == 2) {
      json copy = ballot;
      copy["BallotPrePrintedId"] = "fresh-" + std::to_string(next_message);
      copy["UniqueId"] = "u-shared";
      sent.push_back({"m-" + std::to_string(next_message++), copy, false});
    } else if (roll == 3) {
      json broken = ballot;
      broken.erase("CVRSnapshot");
      sent.push_back({"m-" + std::to_string(next_message++), broken, true});
    }
  }
  return sent;
}

std::vector<std::string> keys_of(const Sent& message) {
  std::vector<std::string> keys = {"m:" + message.message_id};
  if (message.data.contains("BallotPrePrintedId")) {
    keys.push_back("p:" + message.data["BallotPrePrintedId"].get<std::string>());
  }
  if (message.data.contains("UniqueId")) {
    keys.push_back("u:" + message.data["UniqueId"].get<std::string>());
  }
  return keys;
}

RC_GTEST_PROP(AuditProperty, ReconcilesAndDetectsDuplicatesExactly, ()) {
  const g::Election election = *g::election();
  const std::vector<Sent> sent = stream(election);
  const bool reject_duplicates = *rc::gen::arbitrary<bool>();
  Actor actor(audit());
  actor.init(json{{"contests", election.config()["contests"]}, {"reject_duplicates", reject_duplicates}});
  Actor tally(*quorum::sdk::descriptor<quorum::plugins::Tally1>());
  tally.init(nullptr);

  std::set<std::string> seen;
  uint64_t received = 0, tallied = 0, malformed = 0, duplicates = 0;
  for (const Sent& message : sent) {
    const std::vector<std::string> keys = keys_of(message);
    bool duplicate = false;
    if (!message.malformed) {
      for (const std::string& key : keys) {
        duplicate = duplicate || seen.count(key) > 0;
      }
    }
    const std::string before = actor.projection();
    const auto result = actor.feed(message.message_id, "cvr", 0, message.data);
    if (duplicate && reject_duplicates) {
      RC_ASSERT(result.status == QUORUM_STATUS_REJECTED);
      RC_ASSERT(actor.projection() == before);  // a rejection changes no byte
      continue;
    }
    RC_ASSERT(result.ok());
    const auto tallied_by_tally = tally.feed(message.message_id, "cvr", 0, message.data);
    RC_ASSERT(tallied_by_tally.ok() == !message.malformed);
    received += 1;
    if (message.malformed) {
      malformed += 1;
    } else if (duplicate) {
      duplicates += 1;
    } else {
      tallied += 1;
    }
    if (!message.malformed) {
      seen.insert(keys.begin(), keys.end());
    }
    const json p = actor.projection_json();
    const json& r = p["reconcile"];
    RC_ASSERT(r["received"].get<uint64_t>() == r["tallied"].get<uint64_t>() + r["malformed"].get<uint64_t>() +
                                                   r["duplicates"].get<uint64_t>());
    RC_ASSERT(r["received"].get<uint64_t>() == received);
    RC_ASSERT(r["tallied"].get<uint64_t>() == tallied);
    RC_ASSERT(r["malformed"].get<uint64_t>() == malformed);
    RC_ASSERT(r["duplicates"].get<uint64_t>() == duplicates);
    RC_ASSERT(p["counts"]["duplicate"].get<uint64_t>() == duplicates);
    RC_ASSERT(p["counts"]["malformed"].get<uint64_t>() == malformed);
  }
  // The tally saw what the audit received, minus malformed: tallied + duplicates ballots.
  RC_ASSERT(tally.projection_json()["ballots"].get<uint64_t>() == tallied + duplicates);
  // Every remembered id is one distinct 8-byte hash.
  RC_ASSERT(actor.projection_json()["ids"].get_binary().size() == 8 * seen.size());
}

RC_GTEST_PROP(AuditProperty, GeneratedBallotsOfTheElectionRaiseNoMembershipFindings, ()) {
  const g::Election election = *g::election();
  const std::vector<json> ballots = *g::cvrs(election, 20);
  Actor actor(audit());
  actor.init(election.config());
  for (const json& ballot : ballots) {
    RC_ASSERT(actor.feed(g::ballot_id(ballot), "cvr", 0, ballot).ok());
  }
  const json p = actor.projection_json();
  RC_ASSERT(p["counts"]["unknown_contest"].get<uint64_t>() == 0u);
  RC_ASSERT(p["counts"]["unknown_selection"].get<uint64_t>() == 0u);
  RC_ASSERT(p["reconcile"]["tallied"].get<uint64_t>() == ballots.size());
  // Overvote findings: exactly the contests whose allocable votes exceed the
  // limit or whose Overvotes field is positive.
  uint64_t overvotes = 0;
  for (const json& ballot : ballots) {
    for (const json& contest : g::current_snapshot(ballot)["CVRContest"]) {
      uint64_t allocable = 0;
      for (const json& selection : contest["CVRContestSelection"]) {
        for (const json& position : selection["SelectionPosition"]) {
          if (position.value("IsAllocable", std::string("yes")) != "no") {
            allocable += position.contains("NumberVotes") ? position["NumberVotes"].get<uint64_t>()
                                                          : (position["HasIndication"] == "yes" ? 1u : 0u);
          }
        }
      }
      uint64_t allowed = 0;
      for (const auto& c : election.contests) {
        allowed = c.id == contest["ContestId"] ? c.votes_allowed : allowed;
      }
      overvotes += (allocable > allowed || contest.value("Overvotes", uint64_t{0}) > 0) ? 1 : 0;
    }
  }
  RC_ASSERT(p["counts"]["overvote"].get<uint64_t>() == overvotes);
}

RC_GTEST_PROP(AuditProperty, SameInputSameBytesAndBatchEqualsSequential, ()) {
  const g::Election election = *g::election();
  const std::vector<Sent> sent = stream(election);
  std::vector<std::string> messages;
  for (const Sent& message : sent) {
    messages.push_back(quorum::test::make_message(message.message_id, "cvr", *rc::gen::inRange<int64_t>(0, 3000), message.data));
  }
  const json config = {{"contests", election.config()["contests"]},
                       {"window", {{"start_ms", 1000}, {"end_ms", 2000}}},
                       {"reject_duplicates", *rc::gen::arbitrary<bool>()}};
  Actor a(audit()), b(audit()), batch(audit());
  a.init(config);
  b.init(config);
  batch.init(config);
  for (const std::string& message : messages) {
    a.feed(message);
    b.feed(message);
  }
  batch.feed_batch(messages);
  RC_ASSERT(a.projection() == b.projection());
  RC_ASSERT(batch.projection() == a.projection());
}

}  // namespace
