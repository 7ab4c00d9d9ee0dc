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
//   auto      dominion when the file has "Sessions"; rctab when a CVR carries
//             Rank or lacks BallotStyleUnitId; else nist.
//
// Every command: key election/EID/unit/ESC(leaf), type "cvr", data the CVR
// as msgpack, id cvr/EID/ESC(ballot id) where the ballot id is UniqueId,
// else BallotPrePrintedId, else "<file sha256 first 16 hex>-<index>". A
// record that cannot be used (not an object, what the tally plugin's CVR
// reader refuses, an id or key over the node's limits) becomes a
// RecordError naming the file, its index and why; the reader goes on.
//
// Memory: the file's JSON is parsed whole, but each record is converted
// only when its batch is asked for and released from the document after
// that, so at most one batch of commands exists at a time.
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

inline constexpr uint64_t kMaxCvrFileBytes = uint64_t{4} << 30;
inline constexpr size_t kMaxKeyBytes = 256;  // the node's key limit
inline constexpr size_t kMaxIdBytes = 128;   // the node's id limit

struct ReaderOptions {
  std::string election;  // EID
  CvrFormat format = CvrFormat::kAuto;
  std::string default_unit;                     // rctab: the leaf of CVRs without BallotStyleUnitId
  const DominionManifest* dominion = nullptr;   // required for dominion files (auto included)
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

  size_t total() const noexcept { return records_->size(); }
  size_t position() const noexcept { return next_; }
  CvrFormat format() const noexcept { return format_; }
  const std::string& file() const noexcept { return file_; }

  // Converts up to `max` (>= 1) further records: each becomes a command or an
  // error. Returns false when no record is left.
  bool next(size_t max, std::vector<CvrCommand>& commands, std::vector<RecordError>& errors);

 private:
  CvrFileReader() = default;
  Result<CvrCommand> convert(nlohmann::json& record, size_t index) const;

  std::string file_;
  std::string file_sha16_;
  ReaderOptions options_;
  CvrFormat format_ = CvrFormat::kNist;
  std::string scope_unit_;  // rctab: the report's ElectionScopeId
  nlohmann::json document_;
  nlohmann::json* records_ = nullptr;  // the CVR or Sessions array inside document_
  size_t next_ = 0;
};

}  // namespace quorum::election
