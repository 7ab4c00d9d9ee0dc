#include <quorum/host/content_store.hpp>

#include <sodium.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include <unistd.h>

namespace quorum::host {

namespace fs = std::filesystem;

std::string to_hex(const Sha256& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(digest.size() * 2, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kDigits[digest[i] >> 4];
    hex[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
  return hex;
}

Sha256 sha256(std::string_view bytes) noexcept {
  Sha256 digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return digest;
}

Result<std::string> read_file(const fs::path& path, uint64_t max_bytes) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return make_error(ErrorCode::kNotFound, "plugin file not found: " + path.string());
  }
  if (!fs::is_regular_file(status)) {
    return make_error(ErrorCode::kLoadFailed, "not a shared library: " + path.string() + " is not a regular file");
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot read " + path.string() + ": " + ec.message());
  }
  if (size > max_bytes) {
    return make_error(ErrorCode::kResourceExhausted, "plugin file " + path.string() + " is " + std::to_string(size) +
                                                         " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<uintmax_t>(in.gcount()) != size) {
    return make_error(ErrorCode::kIo, "short read of " + path.string());
  }
  return bytes;
}

Result<StoredFile> store_content_addressed(const fs::path& cache_dir, std::string_view bytes) {
  if (sodium_init() < 0) {
    return make_error(ErrorCode::kIo, "libsodium failed to initialise");
  }
  StoredFile stored;
  stored.digest = sha256(bytes);
  stored.digest_hex = to_hex(stored.digest);
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot create plugin cache " + cache_dir.string() + ": " + ec.message());
  }
  stored.path = fs::absolute(cache_dir, ec) / (stored.digest_hex + ".so");
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot resolve plugin cache " + cache_dir.string() + ": " + ec.message());
  }
  // Reuse a copy with the right content (for example from an earlier run).
  if (fs::exists(stored.path, ec)) {
    Result<std::string> existing = read_file(stored.path);
    if (existing.ok() && sha256(*existing) == stored.digest) {
      return stored;
    }
  }
  static std::atomic<uint64_t> counter{0};
  const fs::path temporary = stored.path.string() + ".tmp." + std::to_string(::getpid()) + "." +
                             std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      fs::remove(temporary, ec);
      return make_error(ErrorCode::kIo, "cannot write " + temporary.string());
    }
  }
  fs::rename(temporary, stored.path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return make_error(ErrorCode::kIo, "cannot rename into " + stored.path.string() + ": " + ec.message());
  }
  return stored;
}

}  // namespace quorum::host
