// Canonical msgpack: one byte string per value, so "the same definition" is
// a byte comparison. Maps are written with their keys (which must be
// strings) sorted by key bytes, integers in their shortest form, floats as
// float64, strings as str; arrays keep their order. A value this cannot
// make canonical (non-string or duplicate map keys, ext types, nesting
// deeper than kMaxCanonicalDepth) is an error, never silently changed.
#pragma once

#include <quorum/sdk/msgpack_reader.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::plugins::election {

inline constexpr uint32_t kMaxCanonicalDepth = 32;

namespace canonical_detail {

using quorum::sdk::MsgEntry;
using quorum::sdk::MsgType;
using quorum::sdk::MsgView;
using Packer = msgpack::packer<msgpack::sbuffer>;

// Writes `value` canonically; returns an error text or "" on success.
inline std::string write(const MsgView& value, Packer& packer, uint32_t depth) {
  if (depth > kMaxCanonicalDepth) {
    return "nested deeper than " + std::to_string(kMaxCanonicalDepth) + " levels";
  }
  switch (value.type()) {
    case MsgType::kNil:
      packer.pack_nil();
      return {};
    case MsgType::kBool:
      if (*value.as_bool()) {
        packer.pack_true();
      } else {
        packer.pack_false();
      }
      return {};
    case MsgType::kUint:
      packer.pack_uint64(*value.as_uint());
      return {};
    case MsgType::kInt:
      packer.pack_int64(*value.as_int());
      return {};
    case MsgType::kFloat32:
    case MsgType::kFloat64:
      packer.pack_double(*value.as_double());
      return {};
    case MsgType::kStr: {
      const std::string_view text = *value.as_string();
      packer.pack_str(static_cast<uint32_t>(text.size()));
      packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
      return {};
    }
    case MsgType::kBin: {
      const std::string_view bytes = *value.as_bin();
      packer.pack_bin(static_cast<uint32_t>(bytes.size()));
      packer.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
      return {};
    }
    case MsgType::kArray: {
      const MsgView::ArrayRange elements = value.elements();
      packer.pack_array(static_cast<uint32_t>(elements.size()));
      for (const MsgView& element : elements) {
        std::string error = write(element, packer, depth + 1);
        if (!error.empty()) {
          return error;
        }
      }
      return {};
    }
    case MsgType::kMap: {
      std::vector<std::pair<std::string_view, MsgView>> entries;
      entries.reserve(value.items().size());
      for (const MsgEntry& entry : value.items()) {
        const std::optional<std::string_view> key = entry.key.as_string();
        if (!key) {
          return "a map key is not a string";
        }
        entries.emplace_back(*key, entry.value);
      }
      std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t i = 1; i < entries.size(); ++i) {
        if (entries[i].first == entries[i - 1].first) {
          return "duplicate map key '" + std::string(entries[i].first) + "'";
        }
      }
      packer.pack_map(static_cast<uint32_t>(entries.size()));
      for (const auto& [key, item] : entries) {
        packer.pack_str(static_cast<uint32_t>(key.size()));
        packer.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
        std::string error = write(item, packer, depth + 1);
        if (!error.empty()) {
          return error;
        }
      }
      return {};
    }
    case MsgType::kExt:
      return "msgpack ext values are not allowed";
  }
  return "unknown msgpack type";
}

}  // namespace canonical_detail

// The canonical bytes of `value` into `out`; returns "" or why it cannot be
// made canonical. Throws MalformedMsgpack for bytes that are not msgpack.
inline std::string canonical(const quorum::sdk::MsgView& value, std::string& out) {
  msgpack::sbuffer buffer(256);
  canonical_detail::Packer packer(buffer);
  std::string error = canonical_detail::write(value, packer, 0);
  if (error.empty()) {
    out.assign(buffer.data(), buffer.size());
  }
  return error;
}

}  // namespace quorum::plugins::election
