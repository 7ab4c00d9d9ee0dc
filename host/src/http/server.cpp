#include <quorum/host/assert.hpp>
#include <quorum/http/server.hpp>
#include <quorum/node/command_codec.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace quorum::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

class Connection;

}  // namespace

struct Server::State {
  // Declared first, destroyed last: pending handlers (and the connections
  // they hold) go before anything else here.
  net::io_context ioc;
  Api api;
  ServerOptions options;
  tcp::acceptor acceptor{ioc};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::vector<std::weak_ptr<Connection>> connections;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;

  State(node::NodeService& node, ServerOptions opts)
      : api(node, ApiOptions{opts.token, opts.body_limit_bytes,
                             [this](std::function<void()> job) { net::post(ioc, std::move(job)); }}),
        options(std::move(opts)) {}

  void accept();
};

namespace {

constexpr std::string_view kStreamHeader =
    "HTTP/1.1 200 OK\r\n"
    "Server: quorumd\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "Connection: close\r\n"
    "X-Accel-Buffering: no\r\n"
    "\r\n"
    "retry: 2000\n\n";

constexpr std::chrono::milliseconds kResultsPollInterval{1000};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using HeaderParser = beast_http::request_parser<beast_http::empty_body>;

  Connection(tcp::socket socket, Server::State& state, bool refuse)
      : stream_(std::move(socket)),
        state_(state),
        metrics_(state.api.metrics()),
        heartbeat_(stream_.get_executor()),
        results_timer_(stream_.get_executor()),
        refuse_(refuse) {
    if (!refuse_) {
      metrics_->connections_active.fetch_add(1);
      metrics_->connections_total.fetch_add(1);
    }
  }
  ~Connection() {
    if (!refuse_) {
      metrics_->connections_active.fetch_sub(1);
    }
    if (streaming_) {
      metrics_->streams_active.fetch_sub(1);
    }
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->refuse_) {
        self->metrics_->connections_refused.fetch_add(1);
        self->write_counted(Api::error_response(503, "too many connections; retry later", 11, false));
      } else {
        self->read_header();
      }
    });
  }

  // From any thread: close on the strand.
  void close_async() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

  // Closes at once. Only when no thread runs the io_context (after stop()
  // joined them): a close posted to the strand may not have run yet.
  void close_now() { close(); }

 private:
  void read_header() {
    if (closed_) {
      return;
    }
    header_parser_.emplace();
    header_parser_->header_limit(static_cast<uint32_t>(state_.options.header_limit_bytes));
    // A Content-Length over the limit fails the header read (413 before any
    // of the body is read).
    header_parser_->body_limit(state_.options.body_limit_bytes);
    stream_.expires_after(state_.options.header_timeout);
    beast_http::async_read_header(stream_, buffer_, *header_parser_,
                                  [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // Answers a protocol-level problem and closes; false if there was none.
  bool refuse_on(beast::error_code ec) {
    if (!ec) {
      return false;
    }
    if (ec == beast_http::error::body_limit) {
      write_counted(Api::error_response(
          413, "request body over the limit of " + std::to_string(state_.options.body_limit_bytes) + " bytes", 11,
          false));
    } else if (ec == beast_http::error::header_limit) {
      write_counted(Api::error_response(431, "request header too large", 11, false));
    } else if (ec.category() == beast_http::make_error_code(beast_http::error::end_of_stream).category() &&
               ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
      write_counted(Api::error_response(400, "malformed HTTP request: " + ec.message(), 11, false));
    } else {
      close();  // the peer went away or timed out
    }
    return true;
  }

  void on_header(beast::error_code ec) {
    if (closed_ || refuse_on(ec)) {
      return;
    }
    auto& header = header_parser_->get();
    auto expect = header.find(beast_http::field::expect);
    if (expect != header.end() && beast::iequals(expect->value(), "100-continue") && !header_parser_->is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(state_.options.write_timeout);
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code wec, size_t) {
                         if (wec) {
                           self->close();
                         } else {
                           self->read_body();
                         }
                       });
      return;
    }
    read_body();
  }

  // A body with a Content-Length (the common case: every batch) is read
  // straight into a string of that size: the bytes that came with the
  // header, then one read of the rest from the socket. Beast's body read
  // receives at most buffer_'s free capacity (often 512 bytes) at a time and
  // copies each piece again into the body: ~500 receives and parser steps
  // per 250 KB batch. Chunked bodies keep Beast's parser (converted from
  // the header parser, which has read no body yet).
  void read_body() {
    HeaderParser& header = *header_parser_;
    if (header.is_done()) {
      body_.clear();
      on_body_read();
      return;
    }
    boost::optional<std::uint64_t> length = header.content_length();
    if (!length) {
      chunked_parser_.emplace(std::move(header));
      header_parser_.reset();
      stream_.expires_after(state_.options.body_timeout);
      beast_http::async_read(stream_, buffer_, *chunked_parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->on_chunked_read(ec); });
      return;
    }
    // The header read refused lengths over the limit.
    QUORUM_ASSERT(*length <= state_.options.body_limit_bytes);
    const auto size = static_cast<size_t>(*length);
    body_.resize(size);
    const size_t buffered = std::min(size, buffer_.size());
    net::buffer_copy(net::buffer(body_.data(), buffered), buffer_.data());
    buffer_.consume(buffered);  // pipelined bytes after the body stay for the next header
    if (buffered == size) {
      on_body_read();
      return;
    }
    stream_.expires_after(state_.options.body_timeout);
    net::async_read(stream_, net::buffer(body_.data() + buffered, size - buffered), transfer_rest,
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) {
                        self->close();  // the peer went away (partial message) or timed out
                      } else {
                        self->on_body_read();
                      }
                    });
  }

  // async_read's default (transfer_all) reads at most 64 KiB per receive;
  // the buffer bounds this read already.
  static size_t transfer_rest(const beast::error_code& ec, size_t /*done*/) {
    return ec ? 0 : std::numeric_limits<size_t>::max();
  }

  void on_body_read() {
    Request request(std::move(header_parser_->release().base()));
    header_parser_.reset();
    request.body() = std::move(body_);
    dispatch(request);
  }

  void on_chunked_read(beast::error_code ec) {
    if (closed_ || refuse_on(ec)) {
      return;
    }
    Request request = chunked_parser_->release();
    chunked_parser_.reset();
    dispatch(request);
  }

  void dispatch(Request& request) {
    if (closed_) {
      return;
    }
    stream_.expires_never();  // the node answers in its own time; stop() closes
    auto self = shared_from_this();
    std::optional<StreamRequest> stream = state_.api.handle(request, [self](Response response) {
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
    });
    if (stream && stream->results) {
      start_results_stream(std::move(stream->election));
    } else if (stream) {
      start_stream(std::move(stream->prefix));
    }
  }

  // A response the Api did not make (protocol errors, refusals): count it.
  void write_counted(Response response) {
    metrics_->count_response(response.result_int());
    write(std::move(response));
  }

  void write(Response response) {
    if (closed_) {
      return;
    }
    auto shared = std::make_shared<Response>(std::move(response));
    if (refuse_) {
      shared->keep_alive(false);
    }
    stream_.expires_after(state_.options.write_timeout);
    beast_http::async_write(stream_, *shared, [self = shared_from_this(), shared](beast::error_code ec, size_t) {
      if (ec || !shared->keep_alive()) {
        self->close();
      } else {
        self->read_header();
      }
    });
  }

  // --- Server-Sent Events
  // Counts the stream against max_streams and queues the SSE header; false
  // (answered 503) when the bound is reached.
  bool open_stream() {
    if (metrics_->streams_active.fetch_add(1) >= state_.options.max_streams) {
      metrics_->streams_active.fetch_sub(1);
      write_counted(Api::error_response(503, "too many open streams; retry later", 11, false));
      return false;
    }
    streaming_ = true;
    metrics_->count_response(200);
    queue_.emplace_back(kStreamHeader);
    return true;
  }

  void start_stream(std::string prefix) {
    if (!open_stream()) {
      return;
    }
    std::weak_ptr<Connection> weak = weak_from_this();
    auto executor = stream_.get_executor();
    subscription_ = state_.api.node().subscribe(
        std::move(prefix), state_.options.node_queue_events, [weak, executor](const node::StreamEvent& event) {
          // Node thread: copy and hand over; formatting happens on the strand.
          net::post(executor, [weak, event]() {
            if (auto self = weak.lock()) {
              self->enqueue("event: commit\ndata: " + node::dump_json(node::stream_event_to_json(event)) + "\n\n");
            }
          });
        });
    flush();
    arm_heartbeat();
    watch_peer();
  }

  // GET /v1/results/events: about once a second, the election's json
  // (shared by every subscriber: ResultsService::latest_json), sent only
  // when it differs from what this subscriber got last.
  void start_results_stream(std::string election) {
    if (!open_stream()) {
      return;
    }
    results_election_ = std::move(election);
    flush();
    poll_results();
    arm_heartbeat();
    watch_peer();
  }

  void poll_results() {
    if (closed_) {
      return;
    }
    std::weak_ptr<Connection> weak = weak_from_this();
    auto executor = stream_.get_executor();
    state_.api.results().latest_json(results_election_, [weak, executor](Result<std::string> json) {
      net::post(executor, [weak, json = std::move(json)]() mutable {
        if (auto self = weak.lock()) {
          self->on_results(std::move(json));
        }
      });
    });
  }

  void on_results(Result<std::string> json) {
    if (closed_) {
      return;
    }
    std::string event;
    if (json) {
      std::string& text = *json;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
      }
      event = "event: results\ndata: " + text + "\n\n";
    } else {
      nlohmann::json error{{"error", json.error().message}, {"status", http_status(json.error().code)}};
      event = "event: error\ndata: " + node::dump_json(error) + "\n\n";
    }
    if (event != last_results_event_) {
      last_results_event_ = event;
      enqueue(std::move(event));
    }
    results_timer_.expires_after(kResultsPollInterval);
    results_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->poll_results();
      }
    });
  }

  void enqueue(std::string text) {
    if (closed_) {
      return;
    }
    if (queue_.size() >= state_.options.stream_queue_events) {
      metrics_->streams_dropped_slow.fetch_add(1);
      close();
      return;
    }
    queue_.push_back(std::move(text));
    metrics_->stream_events_total.fetch_add(1, std::memory_order_relaxed);
    flush();
  }

  void flush() {
    if (writing_ || queue_.empty() || closed_) {
      return;
    }
    writing_ = true;
    net::async_write(stream_.socket(), net::buffer(queue_.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->queue_.pop_front();
                       self->flush();
                     });
  }

  void arm_heartbeat() {
    heartbeat_.expires_after(state_.options.stream_heartbeat);
    heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) {
        return;
      }
      uint64_t dropped = self->subscription_ ? self->subscription_->dropped() : 0;
      if (dropped != self->reported_dropped_) {
        self->reported_dropped_ = dropped;
        self->enqueue("event: dropped\ndata: {\"dropped\": " + std::to_string(dropped) + "}\n\n");
      } else {
        self->enqueue(": keep-alive\n\n");
      }
      self->arm_heartbeat();
    });
  }

  // A stream client sends nothing more; a read completes when it leaves.
  void watch_peer() {
    stream_.socket().async_read_some(net::buffer(peer_bytes_),
                                     [self = shared_from_this()](beast::error_code ec, size_t) {
                                       if (ec) {
                                         self->close();
                                       } else {
                                         self->watch_peer();
                                       }
                                     });
  }

  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    subscription_.reset();
    heartbeat_.cancel();
    results_timer_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  Server::State& state_;
  std::shared_ptr<HttpMetrics> metrics_;
  beast::flat_buffer buffer_;
  std::optional<HeaderParser> header_parser_;
  std::optional<beast_http::request_parser<beast_http::string_body>> chunked_parser_;
  std::string body_;
  net::steady_timer heartbeat_;
  net::steady_timer results_timer_;
  std::string results_election_;
  std::string last_results_event_;
  std::unique_ptr<node::Subscription> subscription_;
  std::deque<std::string> queue_;
  std::array<char, 256> peer_bytes_{};
  uint64_t reported_dropped_ = 0;
  bool refuse_ = false;
  bool streaming_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace

void Server::State::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) {
        return;
      }
    } else {
      std::shared_ptr<Connection> connection;
      {
        std::lock_guard lock(mutex);
        if (stopped) {
          return;
        }
        bool refuse = api.metrics()->connections_active.load() >= options.max_connections;
        connection = std::make_shared<Connection>(std::move(socket), *this, refuse);
        if (connections.size() > 64 && connections.size() > 2 * api.metrics()->connections_active.load()) {
          std::erase_if(connections, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
        }
        connections.push_back(connection);
      }
      connection->start();
    }
    accept();
  });
}

Server::Server(node::NodeService& node, ServerOptions options)
    : state_(std::make_shared<State>(node, std::move(options))) {}

Server::~Server() { stop(); }

Result<uint16_t> Server::start() {
  State& s = *state_;
  if (s.started) {
    return make_error(ErrorCode::kFailedPrecondition, "the HTTP server is already started");
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(s.options.address, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument, "bad listen address '" + s.options.address + "': " + ec.message());
  }
  tcp::endpoint endpoint{address, s.options.port};
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    s.acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot listen on " + s.options.address + ":" + std::to_string(s.options.port) +
                                          ": " + ec.message());
  }
  s.port = s.acceptor.local_endpoint().port();
  s.started = true;
  s.work.emplace(s.ioc.get_executor());
  s.accept();
  size_t threads = std::max<size_t>(1, s.options.threads);
  for (size_t i = 0; i < threads; ++i) {
    s.threads.emplace_back([&s] {
      // A handler that throws (allocation failure, a bug) costs that
      // connection, not the node: keep serving.
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "quorum http: request handler failed: %s\n", e.what());
        }
      }
    });
  }
  return s.port;
}

void Server::stop() {
  State& s = *state_;
  std::vector<std::weak_ptr<Connection>> connections;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) {
      return;
    }
    s.stopped = true;
    connections.swap(s.connections);
  }
  s.api.set_stopping();
  if (s.started) {
    net::post(s.ioc, [&s] {
      beast::error_code ignored;
      s.acceptor.close(ignored);
    });
    for (auto& weak : connections) {
      if (auto connection = weak.lock()) {
        connection->close_async();
      }
    }
    s.work.reset();
    // Let the closes run, then stop whatever is left (node answers still
    // outstanding stay queued until the io_context is destroyed).
    net::post(s.ioc, [&s] { s.ioc.stop(); });
    for (std::thread& t : s.threads) {
      t.join();
    }
    s.threads.clear();
    // ioc.stop() may have overtaken a posted close on another thread: no
    // thread runs the io_context now, so close what is still open here.
    for (auto& weak : connections) {
      if (auto connection = weak.lock()) {
        connection->close_now();
      }
    }
  }
}

uint16_t Server::port() const noexcept { return state_->port; }
Api& Server::api() noexcept { return state_->api; }

}  // namespace quorum::http
