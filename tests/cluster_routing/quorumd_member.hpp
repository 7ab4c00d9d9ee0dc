// One quorumd process of a test cluster on loopback, and the small client
// helpers the multi-process tests share: start it with the embedded topology
// file (optionally a real etcd), wait until it serves, talk HTTP to it, read
// a metric. QUORUMD_PATH and QUORUM_NODE_FIXTURE_DIR come from CMake.
#pragma once

#include <quorum/client/http_client.hpp>
#include <quorum/cluster/topology.hpp>
#include <quorum/process/child_process.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace quorum::test_support {

struct Member {
  std::string name;
  std::string url;  // set by wait_ready()
  std::filesystem::path dir;
  std::optional<process::ChildProcess> child;
  std::vector<std::string> extra_args;  // more quorumd arguments (e.g. --replicated)
};

// Starts `m`'s quorumd: data and logs in m.dir, HTTP on a free port, the
// ledger fixture plugins, one shard, the cluster in `topology_file` (and in
// the etcd at `etcd_url` if not empty).
inline void start_member(Member& m, const std::string& topology_file, const std::string& etcd_url = {}) {
  std::filesystem::create_directories(m.dir);
  std::filesystem::remove(m.dir / "stdout.log");
  process::SpawnOptions options;
  options.program = QUORUMD_PATH;
  options.args = {"--data",     (m.dir / "data").string(),
                  "--http",     "127.0.0.1:0",
                  "--name",     m.name,
                  "--topology", topology_file,
                  "--plugins",  QUORUM_NODE_FIXTURE_DIR,
                  "--shards",   "1"};
  if (!etcd_url.empty()) {
    options.args.push_back("--etcd");
    options.args.push_back(etcd_url);
  }
  options.args.insert(options.args.end(), m.extra_args.begin(), m.extra_args.end());
  options.stdout_file = m.dir / "stdout.log";
  options.stderr_file = m.dir / "quorumd.log";
  auto child = process::ChildProcess::spawn(options);
  ASSERT_TRUE(child.ok()) << child.error().message;
  m.child.emplace(std::move(child).value());
}

// Waits until `m` prints its serving line and records its URL.
inline void wait_member_ready(Member& m) {
  auto line = process::wait_for_line(m.dir / "stdout.log", "quorumd ", std::chrono::seconds(30), &*m.child);
  ASSERT_TRUE(line.ok()) << m.name << ": " << line.error().message << "\n"
                         << process::tail_lines(m.dir / "quorumd.log", 20);
  m.url = line->substr(line->rfind(' ') + 1);
}

inline std::unique_ptr<client::HttpClient> connect_member(const Member& m,
                                                          std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  client::HttpClient::Options options;
  options.timeout = timeout;
  auto c = client::HttpClient::create(m.url, options);
  EXPECT_TRUE(c.ok()) << m.name;
  return c.ok() ? std::move(c).value() : nullptr;
}

// The value of an unlabelled metric on node m (-1 when absent or unreachable).
inline double member_metric(const Member& m, const std::string& name) {
  auto c = connect_member(m);
  if (!c) {
    return -1;
  }
  auto r = c->get("/metrics");
  if (!r.ok() || !r->ok()) {
    return -1;
  }
  const std::string needle = "\n" + name + " ";
  const size_t at = r->body.find(needle);
  if (at == std::string::npos) {
    return -1;
  }
  return std::stod(r->body.substr(at + needle.size()));
}

// Waits until every member reports the same topology epoch (> 0) on two
// reads in a row and returns it, or returns -1 after `timeout`. With etcd the
// epoch is global, but each node learns the joins of the others through its
// watch, so right after start_all() they may still differ.
template <class Members>
double wait_members_agree_on_epoch(const Members& members, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  double agreed = -1;
  int stable_reads = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    double first = -2;
    bool same = true;
    for (const Member& m : members) {
      const double epoch = member_metric(m, "quorum_topology_epoch");
      first = first == -2 ? epoch : first;
      same = same && epoch == first && epoch > 0;
    }
    stable_reads = same && first == agreed ? stable_reads + 1 : (same ? 1 : 0);
    agreed = same ? first : -1;
    if (stable_reads >= 2) {
      return agreed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

// The design's data centers FL, TN, TX, UT, each with one node in zone A
// and one in zone B ("FL-A-1", "FL-B-1", ...), at epoch 1, listening on the
// first 8 of `ports` (loopback).
inline cluster::Topology four_dc_topology(const std::vector<uint16_t>& ports) {
  EXPECT_GE(ports.size(), 8u);
  cluster::Topology topology;
  topology.epoch = 1;
  size_t next = 0;
  for (const std::string dc : {"FL", "TN", "TX", "UT"}) {
    cluster::DataCenter center{dc, {}};
    for (const std::string zone : {"A", "B"}) {
      const uint16_t port = next < ports.size() ? ports[next] : 0;
      ++next;
      center.nodes.push_back({dc + "-" + zone + "-1", zone == "A" ? cluster::Zone::kA : cluster::Zone::kB,
                              "127.0.0.1:" + std::to_string(port), true});
    }
    topology.data_centers.push_back(center);
  }
  return topology;
}

// A Member for every node of `topology`, its directory under `root`.
template <class Members>
void add_members(Members& members, const cluster::Topology& topology, const std::filesystem::path& root) {
  for (const auto& dc : topology.data_centers) {
    for (const auto& node : dc.nodes) {
      members.push_back(Member{node.name, "", root / node.name, std::nullopt, {}});
    }
  }
}

// Starts every member, then waits until each serves.
template <class Members>
void start_all(Members& members, const std::string& topology_file, const std::string& etcd_url = {}) {
  for (Member& m : members) {
    start_member(m, topology_file, etcd_url);
    if (::testing::Test::HasFatalFailure()) {
      return;
    }
  }
  for (Member& m : members) {
    wait_member_ready(m);
  }
}

// Terminates every member still running (SIGTERM, then SIGKILL after 10 s).
template <class Members>
void stop_all(Members& members) {
  for (Member& m : members) {
    if (m.child) {
      (void)m.child->terminate(std::chrono::seconds(10));
    }
  }
}

// The member called `name` among `members` (a vector or deque of Member).
template <class Members>
Member& member_named(Members& members, const std::string& name) {
  for (Member& m : members) {
    if (m.name == name) {
      return m;
    }
  }
  ADD_FAILURE() << "no member " << name;
  return members.front();
}

}  // namespace quorum::test_support
