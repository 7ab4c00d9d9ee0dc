// ChildProcess, wait_for_line, pid_alive, free_loopback_port, tail_lines.
#include <quorum/process/child_process.hpp>
#include <quorum/process/etcd_server.hpp>

#include "support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace quorum::process {
namespace {

using namespace std::chrono_literals;
using test_support::ScratchDir;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

SpawnOptions shell(std::string script) {
  SpawnOptions options;
  options.program = "sh";
  options.args = {"-c", std::move(script)};
  return options;
}

TEST(ChildProcess, ReportsTheExitStatus) {
  auto child = ChildProcess::spawn(shell("exit 7"));
  ASSERT_TRUE(child) << child.error().message;
  EXPECT_GT(child->pid(), 0);
  EXPECT_TRUE(child->wait_for_exit(30s));
  EXPECT_FALSE(child->running());
  EXPECT_EQ(child->exit_status(), 7);
}

TEST(ChildProcess, ExecFailureIsAnError) {
  SpawnOptions options;
  options.program = "quorum-no-such-program-xyz";
  auto missing = ChildProcess::spawn(options);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  ScratchDir dir("quorum-process");
  auto not_executable = dir.path() / "script.sh";
  std::ofstream(not_executable) << "#!/bin/sh\nexit 0\n";
  options.program = not_executable.string();
  EXPECT_FALSE(ChildProcess::spawn(options));
}

TEST(ChildProcess, BadWorkingDirectoryIsAnError) {
  auto options = shell("exit 0");
  options.cwd = "/nonexistent/quorum/dir";
  auto child = ChildProcess::spawn(options);
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().code, ErrorCode::kIo);
}

TEST(ChildProcess, WritesOutputFilesWithEnvironmentAndCwd) {
  ScratchDir dir("quorum-process");
  auto options = shell("echo \"out $QUORUM_TEST_VAR\"; echo err >&2; pwd");
  options.stdout_file = dir.path() / "out.log";
  options.stderr_file = dir.path() / "err.log";
  options.cwd = dir.path();
  options.env = {{"QUORUM_TEST_VAR", "forty-two"}};
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(child->wait_for_exit(30s));
  EXPECT_EQ(child->exit_status(), 0);
  EXPECT_EQ(read_file(dir.path() / "out.log"),
            "out forty-two\n" + std::filesystem::canonical(dir.path()).string() + "\n");
  EXPECT_EQ(read_file(dir.path() / "err.log"), "err\n");
}

TEST(ChildProcess, SameFileForStdoutAndStderrKeepsBoth) {
  ScratchDir dir("quorum-process");
  auto options = shell("echo one; echo two >&2; echo three");
  options.stdout_file = options.stderr_file = dir.path() / "all.log";
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(child->wait_for_exit(30s));
  EXPECT_EQ(read_file(dir.path() / "all.log"), "one\ntwo\nthree\n");
}

TEST(ChildProcess, ClosesOtherDescriptors) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 3);
  auto child = ChildProcess::spawn(shell("test -e /proc/$$/fd/" + std::to_string(fd) + " && exit 1; exit 0"));
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(child->wait_for_exit(30s));
  ::close(fd);
  EXPECT_EQ(child->exit_status(), 0) << "descriptor " << fd << " leaked into the child";
}

TEST(ChildProcess, TerminateStopsAChildWithSigterm) {
  SpawnOptions options;
  options.program = "sleep";
  options.args = {"60"};
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  EXPECT_TRUE(child->running());
  pid_t pid = child->pid();
  ASSERT_TRUE(child->terminate(30s));
  EXPECT_EQ(child->exit_status(), 128 + SIGTERM);
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_TRUE(child->terminate(1s)) << "terminating twice is fine";
}

TEST(ChildProcess, TerminateKillsAChildThatIgnoresSigterm) {
  ScratchDir dir("quorum-process");
  auto options = shell("trap '' TERM; echo ready; while true; do sleep 0.05; done");
  options.stdout_file = dir.path() / "out.log";
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(wait_for_line(dir.path() / "out.log", "ready", 30s, &*child));
  auto start = Clock::now();
  ASSERT_TRUE(child->terminate(300ms));
  EXPECT_GE(Clock::now() - start, 300ms) << "it should have waited for the grace period";
  EXPECT_EQ(child->exit_status(), 128 + SIGKILL);
}

TEST(ChildProcess, KillReaps) {
  SpawnOptions options;
  options.program = "sleep";
  options.args = {"60"};
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  child->kill();
  EXPECT_EQ(child->exit_status(), 128 + SIGKILL);
  EXPECT_FALSE(child->running());
}

TEST(ChildProcess, DestructorTerminatesAnOwnedChild) {
  pid_t pid = -1;
  {
    SpawnOptions options;
    options.program = "sleep";
    options.args = {"60"};
    auto child = ChildProcess::spawn(options);
    ASSERT_TRUE(child) << child.error().message;
    pid = child->pid();
    ChildProcess moved = std::move(*child);  // the moved-from object owns nothing
    EXPECT_EQ(child->pid(), -1);
    EXPECT_TRUE(pid_alive(pid));
  }
  EXPECT_FALSE(pid_alive(pid));
}

TEST(ChildProcess, ReleaseLeavesTheChildRunning) {
  pid_t pid = -1;
  {
    SpawnOptions options;
    options.program = "sleep";
    options.args = {"60"};
    options.new_session = true;
    auto child = ChildProcess::spawn(options);
    ASSERT_TRUE(child) << child.error().message;
    pid = child->release();
    EXPECT_EQ(child->pid(), -1);
  }
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(pid_alive(pid));
  EXPECT_EQ(::getsid(pid), pid) << "new_session: the child leads its own session";
  ::kill(pid, SIGKILL);
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(pid_alive(pid));
}

TEST(PidAlive, SeesZombiesAsDead) {
  EXPECT_TRUE(pid_alive(::getpid()));
  EXPECT_FALSE(pid_alive(0));
  EXPECT_FALSE(pid_alive(-1));
  auto child = ChildProcess::spawn(shell("exit 0"));
  ASSERT_TRUE(child) << child.error().message;
  // Not reaped: the child becomes a zombie, which kill(pid, 0) still reports as existing.
  auto deadline = Clock::now() + 30s;
  while (pid_alive(child->pid()) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(pid_alive(child->pid()));
  EXPECT_EQ(::kill(child->pid(), 0), 0) << "the zombie is still there until reaped";
  EXPECT_TRUE(child->wait_for_exit(1s));
}

TEST(WaitForLine, ReturnsTheWholeLine) {
  ScratchDir dir("quorum-process");
  auto options = shell("echo starting; sleep 0.2; echo 'quorumd n1 serving on http://127.0.0.1:1234'; exec sleep 60");
  options.stdout_file = dir.path() / "out.log";
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  auto line = wait_for_line(dir.path() / "out.log", "quorumd n1 serving on ", 30s, &*child);
  ASSERT_TRUE(line) << line.error().message;
  EXPECT_EQ(*line, "quorumd n1 serving on http://127.0.0.1:1234");
}

TEST(WaitForLine, TimesOut) {
  ScratchDir dir("quorum-process");
  std::ofstream(dir.path() / "partial.log") << "other\nready without a newline";
  auto start = Clock::now();
  auto line = wait_for_line(dir.path() / "partial.log", "ready", 300ms);
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error().code, ErrorCode::kUnavailable);
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_FALSE(wait_for_line(dir.path() / "missing.log", "ready", 100ms));
}

TEST(WaitForLine, FailsEarlyWhenTheWatchedProcessExits) {
  ScratchDir dir("quorum-process");
  auto options = shell("echo 'fatal: bad flag'; exit 3");
  options.stdout_file = dir.path() / "out.log";
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  auto start = Clock::now();
  auto line = wait_for_line(dir.path() / "out.log", "ready", 60s, &*child);
  ASSERT_FALSE(line);
  EXPECT_LT(Clock::now() - start, 30s);
  EXPECT_NE(line.error().message.find("status 3"), std::string::npos) << line.error().message;
}

TEST(WaitForLine, AcceptsALineWrittenJustBeforeExit) {
  ScratchDir dir("quorum-process");
  auto options = shell("echo ready now");
  options.stdout_file = dir.path() / "out.log";
  auto child = ChildProcess::spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(child->wait_for_exit(30s));
  auto line = wait_for_line(dir.path() / "out.log", "ready", 30s, &*child);
  ASSERT_TRUE(line) << line.error().message;
  EXPECT_EQ(*line, "ready now");
}

TEST(FreeLoopbackPort, CanBeBound) {
  auto port = free_loopback_port();
  ASSERT_TRUE(port) << port.error().message;
  EXPECT_GT(*port, 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(*port);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
}

TEST(FreeLoopbackPorts, AreDistinctFreeAndBelowTheEphemeralRange) {
  auto ports = free_loopback_ports(40);
  ASSERT_TRUE(ports) << ports.error().message;
  ASSERT_EQ(ports->size(), 40u);
  std::set<uint16_t> distinct(ports->begin(), ports->end());
  EXPECT_EQ(distinct.size(), 40u);
  unsigned low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  for (uint16_t port : *ports) {
    EXPECT_LT(port, low);
    EXPECT_GT(port, 1024);
  }
  EXPECT_FALSE(free_loopback_ports(5000));
}

TEST(TailLines, ReturnsTheLastLines) {
  ScratchDir dir("quorum-process");
  std::ofstream(dir.path() / "log") << "one\ntwo\nthree\nfour\n";
  EXPECT_EQ(tail_lines(dir.path() / "log", 2), "three\nfour");
  EXPECT_EQ(tail_lines(dir.path() / "log", 10), "one\ntwo\nthree\nfour");
  EXPECT_EQ(tail_lines(dir.path() / "missing", 2), "");
}

TEST(EtcdServer, MissingEtcdIsAFailedPrecondition) {
  ScratchDir dir("quorum-process");
  EtcdOptions options;
  options.dir = dir.path() / "etcd";
  options.program = "quorum-no-such-etcd";
  auto server = EtcdServer::start(options);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(server.error().message.find("scripts/deps"), std::string::npos);
}

}  // namespace
}  // namespace quorum::process
