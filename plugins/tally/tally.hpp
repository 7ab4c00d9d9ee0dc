// tally: plurality counts per contest and selection from NIST SP 1500-103
// cast vote records. One actor per reporting unit (a precinct); a county's
// totals are the sum of its precincts' projections.
//
// Built twice from these sources: tally-1.0.0 (projection_schema 1) and
// tally-2.0.0 (projection_schema 2, adds per-contest "ballots"; it has no
// migrate, so a host swapping 1.0.0 -> 2.0.0 rebuilds it by replaying the log).
//
// MESSAGES
//   {"type": "cvr", "data": <one CVR object>}: folded in as below.
//   A "cvr" whose data is not a CVR (no CVRSnapshot, CurrentSnapshotId naming
//   no snapshot, wrongly typed fields) is rejected with the reason; the
//   projection is unchanged. Any other message type is accepted unchanged.
//
// COUNTING (from the current snapshot, see plugins/tally/cvr_view.hpp)
//   selections[sid] += Σ votes of the selection's SelectionPositions whose
//                      IsAllocable is not "no" (votes = NumberVotes, or 1 when
//                      NumberVotes is missing and HasIndication is "yes")
//   write_in_ids    ∪= the selection, when a position has CVRWriteIn (or the
//                      init config lists it under "write_ins")
//   write_ins        = Σ selections[sid] for sid in write_in_ids (derived when
//                      encoding, so it does not depend on ballot order)
//   overvotes       += CVRContest.Overvotes when present; else, when
//                      votes_allowed N is known: N if marks > N (the votes
//                      lost), where marks = Σ votes of all positions
//   undervotes      += CVRContest.Undervotes when present; else, when N is
//                      known: N - marks if marks < N
//   ballots (v2)    += 1 per ballot that contains the contest
//   ballots (top)   += 1 per accepted "cvr" message
//
// INIT CONFIG (msgpack; optional; the same document the audit plugin takes)
//   {"contests": {contest_id: {"votes_allowed": n, "selections": [sid...],
//                              "write_ins": [sid...]}}, ...other keys ignored}
//   Every configured contest and selection starts at 0, so the projection of
//   a precinct lists them before the first ballot; write_ins are flagged.
//
// PROJECTION LAYOUT (msgpack; canonical: fixed key order, maps sorted by key
// bytes, integers in their shortest msgpack form, so equal tallies are equal
// bytes):
//   {
//     "ballots":  uint,                    // accepted "cvr" messages
//     "contests": {                        // sorted by contest id
//       contest_id: {
//         "ballots":       uint,           // SCHEMA 2 ONLY: ballots containing the contest
//         "overvotes":     uint,
//         "selections":    {selection_id: uint votes, ...},   // sorted by id
//         "undervotes":    uint,
//         "votes_allowed": uint,           // from the init config; 0 = unknown
//         "write_in_ids":  [selection_id, ...],  // sorted: write-in selections
//                                          //   (configured or seen with CVRWriteIn)
//         "write_ins":     uint            // votes for write-ins (derived, see above)
//       }, ...
//     },
//     "schema":   uint                     // 1 or 2 (= projection_schema)
//   }
//   Keys appear exactly in this order. A reader should ignore unknown keys.
//   In memory it is a flat sorted vector of contests, one of selections
//   grouped by contest, and one string arena for the ids.
#pragma once

#include "cvr_view.hpp"

#include <quorum/sdk/sdk.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins {

namespace tally_detail {

using Packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_str(Packer& packer, std::string_view text) {
  if (text.size() < 32) {  // fixstr: header and body in one buffer write
    char bytes[32];
    bytes[0] = static_cast<char>(0xa0 | text.size());
    std::memcpy(bytes + 1, text.data(), text.size());
    packer.pack_str_body(bytes, static_cast<uint32_t>(text.size() + 1));
    return;
  }
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

// A key known at compile time (< 32 bytes), written as one fixstr in one
// buffer write. (pack_str_body appends raw bytes: here header + body.)
template <size_t N>
inline void pack_key(Packer& packer, const char (&text)[N]) {
  static_assert(N - 1 < 32, "fixstr keys only");
  char bytes[N];
  bytes[0] = static_cast<char>(0xa0 | (N - 1));
  for (size_t i = 0; i + 1 < N; ++i) {
    bytes[i + 1] = text[i];
  }
  packer.pack_str_body(bytes, static_cast<uint32_t>(N));
}

inline std::span<const msgpack::object_kv> items(const msgpack::object& map) {
  if (map.type != msgpack::type::MAP) {
    throw quorum::sdk::InvalidMessage("tally projection: expected a map");
  }
  return {map.via.map.ptr, map.via.map.size};
}

inline std::string_view key_of(const msgpack::object_kv& kv) {
  if (kv.key.type != msgpack::type::STR) {
    throw quorum::sdk::InvalidMessage("tally projection: non-string key");
  }
  return {kv.key.via.str.ptr, kv.key.via.str.size};
}

inline uint64_t count_of(const msgpack::object& object) {
  if (object.type != msgpack::type::POSITIVE_INTEGER) {
    throw quorum::sdk::InvalidMessage("tally projection: expected a non-negative integer");
  }
  return object.via.u64;
}

inline std::string_view string_of(const msgpack::object& object) {
  if (object.type != msgpack::type::STR) {
    throw quorum::sdk::InvalidMessage("tally projection: expected a string");
  }
  return {object.via.str.ptr, object.via.str.size};
}

// The same checks over the lazy reader's views (decode_bytes).
inline quorum::sdk::MsgView::MapRange map_items(const quorum::sdk::MsgView& map) {
  if (!map.is_map()) {
    throw quorum::sdk::InvalidMessage("tally projection: expected a map");
  }
  return map.items();
}

inline std::string_view string_of(const quorum::sdk::MsgView& value) {
  const std::optional<std::string_view> text = value.as_string();
  if (!text) {
    throw quorum::sdk::InvalidMessage("tally projection: expected a string");
  }
  return *text;
}

inline std::string_view key_of(const quorum::sdk::MsgEntry& entry) {
  const std::optional<std::string_view> text = entry.key.as_string();
  if (!text) {
    throw quorum::sdk::InvalidMessage("tally projection: non-string key");
  }
  return *text;
}

inline uint64_t count_of(const quorum::sdk::MsgView& value) {
  const std::optional<uint64_t> count = value.as_uint();
  if (!count) {
    throw quorum::sdk::InvalidMessage("tally projection: expected a non-negative integer");
  }
  return *count;
}

}  // namespace tally_detail

// The tally projection in memory (see the layout above).
struct TallyState {
  struct Name {
    uint32_t offset = 0;
    uint32_t size = 0;
  };
  struct Selection {
    Name id;
    uint64_t votes = 0;
    bool write_in = false;  // configured or seen with CVRWriteIn
  };
  struct Contest {
    Name id;
    uint64_t ballots = 0;
    uint64_t overvotes = 0;
    uint64_t undervotes = 0;
    uint64_t votes_allowed = 0;
    uint32_t first = 0;  // selections [first, first + count)
    uint32_t count = 0;
  };

  uint64_t ballots = 0;
  std::string names;                  // arena of every id
  std::vector<Contest> contests;      // sorted by id
  std::vector<Selection> selections;  // grouped by contest (in contest order), sorted by id within

  std::string_view name(Name n) const noexcept { return std::string_view(names.data() + n.offset, n.size); }

  Name intern(std::string_view text) {
    Name n{static_cast<uint32_t>(names.size()), static_cast<uint32_t>(text.size())};
    names.append(text);
    return n;
  }

  // Index of the contest `id`, inserting an empty one in order if absent.
  size_t contest(std::string_view id) {
    if (contests.empty() || name(contests.back().id) < id) {  // the common case when decoding: append
      Contest fresh;
      fresh.first = static_cast<uint32_t>(selections.size());
      fresh.id = intern(id);
      contests.push_back(fresh);
      return contests.size() - 1;
    }
    auto it = std::lower_bound(contests.begin(), contests.end(), id,
                               [this](const Contest& c, std::string_view key) { return name(c.id) < key; });
    if (it != contests.end() && name(it->id) == id) {
      return static_cast<size_t>(it - contests.begin());
    }
    Contest fresh;
    fresh.first = it == contests.end() ? static_cast<uint32_t>(selections.size()) : it->first;
    fresh.id = intern(id);
    const auto inserted = contests.insert(it, fresh);  // may reallocate: take begin() after
    return static_cast<size_t>(inserted - contests.begin());
  }

  // Index (into selections) of selection `id` of contest index `c`, inserting it if absent.
  size_t selection(size_t c, std::string_view id) {
    Contest& contest_entry = contests[c];
    if (c + 1 == contests.size() &&
        (contest_entry.count == 0 || name(selections.back().id) < id)) {  // decoding: append
      Selection fresh;
      fresh.id = intern(id);
      selections.push_back(fresh);
      contest_entry.count += 1;
      return selections.size() - 1;
    }
    auto begin = selections.begin() + contest_entry.first;
    auto end = begin + contest_entry.count;
    auto it = std::lower_bound(begin, end, id,
                               [this](const Selection& s, std::string_view key) { return name(s.id) < key; });
    if (it != end && name(it->id) == id) {
      return static_cast<size_t>(it - selections.begin());
    }
    Selection fresh;
    fresh.id = intern(id);
    const auto inserted = selections.insert(it, fresh);  // may reallocate: take begin() after
    const size_t index = static_cast<size_t>(inserted - selections.begin());
    contests[c].count += 1;
    for (size_t later = c + 1; later < contests.size(); ++later) {
      contests[later].first += 1;
    }
    return index;
  }

  bool operator==(const TallyState& other) const {
    if (ballots != other.ballots || contests.size() != other.contests.size() ||
        selections.size() != other.selections.size()) {
      return false;
    }
    for (size_t i = 0; i < contests.size(); ++i) {
      const Contest& a = contests[i];
      const Contest& b = other.contests[i];
      if (name(a.id) != other.name(b.id) || a.ballots != b.ballots || a.overvotes != b.overvotes ||
          a.undervotes != b.undervotes || a.votes_allowed != b.votes_allowed ||
          a.count != b.count) {
        return false;
      }
    }
    for (size_t i = 0; i < selections.size(); ++i) {
      if (name(selections[i].id) != other.name(other.selections[i].id) ||
          selections[i].votes != other.selections[i].votes || selections[i].write_in != other.selections[i].write_in) {
        return false;
      }
    }
    return true;
  }
};

template <uint32_t Schema>
struct BasicTally {
  static_assert(Schema == 1 || Schema == 2, "tally has projection schemas 1 and 2");
  static constexpr const char* name = "tally";
  static constexpr const char* version = Schema == 1 ? "1.0.0" : "2.0.0";
  static constexpr uint32_t projection_schema = Schema;

  using Projection = TallyState;

  // Init config -> the starting projection (configured contests/selections at 0).
  static Projection initial(const msgpack::object* config) {
    Projection projection;
    if (config == nullptr || config->type == msgpack::type::NIL) {
      return projection;
    }
    if (config->type != msgpack::type::MAP) {
      throw quorum::sdk::InvalidMessage("tally config must be a map");
    }
    const msgpack::object* contests = quorum::sdk::find(*config, "contests");
    if (contests == nullptr || contests->type == msgpack::type::NIL) {
      return projection;
    }
    for (const msgpack::object_kv& kv : tally_detail::items(*contests)) {
      const size_t c = projection.contest(tally_detail::string_of(kv.key));
      if (kv.val.type != msgpack::type::MAP) {
        throw quorum::sdk::InvalidMessage("tally config: contest '" + std::string(tally_detail::string_of(kv.key)) +
                                          "' must be a map");
      }
      if (auto allowed = quorum::sdk::as_int(quorum::sdk::find(kv.val, "votes_allowed"))) {
        if (*allowed < 0) {
          throw quorum::sdk::InvalidMessage("tally config: votes_allowed must be >= 0");
        }
        projection.contests[c].votes_allowed = static_cast<uint64_t>(*allowed);
      }
      for (const msgpack::object& sid : quorum::sdk::as_array(quorum::sdk::find(kv.val, "selections"))) {
        projection.selection(c, tally_detail::string_of(sid));
      }
      for (const msgpack::object& sid : quorum::sdk::as_array(quorum::sdk::find(kv.val, "write_ins"))) {
        projection.selections[projection.selection(c, tally_detail::string_of(sid))].write_in = true;
      }
    }
    return projection;
  }

  // The SDK's fast paths (sdk.hpp): the envelope and the CVR are read with
  // the lazy reader (message.data_view; no msgpack-c tree), and the
  // projection is decoded straight from its bytes.
  static constexpr bool lazy_message = true;
  // handle() rejects a bad CVR before apply(), which cannot fail, so the
  // SDK's handle_batch need not copy the projection before every message.
  static constexpr bool decides_before_mutating = true;

  // Projection bytes -> TallyState. Accepts any key order (a hand-written
  // projection becomes canonical when re-encoded) and ignores unknown keys;
  // wrongly typed fields throw InvalidMessage("tally projection: ...").
  static void decode_bytes(std::string_view bytes, Projection& projection) {
    using namespace tally_detail;
    using quorum::sdk::MsgEntry;
    using quorum::sdk::MsgView;
    projection = Projection{};
    projection.names.reserve(bytes.size() / 2 + 64);
    quorum::sdk::SkipMemo memo;
    for (const MsgEntry& top : map_items(MsgView::of(bytes, &memo))) {
      const std::string_view key = key_of(top);
      if (key == "ballots") {
        projection.ballots = count_of(top.value);
      } else if (key == "contests") {
        const MsgView::MapRange contests = map_items(top.value);
        projection.contests.reserve(contests.size());
        projection.selections.reserve(4 * contests.size());
        for (const MsgEntry& entry : contests) {
          const size_t c = projection.contest(string_of(entry.key));
          for (const MsgEntry& field : map_items(entry.value)) {
            const std::string_view name_ = key_of(field);
            Projection::Contest& contest = projection.contests[c];
            if (name_ == "selections") {
              for (const MsgEntry& sel : map_items(field.value)) {
                projection.selections[projection.selection(c, string_of(sel.key))].votes = count_of(sel.value);
              }
            } else if (name_ == "write_in_ids") {
              if (!field.value.is_array()) {
                throw quorum::sdk::InvalidMessage("tally projection: write_in_ids must be an array");
              }
              for (const MsgView& sid : field.value.elements()) {
                projection.selections[projection.selection(c, string_of(sid))].write_in = true;
              }
            } else if (name_ == "overvotes") {
              contest.overvotes = count_of(field.value);
            } else if (name_ == "undervotes") {
              contest.undervotes = count_of(field.value);
            } else if (name_ == "votes_allowed") {
              contest.votes_allowed = count_of(field.value);
            } else if (name_ == "ballots") {
              contest.ballots = count_of(field.value);
            }
          }
        }
      }
    }
  }

  static void encode(tally_detail::Packer& packer, const Projection& projection) {
    using tally_detail::pack_key;
    using tally_detail::pack_str;
    packer.pack_map(3);
    pack_key(packer, "ballots");
    packer.pack(projection.ballots);
    pack_key(packer, "contests");
    packer.pack_map(static_cast<uint32_t>(projection.contests.size()));
    for (const Projection::Contest& contest : projection.contests) {
      pack_str(packer, projection.name(contest.id));
      packer.pack_map(Schema == 2 ? 7 : 6);
      if constexpr (Schema == 2) {
        pack_key(packer, "ballots");
        packer.pack(contest.ballots);
      }
      pack_key(packer, "overvotes");
      packer.pack(contest.overvotes);
      pack_key(packer, "selections");
      packer.pack_map(contest.count);
      uint32_t write_in_ids = 0;
      uint64_t write_in_votes = 0;
      for (uint32_t i = contest.first; i < contest.first + contest.count; ++i) {
        const Projection::Selection& selection = projection.selections[i];
        pack_str(packer, projection.name(selection.id));
        packer.pack(selection.votes);
        write_in_ids += selection.write_in ? 1 : 0;
        write_in_votes += selection.write_in ? selection.votes : 0;
      }
      pack_key(packer, "undervotes");
      packer.pack(contest.undervotes);
      pack_key(packer, "votes_allowed");
      packer.pack(contest.votes_allowed);
      pack_key(packer, "write_in_ids");
      packer.pack_array(write_in_ids);
      for (uint32_t i = contest.first; i < contest.first + contest.count; ++i) {
        if (projection.selections[i].write_in) {
          pack_str(packer, projection.name(projection.selections[i].id));
        }
      }
      pack_key(packer, "write_ins");
      packer.pack(write_in_votes);
    }
    pack_key(packer, "schema");
    packer.pack(Schema);
  }

  quorum::sdk::Outcome handle(const quorum::sdk::Context& /*context*/, const quorum::sdk::Message& message,
                              Projection& projection) const {
    if (message.type != "cvr") {
      return quorum::sdk::Outcome::accept();
    }
    cvr::Ballot ballot;
    ballot.contests.reserve(16);
    ballot.selections.reserve(64);
    std::string error = cvr::read(message.data_view, ballot);
    if (!error.empty()) {
      return quorum::sdk::Outcome::reject(std::move(error));
    }
    apply(ballot, projection);
    return quorum::sdk::Outcome::accept();
  }

  // Folds one well-formed ballot into the projection (cannot fail).
  static void apply(const cvr::Ballot& ballot, Projection& projection) {
    projection.ballots += 1;
    for (size_t i = 0; i < ballot.contests.size(); ++i) {
      const cvr::ContestMarks& marks = ballot.contests[i];
      const size_t c = projection.contest(marks.id);
      // A contest listed twice on one ballot is one ballot for the contest.
      bool repeated = false;
      for (size_t j = 0; j < i; ++j) {
        repeated = repeated || ballot.contests[j].id == marks.id;
      }
      for (uint32_t k = marks.first; k < marks.first + marks.count; ++k) {
        const cvr::SelectionMarks& selection = ballot.selections[k];
        Projection::Selection& entry = projection.selections[projection.selection(c, selection.id)];
        entry.votes += selection.allocable_votes;
        entry.write_in = entry.write_in || selection.write_in;
      }
      Projection::Contest& contest = projection.contests[c];
      if (!repeated) {
        contest.ballots += 1;
      }
      cvr::add_over_under(marks, contest.votes_allowed, contest.overvotes, contest.undervotes);
    }
  }
};

using Tally1 = BasicTally<1>;
using Tally2 = BasicTally<2>;

}  // namespace quorum::plugins
