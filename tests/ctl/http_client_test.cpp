// quorum::client pieces that need no server: URL parsing, percent-encoding,
// error texts, and the unreachable-node error (a closed local port).
#include <quorum/client/http_client.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace quorum::client {
namespace {

TEST(ParseUrl, HostPortAndBase) {
  auto url = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->base_path, "");
  url = parse_url("node-1.example/quorum/");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "node-1.example");
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->base_path, "/quorum");
  url = parse_url("http://[::1]:9000/x");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->base_path, "/x");
}

TEST(ParseUrl, RefusesWhatItCannotUse) {
  EXPECT_FALSE(parse_url("https://node:443"));
  EXPECT_FALSE(parse_url("ftp://node"));
  EXPECT_FALSE(parse_url("http://"));
  EXPECT_FALSE(parse_url("http://node:port"));
  EXPECT_FALSE(parse_url("http://node:1234567"));
  EXPECT_FALSE(parse_url("http://[::1"));
  EXPECT_EQ(parse_url("ftp://node").error().code, ErrorCode::kInvalidArgument);
}

TEST(UrlEncode, KeysBecomeOneSegment) {
  EXPECT_EQ(url_encode("e/2026-11-03/precinct/TN:1@x"), "e%2F2026-11-03%2Fprecinct%2FTN%3A1%40x");
  EXPECT_EQ(url_encode("a b~c_d.e"), "a%20b~c_d.e");
  EXPECT_EQ(url_encode("\xff"), "%FF");
}

TEST(Response, ErrorText) {
  Response response{422, "application/json", "", R"({"error": "rejected by tally: no CVRSnapshot"})"};
  EXPECT_EQ(response.error_text(), "rejected by tally: no CVRSnapshot");
  EXPECT_FALSE(response.ok());
  response = Response{502, "text/plain", "", "bad gateway\n"};
  EXPECT_EQ(response.error_text(), "bad gateway");
  response = Response{404, "", "", ""};
  EXPECT_EQ(response.error_text(), "Not Found");
  EXPECT_TRUE((Response{204, "", "", ""}).ok());
}

TEST(HttpClient, UnreachableIsAnErrorValue) {
  // A port that was free a moment ago: nothing listens there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);
  ::close(fd);

  auto client = HttpClient::create("http://127.0.0.1:" + std::to_string(port), {});
  ASSERT_TRUE(client);
  auto response = (*client)->get("/v1/health");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message.find("refused"), std::string::npos) << response.error().message;
  auto streamed = (*client)->stream("/v1/stream", std::chrono::seconds(1), std::chrono::seconds(1),
                                    [](const SseEvent&) { return true; });
  ASSERT_FALSE(streamed);
  EXPECT_EQ(streamed.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace quorum::client
