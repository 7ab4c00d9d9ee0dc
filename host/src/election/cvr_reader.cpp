// CVR files as cvr commands (cvr_reader.hpp).
#include <quorum/election/cvr_reader.hpp>
#include <quorum/election/keys.hpp>
#include <quorum/host/content_store.hpp>

#include "cvr_view.hpp"  // the tally plugin's CVR reader: the same rules as the handlers

#include <msgpack.hpp>

namespace quorum::election {

namespace {

using nlohmann::json;

std::string string_of(const json& object, const char* field) {
  if (object.is_object() && object.contains(field) && object[field].is_string()) {
    return object[field].get<std::string>();
  }
  return "";
}

// Whether any SelectionPosition of any snapshot carries "Rank".
bool has_rank(const json& cvr) {
  if (!cvr.is_object() || !cvr.contains("CVRSnapshot") || !cvr["CVRSnapshot"].is_array()) {
    return false;
  }
  for (const json& snapshot : cvr["CVRSnapshot"]) {
    if (!snapshot.is_object() || !snapshot.contains("CVRContest") || !snapshot["CVRContest"].is_array()) {
      continue;
    }
    for (const json& contest : snapshot["CVRContest"]) {
      if (!contest.is_object() || !contest.contains("CVRContestSelection") ||
          !contest["CVRContestSelection"].is_array()) {
        continue;
      }
      for (const json& selection : contest["CVRContestSelection"]) {
        if (!selection.is_object() || !selection.contains("SelectionPosition") ||
            !selection["SelectionPosition"].is_array()) {
          continue;
        }
        for (const json& position : selection["SelectionPosition"]) {
          if (position.is_object() && position.contains("Rank")) {
            return true;
          }
        }
      }
    }
  }
  return false;
}

}  // namespace

Result<CvrFormat> parse_cvr_format(std::string_view name) {
  if (name == "auto") return CvrFormat::kAuto;
  if (name == "nist") return CvrFormat::kNist;
  if (name == "rctab") return CvrFormat::kRctab;
  if (name == "dominion") return CvrFormat::kDominion;
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown CVR format '" + std::string(name) + "' (auto, nist, rctab or dominion)");
}

std::string_view to_string(CvrFormat format) noexcept {
  switch (format) {
    case CvrFormat::kAuto: return "auto";
    case CvrFormat::kNist: return "nist";
    case CvrFormat::kRctab: return "rctab";
    case CvrFormat::kDominion: return "dominion";
  }
  return "?";
}

Result<std::unique_ptr<CvrFileReader>> CvrFileReader::open(const std::filesystem::path& path,
                                                           const ReaderOptions& options) {
  if (!valid_election_id(options.election)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "election id '" + options.election + "' is not [A-Za-z0-9.-]{1,64}");
  }
  Result<std::string> text = host::read_file(path, kMaxCvrFileBytes);
  if (!text) {
    return make_error(text.error().code, path.string() + ": " + text.error().message);
  }
  std::unique_ptr<CvrFileReader> reader(new CvrFileReader());
  reader->file_ = path.string();
  reader->options_ = options;
  reader->file_sha16_ = short_sha(*text);
  reader->document_ = json::parse(*text, nullptr, false);
  std::string().swap(*text);
  json& document = reader->document_;
  if (document.is_discarded() || !document.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, reader->file_ + ": not a JSON object");
  }
  const bool sessions = document.contains("Sessions") && document["Sessions"].is_array();
  const bool cvrs = document.contains("CVR") && document["CVR"].is_array();
  CvrFormat format = options.format;
  if (format == CvrFormat::kAuto) {
    if (sessions) {
      format = CvrFormat::kDominion;
    } else if (cvrs) {
      format = CvrFormat::kNist;
      for (const json& cvr : document["CVR"]) {
        if (has_rank(cvr) || string_of(cvr, "BallotStyleUnitId").empty()) {
          format = CvrFormat::kRctab;
          break;
        }
      }
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        reader->file_ + ": neither a CastVoteRecordReport (CVR array) nor a Dominion CvrExport "
                                        "(Sessions array)");
    }
  }
  if (format == CvrFormat::kDominion) {
    if (!sessions) {
      return make_error(ErrorCode::kInvalidArgument, reader->file_ + ": $.Sessions: missing or not an array");
    }
    if (options.dominion == nullptr) {
      return make_error(ErrorCode::kInvalidArgument,
                        reader->file_ + ": a Dominion CvrExport needs its manifests (ContestManifest.json ...)");
    }
    reader->records_ = &document["Sessions"];
  } else {
    if (!cvrs) {
      return make_error(ErrorCode::kInvalidArgument, reader->file_ + ": $.CVR: missing or not an array");
    }
    reader->records_ = &document["CVR"];
    if (document.contains("Election") && document["Election"].is_array() && !document["Election"].empty()) {
      reader->scope_unit_ = string_of(document["Election"][0], "ElectionScopeId");
    }
  }
  reader->format_ = format;
  return reader;
}

bool CvrFileReader::next(size_t max, std::vector<CvrCommand>& commands, std::vector<RecordError>& errors) {
  QUORUM_ASSERT(max >= 1);
  const size_t end = std::min(records_->size(), next_ + max);
  for (; next_ < end; ++next_) {
    json& record = (*records_)[next_];
    Result<CvrCommand> command = convert(record, next_);
    record = nullptr;  // release the record: memory stays one batch above the document
    if (command) {
      commands.push_back(std::move(*command));
    } else {
      errors.push_back({file_, next_, command.error().message});
    }
  }
  return next_ < records_->size();
}

Result<CvrCommand> CvrFileReader::convert(json& record, size_t index) const {
  json converted;
  const json* cvr = &record;
  if (format_ == CvrFormat::kDominion) {
    Result<json> made = dominion_session_to_cvr(record, *options_.dominion);
    if (!made) {
      return made.error();
    }
    converted = std::move(*made);
    cvr = &converted;
  }
  if (!cvr->is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "the CVR is not an object");
  }
  if (format_ == CvrFormat::kNist && has_rank(*cvr)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a SelectionPosition carries Rank, which SP 1500-103 does not define (use --format rctab)");
  }
  CvrCommand out;
  out.index = index;
  out.unit = string_of(*cvr, "BallotStyleUnitId");
  if (out.unit.empty()) {
    if (format_ != CvrFormat::kRctab) {
      return make_error(ErrorCode::kInvalidArgument, "no BallotStyleUnitId (the precinct the ballot belongs to)");
    }
    out.unit = !options_.default_unit.empty() ? options_.default_unit : scope_unit_;
    if (out.unit.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "no BallotStyleUnitId, no --unit and no ElectionScopeId in the report");
    }
  }
  const std::vector<uint8_t> bytes = json::to_msgpack(*cvr);
  out.command.data.assign(bytes.begin(), bytes.end());
  if (out.command.data.size() > kMaxCommandDataBytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      "the CVR is " + std::to_string(out.command.data.size()) + " bytes, over the 256 KiB limit");
  }
  // The handlers' own reading of the CVR: refuse here what they would refuse.
  plugins::cvr::Ballot ballot;
  try {
    msgpack::object_handle handle = msgpack::unpack(out.command.data.data(), out.command.data.size());
    if (std::string reason = plugins::cvr::read(handle.get(), ballot); !reason.empty()) {
      return make_error(ErrorCode::kInvalidArgument, reason);
    }
  } catch (const std::exception& error) {
    return make_error(ErrorCode::kInvalidArgument, std::string("the CVR does not encode: ") + error.what());
  }
  std::string ballot_id(ballot.unique_id);
  if (ballot_id.empty()) {
    ballot_id = std::string(ballot.ballot_preprinted_id);
  }
  if (ballot_id.empty()) {
    ballot_id = file_sha16_ + "-" + std::to_string(index);
  }
  const std::string& eid = options_.election;
  out.command.id = "cvr/" + eid + "/" + escape_segment(ballot_id);
  out.command.key = unit_key(eid, out.unit);
  out.command.type = "cvr";
  if (out.command.id.size() > kMaxIdBytes) {
    return make_error(ErrorCode::kInvalidArgument, "ballot id '" + ballot_id + "' makes a command id over " +
                                                       std::to_string(kMaxIdBytes) + " bytes");
  }
  if (out.command.key.size() > kMaxKeyBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unit '" + out.unit + "' makes an actor key over " + std::to_string(kMaxKeyBytes) + " bytes");
  }
  return out;
}

}  // namespace quorum::election
