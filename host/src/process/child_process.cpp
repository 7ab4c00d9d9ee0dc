// ChildProcess and helpers (see include/quorum/process/child_process.hpp).
#include <quorum/process/child_process.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

extern char** environ;

namespace quorum::process {
namespace {

using namespace std::chrono_literals;

std::string errno_text(int error) { return std::strerror(error); }

bool is_executable_file(const std::filesystem::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// What the child reports through the close-on-exec pipe when it cannot exec.
struct ChildFailure {
  int stage;  // 1 chdir, 2 exec
  int error;  // errno
};

void write_failure(int fd, int stage, int error) noexcept {
  ChildFailure failure{stage, error};
  ssize_t ignored = ::write(fd, &failure, sizeof failure);
  (void)ignored;
}

// Closes every descriptor >= 3 except `keep` (async-signal-safe).
void close_other_fds(int keep) noexcept {
#ifdef SYS_close_range
  bool done = true;
  if (keep > 3 && ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u) != 0) done = false;
  if (done && ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u) != 0) done = false;
  if (done) return;
#endif
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > (1 << 20)) max_fd = 1 << 20;
  for (int fd = 3; fd < max_fd; ++fd) {
    if (fd != keep) ::close(fd);
  }
}

Result<int> open_output(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(ErrorCode::kIo, "cannot open " + file.string() + ": " + errno_text(errno));
  return fd;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Reads at most `limit` bytes from the start of `file` ("" if unreadable).
std::string read_head(const std::filesystem::path& file, size_t limit) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  std::string data(limit, '\0');
  in.read(data.data(), static_cast<std::streamsize>(limit));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

std::optional<std::string> find_line(const std::string& data, std::string_view prefix) {
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\n', start);
    if (end == std::string::npos) return std::nullopt;  // an incomplete last line does not count yet
    std::string_view line(data.data() + start, end - start);
    if (line.substr(0, prefix.size()) == prefix) return std::string(line);
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace

Result<std::filesystem::path> find_program(std::string_view program) {
  if (program.empty()) return make_error(ErrorCode::kInvalidArgument, "no program given");
  if (program.find('/') != std::string_view::npos) {
    std::filesystem::path path(program);
    if (is_executable_file(path)) return path;
    return make_error(ErrorCode::kNotFound, std::string(program) + " is not an executable file");
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : std::string(dir)) / program;
    if (is_executable_file(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return make_error(ErrorCode::kNotFound, std::string(program) + " was not found in PATH");
}

Result<ChildProcess> ChildProcess::spawn(SpawnOptions options) {
  auto path = find_program(options.program);
  if (!path) return path.error();

  // Everything the child needs is prepared here: after fork only
  // async-signal-safe calls run.
  std::vector<std::string> arg_strings;
  arg_strings.push_back(options.program);
  arg_strings.insert(arg_strings.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (auto& arg : arg_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    std::string_view key = text.substr(0, text.find('='));
    bool replaced = false;
    for (const auto& [name, value] : options.env) replaced = replaced || name == key;
    if (!replaced) env_strings.emplace_back(text);
  }
  for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out_fd = -1;
  int err_fd = -1;
  int null_fd = -1;
  int pipe_fds[2] = {-1, -1};
  auto cleanup = [&] {
    close_fd(out_fd);
    close_fd(err_fd);
    close_fd(null_fd);
    close_fd(pipe_fds[0]);
    close_fd(pipe_fds[1]);
  };
  if (!options.stdout_file.empty()) {
    auto fd = open_output(options.stdout_file);
    if (!fd) return fd.error();
    out_fd = *fd;
  }
  if (!options.stderr_file.empty()) {
    if (options.stderr_file == options.stdout_file) {
      err_fd = ::fcntl(out_fd, F_DUPFD_CLOEXEC, 0);
    } else {
      auto fd = open_output(options.stderr_file);
      if (!fd) {
        cleanup();
        return fd.error();
      }
      err_fd = *fd;
    }
  }
  if (options.new_session) null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int error = errno;
    cleanup();
    return make_error(ErrorCode::kIo, "pipe: " + errno_text(error));
  }
  const char* exec_path = path->c_str();
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();

  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    cleanup();
    return make_error(ErrorCode::kResourceExhausted, "fork: " + errno_text(error));
  }
  if (pid == 0) {
    // The child.
    if (options.new_session) ::setsid();
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (out_fd >= 0) ::dup2(out_fd, 1);
    if (err_fd >= 0) ::dup2(err_fd, 2);
    close_other_fds(pipe_fds[1]);
    if (cwd != nullptr && ::chdir(cwd) != 0) {
      write_failure(pipe_fds[1], 1, errno);
      ::_exit(127);
    }
    ::execve(exec_path, argv.data(), envp.data());
    write_failure(pipe_fds[1], 2, errno);
    ::_exit(127);
  }

  // The parent: an exec failure arrives on the pipe; EOF means exec succeeded.
  close_fd(pipe_fds[1]);
  ChildFailure failure{};
  ssize_t got = 0;
  do {
    got = ::read(pipe_fds[0], &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  cleanup();
  ChildProcess child(pid);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    child.reap(true);
    if (failure.stage == 1) {
      return make_error(ErrorCode::kIo, "cannot change to " + options.cwd.string() + ": " + errno_text(failure.error));
    }
    return make_error(ErrorCode::kLoadFailed, "cannot run " + path->string() + ": " + errno_text(failure.error));
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_status_(std::exchange(other.exit_status_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !exit_status_) (void)terminate(5s);
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = std::exchange(other.exit_status_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_status_) (void)terminate(5s);
}

bool ChildProcess::reap(bool block) {
  if (pid_ <= 0) return true;
  if (exit_status_) return true;
  int status = 0;
  pid_t got = 0;
  do {
    got = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return false;
  if (got < 0) {
    exit_status_ = -1;  // not our child any more (someone else reaped it): status unknown
    return true;
  }
  if (WIFEXITED(status)) {
    exit_status_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_status_ = 128 + WTERMSIG(status);
  } else {
    return false;  // stopped or continued: still there
  }
  return true;
}

bool ChildProcess::running() {
  if (pid_ <= 0 || exit_status_) return false;
  return !reap(false);
}

bool ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

Status ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (!running()) return {};
  ::kill(pid_, SIGTERM);
  if (wait_for_exit(grace)) return {};
  ::kill(pid_, SIGKILL);
  reap(true);
  if (!exit_status_) return make_error(ErrorCode::kIo, "process " + std::to_string(pid_) + " did not exit");
  return {};
}

void ChildProcess::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

pid_t ChildProcess::release() noexcept {
  exit_status_.reset();
  return std::exchange(pid_, -1);
}

Result<uint16_t> free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCode::kIo, "socket: " + errno_text(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    int error = errno;
    ::close(fd);
    return make_error(ErrorCode::kIo, "cannot bind 127.0.0.1:0: " + errno_text(error));
  }
  ::close(fd);
  return static_cast<uint16_t>(ntohs(address.sin_port));
}

namespace {

bool loopback_port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// The low end of the kernel's ephemeral port range (32768 if unreadable).
unsigned ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  if (in >> low && low > 1024 && low <= 65535) return low;
  return 32768;
}

}  // namespace

Result<std::vector<uint16_t>> free_loopback_ports(size_t count) {
  constexpr size_t kMaxCount = 4096;
  constexpr unsigned kFirst = 10000;
  if (count > kMaxCount) {
    return make_error(ErrorCode::kInvalidArgument, "at most " + std::to_string(kMaxCount) + " ports at a time");
  }
  unsigned end = ephemeral_low();  // exclusive
  unsigned first = kFirst;
  if (end <= first + count) first = 1025;
  if (end <= first + count) {
    return make_error(ErrorCode::kResourceExhausted,
                      "no room for " + std::to_string(count) + " ports below the ephemeral range");
  }
  unsigned span = end - first;
  std::random_device random;
  unsigned start = first + static_cast<unsigned>(random() % span);
  std::vector<uint16_t> ports;
  for (unsigned i = 0; i < span && ports.size() < count; ++i) {
    auto port = static_cast<uint16_t>(first + (start - first + i) % span);
    if (loopback_port_free(port)) ports.push_back(port);
  }
  if (ports.size() < count) {
    return make_error(ErrorCode::kResourceExhausted,
                      "only " + std::to_string(ports.size()) + " free loopback ports below " + std::to_string(end));
  }
  return ports;
}

Result<std::string> wait_for_line(const std::filesystem::path& file, std::string_view prefix,
                                  std::chrono::milliseconds timeout, ChildProcess* watch) {
  constexpr size_t kLimit = size_t{1} << 20;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool exited = watch != nullptr && !watch->running();
    // Read after checking the process: a line written just before it exited still counts.
    if (auto line = find_line(read_head(file, kLimit), prefix)) return *line;
    if (exited) {
      auto status = watch->exit_status();
      return make_error(ErrorCode::kUnavailable,
                        "the process exited (status " + (status ? std::to_string(*status) : std::string("unknown")) +
                            ") before " + file.string() + " had a line starting with '" + std::string(prefix) + "'");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCode::kUnavailable, "timed out after " + std::to_string(timeout.count()) +
                                                     " ms waiting for a line starting with '" + std::string(prefix) +
                                                     "' in " + file.string());
    }
    std::this_thread::sleep_for(20ms);
  }
}

bool pid_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(stat_file, stat)) return true;  // no /proc: kill said it exists
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

std::string tail_lines(const std::filesystem::path& file, size_t max_lines) {
  constexpr std::streamoff kWindow = 64 * 1024;
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return {};
  std::streamoff size = in.tellg();
  std::streamoff start = size > kWindow ? size - kWindow : 0;
  in.seekg(start);
  std::string data(static_cast<size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  while (!data.empty() && data.back() == '\n') data.pop_back();
  size_t begin = data.size();
  for (size_t lines = 0; lines < max_lines && begin > 0; ++lines) {
    size_t newline = data.rfind('\n', begin - 1);
    begin = newline == std::string::npos ? 0 : newline;
  }
  if (begin < data.size() && data[begin] == '\n') ++begin;
  return data.substr(begin);
}

}  // namespace quorum::process
