#include <quorum/host/assert.hpp>
#include <quorum/host/result.hpp>

#include <cstdio>
#include <cstdlib>

namespace quorum {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kIncompatible: return "incompatible";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kLoadFailed: return "load failed";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kResourceExhausted: return "resource exhausted";
    case ErrorCode::kPluginFailed: return "plugin failed";
    case ErrorCode::kRejected: return "rejected";
    case ErrorCode::kUnavailable: return "unavailable";
  }
  return "unknown error";
}

}  // namespace quorum

namespace quorum::host::detail {

void assertion_failed(const char* condition, const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace quorum::host::detail
