// EtcdServer (see include/quorum/process/etcd_server.hpp).
#include <quorum/process/etcd_server.hpp>

#include <quorum/client/http_client.hpp>

#include <nlohmann/json.hpp>

#include <system_error>
#include <thread>

namespace quorum::process {
namespace {

using namespace std::chrono_literals;

constexpr int kStartAttempts = 3;

}  // namespace

Status etcd_healthy(const std::string& client_url, std::chrono::milliseconds timeout) {
  client::HttpClient::Options options;
  options.timeout = timeout;
  options.body_limit_bytes = 64 * 1024;
  auto http = client::HttpClient::create(client_url, options);
  if (!http) return http.error();
  auto response = (*http)->get("/health");
  if (!response) return response.error();
  if (!response->ok()) {
    return make_error(ErrorCode::kUnavailable, "etcd /health: HTTP " + std::to_string(response->status));
  }
  auto body = nlohmann::json::parse(response->body, nullptr, false);
  if (body.is_object() && body.value("health", "") == "true") return {};
  return make_error(ErrorCode::kUnavailable, "etcd /health: " + response->body);
}

Result<EtcdServer> EtcdServer::start(EtcdOptions options) {
  if (!find_program(options.program)) {
    return make_error(ErrorCode::kFailedPrecondition, options.program == "etcd"
                                                          ? std::string("etcd is not installed; run scripts/deps")
                                                          : options.program + " is not installed; run scripts/deps");
  }
  std::error_code error;
  std::filesystem::path data_dir = options.dir / "data";
  std::filesystem::create_directories(data_dir, error);
  if (error) return make_error(ErrorCode::kIo, "cannot create " + data_dir.string() + ": " + error.message());
  std::filesystem::path log = options.dir / "etcd.log";

  auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  std::string last_failure;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    auto client_port = free_loopback_port();
    if (!client_port) return client_port.error();
    auto peer_port = free_loopback_port();
    if (!peer_port) return peer_port.error();
    if (*peer_port == *client_port) continue;
    std::string client_url = "http://127.0.0.1:" + std::to_string(*client_port);
    std::string peer_url = "http://127.0.0.1:" + std::to_string(*peer_port);
    if (attempt > 0) {  // a failed attempt may have initialized the data dir with other ports
      std::filesystem::remove_all(data_dir, error);
      std::filesystem::create_directories(data_dir, error);
    }
    SpawnOptions spawn;
    spawn.program = options.program;
    spawn.args = {"--name",
                  options.name,
                  "--data-dir",
                  data_dir.string(),
                  "--listen-client-urls",
                  client_url,
                  "--advertise-client-urls",
                  client_url,
                  "--listen-peer-urls",
                  peer_url,
                  "--initial-advertise-peer-urls",
                  peer_url,
                  "--initial-cluster",
                  options.name + "=" + peer_url,
                  "--initial-cluster-state",
                  "new",
                  "--initial-cluster-token",
                  options.name,
                  "--logger",
                  "zap",
                  "--log-outputs",
                  "stderr"};
    spawn.stdout_file = log;
    spawn.stderr_file = log;
    spawn.new_session = options.new_session;
    auto child = ChildProcess::spawn(std::move(spawn));
    if (!child) return child.error();
    while (true) {
      if (!child->running()) {
        last_failure =
            "etcd exited with status " + std::to_string(child->exit_status().value_or(-1)) + ": " + tail_lines(log, 5);
        break;  // retry with new ports
      }
      if (etcd_healthy(client_url, 1s)) return EtcdServer(std::move(*child), client_url);
      if (std::chrono::steady_clock::now() >= deadline) {
        (void)child->terminate(5s);
        return make_error(ErrorCode::kUnavailable, "etcd did not become healthy within " +
                                                       std::to_string(options.start_timeout.count()) + " ms (" +
                                                       log.string() + "): " + tail_lines(log, 5));
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  return make_error(ErrorCode::kUnavailable,
                    "etcd failed to start " + std::to_string(kStartAttempts) + " times; last: " + last_failure);
}

Status EtcdServer::stop() { return process_.terminate(10s); }

}  // namespace quorum::process
