// The election plugin's descriptor: the SDK's (quorum::sdk::descriptor) with
// a fast path in front of handle and handle_batch. The handler runs on every
// command of every actor of every node, and almost all of them are outside
// the election namespace; for those it answers "accepted, projection as
// given, no effects" after one prefix compare on the key, without parsing
// the message (the SDK would validate the whole envelope first). Election
// keys go to the SDK's entry points unchanged.
#pragma once

#include "election.hpp"
#include "keys.hpp"

#include <quorum/plugin.h>
#include <quorum/sdk/sdk.hpp>

#include <cstdint>
#include <string_view>

namespace quorum::plugins::election {

namespace entry_detail {

inline bool in_election_namespace(quorum_bytes key) noexcept {
  return election::in_election_namespace(std::string_view(reinterpret_cast<const char*>(key.data), key.size));
}

using Packer = msgpack::packer<msgpack::sbuffer>;

// The projection as a bin32, the header the SDK's results always use.
inline void pack_projection(msgpack::sbuffer& buffer, quorum_bytes projection) {
  const uint32_t size = static_cast<uint32_t>(projection.size);
  const char header[5] = {static_cast<char>(0xc6), static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                          static_cast<char>(size >> 8), static_cast<char>(size)};
  buffer.write(header, sizeof header);
  buffer.write(reinterpret_cast<const char*>(projection.data), projection.size);
}

inline int32_t handle(quorum_bytes key, quorum_bytes projection, quorum_bytes message, const quorum_history* history,
                      quorum_buffer* out) noexcept {
  if (in_election_namespace(key)) {
    return quorum::sdk::detail::handle<ElectionHandler>(key, projection, message, history, out);
  }
  return quorum::sdk::detail::guarded(out, [&]() -> int32_t {
    msgpack::sbuffer buffer(32 + projection.size);
    Packer packer(buffer);
    packer.pack_map(3);
    quorum::sdk::detail::pack_str(packer, "ok");
    packer.pack_true();
    quorum::sdk::detail::pack_str(packer, "projection");
    pack_projection(buffer, projection);
    quorum::sdk::detail::pack_str(packer, "effects");
    packer.pack_array(0);
    quorum::sdk::detail::release(buffer, out);
    return QUORUM_STATUS_OK;
  });
}

inline int32_t handle_batch(quorum_bytes key, quorum_bytes projection, quorum_bytes messages,
                            const quorum_history* history, quorum_buffer* out) noexcept {
  if (in_election_namespace(key)) {
    return quorum::sdk::detail::handle_batch<ElectionHandler>(key, projection, messages, history, out);
  }
  return quorum::sdk::detail::guarded(out, [&]() -> int32_t {
    // Only the array header is read: how many results to give.
    const quorum::sdk::MsgView all(messages.data, messages.size);
    const std::optional<uint32_t> count = all.is_array() ? all.size() : std::nullopt;
    if (!count) {
      throw quorum::sdk::InvalidMessage("handle_batch expects a msgpack array of messages");
    }
    msgpack::sbuffer buffer(64 + projection.size + 16 * static_cast<size_t>(*count));
    Packer packer(buffer);
    packer.pack_map(3);
    quorum::sdk::detail::pack_str(packer, "ok");
    packer.pack_true();
    quorum::sdk::detail::pack_str(packer, "projection");
    pack_projection(buffer, projection);
    quorum::sdk::detail::pack_str(packer, "results");
    packer.pack_array(*count);
    for (uint32_t i = 0; i < *count; ++i) {
      packer.pack_map(2);
      quorum::sdk::detail::pack_str(packer, "ok");
      packer.pack_true();
      quorum::sdk::detail::pack_str(packer, "effects");
      packer.pack_array(0);
    }
    quorum::sdk::detail::release(buffer, out);
    return QUORUM_STATUS_OK;
  });
}

}  // namespace entry_detail

// The descriptor the plugin exports (and the tests drive).
inline const quorum_plugin_descriptor* descriptor() noexcept {
  static constexpr quorum_plugin_descriptor value = [] {
    quorum_plugin_descriptor d = quorum::sdk::detail::DescriptorFor<ElectionHandler>::value;
    d.handle = &entry_detail::handle;
    d.handle_batch = &entry_detail::handle_batch;
    return d;
  }();
  return &value;
}

}  // namespace quorum::plugins::election
