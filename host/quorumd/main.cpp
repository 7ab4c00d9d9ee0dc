// quorumd: one Quorum node. Opens the node's store, loads and activates the
// shipped handlers, serves the HTTP API of docs/api.md and runs until
// SIGINT/SIGTERM, then shuts down cleanly (stop accepting, answer what is
// pending, close the store).
//
//   quorumd --data DIR --http HOST:PORT [--name NODE] [--plugins DIR]
//           [--config FILE] [--token-file FILE] [--shards N]
//           [--topology FILE | --etcd URL [--etcd-prefix P] [--topology FILE]]
//
// Alone, it is a single node. With --topology (the embedded store: a
// topology.json file and a failure detector) or --etcd (production: etcd
// v3; --topology then seeds an empty prefix), it is the node --name of a
// cluster: its mailroom listens on its address in the topology, and any
// command or read is routed to the node that owns the key.
//
// Prints exactly one line on stdout when ready:
//   quorumd <name> serving on http://HOST:PORT
// (with --http 127.0.0.1:0 the port is the one the kernel picked). Logs go
// to stderr. Configuration keys: docs/quorumd.md.
#include <quorum/http/server.hpp>
#include <quorum/node/local_node.hpp>
#include <quorum/cluster/etcd_topology_store.hpp>
#include <quorum/cluster/static_topology_store.hpp>
#include <quorum/router/cluster_node.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Settings {
  quorum::node::LocalNodeOptions node;
  quorum::http::ServerOptions http;
  quorum::router::ClusterNodeOptions cluster;  // its `local` is `node`, filled at start
  std::chrono::milliseconds failure_timeout{1200};  // embedded topology store
  bool plugins_listed = false;  // the config named the activations
};

fs::path executable_dir() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) {
    return {};
  }
  return fs::path(std::string(buffer, static_cast<size_t>(n))).parent_path();
}

fs::path default_plugin_dir() {
  std::error_code ec;
  if (fs::is_directory(QUORUM_BUILD_PLUGIN_DIR, ec)) {
    return QUORUM_BUILD_PLUGIN_DIR;
  }
  fs::path relative = executable_dir() / ".." / "lib" / "quorum" / "plugins";
  if (fs::is_directory(relative, ec)) {
    return fs::weakly_canonical(relative, ec);
  }
  return QUORUM_INSTALL_PLUGIN_DIR;
}

// Applies a JSON config file on top of the defaults; a message on error.
std::string apply_config(const fs::path& file, Settings& s) {
  std::ifstream in(file);
  if (!in) {
    return "cannot read config file " + file.string();
  }
  json config = json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return "config file " + file.string() + " is not a JSON object";
  }
  try {
    for (auto& [section, body] : config.items()) {
      if (section == "node") {
        for (auto& [k, v] : body.items()) {
          if (k == "name") {
            s.node.node_name = v.get<std::string>();
          } else if (k == "shards") {
            s.node.shards = v.get<size_t>();
          } else if (k == "max_actors") {
            s.node.max_actors = v.get<size_t>();
          } else if (k == "idle_passivation_ms") {
            s.node.idle_passivation_ms = v.get<int64_t>();
          } else if (k == "snapshot_interval") {
            s.node.snapshot_interval = v.get<uint64_t>();
          } else if (k == "actor_queue_bound") {
            s.node.actor_queue_bound = v.get<size_t>();
          } else if (k == "max_in_flight") {
            s.node.max_in_flight = v.get<size_t>();
          } else if (k == "max_read_log_entries") {
            s.node.max_read_log_entries = v.get<size_t>();
          } else if (k == "sync") {
            s.node.sync = v.get<bool>();
          } else {
            return "config: unknown key node." + k;
          }
        }
      } else if (section == "http") {
        for (auto& [k, v] : body.items()) {
          if (k == "threads") {
            s.http.threads = v.get<size_t>();
          } else if (k == "max_connections") {
            s.http.max_connections = v.get<size_t>();
          } else if (k == "max_streams") {
            s.http.max_streams = v.get<size_t>();
          } else if (k == "body_limit_bytes") {
            s.http.body_limit_bytes = v.get<size_t>();
          } else if (k == "header_limit_bytes") {
            s.http.header_limit_bytes = v.get<size_t>();
          } else if (k == "header_timeout_ms") {
            s.http.header_timeout = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "body_timeout_ms") {
            s.http.body_timeout = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "write_timeout_ms") {
            s.http.write_timeout = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "stream_heartbeat_ms") {
            s.http.stream_heartbeat = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "stream_queue_events") {
            s.http.stream_queue_events = v.get<size_t>();
          } else {
            return "config: unknown key http." + k;
          }
        }
      } else if (section == "cluster") {
        for (auto& [k, v] : body.items()) {
          if (k == "request_timeout_ms") {
            s.cluster.request_timeout = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "heartbeat_interval_ms") {
            s.cluster.heartbeat_interval = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "failure_timeout_ms") {
            s.failure_timeout = std::chrono::milliseconds(v.get<int64_t>());
          } else if (k == "replicated") {
            s.cluster.replicated = v.get<bool>();
          } else if (k == "max_pending") {
            s.cluster.max_pending = v.get<size_t>();
          } else if (k == "peer_queue_frames") {
            s.cluster.mailroom.peer_queue_frames = v.get<size_t>();
          } else if (k == "max_frame_bytes") {
            s.cluster.mailroom.max_frame_bytes = v.get<size_t>();
          } else {
            return "config: unknown key cluster." + k;
          }
        }
        if (s.cluster.heartbeat_interval.count() <= 0 || s.failure_timeout <= 2 * s.cluster.heartbeat_interval ||
            s.cluster.request_timeout.count() <= 0) {
          return "config: cluster needs request_timeout_ms > 0 and failure_timeout_ms > 2 x heartbeat_interval_ms > 0";
        }
      } else if (section == "plugins") {
        for (auto& [k, v] : body.items()) {
          if (k == "dir") {
            s.node.plugin_dir = v.get<std::string>();
          } else if (k == "activate") {
            s.plugins_listed = true;
            for (const json& a : v) {
              s.node.activations.push_back({a.at("name").get<std::string>(), a.at("semver").get<std::string>()});
            }
          } else {
            return "config: unknown key plugins." + k;
          }
        }
      } else {
        return "config: unknown section '" + section + "' (node, http, cluster, plugins)";
      }
    }
  } catch (const std::exception& e) {
    return std::string("config file ") + file.string() + ": " + e.what();
  }
  return {};
}

std::string read_token(const fs::path& file, std::string& error) {
  std::ifstream in(file);
  if (!in) {
    error = "cannot read token file " + file.string();
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) {
    token.erase(token.begin());
  }
  if (token.empty()) {
    error = "token file " + file.string() + " is empty";
  }
  return token;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("quorumd");
  spdlog::set_default_logger(logger);

  CLI::App app{"quorumd: one Quorum node (HTTP API, actors, durable log)"};
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  std::string name;
  std::string plugin_dir;
  std::string config_file;
  std::string token_file;
  size_t shards = 0;
  std::string topology_file;
  std::string etcd_url;
  std::string etcd_prefix = "/quorum/default/";
  app.add_option("--data", data_dir, "data directory (created if missing)")->required();
  app.add_option("--http", listen, "listen address HOST:PORT (port 0: pick a free one)");
  app.add_option("--name", name, "node name (default local-1)");
  app.add_option("--plugins", plugin_dir, "directory of plugin files <name>-<semver>.so");
  app.add_option("--config", config_file, "JSON config file (docs/quorumd.md)");
  app.add_option("--token-file", token_file, "file holding the bearer token required for writes");
  app.add_option("--shards", shards, "event-loop threads of the node");
  app.add_option("--topology", topology_file,
                 "topology.json: run as node --name of this cluster (embedded store; with --etcd: seeds it)");
  app.add_option("--etcd", etcd_url, "etcd v3 client URL: the cluster's topology store (production)");
  bool replicated = false;
  app.add_flag("--replicated", replicated,
               "cluster only: replicate every key to its writer and four followers, answer after 3 of 5 "
               "(docs/replication.md); without it a key has one copy that moves by hand-off");
  app.add_option("--etcd-prefix", etcd_prefix, "key prefix of the topology in etcd")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Settings settings;
  if (!config_file.empty()) {
    if (std::string error = apply_config(config_file, settings); !error.empty()) {
      spdlog::critical("{}", error);
      return 2;
    }
  }
  settings.node.data_dir = data_dir;
  if (!name.empty()) {
    settings.node.node_name = name;
  }
  if (shards > 0) {
    settings.node.shards = shards;
  }
  if (!plugin_dir.empty()) {
    settings.node.plugin_dir = plugin_dir;
  } else if (settings.node.plugin_dir.empty()) {
    settings.node.plugin_dir = default_plugin_dir();
  }
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    spdlog::critical("--http must be HOST:PORT, got '{}'", listen);
    return 2;
  }
  settings.http.address = listen.substr(0, colon);
  if (settings.http.address.size() > 2 && settings.http.address.front() == '[') {
    settings.http.address = settings.http.address.substr(1, settings.http.address.size() - 2);
  }
  try {
    int port = std::stoi(listen.substr(colon + 1));
    if (port < 0 || port > 65535) {
      throw std::out_of_range("port");
    }
    settings.http.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    spdlog::critical("--http must be HOST:PORT with a port 0..65535, got '{}'", listen);
    return 2;
  }
  if (!token_file.empty()) {
    std::string error;
    settings.http.token = read_token(token_file, error);
    if (!error.empty()) {
      spdlog::critical("{}", error);
      return 2;
    }
  } else if (const char* env = std::getenv("QUORUM_TOKEN"); env != nullptr && *env != '\0') {
    settings.http.token = env;
  }
  if (!settings.plugins_listed) {
    auto found = quorum::node::highest_plugin_versions(settings.node.plugin_dir);
    if (!found) {
      spdlog::critical("plugins: {} (use --plugins DIR)", found.error().message);
      return 2;
    }
    settings.node.activations = std::move(found).value();
  }
  std::string active;
  for (const auto& a : settings.node.activations) {
    active += (active.empty() ? "" : ", ") + a.name + "-" + a.semver;
  }
  spdlog::info("plugins from {}: {}", settings.node.plugin_dir.string(), active.empty() ? "(none)" : active);

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::error_code ec;
  fs::create_directories(settings.node.data_dir, ec);
  const bool clustered = !topology_file.empty() || !etcd_url.empty();
  if (clustered && name.empty()) {
    spdlog::critical("--topology/--etcd need --name: this node's name in the topology (e.g. FL-A-1)");
    return 2;
  }
  std::unique_ptr<quorum::node::NodeService> node;
  std::unique_ptr<quorum::cluster::TopologyStore> topology;
  if (clustered) {
    if (!etcd_url.empty()) {
      quorum::cluster::EtcdTopologyStoreOptions etcd_options;
      etcd_options.url = etcd_url;
      etcd_options.prefix = etcd_prefix;
      etcd_options.self = settings.node.node_name;
      etcd_options.joint_transitions = replicated || settings.cluster.replicated;  // replicated nodes report
      auto etcd = std::make_unique<quorum::cluster::EtcdTopologyStore>(etcd_options);
      if (!topology_file.empty()) {
        auto seed = quorum::cluster::read_topology_file(topology_file);
        if (!seed) {
          spdlog::critical("topology: {}", seed.error().message);
          return 2;
        }
        if (auto seeded = etcd->seed(*seed); !seeded.ok()) {
          spdlog::critical("topology: cannot seed etcd at {}: {}", etcd_url, seeded.error().message);
          return 1;
        }
      }
      topology = std::move(etcd);
      settings.cluster.heartbeats = false;  // etcd leases decide liveness
    } else {
      quorum::cluster::StaticTopologyStoreOptions static_options{topology_file, settings.node.node_name};
      static_options.failure_timeout = settings.failure_timeout;
      static_options.joint_transitions = replicated || settings.cluster.replicated;  // replicated nodes report
      topology = std::make_unique<quorum::cluster::StaticTopologyStore>(static_options);
    }
    if (auto started = topology->start(); !started.ok()) {
      spdlog::critical("topology: {}", started.error().message);
      return 1;
    }
    quorum::router::ClusterNodeOptions options = settings.cluster;
    options.local = settings.node;
    options.replicated = options.replicated || replicated;
    auto opened = quorum::router::ClusterNode::open(std::move(options), *topology);
    if (!opened) {
      spdlog::critical("cannot start the node: {}", opened.error().message);
      return 1;
    }
    node = std::move(opened).value();
  }
  if (!node) {
    auto opened = quorum::node::LocalNode::open(settings.node);
    if (!opened) {
      spdlog::critical("cannot start the node: {}", opened.error().message);
      return 1;
    }
    node = std::move(opened).value();
  }
  auto server = std::make_unique<quorum::http::Server>(*node, settings.http);
  auto port = server->start();
  if (!port) {
    spdlog::critical("{}", port.error().message);
    node->shutdown();
    return 1;
  }
  if (settings.http.token.empty()) {
    spdlog::warn(
        "writes are open to every client: start with --token-file FILE (or QUORUM_TOKEN=...) to require "
        "'Authorization: Bearer <token>' on every POST");
  } else {
    spdlog::info("writes require a bearer token");
  }
  std::string host =
      settings.http.address.find(':') != std::string::npos ? "[" + settings.http.address + "]" : settings.http.address;
  std::cout << "quorumd " << settings.node.node_name << " serving on http://" << host << ":" << *port << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("signal {}: shutting down", signal_number);
  server->stop();
  node->shutdown();
  server.reset();
  node.reset();
  if (topology) {
    topology->stop();
  }
  spdlog::info("stopped");
  return 0;
}
