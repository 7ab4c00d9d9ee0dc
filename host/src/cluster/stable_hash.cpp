#include <quorum/cluster/stable_hash.hpp>
#include <quorum/host/assert.hpp>

#include <sodium.h>

namespace quorum::cluster {

uint64_t stable_hash(std::string_view bytes) noexcept {
  // crypto_hash_sha256 needs no sodium_init(), but call it once anyway so
  // libsodium has picked its implementations before first use.
  static const bool initialised = sodium_init() >= 0;
  QUORUM_ASSERT(initialised);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value = (value << 8) | digest[i];
  }
  return value;
}

}  // namespace quorum::cluster
