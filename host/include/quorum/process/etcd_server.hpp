// EtcdServer: a real single-member etcd on loopback, for the tests and for
// `quorumctl cluster up --etcd` (DESIGN.md §6: membership and leases live in
// etcd).
//
// Contract: start() picks two free loopback ports (client and peer), runs
// `etcd` with its data in dir/data and its output in dir/etcd.log, and waits
// until GET /health answers {"health":"true"} (retrying with new ports up to 3
// times if etcd exits early, e.g. when another process took a port). If etcd
// is not installed: kFailedPrecondition "etcd is not installed; run
// scripts/deps". stop() terminates it (SIGTERM, 10 s, SIGKILL); the destructor
// does the same through ChildProcess unless process().release() was called.
// Threads: one thread at a time.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/process/child_process.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace quorum::process {

struct EtcdOptions {
  std::filesystem::path dir;  // created if missing
  std::string name = "quorum-etcd";
  std::string program = "etcd";  // path, or a name looked up in PATH
  std::chrono::milliseconds start_timeout{20000};
  bool new_session = false;  // setsid (for an etcd that outlives its starter)
};

class EtcdServer {  // move-only
 public:
  static Result<EtcdServer> start(EtcdOptions options);

  const std::string& client_url() const noexcept { return client_url_; }  // http://127.0.0.1:PORT
  ChildProcess& process() noexcept { return process_; }
  Status stop();

 private:
  EtcdServer(ChildProcess process, std::string client_url)
      : process_(std::move(process)), client_url_(std::move(client_url)) {}
  ChildProcess process_;
  std::string client_url_;
};

// GET url/health and check {"health":"true"}; ok when healthy.
Status etcd_healthy(const std::string& client_url, std::chrono::milliseconds timeout);

}  // namespace quorum::process
