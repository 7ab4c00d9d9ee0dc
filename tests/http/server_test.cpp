// The Server over real TCP on 127.0.0.1 (a free port) against a FakeNode:
// keep-alive, body and header limits, malformed requests, 100-continue,
// the connection bound, and the live stream (events, heartbeats, prefix).
// GCC 12 with -fsanitize=address reports a false -Wmaybe-uninitialized in
// Beast's response parser (boost::optional in content_length_unchecked).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "fake_node.hpp"

#include <quorum/http/server.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace quorum::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using nlohmann::json;
using ::testing::HasSubstr;

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    options.port = 0;
    options.stream_heartbeat = std::chrono::milliseconds(200);
    server_ = std::make_unique<Server>(node_, options);
    auto port = server_->start();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }
  void TearDown() override {
    if (server_) {
      server_->stop();
    }
    node_.shutdown();
    server_.reset();
  }

  tcp::socket connect() {
    tcp::socket socket(ioc_);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    socket.set_option(net::socket_base::linger(true, 0));
    return socket;
  }

  static beast_http::response<beast_http::string_body> exchange(tcp::socket& socket, beast_http::verb method,
                                                                const std::string& target, std::string body = "",
                                                                std::string type = "application/json") {
    beast_http::request<beast_http::string_body> req{method, target, 11};
    req.set(beast_http::field::host, "127.0.0.1");
    if (!body.empty()) {
      req.set(beast_http::field::content_type, type);
    }
    req.body() = std::move(body);
    req.prepare_payload();
    beast_http::write(socket, req);
    beast::flat_buffer buffer;
    beast_http::response<beast_http::string_body> res;
    beast_http::read(socket, buffer, res);
    return res;
  }

  static std::string read_raw(tcp::socket& socket, size_t at_least, std::string_view until = {}) {
    std::string out;
    char chunk[4096];
    beast::error_code ec;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.size() < at_least || (!until.empty() && out.find(until) == std::string::npos)) {
      if (std::chrono::steady_clock::now() > deadline) {
        break;
      }
      size_t n = socket.read_some(net::buffer(chunk), ec);
      if (ec) {
        break;
      }
      out.append(chunk, n);
    }
    return out;
  }

  testing::FakeNode node_;
  std::unique_ptr<Server> server_;
  net::io_context ioc_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  tcp::socket socket = connect();
  for (int i = 1; i <= 3; ++i) {
    auto res = exchange(socket, beast_http::verb::post, "/v1/actors/e%2Fk/commands",
                        R"({"id":"b)" + std::to_string(i) + R"(","type":"cvr","data":{}})");
    ASSERT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_EQ(json::parse(res.body())["seq"], i);
    EXPECT_TRUE(res.keep_alive());
  }
  auto health = exchange(socket, beast_http::verb::get, "/v1/health");
  EXPECT_EQ(health.result_int(), 200u);
  auto metrics = exchange(socket, beast_http::verb::get, "/metrics");
  EXPECT_THAT(metrics.body(), HasSubstr("quorum_http_connections_active 1"));
}

TEST_F(ServerTest, BodyOverTheLimitIs413BeforeTheBodyIsRead) {
  ServerOptions options;
  options.body_limit_bytes = 1024;
  start(options);
  tcp::socket socket = connect();
  std::string head =
      "POST /v1/actors/k/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 9000000\r\n\r\n";
  net::write(socket, net::buffer(head));
  std::string reply = read_raw(socket, 12, "\r\n\r\n");
  EXPECT_THAT(reply, HasSubstr("HTTP/1.1 413"));
  std::string rest = read_raw(socket, 1, "}");
  EXPECT_THAT(reply + rest, HasSubstr("over the limit of 1024 bytes"));
}

TEST_F(ServerTest, HugeHeaderIs431AndGarbageIs400) {
  start();
  {
    tcp::socket socket = connect();
    std::string head = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20'000, 'a') + "\r\n\r\n";
    beast::error_code ec;
    net::write(socket, net::buffer(head), ec);
    EXPECT_THAT(read_raw(socket, 12), HasSubstr("HTTP/1.1 431"));
  }
  {
    tcp::socket socket = connect();
    net::write(socket, net::buffer(std::string("BLAH\x01\x02 / HTTP/9\r\n\r\n")));
    EXPECT_THAT(read_raw(socket, 12), HasSubstr("HTTP/1.1 400"));
  }
}

TEST_F(ServerTest, ExpectContinueIsHonoured) {
  start();
  tcp::socket socket = connect();
  std::string body = R"({"type":"t"})";
  std::string head =
      "POST /v1/actors/k/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  net::write(socket, net::buffer(head));
  EXPECT_THAT(read_raw(socket, 12, "\r\n\r\n"), HasSubstr("100 Continue"));
  net::write(socket, net::buffer(body));
  EXPECT_THAT(read_raw(socket, 12, "}"), HasSubstr("HTTP/1.1 200"));
}

// An NDJSON batch of `count` commands for keys e/p<i>, about 200 bytes each.
std::string ndjson_batch(int count, std::string_view id_prefix) {
  std::string body;
  for (int i = 0; i < count; ++i) {
    body += R"({"key":"e/p)" + std::to_string(i % 50) + R"(","id":")" + std::string(id_prefix) + std::to_string(i) +
            R"(","type":"cvr","data":{"CVRSnapshot":[{"@id":"s","ContestId":"mayor","Selection":"alice",)"
            R"("HasIndication":"yes","NumberVotes":1}]}})"
            "\n";
  }
  return body;
}

size_t acked_lines(const std::string& body) {
  size_t n = 0;
  for (size_t at = body.find("\"seq\""); at != std::string::npos; at = body.find("\"seq\"", at + 1)) {
    ++n;
  }
  return n;
}

std::string batch_head(size_t length) {
  return "POST /v1/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
         "Accept: application/x-ndjson\r\nContent-Length: " +
         std::to_string(length) + "\r\n\r\n";
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  tcp::socket socket = connect();
  // Three requests in one write: the bytes after each body belong to the next request.
  std::string one = R"({"id":"p1","type":"cvr"})";
  std::string batch = ndjson_batch(3, "q");
  std::string wire =
      "POST /v1/actors/e%2Fk/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(one.size()) + "\r\n\r\n" + one + batch_head(batch.size()) + batch +
      "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  net::write(socket, net::buffer(wire));
  beast::flat_buffer buffer;
  beast_http::response<beast_http::string_body> first;
  beast_http::read(socket, buffer, first);
  ASSERT_EQ(first.result_int(), 200u) << first.body();
  EXPECT_EQ(json::parse(first.body())["seq"], 1);
  beast_http::response<beast_http::string_body> second;
  beast_http::read(socket, buffer, second);
  ASSERT_EQ(second.result_int(), 200u) << second.body();
  EXPECT_EQ(acked_lines(second.body()), 3u) << second.body();
  beast_http::response<beast_http::string_body> third;
  beast_http::read(socket, buffer, third);
  EXPECT_EQ(third.result_int(), 200u);
  EXPECT_THAT(third.body(), HasSubstr("serving"));
}

TEST_F(ServerTest, LargeBodyArrivingInPiecesIsReadWhole) {
  start();
  tcp::socket socket = connect();
  socket.set_option(tcp::no_delay(true));
  std::string body = ndjson_batch(1500, "big");  // ~250 KB: several socket reads
  ASSERT_GT(body.size(), size_t{200'000});
  // Part of the body with the header, the rest in pieces with pauses, the
  // last piece together with the next request.
  std::string wire = batch_head(body.size()) + body + "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  const size_t cuts[] = {batch_head(0).size() + 100, 70'000, 160'000, wire.size()};
  size_t at = 0;
  for (size_t cut : cuts) {
    net::write(socket, net::buffer(wire.data() + at, std::min(cut, wire.size()) - at));
    at = std::min(cut, wire.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  beast::flat_buffer buffer;
  beast_http::response<beast_http::string_body> answer;
  beast_http::read(socket, buffer, answer);
  ASSERT_EQ(answer.result_int(), 200u) << answer.body().substr(0, 300);
  EXPECT_EQ(acked_lines(answer.body()), 1500u);
  EXPECT_TRUE(answer.keep_alive());
  beast_http::response<beast_http::string_body> health;
  beast_http::read(socket, buffer, health);
  EXPECT_EQ(health.result_int(), 200u);
  // Every command arrived intact (a byte out of place would fail its JSON).
  EXPECT_EQ(node_.submitted().size(), 1500u);
}

TEST_F(ServerTest, ChunkedBodiesAreReadAndBoundedToo) {
  ServerOptions options;
  options.body_limit_bytes = 1024;
  start(options);
  {
    tcp::socket socket = connect();
    std::string body = R"({"id":"c1","type":"cvr"})";
    std::string wire =
        "POST /v1/actors/e%2Fchunked/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    auto hex = [](size_t n) {
      char text[16];
      std::snprintf(text, sizeof text, "%zx", n);
      return std::string(text);
    };
    wire += hex(10) + "\r\n" + body.substr(0, 10) + "\r\n" + hex(body.size() - 10) + "\r\n" + body.substr(10) +
            "\r\n0\r\n\r\n";
    net::write(socket, net::buffer(wire));
    beast::flat_buffer buffer;
    beast_http::response<beast_http::string_body> answer;
    beast_http::read(socket, buffer, answer);
    ASSERT_EQ(answer.result_int(), 200u) << answer.body();
    EXPECT_EQ(json::parse(answer.body())["key"], "e/chunked");
    // The connection goes on after a chunked request.
    EXPECT_EQ(exchange(socket, beast_http::verb::get, "/v1/health").result_int(), 200u);
  }
  {
    tcp::socket socket = connect();
    std::string wire =
        "POST /v1/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
        "Transfer-Encoding: chunked\r\n\r\n800\r\n" +
        std::string(0x800, ' ') + "\r\n0\r\n\r\n";
    beast::error_code ec;
    net::write(socket, net::buffer(wire), ec);
    std::string reply = read_raw(socket, 12, "}");
    EXPECT_THAT(reply, HasSubstr("HTTP/1.1 413"));
    EXPECT_THAT(reply, HasSubstr("over the limit of 1024 bytes"));
  }
}

TEST_F(ServerTest, BodyAtTheLimitIsReadAndABodyCutShortClosesTheConnection) {
  ServerOptions options;
  options.body_limit_bytes = 1024;
  start(options);
  {
    tcp::socket socket = connect();
    std::string body = R"({"id":"l1","type":"cvr","data":")" + std::string(1024 - 34, 'x') + R"("})";
    ASSERT_EQ(body.size(), 1024u);
    auto answer = exchange(socket, beast_http::verb::post, "/v1/actors/e%2Flimit/commands", body);
    EXPECT_EQ(answer.result_int(), 200u) << answer.body();
  }
  {
    tcp::socket socket = connect();
    std::string head =
        "POST /v1/actors/e%2Fcut/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 500\r\n\r\n{\"id\":";
    net::write(socket, net::buffer(head));
    socket.shutdown(tcp::socket::shutdown_send);
    // No answer: the connection just ends.
    EXPECT_EQ(read_raw(socket, 1), "");
  }
  // The server is fine and nothing of the cut request reached the node.
  tcp::socket socket = connect();
  EXPECT_EQ(exchange(socket, beast_http::verb::get, "/v1/health").result_int(), 200u);
  for (const node::Command& c : node_.submitted()) {
    EXPECT_NE(c.key, "e/cut");
  }
}

TEST_F(ServerTest, ConnectionsOverTheBoundGet503) {
  ServerOptions options;
  options.max_connections = 2;
  start(options);
  tcp::socket a = connect();
  tcp::socket b = connect();
  EXPECT_EQ(exchange(a, beast_http::verb::get, "/v1/health").result_int(), 200u);
  EXPECT_EQ(exchange(b, beast_http::verb::get, "/v1/health").result_int(), 200u);
  tcp::socket c = connect();
  std::string reply = read_raw(c, 12, "}");
  EXPECT_THAT(reply, HasSubstr("HTTP/1.1 503"));
  EXPECT_THAT(reply, HasSubstr("Retry-After: 1"));
  EXPECT_THAT(reply, HasSubstr("too many connections"));
}

TEST_F(ServerTest, StreamDeliversMatchingCommitsAndHeartbeats) {
  start();
  tcp::socket stream = connect();
  net::write(stream, net::buffer(std::string("GET /v1/stream?prefix=e%2Fdemo%2F HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string head = read_raw(stream, 1, "retry:");
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(head, HasSubstr("text/event-stream"));
  for (int i = 0; i < 100 && node_.subscribers() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(node_.subscribers(), 1u);
  tcp::socket writer = connect();
  exchange(writer, beast_http::verb::post, "/v1/actors/other/commands", R"({"id":"o","type":"cvr"})");
  exchange(writer, beast_http::verb::post, "/v1/actors/e%2Fdemo%2Fp1/commands", R"({"id":"x1","type":"cvr"})");
  std::string events = read_raw(stream, 1, "\n\n");
  EXPECT_THAT(events, HasSubstr("event: commit"));
  EXPECT_THAT(events, HasSubstr("\"key\":\"e/demo/p1\""));
  EXPECT_THAT(events, HasSubstr("\"id\":\"x1\""));
  EXPECT_THAT(events, ::testing::Not(HasSubstr("\"other\"")));
  EXPECT_THAT(read_raw(stream, 1, ": keep-alive"), HasSubstr(": keep-alive"));
  // The client leaves: the subscription goes away.
  stream.close();
  for (int i = 0; i < 200 && node_.subscribers() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(node_.subscribers(), 0u);
}

TEST_F(ServerTest, StreamsOverTheBoundGet503AndStopClosesStreams) {
  ServerOptions options;
  options.max_streams = 1;
  start(options);
  tcp::socket first = connect();
  net::write(first, net::buffer(std::string("GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_THAT(read_raw(first, 1, "retry:"), HasSubstr("200"));
  tcp::socket second = connect();
  net::write(second, net::buffer(std::string("GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_THAT(read_raw(second, 12, "}"), HasSubstr("HTTP/1.1 503"));
  server_->stop();
  char byte;
  beast::error_code ec;
  while (!ec) {
    first.read_some(net::buffer(&byte, 1), ec);
  }
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
}

TEST_F(ServerTest, StartFailsCleanlyOnABadAddress) {
  ServerOptions options;
  options.address = "not-an-address";
  Server server(node_, options);
  auto port = server.start();
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.error().message, HasSubstr("bad listen address"));
}

}  // namespace
}  // namespace quorum::http
