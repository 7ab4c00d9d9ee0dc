// Content addressing for plugin files. Every version of a plugin is copied to
// <cache_dir>/<sha256 hex>.so before it is dlopen'ed, so two versions never
// share a path (the dynamic loader would hand back the old mapping) and a
// file being rebuilt in place can never change code that is already loaded.
//
// Threads: the functions are independent and safe to call concurrently for
// different files; two concurrent stores of the same content are safe too
// (each writes a private temporary file and renames it into place).
#pragma once

#include <quorum/host/result.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace quorum::host {

using Sha256 = std::array<uint8_t, 32>;

// Lower-case hex of a digest (64 characters).
std::string to_hex(const Sha256& digest);

// SHA-256 of bytes in memory.
Sha256 sha256(std::string_view bytes) noexcept;

// Reads a whole file, bounded by max_bytes (a plugin larger than that is
// refused rather than read into memory). Errors: kNotFound, kIo,
// kResourceExhausted.
inline constexpr uint64_t kMaxPluginFileBytes = 256ull << 20;
Result<std::string> read_file(const std::filesystem::path& path, uint64_t max_bytes = kMaxPluginFileBytes);

// A file stored under its content address.
struct StoredFile {
  Sha256 digest;
  std::string digest_hex;
  std::filesystem::path path;  // <cache_dir>/<digest_hex>.so
};

// Copies `bytes` (the content of a plugin file) to <cache_dir>/<sha>.so
// unless a file with that name and the same content is already there.
// Creates cache_dir if needed. Never rewrites a file in place: a new copy is
// written to a temporary name and renamed, so a mapping of an older copy is
// never disturbed.
Result<StoredFile> store_content_addressed(const std::filesystem::path& cache_dir, std::string_view bytes);

}  // namespace quorum::host
