#include "command_json_reader.hpp"

#include "command_fields.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace quorum::node::detail {
namespace {

using nlohmann::json;

constexpr std::string_view kNotAnObject = "a command must be a JSON object with fields 'type', 'id', 'data'";

bool wanted_string(std::string_view name) { return name == "id" || name == "type" || name == "key"; }

// The command fields in std::map order; any other name is kKnownFields.
constexpr size_t kKnownFields = 4;
size_t known_field_slot(std::string_view name) {
  if (name == "data") {
    return 0;
  }
  if (name == "id") {
    return 1;
  }
  if (name == "key") {
    return 2;
  }
  return name == "type" ? 3 : kKnownFields;
}

// Sorts fields by name (std::map order) keeping only the last of duplicates.
void sort_fields(std::vector<Field>& fields) {
  std::stable_sort(fields.begin(), fields.end(), [](const Field& a, const Field& b) { return a.name < b.name; });
  auto last =
      std::unique(fields.rbegin(), fields.rend(), [](const Field& a, const Field& b) { return a.name == b.name; });
  fields.erase(fields.begin(), last.base());
}

// Deepest [ / { nesting of a JSON text (strings skipped), stopping early
// once over `bound`. Lets us refuse deep documents before nlohmann's parser
// sees them.
size_t json_depth(std::string_view text, size_t bound) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > bound) {
        return deepest;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

void CommandSax::reset() {
  depth_ = 0;
  root_array_ = false;
  item_object_ = false;
  data_open_ = false;
  item_count_ = 0;
  items_.clear();
  error_.clear();
}

bool CommandSax::null() {
  return on_scalar(false, {}, [this] { writer_.null(); });
}
bool CommandSax::boolean(bool value) {
  return on_scalar(false, {}, [this, value] { writer_.boolean(value); });
}
bool CommandSax::number_integer(number_integer_t value) {
  return on_scalar(false, {}, [this, value] { writer_.signed_integer(value); });
}
bool CommandSax::number_unsigned(number_unsigned_t value) {
  return on_scalar(false, {}, [this, value] { writer_.unsigned_integer(value); });
}
bool CommandSax::number_float(number_float_t value, const string_t& /*text*/) {
  return on_scalar(false, {}, [this, value] { writer_.floating(value); });
}
bool CommandSax::string(string_t& value) { return string_view_value(value); }
bool CommandSax::string_view_value(std::string_view value) {
  return on_scalar(true, value, [this, value] { writer_.string(value); });
}
bool CommandSax::binary(binary_t& /*value*/) { return true; }  // JSON text has none
bool CommandSax::start_object(size_t /*elements*/) { return on_start(true); }
bool CommandSax::start_array(size_t /*elements*/) { return on_start(false); }
bool CommandSax::end_object() { return on_end(true); }
bool CommandSax::end_array() { return on_end(false); }
bool CommandSax::key(string_t& name) { return key_view(name); }
bool CommandSax::key_view(std::string_view name) {
  if (data_open_) {
    writer_.key(name);
  } else if (at_field()) {
    field_name_ = name;
    if (name == "data") {
      data_open_ = true;
      writer_.clear();
    }
  }
  return true;
}
bool CommandSax::parse_error(size_t /*position*/, const std::string& /*last_token*/,
                             const nlohmann::detail::exception& e) {
  error_ = e.what();
  return false;
}

template <typename Write>
bool CommandSax::on_scalar(bool is_string, std::string_view text, Write write) {
  if (data_open_) {
    write();
    close_data_if_done();
  } else if (at_field()) {
    add_field(is_string, text);
  } else if (at_item()) {
    begin_item(false);
    finish_item();
  }
  return true;
}

bool CommandSax::on_start(bool object) {
  if (data_open_) {
    object ? writer_.start_object() : writer_.start_array();
  } else if (at_field()) {
    add_field(false, {});
  } else if (at_item()) {
    begin_item(object);
  } else if (depth_ == 0) {
    root_array_ = !object;  // item_depth_ 1: the batch array
  }
  ++depth_;
  return true;
}

bool CommandSax::on_end(bool object) {
  --depth_;
  if (data_open_) {
    object ? writer_.end_object() : writer_.end_array();
    close_data_if_done();
  } else if (at_item()) {
    finish_item();
  }
  return true;
}

void CommandSax::close_data_if_done() {
  if (writer_.idle()) {
    data_open_ = false;
    add_field(false, {});
  }
}

void CommandSax::add_field(bool is_string, std::string_view text) {
  Field& field = fields_.emplace_back();
  field.name = field_name_;
  field.is_string = is_string;
  if (is_string && wanted_string(field_name_)) {
    field.value = text;
  }
}

void CommandSax::begin_item(bool object) {
  item_object_ = object;
  data_open_ = false;
  fields_.clear();
  writer_.clear();
}

void CommandSax::finish_item() {
  ++item_count_;
  if (items_.size() < kMaxBatchCommands) {
    items_.push_back(item_object_ ? build_command() : Result<Command>(invalid(std::string(kNotAnObject))));
  }
  item_object_ = false;
}

Result<Command> CommandSax::build_command() {
  // Fields are handled in std::map order (data, id, key, type, as
  // command_from_json sees them) so that the first error is the same. The
  // usual command has only known fields, each once: index them by slot
  // instead of sorting (stable_sort allocates a buffer per call).
  std::array<Field*, kKnownFields> by_slot{};
  bool simple = fields_.size() <= kKnownFields;
  for (size_t i = 0; simple && i < fields_.size(); ++i) {
    size_t slot = known_field_slot(fields_[i].name);
    simple = slot < kKnownFields && by_slot[slot] == nullptr;
    if (simple) {
      by_slot[slot] = &fields_[i];
    }
  }
  if (!simple) {
    sort_fields(fields_);
    by_slot.fill(nullptr);
  }
  Command command;
  bool has_type = false;
  bool has_data = false;
  auto take_field = [&](Field& field) -> Status {
    if (field.name == "data") {
      if (Status s = check_data_size(writer_.bytes().size()); !s) {
        return s;
      }
      // A copy of exactly the data's size; the writer keeps its buffer for
      // the next command instead of growing a new one from empty.
      command.data.assign(writer_.bytes());
      has_data = true;
      return {};
    }
    Result<std::string*> target = string_field(command, field.name);
    if (!target) {
      return target.error();
    }
    has_type = has_type || field.name == "type";
    if (!field.is_string) {
      return invalid("field " + quote(field.name) + " must be a string");
    }
    **target = std::move(field.value);
    return {};
  };
  if (simple) {
    for (Field* field : by_slot) {
      if (field != nullptr) {
        if (Status s = take_field(*field); !s) {
          return s.error();
        }
      }
    }
  } else {
    for (Field& field : fields_) {
      if (Status s = take_field(field); !s) {
        return s.error();
      }
    }
  }
  if (!has_data) {
    command.data.assign(1, static_cast<char>(0xc0));  // nil
  }
  if (Status s = finish_command(url_key_, command, has_type); !s) {
    return s.error();
  }
  return command;
}

namespace {

// The first byte at or after `p` that is not printable ASCII other than '"'
// and '\\' (the bytes a JSON string holds as they are), or `end`. Most
// string bytes are plain: 16 at a time where SSE2 is there.
const char* skip_plain(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes >= 0x80 are negative, so one compare finds both
    // control characters and non-ASCII bytes.
    const __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)),
                                      _mm_cmplt_epi8(bytes, space));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stop));
    if (mask != 0) {
      return p + std::countr_zero(mask);
    }
    p += 16;
  }
#endif
  while (p != end) {
    auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
      break;
    }
    ++p;
  }
  return p;
}

// A strict JSON reader for the common case, much faster than nlohmann's
// lexer: well-formed JSON with no BOM, no \u escapes and no number that
// overflows or underflows its type. It feeds `sax` exactly the events
// nlohmann's parser would, and returns false as soon as the text is outside
// that case, valid or not: the caller then runs nlohmann's parser from
// scratch, which decides and words any error.
class FastJsonReader {
 public:
  // depth_bound: the deepest nesting read (deeper: declined), as json_depth
  // counts it.
  FastJsonReader(std::string_view text, size_t depth_bound, CommandSax& sax, std::string& scratch)
      : p_(text.data()), end_(text.data() + text.size()), depth_bound_(depth_bound), sax_(sax), scratch_(scratch) {}

  bool read() {
    skip_space();
    if (!value(0)) {
      return false;
    }
    skip_space();
    return p_ == end_;
  }

 private:
  bool more() const { return p_ != end_; }
  void skip_space() {
    while (more() && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) {
      ++p_;
    }
  }
  bool take(char c) {
    if (!more() || *p_ != c) {
      return false;
    }
    ++p_;
    return true;
  }
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  // A value inside `depth` containers.
  bool value(size_t depth) {
    if (!more()) {
      return false;
    }
    std::string_view text;
    switch (*p_) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return string(text) && sax_.string_view_value(text);
      case 't':
        return literal("true") && sax_.boolean(true);
      case 'f':
        return literal("false") && sax_.boolean(false);
      case 'n':
        return literal("null") && sax_.null();
      default:
        return number();
    }
  }

  bool object(size_t depth) {
    if (depth + 1 > depth_bound_) {
      return false;
    }
    ++p_;
    sax_.start_object(static_cast<size_t>(-1));
    skip_space();
    if (take('}')) {
      return sax_.end_object();
    }
    while (true) {
      std::string_view name;
      skip_space();
      if (!more() || *p_ != '"' || !string(name)) {
        return false;
      }
      sax_.key_view(name);
      skip_space();
      if (!take(':')) {
        return false;
      }
      skip_space();
      if (!value(depth + 1)) {
        return false;
      }
      skip_space();
      if (take('}')) {
        return sax_.end_object();
      }
      if (!take(',')) {
        return false;
      }
    }
  }

  bool array(size_t depth) {
    if (depth + 1 > depth_bound_) {
      return false;
    }
    ++p_;
    sax_.start_array(static_cast<size_t>(-1));
    skip_space();
    if (take(']')) {
      return sax_.end_array();
    }
    while (true) {
      skip_space();
      if (!value(depth + 1)) {
        return false;
      }
      skip_space();
      if (take(']')) {
        return sax_.end_array();
      }
      if (!take(',')) {
        return false;
      }
    }
  }

  // A string at p_ (the opening quote); `out` views the input or, when the
  // string has escapes, scratch_ (valid until the next string).
  bool string(std::string_view& out) {
    const char* start = ++p_;
    while (true) {
      p_ = skip_plain(p_, end_);
      if (!more()) {
        return false;
      }
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c == '\\') {
        scratch_.assign(start, p_);
        return escaped_string(out);
      }
      // A control character, or the first byte of a UTF-8 sequence.
      if (c < 0x20 || !utf8_sequence()) {
        return false;
      }
    }
  }

  // The rest of a string with escapes, decoded into scratch_.
  bool escaped_string(std::string_view& out) {
    while (more()) {
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = scratch_;
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (++p_ == end_) {
          return false;
        }
        char decoded = 0;
        switch (*p_) {
          case '"':
            decoded = '"';
            break;
          case '\\':
            decoded = '\\';
            break;
          case '/':
            decoded = '/';
            break;
          case 'b':
            decoded = '\b';
            break;
          case 'f':
            decoded = '\f';
            break;
          case 'n':
            decoded = '\n';
            break;
          case 'r':
            decoded = '\r';
            break;
          case 't':
            decoded = '\t';
            break;
          default:
            return false;  // \u (left to nlohmann) or invalid
        }
        scratch_.push_back(decoded);
        ++p_;
        continue;
      }
      if (c < 0x20) {
        return false;
      }
      const char* first = p_;
      if (c < 0x80) {
        ++p_;
      } else if (!utf8_sequence()) {
        return false;
      }
      scratch_.append(first, p_);
    }
    return false;
  }

  // Steps over one well-formed multi-byte UTF-8 character (RFC 3629).
  bool utf8_sequence() {
    auto at = [this](size_t i) -> unsigned {
      return i < static_cast<size_t>(end_ - p_) ? static_cast<unsigned char>(p_[i]) : 0x100u;
    };
    auto in = [](unsigned v, unsigned lo, unsigned hi) { return v >= lo && v <= hi; };
    unsigned c = at(0);
    size_t size = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    if (in(c, 0xc2, 0xdf)) {
      size = 2;
    } else if (in(c, 0xe0, 0xef)) {
      size = 3;
      lo = c == 0xe0 ? 0xa0 : 0x80;
      hi = c == 0xed ? 0x9f : 0xbf;
    } else if (in(c, 0xf0, 0xf4)) {
      size = 4;
      lo = c == 0xf0 ? 0x90 : 0x80;
      hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
      return false;
    }
    if (!in(at(1), lo, hi)) {
      return false;
    }
    for (size_t i = 2; i < size; ++i) {
      if (!in(at(i), 0x80, 0xbf)) {
        return false;
      }
    }
    p_ += size;
    return true;
  }

  bool digits() {
    const char* first = p_;
    while (more() && *p_ >= '0' && *p_ <= '9') {
      ++p_;
    }
    return p_ != first;
  }

  // A number as nlohmann reads it: without fraction or exponent an
  // unsigned (no '-') or signed 64-bit integer, else a double.
  bool number() {
    const char* start = p_;
    bool negative = take('-');
    if (take('0')) {
      // a leading zero stands alone
    } else if (!more() || *p_ < '1' || *p_ > '9' || !digits()) {
      return false;
    }
    bool is_float = false;
    if (take('.')) {
      is_float = true;
      if (!digits()) {
        return false;
      }
    }
    if (take('e') || take('E')) {
      is_float = true;
      if (!take('+')) {
        take('-');
      }
      if (!digits()) {
        return false;
      }
    }
    if (is_float) {
      double value = 0;
      auto [end, error] = std::from_chars(start, p_, value);
      return error == std::errc{} && end == p_ && std::isfinite(value) && sax_.number_float(value, {});
    }
    uint64_t magnitude = 0;
    auto [end, error] = std::from_chars(start + (negative ? 1 : 0), p_, magnitude);
    if (error != std::errc{} || end != p_) {
      return false;  // out of range: nlohmann reads it as a double
    }
    if (!negative) {
      return sax_.number_unsigned(magnitude);
    }
    constexpr uint64_t kMinMagnitude = uint64_t{1} << 63;
    if (magnitude > kMinMagnitude) {
      return false;
    }
    return sax_.number_integer(magnitude == kMinMagnitude ? std::numeric_limits<int64_t>::min()
                                                          : -static_cast<int64_t>(magnitude));
  }

  const char* p_;
  const char* end_;
  const size_t depth_bound_;
  CommandSax& sax_;
  std::string& scratch_;
};

}  // namespace

Status run_sax(CommandSax& sax, std::string_view text, size_t depth_bound) {
  sax.reset();
  // For the JSON FastJsonReader accepts, its depth bound is json_depth's.
  if (FastJsonReader(text, depth_bound, sax, sax.scratch()).read()) {
    return {};
  }
  sax.reset();
  if (json_depth(text, depth_bound) > depth_bound) {
    return invalid("malformed JSON: nested deeper than " + std::to_string(depth_bound) + " levels");
  }
  try {
    if (!json::sax_parse(text.begin(), text.end(), &sax)) {
      return invalid("malformed JSON: " + sax.error());
    }
  } catch (const std::exception& e) {
    return invalid(std::string("malformed JSON: ") + e.what());
  }
  return {};
}

// The one command of a parsed text (item_depth 0).
Result<Command> single_command(CommandSax& sax) {
  if (sax.items().size() != 1) {
    return invalid(std::string(kNotAnObject));  // unreachable: valid JSON is one value
  }
  return std::move(sax.items().front());
}

}  // namespace quorum::node::detail
