// projections: generic, bounded counters and indices over message fields,
// configured at init. Built only against the SDK; plugins/projections/
// projections.cpp exports it. Accepts every message (it never rejects), so it
// chains behind any other handler.
//
// FIELDS. A field is a dotted path into the message envelope
// {"id", "type", "time", "data"}; the first segment must be one of those four
// and CVR fields live under "data". Grammar:
//   path    := segment ("." segment)*
//   segment := name? ("[" digits? "]")*        (at least one of the two)
//   name    := 1+ characters other than ".", "[" and "]"
// A name looks a key up in a map; on an array, a name made only of digits is
// an index ("data.CVRSnapshot.0.Type"). "[N]" is the N-th element (0-based)
// of an array and "[]" every element of it (fan-out):
//   "data.CVRSnapshot[0].Type", "data.CVRSnapshot[].CVRContest[].ContestId".
// Keys containing "." or "[" cannot be addressed. A path reaching something
// that is not there (missing key, index out of range, wrong type) yields no
// value. Values are scalars rendered as strings: strings as they are (cut
// to 256 bytes at a UTF-8 boundary), integers in decimal, booleans as
// "true"/"false", floats in shortest round-trip form; nil, maps, arrays and
// binary yield no value. A message contributes each DISTINCT value once
// (so a fan-out path counts a message once per distinct value); a message
// with no value counts as "missing".
//
// CONFIG (init's msgpack map):
//   {"counters": [{"name": str, "field": path,
//                  "types": [str, ...],       optional: only these message types
//                  "max_values": uint}, ...],  optional, 1..100000, default 1000
//    "indices":  [{"name": str, "field": path, "types": [str, ...],
//                  "max_entries": uint}, ...]} optional, 1..100000, default 1000
// name: [A-Za-z0-9_-]{1,64}, unique among counters (and among indices); at
// most 64 of each. Unknown keys or bad values make init fail. No config,
// nil or an empty map gives the DEFAULT:
//   counters: by_type     "type"                                       (every message)
//             by_precinct "data.BallotStyleUnitId"                     (types ["cvr"])
//             by_style    "data.BallotStyleId"                         (types ["cvr"])
//             by_contest  "data.CVRSnapshot[].CVRContest[].ContestId"  (types ["cvr"])
//   indices:  precincts   "data.BallotStyleUnitId"                     (types ["cvr"])
//
// BOUNDS, deterministic and order independent: a counter keeps at most
// max_values values and an index at most max_entries entries, namely the
// ones whose value strings are SMALLEST in byte order among all values seen.
// A new value beyond the bound either evicts the largest kept value (whose
// count moves to "other" / "overflow") or, if it is larger than all kept
// ones, goes to "other" / "overflow" itself. A kept value was never evicted,
// so its count is exact, and the final state depends only on the multiset
// of messages, not their order.
//
// PROJECTION (msgpack; every map's keys in byte order; schema 1):
//   {"counters": {<name>: {"field": str, "max_values": uint,
//                          "messages": uint,  messages of the counted types
//                          "missing": uint,   of those, messages with no value
//                          "other": uint,     counts of values beyond the bound
//                          "types": [str]|nil,
//                          "values": {<value>: uint}}},
//    "indices":  {<name>: {"entries": {<value>: {"count": uint,
//                                                "first_id": str, "first_time": int,
//                                                "last_id": str, "last_time": int}},
//                          "field": str, "max_entries": uint, "messages": uint,
//                          "missing": uint, "overflow": uint, "types": [str]|nil}},
//    "messages": uint}                                all messages seen
// An index entry's first / last message is the one with the smallest /
// largest (time, id) among the messages with that value (ties between equal
// (time, id) are the same message), which is the first / last in the log
// when the host stamps increasing times, and order independent regardless.
// For a counter without "[]": sum(values) + other + missing == messages; the
// same holds for an index with count in place of values and overflow for other.
#pragma once

#include <quorum/sdk/msgpack_view.hpp>
#include <quorum/sdk/sdk.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::plugins::projections {

using sdk::InvalidMessage;

inline constexpr uint32_t kDefaultBound = 1000;
inline constexpr uint32_t kMaxBound = 100000;
inline constexpr size_t kMaxDefinitions = 64;
inline constexpr size_t kMaxValueBytes = 256;

// ---- paths ------------------------------------------------------------------

struct Step {
  enum class Kind : uint8_t { key, index, each };
  Kind kind = Kind::key;
  std::string key;
  uint32_t index = 0;
};

inline bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

inline std::optional<uint32_t> parse_index(std::string_view digits) {
  uint32_t value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc{} || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return value;
}

// Parses a field path (see FIELDS above); throws InvalidMessage.
inline std::vector<Step> parse_path(std::string_view text) {
  auto fail = [&](const std::string& why) -> InvalidMessage {
    return InvalidMessage("projections config: field '" + std::string(text) + "': " + why);
  };
  if (text.empty() || text.size() > 256) {
    throw fail("must be 1 to 256 characters");
  }
  std::vector<Step> steps;
  size_t start = 0;
  for (;;) {
    const size_t dot = text.find('.', start);
    const std::string_view segment = text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
    const size_t bracket = segment.find('[');
    const std::string_view name = segment.substr(0, bracket);
    if (name.find(']') != std::string_view::npos) {
      throw fail("unexpected ']'");
    }
    if (!name.empty()) {
      steps.push_back(Step{Step::Kind::key, std::string(name), 0});
    }
    size_t at = bracket;
    while (at != std::string_view::npos && at < segment.size()) {
      if (segment[at] != '[') {
        throw fail("expected '[' after ']'");
      }
      const size_t close = segment.find(']', at);
      if (close == std::string_view::npos) {
        throw fail("'[' without ']'");
      }
      const std::string_view inside = segment.substr(at + 1, close - at - 1);
      if (inside.empty()) {
        steps.push_back(Step{Step::Kind::each, {}, 0});
      } else if (all_digits(inside) && parse_index(inside)) {
        steps.push_back(Step{Step::Kind::index, {}, *parse_index(inside)});
      } else {
        throw fail("an index must be digits or empty");
      }
      at = close + 1;
    }
    if (name.empty() && bracket == std::string_view::npos) {
      throw fail("empty segment");
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  if (steps.size() > 32) {
    throw fail("more than 32 steps");
  }
  const Step& root = steps.front();
  if (root.kind != Step::Kind::key ||
      (root.key != "id" && root.key != "type" && root.key != "time" && root.key != "data")) {
    throw fail("must start with id, type, time or data");
  }
  return steps;
}

// `text` cut to kMaxValueBytes without splitting a UTF-8 sequence.
inline std::string truncated(std::string_view text) {
  size_t size = std::min(text.size(), kMaxValueBytes);
  if (size < text.size()) {
    while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) {
      --size;
    }
  }
  return std::string(text.substr(0, size));
}

// A scalar as its value string, or nullopt for nil / containers / binary.
inline std::optional<std::string> render(const msgpack::object& object) {
  switch (object.type) {
    case msgpack::type::STR:
      return truncated(std::string_view(object.via.str.ptr, object.via.str.size));
    case msgpack::type::POSITIVE_INTEGER:
      return std::to_string(object.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return std::to_string(object.via.i64);
    case msgpack::type::BOOLEAN:
      return std::string(object.via.boolean ? "true" : "false");
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      char buffer[64];
      auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, object.via.f64);
      if (error != std::errc{}) {
        return std::nullopt;
      }
      return std::string(buffer, end);
    }
    default:
      return std::nullopt;
  }
}

inline void collect(const msgpack::object& object, std::span<const Step> steps, std::vector<std::string>& out) {
  if (steps.empty()) {
    if (auto value = render(object)) {
      out.push_back(std::move(*value));
    }
    return;
  }
  const Step& step = steps.front();
  const std::span<const Step> rest = steps.subspan(1);
  switch (step.kind) {
    case Step::Kind::key:
      if (object.type == msgpack::type::MAP) {
        if (const msgpack::object* value = sdk::find(object, step.key)) {
          collect(*value, rest, out);
        }
      } else if (object.type == msgpack::type::ARRAY && all_digits(step.key)) {
        const std::optional<uint32_t> index = parse_index(step.key);
        if (index && *index < object.via.array.size) {
          collect(object.via.array.ptr[*index], rest, out);
        }
      }
      return;
    case Step::Kind::index:
      if (object.type == msgpack::type::ARRAY && step.index < object.via.array.size) {
        collect(object.via.array.ptr[step.index], rest, out);
      }
      return;
    case Step::Kind::each:
      if (object.type == msgpack::type::ARRAY) {
        for (uint32_t i = 0; i < object.via.array.size; ++i) {
          collect(object.via.array.ptr[i], rest, out);
        }
      }
      return;
  }
}

// The same two over the lazy reader (the message bytes; what handle() uses):
// the same values, as msgpack-c would have converted them.
inline std::optional<std::string> render(const sdk::MsgView& value) {
  switch (value.type()) {
    case sdk::MsgType::kStr:
      return truncated(*value.as_string());
    case sdk::MsgType::kUint:
      return std::to_string(*value.as_uint());
    case sdk::MsgType::kInt:
      return std::to_string(*value.as_int());
    case sdk::MsgType::kBool:
      return std::string(*value.as_bool() ? "true" : "false");
    case sdk::MsgType::kFloat32:
    case sdk::MsgType::kFloat64: {
      char buffer[64];
      auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, *value.as_double());
      if (error != std::errc{}) {
        return std::nullopt;
      }
      return std::string(buffer, end);
    }
    default:
      return std::nullopt;
  }
}

inline void collect(const sdk::MsgView& value, std::span<const Step> steps, std::vector<std::string>& out) {
  if (steps.empty()) {
    if (auto rendered = render(value)) {
      out.push_back(std::move(*rendered));
    }
    return;
  }
  const Step& step = steps.front();
  const std::span<const Step> rest = steps.subspan(1);
  switch (step.kind) {
    case Step::Kind::key:
      if (value.is_map()) {
        if (const std::optional<sdk::MsgView> found = value.find(step.key)) {
          collect(*found, rest, out);
        }
      } else if (value.is_array() && all_digits(step.key)) {
        const std::optional<uint32_t> index = parse_index(step.key);
        const sdk::MsgView::ArrayRange elements = value.elements();
        if (index && *index < elements.size()) {
          collect(elements.at(*index), rest, out);
        }
      }
      return;
    case Step::Kind::index:
      if (value.is_array()) {
        const sdk::MsgView::ArrayRange elements = value.elements();
        if (step.index < elements.size()) {
          collect(elements.at(step.index), rest, out);
        }
      }
      return;
    case Step::Kind::each:
      for (const sdk::MsgView& element : value.elements()) {  // empty unless an array
        collect(element, rest, out);
      }
      return;
  }
}

// The distinct values of `steps` in `message`, sorted. The payload is read
// from message.data_view when set (lazy_message), else from message.data.
inline std::vector<std::string> extract(const sdk::Message& message, std::span<const Step> steps) {
  std::vector<std::string> out;
  const std::string_view root = steps.front().key;
  if (root == "data") {
    if (message.data_view.present()) {
      collect(message.data_view, steps.subspan(1), out);
    } else {
      collect(*message.data, steps.subspan(1), out);
    }
  } else if (steps.size() == 1) {
    if (root == "type") {
      out.push_back(truncated(message.type));
    } else if (root == "id") {
      out.push_back(truncated(message.id));
    } else {
      out.push_back(std::to_string(message.time_ms));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---- projection ----------------------------------------------------------

// A field's parsed path, computed on first use and kept with the decoded
// projection for the rest of a handle_batch call. Not part of the value:
// two caches always compare equal.
struct PathCache {
  std::optional<std::vector<Step>> steps;
  const std::vector<Step>& of(std::string_view field) {
    if (!steps) {
      steps = parse_path(field);
    }
    return *steps;
  }
  bool operator==(const PathCache&) const { return true; }
};

struct Counter {
  std::string field;
  std::optional<std::vector<std::string>> types;  // sorted, unique; nullopt: every type
  uint32_t max_values = kDefaultBound;
  uint64_t messages = 0;
  uint64_t missing = 0;
  uint64_t other = 0;
  std::map<std::string, uint64_t> values;
  PathCache path;
  bool operator==(const Counter&) const = default;
};

struct IndexEntry {
  uint64_t count = 0;
  std::string first_id;
  int64_t first_time = 0;
  std::string last_id;
  int64_t last_time = 0;
  bool operator==(const IndexEntry&) const = default;
};

struct Index {
  std::string field;
  std::optional<std::vector<std::string>> types;
  uint32_t max_entries = kDefaultBound;
  uint64_t messages = 0;
  uint64_t missing = 0;
  uint64_t overflow = 0;
  std::map<std::string, IndexEntry> entries;
  PathCache path;
  bool operator==(const Index&) const = default;
};

namespace detail {

using Packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_string(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

inline void pack_types(Packer& packer, const std::optional<std::vector<std::string>>& types) {
  if (!types) {
    packer.pack_nil();
    return;
  }
  packer.pack_array(static_cast<uint32_t>(types->size()));
  for (const std::string& type : *types) {
    pack_string(packer, type);
  }
}

inline std::string_view text_of(const msgpack::object& object, const std::string& what) {
  if (object.type != msgpack::type::STR) {
    throw InvalidMessage(what + " must be a string");
  }
  return {object.via.str.ptr, object.via.str.size};
}

inline uint64_t uint_of(const msgpack::object* object, const std::string& what) {
  if (object == nullptr) {
    return 0;
  }
  if (object->type != msgpack::type::POSITIVE_INTEGER) {
    throw InvalidMessage(what + " must be a non-negative integer");
  }
  return object->via.u64;
}

inline std::span<const msgpack::object_kv> map_of(const msgpack::object* object) {
  if (object == nullptr || object->type != msgpack::type::MAP) {
    return {};
  }
  return {object->via.map.ptr, object->via.map.size};
}

inline std::optional<std::vector<std::string>> types_of(const msgpack::object* object, const std::string& what) {
  if (object == nullptr || object->is_nil()) {
    return std::nullopt;
  }
  if (object->type != msgpack::type::ARRAY) {
    throw InvalidMessage(what + ": types must be an array of strings");
  }
  std::vector<std::string> types;
  for (const msgpack::object& type : sdk::as_array(object)) {
    types.emplace_back(text_of(type, what + ": a type"));
  }
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  return types;
}

// The same accessors over the lazy reader (decode_bytes).

inline std::string_view view_text_of(const sdk::MsgView& value, const std::string& what) {
  const std::optional<std::string_view> text = value.as_string();
  if (!text) {
    throw InvalidMessage(what + " must be a string");
  }
  return *text;
}

inline uint64_t view_uint_of(const sdk::MsgView& value, const std::string& what) {
  const std::optional<uint64_t> number = value.as_uint();
  if (!number) {
    throw InvalidMessage(what + " must be a non-negative integer");
  }
  return *number;
}

inline uint64_t view_uint_of(const std::optional<sdk::MsgView>& value, const std::string& what) {
  return value ? view_uint_of(*value, what) : 0;
}

inline sdk::MsgView::MapRange view_map_of(const std::optional<sdk::MsgView>& value) {
  return value ? value->items() : sdk::MsgView::MapRange{};  // items() is empty unless a map
}

inline std::optional<std::vector<std::string>> view_types_of(const std::optional<sdk::MsgView>& value,
                                                             const std::string& what) {
  if (!value || value->is_nil()) {
    return std::nullopt;
  }
  if (!value->is_array()) {
    throw InvalidMessage(what + ": types must be an array of strings");
  }
  std::vector<std::string> types;
  for (const sdk::MsgView& type : value->elements()) {
    types.emplace_back(view_text_of(type, what + ": a type"));
  }
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  return types;
}

inline bool counts_type(const std::optional<std::vector<std::string>>& types, std::string_view type) {
  return !types || std::binary_search(types->begin(), types->end(), type);
}

// Adds one to `value` in a map bounded to `bound` keys, keeping the smallest
// keys; displaced counts go to `spill`. Returns the kept slot or nullptr.
template <class Value, class Bump>
Value* bump_bounded(std::map<std::string, Value>& map, uint64_t& spill, uint32_t bound, const std::string& key,
                    uint64_t (*count_of)(const Value&), Bump&& fresh) {
  auto it = map.find(key);
  if (it != map.end()) {
    return &it->second;
  }
  if (map.size() >= bound) {
    auto largest = std::prev(map.end());
    if (!(key < largest->first)) {
      ++spill;
      return nullptr;
    }
    spill += count_of(largest->second);
    map.erase(largest);
  }
  return &map.emplace(key, fresh()).first->second;
}

struct Definition {
  std::string name;
  std::string field;
  std::optional<std::vector<std::string>> types;
  uint32_t bound = kDefaultBound;
};

inline std::vector<Definition> parse_definitions(const msgpack::object* list, const char* kind, const char* bound_key) {
  std::vector<Definition> out;
  if (list == nullptr || list->is_nil()) {
    return out;
  }
  const std::string where = std::string("projections config: ") + kind;
  if (list->type != msgpack::type::ARRAY) {
    throw InvalidMessage(where + " must be an array");
  }
  if (list->via.array.size > kMaxDefinitions) {
    throw InvalidMessage(where + ": at most 64");
  }
  for (const msgpack::object& item : sdk::as_array(list)) {
    if (item.type != msgpack::type::MAP) {
      throw InvalidMessage(where + ": each entry must be a map");
    }
    Definition definition;
    bool has_name = false;
    bool has_field = false;
    for (const msgpack::object_kv& kv : map_of(&item)) {
      const std::string_view key = text_of(kv.key, where + ": a key");
      if (key == "name") {
        definition.name = text_of(kv.val, where + ": name");
        has_name = true;
      } else if (key == "field") {
        definition.field = text_of(kv.val, where + ": field");
        has_field = true;
      } else if (key == "types") {
        definition.types = types_of(&kv.val, where);
      } else if (key == bound_key) {
        const uint64_t bound = uint_of(&kv.val, where + ": " + bound_key);
        if (bound < 1 || bound > kMaxBound) {
          throw InvalidMessage(where + ": " + bound_key + " must be 1 to 100000");
        }
        definition.bound = static_cast<uint32_t>(bound);
      } else {
        throw InvalidMessage(where + ": unknown key '" + std::string(key) + "'");
      }
    }
    if (!has_name || !has_field) {
      throw InvalidMessage(where + ": each entry needs a name and a field");
    }
    const bool good_name = !definition.name.empty() && definition.name.size() <= 64 &&
                           std::all_of(definition.name.begin(), definition.name.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                    c == '_' || c == '-';
                           });
    if (!good_name) {
      throw InvalidMessage(where + ": name '" + definition.name + "' must match [A-Za-z0-9_-]{1,64}");
    }
    if (std::any_of(out.begin(), out.end(), [&](const Definition& d) { return d.name == definition.name; })) {
      throw InvalidMessage(where + ": duplicate name '" + definition.name + "'");
    }
    parse_path(definition.field);  // validates
    out.push_back(std::move(definition));
  }
  return out;
}

}  // namespace detail

class Projections {
 public:
  static constexpr const char* name = "projections";
  static constexpr const char* version = "1.0.0";
  static constexpr uint32_t projection_schema = 1;

  struct Projection {
    std::map<std::string, Counter> counters;
    std::map<std::string, Index> indices;
    uint64_t messages = 0;
    bool operator==(const Projection&) const = default;
  };

  static Projection default_projection() {
    const std::vector<std::string> cvr = {"cvr"};
    auto counter = [](std::string field, std::optional<std::vector<std::string>> types) {
      Counter c;
      c.field = std::move(field);
      c.types = std::move(types);
      return c;
    };
    Projection p;
    p.counters["by_type"] = counter("type", std::nullopt);
    p.counters["by_precinct"] = counter("data.BallotStyleUnitId", cvr);
    p.counters["by_style"] = counter("data.BallotStyleId", cvr);
    p.counters["by_contest"] = counter("data.CVRSnapshot[].CVRContest[].ContestId", cvr);
    Index precincts;
    precincts.field = "data.BallotStyleUnitId";
    precincts.types = cvr;
    p.indices["precincts"] = std::move(precincts);
    return p;
  }

  static Projection initial(const msgpack::object* config) {
    if (config == nullptr || config->is_nil() || (config->type == msgpack::type::MAP && config->via.map.size == 0)) {
      return default_projection();
    }
    if (config->type != msgpack::type::MAP) {
      throw InvalidMessage("projections config must be a map");
    }
    for (const msgpack::object_kv& kv : detail::map_of(config)) {
      const std::string_view key = detail::text_of(kv.key, "projections config: a key");
      if (key != "counters" && key != "indices") {
        throw InvalidMessage("projections config: unknown key '" + std::string(key) + "'");
      }
    }
    Projection p;
    for (detail::Definition& d : detail::parse_definitions(sdk::find(*config, "counters"), "counters", "max_values")) {
      Counter counter;
      counter.field = std::move(d.field);
      counter.types = std::move(d.types);
      counter.max_values = d.bound;
      p.counters.emplace(std::move(d.name), std::move(counter));
    }
    for (detail::Definition& d : detail::parse_definitions(sdk::find(*config, "indices"), "indices", "max_entries")) {
      Index index;
      index.field = std::move(d.field);
      index.types = std::move(d.types);
      index.max_entries = d.bound;
      p.indices.emplace(std::move(d.name), std::move(index));
    }
    return p;
  }

  // handle() never rejects, and its one throw (a stored field path that does
  // not parse, InvalidMessage) happens below before any change, so the SDK's
  // handle_batch need not copy the projection before every message.
  static constexpr bool decides_before_mutating = true;
  // The SDK's other fast paths (sdk.hpp): messages read with the lazy reader
  // (message.data_view, no msgpack-c tree) and the projection decoded
  // straight from its bytes (decode_bytes).
  static constexpr bool lazy_message = true;

  sdk::Outcome handle(const sdk::Context& /*context*/, const sdk::Message& message, Projection& projection) const {
    // Parse (or fetch) every path this message will use first, in the order
    // the loops below use them, so a bad path throws before anything changes.
    for (auto& [counter_name, counter] : projection.counters) {
      if (detail::counts_type(counter.types, message.type)) {
        counter.path.of(counter.field);
      }
    }
    for (auto& [index_name, index] : projection.indices) {
      if (detail::counts_type(index.types, message.type)) {
        index.path.of(index.field);
      }
    }
    ++projection.messages;
    for (auto& [counter_name, counter] : projection.counters) {
      if (!detail::counts_type(counter.types, message.type)) {
        continue;
      }
      ++counter.messages;
      const std::vector<std::string> values = extract(message, counter.path.of(counter.field));
      if (values.empty()) {
        ++counter.missing;
      }
      for (const std::string& value : values) {
        uint64_t* slot = detail::bump_bounded<uint64_t>(
            counter.values, counter.other, counter.max_values, value, +[](const uint64_t& n) { return n; },
            [] { return uint64_t{0}; });
        if (slot != nullptr) {
          ++*slot;
        }
      }
    }
    for (auto& [index_name, index] : projection.indices) {
      if (!detail::counts_type(index.types, message.type)) {
        continue;
      }
      ++index.messages;
      const std::vector<std::string> values = extract(message, index.path.of(index.field));
      if (values.empty()) {
        ++index.missing;
      }
      for (const std::string& value : values) {
        IndexEntry* entry = detail::bump_bounded<IndexEntry>(
            index.entries, index.overflow, index.max_entries, value, +[](const IndexEntry& e) { return e.count; },
            [&] {
              return IndexEntry{0, std::string(message.id), message.time_ms, std::string(message.id), message.time_ms};
            });
        if (entry == nullptr) {
          continue;
        }
        ++entry->count;
        const auto here = std::make_pair(message.time_ms, message.id);
        if (here < std::make_pair(entry->first_time, std::string_view(entry->first_id))) {
          entry->first_time = message.time_ms;
          entry->first_id = message.id;
        }
        if (std::make_pair(entry->last_time, std::string_view(entry->last_id)) < here) {
          entry->last_time = message.time_ms;
          entry->last_id = message.id;
        }
      }
    }
    return sdk::Outcome::accept();
  }

  static void encode(msgpack::packer<msgpack::sbuffer>& packer, const Projection& projection) {
    using detail::pack_string;
    packer.pack_map(3);
    pack_string(packer, "counters");
    packer.pack_map(static_cast<uint32_t>(projection.counters.size()));
    for (const auto& [counter_name, c] : projection.counters) {
      pack_string(packer, counter_name);
      packer.pack_map(7);
      pack_string(packer, "field");
      pack_string(packer, c.field);
      pack_string(packer, "max_values");
      packer.pack_uint32(c.max_values);
      pack_string(packer, "messages");
      packer.pack_uint64(c.messages);
      pack_string(packer, "missing");
      packer.pack_uint64(c.missing);
      pack_string(packer, "other");
      packer.pack_uint64(c.other);
      pack_string(packer, "types");
      detail::pack_types(packer, c.types);
      pack_string(packer, "values");
      packer.pack_map(static_cast<uint32_t>(c.values.size()));
      for (const auto& [value, count] : c.values) {
        pack_string(packer, value);
        packer.pack_uint64(count);
      }
    }
    pack_string(packer, "indices");
    packer.pack_map(static_cast<uint32_t>(projection.indices.size()));
    for (const auto& [index_name, x] : projection.indices) {
      pack_string(packer, index_name);
      packer.pack_map(7);
      pack_string(packer, "entries");
      packer.pack_map(static_cast<uint32_t>(x.entries.size()));
      for (const auto& [value, e] : x.entries) {
        pack_string(packer, value);
        packer.pack_map(5);
        pack_string(packer, "count");
        packer.pack_uint64(e.count);
        pack_string(packer, "first_id");
        pack_string(packer, e.first_id);
        pack_string(packer, "first_time");
        packer.pack_int64(e.first_time);
        pack_string(packer, "last_id");
        pack_string(packer, e.last_id);
        pack_string(packer, "last_time");
        packer.pack_int64(e.last_time);
      }
      pack_string(packer, "field");
      pack_string(packer, x.field);
      pack_string(packer, "max_entries");
      packer.pack_uint32(x.max_entries);
      pack_string(packer, "messages");
      packer.pack_uint64(x.messages);
      pack_string(packer, "missing");
      packer.pack_uint64(x.missing);
      pack_string(packer, "overflow");
      packer.pack_uint64(x.overflow);
      pack_string(packer, "types");
      detail::pack_types(packer, x.types);
    }
    pack_string(packer, "messages");
    packer.pack_uint64(projection.messages);
  }

  // decode() over the lazy reader: the same checks, errors and result (each
  // map's fields read in one pass, first match per key, then judged in the
  // order decode() judges them).
  static void decode_bytes(std::string_view bytes, Projection& projection) {
    using detail::view_map_of;
    using detail::view_text_of;
    using detail::view_uint_of;
    using sdk::MsgEntry;
    using sdk::MsgView;
    sdk::SkipMemo memo;
    const MsgView object = MsgView::of(bytes, &memo);
    (void)object.skip();  // every byte is msgpack before any field is judged (as msgpack-c's unpack did)
    if (!object.is_map()) {
      throw InvalidMessage("projections projection is not a map");
    }
    projection = Projection{};
    const auto [messages, counters, indices] =
        object.find_all<3>({std::string_view("messages"), "counters", "indices"});
    projection.messages = view_uint_of(messages, "messages");
    auto bound_of = [](const std::optional<MsgView>& value, const char* what) {
      const uint64_t bound = view_uint_of(value, what);
      if (bound < 1 || bound > kMaxBound) {
        throw InvalidMessage(std::string("projections projection: bad ") + what);
      }
      return static_cast<uint32_t>(bound);
    };
    auto require = [](const std::optional<MsgView>& value, const char* key) {
      if (!value) {
        throw InvalidMessage(std::string("projections projection: missing ") + key);
      }
      return *value;
    };
    for (const MsgEntry& kv : view_map_of(counters)) {
      Counter c;
      const auto [field, types, max_values, c_messages, missing, other, values] = kv.value.find_all<7>(
          {std::string_view("field"), "types", "max_values", "messages", "missing", "other", "values"});
      c.field = view_text_of(require(field, "field"), "field");
      c.types = detail::view_types_of(types, "projection");
      c.max_values = bound_of(max_values, "max_values");
      c.messages = view_uint_of(c_messages, "messages");
      c.missing = view_uint_of(missing, "missing");
      c.other = view_uint_of(other, "other");
      for (const MsgEntry& value : view_map_of(values)) {
        const std::string_view text = view_text_of(value.key, "value");
        c.values.emplace_hint(c.values.end(), text, view_uint_of(value.value, "count"));
      }
      projection.counters.emplace(view_text_of(kv.key, "counter name"), std::move(c));
    }
    for (const MsgEntry& kv : view_map_of(indices)) {
      Index x;
      const auto [field, types, max_entries, x_messages, missing, overflow, entries] = kv.value.find_all<7>(
          {std::string_view("field"), "types", "max_entries", "messages", "missing", "overflow", "entries"});
      x.field = view_text_of(require(field, "field"), "field");
      x.types = detail::view_types_of(types, "projection");
      x.max_entries = bound_of(max_entries, "max_entries");
      x.messages = view_uint_of(x_messages, "messages");
      x.missing = view_uint_of(missing, "missing");
      x.overflow = view_uint_of(overflow, "overflow");
      for (const MsgEntry& entry : view_map_of(entries)) {
        IndexEntry e;
        const auto [count, first_id, first_time, last_id, last_time] = entry.value.find_all<5>(
            {std::string_view("count"), "first_id", "first_time", "last_id", "last_time"});
        e.count = view_uint_of(count, "count");
        e.first_id = view_text_of(require(first_id, "first_id"), "first_id");
        e.first_time = first_time ? first_time->as_int().value_or(0) : 0;
        e.last_id = view_text_of(require(last_id, "last_id"), "last_id");
        e.last_time = last_time ? last_time->as_int().value_or(0) : 0;
        x.entries.emplace_hint(x.entries.end(), view_text_of(entry.key, "entry"), std::move(e));
      }
      projection.indices.emplace(view_text_of(kv.key, "index name"), std::move(x));
    }
  }

  static void decode(const msgpack::object& object, Projection& projection) {
    using detail::map_of;
    using detail::text_of;
    using detail::uint_of;
    if (object.type != msgpack::type::MAP) {
      throw InvalidMessage("projections projection is not a map");
    }
    projection = Projection{};
    projection.messages = uint_of(sdk::find(object, "messages"), "messages");
    auto bound_of = [](const msgpack::object* value, const char* what) {
      const uint64_t bound = uint_of(value, what);
      if (bound < 1 || bound > kMaxBound) {
        throw InvalidMessage(std::string("projections projection: bad ") + what);
      }
      return static_cast<uint32_t>(bound);
    };
    for (const msgpack::object_kv& kv : map_of(sdk::find(object, "counters"))) {
      Counter c;
      const msgpack::object& body = kv.val;
      c.field = text_of(*require(body, "field"), "field");
      c.types = detail::types_of(sdk::find(body, "types"), "projection");
      c.max_values = bound_of(sdk::find(body, "max_values"), "max_values");
      c.messages = uint_of(sdk::find(body, "messages"), "messages");
      c.missing = uint_of(sdk::find(body, "missing"), "missing");
      c.other = uint_of(sdk::find(body, "other"), "other");
      for (const msgpack::object_kv& value : map_of(sdk::find(body, "values"))) {
        c.values.emplace_hint(c.values.end(), text_of(value.key, "value"), uint_of(&value.val, "count"));
      }
      projection.counters.emplace(text_of(kv.key, "counter name"), std::move(c));
    }
    for (const msgpack::object_kv& kv : map_of(sdk::find(object, "indices"))) {
      Index x;
      const msgpack::object& body = kv.val;
      x.field = text_of(*require(body, "field"), "field");
      x.types = detail::types_of(sdk::find(body, "types"), "projection");
      x.max_entries = bound_of(sdk::find(body, "max_entries"), "max_entries");
      x.messages = uint_of(sdk::find(body, "messages"), "messages");
      x.missing = uint_of(sdk::find(body, "missing"), "missing");
      x.overflow = uint_of(sdk::find(body, "overflow"), "overflow");
      for (const msgpack::object_kv& entry : map_of(sdk::find(body, "entries"))) {
        IndexEntry e;
        e.count = uint_of(sdk::find(entry.val, "count"), "count");
        e.first_id = text_of(*require(entry.val, "first_id"), "first_id");
        e.first_time = sdk::as_int(sdk::find(entry.val, "first_time")).value_or(0);
        e.last_id = text_of(*require(entry.val, "last_id"), "last_id");
        e.last_time = sdk::as_int(sdk::find(entry.val, "last_time")).value_or(0);
        x.entries.emplace_hint(x.entries.end(), text_of(entry.key, "entry"), std::move(e));
      }
      projection.indices.emplace(text_of(kv.key, "index name"), std::move(x));
    }
  }

 private:
  static const msgpack::object* require(const msgpack::object& map, const char* key) {
    const msgpack::object* value = sdk::find(map, key);
    if (value == nullptr) {
      throw InvalidMessage(std::string("projections projection: missing ") + key);
    }
    return value;
  }
};

}  // namespace quorum::plugins::projections
