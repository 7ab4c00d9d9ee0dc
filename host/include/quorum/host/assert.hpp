// QUORUM_ASSERT: invariants that must never fail. A failed assertion means the
// host's own state is corrupt, so it aborts loudly (file:line and the
// condition on stderr) instead of carrying on and spreading the damage.
// Always on, in every build type: the checks are cheap and the host guards
// an election. Bad input from plugins or callers is NOT an assertion; it is
// an Error value (see result.hpp).
#pragma once

namespace quorum::host::detail {

[[noreturn]] void assertion_failed(const char* condition, const char* file, int line) noexcept;

}  // namespace quorum::host::detail

#define QUORUM_ASSERT(condition)                                                        \
  do {                                                                                  \
    if (!(condition)) [[unlikely]] {                                                    \
      ::quorum::host::detail::assertion_failed(#condition, __FILE__, __LINE__);         \
    }                                                                                   \
  } while (false)
