// Validation of a plugin descriptor against what this host speaks, field by
// field (like PostgreSQL's PG_MODULE_MAGIC): the first field that is wrong is
// named in the Error, with the value found and the value wanted.
//
// Pure logic over the descriptor memory; no loading, no threads, no state.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace quorum::host {

// What the host learnt from a valid descriptor: copies of its identity and
// the entry points it may call. Optional entry points beyond struct_size (an
// older minor) are null here even if the memory past the struct held bytes.
struct PluginInfo {
  std::string name;
  std::string semver;
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
  uint32_t struct_size = 0;
  uint32_t projection_schema = 0;
  uint32_t capabilities = 0;
  quorum_handle_fn handle = nullptr;
  quorum_free_fn free = nullptr;
  quorum_init_fn init = nullptr;
  quorum_migrate_fn migrate = nullptr;
  quorum_handle_batch_fn handle_batch = nullptr;

  bool has(uint32_t capability) const noexcept { return (capabilities & capability) == capability; }
};

// Checks, in this order: not null; struct_size >= QUORUM_DESCRIPTOR_MIN_SIZE;
// abi_major == QUORUM_ABI_MAJOR (any minor is accepted; fields past
// struct_size are treated as absent); handle and free set; name matches
// [a-z0-9_-]{1,64} and, when expected_name is not empty, equals it; semver is
// MAJOR.MINOR.PATCH (digits only, no leading zeros); capability flags are all
// known and agree with the optional pointers. Errors are kIncompatible.
Result<PluginInfo> check_descriptor(const quorum_plugin_descriptor* descriptor, std::string_view expected_name = {});

// The syntax rules on their own (also used for slot names).
bool is_valid_handler_name(std::string_view name) noexcept;
bool is_valid_semver(std::string_view semver) noexcept;

}  // namespace quorum::host
