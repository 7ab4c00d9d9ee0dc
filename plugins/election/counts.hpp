// Vote counts of one reporting unit, or of one ballot (a leaf's delta), and
// the tally plugin's counting rules applied to one CVR
// (plugins/tally/tally.hpp, COUNTING; the CVR is read by
// plugins/tally/cvr_view.hpp):
//   selections[sid] += allocable votes of the selection's positions
//   write_in_ids    ∪= selections seen with a CVRWriteIn
//   overvotes       += CVRContest.Overvotes, else N when marks > N (N = votes_allowed, known)
//   undervotes      += CVRContest.Undervotes, else N - marks when marks < N
//   ballots         += 1 per ballot containing the contest (once, even if listed twice)
// A ranked-choice contest (config "rcv") counts ballots only: its rounds are
// the rcv plugin's, at the contest actor the ballot is forwarded to.
// Counts add: a roll-up's counts are the sum of its leaves' deltas, and
// adding is commutative and associative, so the order effects arrive in
// does not matter.
#pragma once

#include "cvr_view.hpp"
#include "documents.hpp"

#include <quorum/sdk/msgpack_reader.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins::election {

// A small map from id to V kept as a vector sorted by id: decoding appends
// in order (canonical bytes are sorted), ids of up to 15 bytes live inline
// (no allocation), and lookups take string_views. The maps of a unit are
// small (contests in scope, selections of one contest).
template <class V>
class SortedMap {
 public:
  using value_type = std::pair<std::string, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  iterator begin() noexcept { return items_.begin(); }
  iterator end() noexcept { return items_.end(); }
  const_iterator begin() const noexcept { return items_.begin(); }
  const_iterator end() const noexcept { return items_.end(); }
  size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  void reserve(size_t n) { items_.reserve(n); }

  iterator find(std::string_view id) {
    const iterator it = lower(id);
    return it != items_.end() && it->first == id ? it : items_.end();
  }
  const_iterator find(std::string_view id) const {
    const auto it = std::lower_bound(items_.begin(), items_.end(), id,
                                     [](const value_type& item, std::string_view key) { return item.first < key; });
    return it != items_.end() && it->first == id ? it : items_.end();
  }
  // The value of `id`, inserted (value-initialised) if absent.
  V& operator[](std::string_view id) {
    if (items_.empty() || items_.back().first < id) {  // the decoding case: append
      items_.emplace_back(std::string(id), V{});
      return items_.back().second;
    }
    const iterator it = lower(id);
    if (it != items_.end() && it->first == id) {
      return it->second;
    }
    return items_.emplace(it, std::string(id), V{})->second;
  }
  bool operator==(const SortedMap&) const = default;

 private:
  iterator lower(std::string_view id) {
    return std::lower_bound(items_.begin(), items_.end(), id,
                            [](const value_type& item, std::string_view key) { return item.first < key; });
  }
  std::vector<value_type> items_;
};

// A small set of ids as a sorted vector.
class SortedSet {
 public:
  using const_iterator = std::vector<std::string>::const_iterator;
  const_iterator begin() const noexcept { return items_.begin(); }
  const_iterator end() const noexcept { return items_.end(); }
  size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool contains(std::string_view id) const { return std::binary_search(items_.begin(), items_.end(), id, Less{}); }
  void insert(std::string_view id) {
    if (items_.empty() || items_.back() < id) {
      items_.emplace_back(id);
      return;
    }
    const auto it = std::lower_bound(items_.begin(), items_.end(), id, Less{});
    if (it == items_.end() || *it != id) {
      items_.emplace(it, id);
    }
  }
  bool operator==(const SortedSet&) const = default;

 private:
  struct Less {
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a < b; }
  };
  std::vector<std::string> items_;
};

struct ContestCounts {
  uint64_t ballots = 0;
  uint64_t overvotes = 0;
  uint64_t undervotes = 0;
  SortedMap<uint64_t> selections;
  SortedSet write_in_ids;
  bool operator==(const ContestCounts&) const = default;
};

// A unit's counts (the projection's "ballots" and "contests").
struct Counts {
  uint64_t ballots = 0;
  SortedMap<ContestCounts> contests;
  bool operator==(const Counts&) const = default;

  ContestCounts& contest(std::string_view cid) { return contests[cid]; }
};

// One ballot's or one delta's counts, flat and allocation-light: ids are
// views into the message bytes (valid for the handle() call). Contests are
// sorted by id and unique; contest c's selections are
// selections[c.first, c.first + c.count), sorted by id and unique.
struct FlatCounts {
  struct Contest {
    std::string_view id;
    uint64_t ballots = 0;
    uint64_t overvotes = 0;
    uint64_t undervotes = 0;
    uint32_t first = 0;
    uint32_t count = 0;
  };
  struct Selection {
    std::string_view id;
    uint64_t votes = 0;
    bool write_in = false;
  };
  uint64_t ballots = 0;
  std::vector<Contest> contests;
  std::vector<Selection> selections;
};

// One well-formed ballot counted with votes_allowed from `config` (0 for a
// contest the config does not list). A contest listed twice on the ballot
// is one ballot for the contest, its marks and over/undervotes added.
inline void count_ballot(const cvr::Ballot& ballot, const UnitConfig& config, FlatCounts& out) {
  out = FlatCounts{};
  out.ballots = 1;
  // Contest occurrences in id order (stable: CVR order among equal ids).
  std::vector<uint32_t> order(ballot.contests.size());
  for (uint32_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return ballot.contests[a].id < ballot.contests[b].id; });
  out.contests.reserve(order.size());
  out.selections.reserve(ballot.selections.size());
  for (size_t i = 0; i < order.size();) {
    const std::string_view cid = ballot.contests[order[i]].id;
    const UnitConfig::Contest* configured = config.contest(cid);
    const uint64_t allowed = configured != nullptr ? configured->votes_allowed : 0;
    FlatCounts::Contest contest;
    contest.id = cid;
    contest.ballots = 1;
    contest.first = static_cast<uint32_t>(out.selections.size());
    if (configured != nullptr && configured->rcv) {
      // Ranked-choice: marks at every rank are not plurality votes (nor an
      // overvote); the rounds are tabulated at the contest actor, so a unit
      // counts only the ballots that hold the contest.
      for (; i < order.size() && ballot.contests[order[i]].id == cid; ++i) {
      }
      out.contests.push_back(contest);
      continue;
    }
    for (; i < order.size() && ballot.contests[order[i]].id == cid; ++i) {
      const cvr::ContestMarks& marks = ballot.contests[order[i]];
      for (uint32_t k = marks.first; k < marks.first + marks.count; ++k) {
        const cvr::SelectionMarks& selection = ballot.selections[k];
        out.selections.push_back({selection.id, selection.allocable_votes, selection.write_in});
      }
      cvr::add_over_under(marks, allowed, contest.overvotes, contest.undervotes);
    }
    // Sort this contest's selections and merge repeats.
    const auto begin = out.selections.begin() + contest.first;
    std::stable_sort(begin, out.selections.end(),
                     [](const FlatCounts::Selection& a, const FlatCounts::Selection& b) { return a.id < b.id; });
    size_t kept = contest.first;
    for (size_t k = contest.first; k < out.selections.size(); ++k) {
      if (kept > contest.first && out.selections[kept - 1].id == out.selections[k].id) {
        out.selections[kept - 1].votes += out.selections[k].votes;
        out.selections[kept - 1].write_in = out.selections[kept - 1].write_in || out.selections[k].write_in;
      } else {
        out.selections[kept++] = out.selections[k];
      }
    }
    out.selections.resize(kept);
    contest.count = static_cast<uint32_t>(kept - contest.first);
    out.contests.push_back(contest);
  }
}

namespace counts_detail {
inline bool fits(uint64_t a, uint64_t b) { return a <= std::numeric_limits<uint64_t>::max() - b; }
}  // namespace counts_detail

// Whether add(into, more) can be done without overflowing any count.
inline bool can_add(const Counts& into, const FlatCounts& more) {
  using counts_detail::fits;
  if (!fits(into.ballots, more.ballots)) {
    return false;
  }
  for (const FlatCounts::Contest& contest : more.contests) {
    auto it = into.contests.find(contest.id);
    if (it == into.contests.end()) {
      continue;
    }
    const ContestCounts& have = it->second;
    if (!fits(have.ballots, contest.ballots) || !fits(have.overvotes, contest.overvotes) ||
        !fits(have.undervotes, contest.undervotes)) {
      return false;
    }
    for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
      auto sel = have.selections.find(more.selections[k].id);
      if (sel != have.selections.end() && !fits(sel->second, more.selections[k].votes)) {
        return false;
      }
    }
  }
  return true;
}

// into += more (the caller checked can_add).
inline void add(Counts& into, const FlatCounts& more) {
  into.ballots += more.ballots;
  for (const FlatCounts::Contest& contest : more.contests) {
    ContestCounts& have = into.contest(contest.id);
    have.ballots += contest.ballots;
    have.overvotes += contest.overvotes;
    have.undervotes += contest.undervotes;
    for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
      const FlatCounts::Selection& selection = more.selections[k];
      have.selections[selection.id] += selection.votes;
      if (selection.write_in) {
        have.write_in_ids.insert(selection.id);
      }
    }
  }
}

// The ids of two sorted maps, merged (sorted, unique).
template <class V>
std::vector<std::string_view> merged_ids(const SortedMap<V>& a, const SortedMap<V>& b) {
  std::vector<std::string_view> ids;
  ids.reserve(a.size() + b.size());
  auto x = a.begin();
  auto y = b.begin();
  while (x != a.end() || y != b.end()) {
    if (y == b.end() || (x != a.end() && x->first < y->first)) {
      ids.push_back((x++)->first);
    } else if (x == a.end() || y->first < x->first) {
      ids.push_back((y++)->first);
    } else {
      ids.push_back(x->first);
      ++x;
      ++y;
    }
  }
  return ids;
}

// Where `have` and `expected` differ, as "contest C selection S: 2 from
// deltas, 1 reported" lines (missing entries count as 0), at most `limit` of
// them plus a last "... and N more". The counts of a roll-up against what
// its leaves reported they hold.
inline std::vector<std::string> differences(const Counts& have, const Counts& expected, size_t limit) {
  std::vector<std::string> out;
  size_t more = 0;
  auto differ = [&](const std::string& what, uint64_t a, uint64_t b) {
    if (a == b) {
      return;
    }
    if (out.size() >= limit) {
      ++more;
      return;
    }
    out.push_back(what + ": " + std::to_string(a) + " from deltas, " + std::to_string(b) + " reported");
  };
  differ("ballots", have.ballots, expected.ballots);
  static const ContestCounts kZero;
  for (const std::string_view cid : merged_ids(have.contests, expected.contests)) {
    const auto a_it = have.contests.find(cid);
    const auto b_it = expected.contests.find(cid);
    const ContestCounts& a = a_it == have.contests.end() ? kZero : a_it->second;
    const ContestCounts& b = b_it == expected.contests.end() ? kZero : b_it->second;
    const std::string prefix = "contest " + std::string(cid);
    differ(prefix + " ballots", a.ballots, b.ballots);
    differ(prefix + " overvotes", a.overvotes, b.overvotes);
    differ(prefix + " undervotes", a.undervotes, b.undervotes);
    for (const std::string_view sid : merged_ids(a.selections, b.selections)) {
      const auto x = a.selections.find(sid);
      const auto y = b.selections.find(sid);
      differ(prefix + " selection " + std::string(sid), x == a.selections.end() ? 0 : x->second,
             y == b.selections.end() ? 0 : y->second);
    }
  }
  if (more > 0) {
    out.push_back("... and " + std::to_string(more) + " more");
  }
  return out;
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

// The same layout for flat counts (a delta's "contests"); write_in_ids only
// when the contest has write-ins.
inline void pack_contests(Packer& packer, const FlatCounts& counts) {
  packer.pack_map(static_cast<uint32_t>(counts.contests.size()));
  for (const FlatCounts::Contest& contest : counts.contests) {
    uint32_t write_ins = 0;
    for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
      write_ins += counts.selections[k].write_in ? 1 : 0;
    }
    pack_string(packer, contest.id);
    packer.pack_map(write_ins > 0 ? 5 : 4);
    pack_string(packer, "ballots");
    packer.pack_uint64(contest.ballots);
    pack_string(packer, "overvotes");
    packer.pack_uint64(contest.overvotes);
    pack_string(packer, "undervotes");
    packer.pack_uint64(contest.undervotes);
    pack_string(packer, "selections");
    packer.pack_map(contest.count);
    for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
      pack_string(packer, counts.selections[k].id);
      packer.pack_uint64(counts.selections[k].votes);
    }
    if (write_ins > 0) {
      pack_string(packer, "write_in_ids");
      packer.pack_array(write_ins);
      for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
        if (counts.selections[k].write_in) {
          pack_string(packer, counts.selections[k].id);
        }
      }
    }
  }
}

// Reads a delta's "contests" (the layout above; any key order; unknown keys
// ignored) into flat counts whose ids view `value`'s bytes. A write-in id
// with no selection entry becomes a selection with 0 votes. Duplicate
// contest or selection ids are an error. Returns "" or why not.
inline std::string read_contests(const quorum::sdk::MsgView& value, FlatCounts& counts) {
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
    const std::string what = "contest '" + std::string(*cid) + "'";
    if (!entry.value.is_map()) {
      return what + " must be a map";
    }
    FlatCounts::Contest contest;
    contest.id = *cid;
    contest.first = static_cast<uint32_t>(counts.selections.size());
    bool seen[4] = {false, false, false, false};
    MsgView write_in_ids;
    for (const MsgEntry& field : entry.value.items()) {
      const std::string_view key = field.key_string();
      const int slot = key == "ballots" ? 0 : key == "overvotes" ? 1 : key == "undervotes" ? 2 : -1;
      if (slot >= 0) {
        const std::optional<uint64_t> number = field.value.as_uint();
        if (!number) {
          return what + ": '" + std::string(key) + "' must be a non-negative integer";
        }
        (slot == 0 ? contest.ballots : slot == 1 ? contest.overvotes : contest.undervotes) = *number;
        seen[slot] = true;
      } else if (key == "selections") {
        if (!field.value.is_map()) {
          return what + ": 'selections' must be a map";
        }
        for (const MsgEntry& selection : field.value.items()) {
          const std::optional<std::string_view> sid = selection.key.as_string();
          const std::optional<uint64_t> votes = selection.value.as_uint();
          if (!sid || !votes) {
            return what + ": 'selections' must map ids to non-negative integers";
          }
          counts.selections.push_back({*sid, *votes, false});
        }
        seen[3] = true;
      } else if (key == "write_in_ids") {
        if (!field.value.is_array()) {
          return what + ": 'write_in_ids' must be an array";
        }
        write_in_ids = field.value;
      }
    }
    if (!(seen[0] && seen[1] && seen[2] && seen[3])) {
      return what + " needs ballots, overvotes, undervotes and selections";
    }
    auto by_id = [](const FlatCounts::Selection& a, const FlatCounts::Selection& b) { return a.id < b.id; };
    std::sort(counts.selections.begin() + contest.first, counts.selections.end(), by_id);
    for (size_t k = contest.first + 1; k < counts.selections.size(); ++k) {
      if (counts.selections[k].id == counts.selections[k - 1].id) {
        return what + ": selection '" + std::string(counts.selections[k].id) + "' is listed twice";
      }
    }
    for (const MsgView& sid : write_in_ids.elements()) {
      const std::optional<std::string_view> text = sid.as_string();
      if (!text) {
        return what + ": 'write_in_ids' must hold strings";
      }
      const auto begin = counts.selections.begin() + contest.first;
      auto it = std::lower_bound(begin, counts.selections.end(), FlatCounts::Selection{*text, 0, false}, by_id);
      if (it == counts.selections.end() || it->id != *text) {
        it = counts.selections.insert(it, FlatCounts::Selection{*text, 0, false});
      }
      it->write_in = true;
    }
    contest.count = static_cast<uint32_t>(counts.selections.size()) - contest.first;
    counts.contests.push_back(contest);
  }
  std::sort(counts.contests.begin(), counts.contests.end(),
            [](const FlatCounts::Contest& a, const FlatCounts::Contest& b) { return a.id < b.id; });
  for (size_t c = 1; c < counts.contests.size(); ++c) {
    if (counts.contests[c].id == counts.contests[c - 1].id) {
      return "contest '" + std::string(counts.contests[c].id) + "' is listed twice";
    }
  }
  return {};
}

// Reads the map pack_contests writes (any key order; "write_in_ids"
// optional; unknown keys ignored) into counts.contests. Returns "" or why not.
inline std::string read_contests(const quorum::sdk::MsgView& value, Counts& counts) {
  using quorum::sdk::MsgEntry;
  using quorum::sdk::MsgView;
  if (!value.is_map()) {
    return "'contests' must be a map";
  }
  counts.contests.reserve(value.items().size());
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
        contest.selections.reserve(field.value.items().size());
        for (const MsgEntry& selection : field.value.items()) {
          const std::optional<std::string_view> sid = selection.key.as_string();
          const std::optional<uint64_t> votes = selection.value.as_uint();
          if (!sid || !votes) {
            return "contest '" + std::string(*cid) + "': 'selections' must map ids to non-negative integers";
          }
          contest.selections[*sid] = *votes;
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
          contest.write_in_ids.insert(*text);
        }
      }
    }
    if (!(seen[0] && seen[1] && seen[2] && seen[3])) {
      return "contest '" + std::string(*cid) + "' needs ballots, overvotes, undervotes and selections";
    }
    counts.contests[*cid] = std::move(contest);
  }
  return {};
}

}  // namespace quorum::plugins::election
