#include <quorum/host/library_loader.hpp>

#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>

#include <fstream>
#include <string>
#include <utility>

namespace quorum::host {

namespace fs = std::filesystem;

// Bookkeeping shared by a loader and every library it loaded; a library may
// be unloaded after its loader is gone.
struct LoadedLibrary::Shared {
  std::mutex mutex;  // guards by_digest and orders dlopen against dlclose
  std::map<std::string, std::weak_ptr<const LoadedLibrary>> by_digest;
  std::atomic<uint64_t> loaded{0};
  std::atomic<uint64_t> shared_loads{0};
  std::atomic<uint64_t> unloaded{0};
  std::atomic<uint64_t> still_mapped{0};
};

struct LoadedLibrary::Impl {
  boost::dll::shared_library library;
};

LoadedLibrary::~LoadedLibrary() {
  if (impl_ == nullptr || shared_ == nullptr) {
    return;
  }
  std::lock_guard lock(shared_->mutex);
  impl_->library.unload();
  bool reloaded = false;
  auto it = shared_->by_digest.find(sha256_hex_);
  if (it != shared_->by_digest.end()) {
    if (it->second.expired()) {
      shared_->by_digest.erase(it);
    } else {
      // The same bytes were loaded again after our last reference went: the
      // mapping now belongs to that load, so it is not a leak of ours.
      reloaded = true;
    }
  }
  if (!reloaded && is_mapped_in_process(mapped_path_)) {
    shared_->still_mapped.fetch_add(1, std::memory_order_relaxed);
  } else {
    shared_->unloaded.fetch_add(1, std::memory_order_relaxed);
  }
}

bool is_mapped_in_process(const fs::path& path) {
  std::ifstream maps("/proc/self/maps");
  const std::string needle = path.string();
  std::string line;
  while (std::getline(maps, line)) {
    // The path is the last field; compare the line's tail.
    if (line.size() >= needle.size() && line.compare(line.size() - needle.size(), needle.size(), needle) == 0) {
      return true;
    }
  }
  return false;
}

LibraryLoader::LibraryLoader(fs::path cache_dir)
    : cache_dir_(std::move(cache_dir)), shared_(std::make_shared<LoadedLibrary::Shared>()) {}

LibraryLoader::~LibraryLoader() = default;

Result<std::shared_ptr<const LoadedLibrary>> LibraryLoader::load(const fs::path& path, std::string_view expected_name) {
  Result<std::string> bytes = read_file(path);
  if (!bytes.ok()) {
    return bytes.error();
  }
  if (bytes->size() < 4 || bytes->compare(0, 4, "\x7f" "ELF") != 0) {
    return make_error(ErrorCode::kLoadFailed, "not a shared library: " + path.string() + " has no ELF header");
  }
  Result<StoredFile> stored = store_content_addressed(cache_dir_, *bytes);
  if (!stored.ok()) {
    return stored.error();
  }

  // Declared before the lock: if this turns out to be the last reference, the
  // library's destructor (which takes the same mutex) runs after unlocking.
  std::shared_ptr<const LoadedLibrary> library;
  std::lock_guard lock(shared_->mutex);
  auto existing = shared_->by_digest.find(stored->digest_hex);
  if (existing != shared_->by_digest.end()) {
    if ((library = existing->second.lock())) {
      if (!expected_name.empty() && library->info().name != expected_name) {
        return make_error(ErrorCode::kIncompatible, "descriptor field 'name' is '" + library->info().name +
                                                        "', expected '" + std::string(expected_name) + "'");
      }
      shared_->shared_loads.fetch_add(1, std::memory_order_relaxed);
      return library;
    }
  }

  auto impl = std::make_unique<LoadedLibrary::Impl>();
  boost::dll::fs::error_code ec;
  impl->library.load(boost::dll::fs::path(stored->path.string()),
                     boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec || !impl->library.is_loaded()) {
    const char* reason = ::dlerror();
    return make_error(ErrorCode::kLoadFailed, "not a shared library: cannot load " + path.string() + ": " +
                                                  (reason != nullptr ? std::string(reason) : ec.message()));
  }
  if (!impl->library.has(QUORUM_PLUGIN_ENTRY_SYMBOL)) {
    return make_error(ErrorCode::kLoadFailed,
                      "missing entry symbol " QUORUM_PLUGIN_ENTRY_SYMBOL " in " + path.string());
  }
  auto& entry = impl->library.get<const quorum_plugin_descriptor*()>(QUORUM_PLUGIN_ENTRY_SYMBOL);
  const quorum_plugin_descriptor* descriptor = entry();
  Result<PluginInfo> info = check_descriptor(descriptor, expected_name);
  if (!info.ok()) {
    return make_error(info.error().code, path.string() + ": " + info.error().message);
  }

  std::shared_ptr<LoadedLibrary> fresh(new LoadedLibrary());
  fresh->info_ = std::move(info).value();
  fresh->sha256_hex_ = stored->digest_hex;
  fresh->mapped_path_ = stored->path;
  fresh->source_path_ = path;
  fresh->impl_ = std::move(impl);
  fresh->shared_ = shared_;
  shared_->by_digest[stored->digest_hex] = fresh;
  shared_->loaded.fetch_add(1, std::memory_order_relaxed);
  return std::shared_ptr<const LoadedLibrary>(std::move(fresh));
}

LoaderStats LibraryLoader::stats() const {
  LoaderStats stats;
  stats.loaded = shared_->loaded.load(std::memory_order_relaxed);
  stats.shared_loads = shared_->shared_loads.load(std::memory_order_relaxed);
  stats.unloaded = shared_->unloaded.load(std::memory_order_relaxed);
  stats.still_mapped = shared_->still_mapped.load(std::memory_order_relaxed);
  stats.resident = stats.loaded - stats.unloaded - stats.still_mapped;
  return stats;
}

}  // namespace quorum::host
