// An election's definition as the loader sends it (docs/election-actors.md,
// the issue-6 contract): units, contests, candidates, parties, and the
// hierarchy the host computes from them (atoms, leaves, parents, contests in
// scope), plus the commands that load it into a cluster: register,
// definition, directory pages and one configure per unit.
//
// Why in the host library: the plugin never sees a whole election (it runs
// one actor at a time), so what "parent" and "leaf" mean is decided once,
// here, and handed to every unit in its configuration.
//
// Sources: a NIST SP 1500-100 v2 pre-election report (parse_nist_definition)
// or a Dominion manifest directory (dominion.hpp). Errors are values whose
// message names the file, the JSON path and what is wrong.
#pragma once

#include <quorum/host/result.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::election {

// Bounds: a definition with more is refused (the directory and the memory
// of the loader stay bounded).
inline constexpr size_t kMaxUnits = 1'000'000;
inline constexpr size_t kMaxContests = 10'000;
inline constexpr size_t kMaxCommandDataBytes = 256 * 1024;  // the node's command limit

struct Selection {
  std::string id;
  std::string name;
  std::vector<std::string> candidates;  // candidate ids
  std::string party;                    // party id or ""
  bool write_in = false;
};

struct Contest {
  std::string id;
  std::string name;
  std::string kind;            // candidate | party | ballot-measure | retention | other
  std::string district;        // unit id (ElectionDistrictId)
  uint64_t votes_allowed = 0;  // 0 = unknown
  bool rcv = false;
  uint64_t ranks = 0;  // NumberOfRanks, 0 = none / unknown
  std::vector<Selection> selections;
};

struct Candidate {
  std::string id;
  std::string name;
  std::string party;
};

struct Party {
  std::string id;
  std::string name;
  std::string abbreviation;
};

struct Unit {
  std::string id;
  std::string name;
  std::string type;                    // NIST ReportingUnitType, or "other"
  std::vector<std::string> composing;  // ComposingGpUnitIds (empty: an atom)
};

// What a file says; the hierarchy is computed from it (compute_hierarchy).
struct ElectionDefinition {
  std::string name;
  std::string date;    // YYYY-MM-DD or ""
  std::string source;  // nist | dominion | gen
  std::vector<Unit> units;
  std::vector<Contest> contests;
  std::vector<Candidate> candidates;
  std::vector<Party> parties;
  // Units named by a BallotStyle's GpUnitIds (deduplicated, file order).
  // Empty: no BallotStyle, the leaves are the units without composing units.
  std::vector<std::string> ballot_style_units;
};

// One unit's configuration (the contract's UnitConfig).
struct UnitConfig {
  std::string id;
  std::string name;
  std::string type;
  bool leaf = false;
  std::vector<std::string> parents;  // sorted
  uint64_t leaves = 0;
  std::vector<size_t> contests;  // indexes into ElectionDefinition::contests, in definition order
};

struct Hierarchy {
  std::vector<UnitConfig> units;  // in ElectionDefinition::units order
  std::vector<std::string> top;   // units without parents, in definition order
  uint64_t leaf_count = 0;
};

// Parses a pe-err JSON document (ElectionReport with GpUnit, Party and one
// Election). `file` names the source in error messages.
Result<ElectionDefinition> parse_nist_definition(const nlohmann::json& report, std::string_view file);
// Reads and parses a pe-err JSON file (at most 512 MiB).
Result<ElectionDefinition> load_nist_definition(const std::filesystem::path& path);

// atoms, leaves, parents, leaf counts and contests in scope, exactly as the
// contract says. Errors: duplicate unit / contest ids, a composing id or a
// district or a ballot-style unit that names no unit, a cycle of
// composition, no leaf at all, more than kMaxUnits units.
Result<Hierarchy> compute_hierarchy(const ElectionDefinition& definition);

// A command for POST /v1/commands; data is one msgpack value.
struct OutCommand {
  std::string key;
  std::string id;
  std::string type;
  std::string data;  // msgpack bytes
};

// The first 16 lower-case hex digits of SHA-256 of `bytes`.
std::string short_sha(std::string_view bytes);

// The UnitConfig map of the contract (contests: {cid: {votes_allowed, rcv}}).
nlohmann::json unit_config_json(const ElectionDefinition& definition, const UnitConfig& unit);
// The definition payload (contract item 2) without the per-unit configs;
// `pages` is the number of directory pages plan_load makes.
nlohmann::json definition_json(std::string_view eid, const ElectionDefinition& definition, const Hierarchy& hierarchy,
                               size_t pages);

// Every command that loads the election, in the order they must be sent:
// register, definition, directory pages (units in definition order, at most
// kUnitsPerPage and kMaxCommandDataBytes per page, so a page holds fewer
// units when their configs are large), one configure per unit. Error when a payload exceeds kMaxCommandDataBytes or
// eid is not a valid election id.
struct LoadPlan {
  std::vector<OutCommand> commands;
  size_t units = 0;
  size_t leaves = 0;
  size_t contests = 0;
  size_t pages = 0;
};
Result<LoadPlan> plan_load(std::string_view eid, const ElectionDefinition& definition, const Hierarchy& hierarchy);

// Makes an election id out of a file or directory stem: characters outside
// [A-Za-z0-9.-] become '-', cut to 64 bytes; "election" when nothing is left.
std::string election_id_from_stem(std::string_view stem);

}  // namespace quorum::election
