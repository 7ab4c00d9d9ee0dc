#include <quorum/cluster/static_topology_store.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
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
  QUORUM_ASSERT(wake_fd_ < 0 && inotify_fd_ < 0);
  // Watch first, read second: an edit in between is not missed.
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    return make_error(ErrorCode::kIo, std::string("topology store: cannot create an eventfd: ") + std::strerror(errno));
  }
  const bool watched = watch_file();
  Status loaded = [&]() -> Status {
    Result<std::string> content = read_bounded(options_.path);
    if (!content) {
      return content.error();
    }
    Result<Topology> parsed = parse_topology(*content);
    if (!parsed) {
      return make_error(parsed.error().code, options_.path + ": " + parsed.error().message);
    }
    // The checks above give start() its error; the store then loads the file as the watcher does.
    reload_locked(true);
    if (!recompute_locked()) {
      return make_error(ErrorCode::kInvalidArgument, "topology file " + options_.path + " changed while read");
    }
    return {};
  }();
  if (!loaded) {
    close_fds();
    return loaded;
  }
  if (!watched) {
    spdlog::info("topology: polling {} every {} ms", options_.path, options_.poll_interval.count());
  }
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return {};
}

void StaticTopologyStore::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake();
  }
  applied_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  std::lock_guard lock(mutex_);
  close_fds();
}

void StaticTopologyStore::close_fds() {
  if (inotify_fd_ >= 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void StaticTopologyStore::wake() {
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof one) < 0) {
      // EAGAIN: the counter is already non-zero, the thread wakes anyway.
    }
  }
}

bool StaticTopologyStore::watch_file() {
  if (!options_.use_inotify) {
    return false;
  }
  struct stat link {};
  if (::lstat(options_.path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    return false;  // edits would happen in the target's directory
  }
  const std::filesystem::path path(options_.path);
  const std::string dir = path.has_parent_path() ? path.parent_path().string() : std::string(".");
  file_name_ = path.filename().string();
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("topology: inotify unavailable ({})", std::strerror(errno));
    return false;
  }
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF |
                             IN_MOVE_SELF | IN_ONLYDIR;
  if (::inotify_add_watch(fd, dir.c_str(), kMask) < 0) {
    spdlog::warn("topology: cannot watch {} with inotify ({})", dir, std::strerror(errno));
    ::close(fd);
    return false;
  }
  inotify_fd_ = fd;
  return true;
}

bool StaticTopologyStore::drain_file_events() {
  // Only the store thread touches inotify_fd_ while it runs.
  alignas(inotify_event) char buffer[4096];
  bool relevant = false;
  while (inotify_fd_ >= 0) {
    const ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // EAGAIN: all read
    }
    for (size_t offset = 0; offset + sizeof(inotify_event) <= static_cast<size_t>(n);) {
      inotify_event event{};
      std::memcpy(&event, buffer + offset, sizeof event);
      std::string_view name(buffer + offset + sizeof event,
                            std::min<size_t>(event.len, static_cast<size_t>(n) - offset - sizeof event));
      name = name.substr(0, name.find('\0'));
      offset += sizeof event + event.len;
      if ((event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) != 0) {
        spdlog::warn("topology: the directory of {} went away; polling it every {} ms", options_.path,
                     options_.poll_interval.count());
        ::close(inotify_fd_);
        inotify_fd_ = -1;
        return true;
      }
      if ((event.mask & IN_Q_OVERFLOW) != 0 || name == file_name_) {
        relevant = true;
      }
    }
  }
  return relevant;
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
  if (detector_.heard(node, now)) {
    wake();  // a dead node spoke: alive again at once, not at the next timeout
  }
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
  const auto file_period = [this] { return inotify_fd_ >= 0 ? kStaticRecheckInterval : options_.poll_interval; };
  Clock::time_point next_check = Clock::now() + file_period();
  while (!stopping_) {
    // Sleep until the next file check or failure-detector timeout, or a wake-up.
    Clock::time_point until = next_check;
    if (const auto expiry = detector_.next_tick(); expiry && *expiry < until) {
      until = *expiry;
    }
    lock.unlock();
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    const int timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 3'600'000));
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, inotify_fd_ >= 0 ? 2 : 1, timeout_ms);
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t count = 0;
      if (::read(wake_fd_, &count, sizeof count) < 0) {
        // EAGAIN: another read took it.
      }
    }
    const bool file_event = ready > 0 && inotify_fd_ >= 0 && fds[1].revents != 0 && drain_file_events();
    lock.lock();
    if (stopping_) {
      break;
    }
    const Clock::time_point now = Clock::now();
    const uint64_t requests = reload_requests_;
    const bool force = requests > reloads_done_;
    bool reloaded = false;
    if (force || file_event || now >= next_check) {
      reloaded = reload_locked(force);
      next_check = now + file_period();
    }
    const std::vector<std::string> flipped = detector_.tick(now);
    for (const std::string& name : flipped) {
      spdlog::info("topology: node {} is {}", name, detector_.alive(name) ? "alive again" : "silent, now dead");
    }
    std::shared_ptr<const Placement> changed = reloaded || !flipped.empty() ? recompute_locked() : nullptr;
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
  wake();
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
