// Host-side types for what a plugin call returns, and the parsers that turn
// the plugin's msgpack result buffer into them. A result that breaks the
// format of <quorum/plugin.h> (garbage bytes, wrong types, "ok" disagreeing
// with the status code) becomes a FAILED result naming the problem: a
// misbehaving plugin fails its call, it never crashes the host.
//
// Pure functions over bytes; no state, safe from any thread.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::host {

enum class CallStatus : int32_t {
  kOk = QUORUM_STATUS_OK,
  kRejected = QUORUM_STATUS_REJECTED,
  kFailed = QUORUM_STATUS_FAILED,
};

std::string_view to_string(CallStatus status) noexcept;

// A message for another actor, produced by a handler.
struct Effect {
  std::string to;    // actor key
  std::string type;  // command type
  std::string data;  // msgpack bytes of the payload (a nil when the plugin sent none)

  friend bool operator==(const Effect&, const Effect&) = default;
};

// The outcome of handle() for one message.
struct HandleResult {
  CallStatus status = CallStatus::kFailed;
  std::string error;            // set unless status == kOk
  std::string projection;       // the new projection bytes (kOk only)
  std::vector<Effect> effects;  // side effects (kOk only)

  bool ok() const noexcept { return status == CallStatus::kOk; }
  friend bool operator==(const HandleResult&, const HandleResult&) = default;
};

// The outcome of handle_batch(): the final projection and one result per
// message (projection left empty in each).
struct BatchResult {
  CallStatus status = CallStatus::kFailed;  // of the whole call
  std::string error;
  std::string projection;
  std::vector<HandleResult> results;
  bool ok() const noexcept { return status == CallStatus::kOk; }
};

// Limits on what a result may contain; anything bigger fails the call.
inline constexpr size_t kMaxEffectsPerResult = 65536;
inline constexpr size_t kMaxResultDepth = 64;

// {"ok": true, "projection": bin, "effects": [...]} | {"ok": false, "error": str}
HandleResult parse_handle_result(int32_t status, std::string_view bytes);
// {"ok": true, "projection": bin} | {"ok": false, "error": str}; the value
// is the projection bytes, an error is kPluginFailed (or kFailedPrecondition
// when the plugin rejected).
Result<std::string> parse_projection_result(int32_t status, std::string_view bytes);
// {"ok": true, "projection": bin, "results": [...]} | {"ok": false, "error": str}
BatchResult parse_batch_result(int32_t status, std::string_view bytes, size_t expected_results);

namespace detail {
// parse_handle_result (with_effects) and parse_projection_result's parser
// without its fast path for the SDK's plain accepted result: the reference
// the tests hold the fast path to. `status` must be a known status code.
HandleResult parse_general_result(int32_t status, std::string_view bytes, bool with_effects);
}  // namespace detail

}  // namespace quorum::host
