// CVR files as cvr commands (cvr_reader.hpp).
#include <quorum/election/cvr_reader.hpp>
#include <quorum/election/keys.hpp>
#include <quorum/host/content_store.hpp>

#include "cvr_view.hpp"  // the tally plugin's CVR reader: the same rules as the handlers

#include <sodium.h>
#include <msgpack.hpp>

#include <fstream>

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
    case CvrFormat::kAuto:
      return "auto";
    case CvrFormat::kNist:
      return "nist";
    case CvrFormat::kRctab:
      return "rctab";
    case CvrFormat::kDominion:
      return "dominion";
  }
  return "?";
}

// ---- streaming ----

namespace {

// A buffered byte source over a file that hashes what it reads.
class ByteSource {
 public:
  explicit ByteSource(const std::filesystem::path& path, bool hash) : in_(path, std::ios::binary), hash_(hash) {
    if (hash_) {
      crypto_hash_sha256_init(&sha_);
    }
  }
  bool good() const { return static_cast<bool>(in_); }
  int peek() {
    if (pos_ == len_ && !fill()) {
      return -1;
    }
    return static_cast<unsigned char>(buffer_[pos_]);
  }
  int get() {
    const int c = peek();
    if (c >= 0) {
      ++pos_;
      ++offset_;
    }
    return c;
  }
  uint64_t offset() const { return offset_; }
  std::string sha16() {
    QUORUM_ASSERT(hash_);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&sha_, digest);
    host::Sha256 out;
    std::copy(std::begin(digest), std::end(digest), out.begin());
    return host::to_hex(out).substr(0, 16);
  }

 private:
  bool fill() {
    if (!in_) {
      return false;
    }
    in_.read(buffer_, sizeof buffer_);
    len_ = static_cast<size_t>(in_.gcount());
    pos_ = 0;
    if (hash_ && len_ > 0) {
      crypto_hash_sha256_update(&sha_, reinterpret_cast<const unsigned char*>(buffer_), len_);
    }
    return len_ > 0;
  }
  std::ifstream in_;
  bool hash_;
  crypto_hash_sha256_state sha_{};
  char buffer_[1 << 16];
  size_t pos_ = 0;
  size_t len_ = 0;
  uint64_t offset_ = 0;
};

// Structural JSON scanning: strings (with escapes) and balanced brackets;
// full parsing is left to json::parse on each piece. `out` (may be null)
// receives the value's bytes up to `limit`; `truncated` says it was cut.
class Scanner {
 public:
  explicit Scanner(ByteSource& source) : in_(source) {}

  // A UTF-8 byte order mark (Windows exports write one) is not JSON: skip it.
  void skip_bom() {
    if (in_.peek() == 0xEF) {
      in_.get();
      if (in_.get() != 0xBB || in_.get() != 0xBF) {
        bom_broken_ = true;
      }
    }
  }
  bool bom_broken() const { return bom_broken_; }

  void skip_ws() {
    for (int c = in_.peek(); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = in_.peek()) {
      in_.get();
    }
  }
  bool expect(char wanted) {
    skip_ws();
    if (in_.peek() != static_cast<unsigned char>(wanted)) {
      return false;
    }
    in_.get();
    return true;
  }
  int peek() {
    skip_ws();
    return in_.peek();
  }
  // A string value, its raw bytes (quotes included) appended to out.
  bool string(std::string* out, size_t limit, bool& truncated) {
    if (in_.get() != '"') {
      return false;
    }
    put(out, '"', limit, truncated);
    for (;;) {
      const int c = in_.get();
      if (c < 0) {
        return false;
      }
      put(out, static_cast<char>(c), limit, truncated);
      if (c == '\\') {
        const int escaped = in_.get();
        if (escaped < 0) {
          return false;
        }
        put(out, static_cast<char>(escaped), limit, truncated);
      } else if (c == '"') {
        return true;
      }
    }
  }
  // Any value.
  bool value(std::string* out, size_t limit, bool& truncated) {
    skip_ws();
    int c = in_.peek();
    if (c == '"') {
      return string(out, limit, truncated);
    }
    if (c != '{' && c != '[') {  // a literal or number: up to a delimiter
      bool any = false;
      while ((c = in_.peek()) >= 0 && c != ',' && c != ']' && c != '}' && c != ' ' && c != '\n' && c != '\r' &&
             c != '\t') {
        put(out, static_cast<char>(in_.get()), limit, truncated);
        any = true;
      }
      return any;
    }
    size_t depth = 0;
    for (;;) {
      c = in_.peek();
      if (c < 0) {
        return false;
      }
      if (c == '"') {
        if (!string(out, limit, truncated)) {
          return false;
        }
        continue;
      }
      put(out, static_cast<char>(in_.get()), limit, truncated);
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) {
          return false;
        }
        if (--depth == 0) {
          return true;
        }
      }
    }
  }
  // An object key, decoded.
  bool key(std::string& out) {
    skip_ws();
    std::string raw;
    bool truncated = false;
    if (!string(&raw, 1 << 16, truncated) || truncated) {
      return false;
    }
    json decoded = json::parse(raw, nullptr, false);
    if (!decoded.is_string()) {
      return false;
    }
    out = decoded.get<std::string>();
    return expect(':');
  }
  uint64_t offset() const { return in_.offset(); }

 private:
  static void put(std::string* out, char c, size_t limit, bool& truncated) {
    if (out == nullptr) {
      return;
    }
    if (out->size() < limit) {
      out->push_back(c);
    } else {
      truncated = true;
    }
  }
  ByteSource& in_;
  bool bom_broken_ = false;
};

}  // namespace

struct CvrFileReader::Stream {
  explicit Stream(const std::filesystem::path& path) : source(path, false), scanner(source) {}
  ByteSource source;
  Scanner scanner;
  bool first = true;
  bool done = false;
};

CvrFileReader::CvrFileReader() = default;
CvrFileReader::~CvrFileReader() = default;

namespace {

// Walks the top-level object of a CVR file. With `count` (the first pass)
// it scans the whole file: which records array it has ("CVR" or
// "Sessions"), how many elements, and the text of "Election". Without it
// (the second pass) it stops right after the records array's '['.
struct TopLevel {
  std::string array;  // "CVR" or "Sessions"
  size_t count = 0;
  std::string election;  // raw text of "Election", if any
};

Status walk(Scanner& scanner, const std::string& file, bool first_pass, TopLevel& top) {
  const auto broken = [&](const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument,
                      file + ": not valid JSON at byte " + std::to_string(scanner.offset()) + ": " + what);
  };
  scanner.skip_bom();
  if (scanner.bom_broken() || !scanner.expect('{')) {
    return broken("a CVR file is a JSON object");
  }
  if (scanner.peek() == '}') {
    return {};
  }
  for (;;) {
    std::string key;
    if (!scanner.key(key)) {
      return broken("expected an object key");
    }
    const bool records = (key == "CVR" || key == "Sessions") && scanner.peek() == '[';
    if (records && (first_pass ? top.array.empty() : key == top.array)) {
      if (!first_pass) {
        scanner.expect('[');
        return {};
      }
      top.array = key;
      scanner.expect('[');
      if (scanner.peek() == ']') {
        scanner.expect(']');
      } else {
        for (;;) {
          bool truncated = false;
          if (!scanner.value(nullptr, 0, truncated)) {
            return broken(key + "[" + std::to_string(top.count) + "] is cut short");
          }
          ++top.count;
          if (scanner.expect(',')) {
            continue;
          }
          if (scanner.expect(']')) {
            break;
          }
          return broken("expected ',' or ']' after " + key + "[" + std::to_string(top.count - 1) + "]");
        }
      }
    } else {
      bool truncated = false;
      std::string* keep = first_pass && key == "Election" ? &top.election : nullptr;
      if (!scanner.value(keep, kMaxHeaderTextBytes, truncated)) {
        return broken("the value of \"" + key + "\" is cut short");
      }
      if (truncated) {
        top.election.clear();
      }
    }
    if (scanner.expect(',')) {
      continue;
    }
    if (scanner.expect('}')) {
      break;
    }
    return broken("expected ',' or '}'");
  }
  if (first_pass && scanner.peek() >= 0) {
    return broken("text after the top-level object");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<CvrFileReader>> CvrFileReader::open(const std::filesystem::path& path,
                                                           const ReaderOptions& options) {
  if (!valid_election_id(options.election)) {
    return make_error(ErrorCode::kInvalidArgument, "election id '" + options.election + "' is not [A-Za-z0-9.-]{1,64}");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(ErrorCode::kNotFound, path.string() + ": no such file");
  }
  std::unique_ptr<CvrFileReader> reader(new CvrFileReader());
  reader->file_ = path.string();
  reader->options_ = options;

  TopLevel top;
  {
    ByteSource source(path, true);
    if (!source.good()) {
      return make_error(ErrorCode::kIo, reader->file_ + ": cannot read");
    }
    Scanner scanner(source);
    if (Status status = walk(scanner, reader->file_, true, top); !status) {
      return status.error();
    }
    while (source.get() >= 0) {
    }
    reader->file_sha16_ = source.sha16();
  }
  if (top.array.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      reader->file_ +
                          ": neither a CastVoteRecordReport (CVR array) nor a Dominion CvrExport "
                          "(Sessions array)");
  }
  CvrFormat format = options.format;
  if (format == CvrFormat::kAuto) {
    format = top.array == "Sessions" ? CvrFormat::kDominion : CvrFormat::kNist;
    reader->auto_lenient_ = format == CvrFormat::kNist;
  }
  if (format == CvrFormat::kDominion) {
    if (top.array != "Sessions") {
      return make_error(ErrorCode::kInvalidArgument, reader->file_ + ": $.Sessions: missing or not an array");
    }
    if (options.dominion == nullptr) {
      return make_error(ErrorCode::kInvalidArgument,
                        reader->file_ + ": a Dominion CvrExport needs its manifests (ContestManifest.json ...)");
    }
  } else {
    if (top.array != "CVR") {
      return make_error(ErrorCode::kInvalidArgument, reader->file_ + ": $.CVR: missing or not an array");
    }
    const json election = json::parse(top.election, nullptr, false);
    if (election.is_array() && !election.empty()) {
      reader->scope_unit_ = string_of(election[0], "ElectionScopeId");
    }
  }
  reader->format_ = format;
  reader->total_ = top.count;

  reader->stream_ = std::make_unique<Stream>(path);
  if (Status status = walk(reader->stream_->scanner, reader->file_, false, top); !status) {
    return status.error();  // the file changed since the first pass
  }
  return reader;
}

bool CvrFileReader::next(size_t max, std::vector<CvrCommand>& commands, std::vector<RecordError>& errors) {
  QUORUM_ASSERT(max >= 1);
  Stream& stream = *stream_;
  std::string text;
  for (size_t taken = 0; taken < max && !stream.done && next_ < total_; ++taken, ++next_) {
    if (!stream.first && !stream.scanner.expect(',')) {
      stream.done = true;
      errors.push_back({file_, next_, "the file changed while it was read"});
      break;
    }
    stream.first = false;
    text.clear();
    bool truncated = false;
    if (!stream.scanner.value(&text, kMaxRecordTextBytes, truncated)) {
      stream.done = true;
      errors.push_back({file_, next_, "the file changed while it was read"});
      break;
    }
    if (truncated) {
      errors.push_back({file_, next_, "the record is over " + std::to_string(kMaxRecordTextBytes >> 20) + " MiB"});
      continue;
    }
    Result<CvrCommand> command = convert(text, next_);
    if (command) {
      commands.push_back(std::move(*command));
    } else {
      errors.push_back({file_, next_, command.error().message});
    }
  }
  return !stream.done && next_ < total_;
}

Result<CvrCommand> CvrFileReader::convert(std::string_view text, size_t index) {
  json record = json::parse(text, nullptr, false);
  if (record.is_discarded()) {
    return make_error(ErrorCode::kInvalidArgument, "the record is not valid JSON");
  }
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
  const bool ranked = has_rank(*cvr);
  if (auto_lenient_ && (ranked || string_of(*cvr, "BallotStyleUnitId").empty())) {
    format_ = CvrFormat::kRctab;  // auto: this file needs the lenient reading
  }
  if (format_ == CvrFormat::kNist && ranked) {
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
  // (The ballot's views point into the unpacked zone: copy the id inside.)
  std::string ballot_id;
  try {
    msgpack::object_handle handle = msgpack::unpack(out.command.data.data(), out.command.data.size());
    plugins::cvr::Ballot ballot;
    if (std::string reason = plugins::cvr::read(handle.get(), ballot); !reason.empty()) {
      return make_error(ErrorCode::kInvalidArgument, reason);
    }
    ballot_id = !ballot.unique_id.empty() ? std::string(ballot.unique_id) : std::string(ballot.ballot_preprinted_id);
  } catch (const std::exception& error) {
    return make_error(ErrorCode::kInvalidArgument, std::string("the CVR does not encode: ") + error.what());
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
