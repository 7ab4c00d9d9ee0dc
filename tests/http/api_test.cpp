// Unit tests of the routes of docs/api.md (Api over a FakeNode, no sockets):
// every endpoint, every bad-input case with its status and message, auth,
// 413, 415 and 503 + Retry-After.
#include "fake_node.hpp"

#include <quorum/http/api.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <map>
#include <string>

namespace quorum::http {
namespace {

using nlohmann::json;
using testing::FakeNode;
using ::testing::HasSubstr;

std::string mp(const json& value) {
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  return {bytes.begin(), bytes.end()};
}

struct Answer {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  json js() const { return json::parse(body); }
  std::string error() const { return js().value("error", std::string("<no error field>")); }
};

class ApiTest : public ::testing::Test {
 protected:
  explicit ApiTest(std::string token = "") : api_(node_, ApiOptions{std::move(token), 1 << 20}) {}
  void TearDown() override { node_.shutdown(); }

  Answer request(beast_http::verb method, std::string target, std::string body = "",
                 std::string content_type = "application/json", std::map<std::string, std::string> headers = {}) {
    Request req{method, target, 11};
    if (!content_type.empty()) {
      req.set(beast_http::field::content_type, content_type);
    }
    for (auto& [name, value] : headers) {
      req.set(name, value);
    }
    req.body() = std::move(body);
    req.prepare_payload();
    auto promise = std::make_shared<std::promise<Response>>();
    auto future = promise->get_future();
    auto stream = api_.handle(req, [promise](Response r) { promise->set_value(std::move(r)); });
    Answer answer;
    if (stream) {
      answer.status = 1;  // marks "stream"
      answer.body = stream->prefix;
      return answer;
    }
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer for " << target;
      return answer;
    }
    Response response = future.get();
    answer.status = response.result_int();
    answer.body = response.body();
    for (auto& field : response) {
      answer.headers[std::string(field.name_string())] = std::string(field.value());
    }
    return answer;
  }
  Answer get(std::string target) { return request(beast_http::verb::get, std::move(target), "", ""); }
  Answer post(std::string target, std::string body, std::string content_type = "application/json",
              std::map<std::string, std::string> headers = {}) {
    return request(beast_http::verb::post, std::move(target), std::move(body), std::move(content_type),
                   std::move(headers));
  }

  FakeNode node_;
  Api api_;
};

TEST_F(ApiTest, SubmitJsonThenRetryIsDuplicate) {
  Answer a = post("/v1/actors/e%2Fdemo%2Fp1/commands", R"({"id":"b-1","type":"cvr","data":{"x":1}})");
  ASSERT_EQ(a.status, 200u) << a.body;
  EXPECT_EQ(a.js()["key"], "e/demo/p1");
  EXPECT_EQ(a.js()["seq"], 1);
  EXPECT_EQ(a.js()["hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(a.js()["duplicate"], false);
  EXPECT_EQ(a.headers["Content-Type"], "application/json");
  Answer again = post("/v1/actors/e%2Fdemo%2Fp1/commands", R"({"id":"b-1","type":"cvr","data":{"x":1}})");
  EXPECT_EQ(again.js()["seq"], 1);
  EXPECT_EQ(again.js()["duplicate"], true);
  auto submitted = node_.submitted();
  ASSERT_EQ(submitted.size(), 2u);
  EXPECT_EQ(json::from_msgpack(submitted[0].data), json::parse(R"({"x":1})"));
}

TEST_F(ApiTest, SubmitUnencodedSlashesAndMsgpack) {
  Answer a = post("/v1/actors/e/demo/p2/commands", mp({{"id", "m-1"}, {"type", "cvr"}, {"data", {1, 2}}}),
                  "application/msgpack");
  ASSERT_EQ(a.status, 200u) << a.body;
  EXPECT_EQ(a.js()["key"], "e/demo/p2");
  Answer charset = post("/v1/actors/k/commands", R"({"type":"t"})", "Application/JSON; charset=utf-8");
  EXPECT_EQ(charset.status, 200u) << charset.body;
}

TEST_F(ApiTest, SubmitBadInputs) {
  struct Case {
    std::string target, body, type;
    unsigned status;
    std::string fragment;
  };
  std::vector<Case> cases = {
      {"/v1/actors/k/commands", "{", "application/json", 400, "malformed JSON"},
      {"/v1/actors/k/commands", "\xc1", "application/msgpack", 400, "malformed msgpack"},
      {"/v1/actors/k/commands", R"({"id":"x"})", "application/json", 400, "missing field 'type'"},
      {"/v1/actors/k/commands", R"({"type":"Bad Type"})", "application/json", 400, "[a-z0-9_.-]"},
      {"/v1/actors/k/commands", R"({"type":"t","x":1})", "application/json", 400, "unknown command field 'x'"},
      {"/v1/actors/bad%20key/commands", R"({"type":"t"})", "application/json", 400, "keys use only"},
      {"/v1/actors/a%2F%2Fb/commands", R"({"type":"t"})", "application/json", 400, "empty segment"},
      {"/v1/actors/k/commands", R"({"type":"t"})", "text/plain", 415, "Content-Type"},
      {"/v1/actors/k/commands", R"({"type":"t"})", "", 415, "Content-Type"},
      {"/v1/actors/k/commands", R"({"type":"t"})", "application/x-ndjson", 415, "Content-Type"},
      {"/v1/actors/k/commands", R"({"type":"t","data":")" + std::string(300'000, 'x') + "\"}", "application/json", 413,
       "field 'data'"},
      {"/v1/actors/k/commands", std::string(2 << 20, ' '), "application/json", 413, "the limit is 1048576"},
  };
  for (const Case& c : cases) {
    Answer a = post(c.target, c.body, c.type);
    EXPECT_EQ(a.status, c.status) << c.target << " " << c.body.substr(0, 40);
    EXPECT_THAT(a.error(), HasSubstr(c.fragment)) << c.body.substr(0, 40);
  }
  EXPECT_TRUE(node_.submitted().empty());  // nothing bad reached the node
}

TEST_F(ApiTest, HandlerRejectionIs422) {
  Answer a = post("/v1/actors/k/commands", R"({"type":"reject"})");
  EXPECT_EQ(a.status, 422u);
  EXPECT_THAT(a.error(), HasSubstr("rejected by tally"));
}

TEST_F(ApiTest, OverloadAndUnavailableAre503WithRetryAfter) {
  node_.fail_next(make_error(ErrorCode::kResourceExhausted, "too many commands in flight"));
  Answer a = post("/v1/actors/k/commands", R"({"type":"t"})");
  EXPECT_EQ(a.status, 503u);
  EXPECT_EQ(a.headers["Retry-After"], "1");
  EXPECT_THAT(a.error(), HasSubstr("in flight"));
  node_.fail_next(make_error(ErrorCode::kUnavailable, "actor 'k' refuses service: broken hash chain at seq 3"));
  Answer b = post("/v1/actors/k/commands", R"({"type":"t"})");
  EXPECT_EQ(b.status, 503u);
  EXPECT_EQ(b.headers["Retry-After"], "1");
  EXPECT_THAT(b.error(), HasSubstr("broken hash chain"));
}

TEST_F(ApiTest, BatchNdjsonWithPerLineResults) {
  std::string body = R"({"key":"a","id":"1","type":"t"})"
                     "\nnot json\n"
                     R"({"key":"b","type":"reject"})"
                     "\n"
                     R"({"key":"a","id":"1","type":"t"})"
                     "\n";
  Answer a = post("/v1/commands", body, "application/x-ndjson");
  ASSERT_EQ(a.status, 200u) << a.body;
  json results = a.js()["results"];
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0]["seq"], 1);
  EXPECT_EQ(results[1]["status"], 400);
  EXPECT_THAT(results[1]["error"].get<std::string>(), HasSubstr("line 2: malformed JSON"));
  EXPECT_EQ(results[2]["status"], 422);
  EXPECT_EQ(results[2]["key"], "b");
  EXPECT_EQ(results[3]["duplicate"], true);
}

TEST_F(ApiTest, BatchNdjsonOutAndMsgpackAndJsonIn) {
  Answer a = post("/v1/commands", "{\"key\":\"a\",\"type\":\"t\"}\n{\"key\":\"b\",\"type\":\"t\"}\n",
                  "application/x-ndjson", {{"Accept", "application/x-ndjson"}});
  ASSERT_EQ(a.status, 200u);
  EXPECT_EQ(a.headers["Content-Type"], "application/x-ndjson");
  EXPECT_EQ(std::count(a.body.begin(), a.body.end(), '\n'), 2);
  Answer m = post("/v1/commands", mp(json::array({{{"key", "c"}, {"type", "t"}}, 7})), "application/msgpack");
  ASSERT_EQ(m.status, 200u);
  EXPECT_EQ(m.js()["results"][0]["key"], "c");
  EXPECT_EQ(m.js()["results"][1]["status"], 400);
  Answer j = post("/v1/commands", R"([{"key":"d","type":"t"}])", "application/json");
  ASSERT_EQ(j.status, 200u);
  EXPECT_EQ(j.js()["results"][0]["seq"], 1);
}

TEST_F(ApiTest, BatchWholeRequestErrors) {
  EXPECT_EQ(post("/v1/commands", "", "application/x-ndjson").status, 400u);
  EXPECT_EQ(post("/v1/commands", "\x92", "application/msgpack").status, 400u);
  EXPECT_THAT(post("/v1/commands", mp({{"key", "a"}}), "application/msgpack").error(), HasSubstr("array"));
  EXPECT_EQ(post("/v1/commands", "x", "text/csv").status, 415u);
  std::string many;
  for (int i = 0; i <= 10'000; ++i) {
    many += "{}\n";
  }
  Answer a = post("/v1/commands", many, "application/x-ndjson");
  EXPECT_EQ(a.status, 413u);
  EXPECT_THAT(a.error(), HasSubstr("at most 10000"));
}

TEST_F(ApiTest, ReadActorAndLog) {
  ASSERT_EQ(post("/v1/actors/e%2Fp/commands", R"({"id":"1","type":"cvr","data":{"a":1}})").status, 200u);
  ASSERT_EQ(post("/v1/actors/e%2Fp/commands", R"({"id":"2","type":"cvr","data":{"a":2}})").status, 200u);
  Answer view = get("/v1/actors/e%2Fp");
  ASSERT_EQ(view.status, 200u) << view.body;
  EXPECT_EQ(view.js()["seq"], 2);
  EXPECT_EQ(view.js()["projections"]["counter"]["value"]["count"], 1);
  EXPECT_EQ(view.js()["projections"]["counter"]["version"], "1.0.0");
  Answer log = get("/v1/actors/e%2Fp/log?from=2&limit=5");
  ASSERT_EQ(log.status, 200u) << log.body;
  EXPECT_EQ(log.js()["key"], "e/p");
  ASSERT_EQ(log.js()["entries"].size(), 1u);
  EXPECT_EQ(log.js()["entries"][0]["data"]["a"], 2);
  EXPECT_EQ(log.js()["entries"][0]["prev_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(node_.last_log_request(), (std::pair<uint64_t, size_t>{2, 5}));
  Answer defaults = get("/v1/actors/e/p/log");
  EXPECT_EQ(defaults.js()["entries"].size(), 2u);
  EXPECT_EQ(node_.last_log_request(), (std::pair<uint64_t, size_t>{1, 100}));
}

TEST_F(ApiTest, ReadBadInputs) {
  Answer missing = get("/v1/actors/nobody");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_THAT(missing.error(), HasSubstr("no entries"));
  EXPECT_EQ(get("/v1/actors/nobody/log").status, 404u);
  EXPECT_EQ(get("/v1/actors/bad%20key").status, 400u);
  EXPECT_THAT(get("/v1/actors/k/log?from=0").error(), HasSubstr("'from'"));
  EXPECT_THAT(get("/v1/actors/k/log?from=x").error(), HasSubstr("'from'"));
  EXPECT_THAT(get("/v1/actors/k/log?limit=1001").error(), HasSubstr("'limit' must be 1..1000"));
  EXPECT_THAT(get("/v1/actors/k/log?limit=0").error(), HasSubstr("'limit'"));
  EXPECT_THAT(get("/v1/actors/k/log?limit=-1").error(), HasSubstr("'limit'"));
  EXPECT_THAT(get("/v1/actors/k/log?bogus=1").error(), HasSubstr("unknown query parameter 'bogus'"));
  EXPECT_EQ(get("/v1/actors/k/log?from=1e3").status, 400u);
}

TEST_F(ApiTest, UnknownRouteAndWrongMethod) {
  Answer a = get("/v2/nothing");
  EXPECT_EQ(a.status, 404u);
  EXPECT_THAT(a.error(), HasSubstr("no route /v2/nothing"));
  EXPECT_EQ(get("/").status, 200u);  // the live results page (docs/api.md "Results")
  EXPECT_EQ(post("/", "").status, 405u);
  EXPECT_EQ(get("/v1/actors/").status, 404u);
  Answer m = get("/v1/actors/k/commands");
  EXPECT_EQ(m.status, 405u);
  EXPECT_EQ(m.headers["Allow"], "POST");
  EXPECT_EQ(post("/v1/health", "").status, 405u);
  EXPECT_EQ(post("/metrics", "").status, 405u);
  EXPECT_EQ(post("/v1/actors/k", "{}").status, 405u);
  EXPECT_EQ(post("/v1/actors/k/log", "{}").status, 405u);
  EXPECT_EQ(get("/v1/commands").status, 405u);
  EXPECT_EQ(request(beast_http::verb::delete_, "/v1/plugins").status, 405u);
  EXPECT_EQ(get("/v1/plugins/tally/swap").status, 405u);
  EXPECT_EQ(post("/v1/stream", "").status, 405u);
  EXPECT_EQ(get("/v1/plugins/tally/frobnicate").status, 404u);
}

TEST_F(ApiTest, Health) {
  Answer a = get("/v1/health");
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.js()["status"], "serving");
  EXPECT_EQ(a.js()["node"], "fake-1");
  EXPECT_EQ(a.js()["actors_active"], 3);
  EXPECT_EQ(a.js()["uptime_ms"], 1234);
  node_.serving = false;
  Answer starting = get("/v1/health");
  EXPECT_EQ(starting.status, 503u);
  EXPECT_EQ(starting.js()["status"], "starting");
  api_.set_stopping();
  EXPECT_EQ(get("/v1/health").js()["status"], "stopping");
}

TEST_F(ApiTest, MetricsIncludeNodeAndHttp) {
  get("/nope");
  Answer a = get("/metrics");
  EXPECT_EQ(a.status, 200u);
  EXPECT_THAT(a.headers["Content-Type"], HasSubstr("text/plain"));
  EXPECT_THAT(a.body, HasSubstr("quorum_commits_total 7"));
  EXPECT_THAT(a.body, HasSubstr("quorum_http_requests_total{code=\"404\"} 1"));
  EXPECT_THAT(a.body, HasSubstr("quorum_http_connections_active"));
}

TEST_F(ApiTest, StreamRoute) {
  Answer a = get("/v1/stream?prefix=e%2Fdemo%2F");
  EXPECT_EQ(a.status, 1u);
  EXPECT_EQ(a.body, "e/demo/");
  EXPECT_EQ(get("/v1/stream").status, 1u);
  Answer bad = get("/v1/stream?prefix=a%20b");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_THAT(bad.error(), HasSubstr("'prefix'"));
}

TEST_F(ApiTest, PluginsListAndErrors) {
  Answer list = get("/v1/plugins");
  ASSERT_EQ(list.status, 200u);
  EXPECT_TRUE(list.js()["plugins"].is_array());
  Answer unknown = get("/v1/plugins/nope");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(get("/v1/plugins/nope/divergences").status, 404u);
  EXPECT_EQ(post("/v1/plugins/nope/promote", "").status, 404u);
  EXPECT_EQ(post("/v1/plugins/nope/rollback", "").status, 404u);
  EXPECT_EQ(post("/v1/plugins/nope/drop", "").status, 404u);
  EXPECT_EQ(post("/v1/plugins/nope/swap", R"({"version":1})").status, 404u);
  EXPECT_THAT(post("/v1/plugins/nope/swap", R"({"version":"x"})").error(), HasSubstr("{\"version\": <id>}"));
  EXPECT_EQ(post("/v1/plugins/nope/dark", "{", "application/json").status, 400u);
  EXPECT_EQ(post("/v1/plugins/nope/swap", "{}", "text/plain").status, 415u);
  EXPECT_THAT(post("/v1/plugins/load", R"({"name":"x"})").error(), HasSubstr("field 'path'"));
  EXPECT_EQ(post("/v1/plugins/load", "nope").status, 400u);
  EXPECT_EQ(post("/v1/plugins/load", "{}", "text/plain").status, 415u);
  Answer missing = post("/v1/plugins/load", R"({"name":"x","path":"/nonexistent/x-1.0.0.so"})");
  EXPECT_GE(missing.status, 400u);
  EXPECT_LT(missing.status, 500u);
}

TEST(Helpers, PercentDecodeAndSecureEquals) {
  EXPECT_EQ(percent_decode("a%2Fb%2fc", false), "a/b/c");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("%zz%4", false), "%zz%4");
  EXPECT_EQ(percent_decode("%41", false), "A");
  EXPECT_TRUE(secure_equals("token", "token"));
  EXPECT_FALSE(secure_equals("token", "tokem"));
  EXPECT_FALSE(secure_equals("token", "token2"));
  EXPECT_FALSE(secure_equals("", "x"));
  EXPECT_TRUE(secure_equals("", ""));
  EXPECT_EQ(http_status(ErrorCode::kRejected), 422u);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404u);
  EXPECT_EQ(http_status(ErrorCode::kResourceExhausted), 503u);
  EXPECT_EQ(http_status(ErrorCode::kIncompatible), 400u);
}

class AuthTest : public ApiTest {
 protected:
  AuthTest() : ApiTest("s3cret") {}
};

TEST_F(AuthTest, PostsNeedTheToken) {
  Answer none = post("/v1/actors/k/commands", R"({"type":"t"})");
  EXPECT_EQ(none.status, 401u);
  EXPECT_THAT(none.error(), HasSubstr("Authorization: Bearer"));
  Answer basic =
      post("/v1/actors/k/commands", R"({"type":"t"})", "application/json", {{"Authorization", "Basic czNjcmV0"}});
  EXPECT_EQ(basic.status, 401u);
  Answer wrong =
      post("/v1/actors/k/commands", R"({"type":"t"})", "application/json", {{"Authorization", "Bearer s3cre"}});
  EXPECT_EQ(wrong.status, 403u);
  EXPECT_THAT(wrong.error(), HasSubstr("wrong bearer token"));
  Answer right =
      post("/v1/actors/k/commands", R"({"type":"t"})", "application/json", {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(right.status, 200u);
  EXPECT_EQ(post("/v1/commands", "{}", "application/x-ndjson").status, 401u);
  EXPECT_EQ(post("/v1/plugins/load", "{}").status, 401u);
  EXPECT_EQ(post("/v1/plugins/tally/rollback", "").status, 401u);
  EXPECT_EQ(post("/v1/plugins/tally/rollback", "", "", {{"Authorization", "Bearer x"}}).status, 403u);
  // Reads stay public.
  EXPECT_EQ(get("/v1/actors/k").status, 200u);
  EXPECT_EQ(get("/v1/health").status, 200u);
  EXPECT_EQ(get("/v1/plugins").status, 200u);
}

}  // namespace
}  // namespace quorum::http
