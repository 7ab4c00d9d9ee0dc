// Reading one NIST SP 1500-103 cast vote record (CVR) out of a msgpack object
// (msgpack-c tree) or straight out of its bytes (quorum::sdk::MsgView, the
// lazy reader: no tree at all), shared by the tally and audit plugins. Both
// readers apply the same rules and give the same Ballot and the same errors. Allocation-light: every string is a
// view into the message bytes, which live for the whole handle() call.
//
// What is read (the "current snapshot" rule both plugins use):
//   CVR.CurrentSnapshotId names the CVRSnapshot (by "@id") to count; without
//   it, the last CVRSnapshot is used (usually the only one).
//   Per CVRContest: ContestId, Overvotes, Undervotes (optional, >= 0).
//   Per CVRContestSelection: ContestSelectionId (missing: "(unidentified)").
//   Per SelectionPosition: votes = NumberVotes if present, else 1 when
//   HasIndication is "yes", else 0; allocable unless IsAllocable is "no";
//   a position carrying CVRWriteIn marks its selection as a write-in.
#pragma once

#include <quorum/sdk/msgpack_reader.hpp>
#include <quorum/sdk/msgpack_view.hpp>

#include <msgpack.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins::cvr {

inline constexpr std::string_view kUnidentifiedSelection = "(unidentified)";

struct SelectionMarks {
  std::string_view id;           // ContestSelectionId, or kUnidentifiedSelection
  uint64_t allocable_votes = 0;  // votes of positions whose IsAllocable is not "no"
  uint64_t votes = 0;            // votes of all positions (the marks the voter made)
  bool write_in = false;         // some position carries a CVRWriteIn
};

struct ContestMarks {
  std::string_view id;
  bool has_overvotes = false;
  bool has_undervotes = false;
  uint64_t overvotes = 0;   // the CVRContest's Overvotes (when has_overvotes)
  uint64_t undervotes = 0;  // the CVRContest's Undervotes (when has_undervotes)
  uint64_t allocable_votes = 0;
  uint64_t votes = 0;
  uint32_t first = 0;  // selections [first, first + count) of Ballot::selections
  uint32_t count = 0;
};

// The counting rule for one contest occurrence, shared by the tally and
// election plugins so they count over- and undervotes alike: the CVR's own
// Overvotes / Undervotes when present; otherwise, when votes_allowed N is
// known (> 0), N when marks > N (the votes lost) and N - marks when marks < N.
inline void add_over_under(const ContestMarks& marks, uint64_t allowed, uint64_t& overvotes, uint64_t& undervotes) {
  if (marks.has_overvotes) {
    overvotes += marks.overvotes;
  } else if (allowed > 0 && marks.votes > allowed) {
    overvotes += allowed;
  }
  if (marks.has_undervotes) {
    undervotes += marks.undervotes;
  } else if (allowed > 0 && marks.votes < allowed) {
    undervotes += allowed - marks.votes;
  }
}

struct Ballot {
  std::string_view ballot_preprinted_id;  // BallotPrePrintedId (may be empty)
  std::string_view unique_id;             // UniqueId (may be empty)
  std::string_view ballot_style_unit_id;  // BallotStyleUnitId (may be empty)
  std::vector<ContestMarks> contests;     // in CVR order
  std::vector<SelectionMarks> selections;

  void clear() {
    ballot_preprinted_id = unique_id = ballot_style_unit_id = {};
    contests.clear();
    selections.clear();
  }
};

namespace detail {

// The key/value pairs of a map object (the caller checked the type).
inline std::span<const msgpack::object_kv> items(const msgpack::object& map) noexcept {
  return {map.via.map.ptr, map.via.map.size};
}

inline std::string_view key_of(const msgpack::object_kv& kv) noexcept {
  if (kv.key.type != msgpack::type::STR) {
    return {};
  }
  return std::string_view(kv.key.via.str.ptr, kv.key.via.str.size);
}

inline std::string_view str_of(const msgpack::object& object) noexcept {
  return object.type == msgpack::type::STR ? std::string_view(object.via.str.ptr, object.via.str.size)
                                           : std::string_view{};
}

// A non-negative integer, or false.
inline bool read_count(const msgpack::object& object, uint64_t& out) noexcept {
  auto value = quorum::sdk::as_int(&object);
  if (!value || *value < 0) {
    return false;
  }
  out = static_cast<uint64_t>(*value);
  return true;
}

inline std::string read_position(const msgpack::object& position, SelectionMarks& selection) {
  if (position.type != msgpack::type::MAP) {
    return "a SelectionPosition is not an object";
  }
  bool has_number = false;
  uint64_t number = 0;
  bool indicated = false;
  bool allocable = true;
  for (const msgpack::object_kv& kv : items(position)) {
    const std::string_view key = key_of(kv);
    if (key == "NumberVotes") {
      if (kv.val.type == msgpack::type::NIL) {
        continue;
      }
      if (!read_count(kv.val, number)) {
        return "NumberVotes is not a non-negative integer";
      }
      has_number = true;
    } else if (key == "HasIndication") {
      indicated = str_of(kv.val) == "yes";
    } else if (key == "IsAllocable") {
      allocable = str_of(kv.val) != "no";
    } else if (key == "CVRWriteIn") {
      if (kv.val.type != msgpack::type::NIL) {
        selection.write_in = true;
      }
    }
  }
  const uint64_t votes = has_number ? number : (indicated ? 1 : 0);
  selection.votes += votes;
  if (allocable) {
    selection.allocable_votes += votes;
  }
  return {};
}

inline std::string read_contest(const msgpack::object& contest, Ballot& ballot) {
  if (contest.type != msgpack::type::MAP) {
    return "a CVRContest is not an object";
  }
  ContestMarks marks;
  marks.first = static_cast<uint32_t>(ballot.selections.size());
  bool has_id = false;
  const msgpack::object* selections = nullptr;
  for (const msgpack::object_kv& kv : items(contest)) {
    const std::string_view key = key_of(kv);
    if (key == "ContestId") {
      if (kv.val.type != msgpack::type::STR) {
        return "a CVRContest has a non-string ContestId";
      }
      marks.id = str_of(kv.val);
      has_id = true;
    } else if (key == "CVRContestSelection") {
      selections = &kv.val;
    } else if (key == "Overvotes") {
      if (kv.val.type == msgpack::type::NIL) {
        continue;
      }
      if (!read_count(kv.val, marks.overvotes)) {
        return "Overvotes is not a non-negative integer";
      }
      marks.has_overvotes = true;
    } else if (key == "Undervotes") {
      if (kv.val.type == msgpack::type::NIL) {
        continue;
      }
      if (!read_count(kv.val, marks.undervotes)) {
        return "Undervotes is not a non-negative integer";
      }
      marks.has_undervotes = true;
    }
  }
  if (!has_id) {
    return "a CVRContest has no ContestId";
  }
  if (selections != nullptr && selections->type != msgpack::type::NIL) {
    if (selections->type != msgpack::type::ARRAY) {
      return "CVRContestSelection of contest '" + std::string(marks.id) + "' is not an array";
    }
    for (const msgpack::object& selection : quorum::sdk::as_array(selections)) {
      if (selection.type != msgpack::type::MAP) {
        return "a CVRContestSelection of contest '" + std::string(marks.id) + "' is not an object";
      }
      SelectionMarks entry;
      entry.id = kUnidentifiedSelection;
      for (const msgpack::object_kv& kv : items(selection)) {
        const std::string_view key = key_of(kv);
        if (key == "ContestSelectionId") {
          if (kv.val.type == msgpack::type::STR) {
            entry.id = str_of(kv.val);
          } else if (kv.val.type != msgpack::type::NIL) {
            return "a ContestSelectionId of contest '" + std::string(marks.id) + "' is not a string";
          }
        } else if (key == "SelectionPosition") {
          if (kv.val.type == msgpack::type::NIL) {
            continue;
          }
          if (kv.val.type != msgpack::type::ARRAY) {
            return "SelectionPosition of contest '" + std::string(marks.id) + "' is not an array";
          }
          for (const msgpack::object& position : quorum::sdk::as_array(&kv.val)) {
            std::string error = read_position(position, entry);
            if (!error.empty()) {
              return error + " (contest '" + std::string(marks.id) + "')";
            }
          }
        }
      }
      marks.allocable_votes += entry.allocable_votes;
      marks.votes += entry.votes;
      ballot.selections.push_back(entry);
    }
  }
  marks.count = static_cast<uint32_t>(ballot.selections.size()) - marks.first;
  ballot.contests.push_back(marks);
  return {};
}

}  // namespace detail

// Reads `data` (the "data" of a "cvr" message) into `ballot`. Returns an
// empty string on success, else why the data is not a usable CVR.
inline std::string read(const msgpack::object& data, Ballot& ballot) {
  ballot.clear();
  if (data.type != msgpack::type::MAP) {
    return "cvr data is not a CVR object";
  }
  const msgpack::object* snapshots = nullptr;
  const msgpack::object* current = nullptr;
  for (const msgpack::object_kv& kv : detail::items(data)) {
    const std::string_view key = detail::key_of(kv);
    if (key == "CVRSnapshot") {
      snapshots = &kv.val;
    } else if (key == "CurrentSnapshotId") {
      current = &kv.val;
    } else if (key == "BallotPrePrintedId") {
      ballot.ballot_preprinted_id = detail::str_of(kv.val);
    } else if (key == "UniqueId") {
      ballot.unique_id = detail::str_of(kv.val);
    } else if (key == "BallotStyleUnitId") {
      ballot.ballot_style_unit_id = detail::str_of(kv.val);
    }
  }
  if (snapshots == nullptr || snapshots->type != msgpack::type::ARRAY || snapshots->via.array.size == 0) {
    return "cvr data is not a CVR object (no CVRSnapshot)";
  }
  const msgpack::object* snapshot = nullptr;
  if (current != nullptr && current->type != msgpack::type::NIL) {
    if (current->type != msgpack::type::STR) {
      return "CurrentSnapshotId is not a string";
    }
    const std::string_view wanted = detail::str_of(*current);
    for (const msgpack::object& candidate : quorum::sdk::as_array(snapshots)) {
      const msgpack::object* id = quorum::sdk::find(candidate, "@id");
      if (id != nullptr && detail::str_of(*id) == wanted && id->type == msgpack::type::STR) {
        snapshot = &candidate;
        break;
      }
    }
    if (snapshot == nullptr) {
      return "CurrentSnapshotId '" + std::string(wanted) + "' names no CVRSnapshot";
    }
  } else {
    snapshot = &snapshots->via.array.ptr[snapshots->via.array.size - 1];
  }
  if (snapshot->type != msgpack::type::MAP) {
    return "the current CVRSnapshot is not an object";
  }
  const msgpack::object* contests = quorum::sdk::find(*snapshot, "CVRContest");
  if (contests == nullptr || contests->type == msgpack::type::NIL) {
    return {};
  }
  if (contests->type != msgpack::type::ARRAY) {
    return "CVRContest is not an array";
  }
  for (const msgpack::object& contest : quorum::sdk::as_array(contests)) {
    std::string error = detail::read_contest(contest, ballot);
    if (!error.empty()) {
      return error;
    }
  }
  return {};
}

namespace view_detail {

using quorum::sdk::MsgEntry;
using quorum::sdk::MsgView;

inline std::string_view str_of(const MsgView& value) { return value.as_string().value_or(std::string_view{}); }

// A non-negative integer, or false.
inline bool read_count(const MsgView& value, uint64_t& out) {
  auto number = value.as_int();
  if (!number || *number < 0) {
    return false;
  }
  out = static_cast<uint64_t>(*number);
  return true;
}

inline std::string read_position(const MsgView& position, SelectionMarks& selection) {
  if (!position.is_map()) {
    return "a SelectionPosition is not an object";
  }
  bool has_number = false;
  uint64_t number = 0;
  bool indicated = false;
  bool allocable = true;
  for (const MsgEntry& kv : position.items()) {
    const std::string_view key = kv.key_string();
    if (key == "NumberVotes") {
      if (kv.value.is_nil()) {
        continue;
      }
      if (!read_count(kv.value, number)) {
        return "NumberVotes is not a non-negative integer";
      }
      has_number = true;
    } else if (key == "HasIndication") {
      indicated = str_of(kv.value) == "yes";
    } else if (key == "IsAllocable") {
      allocable = str_of(kv.value) != "no";
    } else if (key == "CVRWriteIn") {
      if (!kv.value.is_nil()) {
        selection.write_in = true;
      }
    }
  }
  const uint64_t votes = has_number ? number : (indicated ? 1 : 0);
  selection.votes += votes;
  if (allocable) {
    selection.allocable_votes += votes;
  }
  return {};
}

// A selection error found while walking CVRContestSelection inline; it is
// reported after the contest's other fields are checked, with the contest's
// final ContestId, so the errors and their precedence are exactly those of
// the msgpack-c reader above (which walks the selections after the loop).
enum class SelectionError { kNone, kNotArray, kNotObject, kBadSelectionId, kPositionsNotArray, kPosition };

// Walks one CVRContestSelection value into ballot.selections and marks.
// Returns the first error (and its text, for kPosition); stops there.
inline SelectionError read_selections(const MsgView& selections, ContestMarks& marks, Ballot& ballot,
                                      std::string& position_error) {
  if (selections.is_nil()) {
    return SelectionError::kNone;
  }
  if (!selections.is_array()) {
    return SelectionError::kNotArray;
  }
  for (const MsgView& selection : selections.elements()) {
    if (!selection.is_map()) {
      return SelectionError::kNotObject;
    }
    SelectionMarks entry;
    entry.id = kUnidentifiedSelection;
    for (const MsgEntry& kv : selection.items()) {
      const std::string_view key = kv.key_string();
      if (key == "ContestSelectionId") {
        if (auto id = kv.value.as_string()) {
          entry.id = *id;
        } else if (!kv.value.is_nil()) {
          return SelectionError::kBadSelectionId;
        }
      } else if (key == "SelectionPosition") {
        if (kv.value.is_nil()) {
          continue;
        }
        if (!kv.value.is_array()) {
          return SelectionError::kPositionsNotArray;
        }
        for (const MsgView& position : kv.value.elements()) {
          position_error = read_position(position, entry);
          if (!position_error.empty()) {
            return SelectionError::kPosition;
          }
        }
      }
    }
    marks.allocable_votes += entry.allocable_votes;
    marks.votes += entry.votes;
    ballot.selections.push_back(entry);
  }
  return SelectionError::kNone;
}

inline std::string selection_error_text(SelectionError error, std::string_view contest_id,
                                        const std::string& position_error);

inline std::string read_contest(const MsgView& contest, Ballot& ballot) {
  if (!contest.is_map()) {
    return "a CVRContest is not an object";
  }
  ContestMarks marks;
  marks.first = static_cast<uint32_t>(ballot.selections.size());
  bool has_id = false;
  SelectionError selection_error = SelectionError::kNone;
  std::string position_error;
  for (const MsgEntry& kv : contest.items()) {
    const std::string_view key = kv.key_string();
    if (key == "ContestId") {
      auto id = kv.value.as_string();
      if (!id) {
        return "a CVRContest has a non-string ContestId";
      }
      marks.id = *id;
      has_id = true;
    } else if (key == "CVRContestSelection") {
      // Walked here, in one pass; the last CVRContestSelection wins, as above.
      ballot.selections.resize(marks.first);
      marks.allocable_votes = 0;
      marks.votes = 0;
      position_error.clear();
      selection_error = read_selections(kv.value, marks, ballot, position_error);
    } else if (key == "Overvotes") {
      if (kv.value.is_nil()) {
        continue;
      }
      if (!read_count(kv.value, marks.overvotes)) {
        return "Overvotes is not a non-negative integer";
      }
      marks.has_overvotes = true;
    } else if (key == "Undervotes") {
      if (kv.value.is_nil()) {
        continue;
      }
      if (!read_count(kv.value, marks.undervotes)) {
        return "Undervotes is not a non-negative integer";
      }
      marks.has_undervotes = true;
    }
  }
  if (!has_id) {
    return "a CVRContest has no ContestId";
  }
  if (selection_error != SelectionError::kNone) {
    return selection_error_text(selection_error, marks.id, position_error);
  }
  marks.count = static_cast<uint32_t>(ballot.selections.size()) - marks.first;
  ballot.contests.push_back(marks);
  return {};
}

inline std::string selection_error_text(SelectionError error, std::string_view contest_id,
                                        const std::string& position_error) {
  const std::string id(contest_id);
  switch (error) {
    case SelectionError::kNone:
      break;
    case SelectionError::kNotArray:
      return "CVRContestSelection of contest '" + id + "' is not an array";
    case SelectionError::kNotObject:
      return "a CVRContestSelection of contest '" + id + "' is not an object";
    case SelectionError::kBadSelectionId:
      return "a ContestSelectionId of contest '" + id + "' is not a string";
    case SelectionError::kPositionsNotArray:
      return "SelectionPosition of contest '" + id + "' is not an array";
    case SelectionError::kPosition:
      return position_error + " (contest '" + id + "')";
  }
  return {};
}

// One CVRSnapshot walked in a single pass: whether it is a map, its first
// "@id" (if a string) and its first CVRContest, counted into the ballot.
struct SnapshotRead {
  bool is_map = false;
  std::optional<std::string_view> id;
  std::string error;  // the first contest error, or "CVRContest is not an array"
};

inline SnapshotRead read_snapshot(const MsgView& snapshot, Ballot& ballot) {
  SnapshotRead read;
  if (!snapshot.is_map()) {
    return read;
  }
  read.is_map = true;
  bool seen_id = false;
  bool seen_contests = false;
  for (const MsgEntry& kv : snapshot.items()) {
    const std::optional<std::string_view> key = kv.key.as_string();
    if (!key) {
      continue;
    }
    if (*key == "@id" && !seen_id) {
      seen_id = true;
      read.id = kv.value.as_string();
    } else if (*key == "CVRContest" && !seen_contests) {
      seen_contests = true;
      if (kv.value.is_nil()) {
        continue;
      }
      if (!kv.value.is_array()) {
        read.error = "CVRContest is not an array";
        continue;
      }
      for (const MsgView& contest : kv.value.elements()) {
        read.error = read_contest(contest, ballot);
        if (!read.error.empty()) {
          break;
        }
      }
    }
  }
  return read;
}

}  // namespace view_detail

// The same as read(const msgpack::object&, ...) over the CVR's bytes with the
// lazy reader. Throws quorum::sdk::MalformedMsgpack only for bytes that are
// not msgpack (the SDK validates a lazy message before handle(), so a
// handler never sees that).
inline std::string read(const quorum::sdk::MsgView& data, Ballot& ballot) {
  using quorum::sdk::MsgEntry;
  using quorum::sdk::MsgView;
  ballot.clear();
  if (!data.is_map()) {
    return "cvr data is not a CVR object";
  }
  MsgView snapshots;
  MsgView current;
  // The usual CVR has one snapshot: it is the current one whatever
  // CurrentSnapshotId says (or the CVR is rejected), so it is counted while
  // passing, in one pass over its bytes; the checks below then decide.
  bool walked = false;
  view_detail::SnapshotRead only;
  for (const MsgEntry& kv : data.items()) {
    const std::string_view key = kv.key_string();
    if (key == "CVRSnapshot") {
      snapshots = kv.value;
      walked = false;
      if (kv.value.is_array() && kv.value.elements().size() == 1) {
        ballot.contests.clear();
        ballot.selections.clear();
        for (const MsgView& snapshot : kv.value.elements()) {
          only = view_detail::read_snapshot(snapshot, ballot);
        }
        walked = true;
      }
    } else if (key == "CurrentSnapshotId") {
      current = kv.value;
    } else if (key == "BallotPrePrintedId") {
      ballot.ballot_preprinted_id = view_detail::str_of(kv.value);
    } else if (key == "UniqueId") {
      ballot.unique_id = view_detail::str_of(kv.value);
    } else if (key == "BallotStyleUnitId") {
      ballot.ballot_style_unit_id = view_detail::str_of(kv.value);
    }
  }
  if (!snapshots.present() || !snapshots.is_array() || snapshots.elements().empty()) {
    return "cvr data is not a CVR object (no CVRSnapshot)";
  }
  if (walked) {
    if (current.present() && !current.is_nil()) {
      const std::optional<std::string_view> wanted = current.as_string();
      if (!wanted) {
        return "CurrentSnapshotId is not a string";
      }
      if (!(only.id && *only.id == *wanted)) {
        return "CurrentSnapshotId '" + std::string(*wanted) + "' names no CVRSnapshot";
      }
    }
    if (!only.is_map) {
      return "the current CVRSnapshot is not an object";
    }
    return only.error;
  }
  ballot.contests.clear();
  ballot.selections.clear();
  MsgView snapshot;
  if (current.present() && !current.is_nil()) {
    const std::optional<std::string_view> wanted = current.as_string();
    if (!wanted) {
      return "CurrentSnapshotId is not a string";
    }
    for (const MsgView& candidate : snapshots.elements()) {
      const std::optional<MsgView> id = candidate.find("@id");
      if (id && id->as_string() == wanted) {
        snapshot = candidate;
        break;
      }
    }
    if (!snapshot.present()) {
      return "CurrentSnapshotId '" + std::string(*wanted) + "' names no CVRSnapshot";
    }
  } else {
    const MsgView::ArrayRange all = snapshots.elements();
    snapshot = all.at(all.size() - 1);
  }
  if (!snapshot.is_map()) {
    return "the current CVRSnapshot is not an object";
  }
  const std::optional<MsgView> contests = snapshot.find("CVRContest");
  if (!contests || contests->is_nil()) {
    return {};
  }
  if (!contests->is_array()) {
    return "CVRContest is not an array";
  }
  for (const MsgView& contest : contests->elements()) {
    std::string error = view_detail::read_contest(contest, ballot);
    if (!error.empty()) {
      return error;
    }
  }
  return {};
}

}  // namespace quorum::plugins::cvr
