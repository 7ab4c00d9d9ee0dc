// quorumctl cluster up|status|down against the built quorumd (label cluster).
#include <quorum/client/http_client.hpp>
#include <quorum/cluster/topology.hpp>
#include <quorum/process/child_process.hpp>
#include <quorum/process/etcd_server.hpp>

#include "support/scratch_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace quorum {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct CtlRun {
  int exit_status = -1;
  std::string out, err;
};

// Runs quorumctl with `args`; its output goes to files in `dir`.
CtlRun quorumctl(const fs::path& dir, std::vector<std::string> args) {
  static int counter = 0;
  ++counter;
  process::SpawnOptions options;
  options.program = QUORUM_QUORUMCTL;
  options.args = std::move(args);
  options.stdout_file = dir / ("quorumctl-" + std::to_string(counter) + ".out");
  options.stderr_file = dir / ("quorumctl-" + std::to_string(counter) + ".err");
  CtlRun run;
  auto child = process::ChildProcess::spawn(options);
  if (!child) {
    run.err = child.error().message;
    return run;
  }
  if (!child->wait_for_exit(150s)) {
    (void)child->terminate(5s);
    run.err = "quorumctl timed out";
    return run;
  }
  run.exit_status = child->exit_status().value_or(-1);
  run.out = read_file(options.stdout_file);
  run.err = read_file(options.stderr_file);
  return run;
}

// Whatever happens in a test, no daemon outlives it.
class ClusterGuard {
 public:
  ClusterGuard(fs::path scratch, fs::path cluster) : scratch_(std::move(scratch)), cluster_(std::move(cluster)) {}
  ~ClusterGuard() { quorumctl(scratch_, {"cluster", "down", "--dir", cluster_.string()}); }

 private:
  fs::path scratch_, cluster_;
};

TEST(ClusterUp, FourDataCentersOfTwoNodesServeAndStop) {
  test_support::ScratchDir scratch("quorum-cluster-up");
  const fs::path dir = scratch.path() / "cluster";
  ClusterGuard guard(scratch.path(), dir);

  CtlRun up = quorumctl(scratch.path(), {"cluster", "up", "--dir", dir.string(), "--dcs", "FL,TN,TX,UT",
                                         "--nodes-per-dc", "2", "--quorumd", QUORUM_QUORUMD, "--json"});
  ASSERT_EQ(up.exit_status, 0) << up.err;
  json printed = json::parse(up.out, nullptr, false);
  ASSERT_TRUE(printed.is_object()) << up.out;
  json recorded = json::parse(read_file(dir / "cluster.json"), nullptr, false);
  ASSERT_TRUE(recorded.is_object());
  EXPECT_EQ(printed["nodes"], recorded["nodes"]);

  // The topology: 4 DCs x (A-1, B-1), addresses as recorded.
  auto topology = cluster::read_topology_file((dir / "topology.json").string());
  ASSERT_TRUE(topology) << topology.error().message;
  ASSERT_EQ(topology->data_centers.size(), 4u);
  std::vector<std::string> expected_names;
  std::map<std::string, std::string> addresses;
  for (const auto& dc : topology->data_centers) {
    ASSERT_EQ(dc.nodes.size(), 2u);
    EXPECT_EQ(dc.nodes[0].name, dc.name + "-A-1");
    EXPECT_EQ(dc.nodes[1].name, dc.name + "-B-1");
    for (const auto& node : dc.nodes) {
      expected_names.push_back(node.name);
      addresses[node.name] = node.address;
    }
  }
  EXPECT_EQ(expected_names,
            (std::vector<std::string>{"FL-A-1", "FL-B-1", "TN-A-1", "TN-B-1", "TX-A-1", "TX-B-1", "UT-A-1", "UT-B-1"}));

  // Every node: alive, and its URL answers /v1/health as that node, serving.
  const json& nodes = recorded["nodes"];
  ASSERT_EQ(nodes.size(), 8u);
  std::vector<pid_t> pids;
  std::set<std::string> urls;
  for (const json& node : nodes) {
    const std::string name = node["name"];
    EXPECT_EQ(node["address"], addresses[name]);
    pid_t pid = node["pid"];
    pids.push_back(pid);
    EXPECT_TRUE(process::pid_alive(pid)) << name;
    const std::string url = node["url"];
    urls.insert(url);
    client::HttpClient::Options options;
    options.timeout = 10s;
    auto http = client::HttpClient::create(url, options);
    ASSERT_TRUE(http) << http.error().message;
    auto health = (*http)->get("/v1/health");
    ASSERT_TRUE(health) << name << ": " << health.error().message;
    EXPECT_EQ(health->status, 200u) << name << ": " << health->body;
    json body = json::parse(health->body, nullptr, false);
    EXPECT_EQ(body.value("status", ""), "serving") << name;
    EXPECT_EQ(body.value("node", ""), name);
  }
  EXPECT_EQ(urls.size(), 8u) << "each node has its own URL";

  CtlRun status =
      quorumctl(scratch.path(), {"cluster", "status", "--dir", dir.string(), "--json", "--cpu-seconds", "0.5"});
  ASSERT_EQ(status.exit_status, 0) << status.err << status.out;
  json report = json::parse(status.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << status.out;
  EXPECT_EQ(report["serving"], 8);
  EXPECT_EQ(report["total"], 8);
  EXPECT_GT(report["total_rss_bytes"].get<uint64_t>(), 0u);
  for (const json& node : report["nodes"]) EXPECT_EQ(node["state"], "serving") << node.dump();

  // A second `up` over the running cluster is refused and changes nothing.
  CtlRun again = quorumctl(scratch.path(), {"cluster", "up", "--dir", dir.string(), "--dcs", "FL,TN,TX,UT",
                                            "--nodes-per-dc", "2", "--quorumd", QUORUM_QUORUMD});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("running cluster"), std::string::npos) << again.err;
  for (pid_t pid : pids) EXPECT_TRUE(process::pid_alive(pid));

  CtlRun down = quorumctl(scratch.path(), {"cluster", "down", "--dir", dir.string(), "--json"});
  ASSERT_EQ(down.exit_status, 0) << down.err;
  json stopped = json::parse(down.out, nullptr, false);
  EXPECT_EQ(stopped.value("stopped", 0), 8);
  for (pid_t pid : pids) EXPECT_FALSE(process::pid_alive(pid)) << pid;

  CtlRun after = quorumctl(scratch.path(), {"cluster", "status", "--dir", dir.string(), "--cpu-seconds", "0.1"});
  EXPECT_EQ(after.exit_status, 3) << "status exits non-zero when nodes are down";
  CtlRun down_again = quorumctl(scratch.path(), {"cluster", "down", "--dir", dir.string()});
  EXPECT_EQ(down_again.exit_status, 0) << down_again.err;
}

TEST(ClusterUp, WithEtcdStartsOneEtcdThatDownStops) {
  ASSERT_TRUE(process::find_program("etcd").ok()) << "etcd is not installed; run scripts/deps";
  test_support::ScratchDir scratch("quorum-cluster-up");
  const fs::path dir = scratch.path() / "cluster";
  ClusterGuard guard(scratch.path(), dir);
  CtlRun up = quorumctl(scratch.path(), {"cluster", "up", "--dir", dir.string(), "--dcs", "FL,TN", "--nodes-per-dc",
                                         "2", "--etcd", "--quorumd", QUORUM_QUORUMD, "--json"});
  ASSERT_EQ(up.exit_status, 0) << up.err;
  json recorded = json::parse(read_file(dir / "cluster.json"), nullptr, false);
  ASSERT_TRUE(recorded.is_object());
  ASSERT_TRUE(recorded["etcd"].is_object()) << recorded.dump();
  const std::string etcd_url = recorded["etcd"]["url"];
  const pid_t etcd_pid = recorded["etcd"]["pid"];
  EXPECT_TRUE(process::pid_alive(etcd_pid));
  auto healthy = process::etcd_healthy(etcd_url, 5s);
  EXPECT_TRUE(healthy) << healthy.error().message;
  for (const json& node : recorded["nodes"]) {
    // Each node was told about etcd (its command line carries the URL).
    std::ifstream in("/proc/" + std::to_string(node["pid"].get<pid_t>()) + "/cmdline", std::ios::binary);
    std::string command((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(command.find(etcd_url), std::string::npos) << node["name"];
  }

  CtlRun status =
      quorumctl(scratch.path(), {"cluster", "status", "--dir", dir.string(), "--json", "--cpu-seconds", "0.2"});
  ASSERT_EQ(status.exit_status, 0) << status.err << status.out;
  json report = json::parse(status.out, nullptr, false);
  EXPECT_EQ(report["serving"], 4);
  EXPECT_EQ(report["etcd"]["state"], "healthy") << status.out;

  CtlRun down = quorumctl(scratch.path(), {"cluster", "down", "--dir", dir.string(), "--json"});
  ASSERT_EQ(down.exit_status, 0) << down.err;
  EXPECT_EQ(json::parse(down.out, nullptr, false).value("stopped", 0), 5) << down.out;
  EXPECT_FALSE(process::pid_alive(etcd_pid));
  for (const json& node : recorded["nodes"]) EXPECT_FALSE(process::pid_alive(node["pid"].get<pid_t>()));
}

TEST(ClusterUp, ANodeThatCannotStartFailsAndLeavesNothingRunning) {
  test_support::ScratchDir scratch("quorum-cluster-up");
  const fs::path dir = scratch.path() / "cluster";
  ClusterGuard guard(scratch.path(), dir);
  const fs::path fake = scratch.path() / "fake-quorumd";
  // Starts, writes a log line, and never becomes ready except for FL-A-1, which fails.
  std::ofstream(fake) << "#!/bin/sh\n"
                         "echo \"fake quorumd $*\" >&2\n"
                         "case \"$*\" in *FL-A-1*) echo 'fatal: cannot open the store' >&2; exit 1;; esac\n"
                         "exec sleep 60\n";
  fs::permissions(fake, fs::perms::owner_all);
  CtlRun up = quorumctl(scratch.path(), {"cluster", "up", "--dir", dir.string(), "--dcs", "FL,TN", "--nodes-per-dc",
                                         "2", "--quorumd", fake.string(), "--start-timeout", "60"});
  EXPECT_EQ(up.exit_status, 3);
  EXPECT_NE(up.err.find("FL-A-1 did not start"), std::string::npos) << up.err;
  EXPECT_NE(up.err.find("fatal: cannot open the store"), std::string::npos) << "the log's last lines: " << up.err;
  json recorded = json::parse(read_file(dir / "cluster.json"), nullptr, false);
  ASSERT_TRUE(recorded.is_object());
  ASSERT_EQ(recorded["nodes"].size(), 4u);
  for (const json& node : recorded["nodes"]) EXPECT_FALSE(process::pid_alive(node["pid"].get<pid_t>())) << node;
}

TEST(ClusterUp, OddNodesPerDataCenterIsAUsageError) {
  test_support::ScratchDir scratch("quorum-cluster-up");
  CtlRun up = quorumctl(scratch.path(), {"cluster", "up", "--dir", (scratch.path() / "c").string(), "--nodes-per-dc",
                                         "3", "--quorumd", QUORUM_QUORUMD});
  EXPECT_EQ(up.exit_status, 1);
  EXPECT_NE(up.err.find("even"), std::string::npos) << up.err;
  EXPECT_FALSE(fs::exists(scratch.path() / "c" / "cluster.json"));
}

}  // namespace
}  // namespace quorum
