// election: the actors of an election (docs/election-actors.md; the issue 6
// contract). One handler for every key of the election namespace:
//
//   elections                    register                 the registry
//   election/EID                 definition, reported     the definition
//   election/EID/dir/N           units                    a directory page
//   election/EID/unit/ESC(id)    configure, cvr, delta,   a reporting unit
//                                flush, close, reported
//   election/EID/contest/ESC(id) cvr, cvrs                a ranked-choice contest
//
// Any other key: every message is accepted unchanged after one prefix
// compare (the handler runs on every actor of every node). On an election
// key, a type not listed for its kind is accepted unchanged too, except
// "cvr", which is refused anywhere but a leaf unit or a contest actor.
//
// Roll-ups: a leaf sends "delta"s (the summed counts of the ballots it took
// since its last flush) DIRECTLY to every unit in its config's parents, and
// "close" sends "reported" to every parent and to the election actor. The
// host delivers effects at least once and applies them exactly once (dedup
// by source key and sequence), and counts add, so every roll-up ends equal
// to the sum of the leaves under it in any delivery order — a DAG (a
// precinct in a county and in a district) counts each ballot once per
// roll-up.
//
// FLUSHING. A leaf does not send a delta per ballot: the counts of the
// ballots since its last flush wait in the projection ("pending"), with the
// ranked-choice contests' reduced CVRs, and one flush sends them all: one
// "delta" per parent and one "cvrs" per ranked-choice contest actor. A leaf
// flushes when a cvr makes kFlushBallots ballots pending, when a cvr
// arrives kFlushAfterMs (envelope time) or more after the oldest pending
// one, before the pending CVRs would pass kFlushCvrBytes, on "flush" (which
// quorumctl ingest sends to the precincts it fed, once a second and at the
// end) and on "close". Every trigger is in the log (the message and its
// envelope time), so a replay sends exactly the same effects. This cuts the
// commands a ballot costs from 1 + parents + ranked contests to about 1.
//
// AUDIT. A leaf's close sends its final counts with "reported"; a roll-up
// sums them ("reported_contests") and, once every leaf under it (its
// config's "leaves") has reported and their ballots have all arrived as
// deltas, compares its counts with that sum: "balanced", or "differs" with
// the differences listed (a delta lost, applied twice, or a leaf whose
// deltas disagree with its own counts). Before that its audit is "open"
// (leaves still counting) or "pending" (deltas in flight). The results
// builder's `format=audit` also checks every roll-up against its leaves'
// projections; this check is the handler's own, kept in the log's replay.
//
// Every refusal comes before the first change (decides_before_mutating), so
// handle_batch folds a round of ballots into one decode and one encode.
#pragma once

#include "canonical.hpp"
#include "counts.hpp"
#include "cvr_view.hpp"
#include "documents.hpp"
#include "keys.hpp"
#include "projection.hpp"
#include "rcv.hpp"

#include <quorum/sdk/sdk.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::plugins::election {

inline constexpr size_t kMaxElections = 10000;  // registry bound
inline constexpr size_t kMaxElectionNameBytes = 1024;
// A leaf's flush triggers (FLUSHING above).
inline constexpr uint64_t kFlushBallots = 100;
inline constexpr int64_t kFlushAfterMs = 1000;
inline constexpr size_t kFlushCvrBytes = size_t{256} << 10;
inline constexpr size_t kMaxAuditDifferences = 20;  // listed in a roll-up's audit

// Whether `key` is `elections` or starts with `election/`: one compare.
inline bool in_election_namespace(std::string_view key) noexcept {
  return key.substr(0, quorum::election::kElectionPrefix.size()) == quorum::election::kElectionPrefix ||
         key == quorum::election::kElectionsKey;
}

namespace handler_detail {

using quorum::sdk::Effect;
using quorum::sdk::Message;
using quorum::sdk::MsgEntry;
using quorum::sdk::MsgView;
using quorum::sdk::Outcome;

inline std::string bytes_of(const msgpack::sbuffer& buffer) { return std::string(buffer.data(), buffer.size()); }

// A string field of a map payload, or nullopt.
inline std::optional<std::string_view> string_field(const MsgView& data, std::string_view key) {
  const std::optional<MsgView> value = data.find(key);
  return value ? value->as_string() : std::nullopt;
}

// Directory page numbers: canonical decimal ("0", "17"; no sign or leading zero).
inline std::optional<uint64_t> page_number(std::string_view text) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// The same CVR reduced to its current snapshot holding only the CVRContest
// entries of contest `cid` (for the contest actor of a ranked-choice
// contest). `cvr` was accepted by cvr::read, which picked the snapshot by the
// same rule: the last CurrentSnapshotId names it by "@id", else the last one.
inline std::string reduce_cvr(const MsgView& cvr, std::string_view cid) {
  MsgView snapshots;
  MsgView current;
  uint32_t others = 0;
  for (const MsgEntry& entry : cvr.items()) {
    const std::string_view key = entry.key_string();
    if (key == "CVRSnapshot") {
      snapshots = entry.value;
      continue;
    }
    if (key == "CurrentSnapshotId") {
      current = entry.value;
    }
    ++others;
  }
  MsgView snapshot;
  const std::optional<std::string_view> wanted = current.present() ? current.as_string() : std::nullopt;
  for (const MsgView& candidate : snapshots.elements()) {
    if (wanted) {
      const std::optional<MsgView> id = candidate.find("@id");
      if (id && id->as_string() == wanted && !snapshot.present()) {
        snapshot = candidate;
      }
    } else {
      snapshot = candidate;  // the last one
    }
  }
  msgpack::sbuffer buffer(512);
  Packer packer(buffer);
  packer.pack_map(others + 1);
  for (const MsgEntry& entry : cvr.items()) {
    if (entry.key_string() == "CVRSnapshot") {
      continue;
    }
    const std::string_view key = entry.key.encoded();
    const std::string_view value = entry.value.encoded();
    buffer.write(key.data(), key.size());
    buffer.write(value.data(), value.size());
  }
  pack_string(packer, "CVRSnapshot");
  packer.pack_array(1);
  uint32_t fields = 0;
  bool has_contests = false;
  std::vector<std::string_view> kept;
  for (const MsgEntry& entry : snapshot.items()) {
    if (entry.key_string() == "CVRContest") {
      if (!has_contests) {
        for (const MsgView& contest : entry.value.elements()) {
          const std::optional<MsgView> id = contest.find("ContestId");
          if (id && id->as_string() == cid) {
            kept.push_back(contest.encoded());
          }
        }
      }
      has_contests = true;
      continue;
    }
    ++fields;
  }
  packer.pack_map(fields + 1);
  for (const MsgEntry& entry : snapshot.items()) {
    if (entry.key_string() == "CVRContest") {
      continue;
    }
    const std::string_view key = entry.key.encoded();
    const std::string_view value = entry.value.encoded();
    buffer.write(key.data(), key.size());
    buffer.write(value.data(), value.size());
  }
  pack_string(packer, "CVRContest");
  packer.pack_array(static_cast<uint32_t>(kept.size()));
  for (const std::string_view contest : kept) {
    buffer.write(contest.data(), contest.size());
  }
  return bytes_of(buffer);
}

// "" if the rcv plugin reads the reduced CVR `cvr` as a ballot under any
// rules (the defaults read every rank), else why not: a precinct refuses
// what its contest actor would refuse, since a flush's "cvrs" go whole.
inline std::string check_ranked(std::string_view cvr) {
  try {
    const msgpack::object_handle handle = msgpack::unpack(cvr.data(), cvr.size());
    (void)quorum::plugins::rcv::detail::read_ballot(handle.get(), quorum::plugins::rcv::Rules{});
  } catch (const quorum::sdk::InvalidMessage& error) {
    return error.what();
  } catch (const std::exception& error) {
    return std::string("unreadable: ") + error.what();
  }
  return {};
}

// The "delta" payload of a leaf's pending counts: {"from": unit, "ballots":
// n, "contests": {...}} (the layout read_delta reads).
inline std::string delta_payload(std::string_view from, const Counts& counts) {
  msgpack::sbuffer buffer(512);
  Packer packer(buffer);
  packer.pack_map(3);
  pack_string(packer, "from");
  pack_string(packer, from);
  pack_string(packer, "ballots");
  packer.pack_uint64(counts.ballots);
  pack_string(packer, "contests");
  pack_contests(packer, counts, false);
  return bytes_of(buffer);
}

// The "cvrs" payload for a contest actor: {"cvrs": [reduced CVR, ...]}.
inline std::string cvrs_payload(const std::vector<std::string>& cvrs) {
  size_t bytes = 16;
  for (const std::string& cvr : cvrs) {
    bytes += cvr.size();
  }
  msgpack::sbuffer buffer(bytes);
  Packer packer(buffer);
  packer.pack_map(1);
  pack_string(packer, "cvrs");
  packer.pack_array(static_cast<uint32_t>(cvrs.size()));
  for (const std::string& cvr : cvrs) {
    buffer.write(cvr.data(), cvr.size());  // one msgpack value each
  }
  return bytes_of(buffer);
}

// Sends what leaf `unit` holds pending (FLUSHING): one delta per parent
// (sorted, as the config lists them), then one "cvrs" per ranked-choice
// contest (by contest id). Empties the pending state; a no-op when nothing
// is pending.
inline void flush_pending(const std::string& eid, const std::string& unit, ElectionProjection& projection,
                          std::vector<Effect>& effects) {
  if (!projection.has_pending()) {
    return;
  }
  if (projection.pending.ballots > 0 && !projection.config.parents.empty()) {
    const std::string payload = delta_payload(unit, projection.pending);
    for (const std::string& parent : projection.config.parents) {
      effects.push_back({quorum::election::unit_key(eid, parent), "delta", payload});
    }
  }
  for (const auto& [cid, cvrs] : projection.pending_cvrs) {
    effects.push_back({quorum::election::contest_key(eid, cid), "cvrs", cvrs_payload(cvrs)});
  }
  projection.dirty = true;
  projection.pending = Counts{};
  projection.pending_cvrs = {};
  projection.pending_cvr_bytes = 0;
  projection.pending_since_ms = 0;
}

inline std::string from_payload(std::string_view from) {
  msgpack::sbuffer buffer(64);
  Packer packer(buffer);
  packer.pack_map(1);
  pack_string(packer, "from");
  pack_string(packer, from);
  return bytes_of(buffer);
}

// A leaf's "reported" effect: who, and the counts it holds for good.
inline std::string reported_payload(std::string_view from, const Counts& counts) {
  msgpack::sbuffer buffer(256);
  Packer packer(buffer);
  packer.pack_map(3);
  pack_string(packer, "ballots");
  packer.pack_uint64(counts.ballots);
  pack_string(packer, "contests");
  pack_contests(packer, counts, false);
  pack_string(packer, "from");
  pack_string(packer, from);
  return bytes_of(buffer);
}

// The roll-up audit (AUDIT above) from the unit's state.
inline void update_audit(ElectionProjection& projection) {
  projection.audit_differences.clear();
  if (!projection.configured()) {
    projection.audit = "open";
  } else if (projection.config.leaf) {
    projection.audit = "leaf";
  } else if (projection.reported_leaves < projection.config.leaves) {
    projection.audit = "open";
  } else if (projection.counts.ballots < projection.reported_ballots) {
    projection.audit = "pending";
  } else {
    projection.audit_differences = differences(projection.counts, projection.reported_counts, kMaxAuditDifferences);
    projection.audit = projection.audit_differences.empty() ? "balanced" : "differs";
  }
}

// Reads a "delta" payload into `counts` and `from`; "" or why not.
inline std::string read_delta(const MsgView& data, std::string& from, FlatCounts& counts) {
  if (!data.is_map()) {
    return "a delta must be a map";
  }
  const std::optional<std::string_view> source = string_field(data, "from");
  if (!source) {
    return "a delta needs a string 'from'";
  }
  from.assign(*source);
  const std::optional<MsgView> ballots = data.find("ballots");
  if (!ballots || !ballots->as_uint()) {
    return "a delta needs a non-negative integer 'ballots'";
  }
  counts.ballots = *ballots->as_uint();
  const std::optional<MsgView> contests = data.find("contests");
  if (!contests) {
    return "a delta needs 'contests'";
  }
  return read_contests(*contests, counts);
}

inline void touch(ElectionProjection& projection, int64_t time_ms) {
  projection.updated_ms = std::max(projection.updated_ms, time_ms);
}

// Makes a fresh actor of `kind` (kNone) or checks the parsed one is one.
inline std::string claim(ElectionProjection& projection, ActorKind kind) {
  if (projection.kind == ActorKind::kNone) {
    return {};
  }
  return projection.kind == kind ? std::string{} : std::string("election projection of another kind on this key");
}

}  // namespace handler_detail

struct ElectionHandler {
  static constexpr const char* name = "election";
  static constexpr const char* version = "1.1.0";
  static constexpr uint32_t projection_schema = 1;

  using Projection = ElectionProjection;

  static constexpr bool lazy_message = true;
  static constexpr bool decides_before_mutating = true;

  // Keeps the bytes; parse() reads them only when a message needs them.
  static void decode_bytes(std::string_view bytes, Projection& projection) {
    projection = Projection{};
    if (!bytes.empty()) {
      projection.raw.assign(bytes);
      projection.parsed = false;
    }
  }
  // Every change below sets projection.dirty right where it starts (after
  // every refusal), so encode() knows whether to write the fields.

  static void encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection) {
    election::encode(packer, projection);
  }

  quorum::sdk::Outcome handle(const quorum::sdk::Context& context, const quorum::sdk::Message& message,
                              Projection& projection) const {
    using quorum::election::KeyKind;
    using quorum::sdk::Outcome;
    const std::string_view key = context.key;
    // The hot path for every other actor: one prefix compare, nothing decoded.
    if (!in_election_namespace(key)) {
      return Outcome::accept();
    }
    const quorum::election::ParsedKey parsed = quorum::election::parse_key(key);
    switch (parsed.kind) {
      case KeyKind::kNone:
        return Outcome::accept();
      case KeyKind::kRegistry:
        if (message.type == "register") {
          return on_register(message, projection);
        }
        break;
      case KeyKind::kElection:
        if (message.type == "definition") {
          return on_definition(parsed, message, projection);
        }
        if (message.type == "reported") {
          return on_reported(message, projection, ActorKind::kElection);
        }
        break;
      case KeyKind::kDirectory:
        if (message.type == "units") {
          return on_units(parsed, message, projection);
        }
        break;
      case KeyKind::kUnit:
        return on_unit(parsed, message, projection);
      case KeyKind::kContest:
        if (message.type == "cvr" || message.type == "cvrs") {
          return on_contest_cvr(message, projection);
        }
        return Outcome::accept();
      case KeyKind::kOther:
        break;
    }
    if (message.type == "cvr") {
      return Outcome::reject("ballots go to a precinct (leaf) unit: " + std::string(key) + " is not one");
    }
    return Outcome::accept();
  }

 private:
  using Outcome = quorum::sdk::Outcome;
  using Message = quorum::sdk::Message;
  using MsgView = quorum::sdk::MsgView;

  static Outcome on_register(const Message& message, Projection& projection) {
    using namespace handler_detail;
    const MsgView& data = message.data_view;
    const std::optional<std::string_view> id = data.is_map() ? string_field(data, "id") : std::nullopt;
    const std::optional<std::string_view> title = data.is_map() ? string_field(data, "name") : std::nullopt;
    if (!id || !title) {
      return Outcome::reject("register needs {\"id\": election id, \"name\": string}");
    }
    if (!quorum::election::valid_election_id(*id)) {
      return Outcome::reject("invalid election id '" + std::string(*id) + "': [A-Za-z0-9.-]{1,64}");
    }
    if (title->size() > kMaxElectionNameBytes) {
      return Outcome::reject("an election name is at most " + std::to_string(kMaxElectionNameBytes) + " bytes");
    }
    parse(projection);
    if (std::string error = claim(projection, ActorKind::kRegistry); !error.empty()) {
      return Outcome::reject(error);
    }
    for (const auto& [known, known_name] : projection.elections) {
      if (known == *id) {
        if (known_name == *title) {
          return Outcome::accept();
        }
        return Outcome::reject("election " + known + " is already registered with the name '" + known_name + "'");
      }
    }
    if (projection.elections.size() >= kMaxElections) {
      return Outcome::reject("the registry is full (" + std::to_string(kMaxElections) + " elections)");
    }
    projection.dirty = true;
    projection.kind = ActorKind::kRegistry;
    projection.elections.emplace_back(std::string(*id), std::string(*title));
    return Outcome::accept();
  }

  static Outcome on_definition(const quorum::election::ParsedKey& key, const Message& message, Projection& projection) {
    using namespace handler_detail;
    const std::string eid(key.election);
    if (std::string error = check_definition(message.data_view, eid); !error.empty()) {
      return Outcome::reject("invalid definition of election " + eid + ": " + error);
    }
    std::string bytes;
    if (std::string error = canonical(message.data_view, bytes); !error.empty()) {
      return Outcome::reject("invalid definition of election " + eid + ": " + error);
    }
    parse(projection);
    if (std::string error = claim(projection, ActorKind::kElection); !error.empty()) {
      return Outcome::reject(error);
    }
    if (!projection.definition.empty()) {
      if (projection.definition == bytes) {
        return Outcome::accept();
      }
      return Outcome::reject("election " + eid + " is already defined with a different definition");
    }
    projection.dirty = true;
    projection.kind = ActorKind::kElection;
    projection.definition = std::move(bytes);
    return Outcome::accept();
  }

  static Outcome on_units(const quorum::election::ParsedKey& key, const Message& message, Projection& projection) {
    using namespace handler_detail;
    const std::string eid(key.election);
    const std::optional<uint64_t> page = page_number(key.rest);
    if (!page) {
      return Outcome::reject("'" + std::string(key.rest) + "' is not a directory page number");
    }
    if (std::string error = check_directory(message.data_view, eid, *page, quorum::election::kUnitsPerPage);
        !error.empty()) {
      return Outcome::reject("invalid directory page " + std::to_string(*page) + " of election " + eid + ": " + error);
    }
    std::string bytes;
    const std::optional<MsgView> units = message.data_view.find("units");
    if (std::string error = canonical(*units, bytes); !error.empty()) {
      return Outcome::reject("invalid directory page " + std::to_string(*page) + " of election " + eid + ": " + error);
    }
    parse(projection);
    if (std::string error = claim(projection, ActorKind::kDirectory); !error.empty()) {
      return Outcome::reject(error);
    }
    if (projection.kind == ActorKind::kDirectory) {
      if (projection.units == bytes) {
        return Outcome::accept();
      }
      return Outcome::reject("directory page " + std::to_string(*page) + " of election " + eid +
                             " is already set with different units");
    }
    projection.dirty = true;
    projection.kind = ActorKind::kDirectory;
    projection.page = *page;
    projection.units = std::move(bytes);
    return Outcome::accept();
  }

  static Outcome on_reported(const Message& message, Projection& projection, ActorKind kind) {
    using namespace handler_detail;
    const MsgView& data = message.data_view;
    if (!data.is_map() || !string_field(data, "from")) {
      return Outcome::reject("reported needs {\"from\": unit id, \"ballots\": uint}");
    }
    uint64_t ballots = 0;  // absent: a leaf closed before the count was sent
    if (const std::optional<MsgView> field = data.find("ballots")) {
      const std::optional<uint64_t> number = field->as_uint();
      if (!number) {
        return Outcome::reject("reported: 'ballots' must be a non-negative integer");
      }
      ballots = *number;
    }
    FlatCounts final_counts;  // the leaf's counts, for a roll-up's audit
    const std::optional<MsgView> contests = data.find("contests");
    if (contests && kind == ActorKind::kUnit) {
      if (std::string error = read_contests(*contests, final_counts); !error.empty()) {
        return Outcome::reject("reported: " + error);
      }
    }
    parse(projection);
    if (std::string error = claim(projection, kind); !error.empty()) {
      return Outcome::reject(error);
    }
    if (projection.reported_ballots > UINT64_MAX - ballots || !can_add(projection.reported_counts, final_counts)) {
      return Outcome::reject("reported from " + std::string(*string_field(data, "from")) + ": a count would overflow");
    }
    projection.dirty = true;
    projection.kind = kind;
    projection.reported_leaves += 1;
    projection.reported_ballots += ballots;
    if (kind == ActorKind::kUnit) {
      final_counts.ballots = ballots;
      add(projection.reported_counts, final_counts);
      update_audit(projection);
    }
    touch(projection, message.time_ms);
    return Outcome::accept();
  }

  // "cvr" (one ballot) or "cvrs" ({"cvrs": [CVR, ...]}, a leaf's flush):
  // counts the ballots; the rcv plugin tabulates the same messages.
  static Outcome on_contest_cvr(const Message& message, Projection& projection) {
    using namespace handler_detail;
    uint64_t ballots = 1;
    if (message.type == "cvrs") {
      const std::optional<MsgView> cvrs = message.data_view.is_map() ? message.data_view.find("cvrs") : std::nullopt;
      if (!cvrs || !cvrs->is_array()) {
        return Outcome::reject("cvrs needs {\"cvrs\": [CVR, ...]}");
      }
      ballots = cvrs->elements().size();
    }
    parse(projection);
    if (std::string error = claim(projection, ActorKind::kContest); !error.empty()) {
      return Outcome::reject(error);
    }
    if (projection.counts.ballots > UINT64_MAX - ballots) {
      return Outcome::reject("a contest's ballot count would overflow");
    }
    projection.dirty = true;
    projection.kind = ActorKind::kContest;
    projection.counts.ballots += ballots;
    touch(projection, message.time_ms);
    return Outcome::accept();
  }

  static Outcome on_unit(const quorum::election::ParsedKey& key, const Message& message, Projection& projection) {
    using namespace handler_detail;
    const bool listed = message.type == "configure" || message.type == "cvr" || message.type == "delta" ||
                        message.type == "flush" || message.type == "close" || message.type == "reported";
    if (!listed) {
      return Outcome::accept();
    }
    const std::optional<std::string> unit = quorum::election::unescape_segment(key.rest);
    if (!unit) {
      return Outcome::reject("'" + std::string(key.rest) + "' is not an escaped unit id (see escape_segment)");
    }
    parse(projection);
    if (std::string error = claim(projection, ActorKind::kUnit); !error.empty()) {
      return Outcome::reject(error);
    }
    const std::string eid(key.election);
    if (message.type == "configure") {
      return on_configure(eid, *unit, message, projection);
    }
    if (message.type == "cvr") {
      return on_cvr(eid, *unit, message, projection);
    }
    if (message.type == "delta") {
      return on_delta(message, projection);
    }
    if (message.type == "flush") {
      return on_flush(eid, *unit, projection);
    }
    if (message.type == "close") {
      return on_close(eid, *unit, message, projection);
    }
    return on_reported(message, projection, ActorKind::kUnit);
  }

  static Outcome on_configure(const std::string& eid, const std::string& unit, const Message& message,
                              Projection& projection) {
    using namespace handler_detail;
    const MsgView& data = message.data_view;
    const std::optional<std::string_view> election = data.is_map() ? string_field(data, "election") : std::nullopt;
    const std::optional<MsgView> config_view = data.is_map() ? data.find("unit") : std::nullopt;
    if (!election || !config_view) {
      return Outcome::reject("configure needs {\"election\": EID, \"unit\": UnitConfig}");
    }
    if (*election != eid) {
      return Outcome::reject("configure names election '" + std::string(*election) + "', the key election " + eid);
    }
    UnitConfig config;
    if (std::string error = read_unit_config(*config_view, config); !error.empty()) {
      return Outcome::reject("invalid unit config: " + error);
    }
    if (config.id != unit) {
      return Outcome::reject("the config is for unit '" + config.id + "', the key names unit '" + unit + "'");
    }
    std::string bytes;
    if (std::string error = canonical(*config_view, bytes); !error.empty()) {
      return Outcome::reject("invalid unit config: " + error);
    }
    if (projection.configured()) {
      if (projection.config_bytes == bytes) {
        return Outcome::accept();
      }
      return Outcome::reject("unit " + unit + " of election " + eid + " is already configured differently");
    }
    projection.dirty = true;
    projection.kind = ActorKind::kUnit;
    projection.config_bytes = std::move(bytes);
    projection.config = std::move(config);
    for (const UnitConfig::Contest& contest : projection.config.contests) {
      projection.counts.contest(contest.id);  // zeros for every contest in scope
    }
    update_audit(projection);
    return Outcome::accept();
  }

  static Outcome on_cvr(const std::string& eid, const std::string& unit, const Message& message,
                        Projection& projection) {
    using namespace handler_detail;
    if (!projection.configured()) {
      return Outcome::reject("unit " + unit + " of election " + eid + " is not configured: load the election first");
    }
    if (!projection.config.leaf) {
      return Outcome::reject("ballots go to a precinct (leaf) unit: " + unit + " is a roll-up");
    }
    if (projection.reported) {
      return Outcome::reject("precinct " + unit + " has reported (closed); it takes no more ballots");
    }
    cvr::Ballot ballot;
    ballot.contests.reserve(16);
    ballot.selections.reserve(64);
    if (std::string error = cvr::read(message.data_view, ballot); !error.empty()) {
      return Outcome::reject(std::move(error));
    }
    if (!ballot.ballot_style_unit_id.empty() && ballot.ballot_style_unit_id != unit) {
      return Outcome::reject("the ballot's BallotStyleUnitId '" + std::string(ballot.ballot_style_unit_id) +
                             "' is not unit " + unit);
    }
    FlatCounts counts;
    count_ballot(ballot, projection.config, counts);
    if (!can_add(projection.counts, counts)) {
      return Outcome::reject("unit " + unit + ": a count would overflow");
    }
    // Decided: the change, then the flushes it triggers (FLUSHING).
    std::vector<std::pair<std::string_view, std::string>> reduced;  // (ranked-choice contest, its CVR)
    size_t reduced_bytes = 0;
    for (const FlatCounts::Contest& contest : counts.contests) {
      const UnitConfig::Contest* configured = projection.config.contest(contest.id);
      if (configured != nullptr && configured->rcv) {
        std::string cvr = reduce_cvr(message.data_view, contest.id);
        if (std::string error = check_ranked(cvr); !error.empty()) {
          return Outcome::reject("ranked-choice contest " + std::string(contest.id) + ": " + error);
        }
        reduced_bytes += cvr.size();
        reduced.emplace_back(contest.id, std::move(cvr));
      }
    }
    std::vector<quorum::sdk::Effect> effects;
    if (projection.pending_cvr_bytes + reduced_bytes > kFlushCvrBytes) {
      flush_pending(eid, unit, projection, effects);  // keeps each "cvrs" under the bound
    }
    projection.dirty = true;
    add(projection.counts, counts);
    if (!projection.has_pending()) {
      projection.pending_since_ms = message.time_ms;
    }
    add(projection.pending, counts);
    for (auto& [cid, cvr] : reduced) {
      projection.pending_cvr_bytes += cvr.size();
      projection.pending_cvrs[cid].push_back(std::move(cvr));
    }
    touch(projection, message.time_ms);
    if (projection.pending.ballots >= kFlushBallots || projection.pending_cvr_bytes > kFlushCvrBytes ||
        message.time_ms - projection.pending_since_ms >= kFlushAfterMs) {
      flush_pending(eid, unit, projection, effects);
    }
    return Outcome::accept(std::move(effects));
  }

  // "flush" at a leaf sends what it holds pending; anywhere else (or with
  // nothing pending) it changes nothing.
  static Outcome on_flush(const std::string& eid, const std::string& unit, Projection& projection) {
    using namespace handler_detail;
    if (!projection.configured() || !projection.config.leaf) {
      return Outcome::accept();
    }
    std::vector<quorum::sdk::Effect> effects;
    flush_pending(eid, unit, projection, effects);
    return Outcome::accept(std::move(effects));
  }

  static Outcome on_delta(const Message& message, Projection& projection) {
    using namespace handler_detail;
    std::string from;
    FlatCounts counts;
    if (std::string error = read_delta(message.data_view, from, counts); !error.empty()) {
      return Outcome::reject("invalid delta: " + error);
    }
    if (!can_add(projection.counts, counts)) {
      return Outcome::reject("delta from " + from + ": a count would overflow");
    }
    projection.dirty = true;
    projection.kind = ActorKind::kUnit;
    add(projection.counts, counts);
    projection.deltas += 1;
    if (!projection.configured()) {
      projection.unconfigured_deltas += 1;
    }
    if (projection.reported_leaves > 0) {  // else still "open"
      update_audit(projection);
    }
    touch(projection, message.time_ms);
    return Outcome::accept();
  }

  static Outcome on_close(const std::string& eid, const std::string& unit, const Message& message,
                          Projection& projection) {
    using namespace handler_detail;
    if (!projection.configured()) {
      return Outcome::reject("unit " + unit + " of election " + eid + " is not configured: load the election first");
    }
    if (!projection.config.leaf) {
      return Outcome::reject("only a precinct (leaf) unit is closed: " + unit + " is a roll-up");
    }
    if (projection.reported) {
      return Outcome::accept();
    }
    std::vector<quorum::sdk::Effect> effects;
    flush_pending(eid, unit, projection, effects);  // its ballots go before it says it has reported
    const std::string payload = reported_payload(unit, projection.counts);
    for (const std::string& parent : projection.config.parents) {
      effects.push_back({quorum::election::unit_key(eid, parent), "reported", payload});
    }
    effects.push_back({quorum::election::election_key(eid), "reported", payload});
    projection.dirty = true;
    projection.reported = true;
    projection.reported_leaves += 1;
    projection.reported_ballots += projection.counts.ballots;
    touch(projection, message.time_ms);
    return Outcome::accept(std::move(effects));
  }
};

}  // namespace quorum::plugins::election
