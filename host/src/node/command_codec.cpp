#include <quorum/node/command_codec.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <utility>

namespace quorum::node {
namespace {

using nlohmann::json;

Error invalid(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }
Error too_big(std::string message) { return make_error(ErrorCode::kResourceExhausted, std::move(message)); }

// A printable rendering of client bytes for error messages: at most 64
// characters, non-printable bytes escaped.
std::string quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (text.size() > 64) {
    out += "...";
  }
  out += "'";
  return out;
}

bool key_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '@' || c == '/' || c == '-';
}

bool type_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) {
    auto c = static_cast<unsigned char>(b);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// Deepest [ / { nesting of a JSON text (strings skipped), stopping early
// once over `bound`. Lets us refuse deep documents before the (recursive)
// conversions below see them.
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

msgpack::unpack_limit limits_for(size_t size, size_t depth) {
  // Every element takes at least one byte, so no honest container declares
  // more elements than the body has bytes.
  return msgpack::unpack_limit(size, size / 2 + 1, size, size, size, depth);
}

Result<msgpack::object_handle> unpack_one(std::string_view bytes, size_t depth) {
  if (bytes.empty()) {
    return invalid("malformed msgpack: empty body");
  }
  try {
    size_t offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limits_for(bytes.size(), depth));
    if (offset != bytes.size()) {
      return invalid("malformed msgpack: " + std::to_string(bytes.size() - offset) +
                     " trailing bytes after the first value");
    }
    return handle;
  } catch (const msgpack::depth_size_overflow&) {
    return invalid("malformed msgpack: nested deeper than " + std::to_string(depth) + " levels");
  } catch (const msgpack::size_overflow&) {
    return invalid("malformed msgpack: a container or string is larger than the body");
  } catch (const msgpack::insufficient_bytes&) {
    return invalid("malformed msgpack: truncated value");
  } catch (const std::exception& e) {
    return invalid(std::string("malformed msgpack: ") + e.what());
  }
}

std::string_view str_of(const msgpack::object& o) { return {o.via.str.ptr, o.via.str.size}; }

json object_to_json(const msgpack::object& o, size_t depth) {
  if (depth > kMaxCommandDepth + 1) {
    return nullptr;  // unreachable: unpack limits depth
  }
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(str_of(o));
    case msgpack::type::BIN:
      return json{{"bin", hex({o.via.bin.ptr, o.via.bin.size})}};
    case msgpack::type::EXT:
      return json{{"ext", o.via.ext.type()}, {"bin", hex({o.via.ext.data(), o.via.ext.size})}};
    case msgpack::type::ARRAY: {
      json out = json::array();
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        out.push_back(object_to_json(o.via.array.ptr[i], depth + 1));
      }
      return out;
    }
    case msgpack::type::MAP: {
      json out = json::object();
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object_kv& kv = o.via.map.ptr[i];
        std::string name = kv.key.type == msgpack::type::STR ? std::string(str_of(kv.key))
                                                             : dump_json(object_to_json(kv.key, depth + 1));
        out[name] = object_to_json(kv.val, depth + 1);
      }
      return out;
    }
  }
  return nullptr;
}

Status check_data_size(size_t size) {
  if (size > kMaxCommandDataBytes) {
    return too_big("field 'data' is " + std::to_string(size) + " bytes as msgpack; the limit is " +
                   std::to_string(kMaxCommandDataBytes) + " bytes");
  }
  return {};
}

Status finish(std::string_view url_key, Command& command, bool has_type) {
  if (!url_key.empty()) {
    if (!command.key.empty() && command.key != url_key) {
      return invalid("field 'key' " + quote(command.key) + " differs from the key in the URL " + quote(url_key));
    }
    command.key = std::string(url_key);
  } else if (command.key.empty()) {
    return invalid("missing field 'key'");
  }
  if (Status s = validate_key(command.key); !s) {
    return s;
  }
  if (Status s = validate_id(command.id); !s) {
    return s;
  }
  if (!has_type) {
    return invalid("missing field 'type'");
  }
  return validate_type(command.type);
}

// Where a command's string field goes ('id', 'type' or 'key'), or an error
// naming an unknown field. Shared by the msgpack and JSON decoders.
Result<std::string*> string_field(Command& command, std::string_view name) {
  if (name == "id") {
    return &command.id;
  }
  if (name == "type") {
    return &command.type;
  }
  if (name == "key") {
    return &command.key;
  }
  return invalid("unknown command field " + quote(name) + " (expected 'key', 'id', 'type', 'data')");
}

// Stores the command's data (msgpack bytes) after checking its size.
Status store_data(Command& command, const void* bytes, size_t size) {
  if (Status s = check_data_size(size); !s) {
    return s;
  }
  command.data.assign(static_cast<const char*>(bytes), size);
  return Status{};
}

Result<Command> command_from_object(std::string_view key, const msgpack::object& root) {
  if (root.type != msgpack::type::MAP) {
    return invalid("a command must be a map with fields 'type', 'id', 'data'");
  }
  Command command;
  bool has_type = false;
  bool has_data = false;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) {
      return invalid("command field names must be strings");
    }
    std::string_view name = str_of(kv.key);
    if (name == "data") {
      msgpack::sbuffer buffer;
      try {
        msgpack::pack(buffer, kv.val);
      } catch (const std::exception& e) {
        return invalid(std::string("field 'data': ") + e.what());
      }
      if (Status s = store_data(command, buffer.data(), buffer.size()); !s) {
        return s.error();
      }
      has_data = true;
      continue;
    }
    Result<std::string*> target = string_field(command, name);
    if (!target) {
      return target.error();
    }
    has_type = has_type || name == "type";
    if (kv.val.type != msgpack::type::STR) {
      return invalid("field " + quote(name) + " must be a string");
    }
    (*target)->assign(str_of(kv.val));
  }
  if (!has_data) {
    command.data.assign(1, static_cast<char>(0xc0));  // nil
  }
  if (Status s = finish(key, command, has_type); !s) {
    return s.error();
  }
  return command;
}

// ---- JSON commands without a DOM -------------------------------------------
//
// The decoders below read JSON with nlohmann::json::sax_parse and write the
// "data" value straight to msgpack. They give exactly the commands and errors
// the DOM path (json::parse, then command_from_json) gives: the same parser
// and error texts, fields handled in std::map order with the last duplicate
// winning, and data bytes equal to json::to_msgpack of the parsed value.

constexpr std::string_view kNotAnObject = "a command must be a JSON object with fields 'type', 'id', 'data'";

void put_big_endian(std::string& out, uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// JSON values as msgpack, byte for byte what nlohmann::json::to_msgpack
// writes for the value json::parse would build: smallest integer widths,
// float32 when exact, object members sorted by key (std::map order) and the
// last of duplicate keys kept. Containers get their header when they close.
class MsgpackWriter {
 public:
  void clear() {
    out_.clear();
    frames_.clear();
    members_.clear();
  }
  // True when no container is open: the value written so far is complete.
  bool idle() const { return frames_.empty(); }
  const std::string& bytes() const { return out_; }
  std::string take() { return std::exchange(out_, {}); }

  void null() { put_scalar('\xc0'); }
  void boolean(bool value) { put_scalar(value ? '\xc3' : '\xc2'); }
  void unsigned_integer(uint64_t value) {
    put_unsigned(value);
    value_done();
  }
  void signed_integer(int64_t value) {
    if (value >= 0) {
      put_unsigned(static_cast<uint64_t>(value));
    } else {
      put_negative(value);
    }
    value_done();
  }
  void floating(double value) {
    put_float(value);
    value_done();
  }
  void string(std::string_view text) {
    put_string(text);
    value_done();
  }
  void key(std::string_view name) {
    members_.push_back({out_.size(), 0, name.size(), 0});
    put_string(name);
    members_.back().key_offset = out_.size() - name.size();
  }
  void start_array() { frames_.push_back({false, out_.size(), 0, members_.size()}); }
  void start_object() { frames_.push_back({true, out_.size(), 0, members_.size()}); }
  void end_array() {
    Frame frame = frames_.back();
    frames_.pop_back();
    insert_header(frame.start, frame.count, '\x90', '\xdc', '\xdd');
    value_done();
  }
  void end_object() {
    Frame frame = frames_.back();
    frames_.pop_back();
    size_t count = sort_members(frame);
    members_.resize(frame.first_member);
    insert_header(frame.start, count, '\x80', '\xde', '\xdf');
    value_done();
  }

 private:
  struct Frame {
    bool object;
    size_t start;        // offset of the first element in out_
    size_t count;        // elements so far (arrays only)
    size_t first_member; // index in members_ (objects only)
  };
  struct Member {
    size_t start;       // offset of the key's msgpack header
    size_t key_offset;  // offset of the key's bytes
    size_t key_size;
    size_t end;         // offset after the value (set when sorting)
  };

  void put_scalar(char byte) {
    out_.push_back(byte);
    value_done();
  }
  void value_done() {
    if (!frames_.empty() && !frames_.back().object) {
      ++frames_.back().count;
    }
  }
  void put_unsigned(uint64_t value) {
    if (value < 128) {
      out_.push_back(static_cast<char>(value));
    } else if (value <= 0xff) {
      out_.push_back('\xcc');
      put_big_endian(out_, value, 1);
    } else if (value <= 0xffff) {
      out_.push_back('\xcd');
      put_big_endian(out_, value, 2);
    } else if (value <= 0xffffffff) {
      out_.push_back('\xce');
      put_big_endian(out_, value, 4);
    } else {
      out_.push_back('\xcf');
      put_big_endian(out_, value, 8);
    }
  }
  void put_negative(int64_t value) {
    auto bits = static_cast<uint64_t>(value);
    if (value >= -32) {
      out_.push_back(static_cast<char>(bits & 0xff));
    } else if (value >= INT8_MIN) {
      out_.push_back('\xd0');
      put_big_endian(out_, bits, 1);
    } else if (value >= INT16_MIN) {
      out_.push_back('\xd1');
      put_big_endian(out_, bits, 2);
    } else if (value >= INT32_MIN) {
      out_.push_back('\xd2');
      put_big_endian(out_, bits, 4);
    } else {
      out_.push_back('\xd3');
      put_big_endian(out_, bits, 8);
    }
  }
  void put_float(double value) {
    // As nlohmann's write_compact_float: float32 when that is exact.
    bool fits = value >= static_cast<double>(std::numeric_limits<float>::lowest()) &&
                value <= static_cast<double>(std::numeric_limits<float>::max()) &&
                std::equal_to<double>()(static_cast<double>(static_cast<float>(value)), value);
    if (fits) {
      out_.push_back('\xca');
      put_big_endian(out_, std::bit_cast<uint32_t>(static_cast<float>(value)), 4);
    } else {
      out_.push_back('\xcb');
      put_big_endian(out_, std::bit_cast<uint64_t>(value), 8);
    }
  }
  void put_string(std::string_view text) {
    size_t size = text.size();
    if (size <= 31) {
      out_.push_back(static_cast<char>(0xa0 | size));
    } else if (size <= 0xff) {
      out_.push_back('\xd9');
      put_big_endian(out_, size, 1);
    } else if (size <= 0xffff) {
      out_.push_back('\xda');
      put_big_endian(out_, size, 2);
    } else {
      out_.push_back('\xdb');
      put_big_endian(out_, size, 4);
    }
    out_.append(text);
  }
  // Inserts the header of a container of `count` elements at `start`.
  void insert_header(size_t start, size_t count, char fix, char wide16, char wide32) {
    std::string header;
    if (count <= 15) {
      header.push_back(static_cast<char>(static_cast<unsigned char>(fix) | count));
    } else if (count <= 0xffff) {
      header.push_back(wide16);
      put_big_endian(header, count, 2);
    } else {
      header.push_back(wide32);
      put_big_endian(header, count, 4);
    }
    out_.insert(start, header);
  }
  std::string_view key_of(const Member& m) const { return {out_.data() + m.key_offset, m.key_size}; }
  // Puts the members of the object `frame` (the tail of out_) in key order,
  // dropping all but the last of duplicate keys; returns how many remain.
  size_t sort_members(const Frame& frame) {
    auto first = members_.begin() + static_cast<std::ptrdiff_t>(frame.first_member);
    size_t count = members_.size() - frame.first_member;
    bool ordered = true;
    for (auto m = first; m != members_.end(); ++m) {
      m->end = m + 1 == members_.end() ? out_.size() : (m + 1)->start;
      ordered = ordered && (m == first || key_of(*(m - 1)) < key_of(*m));
    }
    if (ordered) {
      return count;
    }
    std::stable_sort(first, members_.end(), [this](const Member& a, const Member& b) { return key_of(a) < key_of(b); });
    scratch_.clear();
    size_t kept = 0;
    for (auto m = first; m != members_.end(); ++m) {
      if (m + 1 != members_.end() && key_of(*m) == key_of(*(m + 1))) {
        continue;  // a later duplicate wins
      }
      scratch_.append(out_, m->start, m->end - m->start);
      ++kept;
    }
    out_.resize(frame.start);
    out_ += scratch_;
    return kept;
  }

  std::string out_;
  std::string scratch_;
  std::vector<Frame> frames_;
  std::vector<Member> members_;
};

// A top-level field of a command object as the parser met it.
struct Field {
  std::string name;
  bool is_string = false;
  std::string value;  // string values of 'id', 'type' and 'key' only
};

bool wanted_string(std::string_view name) { return name == "id" || name == "type" || name == "key"; }

// Sorts fields by name (std::map order) keeping only the last of duplicates.
void sort_fields(std::vector<Field>& fields) {
  std::stable_sort(fields.begin(), fields.end(), [](const Field& a, const Field& b) { return a.name < b.name; });
  auto last = std::unique(fields.rbegin(), fields.rend(), [](const Field& a, const Field& b) { return a.name == b.name; });
  fields.erase(fields.begin(), last.base());
}

// nlohmann::json SAX handler decoding command objects. item_depth 0: the
// text is one command; 1: the text is an array of commands. It never stops
// the parser except on a syntax error, so syntax errors anywhere win over
// field errors, as with json::parse.
class CommandSax {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  CommandSax(size_t item_depth, std::string_view url_key) : item_depth_(item_depth), url_key_(url_key) {}

  // Forgets everything parsed; keeps buffers for the next text.
  void reset() {
    depth_ = 0;
    root_array_ = false;
    item_object_ = false;
    data_open_ = false;
    item_count_ = 0;
    items_.clear();
    error_.clear();
  }
  const std::string& error() const { return error_; }
  std::string& scratch() { return scratch_; }  // FastJsonReader's string buffer
  bool root_array() const { return root_array_; }
  size_t item_count() const { return item_count_; }
  BatchItems& items() { return items_; }

  bool null() {
    return on_scalar(false, {}, [this] { writer_.null(); });
  }
  bool boolean(bool value) {
    return on_scalar(false, {}, [this, value] { writer_.boolean(value); });
  }
  bool number_integer(number_integer_t value) {
    return on_scalar(false, {}, [this, value] { writer_.signed_integer(value); });
  }
  bool number_unsigned(number_unsigned_t value) {
    return on_scalar(false, {}, [this, value] { writer_.unsigned_integer(value); });
  }
  bool number_float(number_float_t value, const string_t& /*text*/) {
    return on_scalar(false, {}, [this, value] { writer_.floating(value); });
  }
  bool string(string_t& value) { return string_view_value(value); }
  bool string_view_value(std::string_view value) {
    return on_scalar(true, value, [this, value] { writer_.string(value); });
  }
  bool binary(binary_t& /*value*/) { return true; }  // JSON text has none
  bool start_object(size_t /*elements*/) { return on_start(true); }
  bool start_array(size_t /*elements*/) { return on_start(false); }
  bool end_object() { return on_end(true); }
  bool end_array() { return on_end(false); }
  bool key(string_t& name) { return key_view(name); }
  bool key_view(std::string_view name) {
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
  bool parse_error(size_t /*position*/, const std::string& /*last_token*/, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

 private:
  bool in_items() const { return item_depth_ == 0 || root_array_; }
  bool at_item() const { return depth_ == item_depth_ && in_items(); }
  bool at_field() const { return item_object_ && depth_ == item_depth_ + 1; }

  template <typename Write>
  bool on_scalar(bool is_string, std::string_view text, Write write) {
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
  bool on_start(bool object) {
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
  bool on_end(bool object) {
    --depth_;
    if (data_open_) {
      object ? writer_.end_object() : writer_.end_array();
      close_data_if_done();
    } else if (at_item()) {
      finish_item();
    }
    return true;
  }
  void close_data_if_done() {
    if (writer_.idle()) {
      data_open_ = false;
      add_field(false, {});
    }
  }
  void add_field(bool is_string, std::string_view text) {
    Field& field = fields_.emplace_back();
    field.name = field_name_;
    field.is_string = is_string;
    if (is_string && wanted_string(field_name_)) {
      field.value = text;
    }
  }
  void begin_item(bool object) {
    item_object_ = object;
    data_open_ = false;
    fields_.clear();
    writer_.clear();
  }
  void finish_item() {
    ++item_count_;
    if (items_.size() < kMaxBatchCommands) {
      items_.push_back(item_object_ ? build_command() : Result<Command>(invalid(std::string(kNotAnObject))));
    }
    item_object_ = false;
  }
  // The command_from_json logic over the fields seen.
  Result<Command> build_command() {
    sort_fields(fields_);
    Command command;
    bool has_type = false;
    bool has_data = false;
    for (Field& field : fields_) {
      if (field.name == "data") {
        if (Status s = check_data_size(writer_.bytes().size()); !s) {
          return s.error();
        }
        command.data = writer_.take();
        has_data = true;
        continue;
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
    }
    if (!has_data) {
      command.data.assign(1, static_cast<char>(0xc0));  // nil
    }
    if (Status s = finish(url_key_, command, has_type); !s) {
      return s.error();
    }
    return command;
  }

  const size_t item_depth_;
  const std::string_view url_key_;
  size_t depth_ = 0;         // containers open
  bool root_array_ = false;  // the text is an array (item_depth_ 1)
  bool item_object_ = false; // inside an item that is an object
  bool data_open_ = false;   // the "data" value is being written
  size_t item_count_ = 0;
  std::string field_name_;
  std::vector<Field> fields_;
  MsgpackWriter writer_;
  BatchItems items_;
  std::string error_;
  std::string scratch_;
};

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
    while (more()) {
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
      if (c < 0x20 || (c >= 0x80 && !utf8_sequence())) {
        return false;
      }
      if (c < 0x80) {
        ++p_;
      }
    }
    return false;
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
          case '"': decoded = '"'; break;
          case '\\': decoded = '\\'; break;
          case '/': decoded = '/'; break;
          case 'b': decoded = '\b'; break;
          case 'f': decoded = '\f'; break;
          case 'n': decoded = '\n'; break;
          case 'r': decoded = '\r'; break;
          case 't': decoded = '\t'; break;
          default: return false;  // \u (left to nlohmann) or invalid
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

// Runs `sax` over `text`: FastJsonReader first, nlohmann's parser when that
// declines. Errors: deeper than depth_bound (json_depth) or not JSON
// ("malformed JSON: " and nlohmann's message).
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

Error with_prefix(std::string prefix, Error error) {
  error.message = std::move(prefix) + error.message;
  return error;
}

}  // namespace

Status validate_key(std::string_view key) {
  if (key.empty()) {
    return invalid("key is empty");
  }
  if (key.size() > kMaxKeyBytes) {
    return invalid("key is " + std::to_string(key.size()) + " bytes; the limit is " + std::to_string(kMaxKeyBytes));
  }
  for (char c : key) {
    if (!key_char(static_cast<unsigned char>(c))) {
      return invalid("key " + quote(key) + " contains " + quote(std::string_view(&c, 1)) +
                     "; keys use only [A-Za-z0-9._:@/-]");
    }
  }
  if (key.front() == '/' || key.back() == '/') {
    return invalid("key " + quote(key) + " starts or ends with '/'");
  }
  if (key.find("//") != std::string_view::npos) {
    return invalid("key " + quote(key) + " has an empty segment ('//')");
  }
  return {};
}

Status validate_id(std::string_view id) {
  if (id.size() > kMaxCommandIdBytes) {
    return invalid("field 'id' is " + std::to_string(id.size()) + " bytes; the limit is " +
                   std::to_string(kMaxCommandIdBytes));
  }
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return invalid("field 'id' " + quote(id) + " contains a control character");
    }
  }
  return {};
}

Status validate_type(std::string_view type) {
  if (type.empty() || type.size() > kMaxCommandTypeBytes) {
    return invalid("field 'type' must be 1.." + std::to_string(kMaxCommandTypeBytes) + " bytes, got " +
                   std::to_string(type.size()));
  }
  for (char c : type) {
    if (!type_char(static_cast<unsigned char>(c))) {
      return invalid("field 'type' " + quote(type) + " contains " + quote(std::string_view(&c, 1)) +
                     "; types use only [a-z0-9_.-]");
    }
  }
  return {};
}

Result<Command> command_from_json(std::string_view key, const json& value) {
  if (!value.is_object()) {
    return invalid("a command must be a JSON object with fields 'type', 'id', 'data'");
  }
  Command command;
  bool has_type = false;
  bool has_data = false;
  for (const auto& [name, field] : value.items()) {
    if (name == "data") {
      std::vector<uint8_t> bytes;
      try {
        bytes = json::to_msgpack(field);
      } catch (const std::exception& e) {
        return invalid(std::string("field 'data': ") + e.what());
      }
      if (Status s = store_data(command, bytes.data(), bytes.size()); !s) {
        return s.error();
      }
      has_data = true;
      continue;
    }
    Result<std::string*> target = string_field(command, name);
    if (!target) {
      return target.error();
    }
    has_type = has_type || name == "type";
    if (!field.is_string()) {
      return invalid("field " + quote(name) + " must be a string");
    }
    **target = field.get<std::string>();
  }
  if (!has_data) {
    command.data.assign(1, static_cast<char>(0xc0));  // nil
  }
  if (Status s = finish(key, command, has_type); !s) {
    return s.error();
  }
  return command;
}

Result<Command> decode_command_json(std::string_view key, std::string_view body) {
  if (Status s = validate_key(key); !s) {
    return s.error();
  }
  CommandSax sax(0, key);
  if (Status s = run_sax(sax, body, kMaxCommandDepth); !s) {
    return s.error();
  }
  return single_command(sax);
}

Result<Command> decode_command_msgpack(std::string_view key, std::string_view body) {
  if (Status s = validate_key(key); !s) {
    return s.error();
  }
  Result<msgpack::object_handle> handle = unpack_one(body, kMaxCommandDepth);
  if (!handle) {
    return handle.error();
  }
  return command_from_object(key, handle->get());
}

Result<BatchItems> decode_batch_ndjson(std::string_view body) {
  BatchItems items;
  items.reserve(std::min<size_t>(static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1,
                                 kMaxBatchCommands));
  CommandSax sax(0, {});
  size_t start = 0;
  size_t line_number = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) {
      end = body.size();
    }
    std::string_view line = body.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      continue;
    }
    if (items.size() == kMaxBatchCommands) {
      return too_big("a batch holds at most " + std::to_string(kMaxBatchCommands) + " commands");
    }
    Status parsed = run_sax(sax, line, kMaxCommandDepth);
    Result<Command> command = parsed ? single_command(sax) : Result<Command>(parsed.error());
    if (!command) {
      items.emplace_back(with_prefix("line " + std::to_string(line_number) + ": ", command.error()));
      continue;
    }
    items.emplace_back(std::move(command).value());
  }
  if (items.empty()) {
    return invalid("empty batch: send one JSON command per line");
  }
  return items;
}

Result<BatchItems> decode_batch_msgpack(std::string_view body) {
  Result<msgpack::object_handle> handle = unpack_one(body, kMaxCommandDepth + 1);
  if (!handle) {
    return handle.error();
  }
  const msgpack::object& root = handle->get();
  if (root.type != msgpack::type::ARRAY) {
    return invalid("a msgpack batch must be an array of command maps");
  }
  if (root.via.array.size > kMaxBatchCommands) {
    return too_big("a batch holds at most " + std::to_string(kMaxBatchCommands) + " commands, got " +
                   std::to_string(root.via.array.size));
  }
  if (root.via.array.size == 0) {
    return invalid("empty batch");
  }
  BatchItems items;
  items.reserve(root.via.array.size);
  for (uint32_t i = 0; i < root.via.array.size; ++i) {
    Result<Command> command = command_from_object({}, root.via.array.ptr[i]);
    if (!command) {
      Error error = command.error();
      error.message = "item " + std::to_string(i) + ": " + error.message;
      items.emplace_back(std::move(error));
    } else {
      items.emplace_back(std::move(command).value());
    }
  }
  return items;
}

Result<BatchItems> decode_batch_json(std::string_view body) {
  CommandSax sax(1, {});
  if (Status s = run_sax(sax, body, kMaxCommandDepth + 1); !s) {
    return s.error();
  }
  if (!sax.root_array()) {
    return invalid("a JSON batch must be an array of command objects (or send NDJSON)");
  }
  if (sax.item_count() > kMaxBatchCommands) {
    return too_big("a batch holds at most " + std::to_string(kMaxBatchCommands) + " commands, got " +
                   std::to_string(sax.item_count()));
  }
  if (sax.item_count() == 0) {
    return invalid("empty batch");
  }
  BatchItems items = std::move(sax.items());
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i]) {
      items[i] = with_prefix("item " + std::to_string(i) + ": ", items[i].error());
    }
  }
  return items;
}

Result<json> msgpack_to_json(std::string_view bytes) {
  Result<msgpack::object_handle> handle = unpack_one(bytes, kMaxCommandDepth);
  if (!handle) {
    return handle.error();
  }
  return object_to_json(handle->get(), 0);
}

std::string dump_json(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

constexpr uint8_t kUtf8Accept = 0;
constexpr uint8_t kUtf8Reject = 1;

// One step of the UTF-8 decoder nlohmann's serializer uses (Bjoern
// Hoehrmann's DFA, same table), so that invalid bytes are replaced exactly
// where dump_json replaces them.
uint8_t utf8_step(uint8_t& state, uint32_t& codepoint, uint8_t byte) {
  static constexpr uint8_t kTable[400] = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 00..1F
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 20..3F
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 40..5F
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 60..7F
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,  // 80..9F
      7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  // A0..BF
      8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  // C0..DF
      0xA, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x4, 0x3, 0x3,                  // E0..EF
      0xB, 0x6, 0x6, 0x6, 0x5, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8,                  // F0..FF
      0x0, 0x1, 0x2, 0x3, 0x5, 0x8, 0x7, 0x1, 0x1, 0x1, 0x4, 0x6, 0x1, 0x1, 0x1, 0x1,                  // s0..s0
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1,  // s1..s2
      1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1,  // s3..s4
      1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1,  // s5..s6
      1, 3, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // s7..s8
  };
  uint8_t type = kTable[byte];
  codepoint = state != kUtf8Accept ? (byte & 0x3fu) | (codepoint << 6u) : (0xffu >> type) & byte;
  state = kTable[256u + state * 16u + type];
  return state;
}

// Appends one decoded code point's last byte, escaped as dump_json does.
void append_escaped(std::string& out, uint32_t codepoint, char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (codepoint) {
    case '\b': out += "\\b"; return;
    case '\t': out += "\\t"; return;
    case '\n': out += "\\n"; return;
    case '\f': out += "\\f"; return;
    case '\r': out += "\\r"; return;
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  if (codepoint <= 0x1f) {
    out += "\\u00";
    out.push_back(kHex[codepoint >> 4]);
    out.push_back(kHex[codepoint & 15]);
    return;
  }
  out.push_back(byte);
}

bool plain_json_char(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

void append_uint(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  (void)ec;
  out.append(digits, end);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD
  out.push_back('"');
  uint8_t state = kUtf8Accept;
  uint32_t codepoint = 0;
  size_t accepted = out.size();  // out's size after the last whole character
  size_t pending = 0;            // bytes of an unfinished character
  for (size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<uint8_t>(text[i]);
    if (state == kUtf8Accept && plain_json_char(byte)) {
      out.push_back(static_cast<char>(byte));
      accepted = out.size();
      continue;
    }
    switch (utf8_step(state, codepoint, byte)) {
      case kUtf8Accept:
        append_escaped(out, codepoint, static_cast<char>(byte));
        accepted = out.size();
        pending = 0;
        break;
      case kUtf8Reject:
        if (pending > 0) {
          --i;  // the byte may start a character of its own: read it again
        }
        out.resize(accepted);
        out += kReplacement;
        accepted = out.size();
        pending = 0;
        state = kUtf8Accept;
        break;
      default:
        out.push_back(static_cast<char>(byte));
        ++pending;
        break;
    }
  }
  if (state != kUtf8Accept) {
    out.resize(accepted);
    out += kReplacement;
  }
  out.push_back('"');
}

void append_receipt_json(std::string& out, const CommandReceipt& receipt) {
  out += receipt.duplicate ? "{\"duplicate\":true,\"hash\":" : "{\"duplicate\":false,\"hash\":";
  append_json_string(out, receipt.hash_hex);
  out += ",\"key\":";
  append_json_string(out, receipt.key);
  out += ",\"seq\":";
  append_uint(out, receipt.seq);
  out.push_back('}');
}

void append_error_json(std::string& out, std::string_view key, unsigned status, std::string_view message) {
  out += "{\"error\":";
  append_json_string(out, message);
  if (!key.empty()) {
    out += ",\"key\":";
    append_json_string(out, key);
  }
  out += ",\"status\":";
  append_uint(out, status);
  out.push_back('}');
}

namespace {

json value_or_reason(std::string_view bytes) {
  if (bytes.empty()) {
    return nullptr;
  }
  Result<json> value = msgpack_to_json(bytes);
  if (!value) {
    return json{{"invalid_msgpack", value.error().message}};
  }
  return std::move(value).value();
}

json projections_to_json(const std::vector<ActorView::Projection>& projections) {
  json out = json::object();
  for (const ActorView::Projection& p : projections) {
    out[p.handler] = json{{"version", p.version}, {"schema", p.projection_schema}, {"value", value_or_reason(p.bytes)}};
  }
  return out;
}

}  // namespace

json receipt_to_json(const CommandReceipt& receipt) {
  return json{{"key", receipt.key}, {"seq", receipt.seq}, {"hash", receipt.hash_hex}, {"duplicate", receipt.duplicate}};
}

json actor_view_to_json(const ActorView& view) {
  return json{{"key", view.key},
              {"seq", view.seq},
              {"head", view.head_hex},
              {"projections", projections_to_json(view.projections)}};
}

json log_entry_to_json(const LogEntryView& entry) {
  return json{{"seq", entry.seq},       {"epoch", entry.epoch},
              {"time", entry.time_ms},  {"id", entry.id},
              {"type", entry.type},     {"data", value_or_reason(entry.payload)},
              {"hash", entry.hash_hex}, {"prev_hash", entry.prev_hash_hex}};
}

json stream_event_to_json(const StreamEvent& event) {
  return json{
      {"key", event.key},     {"seq", event.entry.seq},   {"hash", event.entry.hash_hex},
      {"id", event.entry.id}, {"type", event.entry.type}, {"projections", projections_to_json(event.projections)}};
}

}  // namespace quorum::node
