// The plugin routes of docs/api.md through Api against a FakeNode whose
// PluginHost loads the counter fixtures of tests/host: load, swap, dark,
// divergences, promote, drop, rollback, and the refusals (400 for a file the
// host refuses, 404 unknown, 409 wrong state).
#include "fake_node.hpp"

#include <quorum/http/api.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <future>
#include <string>

namespace quorum::http {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string fixture(const std::string& name) { return std::string(QUORUM_PLUGIN_DIR) + "/fixture_" + name + ".so"; }

class PluginRoutes : public ::testing::Test {
 protected:
  void TearDown() override { node_.shutdown(); }
  std::pair<unsigned, json> call(beast_http::verb method, const std::string& target, const std::string& body = "") {
    Request req{method, target, 11};
    if (!body.empty()) {
      req.set(beast_http::field::content_type, "application/json");
    }
    req.body() = body;
    req.prepare_payload();
    std::promise<Response> promise;
    auto future = promise.get_future();
    (void)api_.handle(req, [&promise](Response r) { promise.set_value(std::move(r)); });
    Response r = future.get();
    return {r.result_int(), json::parse(r.body())};
  }
  std::pair<unsigned, json> post(const std::string& target, const std::string& body = "") {
    return call(beast_http::verb::post, target, body);
  }
  std::pair<unsigned, json> get(const std::string& target) { return call(beast_http::verb::get, target); }

  testing::FakeNode node_;
  Api api_{node_, ApiOptions{}};
};

TEST_F(PluginRoutes, LoadSwapDarkPromoteRollbackDrop) {
  auto [s1, v1] = post("/v1/plugins/load", json{{"name", "counter"}, {"path", fixture("counter_v1")}}.dump());
  ASSERT_EQ(s1, 200u) << v1;
  EXPECT_EQ(v1["name"], "counter");
  EXPECT_EQ(v1["semver"], "1.0.0");
  EXPECT_EQ(v1["sha256"].get<std::string>().size(), 64u);
  uint64_t id1 = v1["version"];
  auto [s2, v2] = post("/v1/plugins/load", json{{"path", fixture("counter_v2")}}.dump());  // name from the file
  ASSERT_EQ(s2, 200u) << v2;
  uint64_t id2 = v2["version"];

  auto [sa, slot] = post("/v1/plugins/counter/swap", json{{"version", id1}}.dump());
  ASSERT_EQ(sa, 200u) << slot;
  EXPECT_EQ(slot["active"], id1);
  auto [sd, dark] = post("/v1/plugins/counter/dark", json{{"version", id2}}.dump());
  ASSERT_EQ(sd, 200u) << dark;
  EXPECT_EQ(dark["candidate"], id2);
  auto [sv, div] = get("/v1/plugins/counter/divergences");
  ASSERT_EQ(sv, 200u);
  EXPECT_EQ(div["total"], 0);
  EXPECT_TRUE(div["divergences"].is_array());
  auto [sp, promoted] = post("/v1/plugins/counter/promote");
  ASSERT_EQ(sp, 200u) << promoted;
  EXPECT_EQ(promoted["active"], id2);
  EXPECT_EQ(promoted["previous"], id1);
  auto [sr, rolled] = post("/v1/plugins/counter/rollback");
  ASSERT_EQ(sr, 200u) << rolled;
  EXPECT_EQ(rolled["active"], id1);
  EXPECT_EQ(post("/v1/plugins/counter/dark", json{{"version", id2}}.dump()).first, 200u);
  auto [sx, dropped] = post("/v1/plugins/counter/drop");
  ASSERT_EQ(sx, 200u);
  EXPECT_TRUE(dropped["candidate"].is_null());

  auto [sl, list] = get("/v1/plugins");
  ASSERT_EQ(sl, 200u);
  ASSERT_EQ(list["plugins"].size(), 1u);
  EXPECT_EQ(list["plugins"][0]["versions"].size(), 2u);
  EXPECT_EQ(list["plugins"][0]["versions"][0]["state"], "active");
  auto [sg, one] = get("/v1/plugins/counter");
  EXPECT_EQ(sg, 200u);
  EXPECT_EQ(one["name"], "counter");
}

TEST_F(PluginRoutes, Refusals) {
  auto [s1, abi] = post("/v1/plugins/load", json{{"name", "raw"}, {"path", fixture("raw_abi2")}}.dump());
  EXPECT_EQ(s1, 400u);
  EXPECT_THAT(abi["error"].get<std::string>(), HasSubstr("ABI"));
  auto [s2, missing] = post("/v1/plugins/load", json{{"name", "counter"}, {"path", "/no/such.so"}}.dump());
  EXPECT_EQ(s2, 400u) << missing;
  auto [s3, v1] = post("/v1/plugins/load", json{{"name", "counter"}, {"path", fixture("counter_v1")}}.dump());
  ASSERT_EQ(s3, 200u);
  auto [s4, promote] = post("/v1/plugins/counter/promote");
  EXPECT_EQ(s4, 409u);
  EXPECT_THAT(promote["error"].get<std::string>(), HasSubstr("no dark candidate"));
  EXPECT_EQ(post("/v1/plugins/counter/swap", json{{"version", 999}}.dump()).first, 404u);
  EXPECT_EQ(post("/v1/plugins/other/rollback").first, 404u);
}

}  // namespace
}  // namespace quorum::http
