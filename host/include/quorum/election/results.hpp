// Election results: a pure model builder over the projections of an
// election's actors (docs/api.md "Results"), and its renderings.
//
// The node keeps an election in many actors (keys.hpp): the election actor
// (definition, leaves reported), directory pages (every unit's config), one
// actor per reporting unit (counts), one per ranked-choice contest (rounds,
// the `rcv` plugin's projection). build_results() turns the msgpack bytes of
// those projections into one Results value; render_*() write it as the
// formats of GET /v1/results. No I/O here: the gatherer (results_gather.hpp)
// reads the actors, tests hand-build the bytes.
//
// Projection layouts are the contract of /work/notes/s13-election-spec.md
// (docs/election-actors.md): unit {"kind":"unit","config",...}, election
// {"kind":"election","definition",...}, directory {"kind":"directory",...};
// the rcv layout is plugins/rcv/rcv.hpp's. Keys are looked up by name, so
// key order does not matter; a value of the wrong type is an error naming
// the actor, never a guess. EMPTY bytes (a handler that never changed the
// actor) read as absent: no definition, no counts, no rounds.
#pragma once

#include <quorum/host/result.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::election {

// Bounds on what the builder accepts (an election past them is refused with
// a clear error rather than rendered slowly).
inline constexpr size_t kMaxResultsUnits = 1'000'000;
inline constexpr size_t kMaxResultsContests = 10'000;

// The raw projections read from the node (msgpack bytes of one handler slot).
struct ResultsInput {
  std::string election_id;
  std::string election;                      // slot "election" of election/EID
  std::vector<std::string> directory_pages;  // slot "election" of election/EID/dir/N, any order
  std::map<std::string, std::string> units;  // unit id -> slot "election" of its unit actor
  std::map<std::string, std::string> rcv;    // contest id -> slot "rcv" of its contest actor
  bool all_units = false;                    // every unit was read (units=all / nist-err / csv / audit)
  int64_t now_ms = 0;                        // generation time (GeneratedDate, AP timestamp)
};

struct Count {
  uint64_t ballots = 0;
  uint64_t overvotes = 0;
  uint64_t undervotes = 0;
  std::map<std::string, uint64_t> selections;  // selection id -> votes
  bool operator==(const Count&) const = default;
};

struct Reporting {
  uint64_t reported = 0;
  uint64_t total = 0;
};

struct SelectionResult {
  std::string id;
  std::string name;
  std::string party;  // party id or ""
  std::vector<std::string> candidates;
  bool write_in = false;
  uint64_t votes = 0;
  double percent = 0;  // share of the contest's selection votes, 0..100
};

struct RoundResult {
  uint64_t round = 0;
  std::map<std::string, uint64_t> tallies;
  uint64_t exhausted = 0;
  std::vector<std::string> eliminated;
  std::optional<std::string> elected;
};

struct ContestResult {
  std::string id;
  std::string name;
  std::string kind;  // candidate | party | ballot-measure | retention | other
  std::string district_id;
  std::string district_name;
  uint64_t votes_allowed = 0;
  bool rcv = false;
  Reporting reporting;  // leaves of the district unit
  uint64_t ballots = 0;
  uint64_t overvotes = 0;
  uint64_t undervotes = 0;
  std::vector<SelectionResult> selections;  // definition order, zero-filled
  std::vector<RoundResult> rounds;          // rcv only
};

struct UnitResult {
  std::string id;
  std::string name;
  std::string type;
  bool leaf = false;
  std::vector<std::string> parents;
  uint64_t leaves = 0;
  std::vector<std::string> in_scope;  // contest ids (the config's "contests")
  bool seen = false;                  // the unit actor has a projection
  uint64_t ballots = 0;
  bool reported = false;
  uint64_t reported_leaves = 0;
  uint64_t reported_ballots = 0;  // ballots its reported leaves held when they closed
  // The roll-up's own audit (the election handler's: open, pending,
  // balanced, differs; "leaf" for a precinct; "" when not read).
  std::string handler_audit;
  std::vector<std::string> handler_differences;
  int64_t updated_ms = 0;
  std::map<std::string, Count> contests;  // in-scope contests, zero-filled from the definition
};

struct Candidate {
  std::string id, name, party;
};
struct Party {
  std::string id, name, abbreviation;
};

struct Audit {
  bool computed = false;       // every unit was read (else the counts below are 0)
  uint64_t units_checked = 0;  // roll-ups whose ballots equal their leaves' sum
  uint64_t pending = 0;        // roll-ups with effects still in flight
  std::vector<std::string> differences;
};

struct Results {
  std::string id, name, date, source;
  std::string status;  // unofficial-partial | unofficial-complete
  int64_t updated_ms = 0;
  int64_t generated_ms = 0;
  Reporting reporting;  // leaves, from the election actor
  std::vector<std::string> top;
  std::vector<ContestResult> contests;
  std::vector<Candidate> candidates;
  std::vector<Party> parties;
  bool has_units = false;         // `units` holds every unit of the election (json lists them)
  std::vector<UnitResult> units;  // directory order (when read)
  Audit audit;
};

// Builds the model. Errors: kNotFound (no definition yet), kPluginFailed
// (a projection that does not have the documented layout; the message names
// the actor), kResourceExhausted (past the bounds above).
Result<Results> build_results(const ResultsInput& input);

// Parsers the gatherer needs before it can build (which keys to read next).
struct ElectionSummary {
  std::vector<std::string> rcv_contests;    // contest ids
  std::vector<std::string> district_units;  // distinct, definition order
  uint64_t pages = 0;
  uint64_t units = 0;
};
Result<ElectionSummary> summarize_election(std::string_view eid, std::string_view election_projection);
// Unit ids of a directory page, in page order.
Result<std::vector<std::string>> directory_unit_ids(std::string_view page_projection);
// The last election in the registry's projection (nullopt: none registered).
Result<std::optional<std::string>> last_registered_election(std::string_view registry_projection);

// The audit of roll-ups against their leaves (part of build_results; here
// for tests): for every roll-up whose ballots equal the sum of its leaves'
// ballots, every count must equal the leaves' sum, else a difference is
// listed; otherwise the roll-up is pending.
Audit audit_units(const std::vector<UnitResult>& units);

// The formats of GET /v1/results.
enum class ResultsFormat { kJson, kNistErr, kAp, kCsv, kAudit };
std::optional<ResultsFormat> parse_results_format(std::string_view name);
// Whether the format needs every unit read (nist-err, ap, csv, audit).
bool format_needs_units(ResultsFormat format);
std::string_view content_type(ResultsFormat format);

std::string render_json(const Results& results);      // the page's model (units when has_units)
std::string render_nist_err(const Results& results);  // NIST SP 1500-100 v2 ElectionReport
std::string render_ap(const Results& results);        // AP Elections API v2 shaped
std::string render_csv(const Results& results);       // contest x unit x selection rows
std::string render_audit(const Results& results);     // per roll-up check
std::string render(const Results& results, ResultsFormat format);

// 2026-11-03T20:15:00.123Z
std::string iso_time_ms(int64_t time_ms);

}  // namespace quorum::election
