// quorumctl cluster up|status|down: a cluster of real quorumd processes on
// this machine (docs/quorumctl.md "cluster", docs/operator-guide.md).
//
// up writes DIR/topology.json (docs/formats.md §6), starts one detached
// quorumd per node (and one etcd with --etcd), waits until every node serves,
// and records what it started in DIR/cluster.json; status and down read
// cluster.json. Processes are identified by pid AND by their command line
// (which names their data directory), so a pid reused by an unrelated
// process is never signalled.
//
// Bounds: at most 16 data centers x 64 nodes; cluster.json at most 16 MiB.
#include "ctl.hpp"

#include <quorum/cluster/topology.hpp>
#include <quorum/process/child_process.hpp>
#include <quorum/process/etcd_server.hpp>

#include <CLI/CLI.hpp>

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace quorum::ctl {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxNodesPerDc = 64;
constexpr size_t kMaxClusterFileBytes = size_t{16} << 20;
constexpr size_t kLogTailLines = 20;
constexpr auto kDownGrace = 10s;

struct UpOptions {
  std::string dir;
  std::vector<std::string> dcs{"FL", "TN", "TX", "UT"};
  size_t nodes_per_dc = 2;
  bool etcd = false;
  bool replicated = false;
  bool json = false;
  std::string quorumd;
  std::string node_config;
  uint64_t start_timeout_s = 120;
};

struct StatusOptions {
  std::string dir;
  bool json = false;
  double cpu_seconds = 1.0;
};

struct DownOptions {
  std::string dir;
  bool json = false;
};

// One node of cluster.json.
struct NodeRecord {
  std::string name, dc, zone, address, url;
  pid_t pid = -1;
  fs::path data, log, stdout_log;
};

struct EtcdRecord {
  std::string url;
  pid_t pid = -1;
  fs::path dir, data, log;
};

struct ClusterRecord {
  std::string created;
  fs::path dir, topology, quorumd;
  std::optional<EtcdRecord> etcd;
  std::vector<NodeRecord> nodes;
  uint64_t startup_ms = 0;
};

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  return format_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

json to_json(const ClusterRecord& record) {
  json nodes = json::array();
  for (const NodeRecord& node : record.nodes) {
    nodes.push_back({{"name", node.name},
                     {"dc", node.dc},
                     {"zone", node.zone},
                     {"pid", node.pid},
                     {"url", node.url},
                     {"address", node.address},
                     {"data", node.data.string()},
                     {"log", node.log.string()},
                     {"stdout", node.stdout_log.string()}});
  }
  json etcd = nullptr;
  if (record.etcd) {
    etcd = {{"url", record.etcd->url},
            {"pid", record.etcd->pid},
            {"dir", record.etcd->dir.string()},
            {"data", record.etcd->data.string()},
            {"log", record.etcd->log.string()}};
  }
  return {{"version", 1},
          {"created", record.created},
          {"dir", record.dir.string()},
          {"topology", record.topology.string()},
          {"quorumd", record.quorumd.string()},
          {"startup_ms", record.startup_ms},
          {"etcd", etcd},
          {"nodes", nodes}};
}

Result<ClusterRecord> read_cluster_file(const fs::path& dir) {
  fs::path file = dir / "cluster.json";
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return make_error(ErrorCode::kNotFound, "no cluster in " + dir.string() + " (" + file.string() + " missing)");
  std::string text(kMaxClusterFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxClusterFileBytes)
    return make_error(ErrorCode::kInvalidArgument, file.string() + " is too large");
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) return make_error(ErrorCode::kInvalidArgument, file.string() + " is not a JSON object");
  try {
    ClusterRecord record;
    record.created = doc.value("created", "");
    record.dir = doc.value("dir", dir.string());
    record.topology = doc.value("topology", "");
    record.quorumd = doc.value("quorumd", "");
    record.startup_ms = doc.value("startup_ms", uint64_t{0});
    if (doc.contains("etcd") && doc["etcd"].is_object()) {
      const json& e = doc["etcd"];
      record.etcd = EtcdRecord{e.at("url").get<std::string>(), e.at("pid").get<pid_t>(), e.value("dir", ""),
                               e.value("data", ""), e.value("log", "")};
    }
    for (const json& n : doc.at("nodes")) {
      NodeRecord node;
      node.name = n.at("name").get<std::string>();
      node.dc = n.value("dc", "");
      node.zone = n.value("zone", "");
      node.pid = n.at("pid").get<pid_t>();
      node.url = n.value("url", "");
      node.address = n.value("address", "");
      node.data = n.at("data").get<std::string>();
      node.log = n.value("log", "");
      node.stdout_log = n.value("stdout", "");
      record.nodes.push_back(std::move(node));
    }
    return record;
  } catch (const std::exception& error) {
    return make_error(ErrorCode::kInvalidArgument, file.string() + ": " + error.what());
  }
}

Status write_file_atomically(const fs::path& file, const std::string& text) {
  fs::path temp = file;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return make_error(ErrorCode::kIo, "cannot write " + temp.string());
  }
  std::error_code error;
  fs::rename(temp, file, error);
  if (error) return make_error(ErrorCode::kIo, "cannot rename " + temp.string() + ": " + error.message());
  return {};
}

// /proc/PID/cmdline with NULs as spaces ("" if gone).
std::string command_line(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

// Alive, not a zombie, and still the process we started: its command line
// names `marker` (its data directory).
bool ours_alive(pid_t pid, const fs::path& marker) {
  if (!process::pid_alive(pid)) return false;
  std::string line = command_line(pid);
  return line.empty() || marker.empty() || line.find(marker.string()) != std::string::npos;
}

// VmRSS of /proc/PID/status in bytes (0 if unknown).
uint64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

// Pss of /proc/PID/smaps_rollup in bytes: resident memory with shared pages
// (the binary, libraries, plugins) divided among the processes sharing them,
// so a sum over processes does not count them N times (0 if unknown).
uint64_t pss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pss:", 0) == 0) {
      std::istringstream fields(line.substr(4));
      uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

// utime + stime of /proc/PID/stat in clock ticks (nullopt if gone).
std::optional<uint64_t> cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // After the command: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15).
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

std::string format_mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

std::string format_percent(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", value);
  return text;
}

fs::path executable_dir() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return {};
  return fs::path(std::string(buffer, static_cast<size_t>(n))).parent_path();
}

// --quorumd, else quorumd beside quorumctl (install: bin/; build tree:
// host/quorumctl/../quorumd), else PATH.
Result<fs::path> find_quorumd(const std::string& given) {
  if (!given.empty()) {
    auto found = process::find_program(given);
    if (!found) return found.error();
    return fs::absolute(*found);
  }
  fs::path here = executable_dir();
  for (const fs::path& candidate : {here / "quorumd", here.parent_path() / "quorumd"}) {
    if (!here.empty() && process::find_program(candidate.string())) return fs::weakly_canonical(candidate);
  }
  auto found = process::find_program("quorumd");
  if (!found) return make_error(ErrorCode::kNotFound, "quorumd not found beside quorumctl nor in PATH (use --quorumd)");
  return fs::absolute(*found);
}

// SIGTERM to every process, up to `grace` for them to go, SIGKILL to the
// rest. Returns how many needed SIGKILL. `alive` tells whether one is still there.
template <class Alive, class Signal>
size_t stop_processes(size_t count, Alive alive, Signal send, std::chrono::milliseconds grace) {
  for (size_t i = 0; i < count; ++i) {
    if (alive(i)) send(i, SIGTERM);
  }
  auto deadline = Clock::now() + grace;
  auto any_alive = [&] {
    for (size_t i = 0; i < count; ++i) {
      if (alive(i)) return true;
    }
    return false;
  };
  while (any_alive() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  size_t killed = 0;
  for (size_t i = 0; i < count; ++i) {
    if (alive(i)) {
      send(i, SIGKILL);
      ++killed;
    }
  }
  deadline = Clock::now() + 5s;
  while (killed > 0 && any_alive() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return killed;
}

// GET /v1/health: the parsed body when the node answered (any status).
Result<json> get_health(const std::string& url, std::chrono::milliseconds timeout) {
  client::HttpClient::Options options;
  options.timeout = timeout;
  options.body_limit_bytes = 1 << 20;
  auto http = client::HttpClient::create(url, options);
  if (!http) return http.error();
  auto response = (*http)->get("/v1/health");
  if (!response) return response.error();
  json body = json::parse(response->body, nullptr, false);
  if (!body.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "HTTP " + std::to_string(response->status) + ": not JSON");
  }
  return body;
}

// ---- up -------------------------------------------------------------------

int run_up(const UpOptions& options, bool json_output) {
  if (options.dir.empty()) return fail(kExitUsage, "cluster up: --dir is required");
  if (options.nodes_per_dc < 2 || options.nodes_per_dc % 2 != 0 || options.nodes_per_dc > kMaxNodesPerDc) {
    return fail(kExitUsage, "cluster up: --nodes-per-dc must be even, 2.." + std::to_string(kMaxNodesPerDc) +
                                " (zones A and B alternate)");
  }
  if (options.dcs.empty() || options.dcs.size() > cluster::kMaxDataCenters) {
    return fail(kExitUsage, "cluster up: --dcs needs 1.." + std::to_string(cluster::kMaxDataCenters) + " names");
  }
  auto quorumd = find_quorumd(options.quorumd);
  if (!quorumd) return fail(kExitUsage, "cluster up: " + quorumd.error().message);
  fs::path node_config;
  if (!options.node_config.empty()) {
    node_config = fs::absolute(options.node_config);
    if (!fs::is_regular_file(node_config)) return fail(kExitUsage, "cluster up: no file " + node_config.string());
  }

  std::error_code error;
  const fs::path dir = fs::absolute(options.dir).lexically_normal();
  fs::create_directories(dir / "nodes", error);
  if (error) return fail(kExitUsage, "cluster up: cannot create " + (dir / "nodes").string() + ": " + error.message());
  if (auto previous = read_cluster_file(dir)) {
    size_t running = 0;
    for (const NodeRecord& node : previous->nodes) running += ours_alive(node.pid, node.data) ? 1 : 0;
    if (previous->etcd && ours_alive(previous->etcd->pid, previous->etcd->data)) ++running;
    if (running > 0) {
      return fail(kExitUsage, "cluster up: " + dir.string() + " has a running cluster (" + std::to_string(running) +
                                  " processes); run: quorumctl cluster down --dir " + dir.string());
    }
  }

  // The topology: nodes DC-A-1, DC-B-1, DC-A-2, ... with fixed mailroom addresses.
  const size_t node_count = options.dcs.size() * options.nodes_per_dc;
  auto ports = process::free_loopback_ports(node_count);
  if (!ports) return fail(kExitUsage, "cluster up: " + ports.error().message);
  cluster::Topology topology;
  topology.epoch = 1;
  ClusterRecord record;
  record.dir = dir;
  record.topology = dir / "topology.json";
  record.quorumd = *quorumd;
  record.created = now_iso();
  size_t port_index = 0;
  for (const std::string& dc : options.dcs) {
    cluster::DataCenter data_center{dc, {}};
    for (size_t i = 0; i < options.nodes_per_dc; ++i) {
      cluster::Zone zone = i % 2 == 0 ? cluster::Zone::kA : cluster::Zone::kB;
      std::string zone_name(cluster::to_string(zone));
      std::string name = dc + "-" + zone_name + "-" + std::to_string(i / 2 + 1);
      std::string address = "127.0.0.1:" + std::to_string((*ports)[port_index++]);
      data_center.nodes.push_back(cluster::Node{name, zone, address, true});
      NodeRecord node;
      node.name = name;
      node.dc = dc;
      node.zone = zone_name;
      node.address = address;
      node.data = dir / "nodes" / name / "data";
      node.log = dir / "nodes" / name / "quorumd.log";
      node.stdout_log = dir / "nodes" / name / "stdout.log";
      record.nodes.push_back(std::move(node));
    }
    topology.data_centers.push_back(std::move(data_center));
    topology.fallback_order.push_back(dc);
  }
  if (auto valid = cluster::validate(topology); !valid) return fail(kExitUsage, "cluster up: " + valid.error().message);
  if (auto written = write_file_atomically(record.topology, cluster::to_json(topology)); !written) {
    return fail(kExitUsage, "cluster up: " + written.error().message);
  }

  const auto started_at = Clock::now();
  const auto deadline = started_at + std::chrono::seconds(options.start_timeout_s);
  std::optional<process::EtcdServer> etcd;
  std::vector<process::ChildProcess> children;
  children.reserve(record.nodes.size());
  // On failure: the named node's log, then everything started is stopped.
  auto abort_up = [&](const NodeRecord* node, const std::string& message) {
    std::string text = "cluster up: " + message;
    if (node != nullptr) {
      std::string tail = process::tail_lines(node->log, kLogTailLines);
      if (!tail.empty()) text += "\n--- last lines of " + node->log.string() + " ---\n" + tail;
    }
    fail(kExitUnreachable, text);
    stop_processes(
        children.size(), [&](size_t i) { return children[i].running(); },
        [&](size_t i, int signal_number) { ::kill(children[i].pid(), signal_number); }, kDownGrace);
    children.clear();
    if (etcd) (void)etcd->stop();
    std::cerr << "quorumctl: stopped everything cluster up had started\n";
    return kExitUnreachable;
  };

  if (options.etcd) {
    process::EtcdOptions etcd_options;
    etcd_options.dir = dir / "etcd";
    etcd_options.new_session = true;
    auto started = process::EtcdServer::start(etcd_options);
    if (!started) return fail(kExitUnreachable, "cluster up: " + started.error().message);
    etcd.emplace(std::move(started).value());
    record.etcd = EtcdRecord{etcd->client_url(), etcd->process().pid(), etcd_options.dir, etcd_options.dir / "data",
                             etcd_options.dir / "etcd.log"};
  }

  for (NodeRecord& node : record.nodes) {
    fs::create_directories(node.data, error);
    if (error) return abort_up(nullptr, "cannot create " + node.data.string() + ": " + error.message());
    fs::remove(node.stdout_log, error);  // the ready line must come from this run
    process::SpawnOptions spawn;
    spawn.program = quorumd->string();
    spawn.args = {"--data", node.data.string(), "--http",     "127.0.0.1:0",
                  "--name", node.name,          "--topology", record.topology.string()};
    if (etcd) {
      spawn.args.push_back("--etcd");
      spawn.args.push_back(etcd->client_url());
    }
    if (options.replicated) {
      spawn.args.push_back("--replicated");
    }
    if (!node_config.empty()) {
      spawn.args.push_back("--config");
      spawn.args.push_back(node_config.string());
    }
    spawn.stdout_file = node.stdout_log;
    spawn.stderr_file = node.log;
    spawn.new_session = true;
    auto child = process::ChildProcess::spawn(std::move(spawn));
    if (!child) return abort_up(&node, node.name + ": " + child.error().message);
    node.pid = child->pid();
    children.push_back(std::move(child).value());
  }
  // Recorded now so that `cluster down` finds the processes even if this one dies.
  if (auto written = write_file_atomically(dir / "cluster.json", to_json(record).dump(2) + "\n"); !written) {
    return abort_up(nullptr, written.error().message);
  }

  for (size_t i = 0; i < record.nodes.size(); ++i) {
    NodeRecord& node = record.nodes[i];
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const std::string prefix = "quorumd " + node.name + " serving on ";
    auto line = process::wait_for_line(node.stdout_log, prefix, std::max(remaining, 0ms), &children[i]);
    if (!line) return abort_up(&node, node.name + " did not start: " + line.error().message);
    node.url = line->substr(prefix.size());
  }
  for (size_t i = 0; i < record.nodes.size(); ++i) {
    NodeRecord& node = record.nodes[i];
    std::string last;
    while (true) {
      if (!children[i].running()) return abort_up(&node, node.name + " exited while starting");
      auto health = get_health(node.url, 5s);
      if (health && health->value("status", "") == "serving") break;
      last = health ? health->dump() : health.error().message;
      if (Clock::now() >= deadline) return abort_up(&node, node.name + " is not serving: " + last);
      std::this_thread::sleep_for(100ms);
    }
  }
  record.startup_ms =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at).count());
  json document = to_json(record);
  if (auto written = write_file_atomically(dir / "cluster.json", document.dump(2) + "\n"); !written) {
    return abort_up(nullptr, written.error().message);
  }
  for (auto& child : children) child.release();
  if (etcd) etcd->process().release();

  if (json_output) {
    std::cout << document.dump() << "\n";
    return kExitOk;
  }
  Table table({"node", "url", "mailroom", "pid"});
  for (const NodeRecord& node : record.nodes) table.add({node.name, node.url, node.address, std::to_string(node.pid)});
  if (record.etcd) table.add({"etcd", record.etcd->url, "", std::to_string(record.etcd->pid)});
  table.print();
  std::cout << record.nodes.size() << " nodes serving after " << format_duration_ms(record.startup_ms) << " ("
            << record.startup_ms << " ms); cluster.json, topology.json and logs in " << dir.string() << "\n";
  return kExitOk;
}

// ---- status ---------------------------------------------------------------

int run_cluster_status(const StatusOptions& options, bool json_output) {
  if (options.dir.empty()) return fail(kExitUsage, "cluster status: --dir is required");
  const fs::path dir = fs::absolute(options.dir).lexically_normal();
  auto record = read_cluster_file(dir);
  if (!record) return fail(kExitUsage, "cluster status: " + record.error().message);

  struct Row {
    std::string name, url, state;
    pid_t pid = -1;
    bool alive = false;
    json health;
    uint64_t rss = 0;
    uint64_t pss = 0;
    std::optional<uint64_t> ticks_before;
    double cpu_percent = 0;
  };
  std::vector<Row> rows;
  for (const NodeRecord& node : record->nodes) {
    Row row;
    row.name = node.name;
    row.url = node.url;
    row.state = "down";
    row.pid = node.pid;
    row.alive = ours_alive(node.pid, node.data);
    rows.push_back(std::move(row));
  }
  if (record->etcd) {
    Row row;
    row.name = "etcd";
    row.url = record->etcd->url;
    row.state = "down";
    row.pid = record->etcd->pid;
    row.alive = ours_alive(record->etcd->pid, record->etcd->data);
    rows.push_back(std::move(row));
  }
  // CPU% over the sampling window, measured around the health requests.
  auto sample_start = Clock::now();
  for (Row& row : rows) {
    if (row.alive) row.ticks_before = cpu_ticks(row.pid);
  }
  size_t serving = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    Row& row = rows[i];
    if (!row.alive) continue;
    bool is_etcd = record->etcd && i == rows.size() - 1;
    if (is_etcd) {
      row.state = process::etcd_healthy(row.url, 2s) ? "healthy" : "unhealthy";
      continue;
    }
    if (row.url.empty()) {
      row.state = "starting";
      continue;
    }
    auto health = get_health(row.url, 2s);
    if (!health) {
      row.state = "unreachable";
      continue;
    }
    row.health = *health;
    row.state = health->value("status", "unknown");
    if (row.state == "serving") ++serving;
  }
  auto window = std::chrono::duration<double>(options.cpu_seconds);
  auto elapsed = Clock::now() - sample_start;
  if (elapsed < window) std::this_thread::sleep_for(window - elapsed);
  double seconds = std::chrono::duration<double>(Clock::now() - sample_start).count();
  const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  uint64_t node_rss = 0;
  uint64_t node_pss = 0;
  double node_cpu = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    Row& row = rows[i];
    if (!row.alive) continue;
    row.rss = rss_bytes(row.pid);
    row.pss = pss_bytes(row.pid);
    auto after = cpu_ticks(row.pid);
    if (row.ticks_before && after && seconds > 0) {
      row.cpu_percent = static_cast<double>(*after - *row.ticks_before) / ticks_per_second / seconds * 100.0;
    }
    bool is_etcd = record->etcd && i == rows.size() - 1;
    if (!is_etcd) {
      node_rss += row.rss;
      node_pss += row.pss;
      node_cpu += row.cpu_percent;
    }
  }
  const size_t node_count = record->nodes.size();
  const bool all_serving = serving == node_count;

  if (json_output) {
    json nodes = json::array();
    json etcd = nullptr;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      json item = {
          {"name", row.name}, {"pid", row.pid},       {"alive", row.alive},   {"state", row.state},
          {"url", row.url},   {"rss_bytes", row.rss}, {"pss_bytes", row.pss}, {"cpu_percent", row.cpu_percent}};
      if (!row.health.is_null()) {
        item["actors_active"] = row.health.value("actors_active", 0);
        item["actors_failed"] = row.health.value("actors_failed", 0);
        item["uptime_ms"] = row.health.value("uptime_ms", 0);
      }
      if (record->etcd && i == rows.size() - 1) {
        etcd = item;
      } else {
        nodes.push_back(item);
      }
    }
    std::cout << json{{"dir", dir.string()},
                      {"nodes", nodes},
                      {"etcd", etcd},
                      {"serving", serving},
                      {"total", node_count},
                      {"total_rss_bytes", node_rss},
                      {"total_pss_bytes", node_pss},
                      {"total_cpu_percent", node_cpu},
                      {"cpu_window_seconds", seconds}}
                     .dump()
              << "\n";
  } else {
    Table table({"node", "pid", "state", "actors", "uptime", "rss", "cpu", "url"});
    for (const Row& row : rows) {
      std::string actors, uptime;
      if (!row.health.is_null()) {
        actors = std::to_string(row.health.value("actors_active", 0));
        uptime = format_duration_ms(row.health.value("uptime_ms", uint64_t{0}));
      }
      table.add({row.name, std::to_string(row.pid), row.state, actors, uptime, row.alive ? format_mib(row.rss) : "",
                 row.alive ? format_percent(row.cpu_percent) : "", row.url});
    }
    table.print();
    std::cout << serving << "/" << node_count << " nodes serving; quorumd total RSS " << format_mib(node_rss)
              << " (PSS " << format_mib(node_pss) << "), CPU " << format_percent(node_cpu) << " (of one core) over "
              << static_cast<int64_t>(seconds * 1000) << " ms\n";
  }
  return all_serving ? kExitOk : kExitUnreachable;
}

// ---- down -----------------------------------------------------------------

int run_down(const DownOptions& options, bool json_output) {
  if (options.dir.empty()) return fail(kExitUsage, "cluster down: --dir is required");
  const fs::path dir = fs::absolute(options.dir).lexically_normal();
  auto record = read_cluster_file(dir);
  if (!record) {
    if (record.error().code != ErrorCode::kNotFound) return fail(kExitUsage, "cluster down: " + record.error().message);
    if (json_output) {
      std::cout << json{{"stopped", 0}, {"killed", 0}, {"already_stopped", 0}}.dump() << "\n";
    } else {
      std::cout << "no cluster in " << dir.string() << ": nothing to stop\n";
    }
    return kExitOk;
  }
  struct Target {
    std::string name;
    pid_t pid;
    fs::path marker;
  };
  std::vector<Target> targets;
  for (const NodeRecord& node : record->nodes) targets.push_back({node.name, node.pid, node.data});
  size_t node_targets = targets.size();
  if (record->etcd) targets.push_back({"etcd", record->etcd->pid, record->etcd->data});
  std::vector<size_t> running;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (ours_alive(targets[i].pid, targets[i].marker)) running.push_back(i);
  }
  // Nodes first (they may still talk to etcd while stopping), then etcd.
  std::vector<size_t> nodes_running, etcd_running;
  for (size_t i : running) (i < node_targets ? nodes_running : etcd_running).push_back(i);
  size_t killed = 0;
  for (const auto* group : {&nodes_running, &etcd_running}) {
    killed += stop_processes(
        group->size(), [&](size_t k) { return ours_alive(targets[(*group)[k]].pid, targets[(*group)[k]].marker); },
        [&](size_t k, int signal_number) { ::kill(targets[(*group)[k]].pid, signal_number); }, kDownGrace);
  }
  size_t still = 0;
  for (size_t i : running) still += ours_alive(targets[i].pid, targets[i].marker) ? 1 : 0;
  size_t already = targets.size() - running.size();
  if (json_output) {
    std::cout << json{{"stopped", running.size() - still},
                      {"killed", killed},
                      {"already_stopped", already},
                      {"still_running", still}}
                     .dump()
              << "\n";
  } else {
    std::cout << "stopped " << running.size() - still << " processes (" << killed << " with SIGKILL after "
              << std::chrono::duration_cast<std::chrono::seconds>(kDownGrace).count() << " s); " << already
              << " were already stopped\n";
  }
  if (still > 0)
    return fail(kExitUnreachable, "cluster down: " + std::to_string(still) + " processes are still running");
  return kExitOk;
}

}  // namespace

GroupRunner add_cluster_commands(CLI::App& app, const Context& context) {
  auto* group = app.add_subcommand("cluster", "a cluster of quorumd processes on this machine");
  group->require_subcommand(1);
  auto up_options = std::make_shared<UpOptions>();
  auto status_options = std::make_shared<StatusOptions>();
  auto down_options = std::make_shared<DownOptions>();

  auto* up = group->add_subcommand("up", "start a cluster: topology.json, one quorumd per node, wait until serving");
  up->add_option("--dir", up_options->dir, "directory for topology.json, cluster.json, data and logs")->required();
  up->add_option("--dcs", up_options->dcs, "data centers, comma-separated")->delimiter(',')->capture_default_str();
  up->add_option("--nodes-per-dc", up_options->nodes_per_dc, "nodes per data center (even: zones A and B)")
      ->capture_default_str();
  up->add_flag("--etcd", up_options->etcd, "start one etcd too and pass --etcd URL to every node");
  up->add_flag("--replicated", up_options->replicated,
               "every key on its writer and four followers, answered after 3 of 5 (quorumd --replicated)");
  up->add_flag("--json", up_options->json, "print cluster.json on stdout");
  up->add_option("--quorumd", up_options->quorumd, "quorumd binary (default: beside quorumctl, else PATH)");
  up->add_option("--node-config", up_options->node_config, "a quorumd config file passed to every node as --config");
  up->add_option("--start-timeout", up_options->start_timeout_s, "seconds to wait for every node to serve")
      ->capture_default_str();

  auto* status = group->add_subcommand("status", "per node: alive, health, RSS, CPU%; exit 3 unless all serve");
  status->add_option("--dir", status_options->dir, "the cluster's directory")->required();
  status->add_flag("--json", status_options->json, "JSON on stdout");
  status->add_option("--cpu-seconds", status_options->cpu_seconds, "CPU sampling window in seconds")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();

  auto* down = group->add_subcommand("down", "stop every node (and etcd): SIGTERM, 10 s, SIGKILL");
  down->add_option("--dir", down_options->dir, "the cluster's directory")->required();
  down->add_flag("--json", down_options->json, "JSON on stdout");

  return [group, up, status, down, up_options, status_options, down_options, &context]() -> std::optional<int> {
    if (!*group) return std::nullopt;
    if (*up) return run_up(*up_options, context.json || up_options->json);
    if (*status) return run_cluster_status(*status_options, context.json || status_options->json);
    if (*down) return run_down(*down_options, context.json || down_options->json);
    return fail(kExitUsage, "cluster: up, status or down");
  };
}

}  // namespace quorum::ctl
