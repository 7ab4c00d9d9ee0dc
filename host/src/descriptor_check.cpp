#include <quorum/host/descriptor_check.hpp>

#include <cstddef>
#include <cstdio>
#include <cstring>

namespace quorum::host {

namespace {

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxSemverLength = 64;

Error refuse(std::string message) { return make_error(ErrorCode::kIncompatible, std::move(message)); }

// True if the descriptor, as the plugin compiled it, contains the field that
// ends at offset + size.
bool has_field(uint32_t struct_size, size_t offset, size_t size) noexcept { return struct_size >= offset + size; }

std::string hex(uint32_t value) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%x", value);
  return buffer;
}

// A bounded view of a C string in the plugin (never reads past max + 1).
std::string_view bounded(const char* text, size_t max) noexcept {
  if (text == nullptr) {
    return {};
  }
  return std::string_view(text, ::strnlen(text, max + 1));
}

}  // namespace

bool is_valid_handler_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_valid_semver(std::string_view semver) noexcept {
  if (semver.empty() || semver.size() > kMaxSemverLength) {
    return false;
  }
  int parts = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = semver.find('.', start);
    const std::string_view part = semver.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || (part.size() > 1 && part[0] == '0')) {
      return false;
    }
    for (char c : part) {
      if (c < '0' || c > '9') {
        return false;
      }
    }
    ++parts;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return parts == 3;
}

Result<PluginInfo> check_descriptor(const quorum_plugin_descriptor* d, std::string_view expected_name) {
  if (d == nullptr) {
    return refuse("plugin entry " QUORUM_PLUGIN_ENTRY_SYMBOL " returned a null descriptor");
  }
  if (d->struct_size < QUORUM_DESCRIPTOR_MIN_SIZE) {
    return refuse("descriptor too short: " + std::to_string(d->struct_size) + " bytes, need at least " +
                  std::to_string(QUORUM_DESCRIPTOR_MIN_SIZE));
  }
  if (d->abi_major != QUORUM_ABI_MAJOR) {
    return refuse("ABI major " + std::to_string(d->abi_major) + " is not supported by this host (speaks " +
                  std::to_string(QUORUM_ABI_MAJOR) + ".x)");
  }
  PluginInfo info;
  info.struct_size = d->struct_size;
  info.abi_major = d->abi_major;
  info.abi_minor = d->abi_minor;
  info.projection_schema = d->projection_schema;
  info.capabilities = d->capabilities;
  info.handle = d->handle;
  info.free = d->free;
  // Fields a plugin of an older minor did not compile in are absent, whatever
  // bytes follow its descriptor in memory. Fields of a newer minor are ignored.
  if (has_field(d->struct_size, offsetof(quorum_plugin_descriptor, init), sizeof d->init)) {
    info.init = d->init;
  }
  if (has_field(d->struct_size, offsetof(quorum_plugin_descriptor, migrate), sizeof d->migrate)) {
    info.migrate = d->migrate;
  }
  if (has_field(d->struct_size, offsetof(quorum_plugin_descriptor, handle_batch), sizeof d->handle_batch)) {
    info.handle_batch = d->handle_batch;
  }
  if (info.handle == nullptr) {
    return refuse("descriptor field 'handle' is null (required)");
  }
  if (info.free == nullptr) {
    return refuse("descriptor field 'free' is null (required)");
  }
  const std::string_view name = bounded(d->name, kMaxNameLength);
  if (d->name == nullptr) {
    return refuse("descriptor field 'name' is null");
  }
  if (!is_valid_handler_name(name)) {
    return refuse("descriptor field 'name' is '" + std::string(name.substr(0, kMaxNameLength)) +
                  (name.size() > kMaxNameLength ? "...'" : "'") +
                  ", which does not match [a-z0-9_-]{1,64}");
  }
  if (!expected_name.empty() && name != expected_name) {
    return refuse("descriptor field 'name' is '" + std::string(name) + "', expected '" + std::string(expected_name) + "'");
  }
  info.name = std::string(name);
  const std::string_view semver = bounded(d->semver, kMaxSemverLength);
  if (d->semver == nullptr || !is_valid_semver(semver)) {
    return refuse("descriptor field 'semver' is '" + std::string(semver.substr(0, kMaxSemverLength)) +
                  "', which is not MAJOR.MINOR.PATCH");
  }
  info.semver = std::string(semver);
  const uint32_t unknown = info.capabilities & ~QUORUM_CAP_KNOWN_MASK;
  if (unknown != 0) {
    return refuse("descriptor field 'capabilities' has unknown flags " + hex(unknown) + " (this host knows " +
                  hex(QUORUM_CAP_KNOWN_MASK) + ")");
  }
  struct Pairing {
    uint32_t flag;
    const char* flag_name;
    bool present;
    const char* field;
  };
  const Pairing pairings[] = {
      {QUORUM_CAP_INIT, "QUORUM_CAP_INIT", info.init != nullptr, "init"},
      {QUORUM_CAP_MIGRATE, "QUORUM_CAP_MIGRATE", info.migrate != nullptr, "migrate"},
      {QUORUM_CAP_HANDLE_BATCH, "QUORUM_CAP_HANDLE_BATCH", info.handle_batch != nullptr, "handle_batch"},
  };
  for (const Pairing& pairing : pairings) {
    const bool flagged = info.has(pairing.flag);
    if (flagged && !pairing.present) {
      return refuse(std::string("descriptor capability ") + pairing.flag_name + " is set but field '" + pairing.field +
                    "' is null or beyond struct_size");
    }
    if (!flagged && pairing.present) {
      return refuse(std::string("descriptor field '") + pairing.field + "' is set but capability " +
                    pairing.flag_name + " is not");
    }
  }
  return info;
}

}  // namespace quorum::host
