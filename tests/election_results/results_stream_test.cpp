// GET /v1/results/events through the real http::Server over loopback TCP,
// with the results fixture in a ProjectionNode.
#include "election_results/fixture.hpp"
#include "election_results/projection_node.hpp"

#include <quorum/http/server.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace quorum::election {
namespace {

using nlohmann::json;

// A minimal SSE reader over a plain socket (each event as soon as its bytes
// arrive): GET target, then events until `on_event` returns false or
// `timeout` passes. Returns the response's status line.
std::string read_events(uint16_t port, const std::string& target, std::chrono::milliseconds timeout,
                        const std::function<bool(const std::string& event, const std::string& data)>& on_event) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  const auto end = std::chrono::steady_clock::now() + timeout;
  std::string buffer, status;
  bool header_done = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "timed out reading " << target;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char chunk[4096];
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got <= 0) {
      break;
    }
    buffer.append(chunk, static_cast<size_t>(got));
    if (!header_done) {
      const size_t blank = buffer.find("\r\n\r\n");
      if (blank == std::string::npos) {
        continue;
      }
      status = buffer.substr(0, buffer.find("\r\n"));
      buffer.erase(0, blank + 4);
      header_done = true;
    }
    bool stop = false;
    for (size_t blank = buffer.find("\n\n"); blank != std::string::npos && !stop; blank = buffer.find("\n\n")) {
      const std::string block = buffer.substr(0, blank);
      buffer.erase(0, blank + 2);
      std::string event, data;
      size_t line_start = 0;
      while (line_start <= block.size()) {
        size_t newline = block.find('\n', line_start);
        const std::string line =
            block.substr(line_start, newline == std::string::npos ? std::string::npos : newline - line_start);
        if (line.rfind("event: ", 0) == 0) {
          event = line.substr(7);
        } else if (line.rfind("data: ", 0) == 0) {
          data += line.substr(6);
        }
        if (newline == std::string::npos) {
          break;
        }
        line_start = newline + 1;
      }
      if (!event.empty()) {
        stop = !on_event(event, data);
      }
    }
    if (stop) {
      break;
    }
  }
  ::close(fd);
  return status;
}

// /v1/results/events over real TCP: the first event at once, the next only
// when the results change, errors as `event: error`.
TEST(ResultsLive, EventsStreamSendsWhenChanged) {
  testing::ProjectionNode node(testing::actors(1));
  http::ServerOptions options;
  options.port = 0;
  options.stream_heartbeat = std::chrono::milliseconds(300);
  http::Server server(node, options);
  Result<uint16_t> port = server.start();
  ASSERT_TRUE(port.ok());
  std::vector<json> events;
  std::thread change;
  const auto started = std::chrono::steady_clock::now();
  std::string status = read_events(*port, "/v1/results/events?election=demo-2026", std::chrono::seconds(15),
                                   [&](const std::string& event, const std::string& data) {
                                     EXPECT_EQ(event, "results") << data;
                                     events.push_back(json::parse(data));
                                     if (events.size() == 1) {
                                       // Unchanged for ~2 s (about two recomputes): no event; then phase 2.
                                       change = std::thread([&node] {
                                         std::this_thread::sleep_for(std::chrono::milliseconds(2200));
                                         node.set_actors(testing::actors(2));
                                       });
                                       return true;
                                     }
                                     return false;
                                   });
  if (change.joinable()) {
    change.join();
  }
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0]["status"], "unofficial-partial");
  EXPECT_EQ(events[1]["status"], "unofficial-complete");
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2200));

  std::string error;
  read_events(*port, "/v1/results/events?election=nope", std::chrono::seconds(10),
              [&](const std::string& event, const std::string& data) {
                EXPECT_EQ(event, "error");
                error = data;
                return false;
              });
  EXPECT_EQ(json::parse(error), (json{{"error", "election nope is not loaded"}, {"status", 404}}));
  server.stop();
  node.shutdown();
}

}  // namespace
}  // namespace quorum::election
