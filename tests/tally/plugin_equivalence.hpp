// Raw C-ABI calls for pinning one plugin build's bytes to another's (a
// rewritten handler against a frozen copy of the old one): every call's
// status and every output byte, compared as they are.
#pragma once

#include <gtest/gtest.h>

#include <quorum/plugin.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace quorum::test::equivalence {

inline quorum_bytes raw_bytes(const std::string& text) noexcept {
  return quorum_bytes{reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// One call's outcome: status and every output byte.
struct Raw {
  int32_t status = 0;
  std::string bytes;
  bool operator==(const Raw&) const = default;
};

inline Raw take(const quorum_plugin_descriptor& plugin, int32_t status, quorum_buffer& out) {
  Raw raw{status, out.data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(out.data), out.size)};
  plugin.free(&out);
  return raw;
}

inline Raw init(const quorum_plugin_descriptor& plugin, const std::string& config) {
  quorum_buffer out{};
  const int32_t status = plugin.init(raw_bytes(config), &out);
  return take(plugin, status, out);
}

inline Raw handle(const quorum_plugin_descriptor& plugin, const std::string& projection, const std::string& message) {
  quorum_history history{nullptr, 0, nullptr};
  quorum_buffer out{};
  const int32_t status =
      plugin.handle(raw_bytes("precinct"), raw_bytes(projection), raw_bytes(message), &history, &out);
  return take(plugin, status, out);
}

// A msgpack array (array32 header) of already-encoded messages.
inline std::string array_of(const std::vector<std::string>& messages) {
  std::string array;
  array.push_back(static_cast<char>(0xdd));
  const auto n = static_cast<uint32_t>(messages.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    array.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  for (const std::string& message : messages) {
    array += message;
  }
  return array;
}

inline Raw handle_batch(const quorum_plugin_descriptor& plugin, const std::string& projection,
                        const std::vector<std::string>& messages) {
  const std::string array = array_of(messages);
  quorum_buffer out{};
  const int32_t status =
      plugin.handle_batch(raw_bytes("precinct"), raw_bytes(projection), raw_bytes(array), nullptr, &out);
  return take(plugin, status, out);
}

// The projection bin of an OK result.
inline std::string projection_of(const Raw& raw) {
  const nlohmann::json body = nlohmann::json::from_msgpack(raw.bytes);
  const auto& binary = body.at("projection").get_binary();
  return std::string(binary.begin(), binary.end());
}

// Feeds two plugins the same messages from the same projection in chunks of
// the given sizes (cycled; a chunk of 1 alternates between handle and
// handle_batch); `check(a, b)` compares every call's outcomes (RC_ASSERT or
// EXPECT). Returns the final projection of `a`.
template <class Check>
std::string feed_both(const quorum_plugin_descriptor& a_plugin, const quorum_plugin_descriptor& b_plugin,
                      std::string projection, const std::vector<std::string>& messages,
                      const std::vector<size_t>& chunks, Check&& check) {
  size_t at = 0;
  size_t c = 0;
  while (at < messages.size()) {
    size_t size = chunks.empty() ? size_t{4} : chunks[c++ % chunks.size()];
    size = std::max<size_t>(1, std::min(messages.size() - at, size));
    const std::vector<std::string> chunk(messages.begin() + static_cast<std::ptrdiff_t>(at),
                                         messages.begin() + static_cast<std::ptrdiff_t>(at + size));
    at += size;
    Raw a;
    Raw b;
    if (size == 1 && c % 2 == 0) {
      a = handle(a_plugin, projection, chunk[0]);
      b = handle(b_plugin, projection, chunk[0]);
    } else {
      a = handle_batch(a_plugin, projection, chunk);
      b = handle_batch(b_plugin, projection, chunk);
    }
    check(a, b);
    if (a.status == QUORUM_STATUS_OK) {
      projection = projection_of(a);
    }
  }
  return projection;
}

// Both plugins answer alike to `message` on every projection in `cases`
// (encoded by `encode`; one handle() and a batch of two), and on `good`
// cut short, with a junk byte appended, and as a lone junk byte.
template <class Json, class Encode>
void expect_same_on_projections(const quorum_plugin_descriptor& a_plugin, const quorum_plugin_descriptor& b_plugin,
                                const std::vector<Json>& cases, const Json& good, Encode&& encode,
                                const std::string& message) {
  for (const Json& p : cases) {
    const std::string bytes = encode(p);
    EXPECT_EQ(handle(a_plugin, bytes, message), handle(b_plugin, bytes, message)) << p.dump();
    EXPECT_EQ(handle_batch(a_plugin, bytes, {message, message}), handle_batch(b_plugin, bytes, {message, message}))
        << p.dump();
  }
  const std::string bytes = encode(good);
  for (const std::string& broken : {bytes.substr(0, bytes.size() - 2), bytes + "\xc1", std::string("\xc1")}) {
    EXPECT_EQ(handle(a_plugin, broken, message), handle(b_plugin, broken, message));
  }
}

}  // namespace quorum::test::equivalence
