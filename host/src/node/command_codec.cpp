#include <quorum/node/command_codec.hpp>

#include "command_fields.hpp"
#include "command_json_reader.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

namespace quorum::node {
namespace {

using detail::CommandSax;
using detail::finish_command;
using detail::invalid;
using detail::quote;
using detail::run_sax;
using detail::single_command;
using detail::store_data;
using detail::string_field;
using detail::too_big;
using nlohmann::json;

// [A-Za-z0-9._:@/-] as a table: every key of every command is checked.
constexpr std::array<bool, 256> kKeyChars = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[static_cast<size_t>(c)] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                    c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
  }
  return table;
}();

bool key_char(unsigned char c) { return kKeyChars[c]; }

// Lines of a body: '\n' count + 1 (memchr steps many bytes at a time; std::count one).
size_t count_lines(std::string_view body) {
  size_t lines = 1;
  const char* p = body.data();
  const char* end = p + body.size();
  while (p != end) {
    const auto* newline = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (newline == nullptr) {
      break;
    }
    ++lines;
    p = newline + 1;
  }
  return lines;
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

json object_to_json(const msgpack::object& o, size_t depth);

// A map key that is not a string, as a JSON object member name: a scalar,
// bin or ext key as its JSON text; an array or map key as "<array of N>" /
// "<map of N>" (rendering nested keys as text would escape each level again
// and double the output per level: an attacker's 100 bytes became gigabytes).
std::string key_name(const msgpack::object& key) {
  switch (key.type) {
    case msgpack::type::STR:
      return std::string(str_of(key));
    case msgpack::type::ARRAY:
      return "<array of " + std::to_string(key.via.array.size) + ">";
    case msgpack::type::MAP:
      return "<map of " + std::to_string(key.via.map.size) + ">";
    default:
      return dump_json(object_to_json(key, 0));
  }
}

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
        std::string name = key_name(kv.key);
        out[name] = object_to_json(kv.val, depth + 1);
      }
      return out;
    }
  }
  return nullptr;
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
  if (Status s = finish_command(key, command, has_type); !s) {
    return s.error();
  }
  return command;
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
  if (Status s = finish_command(key, command, has_type); !s) {
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
  items.reserve(std::min<size_t>(count_lines(body), kMaxBatchCommands));
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
