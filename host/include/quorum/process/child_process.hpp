// quorum_process: child processes on this machine, for `quorumctl cluster
// up|status|down` and for tests that run real quorumd and etcd processes.
//
// Why: a cluster of 32 nodes on one machine, and tests against a real etcd,
// need processes started with their output in files, a readiness line to wait
// for, and a reliable way to stop them (SIGTERM, then SIGKILL) that never
// leaves a child behind when a test fails.
//
// Contract:
// - ChildProcess::spawn forks and execs `program` (a path, or a name looked up
//   in PATH by the parent before the fork). In the child every descriptor but
//   0, 1 and 2 is closed; stdout/stderr go to the given files (created, or
//   appended to) or are inherited. An exec failure (no such program, not
//   executable) comes back from spawn as an Error, not as a child that exits
//   127.
// - A ChildProcess owns its child until release(): the destructor of an owned,
//   still running child terminates it (SIGTERM, 5 s grace, SIGKILL) and reaps
//   it. After release() the object forgets the pid; the child keeps running
//   (with new_session it is in its own session and survives the parent).
// - exit_status(): the exit code for a normal exit, 128 + signal number for a
//   child killed by a signal (the shell's convention); nullopt until reaped.
// - Bounds: wait_for_line reads at most the first 1 MiB of the file; argv and
//   environment are the caller's.
// Threads: a ChildProcess is used by one thread at a time. spawn is safe to
// call from several threads (only async-signal-safe calls run after fork),
// but a multi-threaded parent should know that fork copies only the calling
// thread.
#pragma once

#include <quorum/host/result.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::process {

struct SpawnOptions {
  std::string program;                                   // path, or a name looked up in PATH
  std::vector<std::string> args;                         // argv[1..]; argv[0] is `program`
  std::filesystem::path stdout_file, stderr_file;        // empty: inherit; else created or appended to
  std::filesystem::path cwd;                             // empty: inherit
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) the environment
  bool new_session = false;  // setsid() in the child: no controlling terminal, survives the parent's
                             // session (daemons of `quorumctl cluster up`); stdin becomes /dev/null
};

// Resolves `program` like execvp: a name with a '/' is used as is (must be an
// executable file), otherwise the first executable PATH entry. kNotFound if none.
Result<std::filesystem::path> find_program(std::string_view program);

class ChildProcess {  // move-only
 public:
  static Result<ChildProcess> spawn(SpawnOptions options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // terminate(5 s) if still owned and running

  pid_t pid() const noexcept { return pid_; }                      // -1 after release() or when moved from
  bool running();                                                  // waitpid(WNOHANG); reaps a child that has exited
  std::optional<int> exit_status() const { return exit_status_; }  // once reaped
  // Blocks until the child exits or `timeout` passes (polling); true if it exited (and was reaped).
  bool wait_for_exit(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL; reaps. Ok when the child is gone
  // (also when it had already exited or was released).
  Status terminate(std::chrono::milliseconds grace);
  void kill();               // SIGKILL and reap
  pid_t release() noexcept;  // leave it running; returns its pid (-1 if none)

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  bool reap(bool block);  // true once the child is reaped
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// A port that was free on 127.0.0.1 a moment ago (bind to port 0, read, close).
// Another process may take it before the caller binds it: callers that start a
// server on it retry on failure.
Result<uint16_t> free_loopback_port();

// `count` distinct ports (at most 4096) free on 127.0.0.1 a moment ago, chosen
// BELOW the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
// 32768.. by default), starting at a random point of [10000, low end): a later
// bind to port 0 or an outgoing connection cannot take them before their
// servers bind them. For fixed addresses written into a topology before its
// nodes start. kResourceExhausted if not enough are free.
Result<std::vector<uint16_t>> free_loopback_ports(size_t count);

// Waits until `file` has a complete line (ended by '\n') starting with
// `prefix`; returns that line without the newline. Polls every 20 ms.
// kUnavailable on timeout, or as soon as `watch` (if given) has exited.
// Reads at most the first 1 MiB of the file.
Result<std::string> wait_for_line(const std::filesystem::path& file, std::string_view prefix,
                                  std::chrono::milliseconds timeout, ChildProcess* watch = nullptr);

// True if a process with this pid exists and is not a zombie (kill(pid, 0) and
// /proc/PID/stat). A pid may be reused by an unrelated process later.
bool pid_alive(pid_t pid);

// The last `max_lines` lines of a text file (at most its last 64 KiB), for
// error messages ("quorumd failed: <log tail>"). Empty if unreadable.
std::string tail_lines(const std::filesystem::path& file, size_t max_lines);

}  // namespace quorum::process
