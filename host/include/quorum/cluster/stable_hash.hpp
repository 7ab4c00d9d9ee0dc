// The hash that places keys and ring points. Placement is part of the
// protocol: every node, whatever its CPU, compiler or release, must compute
// the same writer and followers for a key, or two nodes would both believe
// they order its commands. So the hash is fixed byte for byte:
//
//   stable_hash(bytes) = the first 8 bytes of SHA-256(bytes), read big-endian
//
// (e.g. stable_hash("") = 0xe3b0c44298fc1c14, stable_hash("abc") =
// 0xba7816bf8f01cfea). Changing it, or anything else that changes placement
// (ring points, home rules), is a protocol change: tests/cluster/golden_test.cpp
// pins known answers and must fail on such a change.
// Thread-safe; no allocation.
#pragma once

#include <cstdint>
#include <string_view>

namespace quorum::cluster {

uint64_t stable_hash(std::string_view bytes) noexcept;

}  // namespace quorum::cluster
