// Synthetic elections (`quorumctl gen`): a realistic general election of any
// size, written as the files a jurisdiction would hand to Quorum:
//
//   pe-err-<name>.json        NIST SP 1500-100 v2 pre-election ElectionReport
//                             (GpUnits, parties, candidates, contests, one
//                             BallotStyle per precinct)
//   cvr-<name>-NNNNN.json     NIST SP 1500-103 CastVoteRecordReports, at most
//                             `cvrs_per_file` CVRs each, in precinct order
//
// Structure (all derived from the options, see Plan): a state; counties,
// congressional and state-house districts that each cover a contiguous block
// of precincts (their block boundaries differ, so a precinct rolls up into
// several overlapping units: a DAG, not a tree); a city made of the first
// half of county 1's precincts. Contests: governor and US senator (statewide,
// vote for 1, with minor parties and a write-in line), one per congressional
// and state-house district, a county commission per county (vote for 2), a
// statewide ballot measure, and a ranked-choice mayor of the city.
// Ballots carry party-leaning choices (the lean varies per county and
// precinct), write-ins, undervotes (blank contests and short vote-for-2
// ballots) and overvotes (marks not allocable, Overvotes = votes allowed).
//
// Deterministic: the same options give the same bytes. Every precinct draws
// from its own random stream (seed, precinct index), so files can be written
// one precinct at a time. Memory is bounded by the contest list (a few
// hundred contests at most, so the election's definition stays within one
// command), never by the number of precincts or ballots: everything is
// streamed to disk.
#pragma once

#include <quorum/host/result.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace quorum::election::synthetic {

inline constexpr uint64_t kMaxPrecincts = 1'000'000;
inline constexpr uint64_t kMaxBallotsPerPrecinct = 100'000;
inline constexpr uint64_t kMaxCvrsPerFile = 100'000;
inline constexpr uint64_t kMaxCounties = 60;
inline constexpr uint64_t kMaxCongressionalDistricts = 12;
inline constexpr uint64_t kMaxStateHouseDistricts = 40;

// Contest families; a disabled family is left out of the election.
struct Families {
  bool statewide = true;  // governor, US senator
  bool congress = true;   // one per congressional district
  bool house = true;      // one per state-house district
  bool county = true;     // county commission, vote for 2
  bool measure = true;    // statewide ballot measure (yes/no)
  bool rcv = true;        // ranked-choice mayor of the city
};

// Parses "statewide,congress,house,county,measure,rcv" (any non-empty subset,
// or "all").
Result<Families> parse_families(const std::string& list);

struct Options {
  std::string name = "synthetic";  // [A-Za-z0-9.-]{1,48}: file names and ids
  uint64_t precincts = 200;
  uint64_t ballots_per_precinct = 300;
  uint64_t seed = 1;
  uint64_t cvrs_per_file = kMaxCvrsPerFile;
  std::string date = "2026-11-03";  // YYYY-MM-DD, the election day
  Families families;
};

// The shape of the election, derived from Options (no randomness).
struct Plan {
  uint64_t precincts = 0;
  uint64_t counties = 0;
  uint64_t congressional = 0;
  uint64_t house = 0;
  uint64_t city_precincts = 0;  // precincts 0 .. city_precincts-1 form the city
  uint64_t units = 0;           // state + counties + districts + city + precincts
  uint64_t contests = 0;
  uint64_t ballots = 0;  // precincts * ballots_per_precinct
  uint64_t files = 0;    // CVR files
};

// Checks the options and derives the plan; kInvalidArgument with the reason.
Result<Plan> make_plan(const Options& options);

struct Written {
  Plan plan;
  std::filesystem::path definition;  // pe-err-<name>.json
  std::vector<std::filesystem::path> cvr_files;
};

// Called after every precinct with (ballots written, ballots in all).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Writes the definition and the CVR files into `directory` (created if
// missing; existing files of the same names are replaced). kInvalidArgument
// for bad options, kIo when a file cannot be written (the message names it).
Result<Written> write_election(const Options& options, const std::filesystem::path& directory,
                               const ProgressFn& progress = {});

}  // namespace quorum::election::synthetic
