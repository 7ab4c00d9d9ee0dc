// Api: the routes of docs/api.md over a NodeService, independent of sockets.
//
// The Server (server.hpp) reads a request, hands it to Api::handle() and
// writes whatever comes back; tests call handle() directly against a fake
// node. Authorisation (bearer token, constant-time compare), content types,
// body decoding (command_codec.hpp), status mapping and error bodies
// ({"error": "..."}) all live here, so one set of unit tests covers them.
//
// Threads: handle() may be called from any thread. Its `respond` callback
// runs exactly once, either inline or on a NodeService callback thread; the
// caller must not block in it (the Server posts it to the connection's
// strand). Plugin control operations (load, swap, ...) run inline on the
// calling thread: they take the plugin host's mutex but never wait for
// messages.
//
// Lifetime: the NodeService must have been shut down (no callback can run)
// before the Api is destroyed; callbacks hold only shared state (metrics).
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/http/results_service.hpp>
#include <quorum/node/node_service.hpp>

#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace quorum::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Respond = std::function<void(Response)>;

inline constexpr size_t kDefaultBodyLimitBytes = size_t{8} << 20;
inline constexpr size_t kMaxLogLimit = 1000;
inline constexpr size_t kDefaultLogLimit = 100;

// The HTTP status for a NodeService / PluginHost error: kInvalidArgument,
// kIncompatible, kLoadFailed, kIo 400; kNotFound 404; kFailedPrecondition
// 409; kRejected 422; kResourceExhausted, kUnavailable 503; kPluginFailed 500.
unsigned http_status(ErrorCode code) noexcept;

// Counters of the HTTP front end (Prometheus text via write()).
class HttpMetrics {
 public:
  void count_response(unsigned status) noexcept;
  std::atomic<uint64_t> connections_active{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_refused{0};  // over max_connections
  std::atomic<uint64_t> streams_active{0};
  std::atomic<uint64_t> stream_events_total{0};
  std::atomic<uint64_t> streams_dropped_slow{0};  // subscribers closed for not keeping up
  std::atomic<uint64_t> commands_invalid{0};      // refused by the codecs (never reached the node)
  void write(std::string& out) const;

 private:
  std::array<std::atomic<uint64_t>, 600> responses_{};
};

struct ApiOptions {
  std::string token;  // empty: every client may POST
  size_t body_limit_bytes = kDefaultBodyLimitBytes;
  // Where results are built and rendered (the server's I/O threads); empty:
  // on the node callback thread.
  PostWork post = {};
};

// GET /v1/stream or /v1/results/events: what the connection must serve as
// Server-Sent Events (results: the election's json whenever it changes).
struct StreamRequest {
  std::string prefix;
  bool results = false;
  std::string election = {};  // results only; empty: the last registered
};

class Api {
 public:
  Api(node::NodeService& node, ApiOptions options);

  // Routes one request. Returns a StreamRequest when the request opens the
  // live stream (the connection takes over; `respond` is not called);
  // otherwise `respond` is called exactly once with the answer.
  std::optional<StreamRequest> handle(const Request& request, Respond respond);

  // Marks the node as stopping (health answers "stopping").
  void set_stopping() noexcept { stopping_.store(true); }

  const std::shared_ptr<HttpMetrics>& metrics() const noexcept { return metrics_; }
  node::NodeService& node() noexcept { return node_; }
  ResultsService& results() noexcept { return results_; }
  const ApiOptions& options() const noexcept { return options_; }

  // An error answer {"error": message} (503 carries Retry-After: 1).
  static Response error_response(unsigned status, std::string_view message, unsigned version, bool keep_alive);

 private:
  struct Call;
  void route(Call& call);
  void submit_one(Call& call, std::string_view key);
  void submit_batch(Call& call);
  void read_actor(Call& call, std::string_view key);
  void read_log(Call& call, std::string_view key);
  void health(Call& call);
  void metrics_text(Call& call);
  void plugins_list(Call& call);
  void plugin_load(Call& call);
  void plugin_op(Call& call, std::string_view name, std::string_view op);
  void plugin_status(Call& call, std::string_view name);
  void plugin_divergences(Call& call, std::string_view name);
  void election_results(Call& call);
  bool authorised(Call& call);

  node::NodeService& node_;
  const ApiOptions options_;
  std::shared_ptr<HttpMetrics> metrics_ = std::make_shared<HttpMetrics>();
  ResultsService results_;
  std::atomic<bool> stopping_{false};
};

// Helpers shared with the server and the tests.
std::string percent_decode(std::string_view text, bool plus_is_space);
// Constant-time comparison (time depends only on the lengths' maximum).
bool secure_equals(std::string_view a, std::string_view b) noexcept;

}  // namespace quorum::http
