// Internal to quorum_router: building a mailroom frame of a router kind.
#pragma once

#include <quorum/mailroom/mailroom.hpp>
#include <quorum/router/messages.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace quorum::router {

inline mailroom::Frame make_frame(Kind kind, uint64_t correlation, std::string key, std::string body,
                                  uint64_t epoch) {
  mailroom::Frame frame;
  frame.kind = static_cast<uint8_t>(kind);
  frame.correlation = correlation;
  frame.epoch = epoch;
  frame.key = std::move(key);
  frame.body = std::move(body);
  return frame;
}

}  // namespace quorum::router
