// The election handler's projection: one struct for every kind of election
// actor (docs/election-actors.md has the layouts), with a lazy codec.
//
// decode_bytes() only keeps the bytes; parse() reads them when a message
// needs the state, and encode() writes the kept bytes back untouched unless
// a message changed the state (`dirty`). So a command the handler ignores
// (any message on a key outside the election namespace, whose projection is
// empty, or an unlisted type on an election key) costs a copy at most, never
// a decode, and a refused or no-op message leaves the bytes exactly as they
// were even when it had to parse them.
//
// An actor the handler never changed has an EMPTY projection (kind kNone).
#pragma once

#include "canonical.hpp"
#include "counts.hpp"
#include "documents.hpp"

#include <quorum/sdk/msgpack_reader.hpp>
#include <quorum/sdk/msgpack_view.hpp>

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::plugins::election {

enum class ActorKind : uint8_t { kNone, kRegistry, kElection, kDirectory, kUnit, kContest };

struct ElectionProjection {
  // Lazy state: `raw` holds the bytes as received; the fields below are
  // valid once `parsed`; `dirty` once a message changed them (encode() then
  // writes the fields, else `raw`).
  std::string raw;
  bool parsed = true;
  bool dirty = false;

  ActorKind kind = ActorKind::kNone;
  // kRegistry: {id, name} in registration order.
  std::vector<std::pair<std::string, std::string>> elections;
  // kElection: canonical bytes of the definition; empty = nil.
  std::string definition;
  // kDirectory
  uint64_t page = 0;
  std::string units;  // canonical bytes of the "units" array
  // kUnit: canonical bytes of the UnitConfig (empty = nil) and what it says.
  std::string config_bytes;
  UnitConfig config;
  Counts counts;  // kContest uses counts.ballots only
  // kUnit, leaves only: what the counts hold that the parents and contest
  // actors have not been sent yet (the next flush sends it; see
  // election.hpp, FLUSHING). `pending_cvrs` maps a ranked-choice contest id
  // to the reduced CVRs waiting for its contest actor, in arrival order;
  // `pending_since_ms` is the envelope time of the oldest pending ballot (0:
  // nothing pending); `pending_cvr_bytes` is derived (the CVRs' sizes).
  Counts pending;
  SortedMap<std::vector<std::string>> pending_cvrs;
  int64_t pending_since_ms = 0;
  size_t pending_cvr_bytes = 0;
  bool reported = false;
  uint64_t deltas = 0;
  uint64_t unconfigured_deltas = 0;
  // kElection and kUnit: reported leaves, and the ballots they held when
  // they closed (a roll-up whose ballots equal it has every delta of them).
  uint64_t reported_leaves = 0;
  uint64_t reported_ballots = 0;
  // kUnit roll-ups: the sum of the final counts the reported leaves sent
  // with "reported", and the audit of the counts against it (election.hpp,
  // AUDIT): "open" until every leaf under it reported, "pending" while their
  // deltas are in flight, then "balanced" or "differs" with the differences.
  Counts reported_counts;
  std::string audit = "open";
  std::vector<std::string> audit_differences;
  // kElection, kUnit, kContest: envelope time of the last change (max).
  int64_t updated_ms = 0;

  bool configured() const noexcept { return !config_bytes.empty(); }
  bool has_pending() const noexcept { return pending.ballots > 0 || !pending_cvrs.empty(); }
};

namespace projection_detail {

using quorum::sdk::InvalidMessage;
using quorum::sdk::MsgEntry;
using quorum::sdk::MsgView;

[[noreturn]] inline void fail(const std::string& what) { throw InvalidMessage("election projection: " + what); }

inline uint64_t uint_of(const MsgView& value, std::string_view key) {
  const std::optional<uint64_t> number = value.as_uint();
  if (!number) {
    fail("'" + std::string(key) + "' must be a non-negative integer");
  }
  return *number;
}

inline int64_t int_of(const MsgView& value, std::string_view key) {
  const std::optional<int64_t> number = value.as_int();
  if (!number) {
    fail("'" + std::string(key) + "' must be an integer");
  }
  return *number;
}

// A stored document's bytes (empty for nil). The handler wrote them
// canonically, so they are taken as they are (no re-encoding per decode).
inline std::string document_of(const MsgView& value) {
  if (value.is_nil()) {
    return {};
  }
  return std::string(value.encoded());
}

inline ActorKind kind_of(std::string_view text) {
  if (text == "registry") return ActorKind::kRegistry;
  if (text == "election") return ActorKind::kElection;
  if (text == "directory") return ActorKind::kDirectory;
  if (text == "unit") return ActorKind::kUnit;
  if (text == "contest") return ActorKind::kContest;
  fail("unknown kind '" + std::string(text) + "'");
}

}  // namespace projection_detail

// Reads the kept bytes into the fields (no-op when already parsed). Throws
// InvalidMessage for bytes that are not an election projection, leaving
// `projection` unchanged.
inline void parse(ElectionProjection& projection) {
  using namespace projection_detail;
  if (projection.parsed) {
    return;
  }
  ElectionProjection out;
  quorum::sdk::SkipMemo memo;  // nested walks skip each container once
  const MsgView top = MsgView::of(projection.raw, &memo);
  if (!top.is_map()) {
    fail("not a map");
  }
  const std::optional<MsgView> kind = top.find("kind");
  if (!kind || !kind->as_string()) {
    fail("no 'kind'");
  }
  out.kind = kind_of(*kind->as_string());
  for (const MsgEntry& entry : top.items()) {
    const std::string_view key = entry.key_string();
    if (key == "elections") {
      for (const MsgView& item : entry.value.elements()) {
        const std::optional<MsgView> id = item.find("id");
        const std::optional<MsgView> name = item.find("name");
        if (!id || !name || !id->as_string() || !name->as_string()) {
          fail("an election of the registry needs a string id and name");
        }
        out.elections.emplace_back(std::string(*id->as_string()), std::string(*name->as_string()));
      }
    } else if (key == "definition") {
      out.definition = document_of(entry.value);
    } else if (key == "page") {
      out.page = uint_of(entry.value, key);
    } else if (key == "units") {
      out.units = document_of(entry.value);
    } else if (key == "config") {
      out.config_bytes = document_of(entry.value);
      if (!out.config_bytes.empty()) {
        if (std::string error = read_unit_config(MsgView::of(out.config_bytes, &memo), out.config); !error.empty()) {
          fail(error);
        }
      }
    } else if (key == "ballots") {
      out.counts.ballots = uint_of(entry.value, key);
    } else if (key == "contests") {
      if (std::string error = read_contests(entry.value, out.counts); !error.empty()) {
        fail(error);
      }
    } else if (key == "pending") {
      if (!entry.value.is_map()) {
        fail("'pending' must be a map");
      }
      for (const MsgEntry& field : entry.value.items()) {
        if (field.key_string() == "ballots") {
          out.pending.ballots = uint_of(field.value, "pending.ballots");
        } else if (field.key_string() == "contests") {
          if (std::string error = read_contests(field.value, out.pending); !error.empty()) {
            fail("pending: " + error);
          }
        } else if (field.key_string() == "since_ms") {
          out.pending_since_ms = int_of(field.value, "pending.since_ms");
        } else if (field.key_string() == "cvrs") {
          if (!field.value.is_map()) {
            fail("'pending.cvrs' must be a map");
          }
          for (const MsgEntry& contest : field.value.items()) {
            const std::optional<std::string_view> cid = contest.key.as_string();
            if (!cid || !contest.value.is_array()) {
              fail("'pending.cvrs' must map contest ids to arrays of CVRs");
            }
            std::vector<std::string>& cvrs = out.pending_cvrs[*cid];
            for (const MsgView& cvr : contest.value.elements()) {
              cvrs.emplace_back(cvr.encoded());
              out.pending_cvr_bytes += cvrs.back().size();
            }
          }
        }
      }
    } else if (key == "reported") {
      const std::optional<bool> flag = entry.value.as_bool();
      if (!flag) {
        fail("'reported' must be a boolean");
      }
      out.reported = *flag;
    } else if (key == "reported_contests") {
      if (std::string error = read_contests(entry.value, out.reported_counts); !error.empty()) {
        fail("reported_contests: " + error);
      }
    } else if (key == "audit") {
      const std::optional<MsgView> status = entry.value.find("status");
      const std::optional<MsgView> differences = entry.value.find("differences");
      if (!status || !status->as_string() || !differences || !differences->is_array()) {
        fail("'audit' must be {\"status\": str, \"differences\": [str]}");
      }
      out.audit.assign(*status->as_string());
      for (const MsgView& difference : differences->elements()) {
        const std::optional<std::string_view> text = difference.as_string();
        if (!text) {
          fail("audit differences must be strings");
        }
        out.audit_differences.emplace_back(*text);
      }
    } else if (key == "reported_leaves") {
      out.reported_leaves = uint_of(entry.value, key);
    } else if (key == "reported_ballots") {
      out.reported_ballots = uint_of(entry.value, key);
    } else if (key == "deltas") {
      out.deltas = uint_of(entry.value, key);
    } else if (key == "unconfigured_deltas") {
      out.unconfigured_deltas = uint_of(entry.value, key);
    } else if (key == "updated_ms") {
      out.updated_ms = int_of(entry.value, key);
    }
  }
  out.reported_counts.ballots = out.reported_ballots;  // stored once, as "reported_ballots"
  out.raw = std::move(projection.raw);
  projection = std::move(out);  // parsed, not dirty
}

// The canonical encoding (fixed key order per kind; docs/election-actors.md).
inline void encode(msgpack::packer<msgpack::sbuffer>& packer, const ElectionProjection& projection) {
  if (!projection.dirty) {
    packer.pack_str_body(projection.raw.data(), static_cast<uint32_t>(projection.raw.size()));  // raw bytes
    return;
  }
  auto raw_or_nil = [&](const std::string& bytes) {
    if (bytes.empty()) {
      packer.pack_nil();
    } else {
      packer.pack_str_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
    }
  };
  switch (projection.kind) {
    case ActorKind::kNone:
      return;  // empty projection
    case ActorKind::kRegistry:
      packer.pack_map(2);
      pack_string(packer, "kind");
      pack_string(packer, "registry");
      pack_string(packer, "elections");
      packer.pack_array(static_cast<uint32_t>(projection.elections.size()));
      for (const auto& [id, name] : projection.elections) {
        packer.pack_map(2);
        pack_string(packer, "id");
        pack_string(packer, id);
        pack_string(packer, "name");
        pack_string(packer, name);
      }
      return;
    case ActorKind::kElection:
      packer.pack_map(5);
      pack_string(packer, "kind");
      pack_string(packer, "election");
      pack_string(packer, "definition");
      raw_or_nil(projection.definition);
      pack_string(packer, "reported_ballots");
      packer.pack_uint64(projection.reported_ballots);
      pack_string(packer, "reported_leaves");
      packer.pack_uint64(projection.reported_leaves);
      pack_string(packer, "updated_ms");
      packer.pack_int64(projection.updated_ms);
      return;
    case ActorKind::kDirectory:
      packer.pack_map(3);
      pack_string(packer, "kind");
      pack_string(packer, "directory");
      pack_string(packer, "page");
      packer.pack_uint64(projection.page);
      pack_string(packer, "units");
      raw_or_nil(projection.units);
      return;
    case ActorKind::kUnit:
      packer.pack_map(13);
      pack_string(packer, "kind");
      pack_string(packer, "unit");
      pack_string(packer, "config");
      raw_or_nil(projection.config_bytes);
      pack_string(packer, "ballots");
      packer.pack_uint64(projection.counts.ballots);
      pack_string(packer, "contests");
      pack_contests(packer, projection.counts, true);
      pack_string(packer, "pending");
      packer.pack_map(4);
      pack_string(packer, "ballots");
      packer.pack_uint64(projection.pending.ballots);
      pack_string(packer, "contests");
      pack_contests(packer, projection.pending, false);
      pack_string(packer, "cvrs");
      packer.pack_map(static_cast<uint32_t>(projection.pending_cvrs.size()));
      for (const auto& [cid, cvrs] : projection.pending_cvrs) {
        pack_string(packer, cid);
        packer.pack_array(static_cast<uint32_t>(cvrs.size()));
        for (const std::string& cvr : cvrs) {
          packer.pack_str_body(cvr.data(), static_cast<uint32_t>(cvr.size()));  // one msgpack value
        }
      }
      pack_string(packer, "since_ms");
      packer.pack_int64(projection.pending_since_ms);
      pack_string(packer, "reported");
      if (projection.reported) {
        packer.pack_true();
      } else {
        packer.pack_false();
      }
      pack_string(packer, "reported_ballots");
      packer.pack_uint64(projection.reported_ballots);
      pack_string(packer, "reported_contests");
      pack_contests(packer, projection.reported_counts, false);
      pack_string(packer, "reported_leaves");
      packer.pack_uint64(projection.reported_leaves);
      pack_string(packer, "audit");
      packer.pack_map(2);
      pack_string(packer, "status");
      pack_string(packer, projection.audit);
      pack_string(packer, "differences");
      packer.pack_array(static_cast<uint32_t>(projection.audit_differences.size()));
      for (const std::string& difference : projection.audit_differences) {
        pack_string(packer, difference);
      }
      pack_string(packer, "deltas");
      packer.pack_uint64(projection.deltas);
      pack_string(packer, "unconfigured_deltas");
      packer.pack_uint64(projection.unconfigured_deltas);
      pack_string(packer, "updated_ms");
      packer.pack_int64(projection.updated_ms);
      return;
    case ActorKind::kContest:
      packer.pack_map(3);
      pack_string(packer, "kind");
      pack_string(packer, "contest");
      pack_string(packer, "ballots");
      packer.pack_uint64(projection.counts.ballots);
      pack_string(packer, "updated_ms");
      packer.pack_int64(projection.updated_ms);
      return;
  }
}

}  // namespace quorum::plugins::election
