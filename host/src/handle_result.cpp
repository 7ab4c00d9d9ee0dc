#include <quorum/host/handle_result.hpp>

#include <msgpack.hpp>

#include <exception>
#include <optional>

namespace quorum::host {

namespace {

// Thrown inside this file only; every parser catches it (and msgpack's own
// exceptions) and returns a failed result.
struct Malformed {
  std::string what;
};

const msgpack::object* find(const msgpack::object& map, std::string_view key) noexcept {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object_kv& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
      return &kv.val;
    }
  }
  return nullptr;
}

std::string require_str(const msgpack::object& map, std::string_view key, std::string_view where) {
  const msgpack::object* value = find(map, key);
  if (value == nullptr || value->type != msgpack::type::STR) {
    throw Malformed{std::string(where) + " has no string '" + std::string(key) + "'"};
  }
  return std::string(value->via.str.ptr, value->via.str.size);
}

// Unpacks one whole msgpack value; nothing may follow it. No bound can be
// larger than the buffer itself, so a lying length prefix fails fast.
msgpack::object_handle unpack_whole(std::string_view bytes) {
  if (bytes.empty()) {
    throw Malformed{"empty result buffer"};
  }
  const msgpack::unpack_limit limit(bytes.size(), bytes.size(), bytes.size(), bytes.size(), bytes.size(),
                                    kMaxResultDepth);
  size_t offset = 0;
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
  if (offset != bytes.size()) {
    throw Malformed{std::to_string(bytes.size() - offset) + " trailing bytes after the result map"};
  }
  if (handle.get().type != msgpack::type::MAP) {
    throw Malformed{"result is not a msgpack map"};
  }
  return handle;
}

// Reads "ok" and checks it against the status code. Returns the status, or
// fills `error` for a non-ok result.
bool read_ok(int32_t status, const msgpack::object& body) {
  const msgpack::object* ok = find(body, "ok");
  if (ok == nullptr || ok->type != msgpack::type::BOOLEAN) {
    throw Malformed{"result has no boolean 'ok'"};
  }
  if (ok->via.boolean != (status == QUORUM_STATUS_OK)) {
    throw Malformed{"result 'ok' is " + std::string(ok->via.boolean ? "true" : "false") + " but the status code is " +
                    std::to_string(status)};
  }
  return ok->via.boolean;
}

std::string read_error(const msgpack::object& body) {
  const msgpack::object* error = find(body, "error");
  if (error == nullptr) {
    return "(no reason given)";
  }
  if (error->type != msgpack::type::STR) {
    throw Malformed{"result 'error' is not a string"};
  }
  return std::string(error->via.str.ptr, error->via.str.size);
}

std::string read_projection(const msgpack::object& body) {
  const msgpack::object* projection = find(body, "projection");
  if (projection == nullptr) {
    throw Malformed{"result has no 'projection'"};
  }
  if (projection->type != msgpack::type::BIN) {
    throw Malformed{"result 'projection' is not a bin"};
  }
  return std::string(projection->via.bin.ptr, projection->via.bin.size);
}

std::vector<Effect> read_effects(const msgpack::object* effects) {
  std::vector<Effect> out;
  if (effects == nullptr || effects->type == msgpack::type::NIL) {
    return out;
  }
  if (effects->type != msgpack::type::ARRAY) {
    throw Malformed{"result 'effects' is not an array"};
  }
  if (effects->via.array.size > kMaxEffectsPerResult) {
    throw Malformed{"result has " + std::to_string(effects->via.array.size) + " effects, more than the limit of " +
                    std::to_string(kMaxEffectsPerResult)};
  }
  out.reserve(effects->via.array.size);
  for (uint32_t i = 0; i < effects->via.array.size; ++i) {
    const msgpack::object& item = effects->via.array.ptr[i];
    const std::string where = "effect " + std::to_string(i);
    if (item.type != msgpack::type::MAP) {
      throw Malformed{where + " is not a map"};
    }
    Effect effect;
    effect.to = require_str(item, "to", where);
    effect.type = require_str(item, "type", where);
    msgpack::sbuffer data;
    if (const msgpack::object* value = find(item, "data")) {
      msgpack::pack(data, *value);
    } else {
      msgpack::pack(data, msgpack::type::nil_t{});
    }
    effect.data.assign(data.data(), data.size());
    out.push_back(std::move(effect));
  }
  return out;
}

bool is_known_status(int32_t status) noexcept {
  return status == QUORUM_STATUS_OK || status == QUORUM_STATUS_REJECTED || status == QUORUM_STATUS_FAILED;
}

HandleResult failed(std::string reason) {
  HandleResult result;
  result.status = CallStatus::kFailed;
  result.error = "malformed result from plugin: " + std::move(reason);
  return result;
}

// An error result the plugin could not even encode (the SDK falls back to an
// empty buffer when out of memory) keeps its status.
std::optional<HandleResult> empty_error(int32_t status, std::string_view bytes) {
  if (bytes.empty() && (status == QUORUM_STATUS_REJECTED || status == QUORUM_STATUS_FAILED)) {
    HandleResult result;
    result.status = static_cast<CallStatus>(status);
    result.error = "(no reason given)";
    return result;
  }
  return std::nullopt;
}

template <class Body>
auto guarded(Body&& body, auto on_error) -> decltype(body()) {
  try {
    return body();
  } catch (const Malformed& malformed) {
    return on_error(malformed.what);
  } catch (const std::exception& error) {
    return on_error(std::string("invalid msgpack (") + error.what() + ")");
  }
}

}  // namespace

std::string_view to_string(CallStatus status) noexcept {
  switch (status) {
    case CallStatus::kOk: return "ok";
    case CallStatus::kRejected: return "rejected";
    case CallStatus::kFailed: return "failed";
  }
  return "unknown";
}

namespace {

// The shape nearly every accepted result has (the SDK writes it): a fixmap
// of "ok": true, "projection": bin and "effects": [] (or nil, or no
// "effects"), each key once, as a fixstr, in any order, nothing after it.
// Read by hand it skips building msgpack-c's tree (about 5 % of a node's CPU
// when every command is alone in its actor's round). Anything else (another
// key, a repeated one, effects to read, a longer encoding of a header)
// returns nothing and goes to the general parser, which gives the same
// answer for this shape: tests/host/handle_result_test.cpp checks that the
// two agree.
std::optional<HandleResult> parse_plain_accept(int32_t status, std::string_view bytes) {
  if (status != QUORUM_STATUS_OK || bytes.empty()) {
    return std::nullopt;
  }
  const auto* at = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = at + bytes.size();
  if ((*at & 0xf0) != 0x80) {
    return std::nullopt;  // not a fixmap
  }
  const unsigned fields = *at++ & 0x0f;
  bool seen_ok = false;
  bool seen_effects = false;
  std::optional<std::string_view> projection;
  for (unsigned i = 0; i < fields; ++i) {
    if (at == end || (*at & 0xe0) != 0xa0) {
      return std::nullopt;  // the key is not a fixstr
    }
    const size_t key_size = *at++ & 0x1f;
    if (static_cast<size_t>(end - at) < key_size + 1) {
      return std::nullopt;
    }
    const std::string_view key(reinterpret_cast<const char*>(at), key_size);
    at += key_size;
    if (key == "ok" && !seen_ok) {
      if (*at++ != 0xc3) {
        return std::nullopt;  // false, or not a boolean: the general parser says which
      }
      seen_ok = true;
    } else if (key == "effects" && !seen_effects) {
      if (*at != 0x90 && *at != 0xc0) {
        return std::nullopt;  // effects to read
      }
      ++at;
      seen_effects = true;
    } else if (key == "projection" && !projection) {
      const unsigned char tag = *at++;
      const size_t width = tag == 0xc4 ? 1 : tag == 0xc5 ? 2 : tag == 0xc6 ? 4 : 0;
      if (width == 0 || static_cast<size_t>(end - at) < width) {
        return std::nullopt;
      }
      size_t size = 0;
      for (size_t b = 0; b < width; ++b) {
        size = (size << 8) | *at++;
      }
      if (static_cast<size_t>(end - at) < size) {
        return std::nullopt;
      }
      projection = std::string_view(reinterpret_cast<const char*>(at), size);
      at += size;
    } else {
      return std::nullopt;  // another key, or one seen before
    }
  }
  if (at != end || !seen_ok || !projection) {
    return std::nullopt;
  }
  HandleResult result;
  result.status = CallStatus::kOk;
  result.projection = std::string(*projection);
  return result;
}

}  // namespace

// The common shape of handle, init and migrate results; effects are read
// only for handle results (init and migrate have none).
static HandleResult parse_single_result(int32_t status, std::string_view bytes, bool with_effects) {
  if (!is_known_status(status)) {
    return failed("unknown status code " + std::to_string(status));
  }
  if (auto result = empty_error(status, bytes)) {
    return *result;
  }
  if (auto plain = parse_plain_accept(status, bytes)) {
    return std::move(*plain);
  }
  return detail::parse_general_result(status, bytes, with_effects);
}

HandleResult detail::parse_general_result(int32_t status, std::string_view bytes, bool with_effects) {
  return guarded(
      [&]() -> HandleResult {
        msgpack::object_handle handle = unpack_whole(bytes);
        const msgpack::object& body = handle.get();
        HandleResult result;
        if (!read_ok(status, body)) {
          result.status = static_cast<CallStatus>(status);
          result.error = read_error(body);
          return result;
        }
        result.status = CallStatus::kOk;
        result.projection = read_projection(body);
        if (with_effects) {
          result.effects = read_effects(find(body, "effects"));
        }
        return result;
      },
      [](std::string reason) { return failed(std::move(reason)); });
}

HandleResult parse_handle_result(int32_t status, std::string_view bytes) {
  return parse_single_result(status, bytes, /*with_effects=*/true);
}

Result<std::string> parse_projection_result(int32_t status, std::string_view bytes) {
  HandleResult parsed = parse_single_result(status, bytes, /*with_effects=*/false);
  if (parsed.ok()) {
    return std::move(parsed.projection);
  }
  return make_error(parsed.status == CallStatus::kRejected ? ErrorCode::kFailedPrecondition : ErrorCode::kPluginFailed,
                    std::move(parsed.error));
}

BatchResult parse_batch_result(int32_t status, std::string_view bytes, size_t expected_results) {
  auto batch_failed = [](std::string reason) {
    BatchResult result;
    result.status = CallStatus::kFailed;
    result.error = "malformed result from plugin: " + std::move(reason);
    return result;
  };
  if (!is_known_status(status)) {
    return batch_failed("unknown status code " + std::to_string(status));
  }
  if (auto single = empty_error(status, bytes)) {
    BatchResult result;
    result.status = single->status;
    result.error = single->error;
    return result;
  }
  return guarded(
      [&]() -> BatchResult {
        msgpack::object_handle handle = unpack_whole(bytes);
        const msgpack::object& body = handle.get();
        BatchResult result;
        if (!read_ok(status, body)) {
          result.status = static_cast<CallStatus>(status);
          result.error = read_error(body);
          return result;
        }
        result.status = CallStatus::kOk;
        result.projection = read_projection(body);
        const msgpack::object* results = find(body, "results");
        if (results == nullptr || results->type != msgpack::type::ARRAY) {
          throw Malformed{"batch result has no array 'results'"};
        }
        if (results->via.array.size != expected_results) {
          throw Malformed{"batch result has " + std::to_string(results->via.array.size) + " results for " +
                          std::to_string(expected_results) + " messages"};
        }
        result.results.reserve(expected_results);
        for (uint32_t i = 0; i < results->via.array.size; ++i) {
          const msgpack::object& item = results->via.array.ptr[i];
          if (item.type != msgpack::type::MAP) {
            throw Malformed{"batch result " + std::to_string(i) + " is not a map"};
          }
          const msgpack::object* ok = find(item, "ok");
          if (ok == nullptr || ok->type != msgpack::type::BOOLEAN) {
            throw Malformed{"batch result " + std::to_string(i) + " has no boolean 'ok'"};
          }
          HandleResult entry;
          if (ok->via.boolean) {
            entry.status = CallStatus::kOk;
            entry.effects = read_effects(find(item, "effects"));
          } else {
            entry.status = CallStatus::kRejected;
            entry.error = read_error(item);
          }
          result.results.push_back(std::move(entry));
        }
        return result;
      },
      batch_failed);
}

}  // namespace quorum::host
