// Loading plugin shared libraries: content-addressed copy, Boost.DLL with
// RTLD_NOW | RTLD_LOCAL, descriptor validation, and accounting of unloads.
//
// Ownership: a LoadedLibrary is held by std::shared_ptr; whoever drops the
// last reference unloads it (dlclose) on that thread, and the loader then
// checks /proc/self/maps to see whether the file is really gone (a library
// with GNU unique symbols or a leaked reference stays mapped; those are
// counted as still mapped, not hidden).
//
// Sharing: a LibraryLoader never dlopens a content-addressed path twice while
// a copy is loaded: loading the same bytes again returns the LoadedLibrary
// already in memory.
//
// Threads: all LibraryLoader members are safe to call concurrently. A
// LoadedLibrary is immutable after load; its descriptor may be used from any
// thread while a reference is held.
#pragma once

#include <quorum/host/content_store.hpp>
#include <quorum/host/descriptor_check.hpp>
#include <quorum/host/result.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace quorum::host {

// Counts kept by a loader (and shared with the libraries it loaded, which
// report their own unload).
struct LoaderStats {
  uint64_t loaded = 0;          // distinct libraries dlopen'ed so far
  uint64_t shared_loads = 0;    // loads answered with a library already in memory
  uint64_t unloaded = 0;        // dlclose'd and gone from /proc/self/maps
  uint64_t still_mapped = 0;    // dlclose'd but still in /proc/self/maps (a leak to look at)
  uint64_t resident = 0;        // loaded now (not yet dlclose'd)
};

class LibraryLoader;

// One plugin library mapped into the process.
class LoadedLibrary {
 public:
  ~LoadedLibrary();
  LoadedLibrary(const LoadedLibrary&) = delete;
  LoadedLibrary& operator=(const LoadedLibrary&) = delete;

  const PluginInfo& info() const noexcept { return info_; }
  const std::string& sha256_hex() const noexcept { return sha256_hex_; }
  // The content-addressed copy that was dlopen'ed.
  const std::filesystem::path& mapped_path() const noexcept { return mapped_path_; }
  // The file the caller named.
  const std::filesystem::path& source_path() const noexcept { return source_path_; }

 private:
  friend class LibraryLoader;
  struct Shared;
  struct Impl;
  LoadedLibrary() = default;

  PluginInfo info_;
  std::string sha256_hex_;
  std::filesystem::path mapped_path_;
  std::filesystem::path source_path_;
  std::unique_ptr<Impl> impl_;       // the boost::dll::shared_library
  std::shared_ptr<Shared> shared_;   // loader bookkeeping that outlives the loader
};

class LibraryLoader {
 public:
  // cache_dir receives the content-addressed copies; it is created on demand.
  explicit LibraryLoader(std::filesystem::path cache_dir);
  ~LibraryLoader();
  LibraryLoader(const LibraryLoader&) = delete;
  LibraryLoader& operator=(const LibraryLoader&) = delete;

  // Loads the plugin at `path` and validates its descriptor (expected_name:
  // see check_descriptor). Errors: kNotFound (no file), kLoadFailed (not a
  // shared library, dlopen refused it, or no quorum_plugin_entry symbol),
  // kIncompatible (entry returned null or the descriptor is refused), kIo.
  // The host keeps running after any of them.
  Result<std::shared_ptr<const LoadedLibrary>> load(const std::filesystem::path& path,
                                                    std::string_view expected_name = {});

  LoaderStats stats() const;
  const std::filesystem::path& cache_dir() const noexcept { return cache_dir_; }

 private:
  std::filesystem::path cache_dir_;
  std::shared_ptr<LoadedLibrary::Shared> shared_;  // the table of loaded copies and the counters
};

// True if `path` appears as a mapped file in /proc/self/maps.
bool is_mapped_in_process(const std::filesystem::path& path);

}  // namespace quorum::host
