// audit: checks every cast vote record an actor (a precinct) receives and
// reports what it finds. It accepts ballots and records findings; it rejects
// only a duplicate ballot, and only when configured to (reject_duplicates).
//
// MESSAGES
//   {"id": ballot id, "type": "cvr", "time": unix ms, "data": <CVR object>}
//   Any other type is accepted unchanged.
//
// CHECKS, per "cvr" message (in this order):
//   window          time < start_ms or time > end_ms (inclusive window)
//                   -> finding "outside_window" (any disposition)
//   malformed       data is not a usable CVR (the reason the tally plugin
//                   would reject it) -> finding "malformed"; its ids are not
//                   remembered (a corrected resubmission is not a duplicate)
//   duplicate       any of its ballot ids was seen before: the message id,
//                   the CVR's BallotPrePrintedId, the CVR's UniqueId (each
//                   hashed in its own namespace: FNV-1a 64 of a tag byte
//                   'm' / 'p' / 'u' followed by the id bytes) -> finding
//                   "duplicate", or a rejection with reject_duplicates
//                   (then nothing at all changes)
//   otherwise the ballot is "tallied" and its contests are checked:
//   unknown_contest   a CVRContest whose ContestId is not in the config
//   unknown_selection a selection not listed for its (known) contest
//                     ("(unidentified)" write-ins are not reported)
//   overvote          allocable votes > votes_allowed (when configured), or
//                     the CVRContest's Overvotes > 0
//   undervote         (counted only, never listed: blank contests are
//                     normal) Undervotes > 0, or votes < votes_allowed
//   Without "contests" in the config, unknown_contest / unknown_selection and
//   the votes_allowed part of overvote are skipped; without "window" the
//   window check is skipped; "checks" in the projection says so.
//
// RECONCILIATION (asserted on every message and on decode; a violation fails
// the call): every "cvr" message in the projection has exactly one
// disposition, so
//     received == tallied + malformed + duplicates
//   received   = "cvr" messages this projection folded in (audit-rejected
//                duplicates are not received: a rejection changes nothing)
//   tallied    = well-formed, first-seen ballots (what should be counted once)
//   malformed  = messages the tally plugin rejects
//   duplicates = well-formed ballots with an id seen before
//   ("rejected" in the sense of "not counted" = malformed + duplicates.) Over
//   the same stream the tally plugin's "ballots" = tallied + duplicates.
//
// INIT CONFIG (msgpack; optional; the same document the tally plugin takes)
//   {"contests": {contest_id: {"selections": [sid...], "votes_allowed": n,
//                              ...}},
//    "window": {"start_ms": int, "end_ms": int},
//    "reject_duplicates": bool}
//
// PROJECTION LAYOUT (msgpack; canonical: keys in this order, maps sorted by
// key bytes, shortest integer forms):
//   {
//     "checks": {"contests": str, "duplicates": str, "overvotes": str, "window": str},
//               // "on", "on (rejecting)", or "skipped: <why>" / "partial: <why>"
//     "config": {"contests": {contest_id: {"selections": [sid...sorted],
//                                          "votes_allowed": uint (0 = unknown)}} | nil,
//                "reject_duplicates": bool,
//                "window": {"end_ms": int, "start_ms": int} | nil},
//     "counts": {"duplicate": uint, "malformed": uint, "outside_window": uint,
//                "overvote": uint, "undervote": uint, "unknown_contest": uint,
//                "unknown_selection": uint},        // findings per kind, ever
//     "findings": [{"detail": str, "id": str, "kind": str, "seq": uint}, ...],
//               // the most recent kMaxFindings (100), oldest first; seq = the
//               // message's index among received "cvr" messages (0-based)
//     "ids": bin,  // sorted, distinct big-endian uint64 FNV-1a hashes of every
//                  // remembered ballot id (8 bytes each)
//     "reconcile": {"duplicates": uint, "malformed": uint, "received": uint,
//                   "tallied": uint},
//     "schema": 1
//   }
//
// IN MEMORY (for one call): decode_bytes reads the projection with the lazy
// reader and the Projection BORROWS from the bytes it was decoded from (and
// from the message bytes): config and finding strings are views, and the id
// set is the input "ids" bin searched in place (binary search on the bytes)
// plus the hashes remembered during the call. encode() writes the bin as one
// merge of the two (memcpy of the old runs), so a round costs O(new ids x
// log n) plus one copy of the bin, not a decode, an O(n) insert per id and a
// byte-by-byte re-encode. The host keeps every buffer alive for the call.
#pragma once

#include "cvr_view.hpp"

#include <quorum/sdk/sdk.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins {

// FNV-1a 64 of a tag byte followed by `text`: stable across machines and releases.
inline uint64_t fnv1a64(char tag, std::string_view text) noexcept {
  uint64_t hash = 14695981039346656037ull;
  hash ^= static_cast<uint8_t>(tag);
  hash *= 1099511628211ull;
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

namespace audit_detail {

inline uint64_t load_be64(const char* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

inline void store_be64(char* p, uint64_t v) noexcept {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

}  // namespace audit_detail

// A set of 64-bit id hashes in the projection's stored layout (ascending
// big-endian 8-byte hashes): `base`, borrowed stored bytes (the decoded
// projection's "ids" bin, which must outlive the set), plus the hashes
// inserted since, kept sorted and apart from base. Never materialised:
// lookups binary-search the bytes, write() merges the two in order.
class IdSet {
 public:
  IdSet() = default;
  // `base`: a multiple of 8 bytes of ascending (non-decreasing) big-endian hashes.
  explicit IdSet(std::string_view base) noexcept : base_(base) {}

  size_t size() const noexcept { return base_size() + added_.size(); }
  size_t base_size() const noexcept { return base_.size() / 8; }
  const std::vector<uint64_t>& added() const noexcept { return added_; }

  bool contains(uint64_t hash) const noexcept {
    const size_t at = base_lower_bound(hash, 0);
    if (at < base_size() && base_at(at) == hash) {
      return true;
    }
    return std::binary_search(added_.begin(), added_.end(), hash);
  }

  // Adds `hash` unless the set has it.
  void insert(uint64_t hash) {
    const size_t at = base_lower_bound(hash, 0);
    if (at < base_size() && base_at(at) == hash) {
      return;
    }
    const auto it = std::lower_bound(added_.begin(), added_.end(), hash);
    if (it == added_.end() || *it != hash) {
      added_.insert(it, hash);
    }
  }

  // The stored layout of the whole set, in order, as runs: sink(const char*
  // bytes, size_t size) is called with the unchanged runs of base (no copy
  // here) and with each inserted hash's 8 bytes at its place.
  template <class Sink>
  void write(Sink&& sink) const {
    size_t from = 0;
    char bytes[8];
    for (const uint64_t hash : added_) {
      const size_t at = base_lower_bound(hash, from);  // added_ ascends, so at never goes back
      if (at > from) {
        sink(base_.data() + 8 * from, 8 * (at - from));
      }
      audit_detail::store_be64(bytes, hash);
      sink(static_cast<const char*>(bytes), size_t{8});
      from = at;
    }
    if (from < base_size()) {
      sink(base_.data() + 8 * from, base_.size() - 8 * from);
    }
  }

  // The hashes in order (tests, equality).
  std::vector<uint64_t> to_vector() const {
    std::vector<uint64_t> out;
    out.reserve(size());
    write([&](const char* p, size_t n) {
      for (size_t i = 0; i < n; i += 8) {
        out.push_back(audit_detail::load_be64(p + i));
      }
    });
    return out;
  }
  bool operator==(const IdSet& other) const { return to_vector() == other.to_vector(); }

 private:
  uint64_t base_at(size_t i) const noexcept { return audit_detail::load_be64(base_.data() + 8 * i); }
  // The first index >= first whose hash is not less than `hash`.
  size_t base_lower_bound(uint64_t hash, size_t first) const noexcept {
    size_t count = base_size() - first;
    while (count > 0) {
      const size_t step = count / 2;
      const size_t mid = first + step;
      if (base_at(mid) < hash) {
        first = mid + 1;
        count -= step + 1;
      } else {
        count = step;
      }
    }
    return first;
  }

  std::string_view base_;
  std::vector<uint64_t> added_;  // sorted, distinct, none in base_
};

struct Audit {
  static constexpr const char* name = "audit";
  static constexpr const char* version = "1.0.0";
  static constexpr uint32_t projection_schema = 1;
  static constexpr size_t kMaxFindings = 100;

  // SDK fast paths (sdk.hpp): the envelope and CVR are read with the lazy
  // reader, the projection straight from its bytes (decode_bytes), and
  // handle() rejects only before its first change (a duplicate under
  // reject_duplicates), so handle_batch need not copy the projection per message.
  static constexpr bool lazy_message = true;
  static constexpr bool decides_before_mutating = true;

  enum Kind : size_t {
    kDuplicate,
    kMalformed,
    kOutsideWindow,
    kOvervote,
    kUndervote,
    kUnknownContest,
    kUnknownSelection,
    kKinds
  };
  static constexpr std::array<std::string_view, kKinds> kKindNames = {
      "duplicate", "malformed", "outside_window", "overvote", "undervote", "unknown_contest", "unknown_selection"};

  struct ContestConfig {
    std::string_view id;
    uint64_t votes_allowed = 0;  // 0 = unknown
    uint32_t first = 0;          // selections [first, first + count) of Projection::selections: sorted, distinct
    uint32_t count = 0;
    bool operator==(const ContestConfig&) const = default;
  };

  struct Finding {
    std::string_view detail;
    std::string_view id;
    std::string_view kind;
    uint64_t seq = 0;
    std::shared_ptr<const std::string> storage;  // owns `detail` of a finding made in this call
    bool operator==(const Finding& other) const {
      return detail == other.detail && id == other.id && kind == other.kind && seq == other.seq;
    }
  };

  struct Projection {
    // config
    bool has_contests = false;
    std::vector<ContestConfig> contests;     // sorted by id
    std::vector<std::string_view> selections;  // every contest's, grouped by contest
    bool reject_duplicates = false;
    bool has_window = false;
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    // state
    std::array<uint64_t, kKinds> counts{};
    std::vector<Finding> findings;  // oldest first, at most kMaxFindings
    IdSet ids;
    uint64_t received = 0;
    uint64_t tallied = 0;
    uint64_t malformed = 0;
    uint64_t duplicates = 0;

    bool operator==(const Projection&) const = default;

    const ContestConfig* contest(std::string_view id) const {
      auto it = std::lower_bound(contests.begin(), contests.end(), id,
                                 [](const ContestConfig& c, std::string_view key) { return c.id < key; });
      return it != contests.end() && it->id == id ? &*it : nullptr;
    }
    std::span<const std::string_view> selections_of(const ContestConfig& contest) const {
      return std::span<const std::string_view>(selections).subspan(contest.first, contest.count);
    }
    bool seen(uint64_t hash) const { return ids.contains(hash); }
    void remember(uint64_t hash) { ids.insert(hash); }
    void check_reconciliation() const {
      if (received != tallied + malformed + duplicates) {
        throw std::logic_error("audit reconciliation broken: received " + std::to_string(received) + " != tallied " +
                               std::to_string(tallied) + " + malformed " + std::to_string(malformed) +
                               " + duplicates " + std::to_string(duplicates));
      }
    }
  };

  static Projection initial(const msgpack::object* config);
  static void decode_bytes(std::string_view bytes, Projection& projection);
  static void encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection);
  quorum::sdk::Outcome handle(const quorum::sdk::Context& context, const quorum::sdk::Message& message,
                              Projection& projection) const;
};

namespace audit_detail {

using Packer = msgpack::packer<msgpack::sbuffer>;
using quorum::sdk::MsgEntry;
using quorum::sdk::MsgView;

inline void pack_str(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

[[noreturn]] inline void bad(const std::string& what) { throw quorum::sdk::InvalidMessage("audit: " + what); }

// Accessors over msgpack-c objects (the init config) ...
inline std::span<const msgpack::object_kv> items(const msgpack::object& map, const char* what) {
  if (map.type != msgpack::type::MAP) {
    bad(std::string(what) + " must be a map");
  }
  return {map.via.map.ptr, map.via.map.size};
}

inline std::span<const msgpack::object> elements(const msgpack::object& array, const char* what) {
  if (array.type != msgpack::type::ARRAY) {
    bad(std::string(what) + " must be an array");
  }
  return {array.via.array.ptr, array.via.array.size};
}

inline std::string_view text(const msgpack::object& object, const char* what) {
  if (object.type != msgpack::type::STR) {
    bad(std::string(what) + " must be a string");
  }
  return {object.via.str.ptr, object.via.str.size};
}

inline uint64_t count(const msgpack::object& object, const char* what) {
  auto value = quorum::sdk::as_int(&object);
  if (!value || *value < 0) {
    bad(std::string(what) + " must be a non-negative integer");
  }
  return static_cast<uint64_t>(*value);
}

inline int64_t integer(const msgpack::object& object, const char* what) {
  auto value = quorum::sdk::as_int(&object);
  if (!value) {
    bad(std::string(what) + " must be an integer");
  }
  return *value;
}

// ... and the same checks and errors over the lazy reader (the projection bytes).
inline MsgView::MapRange items(const MsgView& map, const char* what) {
  if (!map.is_map()) {
    bad(std::string(what) + " must be a map");
  }
  return map.items();
}

inline MsgView::ArrayRange elements(const MsgView& array, const char* what) {
  if (!array.is_array()) {
    bad(std::string(what) + " must be an array");
  }
  return array.elements();
}

inline std::string_view text(const MsgView& value, const char* what) {
  const std::optional<std::string_view> result = value.as_string();
  if (!result) {
    bad(std::string(what) + " must be a string");
  }
  return *result;
}

inline uint64_t count(const MsgView& value, const char* what) {
  const std::optional<int64_t> result = value.as_int();
  if (!result || *result < 0) {
    bad(std::string(what) + " must be a non-negative integer");
  }
  return static_cast<uint64_t>(*result);
}

inline int64_t integer(const MsgView& value, const char* what) {
  const std::optional<int64_t> result = value.as_int();
  if (!result) {
    bad(std::string(what) + " must be an integer");
  }
  return *result;
}

inline bool is_nil(const msgpack::object& object) { return object.type == msgpack::type::NIL; }
inline bool is_nil(const MsgView& value) { return value.is_nil(); }
inline std::optional<bool> as_bool(const msgpack::object& object) {
  return object.type == msgpack::type::BOOLEAN ? std::optional<bool>(object.via.boolean) : std::nullopt;
}
inline std::optional<bool> as_bool(const MsgView& value) { return value.as_bool(); }
inline const msgpack::object* find(const msgpack::object& map, std::string_view key) {
  return quorum::sdk::find(map, key);
}
inline std::optional<MsgView> find(const MsgView& map, std::string_view key) { return map.find(key); }
inline std::span<const msgpack::object_kv> entries(const msgpack::object& map, const char* what) {
  return items(map, what);
}
inline MsgView::MapRange entries(const MsgView& map, const char* what) { return items(map, what); }
inline const msgpack::object& key_of(const msgpack::object_kv& kv) { return kv.key; }
inline const msgpack::object& value_of(const msgpack::object_kv& kv) { return kv.val; }
inline const MsgView& key_of(const MsgEntry& kv) { return kv.key; }
inline const MsgView& value_of(const MsgEntry& kv) { return kv.value; }

// Puts the contests read so far in canonical order, exactly as the sort of
// the original reader did: each contest's selections sorted and distinct,
// then the contests by id (the same std::sort call over the same sequence,
// so even equal ids end up in the same order). Free when the
// input is already canonical (the usual case: a projection this plugin wrote).
inline void normalise_contests(Audit::Projection& projection) {
  bool canonical = true;
  for (size_t c = 0; c < projection.contests.size() && canonical; ++c) {
    const auto selections = projection.selections_of(projection.contests[c]);
    canonical = std::adjacent_find(selections.begin(), selections.end(),
                                   [](std::string_view a, std::string_view b) { return !(a < b); }) ==
                    selections.end() &&
                (c == 0 || projection.contests[c - 1].id < projection.contests[c].id);
  }
  if (canonical) {
    return;
  }
  struct Draft {
    std::string_view id;
    uint64_t votes_allowed;
    std::vector<std::string_view> selections;
  };
  std::vector<Draft> drafts;
  drafts.reserve(projection.contests.size());
  for (const Audit::ContestConfig& contest : projection.contests) {
    const auto selections = projection.selections_of(contest);
    Draft draft{contest.id, contest.votes_allowed, {selections.begin(), selections.end()}};
    std::sort(draft.selections.begin(), draft.selections.end());
    draft.selections.erase(std::unique(draft.selections.begin(), draft.selections.end()), draft.selections.end());
    drafts.push_back(std::move(draft));
  }
  std::sort(drafts.begin(), drafts.end(), [](const Draft& a, const Draft& b) { return a.id < b.id; });
  projection.contests.clear();
  projection.selections.clear();
  for (const Draft& draft : drafts) {
    projection.contests.push_back(Audit::ContestConfig{draft.id, draft.votes_allowed,
                                                       static_cast<uint32_t>(projection.selections.size()),
                                                       static_cast<uint32_t>(draft.selections.size())});
    projection.selections.insert(projection.selections.end(), draft.selections.begin(), draft.selections.end());
  }
}

// Reads the "config" part (the same shape in the init config and the
// projection), from a msgpack-c object or a lazy view. Strings are views.
template <class Value>
void read_config(const Value& config, Audit::Projection& projection) {
  for (const auto& kv : entries(config, "config")) {
    const std::string_view key = text(key_of(kv), "a config key");
    const Value& val = value_of(kv);
    if (key == "contests" && !is_nil(val)) {
      projection.has_contests = true;
      for (const auto& entry : entries(val, "contests")) {
        Audit::ContestConfig contest;
        contest.id = text(key_of(entry), "a contest id");
        contest.first = static_cast<uint32_t>(projection.selections.size());
        for (const auto& field : entries(value_of(entry), "a contest")) {
          const std::string_view name = text(key_of(field), "a contest key");
          if (name == "votes_allowed") {
            contest.votes_allowed = count(value_of(field), "votes_allowed");
          } else if (name == "selections") {
            for (const auto& sid : elements(value_of(field), "selections")) {
              projection.selections.push_back(text(sid, "a selection id"));
            }
          }
        }
        contest.count = static_cast<uint32_t>(projection.selections.size() - contest.first);
        projection.contests.push_back(contest);
      }
      normalise_contests(projection);
    } else if (key == "window" && !is_nil(val)) {
      const auto start = find(val, "start_ms");
      const auto end = find(val, "end_ms");
      if (!start || !end) {  // also when the window is not a map
        bad("window must be {\"start_ms\": int, \"end_ms\": int}");
      }
      projection.has_window = true;
      projection.start_ms = integer(*start, "window.start_ms");
      projection.end_ms = integer(*end, "window.end_ms");
    } else if (key == "reject_duplicates") {
      const std::optional<bool> flag = as_bool(val);
      if (!flag) {
        bad("reject_duplicates must be a boolean");
      }
      projection.reject_duplicates = *flag;
    }
  }
}

}  // namespace audit_detail

inline Audit::Projection Audit::initial(const msgpack::object* config) {
  Projection projection;
  if (config != nullptr && config->type != msgpack::type::NIL) {
    audit_detail::read_config(*config, projection);
  }
  return projection;
}

inline void Audit::decode_bytes(std::string_view bytes, Projection& projection) {
  using namespace audit_detail;
  projection = Projection{};
  quorum::sdk::SkipMemo memo;
  const MsgView root = MsgView::of(bytes, &memo);
  (void)root.skip();  // every byte is msgpack before any field is judged (as msgpack-c's unpack did)
  for (const MsgEntry& kv : items(root, "projection")) {
    const std::string_view key = text(kv.key, "a projection key");
    if (key == "config") {
      read_config(kv.value, projection);
    } else if (key == "counts") {
      for (const MsgEntry& entry : items(kv.value, "counts")) {
        const std::string_view kind = text(entry.key, "a kind");
        for (size_t k = 0; k < kKinds; ++k) {
          if (kKindNames[k] == kind) {
            projection.counts[k] = count(entry.value, "a count");
          }
        }
      }
    } else if (key == "findings") {
      const MsgView::ArrayRange list = elements(kv.value, "findings");
      projection.findings.reserve(projection.findings.size() + list.size() + 1);
      for (const MsgView& entry : list) {
        Finding finding;
        for (const MsgEntry& field : items(entry, "a finding")) {
          const std::string_view name = text(field.key, "a finding key");
          if (name == "detail") {
            finding.detail = text(field.value, "detail");
          } else if (name == "id") {
            finding.id = text(field.value, "id");
          } else if (name == "kind") {
            finding.kind = text(field.value, "kind");
          } else if (name == "seq") {
            finding.seq = count(field.value, "seq");
          }
        }
        projection.findings.push_back(std::move(finding));
      }
    } else if (key == "ids") {
      const std::optional<std::string_view> bin = kv.value.as_bin();
      if (!bin || bin->size() % 8 != 0) {
        bad("ids must be a bin of 8-byte hashes");
      }
      uint64_t previous = 0;  // one load per hash: this pass is most of a round's decode
      for (size_t i = 0; i < bin->size(); i += 8) {
        const uint64_t hash = load_be64(bin->data() + i);
        if (hash < previous) {
          bad("ids must be sorted");
        }
        previous = hash;
      }
      projection.ids = IdSet(*bin);
    } else if (key == "reconcile") {
      for (const MsgEntry& entry : items(kv.value, "reconcile")) {
        const std::string_view name = text(entry.key, "a reconcile key");
        if (name == "received") {
          projection.received = count(entry.value, "received");
        } else if (name == "tallied") {
          projection.tallied = count(entry.value, "tallied");
        } else if (name == "malformed") {
          projection.malformed = count(entry.value, "malformed");
        } else if (name == "duplicates") {
          projection.duplicates = count(entry.value, "duplicates");
        }
      }
    }
  }
  projection.check_reconciliation();
}

inline void Audit::encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection) {
  using audit_detail::pack_str;
  packer.pack_map(7);
  pack_str(packer, "checks");
  packer.pack_map(4);
  pack_str(packer, "contests");
  pack_str(packer, projection.has_contests ? "on" : "skipped: no \"contests\" in the init config");
  pack_str(packer, "duplicates");
  pack_str(packer, projection.reject_duplicates ? "on (rejecting)" : "on");
  pack_str(packer, "overvotes");
  pack_str(packer, projection.has_contests ? "on"
                                           : "partial: no \"contests\" in the init config, so only the "
                                             "CVRs' own Overvotes are checked");
  pack_str(packer, "window");
  pack_str(packer, projection.has_window ? "on" : "skipped: no \"window\" in the init config");

  pack_str(packer, "config");
  packer.pack_map(3);
  pack_str(packer, "contests");
  if (projection.has_contests) {
    packer.pack_map(static_cast<uint32_t>(projection.contests.size()));
    for (const ContestConfig& contest : projection.contests) {
      pack_str(packer, contest.id);
      packer.pack_map(2);
      pack_str(packer, "selections");
      packer.pack_array(contest.count);
      for (const std::string_view sid : projection.selections_of(contest)) {
        pack_str(packer, sid);
      }
      pack_str(packer, "votes_allowed");
      packer.pack(contest.votes_allowed);
    }
  } else {
    packer.pack_nil();
  }
  pack_str(packer, "reject_duplicates");
  packer.pack(projection.reject_duplicates);
  pack_str(packer, "window");
  if (projection.has_window) {
    packer.pack_map(2);
    pack_str(packer, "end_ms");
    packer.pack(projection.end_ms);
    pack_str(packer, "start_ms");
    packer.pack(projection.start_ms);
  } else {
    packer.pack_nil();
  }

  pack_str(packer, "counts");
  packer.pack_map(static_cast<uint32_t>(kKinds));
  for (size_t k = 0; k < kKinds; ++k) {
    pack_str(packer, kKindNames[k]);
    packer.pack(projection.counts[k]);
  }

  pack_str(packer, "findings");
  packer.pack_array(static_cast<uint32_t>(projection.findings.size()));
  for (const Finding& finding : projection.findings) {
    packer.pack_map(4);
    pack_str(packer, "detail");
    pack_str(packer, finding.detail);
    pack_str(packer, "id");
    pack_str(packer, finding.id);
    pack_str(packer, "kind");
    pack_str(packer, finding.kind);
    pack_str(packer, "seq");
    packer.pack(finding.seq);
  }

  pack_str(packer, "ids");
  const size_t id_bytes = 8 * projection.ids.size();
  if (id_bytes > 0xffffffffu) {
    throw std::length_error("audit: ids larger than 4 GiB");
  }
  packer.pack_bin(static_cast<uint32_t>(id_bytes));
  projection.ids.write([&](const char* bytes, size_t size) {
    packer.pack_bin_body(bytes, static_cast<uint32_t>(size));  // raw append
  });

  pack_str(packer, "reconcile");
  packer.pack_map(4);
  pack_str(packer, "duplicates");
  packer.pack(projection.duplicates);
  pack_str(packer, "malformed");
  packer.pack(projection.malformed);
  pack_str(packer, "received");
  packer.pack(projection.received);
  pack_str(packer, "tallied");
  packer.pack(projection.tallied);

  pack_str(packer, "schema");
  packer.pack(projection_schema);
}

inline quorum::sdk::Outcome Audit::handle(const quorum::sdk::Context& /*context*/,
                                          const quorum::sdk::Message& message, Projection& projection) const {
  if (message.type != "cvr") {
    return quorum::sdk::Outcome::accept();
  }
  cvr::Ballot ballot;
  ballot.contests.reserve(16);
  ballot.selections.reserve(64);
  const std::string error = cvr::read(message.data_view, ballot);

  // The ballot's ids, hashed per namespace, distinct.
  std::array<uint64_t, 3> hashes{};
  size_t n = 0;
  bool duplicate = false;
  std::string duplicate_detail;
  if (error.empty()) {
    const std::array<std::pair<char, std::string_view>, 3> ids = {
        std::pair{'m', message.id}, std::pair{'p', ballot.ballot_preprinted_id}, std::pair{'u', ballot.unique_id}};
    static constexpr std::array<std::string_view, 3> kIdNames = {"message id", "BallotPrePrintedId", "UniqueId"};
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i].second.empty()) {
        continue;
      }
      hashes[n] = fnv1a64(ids[i].first, ids[i].second);
      if (!duplicate && projection.seen(hashes[n])) {
        duplicate = true;
        duplicate_detail = std::string(kIdNames[i]) + " '" + std::string(ids[i].second) + "' was already received";
      }
      ++n;
    }
  }
  if (duplicate && projection.reject_duplicates) {
    return quorum::sdk::Outcome::reject("duplicate ballot: " + duplicate_detail);
  }

  // From here on the message is received: record, never reject (nor throw
  // InvalidMessage: decides_before_mutating).
  const uint64_t seq = projection.received;
  auto record = [&](Kind kind, std::string detail) {
    projection.counts[kind] += 1;
    if (kind == kUndervote) {
      return;  // counted, not listed
    }
    if (projection.findings.size() == kMaxFindings) {
      projection.findings.erase(projection.findings.begin());
    }
    auto storage = std::make_shared<const std::string>(std::move(detail));
    const std::string_view text = *storage;
    projection.findings.push_back(Finding{text, message.id, kKindNames[kind], seq, std::move(storage)});
  };

  projection.received += 1;
  if (projection.has_window && (message.time_ms < projection.start_ms || message.time_ms > projection.end_ms)) {
    record(kOutsideWindow, "time " + std::to_string(message.time_ms) + " is outside the election window [" +
                               std::to_string(projection.start_ms) + ", " + std::to_string(projection.end_ms) + "]");
  }
  if (!error.empty()) {
    projection.malformed += 1;
    record(kMalformed, error);
  } else if (duplicate) {
    projection.duplicates += 1;
    for (size_t i = 0; i < n; ++i) {
      projection.remember(hashes[i]);
    }
    record(kDuplicate, duplicate_detail);
  } else {
    projection.tallied += 1;
    for (size_t i = 0; i < n; ++i) {
      projection.remember(hashes[i]);
    }
    for (const cvr::ContestMarks& contest : ballot.contests) {
      const ContestConfig* config = projection.has_contests ? projection.contest(contest.id) : nullptr;
      if (projection.has_contests && config == nullptr) {
        record(kUnknownContest, "contest '" + std::string(contest.id) + "' is not in the election");
      }
      if (config != nullptr) {
        const std::span<const std::string_view> known = projection.selections_of(*config);
        for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
          const std::string_view sid = ballot.selections[k].id;
          if (sid == cvr::kUnidentifiedSelection) {
            continue;
          }
          if (!std::binary_search(known.begin(), known.end(), sid)) {
            record(kUnknownSelection,
                   "selection '" + std::string(sid) + "' is not on contest '" + std::string(contest.id) + "'");
          }
        }
      }
      const uint64_t allowed = config != nullptr ? config->votes_allowed : 0;
      if (allowed > 0 && contest.allocable_votes > allowed) {
        record(kOvervote, "contest '" + std::string(contest.id) + "': " + std::to_string(contest.allocable_votes) +
                              " allocable votes, " + std::to_string(allowed) + " allowed");
      } else if (contest.has_overvotes && contest.overvotes > 0) {
        record(kOvervote, "contest '" + std::string(contest.id) + "': Overvotes " + std::to_string(contest.overvotes));
      }
      if ((contest.has_undervotes && contest.undervotes > 0) || (allowed > 0 && contest.votes < allowed)) {
        record(kUndervote, {});
      }
    }
  }
  projection.check_reconciliation();
  return quorum::sdk::Outcome::accept();
}

}  // namespace quorum::plugins
