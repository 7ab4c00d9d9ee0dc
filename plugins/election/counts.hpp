// Vote counts of one reporting unit, or of one ballot (a leaf's delta), and
// the tally plugin's counting rules applied to one CVR
// (plugins/tally/tally.hpp, COUNTING; the CVR is read by
// plugins/tally/cvr_view.hpp):
//   selections[sid] += allocable votes of the selection's positions
//   write_in_ids    ∪= selections seen with a CVRWriteIn
//   overvotes       += CVRContest.Overvotes, else N when marks > N (N = votes_allowed, known)
//   undervotes      += CVRContest.Undervotes, else N - marks when marks < N
//   ballots         += 1 per ballot containing the contest (once, even if listed twice)
// Counts add: a roll-up's counts are the sum of its leaves' deltas, and
// adding is commutative and associative, so the order effects arrive in
// does not matter.
#pragma once

#include "cvr_view.hpp"
#include "documents.hpp"

#include <quorum/sdk/msgpack_reader.hpp>

#include <msgpack.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace quorum::plugins::election {

struct ContestCounts {
  uint64_t ballots = 0;
  uint64_t overvotes = 0;
  uint64_t undervotes = 0;
  std::map<std::string, uint64_t, std::less<>> selections;
  std::set<std::string, std::less<>> write_in_ids;
  bool operator==(const ContestCounts&) const = default;
};

struct Counts {
  uint64_t ballots = 0;
  std::map<std::string, ContestCounts, std::less<>> contests;
  bool operator==(const Counts&) const = default;

  ContestCounts& contest(std::string_view cid) {
    auto it = contests.find(cid);
    if (it == contests.end()) {
      it = contests.emplace(std::string(cid), ContestCounts{}).first;
    }
    return it->second;
  }
};

// One well-formed ballot counted with votes_allowed from `config` (0 for a
// contest the config does not list).
inline Counts count_ballot(const cvr::Ballot& ballot, const UnitConfig& config) {
  Counts counts;
  counts.ballots = 1;
  for (size_t i = 0; i < ballot.contests.size(); ++i) {
    const cvr::ContestMarks& marks = ballot.contests[i];
    ContestCounts& contest = counts.contest(marks.id);
    bool repeated = false;
    for (size_t j = 0; j < i; ++j) {
      repeated = repeated || ballot.contests[j].id == marks.id;
    }
    if (!repeated) {
      contest.ballots += 1;
    }
    for (uint32_t k = marks.first; k < marks.first + marks.count; ++k) {
      const cvr::SelectionMarks& selection = ballot.selections[k];
      auto it = contest.selections.find(selection.id);
      if (it == contest.selections.end()) {
        it = contest.selections.emplace(std::string(selection.id), 0).first;
      }
      it->second += selection.allocable_votes;
      if (selection.write_in) {
        contest.write_in_ids.emplace(selection.id);
      }
    }
    const UnitConfig::Contest* configured = config.contest(marks.id);
    const uint64_t allowed = configured != nullptr ? configured->votes_allowed : 0;
    if (marks.has_overvotes) {
      contest.overvotes += marks.overvotes;
    } else if (allowed > 0 && marks.votes > allowed) {
      contest.overvotes += allowed;
    }
    if (marks.has_undervotes) {
      contest.undervotes += marks.undervotes;
    } else if (allowed > 0 && marks.votes < allowed) {
      contest.undervotes += allowed - marks.votes;
    }
  }
  return counts;
}

namespace counts_detail {
inline bool fits(uint64_t a, uint64_t b) { return a <= std::numeric_limits<uint64_t>::max() - b; }
}  // namespace counts_detail

// Whether add(into, more) can be done without overflowing any count.
inline bool can_add(const Counts& into, const Counts& more) {
  using counts_detail::fits;
  if (!fits(into.ballots, more.ballots)) {
    return false;
  }
  for (const auto& [cid, contest] : more.contests) {
    auto it = into.contests.find(cid);
    if (it == into.contests.end()) {
      continue;
    }
    const ContestCounts& have = it->second;
    if (!fits(have.ballots, contest.ballots) || !fits(have.overvotes, contest.overvotes) ||
        !fits(have.undervotes, contest.undervotes)) {
      return false;
    }
    for (const auto& [sid, votes] : contest.selections) {
      auto sel = have.selections.find(sid);
      if (sel != have.selections.end() && !fits(sel->second, votes)) {
        return false;
      }
    }
  }
  return true;
}

// into += more (the caller checked can_add).
inline void add(Counts& into, const Counts& more) {
  into.ballots += more.ballots;
  for (const auto& [cid, contest] : more.contests) {
    ContestCounts& have = into.contest(cid);
    have.ballots += contest.ballots;
    have.overvotes += contest.overvotes;
    have.undervotes += contest.undervotes;
    for (const auto& [sid, votes] : contest.selections) {
      have.selections[sid] += votes;
    }
    have.write_in_ids.insert(contest.write_in_ids.begin(), contest.write_in_ids.end());
  }
}

using Packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_string(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

// {cid: {"ballots","overvotes","undervotes","selections": {sid: n}, "write_in_ids": [sid]}}
// sorted by id. `write_ins_when_empty` false leaves out an empty write_in_ids
// (deltas stay small); the unit projection always has it.
inline void pack_contests(Packer& packer, const Counts& counts, bool write_ins_when_empty) {
  packer.pack_map(static_cast<uint32_t>(counts.contests.size()));
  for (const auto& [cid, contest] : counts.contests) {
    pack_string(packer, cid);
    const bool write_ins = write_ins_when_empty || !contest.write_in_ids.empty();
    packer.pack_map(write_ins ? 5 : 4);
    pack_string(packer, "ballots");
    packer.pack_uint64(contest.ballots);
    pack_string(packer, "overvotes");
    packer.pack_uint64(contest.overvotes);
    pack_string(packer, "undervotes");
    packer.pack_uint64(contest.undervotes);
    pack_string(packer, "selections");
    packer.pack_map(static_cast<uint32_t>(contest.selections.size()));
    for (const auto& [sid, votes] : contest.selections) {
      pack_string(packer, sid);
      packer.pack_uint64(votes);
    }
    if (write_ins) {
      pack_string(packer, "write_in_ids");
      packer.pack_array(static_cast<uint32_t>(contest.write_in_ids.size()));
      for (const std::string& sid : contest.write_in_ids) {
        pack_string(packer, sid);
      }
    }
  }
}

// Reads the map pack_contests writes (any key order; "write_in_ids"
// optional; unknown keys ignored) into counts.contests. Returns "" or why not.
inline std::string read_contests(const quorum::sdk::MsgView& value, Counts& counts) {
  using quorum::sdk::MsgEntry;
  using quorum::sdk::MsgView;
  if (!value.is_map()) {
    return "'contests' must be a map";
  }
  for (const MsgEntry& entry : value.items()) {
    const std::optional<std::string_view> cid = entry.key.as_string();
    if (!cid || cid->empty() || cid->size() > kMaxIdBytes) {
      return "'contests' keys must be contest ids";
    }
    if (!entry.value.is_map()) {
      return "contest '" + std::string(*cid) + "' must be a map";
    }
    ContestCounts contest;
    bool seen[4] = {false, false, false, false};
    for (const MsgEntry& field : entry.value.items()) {
      const std::string_view key = field.key_string();
      uint64_t* target = key == "ballots"      ? &contest.ballots
                         : key == "overvotes"  ? &contest.overvotes
                         : key == "undervotes" ? &contest.undervotes
                                               : nullptr;
      if (target != nullptr) {
        const std::optional<uint64_t> number = field.value.as_uint();
        if (!number) {
          return "contest '" + std::string(*cid) + "': '" + std::string(key) + "' must be a non-negative integer";
        }
        *target = *number;
        seen[key == "ballots" ? 0 : key == "overvotes" ? 1 : 2] = true;
      } else if (key == "selections") {
        if (!field.value.is_map()) {
          return "contest '" + std::string(*cid) + "': 'selections' must be a map";
        }
        for (const MsgEntry& selection : field.value.items()) {
          const std::optional<std::string_view> sid = selection.key.as_string();
          const std::optional<uint64_t> votes = selection.value.as_uint();
          if (!sid || !votes) {
            return "contest '" + std::string(*cid) + "': 'selections' must map ids to non-negative integers";
          }
          contest.selections[std::string(*sid)] = *votes;
        }
        seen[3] = true;
      } else if (key == "write_in_ids") {
        if (!field.value.is_array()) {
          return "contest '" + std::string(*cid) + "': 'write_in_ids' must be an array";
        }
        for (const MsgView& sid : field.value.elements()) {
          const std::optional<std::string_view> text = sid.as_string();
          if (!text) {
            return "contest '" + std::string(*cid) + "': 'write_in_ids' must hold strings";
          }
          contest.write_in_ids.emplace(*text);
        }
      }
    }
    if (!(seen[0] && seen[1] && seen[2] && seen[3])) {
      return "contest '" + std::string(*cid) + "' needs ballots, overvotes, undervotes and selections";
    }
    counts.contests[std::string(*cid)] = std::move(contest);
  }
  return {};
}

}  // namespace quorum::plugins::election
