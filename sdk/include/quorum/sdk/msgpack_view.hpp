// Small, allocation-free helpers for reading msgpack objects that handlers
// receive (CVRs converted from JSON arrive as nested maps and arrays). They
// return views into the message buffer, which lives for the whole call.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace quorum::sdk {

// The value stored under `key` in a msgpack map, or nullptr when `map` is not
// a map or has no such key. Linear scan: CDF objects have a handful of keys.
inline const msgpack::object* find(const msgpack::object& map, std::string_view key) noexcept {
  if (map.type != msgpack::type::MAP) {
    return nullptr;
  }
  const msgpack::object_kv* kv = map.via.map.ptr;
  const msgpack::object_kv* const end = kv + map.via.map.size;
  for (; kv != end; ++kv) {
    if (kv->key.type == msgpack::type::STR &&
        std::string_view(kv->key.via.str.ptr, kv->key.via.str.size) == key) {
      return &kv->val;
    }
  }
  return nullptr;
}

// The string at `object`, or nullopt if it is not a string (or is null).
inline std::optional<std::string_view> as_string(const msgpack::object* object) noexcept {
  if (object == nullptr || object->type != msgpack::type::STR) {
    return std::nullopt;
  }
  return std::string_view(object->via.str.ptr, object->via.str.size);
}

// The integer at `object`, or nullopt if it is not an integer. Floats with an
// integral value are accepted, since JSON producers sometimes write 1.0.
inline std::optional<int64_t> as_int(const msgpack::object* object) noexcept {
  if (object == nullptr) {
    return std::nullopt;
  }
  switch (object->type) {
    case msgpack::type::POSITIVE_INTEGER:
      if (object->via.u64 > static_cast<uint64_t>(INT64_MAX)) {
        return std::nullopt;
      }
      return static_cast<int64_t>(object->via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return object->via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      const double value = object->via.f64;
      if (value >= -9.0e15 && value <= 9.0e15 && static_cast<double>(static_cast<int64_t>(value)) == value) {
        return static_cast<int64_t>(value);
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// Iterate an array; a missing or non-array value yields nothing.
struct ArrayView {
  const msgpack::object* begin_ = nullptr;
  const msgpack::object* end_ = nullptr;
  const msgpack::object* begin() const noexcept { return begin_; }
  const msgpack::object* end() const noexcept { return end_; }
  size_t size() const noexcept { return static_cast<size_t>(end_ - begin_); }
  bool empty() const noexcept { return begin_ == end_; }
};

inline ArrayView as_array(const msgpack::object* object) noexcept {
  if (object == nullptr || object->type != msgpack::type::ARRAY) {
    return {};
  }
  return {object->via.array.ptr, object->via.array.ptr + object->via.array.size};
}

// Thrown by handlers (through require()) when a message is malformed; the
// SDK turns it into a rejection with the message as the reason.
class InvalidMessage : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The string under `key`, or throw InvalidMessage naming the key.
inline std::string_view require_string(const msgpack::object& map, std::string_view key) {
  auto value = as_string(find(map, key));
  if (!value) {
    throw InvalidMessage("missing or non-string field '" + std::string(key) + "'");
  }
  return *value;
}

}  // namespace quorum::sdk
