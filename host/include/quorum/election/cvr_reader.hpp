// Cast vote records from files as "cvr" commands for the leaf units of an
// election (the issue-6 contract, item 5), one file at a time, in batches.
//
// Formats:
//   nist      NIST SP 1500-103 JSON: CastVoteRecordReport.CVR[]; every CVR
//             must name its leaf (BallotStyleUnitId); Rank on a
//             SelectionPosition is refused (it is not in the schema).
//   rctab     the lenient reading RCTab's files need: Rank accepted; a CVR
//             without BallotStyleUnitId goes to ReaderOptions::default_unit,
//             else to the report's ElectionScopeId.
//   dominion  a CvrExport JSON (Sessions[]) converted to NIST CVR objects
//             (dominion.hpp); needs the manifests (ReaderOptions::dominion).
//   auto      dominion when the file has "Sessions"; else the lenient rctab
//             reading, and format() says rctab once a CVR needed it (Rank,
//             or no BallotStyleUnitId), nist until then.
//
// Every command: key election/EID/unit/ESC(leaf), type "cvr", data the CVR
// as msgpack, id cvr/EID/ESC(ballot id) where the ballot id is UniqueId,
// else BallotPrePrintedId, else "<file sha256 first 16 hex>-<index>". A
// record that cannot be used (not an object, what the tally plugin's CVR
// reader refuses, an id or key over the node's limits) becomes a
// RecordError naming the file, its index and why; the reader goes on.
//
// Memory: files are streamed, never held whole. open() scans the file once
// (structure only: strings and brackets; it counts the records, hashes the
// bytes and keeps the small top-level members such as "Election"); next()
// then reads the records one by one from a second pass, parsing each alone,
// so memory is one batch of commands whatever the file's size. A record
// that is not valid JSON is a RecordError like any other bad record.
#pragma once

#include <quorum/election/definition.hpp>
#include <quorum/election/dominion.hpp>
#include <quorum/host/result.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::election {

enum class CvrFormat { kAuto, kNist, kRctab, kDominion };

Result<CvrFormat> parse_cvr_format(std::string_view name);  // auto | nist | rctab | dominion
std::string_view to_string(CvrFormat format) noexcept;

inline constexpr size_t kMaxRecordTextBytes = size_t{4} << 20;   // one CVR's JSON text; more is a bad record
inline constexpr size_t kMaxHeaderTextBytes = size_t{64} << 20;  // a kept top-level member ("Election")
inline constexpr size_t kMaxKeyBytes = 256;                      // the node's key limit
inline constexpr size_t kMaxIdBytes = 128;                       // the node's id limit

struct ReaderOptions {
  std::string election;  // EID
  CvrFormat format = CvrFormat::kAuto;
  std::string default_unit;                    // rctab: the leaf of CVRs without BallotStyleUnitId
  const DominionManifest* dominion = nullptr;  // required for dominion files (auto included)
};

struct CvrCommand {
  OutCommand command;
  std::string unit;  // the leaf unit id (unescaped)
  size_t index = 0;  // position of the record in the file
};

struct RecordError {
  std::string file;
  size_t index = 0;
  std::string reason;
  std::string text() const { return file + "[#" + std::to_string(index) + "]: " + reason; }
};

class CvrFileReader {
 public:
  // Reads and parses the file and decides its format. Errors: unreadable,
  // not JSON, no CVR / Sessions array, a dominion file without manifests,
  // an invalid election id.
  static Result<std::unique_ptr<CvrFileReader>> open(const std::filesystem::path& path, const ReaderOptions& options);

  size_t total() const noexcept { return total_; }
  size_t position() const noexcept { return next_; }
  CvrFormat format() const noexcept { return format_; }
  const std::string& file() const noexcept { return file_; }

  // Converts up to `max` (>= 1) further records: each becomes a command or an
  // error. Returns false when no record is left.
  bool next(size_t max, std::vector<CvrCommand>& commands, std::vector<RecordError>& errors);

 private:
  struct Stream;
  CvrFileReader();
  Result<CvrCommand> convert(std::string_view text, size_t index);

  std::string file_;
  std::string file_sha16_;
  ReaderOptions options_;
  CvrFormat format_ = CvrFormat::kNist;
  std::string scope_unit_;     // rctab: the report's ElectionScopeId
  bool auto_lenient_ = false;  // auto on a CVR report: format_ becomes kRctab at the first lenient record
  size_t total_ = 0;
  size_t next_ = 0;
  std::unique_ptr<Stream> stream_;  // the second pass, positioned inside the records array

 public:
  ~CvrFileReader();
  CvrFileReader(const CvrFileReader&) = delete;
  CvrFileReader& operator=(const CvrFileReader&) = delete;
};

}  // namespace quorum::election
