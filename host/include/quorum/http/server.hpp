// Server: the node's HTTP/1.1 front end on Boost.Beast. Accepts
// connections, reads requests with bounded headers and bodies and with
// timeouts, routes them through Api (api.hpp) and serves /v1/stream as
// Server-Sent Events.
//
// Bounds: at most max_connections open connections (more are answered 503
// and closed), bodies up to body_limit_bytes (413), headers up to
// header_limit_bytes (431), at most max_streams live streams (503), and per
// stream at most stream_queue_events events waiting to be written: a
// subscriber that falls further behind is disconnected (counted in
// quorum_http_streams_dropped_total).
//
// Threads: `threads` I/O threads run one io_context; each connection runs on
// its own strand. NodeService callbacks never do work on the node's thread:
// they post the finished response to the connection's strand.
//
// Lifetime: start() once, stop() once (idempotent; also run by the
// destructor). Shut the NodeService down after stop() and before the Server
// is destroyed, so no node callback can post to a destroyed io_context.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/http/api.hpp>
#include <quorum/node/node_service.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace quorum::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port (see Server::port())
  size_t threads = 2;
  size_t max_connections = 1024;
  size_t max_streams = 256;
  size_t body_limit_bytes = kDefaultBodyLimitBytes;
  size_t header_limit_bytes = size_t{16} << 10;
  // Time to receive a request's header, counted from when the connection
  // starts waiting for it (so it is also the keep-alive idle timeout).
  std::chrono::milliseconds header_timeout{30'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds stream_heartbeat{15'000};
  size_t stream_queue_events = 1024;  // per subscriber, before it is dropped
  size_t node_queue_events = 1024;    // NodeService::subscribe queue bound
  std::string token;                  // empty: writes are open
};

class Server {
 public:
  Server(node::NodeService& node, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O threads. Returns the bound port.
  Result<uint16_t> start();
  // Stops accepting, closes every connection and stream, joins the threads.
  void stop();

  uint16_t port() const noexcept;
  Api& api() noexcept;

  struct State;  // shared with connections

 private:
  std::shared_ptr<State> state_;
};

}  // namespace quorum::http
