#include <quorum/cluster/static_topology_store.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace quorum::cluster {

namespace {

Error io_error(const std::string& what, const std::string& path) {
  return make_error(ErrorCode::kIo, what + " " + path + ": " + std::strerror(errno));
}

// Reads at most kMaxTopologyFileBytes.
Result<std::string> read_bounded(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return io_error("cannot open topology file", path);
  }
  std::string content;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      Error error = io_error("cannot read topology file", path);
      ::close(fd);
      return error;
    }
    if (n == 0) {
      break;
    }
    if (content.size() + static_cast<size_t>(n) > kMaxTopologyFileBytes) {
      ::close(fd);
      return make_error(ErrorCode::kInvalidArgument, "topology file " + path + " is larger than " +
                                                         std::to_string(kMaxTopologyFileBytes) + " bytes");
    }
    content.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return content;
}

// An exclusive flock on <path>.lock for the lifetime of the object.
class FileLock {
 public:
  explicit FileLock(const std::string& path)
      : fd_(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) {
      ::close(fd_);  // releases the lock
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const noexcept { return fd_ >= 0; }

 private:
  int fd_;
};

std::vector<std::string> node_names(const Topology& topology) {
  std::vector<std::string> names;
  for (const DataCenter& dc : topology.data_centers) {
    for (const Node& node : dc.nodes) {
      names.push_back(node.name);
    }
  }
  return names;
}

}  // namespace

Status write_topology_file(const std::string& path, const Topology& topology) {
  if (Status valid = validate(topology); !valid) {
    return valid;
  }
  const std::string text = to_json(topology);
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return io_error("cannot create", temp);
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      Error error = io_error("cannot write", temp);
      ::close(fd);
      ::unlink(temp.c_str());
      return error;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Error error = io_error("cannot sync", temp);
    ::close(fd);
    ::unlink(temp.c_str());
    return error;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Error error = io_error("cannot replace", path);
    ::unlink(temp.c_str());
    return error;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

Result<Topology> edit_topology_file(const std::string& path, const TopologyEdit& edit) {
  FileLock lock(path);
  if (!lock.ok()) {
    return io_error("cannot lock", path + ".lock");
  }
  Result<Topology> stored = read_topology_file(path);
  if (!stored) {
    return stored.error();
  }
  const uint64_t epoch = stored->epoch;
  Result<Topology> edited = edit(std::move(stored).value());
  if (!edited) {
    return edited.error();
  }
  edited->epoch = epoch + 1;
  if (Status written = write_topology_file(path, *edited); !written) {
    return written.error();
  }
  return edited;
}

StaticTopologyStore::StaticTopologyStore(StaticTopologyStoreOptions options)
    : options_(std::move(options)), detector_(options_.self, options_.failure_timeout) {
  QUORUM_ASSERT(options_.poll_interval.count() > 0);
}

StaticTopologyStore::~StaticTopologyStore() { stop(); }

Status StaticTopologyStore::start() {
  std::unique_lock lock(mutex_);
  QUORUM_ASSERT(!thread_.joinable());
  Result<std::string> content = read_bounded(options_.path);
  if (!content) {
    return content.error();
  }
  Result<Topology> parsed = parse_topology(*content);
  if (!parsed) {
    return make_error(parsed.error().code, options_.path + ": " + parsed.error().message);
  }
  // The checks above give start() its error; the store then loads the file as the poller does.
  reload_locked(true);
  if (!recompute_locked()) {
    return make_error(ErrorCode::kInvalidArgument, "topology file " + options_.path + " changed while read");
  }
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return {};
}

void StaticTopologyStore::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  applied_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::shared_ptr<const Placement> StaticTopologyStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void StaticTopologyStore::on_change(std::function<void(std::shared_ptr<const Placement>)> callback) {
  std::lock_guard lock(mutex_);
  callback_ = std::move(callback);
}

void StaticTopologyStore::heard_from(std::string_view node, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  detector_.heard(node, now);
}

bool StaticTopologyStore::alive(std::string_view node) const {
  std::lock_guard lock(mutex_);
  return detector_.alive(node);
}

uint64_t StaticTopologyStore::rejected_files() const {
  std::lock_guard lock(mutex_);
  return rejected_files_;
}

bool StaticTopologyStore::reload_locked(bool force) {
  struct stat info {};
  if (::stat(options_.path.c_str(), &info) != 0) {
    if (stamp_ != FileStamp{}) {
      spdlog::warn("topology: cannot stat {}: {}; keeping epoch {}", options_.path, std::strerror(errno), epoch_);
      stamp_ = FileStamp{};
    }
    return false;
  }
  const FileStamp stamp{static_cast<uint64_t>(info.st_ino), static_cast<uint64_t>(info.st_size),
                        static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  if (stamp == stamp_ && !force) {
    return false;
  }
  Result<std::string> content = read_bounded(options_.path);
  if (!content) {
    spdlog::warn("topology: {}", content.error().message);
    return false;
  }
  stamp_ = stamp;
  if (*content == content_ && current_) {
    return false;
  }
  content_ = std::move(content).value();
  Result<Topology> parsed = parse_topology(content_);
  if (!parsed) {
    ++rejected_files_;
    spdlog::error("topology: ignoring {}: {}; keeping epoch {}", options_.path, parsed.error().message, epoch_);
    return false;
  }
  document_ = std::move(parsed).value();
  detector_.set_nodes(node_names(document_), Clock::now());
  return true;
}

std::shared_ptr<const Placement> StaticTopologyStore::recompute_locked() {
  Topology candidate = effective_topology(
      document_, [this](std::string_view name) { return detector_.alive(name); }, 0);
  if (current_ && same_except_epoch(candidate, current_->topology()) && document_.epoch <= epoch_) {
    return nullptr;
  }
  const uint64_t epoch = current_ ? std::max(epoch_ + 1, document_.epoch) : document_.epoch;
  candidate.epoch = epoch;
  Result<Placement> placement = Placement::create(std::move(candidate));
  if (!placement) {
    spdlog::error("topology: cannot place {}: {}", options_.path, placement.error().message);
    return nullptr;
  }
  epoch_ = epoch;
  current_ = std::make_shared<const Placement>(std::move(placement).value());
  return current_;
}

void StaticTopologyStore::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || reload_requests_ > reloads_done_; });
    if (stopping_) {
      break;
    }
    const uint64_t requests = reload_requests_;
    reload_locked(requests > reloads_done_);
    for (const std::string& name : detector_.tick(Clock::now())) {
      spdlog::info("topology: node {} is {}", name, detector_.alive(name) ? "alive again" : "silent, now dead");
    }
    std::shared_ptr<const Placement> changed = recompute_locked();
    if (changed && callback_) {
      auto callback = callback_;
      lock.unlock();
      callback(changed);
      lock.lock();
    }
    reloads_done_ = requests;
    applied_.notify_all();
  }
}

Status StaticTopologyStore::mutate(const TopologyEdit& edit) {
  Result<Topology> edited = edit_topology_file(options_.path, edit);
  if (!edited) {
    return edited.error();
  }
  std::unique_lock lock(mutex_);
  if (!thread_.joinable()) {
    return {};
  }
  const uint64_t target = ++reload_requests_;
  wake_.notify_all();
  applied_.wait_for(lock, std::chrono::seconds(10), [&] { return stopping_ || reloads_done_ >= target; });
  return {};
}

Status StaticTopologyStore::add_node(std::string_view data_center, Node node) {
  const std::string dc(data_center);
  return mutate([&](Topology t) { return with_node_added(std::move(t), dc, node); });
}

Status StaticTopologyStore::remove_node(std::string_view node_name) {
  return mutate([&](Topology t) { return with_node_removed(std::move(t), node_name); });
}

Status StaticTopologyStore::drain(std::string_view node_name) {
  return mutate([&](Topology t) { return with_node_live(std::move(t), node_name, false); });
}

Status StaticTopologyStore::undrain(std::string_view node_name) {
  return mutate([&](Topology t) { return with_node_live(std::move(t), node_name, true); });
}

}  // namespace quorum::cluster
