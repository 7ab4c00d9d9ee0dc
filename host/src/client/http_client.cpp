// HttpClient over Boost.Beast. Every operation is an asynchronous Beast call
// driven to completion by io_context::run(), so tcp_stream's expiry gives
// each step a timeout (synchronous Beast calls have none).
#include <quorum/client/http_client.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <optional>

namespace quorum::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxSseEventBytes = size_t{1} << 20;

Error unreachable(const Url& url, std::string_view what, const beast::error_code& ec) {
  return make_error(ErrorCode::kUnavailable, std::string(what) + " " + url.host + ":" + url.port + ": " + ec.message());
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

}  // namespace

Result<Url> parse_url(std::string_view text) {
  Url url;
  constexpr std::string_view http_scheme = "http://";
  if (text.starts_with("https://")) {
    return make_error(ErrorCode::kInvalidArgument,
                      "https is not supported (use http:// or a TLS proxy): " + std::string(text));
  }
  if (text.starts_with(http_scheme)) {
    text.remove_prefix(http_scheme.size());
  } else if (text.find("://") != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "not an http:// URL: " + std::string(text));
  }
  const size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = text.substr(slash);
    while (!path.empty() && path.back() == '/') {
      path.remove_suffix(1);
    }
    url.base_path = std::string(path);
  }
  if (authority.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "no host in URL: " + std::string(text));
  }
  if (authority.front() == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, "bad IPv6 host in URL: " + std::string(text));
    }
    url.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(":")) {
      url.port = std::string(authority.substr(1));
    } else if (!authority.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "bad URL: " + std::string(text));
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      url.port = std::string(authority.substr(colon + 1));
    }
  }
  if (url.port.empty()) {
    url.port = "80";
  }
  if (url.host.empty() || url.port.size() > 5 || url.port.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "bad host or port in URL: " + std::string(text));
  }
  return url;
}

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char c : text) {
    if (is_unreserved(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0xf]);
    }
  }
  return out;
}

std::string Response::error_text() const {
  if (content_type.find("json") != std::string::npos || (!body.empty() && body.front() == '{')) {
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
      return parsed["error"].get<std::string>();
    }
  }
  if (!body.empty()) {
    std::string text = body.substr(0, 200);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.pop_back();
    }
    return text;
  }
  return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

struct HttpClient::Impl {
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  bool connected = false;

  // Drives the io_context until the started operation completes.
  void run() {
    io.restart();
    io.run();
  }

  void close() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->close();
    }
    stream.reset();
    buffer.clear();
    connected = false;
  }
};

HttpClient::HttpClient(Url url, Options options)
    : url_(std::move(url)), options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

HttpClient::~HttpClient() { impl_->close(); }

Result<std::unique_ptr<HttpClient>> HttpClient::create(std::string_view url, Options options) {
  Result<Url> parsed = parse_url(url);
  if (!parsed) {
    return parsed.error();
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(parsed.value()), std::move(options)));
}

namespace {

// Connects impl's stream (resolve + connect, bounded by the timeout).
beast::error_code connect(asio::io_context& io, std::optional<beast::tcp_stream>& stream, const Url& url,
                          std::chrono::milliseconds timeout) {
  tcp::resolver resolver(io);
  beast::error_code result;
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(url.host, url.port, [&](const beast::error_code& ec, tcp::resolver::results_type found) {
    result = ec;
    endpoints = std::move(found);
  });
  io.restart();
  io.run();
  if (result) {
    return result;
  }
  stream.emplace(io);
  stream->expires_after(timeout);
  stream->async_connect(endpoints, [&](const beast::error_code& ec, const tcp::endpoint&) { result = ec; });
  io.restart();
  io.run();
  if (!result) {
    stream->socket().set_option(tcp::no_delay(true), result);
  }
  return result;
}

}  // namespace

Result<Response> HttpClient::get(std::string_view target) { return request(false, target, {}, {}, "application/json"); }

Result<Response> HttpClient::post(std::string_view target, std::string body, std::string_view content_type,
                                  std::string_view accept) {
  return request(true, target, std::move(body), content_type, accept);
}

namespace {

template <class Body>
void fill_request(http::request<Body>& request, const Url& url, std::string_view target,
                  const HttpClient::Options& options) {
  request.target(url.base_path + std::string(target));
  request.version(11);
  request.set(http::field::host, url.host + ":" + url.port);
  request.set(http::field::user_agent, options.user_agent);
  request.keep_alive(true);
  if (!options.token.empty()) {
    request.set(http::field::authorization, "Bearer " + options.token);
  }
}

template <class Body>
Response to_response(http::response<Body>& answer) {
  Response response;
  response.status = answer.result_int();
  response.content_type = std::string(answer[http::field::content_type]);
  response.retry_after = std::string(answer[http::field::retry_after]);
  return response;
}

}  // namespace

Result<Response> HttpClient::request(bool is_post, std::string_view target, std::string body,
                                     std::string_view content_type, std::string_view accept) {
  http::request<http::string_body> request;
  request.method(is_post ? http::verb::post : http::verb::get);
  fill_request(request, url_, target, options_);
  if (!accept.empty()) {
    request.set(http::field::accept, std::string(accept));
  }
  if (is_post) {
    request.set(http::field::content_type,
                content_type.empty() ? std::string("application/json") : std::string(content_type));
    request.body() = std::move(body);
    request.prepare_payload();
  }
  // A kept-alive connection the server has closed fails on first use: retry
  // once on a fresh connection, but only when nothing came back at all.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = impl_->connected;
    if (!impl_->connected) {
      const beast::error_code ec = connect(impl_->io, impl_->stream, url_, options_.timeout);
      if (ec) {
        impl_->close();
        return unreachable(url_, "cannot connect to", ec);
      }
      impl_->connected = true;
    }
    beast::error_code result;
    impl_->stream->expires_after(options_.timeout);
    http::async_write(*impl_->stream, request, [&](const beast::error_code& ec, size_t) { result = ec; });
    impl_->run();
    if (result) {
      impl_->close();
      if (reused) {
        continue;
      }
      return unreachable(url_, "cannot send to", result);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.body_limit_bytes);
    parser.header_limit(64 * 1024);
    impl_->stream->expires_after(options_.timeout);
    http::async_read(*impl_->stream, impl_->buffer, parser, [&](const beast::error_code& ec, size_t) { result = ec; });
    impl_->run();
    if (result) {
      impl_->close();
      if (reused && (result == http::error::end_of_stream || result == asio::error::connection_reset ||
                     result == asio::error::eof)) {
        continue;
      }
      if (result == http::error::body_limit) {
        return make_error(ErrorCode::kResourceExhausted,
                          "answer over the body limit of " + std::to_string(options_.body_limit_bytes) + " bytes");
      }
      return unreachable(url_, "no answer from", result);
    }
    http::response<http::string_body> answer = parser.release();
    Response response = to_response(answer);
    response.body = std::move(answer.body());
    if (!answer.keep_alive()) {
      impl_->close();
    }
    return response;
  }
  return make_error(ErrorCode::kUnavailable, "connection to " + url_.host + ":" + url_.port + " keeps closing");
}

Result<Response> HttpClient::stream(std::string_view target, std::chrono::milliseconds idle_timeout,
                                    std::chrono::milliseconds deadline,
                                    const std::function<bool(const SseEvent&)>& on_event) {
  impl_->close();  // a stream takes a connection of its own
  const auto start = std::chrono::steady_clock::now();
  const auto end = deadline.count() > 0 ? start + deadline : std::chrono::steady_clock::time_point::max();
  beast::error_code result = connect(impl_->io, impl_->stream, url_, options_.timeout);
  if (result) {
    impl_->close();
    return unreachable(url_, "cannot connect to", result);
  }
  http::request<http::empty_body> request;
  request.method(http::verb::get);
  fill_request(request, url_, target, options_);
  request.set(http::field::accept, "text/event-stream");
  impl_->stream->expires_after(options_.timeout);
  http::async_write(*impl_->stream, request, [&](const beast::error_code& ec, size_t) { result = ec; });
  impl_->run();
  if (result) {
    impl_->close();
    return unreachable(url_, "cannot send to", result);
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  impl_->stream->expires_after(options_.timeout);
  http::async_read_header(*impl_->stream, impl_->buffer, parser,
                          [&](const beast::error_code& ec, size_t) { result = ec; });
  impl_->run();
  if (result) {
    impl_->close();
    return unreachable(url_, "no answer from", result);
  }
  Response response = to_response(parser.get());
  std::array<char, 16 * 1024> chunk{};
  std::string pending;  // bytes not yet forming a whole line
  SseEvent event;
  bool stop = false;
  const auto idle_expiry = [&] {
    const auto idle_end = std::chrono::steady_clock::now() + idle_timeout;
    return idle_end < end ? idle_end : end;
  };
  while (!stop && !parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    impl_->stream->expires_at(idle_expiry());
    // read_some, not read: read() returns only when the chunk is full or the
    // stream ends, which would hold a small event back until then.
    http::async_read_some(*impl_->stream, impl_->buffer, parser,
                          [&](const beast::error_code& ec, size_t) { result = ec; });
    impl_->run();
    if (result == http::error::need_buffer) {
      result = {};
    }
    const size_t got = chunk.size() - parser.get().body().size;
    if (!response.ok()) {  // a refusal: keep its body for the error text
      response.body.append(chunk.data(), got);
      if (response.body.size() > kMaxSseEventBytes) {
        break;
      }
    } else {
      pending.append(chunk.data(), got);
      size_t line_start = 0;
      for (size_t newline = pending.find('\n'); newline != std::string::npos && !stop;
           newline = pending.find('\n', line_start)) {
        std::string_view line(pending.data() + line_start, newline - line_start);
        line_start = newline + 1;
        if (!line.empty() && line.back() == '\r') {
          line.remove_suffix(1);
        }
        if (line.empty()) {  // end of an event
          if (!event.data.empty() || !event.event.empty()) {
            if (event.event.empty()) {
              event.event = "message";
            }
            stop = !on_event(event);
          }
          event = SseEvent{};
        } else if (line.front() == ':') {
          // a comment (keep-alive)
        } else {
          const size_t colon = line.find(':');
          const std::string_view field = line.substr(0, colon);
          std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
          if (value.starts_with(" ")) {
            value.remove_prefix(1);
          }
          if (field == "event") {
            event.event = std::string(value);
          } else if (field == "data") {
            if (!event.data.empty()) {
              event.data.push_back('\n');
            }
            event.data.append(value);
          }
        }
      }
      pending.erase(0, line_start);
      if (pending.size() + event.data.size() > kMaxSseEventBytes) {
        impl_->close();
        return make_error(ErrorCode::kResourceExhausted, "a server-sent event over 1 MiB");
      }
    }
    if (result) {
      break;
    }
  }
  impl_->close();
  if (result && result != beast::error::timeout && result != http::error::end_of_stream && result != asio::error::eof &&
      !stop) {
    return unreachable(url_, "stream broken from", result);
  }
  if (result == beast::error::timeout && std::chrono::steady_clock::now() < end) {
    return make_error(ErrorCode::kUnavailable, "stream idle for " + std::to_string(idle_timeout.count()) + " ms");
  }
  return response;
}

}  // namespace quorum::client
