// Properties of the election plugin's roll-ups. For a random small election
// (leaves; roll-ups given by random sets of leaves, so units nest and
// overlap as a DAG; contests with selections, a write-in, vote-for-N) and a
// random stream of ballots to the leaves (some resent with the same id) at
// random times, "flush"es at random (so leaves flush by command, by time and
// by close), with every side effect delivered in a random order and some delivered
// twice (dropped by the host's dedup on source key and seq, as the sim
// does), roll-ups configured before or after their first deltas, and every
// leaf closed once or twice:
//   - each leaf's counts equal an independent reference count of its ballots;
//   - each roll-up's counts equal the sum of its leaves' counts;
//   - reported_leaves: a roll-up's = its leaves, the election's = all leaves;
//   - each roll-up applied every delta sent to it once, and no leaf holds
//     anything pending after its close;
//   - each roll-up's own audit says "balanced".
// Each run draws a seed; replay with RC_PARAMS="seed=<seed>".
#include "election.hpp"
#include "election_sim.hpp"
#include "entry.hpp"

#include <quorum/sdk/sdk.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using quorum::test::ElectionSim;

struct ContestSpec {
  std::string id;
  uint64_t votes_allowed = 0;
  std::vector<std::string> selections;  // the last one is the write-in
};

// The reference count of one contest (independent of the plugin's code).
struct RefContest {
  uint64_t ballots = 0, overvotes = 0, undervotes = 0;
  std::map<std::string, uint64_t> selections;
  std::set<std::string> write_ins;
};
struct RefUnit {
  uint64_t ballots = 0;
  std::map<std::string, RefContest> contests;
};

void add_into(RefUnit& into, const RefUnit& more) {
  into.ballots += more.ballots;
  for (const auto& [cid, c] : more.contests) {
    RefContest& have = into.contests[cid];
    have.ballots += c.ballots;
    have.overvotes += c.overvotes;
    have.undervotes += c.undervotes;
    for (const auto& [sid, v] : c.selections) {
      have.selections[sid] += v;
    }
    have.write_ins.insert(c.write_ins.begin(), c.write_ins.end());
  }
}

// Drops zero selections and all-zero contests, so a zero-filled entry (from
// a configure) and a missing one compare equal.
RefUnit normalised(const RefUnit& unit) {
  RefUnit out;
  out.ballots = unit.ballots;
  for (const auto& [cid, c] : unit.contests) {
    RefContest kept = c;
    std::erase_if(kept.selections, [](const auto& entry) { return entry.second == 0; });
    if (kept.ballots || kept.overvotes || kept.undervotes || !kept.selections.empty() || !kept.write_ins.empty()) {
      out.contests[cid] = kept;
    }
  }
  return out;
}

RefUnit from_projection(const json& projection) {
  RefUnit unit;
  unit.ballots = projection.at("ballots");
  for (const auto& [cid, c] : projection.at("contests").items()) {
    RefContest& contest = unit.contests[cid];
    contest.ballots = c.at("ballots");
    contest.overvotes = c.at("overvotes");
    contest.undervotes = c.at("undervotes");
    for (const auto& [sid, v] : c.at("selections").items()) {
      contest.selections[sid] = v.get<uint64_t>();
    }
    for (const json& sid : c.at("write_in_ids")) {
      contest.write_ins.insert(sid.get<std::string>());
    }
  }
  return normalised(unit);
}

std::string describe(const RefUnit& unit) {
  json out = {{"ballots", unit.ballots}};
  for (const auto& [cid, c] : unit.contests) {
    out["contests"][cid] = {{"ballots", c.ballots},
                            {"overvotes", c.overvotes},
                            {"undervotes", c.undervotes},
                            {"selections", c.selections},
                            {"write_ins", c.write_ins}};
  }
  return out.dump();
}

bool same(const RefUnit& a, const RefUnit& b) {
  const RefUnit x = normalised(a);
  const RefUnit y = normalised(b);
  if (x.ballots != y.ballots || x.contests.size() != y.contests.size()) {
    return false;
  }
  for (const auto& [cid, c] : x.contests) {
    auto it = y.contests.find(cid);
    if (it == y.contests.end() || c.ballots != it->second.ballots || c.overvotes != it->second.overvotes ||
        c.undervotes != it->second.undervotes || c.selections != it->second.selections ||
        c.write_ins != it->second.write_ins) {
      return false;
    }
  }
  return true;
}

// One random CVR for `unit` and its reference count (given votes_allowed).
std::pair<json, RefUnit> random_ballot(std::mt19937_64& rng, const std::string& unit, const std::string& id,
                                       const std::vector<ContestSpec>& contests) {
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  RefUnit ref;
  ref.ballots = 1;
  json cvr_contests = json::array();
  std::set<std::string> seen;
  for (const ContestSpec& contest : contests) {
    if (!chance(70)) {
      continue;
    }
    const int copies = chance(10) ? 2 : 1;  // a contest listed twice on one ballot
    for (int copy = 0; copy < copies; ++copy) {
      RefContest& r = ref.contests[contest.id];
      if (seen.insert(contest.id).second) {
        r.ballots += 1;
      }
      json selections = json::array();
      uint64_t marks = 0;
      for (size_t s = 0; s < contest.selections.size(); ++s) {
        if (!chance(45)) {
          continue;
        }
        const std::string& sid = contest.selections[s];
        json position = json::object();
        uint64_t votes = 0;
        switch (rng() % 4) {
          case 0:
            position["HasIndication"] = "yes";
            votes = 1;
            break;
          case 1:
            votes = rng() % 3;
            position["NumberVotes"] = votes;
            break;
          case 2:
            position["HasIndication"] = "no";
            break;
          default:
            position["HasIndication"] = "yes";
            position["NumberVotes"] = 1;
            votes = 1;
        }
        const bool allocable = !chance(15);
        if (!allocable) {
          position["IsAllocable"] = "no";
        }
        if (s + 1 == contest.selections.size() && chance(60)) {
          position["CVRWriteIn"] = {{"Text", "someone"}};
          r.write_ins.insert(sid);
        }
        marks += votes;
        r.selections[sid] += allocable ? votes : 0;
        selections.push_back({{"ContestSelectionId", sid}, {"SelectionPosition", {position}}});
      }
      json cvr_contest = {{"ContestId", contest.id}, {"CVRContestSelection", selections}};
      if (chance(20)) {  // the tabulator's own counts win over the rule
        const uint64_t over = rng() % 2;
        const uint64_t under = rng() % 3;
        cvr_contest["Overvotes"] = over;
        cvr_contest["Undervotes"] = under;
        r.overvotes += over;
        r.undervotes += under;
      } else if (contest.votes_allowed > 0) {
        if (marks > contest.votes_allowed) {
          r.overvotes += contest.votes_allowed;
        } else if (marks < contest.votes_allowed) {
          r.undervotes += contest.votes_allowed - marks;
        }
      }
      cvr_contests.push_back(cvr_contest);
    }
  }
  json cvr = {{"@type", "CVR.CVR"},
              {"UniqueId", id},
              {"BallotStyleUnitId", unit},
              {"CVRSnapshot", {{{"@id", "s"}, {"Type", "original"}, {"CVRContest", cvr_contests}}}}};
  if (chance(50)) {
    cvr["CurrentSnapshotId"] = "s";
  }
  return {cvr, ref};
}

RC_GTEST_PROP(ElectionProperty, RollUpsEqualTheSumOfTheirLeavesInAnyDeliveryOrder, ()) {
  std::mt19937_64 rng(*rc::gen::arbitrary<uint64_t>());
  auto below = [&](uint64_t n) { return static_cast<size_t>(rng() % n); };
  const std::string eid = "prop-1";
  // Units: leaf ids need escaping now and then.
  const size_t leaf_count = 1 + below(5);
  std::vector<std::string> leaves;
  for (size_t i = 0; i < leaf_count; ++i) {
    leaves.push_back(below(2) == 0 ? "p" + std::to_string(i) : "prec " + std::to_string(i) + "/a");
  }
  std::map<std::string, std::set<std::string>> rollups;  // id -> leaves under it
  const size_t rollup_count = 1 + below(4);
  for (size_t r = 0; r < rollup_count; ++r) {
    std::set<std::string> under;
    for (const std::string& leaf : leaves) {
      if (below(2) == 0) {
        under.insert(leaf);
      }
    }
    if (under.empty()) {
      under.insert(leaves[below(leaves.size())]);
    }
    rollups["r" + std::to_string(r)] = under;
  }
  std::vector<ContestSpec> contests;
  const size_t contest_count = 1 + below(3);
  json contest_configs = json::object();
  for (size_t c = 0; c < contest_count; ++c) {
    ContestSpec spec{"c" + std::to_string(c), below(3), {}};
    const size_t selections = 1 + below(4);
    for (size_t s = 0; s < selections; ++s) {
      spec.selections.push_back(spec.id + "-s" + std::to_string(s));
    }
    contest_configs[spec.id] = {{"votes_allowed", spec.votes_allowed}, {"rcv", false}};
    contests.push_back(spec);
  }

  ElectionSim sim(quorum::plugins::election::descriptor());
  auto configure = [&](const std::string& unit, bool leaf, const std::vector<std::string>& parents, size_t under) {
    const auto result = sim.command(
        quorum::election::unit_key(eid, unit), "configure/" + unit, "configure", 1,
        {{"election", eid}, {"unit", quorum::test::unit_config(unit, leaf, parents, contest_configs, under)}});
    RC_ASSERT(result.ok());
  };
  for (const std::string& leaf : leaves) {
    std::vector<std::string> parents;
    for (const auto& [rollup, under] : rollups) {
      if (under.count(leaf)) {
        parents.push_back(rollup);
      }
    }
    configure(leaf, true, parents, 1);
  }
  std::vector<std::string> unconfigured;
  for (const auto& [rollup, under] : rollups) {
    if (below(2) == 0) {
      configure(rollup, false, {}, under.size());
    } else {
      unconfigured.push_back(rollup);  // configured later, after some deltas
    }
  }

  // Delivers one random pending effect, sometimes leaving a copy behind
  // (the duplicate the host would drop).
  auto deliver_one = [&]() {
    std::vector<quorum::test::PendingEffect>& pending = sim.pending();
    const size_t index = below(pending.size());
    if (below(5) == 0) {
      pending.push_back(pending[index]);
    }
    const auto result = sim.deliver(index, 7);
    RC_ASSERT(result.ok());
  };

  std::map<std::string, RefUnit> reference;
  std::map<std::string, uint64_t> deltas_sent;  // roll-up key -> deltas the leaves sent it
  auto note_effects = [&](const quorum::test::FeedResult& result) {
    for (const json& effect : result.effects) {
      if (effect.at("type") == "delta") {
        ++deltas_sent[effect.at("to").get<std::string>()];
      }
    }
  };
  int64_t time = 5;
  const size_t ballots = below(40);
  for (size_t b = 0; b < ballots; ++b) {
    const std::string& leaf = leaves[below(leaves.size())];
    const std::string id = "b" + std::to_string(b);
    auto [cvr, ref] = random_ballot(rng, leaf, id, contests);
    time += static_cast<int64_t>(below(400));
    const auto result = sim.command(quorum::election::unit_key(eid, leaf), "cvr/" + id, "cvr", time, cvr);
    RC_ASSERT(result.ok());
    note_effects(result);
    add_into(reference[leaf], ref);
    if (below(8) == 0) {  // resent: the host drops it by id
      RC_ASSERT(sim.command(quorum::election::unit_key(eid, leaf), "cvr/" + id, "cvr", time, cvr).ok());
    }
    if (below(4) == 0) {
      const std::string& other = leaves[below(leaves.size())];
      const auto flushed = sim.command(quorum::election::unit_key(eid, other), "", "flush", time, json::object());
      RC_ASSERT(flushed.ok());
      note_effects(flushed);
    }
    while (!sim.pending().empty() && below(3) == 0) {
      deliver_one();
    }
    if (!unconfigured.empty() && below(6) == 0) {
      configure(unconfigured.back(), false, {}, rollups[unconfigured.back()].size());
      unconfigured.pop_back();
    }
  }
  for (const std::string& leaf : leaves) {
    const std::string key = quorum::election::unit_key(eid, leaf);
    const auto closed = sim.command(key, "close/" + leaf, "close", time + 1, json::object());
    RC_ASSERT(closed.ok());
    note_effects(closed);
    if (below(2) == 0) {  // closing again, under another command id: counts once
      const auto again = sim.command(key, "close-again/" + leaf, "close", time + 2, json::object());
      RC_ASSERT(again.ok());
      RC_ASSERT(again.effects.empty());
    }
  }
  while (!sim.pending().empty()) {
    deliver_one();
  }
  for (const std::string& rollup : unconfigured) {
    configure(rollup, false, {}, rollups[rollup].size());
  }

  for (const std::string& leaf : leaves) {
    const json projection = sim.projection_json(quorum::election::unit_key(eid, leaf));
    const RefUnit got = from_projection(projection);
    RC_ASSERT(same(got, reference[leaf]));
    RC_ASSERT(projection.at("reported") == true);
    RC_ASSERT(projection.at("reported_leaves") == 1);
    RC_ASSERT(projection.at("pending").at("ballots") == 0);
    RC_ASSERT(projection.at("pending").at("contests").empty());
  }
  for (const auto& [rollup, under] : rollups) {
    const json projection = sim.projection_json(quorum::election::unit_key(eid, rollup));
    RefUnit sum;
    uint64_t ballots_under = 0;
    for (const std::string& leaf : under) {
      add_into(sum, from_projection(sim.projection_json(quorum::election::unit_key(eid, leaf))));
      ballots_under += reference[leaf].ballots;
    }
    const RefUnit got = from_projection(projection);
    RC_ASSERT(same(got, sum));
    if (!same(got, sum)) {
      RC_LOG() << rollup << " " << describe(got) << " != " << describe(sum);
    }
    RC_ASSERT(projection.at("deltas").get<uint64_t>() == deltas_sent[quorum::election::unit_key(eid, rollup)]);
    RC_ASSERT(projection.at("ballots").get<uint64_t>() == ballots_under);
    RC_ASSERT(projection.at("reported_ballots").get<uint64_t>() == ballots_under);
    RC_ASSERT(projection.at("reported_leaves").get<uint64_t>() == under.size());
    RC_ASSERT(projection.at("audit").at("status") == "balanced");
  }
  const json election = sim.projection_json(quorum::election::election_key(eid));
  RC_ASSERT(election.at("reported_leaves").get<uint64_t>() == leaves.size());
}

}  // namespace
