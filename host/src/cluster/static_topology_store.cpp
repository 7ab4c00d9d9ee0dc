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

// Reads at most `limit` bytes.
Result<std::string> read_bounded(const std::string& path, size_t limit = kMaxTopologyFileBytes) {
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
    if (content.size() + static_cast<size_t>(n) > limit) {
      ::close(fd);
      return make_error(ErrorCode::kInvalidArgument,
                        "topology file " + path + " is larger than " + std::to_string(limit) + " bytes");
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
      // Read-only: closing it then wakes no inotify watcher (IN_CLOSE_WRITE); flock needs no write access.
      : fd_(::open((path + ".lock").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644)) {
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

namespace {

// Replaces `path` by `text`: temp file, fsync, rename, directory fsync.
Status write_file_atomically(const std::string& path, const std::string& text) {
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

// The record at `state_path`, read with the lock held: nullopt if absent.
Result<std::optional<StoredTopologyState>> read_state_locked(const std::string& state_path) {
  struct stat info {};
  if (::stat(state_path.c_str(), &info) != 0) {
    if (errno == ENOENT) {
      return std::optional<StoredTopologyState>();
    }
    return io_error("cannot stat topology state", state_path);
  }
  Result<std::string> content = read_bounded(state_path, kMaxTopologyStateBytes);
  if (!content) {
    return content.error();
  }
  Result<StoredTopologyState> parsed = parse_stored_topology_state(*content);
  if (!parsed) {
    return make_error(parsed.error().code, state_path + ": " + parsed.error().message +
                                               " (left as it is; fix or remove it: the nodes rebuild it)");
  }
  return std::optional<StoredTopologyState>(std::move(parsed).value());
}

}  // namespace

std::string topology_state_path(const std::string& topology_path) { return topology_path + ".state"; }

Status write_topology_file(const std::string& path, const Topology& topology) {
  if (Status valid = validate(topology); !valid) {
    return valid;
  }
  return write_file_atomically(path, to_json(topology));
}

Result<std::optional<StoredTopologyState>> read_topology_state(const std::string& topology_path) {
  FileLock lock(topology_path);
  if (!lock.ok()) {
    return io_error("cannot lock", topology_path + ".lock");
  }
  return read_state_locked(topology_state_path(topology_path));
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
    : options_(std::move(options)),
      state_path_(topology_state_path(options_.path)),
      detector_(options_.self, options_.failure_timeout) {
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
  files_changed_locked();  // the stamps before the read: a later edit is seen as a change
  Refused refused = Refused::kNone;
  Result<Synced> synced = sync_files(verdicts_, std::nullopt, nullptr, 0, &refused);
  if (!synced) {
    close_fds();
    return synced.error();
  }
  publish_locked(std::move(synced).value());
  if (!view_.current) {
    close_fds();
    return make_error(ErrorCode::kInvalidArgument, "topology file " + options_.path + ": cannot place its target");
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
  state_name_ = std::filesystem::path(state_path_).filename().string();
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("topology: inotify unavailable ({})", std::strerror(errno));
    return false;
  }
  constexpr uint32_t kMask =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
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
      if ((event.mask & IN_Q_OVERFLOW) != 0 || name == file_name_ || name == state_name_) {
        relevant = true;
      }
    }
  }
  return relevant;
}

std::shared_ptr<const Placement> StaticTopologyStore::current() const {
  std::lock_guard lock(mutex_);
  return view_.current;
}

TopologyView StaticTopologyStore::state() const {
  std::lock_guard lock(mutex_);
  return view_;
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

uint64_t StaticTopologyStore::rejected_states() const {
  std::lock_guard lock(mutex_);
  return rejected_states_;
}

bool StaticTopologyStore::files_changed_locked() {
  const auto stamp_of = [](const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      return FileStamp{};
    }
    return FileStamp{static_cast<uint64_t>(info.st_ino), static_cast<uint64_t>(info.st_size),
                     static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  };
  const FileStamp stamp = stamp_of(options_.path);
  const FileStamp state_stamp = stamp_of(state_path_);
  const bool changed = stamp != stamp_ || state_stamp != state_stamp_;
  stamp_ = stamp;
  state_stamp_ = state_stamp;
  return changed;
}

Result<StaticTopologyStore::Synced> StaticTopologyStore::sync_files(
    const std::map<std::string, bool, std::less<>>& verdicts, const std::optional<Report>& report,
    const TopologyEdit* edit, uint64_t min_epoch, Refused* refused) const {
  *refused = Refused::kNone;
  FileLock lock(options_.path);
  if (!lock.ok()) {
    return io_error("cannot lock", options_.path + ".lock");
  }
  Result<std::string> content = read_bounded(options_.path);
  if (!content) {
    return content.error();
  }
  Result<Topology> document = parse_topology(*content);
  if (!document) {
    *refused = Refused::kDocument;
    return make_error(document.error().code, options_.path + ": " + document.error().message);
  }
  Result<std::optional<StoredTopologyState>> stored = read_state_locked(state_path_);
  if (!stored) {
    *refused = stored.error().code == ErrorCode::kInvalidArgument ? Refused::kRecord : Refused::kNone;
    return stored.error();
  }
  std::optional<StoredTopologyState> record = std::move(stored).value();
  if (edit != nullptr) {  // an operator's edit of this store: the document, then its step, under one lock
    const uint64_t version = document->epoch;
    Result<Topology> edited = (*edit)(*document);
    if (!edited) {
      return edited.error();
    }
    edited->epoch = version + 1;
    if (Status written = write_topology_file(options_.path, *edited); !written) {
      return written.error();
    }
    document = std::move(edited);
  }
  bool changed = false;
  if (report) {
    if (!record) {
      return make_error(ErrorCode::kFailedPrecondition, state_path_ + " does not exist yet: nothing to report on");
    }
    if (node_named(record->document, report->node) == nullptr) {
      return make_error(ErrorCode::kInvalidArgument, "topology: " + report->node + " is not a node of epoch " +
                                                         std::to_string(record->epoch) + "; its report is refused");
    }
    if (record->joint() && record->epoch == report->epoch && record->reported.insert(report->node).second) {
      changed = true;
    }
  }
  const auto alive = [&](std::string_view name) {
    if (name == options_.self) {
      return true;  // a running node is alive: a restarted one clears its own "down"
    }
    if (const auto verdict = verdicts.find(name); verdict != verdicts.end()) {
      return verdict->second;
    }
    return !record || !record->down.contains(std::string(name));
  };
  // A few steps at most: finalize, then start the next transition.
  for (int step = 0; step < 4; ++step) {
    const bool first = !record;
    std::optional<StoredTopologyState> next =
        next_stored_topology_state(record, *document, alive, options_.joint_transitions);
    if (!next) {
      break;
    }
    if (first) {  // the record was removed: never go back in the sequence this node has seen
      next->epoch = std::max(next->epoch, min_epoch);
    }
    record = std::move(next);
    changed = true;
  }
  if (changed) {
    if (Status written = write_file_atomically(state_path_, to_json(*record)); !written) {
      return written.error();
    }
  }
  return Synced{std::move(document).value(), std::move(record).value()};
}

std::optional<TopologyView> StaticTopologyStore::publish_locked(Synced synced) {
  if (synced.document != document_) {
    document_ = std::move(synced.document);
    detector_.set_nodes(node_names(document_), Clock::now());
  }
  // Verdicts the record holds are done; so are those about nodes no longer live in the document.
  std::erase_if(verdicts_, [&](const auto& entry) {
    const Node* node = node_named(document_, entry.first);
    return node == nullptr || !node->live || synced.record.down.contains(entry.first) != entry.second;
  });
  const TopologyState state = synced.record.state();
  record_ = std::move(synced.record);
  Result<std::optional<TopologyView>> next = next_view(view_, state);
  if (!next) {
    spdlog::error("topology: {}: {}", options_.path, next.error().message);
    return std::nullopt;
  }
  if (!next->has_value()) {
    return std::nullopt;
  }
  view_ = **next;
  spdlog::info("topology: epoch {} {}", state.target.epoch,
               state.from ? "joint with " + std::to_string(state.from->epoch) : std::string("final"));
  return view_;
}

std::optional<TopologyView> StaticTopologyStore::sync_locked(std::unique_lock<std::mutex>& lock) {
  const auto verdicts = verdicts_;
  const uint64_t min_epoch = view_.current ? view_.current->topology().epoch + 1 : 0;
  lock.unlock();
  Refused refused = Refused::kNone;
  Result<Synced> synced = sync_files(verdicts, std::nullopt, nullptr, min_epoch, &refused);
  lock.lock();
  if (!synced) {
    if (synced.error().message != last_error_) {  // logged and counted once, not at every re-check
      last_error_ = synced.error().message;
      rejected_files_ += refused == Refused::kDocument ? 1 : 0;
      rejected_states_ += refused == Refused::kRecord ? 1 : 0;
      spdlog::error("topology: ignoring {}; keeping epoch {}", last_error_,
                    view_.current ? view_.current->topology().epoch : 0);
    }
    return std::nullopt;
  }
  last_error_.clear();
  return publish_locked(std::move(synced).value());
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
    const bool periodic = now >= next_check;
    if (periodic || file_event) {
      next_check = now + file_period();
    }
    const std::vector<std::string> flipped = detector_.tick(now);
    for (const std::string& name : flipped) {
      const bool alive = detector_.alive(name);
      spdlog::info("topology: node {} is {}", name, alive ? "alive again" : "silent, now dead");
      verdicts_[name] = alive;  // an edit of the shared record, unless it already says so
    }
    // A sync takes the file lock and reads both files: only when something may have changed, and to
    // retry verdicts a failed sync left behind.
    const bool changed_files = (periodic || file_event) && files_changed_locked();
    std::optional<TopologyView> changed;
    if (force || changed_files || !flipped.empty() || (periodic && !verdicts_.empty())) {
      changed = sync_locked(lock);
    }
    if (changed && callback_) {
      auto callback = callback_;
      lock.unlock();
      callback(changed->current);
      lock.lock();
    }
    reloads_done_ = requests;
    applied_.notify_all();
  }
}

void StaticTopologyStore::request_sync(std::unique_lock<std::mutex>& lock) {
  if (!thread_.joinable()) {
    return;
  }
  const uint64_t target = ++reload_requests_;
  wake();
  applied_.wait_for(lock, std::chrono::seconds(10), [&] { return stopping_ || reloads_done_ >= target; });
}

Status StaticTopologyStore::mutate(const TopologyEdit& edit) {
  uint64_t min_epoch = 0;
  {
    std::lock_guard lock(mutex_);
    min_epoch = view_.current ? view_.current->topology().epoch + 1 : 0;
  }
  // The edit and its step of the record under one lock: one epoch per edit, even when edits race.
  Refused refused = Refused::kNone;
  Result<Synced> synced = sync_files({}, std::nullopt, &edit, min_epoch, &refused);
  if (!synced) {
    return synced.error();
  }
  std::unique_lock lock(mutex_);
  request_sync(lock);
  return {};
}

Status StaticTopologyStore::report_caught_up(std::string_view node, uint64_t epoch) {
  Refused refused = Refused::kNone;
  // No verdicts: this call only adds a report (and finalizes); the store thread applies its own.
  Result<Synced> synced = sync_files({}, Report{std::string(node), epoch}, nullptr, 0, &refused);
  if (!synced) {
    return synced.error();
  }
  std::unique_lock lock(mutex_);
  request_sync(lock);
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
