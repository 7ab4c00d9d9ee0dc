// HttpClient: a small synchronous HTTP/1.1 client for one quorumd node
// (docs/api.md), used by quorumctl and the tests. It keeps one keep-alive
// connection open and reconnects once when the server closed it.
//
// Why synchronous: quorumctl does one thing at a time; the load generator
// (tests/bench/loadgen_bench.cpp) has its own asynchronous client.
//
// Errors are values:
// - Result<Response> is an Error only when no HTTP answer arrived:
//   kUnavailable (connection refused, unreachable, timed out, reset) or
//   kInvalidArgument (a malformed URL) or kResourceExhausted (an answer over
//   the body limit). Any HTTP status, 4xx and 5xx included, is a Response;
//   the caller decides what it means (error_text() extracts {"error"}).
// Bounds: every call has a timeout (Options::timeout); bodies are at most
// Options::body_limit_bytes; a server-sent event at most 1 MiB.
// Threads: one HttpClient per thread (it owns its io_context and socket).
#pragma once

#include <quorum/host/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace quorum::client {

// http://HOST[:PORT][/base] (https is not supported: nodes sit behind a TLS
// proxy when they need one).
struct Url {
  std::string host;
  std::string port;       // "80" when absent
  std::string base_path;  // "" or "/prefix" without a trailing slash
};
Result<Url> parse_url(std::string_view url);

// Percent-encodes everything outside [A-Za-z0-9-._~] (so "/" in actor keys
// becomes %2F, as the API expects in path segments and query values).
std::string url_encode(std::string_view text);

struct Response {
  unsigned status = 0;
  std::string content_type;
  std::string retry_after;  // the Retry-After header, if any
  std::string body;

  bool ok() const noexcept { return status >= 200 && status < 300; }
  // The server's {"error": "..."} text, or the start of the body, or the
  // status reason when the body is empty.
  std::string error_text() const;
};

// One server-sent event (text/event-stream): `event:` and joined `data:` lines.
struct SseEvent {
  std::string event;  // "message" when the server named none
  std::string data;
};

class HttpClient {
 public:
  struct Options {
    std::string token;                          // sent as "Authorization: Bearer <token>" when not empty
    std::chrono::milliseconds timeout{30'000};  // connect, and each request/response
    size_t body_limit_bytes = size_t{64} << 20;
    std::string user_agent = "quorumctl/0.1";
  };

  static Result<std::unique_ptr<HttpClient>> create(std::string_view url, Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is the path and query below the base URL, e.g. "/v1/health".
  Result<Response> get(std::string_view target);
  Result<Response> post(std::string_view target, std::string body, std::string_view content_type,
                        std::string_view accept = "application/json");

  // Follows a Server-Sent Events stream: calls on_event for each event until
  // it returns false, the server closes the stream, or `idle_timeout` passes
  // without a byte (comments count), or `deadline` (0: none) passes.
  // Returns the Response head (status, and the body when the server refused
  // the stream with a non-2xx status) or an Error when no answer arrived.
  // A clean end (on_event said stop, deadline, server closed) is ok.
  Result<Response> stream(std::string_view target, std::chrono::milliseconds idle_timeout,
                          std::chrono::milliseconds deadline, const std::function<bool(const SseEvent&)>& on_event);

  const Url& url() const noexcept { return url_; }

 private:
  struct Impl;
  HttpClient(Url url, Options options);
  Result<Response> request(bool is_post, std::string_view target, std::string body, std::string_view content_type,
                           std::string_view accept);
  Url url_;
  Options options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quorum::client
