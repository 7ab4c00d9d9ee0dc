// EtcdServer against a real etcd (label cluster; needs etcd from scripts/deps).
#include <quorum/process/etcd_server.hpp>

#include "support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace quorum::process {
namespace {

using namespace std::chrono_literals;

TEST(EtcdServer, StartsHealthyAndStops) {
  ASSERT_TRUE(find_program("etcd").ok()) << "etcd is not installed; run scripts/deps";
  test_support::ScratchDir dir("quorum-etcd");
  EtcdOptions options;
  options.dir = dir.path();
  options.start_timeout = 60s;
  auto server = EtcdServer::start(options);
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_EQ(server->client_url().rfind("http://127.0.0.1:", 0), 0u) << server->client_url();
  pid_t pid = server->process().pid();
  EXPECT_TRUE(pid_alive(pid));
  auto healthy = etcd_healthy(server->client_url(), 5s);
  EXPECT_TRUE(healthy) << healthy.error().message;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "etcd.log"));
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "data" / "member"));

  ASSERT_TRUE(server->stop());
  EXPECT_FALSE(pid_alive(pid));
  EXPECT_TRUE(server->process().exit_status().has_value());
  EXPECT_FALSE(etcd_healthy(server->client_url(), 1s));
}

}  // namespace
}  // namespace quorum::process
