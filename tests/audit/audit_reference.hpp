// A frozen copy of the audit handler as it was before the id-set / lazy-reader
// rewrite (plugins/audit/audit.hpp at 7079e79), in its own namespace: the
// reference that audit_equivalence_test pins the new handler's bytes against.
// Do not edit; it is the old behaviour by definition.
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
#pragma once

#include "cvr_view.hpp"

#include <quorum/sdk/sdk.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins::audit_reference {

// FNV-1a 64 of a tag byte followed by `text`: stable across machines and releases.
inline uint64_t fnv1a64_reference(char tag, std::string_view text) noexcept {
  uint64_t hash = 14695981039346656037ull;
  hash ^= static_cast<uint8_t>(tag);
  hash *= 1099511628211ull;
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

struct Audit {
  static constexpr const char* name = "audit";
  static constexpr const char* version = "1.0.0";
  static constexpr uint32_t projection_schema = 1;
  static constexpr size_t kMaxFindings = 100;

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
    std::string id;
    uint64_t votes_allowed = 0;            // 0 = unknown
    std::vector<std::string> selections;  // sorted, distinct
    bool operator==(const ContestConfig&) const = default;
  };

  struct Finding {
    std::string detail;
    std::string id;
    std::string kind;
    uint64_t seq = 0;
    bool operator==(const Finding&) const = default;
  };

  struct Projection {
    // config
    bool has_contests = false;
    std::vector<ContestConfig> contests;  // sorted by id
    bool reject_duplicates = false;
    bool has_window = false;
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    // state
    std::array<uint64_t, kKinds> counts{};
    std::vector<Finding> findings;  // oldest first, at most kMaxFindings
    std::vector<uint64_t> ids;      // sorted, distinct
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
    bool seen(uint64_t hash) const { return std::binary_search(ids.begin(), ids.end(), hash); }
    void remember(uint64_t hash) {
      auto it = std::lower_bound(ids.begin(), ids.end(), hash);
      if (it == ids.end() || *it != hash) {
        ids.insert(it, hash);
      }
    }
    void check_reconciliation() const {
      if (received != tallied + malformed + duplicates) {
        throw std::logic_error("audit reconciliation broken: received " + std::to_string(received) + " != tallied " +
                               std::to_string(tallied) + " + malformed " + std::to_string(malformed) +
                               " + duplicates " + std::to_string(duplicates));
      }
    }
  };

  static Projection initial(const msgpack::object* config);
  static void decode(const msgpack::object& object, Projection& projection);
  static void encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection);
  quorum::sdk::Outcome handle(const quorum::sdk::Context& context, const quorum::sdk::Message& message,
                              Projection& projection) const;
};

namespace audit_detail {

using Packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_str(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

[[noreturn]] inline void bad(const std::string& what) { throw quorum::sdk::InvalidMessage("audit: " + what); }

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

// Reads the "config" part (the same shape in the init config and the projection).
inline void read_config(const msgpack::object& config, Audit::Projection& projection) {
  for (const msgpack::object_kv& kv : items(config, "config")) {
    const std::string_view key = text(kv.key, "a config key");
    if (key == "contests" && kv.val.type != msgpack::type::NIL) {
      projection.has_contests = true;
      for (const msgpack::object_kv& entry : items(kv.val, "contests")) {
        Audit::ContestConfig contest;
        contest.id = std::string(text(entry.key, "a contest id"));
        for (const msgpack::object_kv& field : items(entry.val, "a contest")) {
          const std::string_view name = text(field.key, "a contest key");
          if (name == "votes_allowed") {
            contest.votes_allowed = count(field.val, "votes_allowed");
          } else if (name == "selections") {
            for (const msgpack::object& sid : elements(field.val, "selections")) {
              contest.selections.emplace_back(text(sid, "a selection id"));
            }
          }
        }
        std::sort(contest.selections.begin(), contest.selections.end());
        contest.selections.erase(std::unique(contest.selections.begin(), contest.selections.end()),
                                 contest.selections.end());
        projection.contests.push_back(std::move(contest));
      }
      std::sort(projection.contests.begin(), projection.contests.end(),
                [](const Audit::ContestConfig& a, const Audit::ContestConfig& b) { return a.id < b.id; });
    } else if (key == "window" && kv.val.type != msgpack::type::NIL) {
      const msgpack::object* start = quorum::sdk::find(kv.val, "start_ms");
      const msgpack::object* end = quorum::sdk::find(kv.val, "end_ms");
      if (kv.val.type != msgpack::type::MAP || start == nullptr || end == nullptr) {
        bad("window must be {\"start_ms\": int, \"end_ms\": int}");
      }
      projection.has_window = true;
      projection.start_ms = integer(*start, "window.start_ms");
      projection.end_ms = integer(*end, "window.end_ms");
    } else if (key == "reject_duplicates") {
      if (kv.val.type != msgpack::type::BOOLEAN) {
        bad("reject_duplicates must be a boolean");
      }
      projection.reject_duplicates = kv.val.via.boolean;
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

inline void Audit::decode(const msgpack::object& object, Projection& projection) {
  using namespace audit_detail;
  projection = Projection{};
  for (const msgpack::object_kv& kv : items(object, "projection")) {
    const std::string_view key = text(kv.key, "a projection key");
    if (key == "config") {
      read_config(kv.val, projection);
    } else if (key == "counts") {
      for (const msgpack::object_kv& entry : items(kv.val, "counts")) {
        const std::string_view kind = text(entry.key, "a kind");
        for (size_t k = 0; k < kKinds; ++k) {
          if (kKindNames[k] == kind) {
            projection.counts[k] = count(entry.val, "a count");
          }
        }
      }
    } else if (key == "findings") {
      for (const msgpack::object& entry : elements(kv.val, "findings")) {
        Finding finding;
        for (const msgpack::object_kv& field : items(entry, "a finding")) {
          const std::string_view name = text(field.key, "a finding key");
          if (name == "detail") {
            finding.detail = std::string(text(field.val, "detail"));
          } else if (name == "id") {
            finding.id = std::string(text(field.val, "id"));
          } else if (name == "kind") {
            finding.kind = std::string(text(field.val, "kind"));
          } else if (name == "seq") {
            finding.seq = count(field.val, "seq");
          }
        }
        projection.findings.push_back(std::move(finding));
      }
    } else if (key == "ids") {
      if (kv.val.type != msgpack::type::BIN || kv.val.via.bin.size % 8 != 0) {
        bad("ids must be a bin of 8-byte hashes");
      }
      const auto* bytes = reinterpret_cast<const uint8_t*>(kv.val.via.bin.ptr);
      projection.ids.resize(kv.val.via.bin.size / 8);
      for (size_t i = 0; i < projection.ids.size(); ++i) {
        uint64_t hash = 0;
        for (size_t b = 0; b < 8; ++b) {
          hash = (hash << 8) | bytes[8 * i + b];
        }
        projection.ids[i] = hash;
      }
      if (!std::is_sorted(projection.ids.begin(), projection.ids.end())) {
        bad("ids must be sorted");
      }
    } else if (key == "reconcile") {
      for (const msgpack::object_kv& entry : items(kv.val, "reconcile")) {
        const std::string_view name = text(entry.key, "a reconcile key");
        if (name == "received") {
          projection.received = count(entry.val, "received");
        } else if (name == "tallied") {
          projection.tallied = count(entry.val, "tallied");
        } else if (name == "malformed") {
          projection.malformed = count(entry.val, "malformed");
        } else if (name == "duplicates") {
          projection.duplicates = count(entry.val, "duplicates");
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
      packer.pack_array(static_cast<uint32_t>(contest.selections.size()));
      for (const std::string& sid : contest.selections) {
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
  std::string bytes(projection.ids.size() * 8, '\0');
  for (size_t i = 0; i < projection.ids.size(); ++i) {
    for (size_t b = 0; b < 8; ++b) {
      bytes[8 * i + b] = static_cast<char>((projection.ids[i] >> (56 - 8 * b)) & 0xff);
    }
  }
  packer.pack_bin(static_cast<uint32_t>(bytes.size()));
  packer.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));

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
  const std::string error = cvr::read(*message.data, ballot);

  // The ballot's ids, hashed per namespace, distinct.
  std::array<uint64_t, 3> hashes{};
  std::array<std::string_view, 3> labels{};
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
      hashes[n] = fnv1a64_reference(ids[i].first, ids[i].second);
      labels[n] = kIdNames[i];
      if (projection.seen(hashes[n]) && !duplicate) {
        duplicate = true;
        duplicate_detail = std::string(labels[n]) + " '" + std::string(ids[i].second) + "' was already received";
      }
      ++n;
    }
  }
  if (duplicate && projection.reject_duplicates) {
    return quorum::sdk::Outcome::reject("duplicate ballot: " + duplicate_detail);
  }

  // From here on the message is received: record, never reject.
  const uint64_t seq = projection.received;
  const std::string id(message.id);
  auto record = [&](Kind kind, std::string detail) {
    projection.counts[kind] += 1;
    if (kind == kUndervote) {
      return;  // counted, not listed
    }
    if (projection.findings.size() == kMaxFindings) {
      projection.findings.erase(projection.findings.begin());
    }
    projection.findings.push_back(Finding{std::move(detail), id, std::string(kKindNames[kind]), seq});
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
        for (uint32_t k = contest.first; k < contest.first + contest.count; ++k) {
          const std::string_view sid = ballot.selections[k].id;
          if (sid == cvr::kUnidentifiedSelection) {
            continue;
          }
          if (!std::binary_search(config->selections.begin(), config->selections.end(), sid)) {
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

}  // namespace quorum::plugins::audit_reference
