// rapidcheck generators of NIST SP 1500-103 cast vote records (CVR JSON, the
// shape the host puts in a "cvr" message's data), for property tests of
// handlers. Header-only; needs rapidcheck and nlohmann::json.
//
//   #include <quorum/sdk/testing/cvr_gen.hpp>
//   namespace g = quorum::sdk::testing::cvr_gen;
//   RC_GTEST_PROP(MyTally, CountsEveryAllocableMark, ()) {
//     const g::Election election = *g::election();          // random shape
//     const auto ballots = *g::cvrs(election, 40);           // 0..40 CVRs
//     ... feed ballots[i] as {"id": g::ballot_id(ballots[i]), "type": "cvr", ...}
//     RC_ASSERT(my_count == g::allocable_votes(ballots)[{contest, selection}]);
//   }
//
// What the CVRs contain (each feature can be tuned in Options):
// - contests with ids and selections (some of them write-ins, carrying
//   CVRWriteIn{Text}), vote-for-N (VotesAllowed 1..max_votes_allowed);
// - per contest on a ballot: normal votes, undervotes (fewer marks, maybe
//   none) and overvotes (more marks than allowed, usually IsAllocable "no");
// - SelectionPosition with HasIndication, NumberVotes (sometimes omitted:
//   then 1 vote when HasIndication is "yes"), IsAllocable yes/no/unknown
//   (sometimes omitted), and unmarked positions (HasIndication "no");
// - CVRContest Overvotes/Undervotes (sometimes omitted), consistent with
//   the marks (votes lost: N when overvoted, N - marks when undervoted);
// - one or several CVRSnapshots (original/interpreted/modified) with
//   CurrentSnapshotId naming one of them, or absent (then the last counts);
// - BallotPrePrintedId = the ballot id, sometimes a UniqueId, and
//   BallotStyleUnitId = one of the election's units (precincts).
// Every counting convention here is the one `allocable_votes` implements,
// a plain reference oracle for tests.
//
// Failing cases replay from the seed rapidcheck prints (RC_PARAMS="seed=N").
#pragma once

#include <nlohmann/json.hpp>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace quorum::sdk::testing::cvr_gen {

struct Selection {
  std::string id;
  bool write_in = false;
};

struct Contest {
  std::string id;
  uint32_t votes_allowed = 1;
  std::vector<Selection> selections;
};

// An election's shape: what a ballot definition would say.
struct Election {
  std::vector<Contest> contests;
  std::vector<std::string> units;  // BallotStyleUnitIds (precincts)

  // The init config the tally and audit plugins take:
  // {"contests": {id: {"votes_allowed": n, "selections": [...], "write_ins": [...]}}}
  nlohmann::json config() const {
    nlohmann::json contests_json = nlohmann::json::object();
    for (const Contest& contest : contests) {
      nlohmann::json selections = nlohmann::json::array();
      nlohmann::json write_ins = nlohmann::json::array();
      for (const Selection& selection : contest.selections) {
        selections.push_back(selection.id);
        if (selection.write_in) {
          write_ins.push_back(selection.id);
        }
      }
      contests_json[contest.id] = {
          {"votes_allowed", contest.votes_allowed}, {"selections", selections}, {"write_ins", write_ins}};
    }
    return nlohmann::json{{"contests", contests_json}};
  }
};

inline std::ostream& operator<<(std::ostream& os, const Election& election) {
  os << "Election{units:";
  for (const auto& unit : election.units) {
    os << ' ' << unit;
  }
  os << "; contests:";
  for (const Contest& contest : election.contests) {
    os << ' ' << contest.id << "(vote for " << contest.votes_allowed << ":";
    for (const Selection& selection : contest.selections) {
      os << ' ' << selection.id << (selection.write_in ? "[wi]" : "");
    }
    os << ')';
  }
  return os << '}';
}

// Knobs, in percent unless said otherwise.
struct Options {
  size_t max_contests = 8;
  size_t max_selections = 6;  // per contest, besides write-ins
  uint32_t max_votes_allowed = 3;
  size_t max_units = 3;
  int write_in_contest = 50;          // a contest has 1-2 write-in selections
  int undervote = 25;                 // a contest on a ballot gets fewer marks than allowed
  int overvote = 10;                  // ... more marks than allowed
  int overvote_still_allocable = 20;  // an overvoted mark left allocable (yes/unknown)
  int not_allocable = 5;              // a normal mark with IsAllocable "no"
  int allocable_unknown = 10;         // IsAllocable "unknown"
  int allocable_absent = 5;           // IsAllocable omitted
  int number_votes_absent = 10;       // NumberVotes omitted (HasIndication "yes": 1 vote)
  int unmarked_position = 10;         // an extra unmarked position (HasIndication "no")
  int counts_present = 70;            // CVRContest Overvotes/Undervotes present
  int several_snapshots = 25;         // 2-3 CVRSnapshots
  int current_snapshot_absent = 20;   // no CurrentSnapshotId (the last snapshot counts)
  int unique_id = 30;                 // a UniqueId
};

namespace detail {

inline rc::Gen<bool> chance(int percent) {
  return rc::gen::map(rc::gen::inRange(0, 100), [percent](int roll) { return roll < percent; });
}

// A short lowercase suffix, so ids sort differently from creation order.
inline rc::Gen<std::string> suffix() {
  return rc::gen::container<std::string>(*rc::gen::inRange<size_t>(0, 5), rc::gen::inRange('a', static_cast<char>('z' + 1)));
}

}  // namespace detail

// A random election shape.
inline rc::Gen<Election> election(Options options = {}) {
  return rc::gen::exec([options] {
    Election result;
    const size_t units = *rc::gen::inRange<size_t>(1, options.max_units + 1);
    for (size_t u = 0; u < units; ++u) {
      result.units.push_back("prec-" + std::to_string(u) + *detail::suffix());
    }
    const size_t contests = *rc::gen::inRange<size_t>(1, options.max_contests + 1);
    for (size_t c = 0; c < contests; ++c) {
      Contest contest;
      contest.id = "cc-" + *detail::suffix() + "-" + std::to_string(c);
      contest.votes_allowed = *rc::gen::inRange<uint32_t>(1, options.max_votes_allowed + 1);
      const size_t named = *rc::gen::inRange<size_t>(1, options.max_selections + 1);
      for (size_t s = 0; s < named; ++s) {
        contest.selections.push_back({"cs-" + std::to_string(c) + "-" + *detail::suffix() + std::to_string(s), false});
      }
      if (*detail::chance(options.write_in_contest)) {
        const size_t write_ins = *rc::gen::inRange<size_t>(1, 3);
        for (size_t w = 0; w < write_ins; ++w) {
          // "-wi-": named ids never contain a second dash, so they cannot collide.
          contest.selections.push_back({"cs-" + std::to_string(c) + "-wi-" + std::to_string(w), true});
        }
      }
      result.contests.push_back(std::move(contest));
    }
    return result;
  });
}

namespace detail {

inline rc::Gen<nlohmann::json> position(bool marked, bool overvoted, bool write_in, const Options& options) {
  return rc::gen::exec([=] {
    nlohmann::json p = nlohmann::json::object();
    p["@type"] = "CVR.SelectionPosition";
    p["HasIndication"] = marked ? "yes" : "no";
    if (!marked || !*chance(options.number_votes_absent)) {
      p["NumberVotes"] = marked ? 1 : 0;
    }
    std::string allocable = "yes";
    if (overvoted) {
      allocable = *chance(options.overvote_still_allocable) ? *rc::gen::element<std::string>("yes", "unknown") : "no";
    } else if (*chance(options.not_allocable)) {
      allocable = "no";
    } else if (*chance(options.allocable_unknown)) {
      allocable = "unknown";
    }
    if (allocable != "yes" || !*chance(options.allocable_absent)) {
      p["IsAllocable"] = allocable;  // absent means allocable
    }
    if (write_in && marked) {
      p["CVRWriteIn"] = {{"@type", "CVR.CVRWriteIn"},
                         {"Text", *rc::gen::element<std::string>("Ada Lovelace", "Ida B. Wells", "Amos Noë Freeman",
                                                                 "Mickey Mouse")}};
    }
    return p;
  });
}

inline rc::Gen<nlohmann::json> contest_marks(const Contest& contest, const Options& options) {
  return rc::gen::exec([=] {
    const size_t m = contest.selections.size();
    const size_t n = contest.votes_allowed;
    size_t marks = std::min(n, m);
    if (*chance(options.overvote) && m > n) {
      marks = *rc::gen::inRange<size_t>(n + 1, m + 1);
    } else if (*chance(options.undervote)) {
      marks = *rc::gen::inRange<size_t>(0, std::min(n, m) + 1);
    }
    const bool overvoted = marks > n;
    // Which selections: a random subset of size `marks`, in ballot order.
    std::vector<size_t> order(m);
    for (size_t i = 0; i < m; ++i) {
      order[i] = i;
    }
    for (size_t i = 0; i + 1 < m; ++i) {
      std::swap(order[i], order[*rc::gen::inRange<size_t>(i, m)]);
    }
    std::vector<bool> chosen(m, false);
    for (size_t i = 0; i < marks; ++i) {
      chosen[order[i]] = true;
    }
    nlohmann::json selections = nlohmann::json::array();
    for (size_t i = 0; i < m; ++i) {
      const bool extra = !chosen[i] && *chance(options.unmarked_position);
      if (!chosen[i] && !extra) {
        continue;
      }
      selections.push_back({{"@type", "CVR.CVRContestSelection"},
                            {"ContestSelectionId", contest.selections[i].id},
                            {"OptionPosition", i + 1},
                            {"SelectionPosition",
                             nlohmann::json::array({*position(chosen[i], overvoted, contest.selections[i].write_in, options)})}});
    }
    nlohmann::json c = {{"@type", "CVR.CVRContest"}, {"ContestId", contest.id}, {"CVRContestSelection", selections}};
    if (*chance(options.counts_present)) {
      c["Overvotes"] = overvoted ? n : 0;
      c["Undervotes"] = marks < n ? n - marks : 0;
    }
    return c;
  });
}

}  // namespace detail

// One CVR of `election` whose BallotPrePrintedId (and snapshot @id prefix) is `ballot_id`.
inline rc::Gen<nlohmann::json> cvr(const Election& election, std::string ballot_id, Options options = {}) {
  return rc::gen::exec([election, ballot_id, options] {
    const size_t snapshots = *detail::chance(options.several_snapshots) ? *rc::gen::inRange<size_t>(2, 4) : 1;
    static const char* const kTypes[] = {"original", "interpreted", "modified"};
    nlohmann::json snapshot_list = nlohmann::json::array();
    // The ballot style: a non-empty subset of the contests, the same in every snapshot.
    std::vector<bool> on_ballot(election.contests.size(), false);
    bool any = false;
    for (size_t c = 0; c < election.contests.size(); ++c) {
      on_ballot[c] = *detail::chance(80);
      any = any || on_ballot[c];
    }
    if (!any && !on_ballot.empty()) {
      on_ballot[*rc::gen::inRange<size_t>(0, on_ballot.size())] = true;
    }
    for (size_t s = 0; s < snapshots; ++s) {
      nlohmann::json contests = nlohmann::json::array();
      for (size_t c = 0; c < election.contests.size(); ++c) {
        if (on_ballot[c]) {
          contests.push_back(*detail::contest_marks(election.contests[c], options));
        }
      }
      snapshot_list.push_back({{"@id", ballot_id + "-s" + std::to_string(s)},
                               {"@type", "CVR.CVRSnapshot"},
                               {"Type", kTypes[s % 3]},
                               {"CVRContest", contests}});
    }
    nlohmann::json result = {{"@type", "CVR.CVR"},
                             {"BallotPrePrintedId", ballot_id},
                             {"BallotStyleUnitId", *rc::gen::elementOf(election.units)},
                             {"CreatingDeviceId", "rd"},
                             {"ElectionId", "election"},
                             {"CVRSnapshot", snapshot_list}};
    if (!*detail::chance(options.current_snapshot_absent)) {
      result["CurrentSnapshotId"] = ballot_id + "-s" + std::to_string(*rc::gen::inRange<size_t>(0, snapshots));
    }  // else the last snapshot counts
    if (*detail::chance(options.unique_id)) {
      result["UniqueId"] = "u-" + ballot_id;
    }
    return result;
  });
}

// Between 0 and max_count CVRs with distinct ids "b-0", "b-1", ...
inline rc::Gen<std::vector<nlohmann::json>> cvrs(const Election& election, size_t max_count, Options options = {}) {
  return rc::gen::exec([election, max_count, options] {
    const size_t count = *rc::gen::inRange<size_t>(0, max_count + 1);
    std::vector<nlohmann::json> result;
    result.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      result.push_back(*cvr(election, "b-" + std::to_string(i), options));
    }
    return result;
  });
}

// The ballot id of a generated CVR (its BallotPrePrintedId).
inline std::string ballot_id(const nlohmann::json& cvr) { return cvr.value("BallotPrePrintedId", std::string()); }

// The snapshot that counts: CurrentSnapshotId's, else the last one.
inline const nlohmann::json& current_snapshot(const nlohmann::json& cvr) {
  const nlohmann::json& snapshots = cvr.at("CVRSnapshot");
  if (cvr.contains("CurrentSnapshotId")) {
    for (const auto& snapshot : snapshots) {
      if (snapshot.value("@id", std::string()) == cvr["CurrentSnapshotId"]) {
        return snapshot;
      }
    }
  }
  return snapshots.back();
}

// Reference oracle: votes per (contest id, selection id) of the current
// snapshots' positions whose IsAllocable is not "no" (NumberVotes, or 1 when
// it is missing and HasIndication is "yes"). Selections that appear with no
// allocable vote are present with 0.
inline std::map<std::pair<std::string, std::string>, uint64_t> allocable_votes(const std::vector<nlohmann::json>& cvrs) {
  std::map<std::pair<std::string, std::string>, uint64_t> totals;
  for (const nlohmann::json& cvr : cvrs) {
    for (const auto& contest : current_snapshot(cvr).value("CVRContest", nlohmann::json::array())) {
      for (const auto& selection : contest.value("CVRContestSelection", nlohmann::json::array())) {
        uint64_t& total = totals[{contest["ContestId"].get<std::string>(), selection["ContestSelectionId"].get<std::string>()}];
        for (const auto& p : selection.value("SelectionPosition", nlohmann::json::array())) {
          if (p.value("IsAllocable", std::string("yes")) == "no") {
            continue;
          }
          total += p.contains("NumberVotes") ? p["NumberVotes"].get<uint64_t>()
                                             : (p.value("HasIndication", std::string()) == "yes" ? 1u : 0u);
        }
      }
    }
  }
  return totals;
}

}  // namespace quorum::sdk::testing::cvr_gen
