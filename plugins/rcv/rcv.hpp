// rcv: a jurisdiction's custom tally rule, single-winner ranked-choice
// voting by instant runoff (IRV), as Maine, Alaska, NYC, San Francisco and
// RCTab count it. Built only against the SDK; plugins/rcv/rcv.cpp exports it.
//
// INPUT. Messages of type "cvr" whose data is one NIST SP 1500-103 CVR object
// (JSON converted to msgpack), and of type "cvrs" whose data is {"cvrs":
// [CVR, ...]} (an election precinct's flush: every CVR is read first, and
// one bad CVR refuses the message whole). Every other message type is accepted
// unchanged, so handlers chain. The CVR is read leniently (RCTab writes
// `Rank` on SelectionPosition, which the schema does not have):
// - the snapshot used is the one whose "@id" equals CurrentSnapshotId; with
//   no CurrentSnapshotId there must be exactly one snapshot. A "cvr" without
//   CVRSnapshot, with an unknown CurrentSnapshotId, or with several snapshots
//   and no CurrentSnapshotId is REJECTED (the projection is unchanged).
// - CVRSnapshot, CVRContest, CVRContestSelection and SelectionPosition may
//   each be an array or a single object.
// - a MARK is a SelectionPosition with HasIndication "yes" or absent (any
//   other value, e.g. "no" / "unknown", is not a mark) that carries a Rank.
//   Rank must be an integer 1 .. 2^31-1 (else REJECTED); positions without
//   Rank are ignored (plurality contests are not ranked and produce nothing).
//   NumberVotes / IsAllocable are ignored. A contest holds at most 65535
//   candidates; a ballot that would pass that is REJECTED. A ranked mark needs a string
//   ContestSelectionId and its contest a string ContestId (else REJECTED).
//   Write-ins are selections like any other.
// - A ballot COUNTS in a contest when it has at least one mark there (after
//   the max_rankings filter). A ballot with no marks in a contest (blank /
//   undervote) is not counted in that contest, as RCTab leaves undervotes
//   out of the rounds.
//
// NORMALISATION (once per ballot and contest, with the projection's rules).
// Marks are grouped by rank (rank -> set of distinct selections), then walked
// in increasing rank, with `previous` = 0 at the start:
//   1. skipped ranks: if max_skipped_ranks is set and rank - previous - 1 >
//      max_skipped_ranks, stop (the ballot exhausts when it gets there).
//      previous = rank. Only ranks with no mark at all count as skipped.
//   2. overvote (2+ distinct selections at one rank): "exhaust_immediately"
//      stops; "skip_to_next" ignores this rank.
//   3. duplicate (a selection already taken at an earlier rank): "skip"
//      ignores it; "exhaust" stops.
//   4. otherwise the selection is appended to the normalised ranking.
// The normalised ranking is the list of distinct selections the ballot can
// ever count for, in order; the ballot counts for its first continuing one
// and is exhausted when none is left (an empty ranking, e.g. an overvote at
// rank 1 under exhaust_immediately, is exhausted from round 1). Truncating at
// the first stop is exactly "exhaust when the count reaches that rank".
//
// TABULATION (recomputed for each contest a ballot touched; pure function of
// the multiset of normalised rankings and the rules). Candidates are all
// selections marked on counted ballots. Round k: every ranking counts for its
// first continuing candidate or is exhausted; exhausted is cumulative; the
// continuing total is the sum of the tally. If a candidate has more than half
// of the continuing total it is elected (the winner) and counting stops. If
// the continuing total is 0 (every ballot exhausted) counting stops with no
// winner. Otherwise exactly one candidate is eliminated (batch elimination is
// off): the one with the fewest votes this round; ties are broken by
// "previous_rounds_then_lexical" (default): fewest votes in the previous
// round, then the round before, ... back to round 1; if still tied, the
// candidate whose selection id is smallest in byte order is eliminated.
// "lexical" skips the previous-round step.
//
// CONFIG (init's msgpack map; absent = all defaults; unknown keys or bad
// values make init fail). Defaults follow RCTab's usual settings:
//   "overvote":          "exhaust_immediately" (default) | "skip_to_next"
//   "max_skipped_ranks": nil | "unlimited" (default) | integer >= 0
//   "max_rankings":      nil | "unlimited" (default) | integer >= 1
//                        (marks at a higher rank are ignored)
//   "duplicates":        "skip" (default: later duplicates are skipped) | "exhaust"
//   "tie_break":         "previous_rounds_then_lexical" (default) | "lexical"
//   "batch_elimination": false (only false is supported)
//   "contests":          nil (default: every contest with a ranked mark) |
//                        [contest id, ...] (only these are tabulated)
//
// PROJECTION (msgpack; every map's keys in byte order; schema 1):
//   {"contests": {<ContestId>: {
//        "ballots":    uint,               ballots counted in this contest
//        "candidates": [str, ...],         selection ids, sorted, unique
//        "rankings":   [[[uint, ...], uint], ...]
//                      the distinct normalised rankings, each as indices into
//                      "candidates", with its ballot count; sorted by the
//                      index sequence (= by the id sequence); counts sum to
//                      "ballots"
//        "rounds":     [{"continuing": uint,   sum of tally
//                        "elected": str|nil,   the winner, in the last round
//                        "eliminated": str|nil,
//                        "exhausted": uint,    cumulative
//                        "round": uint,        1-based
//                        "tally": {<candidate>: uint}   every continuing candidate
//                       }, ...]
//        "winner":     str|nil}},
//    "cvrs":  uint,                 ballots accepted ("cvr" messages plus the CVRs of "cvrs")
//    "rules": {"contests": [str]|nil, "duplicates": str, "max_rankings": uint|nil,
//              "max_skipped_ranks": uint|nil, "overvote": str, "tie_break": str}}
// Invariant per contest and round: continuing + exhausted == ballots.
#pragma once

#include <quorum/sdk/msgpack_view.hpp>
#include <quorum/sdk/sdk.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::plugins::rcv {

enum class OvervoteRule : uint8_t { exhaust_immediately, skip_to_next };
enum class DuplicateRule : uint8_t { skip, exhaust };
enum class TieBreak : uint8_t { previous_rounds_then_lexical, lexical };

struct Rules {
  OvervoteRule overvote = OvervoteRule::exhaust_immediately;
  std::optional<uint32_t> max_skipped_ranks;  // nullopt: unlimited
  std::optional<uint32_t> max_rankings;       // nullopt: unlimited
  DuplicateRule duplicates = DuplicateRule::skip;
  TieBreak tie_break = TieBreak::previous_rounds_then_lexical;
  std::optional<std::vector<std::string>> contests;  // sorted, unique; nullopt: all
  bool operator==(const Rules&) const = default;
};

struct Round {
  std::vector<std::pair<uint32_t, uint64_t>> tally;  // (candidate index, votes), by index
  uint64_t exhausted = 0;
  std::optional<uint32_t> eliminated;
  std::optional<uint32_t> elected;
  bool operator==(const Round&) const = default;
};

// Candidate indices in preference order. A u16string keeps rankings of up to
// 7 candidates inline (no allocation); a contest has at most 65535 candidates.
using Ranking = std::u16string;
inline constexpr size_t kMaxCandidates = 65535;

struct Contest {
  uint64_t ballots = 0;
  std::vector<std::string> candidates;                // sorted, unique
  std::vector<std::pair<Ranking, uint64_t>> rankings;  // sorted by ranking, unique
  std::vector<Round> rounds;
  std::optional<uint32_t> winner;
  bool operator==(const Contest&) const = default;
};

namespace detail {

using Packer = msgpack::packer<msgpack::sbuffer>;
using sdk::InvalidMessage;

inline const char* overvote_name(OvervoteRule rule) {
  return rule == OvervoteRule::exhaust_immediately ? "exhaust_immediately" : "skip_to_next";
}
inline const char* duplicates_name(DuplicateRule rule) { return rule == DuplicateRule::skip ? "skip" : "exhaust"; }
inline const char* tie_break_name(TieBreak rule) {
  return rule == TieBreak::previous_rounds_then_lexical ? "previous_rounds_then_lexical" : "lexical";
}

inline void pack_string(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

template <class T>
void pack_optional_uint(Packer& packer, const std::optional<T>& value) {
  if (value) {
    packer.pack_uint64(*value);
  } else {
    packer.pack_nil();
  }
}

inline std::string_view key_of(const msgpack::object_kv& kv) {
  if (kv.key.type != msgpack::type::STR) {
    throw InvalidMessage("map key is not a string");
  }
  return {kv.key.via.str.ptr, kv.key.via.str.size};
}

inline std::string_view str_of(const msgpack::object& object, const char* what) {
  if (object.type != msgpack::type::STR) {
    throw InvalidMessage(std::string(what) + " must be a string");
  }
  return {object.via.str.ptr, object.via.str.size};
}

inline uint64_t uint_of(const msgpack::object& object, const char* what) {
  if (object.type != msgpack::type::POSITIVE_INTEGER) {
    throw InvalidMessage(std::string(what) + " must be a non-negative integer");
  }
  return object.via.u64;
}

// A CDF member that may be an array of objects or one object.
inline sdk::ArrayView one_or_many(const msgpack::object* object) {
  if (object != nullptr && object->type == msgpack::type::MAP) {
    return {object, object + 1};
  }
  return sdk::as_array(object);
}

// "unlimited" / nil -> nullopt; integer >= minimum -> value.
inline std::optional<uint32_t> limit_of(const msgpack::object& value, uint32_t minimum, const char* what) {
  if (value.is_nil()) {
    return std::nullopt;
  }
  if (value.type == msgpack::type::STR && std::string_view(value.via.str.ptr, value.via.str.size) == "unlimited") {
    return std::nullopt;
  }
  if (value.type != msgpack::type::POSITIVE_INTEGER || value.via.u64 < minimum || value.via.u64 > 0x7fffffffu) {
    throw InvalidMessage(std::string("rcv config: ") + what + " must be \"unlimited\" or an integer >= " +
                         std::to_string(minimum));
  }
  return static_cast<uint32_t>(value.via.u64);
}

inline Rules parse_rules(const msgpack::object& config) {
  Rules rules;
  if (config.is_nil()) {
    return rules;
  }
  if (config.type != msgpack::type::MAP) {
    throw InvalidMessage("rcv config must be a map");
  }
  for (const msgpack::object_kv& kv : std::span(config.via.map.ptr, config.via.map.size)) {
    const std::string_view key = key_of(kv);
    const msgpack::object& value = kv.val;
    auto text = [&]() -> std::string_view {
      if (value.type != msgpack::type::STR) {
        throw InvalidMessage("rcv config: " + std::string(key) + " must be a string");
      }
      return {value.via.str.ptr, value.via.str.size};
    };
    if (key == "overvote") {
      const std::string_view v = text();
      if (v == "exhaust_immediately") {
        rules.overvote = OvervoteRule::exhaust_immediately;
      } else if (v == "skip_to_next") {
        rules.overvote = OvervoteRule::skip_to_next;
      } else {
        throw InvalidMessage("rcv config: overvote must be \"exhaust_immediately\" or \"skip_to_next\"");
      }
    } else if (key == "max_skipped_ranks") {
      rules.max_skipped_ranks = limit_of(value, 0, "max_skipped_ranks");
    } else if (key == "max_rankings") {
      rules.max_rankings = limit_of(value, 1, "max_rankings");
    } else if (key == "duplicates") {
      const std::string_view v = text();
      if (v == "skip") {
        rules.duplicates = DuplicateRule::skip;
      } else if (v == "exhaust") {
        rules.duplicates = DuplicateRule::exhaust;
      } else {
        throw InvalidMessage("rcv config: duplicates must be \"skip\" or \"exhaust\"");
      }
    } else if (key == "tie_break") {
      const std::string_view v = text();
      if (v == "previous_rounds_then_lexical") {
        rules.tie_break = TieBreak::previous_rounds_then_lexical;
      } else if (v == "lexical") {
        rules.tie_break = TieBreak::lexical;
      } else {
        throw InvalidMessage("rcv config: tie_break must be \"previous_rounds_then_lexical\" or \"lexical\"");
      }
    } else if (key == "batch_elimination") {
      if (value.type != msgpack::type::BOOLEAN || value.via.boolean) {
        throw InvalidMessage("rcv config: batch_elimination is not supported (must be false)");
      }
    } else if (key == "contests") {
      if (value.is_nil()) {
        rules.contests.reset();
        continue;
      }
      if (value.type != msgpack::type::ARRAY) {
        throw InvalidMessage("rcv config: contests must be an array of contest ids");
      }
      std::vector<std::string> ids;
      for (const msgpack::object& id : sdk::as_array(&value)) {
        ids.emplace_back(str_of(id, "rcv config: a contest id"));
      }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      rules.contests = std::move(ids);
    } else {
      throw InvalidMessage("rcv config: unknown key '" + std::string(key) + "'");
    }
  }
  return rules;
}

// ---- ballot parsing -------------------------------------------------------

struct Mark {
  uint32_t rank;
  std::string_view selection;
  bool operator<(const Mark& other) const {
    return rank != other.rank ? rank < other.rank : selection < other.selection;
  }
  bool operator==(const Mark&) const = default;
};

struct BallotContest {
  std::string_view contest;
  std::vector<Mark> marks;  // sorted by (rank, selection), unique
};

// Reads one CVR into the marks of each contest (sorted by contest id, with
// at least one mark each). Throws InvalidMessage; touches no state.
inline std::vector<BallotContest> read_ballot(const msgpack::object& cvr, const Rules& rules) {
  if (cvr.type != msgpack::type::MAP) {
    throw InvalidMessage("cvr data is not a map");
  }
  const msgpack::object* snapshots_object = sdk::find(cvr, "CVRSnapshot");
  const sdk::ArrayView snapshots = one_or_many(snapshots_object);
  if (snapshots.empty()) {
    throw InvalidMessage("cvr has no CVRSnapshot");
  }
  const msgpack::object* snapshot = nullptr;
  const msgpack::object* current_object = sdk::find(cvr, "CurrentSnapshotId");
  if (current_object != nullptr && !current_object->is_nil()) {
    const std::string_view current = str_of(*current_object, "CurrentSnapshotId");
    for (const msgpack::object& candidate : snapshots) {
      if (sdk::as_string(sdk::find(candidate, "@id")) == current) {
        snapshot = &candidate;
        break;
      }
    }
    if (snapshot == nullptr) {
      throw InvalidMessage("CurrentSnapshotId '" + std::string(current) + "' names no CVRSnapshot");
    }
  } else if (snapshots.size() == 1) {
    snapshot = snapshots.begin();
  } else {
    throw InvalidMessage("cvr has several CVRSnapshots and no CurrentSnapshotId");
  }
  if (snapshot->type != msgpack::type::MAP) {
    throw InvalidMessage("CVRSnapshot is not a map");
  }

  std::vector<BallotContest> contests;
  for (const msgpack::object& contest : one_or_many(sdk::find(*snapshot, "CVRContest"))) {
    std::vector<Mark> marks;
    for (const msgpack::object& selection : one_or_many(sdk::find(contest, "CVRContestSelection"))) {
      const msgpack::object* selection_id = nullptr;
      for (const msgpack::object& position : one_or_many(sdk::find(selection, "SelectionPosition"))) {
        const msgpack::object* indication = sdk::find(position, "HasIndication");
        if (indication != nullptr && !indication->is_nil() && str_of(*indication, "HasIndication") != "yes") {
          continue;
        }
        const msgpack::object* rank_object = sdk::find(position, "Rank");
        if (rank_object == nullptr || rank_object->is_nil()) {
          continue;
        }
        const std::optional<int64_t> rank = sdk::as_int(rank_object);
        if (!rank || *rank < 1 || *rank > 0x7fffffff) {
          throw InvalidMessage("Rank must be an integer from 1 to 2147483647");
        }
        if (rules.max_rankings && *rank > *rules.max_rankings) {
          continue;
        }
        if (selection_id == nullptr) {
          selection_id = sdk::find(selection, "ContestSelectionId");
          if (selection_id == nullptr) {
            throw InvalidMessage("a ranked CVRContestSelection has no ContestSelectionId");
          }
        }
        marks.push_back(Mark{static_cast<uint32_t>(*rank), str_of(*selection_id, "ContestSelectionId")});
      }
    }
    if (marks.empty()) {
      continue;
    }
    const msgpack::object* contest_id_object = sdk::find(contest, "ContestId");
    if (contest_id_object == nullptr) {
      throw InvalidMessage("a ranked CVRContest has no ContestId");
    }
    const std::string_view contest_id = str_of(*contest_id_object, "ContestId");
    if (rules.contests && !std::binary_search(rules.contests->begin(), rules.contests->end(), contest_id)) {
      continue;
    }
    contests.push_back(BallotContest{contest_id, std::move(marks)});
  }
  // One entry per contest (a contest listed twice merges its marks).
  std::sort(contests.begin(), contests.end(),
            [](const BallotContest& a, const BallotContest& b) { return a.contest < b.contest; });
  std::vector<BallotContest> merged;
  for (BallotContest& contest : contests) {
    if (!merged.empty() && merged.back().contest == contest.contest) {
      merged.back().marks.insert(merged.back().marks.end(), contest.marks.begin(), contest.marks.end());
    } else {
      merged.push_back(std::move(contest));
    }
  }
  for (BallotContest& contest : merged) {
    std::sort(contest.marks.begin(), contest.marks.end());
    contest.marks.erase(std::unique(contest.marks.begin(), contest.marks.end()), contest.marks.end());
  }
  return merged;
}

// The normalised ranking (selection ids) of one ballot's marks in one
// contest; see NORMALISATION above. `marks` is sorted by (rank, selection).
inline std::vector<std::string_view> normalise(const std::vector<Mark>& marks, const Rules& rules) {
  std::vector<std::string_view> ranking;
  uint64_t previous = 0;
  for (size_t i = 0; i < marks.size();) {
    size_t end = i + 1;
    while (end < marks.size() && marks[end].rank == marks[i].rank) {
      ++end;
    }
    const uint64_t rank = marks[i].rank;
    if (rules.max_skipped_ranks && rank - previous - 1 > *rules.max_skipped_ranks) {
      break;
    }
    previous = rank;
    if (end - i > 1) {  // overvote: marks are unique, so 2+ distinct selections
      if (rules.overvote == OvervoteRule::exhaust_immediately) {
        break;
      }
      i = end;
      continue;
    }
    const std::string_view selection = marks[i].selection;
    i = end;
    if (std::find(ranking.begin(), ranking.end(), selection) != ranking.end()) {
      if (rules.duplicates == DuplicateRule::exhaust) {
        break;
      }
      continue;
    }
    ranking.push_back(selection);
  }
  return ranking;
}

// Adds `id` to the sorted candidate list, renumbering rankings; returns its index.
inline uint32_t intern_candidate(Contest& contest, std::string_view id) {
  auto it = std::lower_bound(contest.candidates.begin(), contest.candidates.end(), id,
                             [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  const auto index = static_cast<uint32_t>(it - contest.candidates.begin());
  if (it != contest.candidates.end() && *it == id) {
    return index;
  }
  contest.candidates.insert(it, std::string(id));
  // A monotone renumbering keeps the rankings sorted.
  for (auto& [ranking, count] : contest.rankings) {
    for (char16_t& candidate : ranking) {
      if (candidate >= index) {
        ++candidate;
      }
    }
  }
  return index;
}

// How many of the ballot's selections the contest does not know yet.
template <class It>
size_t new_candidates(It contest, It end, const BallotContest& entry) {
  std::vector<std::string_view> fresh;
  for (const Mark& mark : entry.marks) {
    if (contest == end || !std::binary_search(contest->second.candidates.begin(), contest->second.candidates.end(),
                                              mark.selection, [](const auto& a, const auto& b) {
                                                return std::string_view(a) < std::string_view(b);
                                              })) {
      fresh.push_back(mark.selection);
    }
  }
  std::sort(fresh.begin(), fresh.end());
  return static_cast<size_t>(std::unique(fresh.begin(), fresh.end()) - fresh.begin());
}

inline void add_ranking(Contest& contest, Ranking ranking) {
  auto it = std::lower_bound(contest.rankings.begin(), contest.rankings.end(), ranking,
                             [](const std::pair<Ranking, uint64_t>& a, const Ranking& b) { return a.first < b; });
  if (it != contest.rankings.end() && it->first == ranking) {
    ++it->second;
  } else {
    contest.rankings.emplace(it, std::move(ranking), 1);
  }
  ++contest.ballots;
}

}  // namespace detail

// The IRV rounds of one contest from its rankings (see TABULATION above).
inline void tabulate(Contest& contest, const Rules& rules) {
  const size_t n = contest.candidates.size();
  contest.rounds.clear();
  contest.winner.reset();
  std::vector<char> eliminated(n, 0);
  std::vector<size_t> position(contest.rankings.size(), 0);
  std::vector<uint64_t> votes(n, 0);
  for (;;) {
    std::fill(votes.begin(), votes.end(), 0);
    Round round;
    for (size_t i = 0; i < contest.rankings.size(); ++i) {
      const auto& [ranking, count] = contest.rankings[i];
      size_t& at = position[i];
      while (at < ranking.size() && eliminated[ranking[at]]) {
        ++at;
      }
      if (at == ranking.size()) {
        round.exhausted += count;
      } else {
        votes[ranking[at]] += count;
      }
    }
    uint64_t continuing = 0;
    for (uint32_t c = 0; c < n; ++c) {
      if (!eliminated[c]) {
        round.tally.emplace_back(c, votes[c]);
        continuing += votes[c];
      }
    }
    contest.rounds.push_back(std::move(round));
    Round& current = contest.rounds.back();
    if (continuing == 0) {
      break;  // every ballot exhausted (or none): no winner
    }
    for (const auto& [c, v] : current.tally) {
      if (v > continuing - v) {
        current.elected = c;
        contest.winner = c;
        break;
      }
    }
    if (current.elected) {
      break;
    }
    // Eliminate one: fewest votes now, then (optionally) fewest in earlier
    // rounds going back, then the smallest id (= smallest index).
    std::optional<uint32_t> loser;
    auto votes_in = [&](size_t round_index, uint32_t c) -> uint64_t {
      for (const auto& [candidate, v] : contest.rounds[round_index].tally) {
        if (candidate == c) {
          return v;
        }
      }
      return 0;
    };
    auto less_loser = [&](uint32_t a, uint32_t b) {  // true if a should go before b
      if (votes[a] != votes[b]) {
        return votes[a] < votes[b];
      }
      if (rules.tie_break == TieBreak::previous_rounds_then_lexical) {
        for (size_t r = contest.rounds.size() - 1; r-- > 0;) {
          const uint64_t va = votes_in(r, a);
          const uint64_t vb = votes_in(r, b);
          if (va != vb) {
            return va < vb;
          }
        }
      }
      return a < b;
    };
    for (const auto& [c, v] : current.tally) {
      if (!loser || less_loser(c, *loser)) {
        loser = c;
      }
    }
    current.eliminated = loser;
    eliminated[*loser] = 1;
  }
}

class Rcv {
 public:
  static constexpr const char* name = "rcv";
  static constexpr const char* version = "1.1.0";
  static constexpr uint32_t projection_schema = 1;

  struct Projection {
    Rules rules;
    uint64_t cvrs = 0;
    std::map<std::string, Contest, std::less<>> contests;
    bool operator==(const Projection&) const = default;
  };

  static Projection initial(const msgpack::object* config) {
    Projection projection;
    if (config != nullptr) {
      projection.rules = detail::parse_rules(*config);
    }
    return projection;
  }

  // handle() rejects and throws (read_ballot) only before its first change,
  // so the SDK's handle_batch need not copy the projection before every
  // message. (The lazy reader paths were measured for rcv and not taken: on
  // plain CVRs its msgpack-c tree of the batch costs less than lazy walks.)
  static constexpr bool decides_before_mutating = true;

  // "cvr" is one ballot; "cvrs" ({"cvrs": [CVR, ...]}, what an election
  // precinct sends when it flushes) is many, taken or refused together.
  sdk::Outcome handle(const sdk::Context& /*context*/, const sdk::Message& message, Projection& projection) const {
    // Decide first (read_ballot throws InvalidMessage -> rejection), then mutate.
    std::vector<std::vector<detail::BallotContest>> ballots;
    if (message.type == "cvr") {
      ballots.push_back(detail::read_ballot(*message.data, projection.rules));
    } else if (message.type == "cvrs") {
      const msgpack::object* cvrs =
          message.data->type == msgpack::type::MAP ? sdk::find(*message.data, "cvrs") : nullptr;
      if (cvrs == nullptr || cvrs->type != msgpack::type::ARRAY) {
        return sdk::Outcome::reject("cvrs needs {\"cvrs\": [CVR, ...]}");
      }
      ballots.reserve(cvrs->via.array.size);
      for (const msgpack::object& cvr : sdk::as_array(cvrs)) {
        ballots.push_back(detail::read_ballot(cvr, projection.rules));
      }
    } else {
      return sdk::Outcome::accept();
    }
    // Every contest's candidates after the whole message, before any change.
    std::map<std::string_view, std::vector<std::string_view>> fresh;
    for (const std::vector<detail::BallotContest>& ballot : ballots) {
      for (const detail::BallotContest& entry : ballot) {
        auto it = projection.contests.find(entry.contest);
        for (const detail::Mark& mark : entry.marks) {
          if (it == projection.contests.end() ||
              !std::binary_search(
                  it->second.candidates.begin(), it->second.candidates.end(), mark.selection,
                  [](const auto& a, const auto& b) { return std::string_view(a) < std::string_view(b); })) {
            fresh[entry.contest].push_back(mark.selection);
          }
        }
      }
    }
    for (auto& [contest_id, ids] : fresh) {
      std::sort(ids.begin(), ids.end());
      const size_t added = static_cast<size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
      auto it = projection.contests.find(contest_id);
      const size_t known = it == projection.contests.end() ? 0 : it->second.candidates.size();
      if (known + added > kMaxCandidates) {
        return sdk::Outcome::reject("a contest may have at most 65535 candidates");
      }
    }
    std::vector<Contest*> touched;
    for (const std::vector<detail::BallotContest>& ballot : ballots) {
      for (const detail::BallotContest& entry : ballot) {
        auto it = projection.contests.find(entry.contest);
        if (it == projection.contests.end()) {
          it = projection.contests.emplace(std::string(entry.contest), Contest{}).first;
        }
        Contest& contest = it->second;
        for (const detail::Mark& mark : entry.marks) {
          detail::intern_candidate(contest, mark.selection);
        }
        const std::vector<std::string_view> names = detail::normalise(entry.marks, projection.rules);
        Ranking ranking;
        ranking.reserve(names.size());
        for (std::string_view id : names) {
          ranking.push_back(static_cast<char16_t>(detail::intern_candidate(contest, id)));
        }
        detail::add_ranking(contest, std::move(ranking));
        if (std::find(touched.begin(), touched.end(), &contest) == touched.end()) {
          touched.push_back(&contest);
        }
      }
    }
    for (Contest* contest : touched) {  // the rounds depend only on the rankings: once per message
      tabulate(*contest, projection.rules);
    }
    projection.cvrs += ballots.size();
    return sdk::Outcome::accept();
  }

  static void encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection);
  static void decode(const msgpack::object& object, Projection& projection);
};

inline void Rcv::encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection) {
  using detail::pack_string;
  packer.pack_map(3);
  pack_string(packer, "contests");
  packer.pack_map(static_cast<uint32_t>(projection.contests.size()));
  for (const auto& [id, contest] : projection.contests) {
    pack_string(packer, id);
    auto pack_name = [&](const std::optional<uint32_t>& candidate) {
      if (candidate) {
        pack_string(packer, contest.candidates.at(*candidate));
      } else {
        packer.pack_nil();
      }
    };
    packer.pack_map(5);
    pack_string(packer, "ballots");
    packer.pack_uint64(contest.ballots);
    pack_string(packer, "candidates");
    packer.pack_array(static_cast<uint32_t>(contest.candidates.size()));
    for (const std::string& candidate : contest.candidates) {
      pack_string(packer, candidate);
    }
    pack_string(packer, "rankings");
    packer.pack_array(static_cast<uint32_t>(contest.rankings.size()));
    for (const auto& [ranking, count] : contest.rankings) {
      packer.pack_array(2);
      packer.pack_array(static_cast<uint32_t>(ranking.size()));
      for (char16_t c : ranking) {
        packer.pack_uint16(c);
      }
      packer.pack_uint64(count);
    }
    pack_string(packer, "rounds");
    packer.pack_array(static_cast<uint32_t>(contest.rounds.size()));
    for (size_t r = 0; r < contest.rounds.size(); ++r) {
      const Round& round = contest.rounds[r];
      packer.pack_map(6);
      uint64_t continuing = 0;
      for (const auto& [c, v] : round.tally) {
        continuing += v;
      }
      pack_string(packer, "continuing");
      packer.pack_uint64(continuing);
      pack_string(packer, "elected");
      pack_name(round.elected);
      pack_string(packer, "eliminated");
      pack_name(round.eliminated);
      pack_string(packer, "exhausted");
      packer.pack_uint64(round.exhausted);
      pack_string(packer, "round");
      packer.pack_uint64(r + 1);
      pack_string(packer, "tally");
      packer.pack_map(static_cast<uint32_t>(round.tally.size()));
      for (const auto& [c, v] : round.tally) {
        pack_string(packer, contest.candidates.at(c));
        packer.pack_uint64(v);
      }
    }
    pack_string(packer, "winner");
    pack_name(contest.winner);
  }
  pack_string(packer, "cvrs");
  packer.pack_uint64(projection.cvrs);
  pack_string(packer, "rules");
  const Rules& rules = projection.rules;
  packer.pack_map(6);
  pack_string(packer, "contests");
  if (rules.contests) {
    packer.pack_array(static_cast<uint32_t>(rules.contests->size()));
    for (const std::string& id : *rules.contests) {
      pack_string(packer, id);
    }
  } else {
    packer.pack_nil();
  }
  pack_string(packer, "duplicates");
  pack_string(packer, detail::duplicates_name(rules.duplicates));
  pack_string(packer, "max_rankings");
  detail::pack_optional_uint(packer, rules.max_rankings);
  pack_string(packer, "max_skipped_ranks");
  detail::pack_optional_uint(packer, rules.max_skipped_ranks);
  pack_string(packer, "overvote");
  pack_string(packer, detail::overvote_name(rules.overvote));
  pack_string(packer, "tie_break");
  pack_string(packer, detail::tie_break_name(rules.tie_break));
}

inline void Rcv::decode(const msgpack::object& object, Projection& projection) {
  using detail::key_of;
  using detail::str_of;
  using detail::uint_of;
  if (object.type != msgpack::type::MAP) {
    throw sdk::InvalidMessage("rcv projection is not a map");
  }
  projection = Projection{};
  if (const msgpack::object* rules = sdk::find(object, "rules")) {
    projection.rules = detail::parse_rules(*rules);
  }
  if (const msgpack::object* cvrs = sdk::find(object, "cvrs")) {
    projection.cvrs = uint_of(*cvrs, "cvrs");
  }
  const msgpack::object* contests = sdk::find(object, "contests");
  if (contests == nullptr || contests->type != msgpack::type::MAP) {
    return;
  }
  for (const msgpack::object_kv& entry : std::span(contests->via.map.ptr, contests->via.map.size)) {
    Contest contest;
    const msgpack::object& body = entry.val;
    if (const msgpack::object* ballots = sdk::find(body, "ballots")) {
      contest.ballots = uint_of(*ballots, "ballots");
    }
    for (const msgpack::object& candidate : sdk::as_array(sdk::find(body, "candidates"))) {
      contest.candidates.emplace_back(str_of(candidate, "candidate"));
    }
    const auto n = static_cast<uint64_t>(contest.candidates.size());
    if (n > kMaxCandidates) {
      throw sdk::InvalidMessage("rcv projection: too many candidates");
    }
    auto index_of = [&](std::string_view id) -> uint32_t {
      auto it = std::lower_bound(contest.candidates.begin(), contest.candidates.end(), id,
                                 [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
      if (it == contest.candidates.end() || *it != id) {
        throw sdk::InvalidMessage("rcv projection names an unknown candidate");
      }
      return static_cast<uint32_t>(it - contest.candidates.begin());
    };
    const sdk::ArrayView rankings = sdk::as_array(sdk::find(body, "rankings"));
    contest.rankings.reserve(rankings.size());
    for (const msgpack::object& pair : rankings) {
      const sdk::ArrayView parts = sdk::as_array(&pair);
      if (parts.size() != 2) {
        throw sdk::InvalidMessage("rcv projection: a ranking is not [indices, count]");
      }
      Ranking ranking;
      const sdk::ArrayView indices = sdk::as_array(parts.begin());
      ranking.reserve(indices.size());
      for (const msgpack::object& index : indices) {
        const uint64_t c = uint_of(index, "candidate index");
        if (c >= n) {
          throw sdk::InvalidMessage("rcv projection: candidate index out of range");
        }
        ranking.push_back(static_cast<char16_t>(c));
      }
      contest.rankings.emplace_back(std::move(ranking), uint_of(parts.begin()[1], "ranking count"));
    }
    for (const msgpack::object& round_object : sdk::as_array(sdk::find(body, "rounds"))) {
      Round round;
      if (const msgpack::object* exhausted = sdk::find(round_object, "exhausted")) {
        round.exhausted = uint_of(*exhausted, "exhausted");
      }
      if (auto elected = sdk::as_string(sdk::find(round_object, "elected"))) {
        round.elected = index_of(*elected);
      }
      if (auto eliminated = sdk::as_string(sdk::find(round_object, "eliminated"))) {
        round.eliminated = index_of(*eliminated);
      }
      const msgpack::object* tally = sdk::find(round_object, "tally");
      if (tally != nullptr && tally->type == msgpack::type::MAP) {
        for (const msgpack::object_kv& kv : std::span(tally->via.map.ptr, tally->via.map.size)) {
          round.tally.emplace_back(index_of(key_of(kv)), uint_of(kv.val, "votes"));
        }
        std::sort(round.tally.begin(), round.tally.end());
      }
      contest.rounds.push_back(std::move(round));
    }
    if (auto winner = sdk::as_string(sdk::find(body, "winner"))) {
      contest.winner = index_of(*winner);
    }
    projection.contests.emplace(std::string(key_of(entry)), std::move(contest));
  }
}

}  // namespace quorum::plugins::rcv
