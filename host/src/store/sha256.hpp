// Internal: incremental SHA-256. Uses the CPU's SHA extensions (SHA-NI) when
// present, which hash the log about five times faster than libsodium's
// portable code (recovery is bound by hashing); otherwise libsodium.
// Both paths are tested against each other (store_property_test).
#pragma once

#include <quorum/store/entry.hpp>

#include <sodium.h>

#include <cstdint>
#include <string_view>

namespace quorum::store::detail {

// True if this CPU has SHA-NI (and the SSE4.1/SSSE3 it needs).
bool cpu_has_sha_extensions() noexcept;

class Sha256 {
 public:
  // use_sha_extensions: false forces libsodium (tests compare both paths).
  explicit Sha256(bool use_sha_extensions = cpu_has_sha_extensions()) noexcept;
  void update(std::string_view bytes) noexcept;
  Hash finish() noexcept;

 private:
  bool fast_;
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  crypto_hash_sha256_state sodium_;
};

}  // namespace quorum::store::detail
