// Dominion Democracy Suite 5.x exports: the manifest directory as an
// ElectionDefinition, and CvrExport sessions as NIST SP 1500-103 CVR objects
// (so the same handlers count Dominion and NIST ballots).
//
// Manifests read (JSON {"Version", "List": [...]}, in one directory):
//   ElectionEventManifest   name, date, jurisdiction (optional)
//   ContestManifest         Id, Description, DistrictId, VoteFor, NumOfRanks
//   CandidateManifest       Id, Description, ContestId, Type (Regular / WriteIn / QualifiedWriteIn)
//   PartyManifest           Id, Description (optional)
//   PrecinctPortionManifest Id, Description, PrecinctId
//   BallotTypeManifest      Id, Description (optional; the CVR's BallotStyleId)
//   DistrictManifest + DistrictPrecinctPortionManifest (optional: district units)
//
// Units: one leaf per precinct portion (id = the portion's number, e.g.
// "53"); a roll-up "precinct-N" for every precinct that has two or more
// portions; "district-N" per district when the district manifests exist;
// one top unit "county" (named after the jurisdiction) composed of every
// portion. A contest's district is its district unit when it exists, else
// "county". Contest / selection / candidate / party ids are the manifests'
// numbers as decimal strings.
#pragma once

#include <quorum/election/definition.hpp>
#include <quorum/host/result.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace quorum::election {

inline constexpr std::string_view kDominionTopUnit = "county";

struct DominionManifest {
  std::filesystem::path directory;
  ElectionDefinition definition;
  struct ContestInfo {
    bool rcv = false;
  };
  struct CandidateInfo {
    int64_t contest = 0;
    bool write_in = false;  // Type "WriteIn"
  };
  std::unordered_map<int64_t, ContestInfo> contests;
  std::unordered_map<int64_t, CandidateInfo> candidates;
  std::unordered_set<int64_t> portions;
};

// Reads the manifests of `directory`. Errors name the file, the JSON path
// and what is wrong; a missing required manifest is an error.
Result<DominionManifest> load_dominion_manifest(const std::filesystem::path& directory);

// One CvrExport session (an element of "Sessions") as a NIST CVR object.
// UniqueId "T-B-R" (TabulatorId-BatchId-RecordId); BallotStyleUnitId the
// portion of the current card set; one CVRSnapshot per Original / Modified
// ("interpreted" / "modified"), CurrentSnapshotId the one with IsCurrent;
// per contest a CVRContest with Overvotes / Undervotes and one
// CVRContestSelection per candidate whose SelectionPositions are the marks:
// HasIndication "yes" ("unknown" when IsAmbiguous), NumberVotes 1,
// IsAllocable "yes" when IsVote else "no", Rank for ranked-choice contests,
// CVRWriteIn for write-in candidates. Error: the reason, for the caller to
// report with the file and index.
Result<nlohmann::json> dominion_session_to_cvr(const nlohmann::json& session, const DominionManifest& manifest);

}  // namespace quorum::election
