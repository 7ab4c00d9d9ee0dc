// EtcdGateway over quorum::client::HttpClient (unary calls) and EtcdWatch
// over Boost.Beast (a streaming response read piece by piece, each step
// bounded by io_context::run_for so that it can time out; cancel() posts a
// socket close into that io_context, so an idle watch sleeps in epoll until
// data, its timeout or a cancel, without polling).
#include <quorum/cluster/etcd_gateway.hpp>

#include <quorum/client/http_client.hpp>

#include <sodium.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>

namespace quorum::cluster {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using nlohmann::json;

constexpr size_t kMaxAnswerBytes = size_t{64} << 20;

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Result<std::string> unbase64(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &length, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "etcd: an answer holds invalid base64");
  }
  out.resize(length);
  return out;
}

// etcd's JSON writes 64-bit integers as strings and omits zero values.
int64_t get_int(const json& object, const char* field) {
  const auto it = object.find(field);
  if (it == object.end()) {
    return 0;
  }
  if (it->is_number_integer()) {
    return it->get<int64_t>();
  }
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
  }
  return 0;
}

Error malformed(std::string_view what) {
  return make_error(ErrorCode::kInvalidArgument, "etcd: malformed answer (" + std::string(what) + ")");
}

Result<EtcdKeyValue> parse_kv(const json& kv) {
  if (!kv.is_object()) {
    return malformed("kv");
  }
  EtcdKeyValue out;
  if (auto it = kv.find("key"); it != kv.end() && it->is_string()) {
    Result<std::string> key = unbase64(it->get_ref<const std::string&>());
    if (!key) {
      return key.error();
    }
    out.key = std::move(key).value();
  }
  if (auto it = kv.find("value"); it != kv.end() && it->is_string()) {
    Result<std::string> value = unbase64(it->get_ref<const std::string&>());
    if (!value) {
      return value.error();
    }
    out.value = std::move(value).value();
  }
  out.create_revision = get_int(kv, "create_revision");
  out.mod_revision = get_int(kv, "mod_revision");
  out.lease = get_int(kv, "lease");
  return out;
}

int64_t header_revision(const json& answer) {
  const auto it = answer.find("header");
  return it != answer.end() && it->is_object() ? get_int(*it, "revision") : 0;
}

Result<EtcdRange> parse_range(const json& answer) {
  EtcdRange range;
  range.revision = header_revision(answer);
  if (auto it = answer.find("kvs"); it != answer.end()) {
    if (!it->is_array()) {
      return malformed("kvs");
    }
    for (const json& kv : *it) {
      Result<EtcdKeyValue> parsed = parse_kv(kv);
      if (!parsed) {
        return parsed.error();
      }
      range.kvs.push_back(std::move(parsed).value());
    }
  }
  return range;
}

std::string error_of(const json& answer) {
  if (auto it = answer.find("error"); it != answer.end()) {
    if (it->is_string()) {
      return it->get<std::string>();
    }
    if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) {
      return (*it)["message"].get<std::string>();
    }
    return it->dump();
  }
  if (auto it = answer.find("message"); it != answer.end() && it->is_string() && answer.contains("code")) {
    return it->get<std::string>();
  }
  return {};
}

Result<EtcdWatchMessage> parse_watch_message(std::string_view line) {
  const json parsed = json::parse(line, nullptr, false);
  if (!parsed.is_object()) {
    return malformed("watch message");
  }
  if (std::string error = error_of(parsed); !error.empty()) {
    return make_error(ErrorCode::kUnavailable, "etcd watch: " + error);
  }
  const auto result = parsed.find("result");
  if (result == parsed.end() || !result->is_object()) {
    return malformed("watch message without result");
  }
  EtcdWatchMessage message;
  message.revision = header_revision(*result);
  message.created = result->value("created", false);
  message.canceled = result->value("canceled", false);
  message.compact_revision = get_int(*result, "compact_revision");
  if (auto it = result->find("cancel_reason"); it != result->end() && it->is_string()) {
    message.cancel_reason = it->get<std::string>();
  }
  if (auto events = result->find("events"); events != result->end() && events->is_array()) {
    for (const json& event : *events) {
      if (!event.is_object() || !event.contains("kv")) {
        return malformed("watch event");
      }
      Result<EtcdKeyValue> kv = parse_kv(event["kv"]);
      if (!kv) {
        return kv.error();
      }
      message.events.push_back(EtcdEvent{event.value("type", std::string("PUT")) == "DELETE", std::move(kv).value()});
    }
  }
  return message;
}

}  // namespace

std::string etcd_prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

// ---- EtcdGateway ----

EtcdGateway::EtcdGateway(std::string url, std::unique_ptr<client::HttpClient> http)
    : url_(std::move(url)), http_(std::move(http)) {}

EtcdGateway::~EtcdGateway() = default;

Result<std::unique_ptr<EtcdGateway>> EtcdGateway::create(std::string_view url, Options options) {
  client::HttpClient::Options http_options;
  http_options.timeout = options.timeout;
  http_options.body_limit_bytes = kMaxAnswerBytes;
  http_options.user_agent = "quorum-etcd-gateway/0.1";
  Result<std::unique_ptr<client::HttpClient>> http = client::HttpClient::create(url, http_options);
  if (!http) {
    return make_error(ErrorCode::kInvalidArgument, "etcd URL \"" + std::string(url) + "\": " + http.error().message);
  }
  return std::unique_ptr<EtcdGateway>(new EtcdGateway(std::string(url), std::move(http).value()));
}

Result<std::string> EtcdGateway::call(std::string_view target, std::string body) {
  Result<client::Response> response = http_->post(target, std::move(body), "application/json");
  if (!response) {
    return make_error(ErrorCode::kUnavailable,
                      "etcd at " + url_ + " is unreachable (" + std::string(target) + "): " + response.error().message);
  }
  if (!response->ok()) {
    const json parsed = json::parse(response->body, nullptr, false);
    std::string detail = parsed.is_object() ? error_of(parsed) : std::string();
    if (detail.empty()) {
      detail = response->error_text();
    }
    const ErrorCode code =
        response->status >= 500 && response->status != 501 ? ErrorCode::kUnavailable : ErrorCode::kFailedPrecondition;
    return make_error(code, "etcd at " + url_ + " refused " + std::string(target) + " (HTTP " +
                                std::to_string(response->status) + "): " + detail);
  }
  return std::move(response->body);
}

namespace {
Result<json> parse_answer(Result<std::string> body) {
  if (!body) {
    return body.error();
  }
  json parsed = json::parse(*body, nullptr, false);
  if (!parsed.is_object()) {
    return malformed("not a JSON object");
  }
  return parsed;
}
}  // namespace

Result<EtcdRange> EtcdGateway::get(std::string_view key) {
  Result<json> answer = parse_answer(call("/v3/kv/range", json{{"key", base64(key)}}.dump()));
  if (!answer) {
    return answer.error();
  }
  return parse_range(*answer);
}

Result<EtcdRange> EtcdGateway::get_prefix(std::string_view prefix) {
  Result<json> answer = parse_answer(
      call("/v3/kv/range", json{{"key", base64(prefix)}, {"range_end", base64(etcd_prefix_end(prefix))}}.dump()));
  if (!answer) {
    return answer.error();
  }
  return parse_range(*answer);
}

Result<int64_t> EtcdGateway::put(std::string_view key, std::string_view value, int64_t lease) {
  json request{{"key", base64(key)}, {"value", base64(value)}};
  if (lease != 0) {
    request["lease"] = std::to_string(lease);
  }
  Result<json> answer = parse_answer(call("/v3/kv/put", request.dump()));
  if (!answer) {
    return answer.error();
  }
  return header_revision(*answer);
}

Result<int64_t> EtcdGateway::erase(std::string_view key) {
  Result<json> answer = parse_answer(call("/v3/kv/deleterange", json{{"key", base64(key)}}.dump()));
  if (!answer) {
    return answer.error();
  }
  return header_revision(*answer);
}

Result<bool> EtcdGateway::put_if_unchanged(std::string_view key, std::string_view value, int64_t mod_revision) {
  return put_if_revision(key, mod_revision, key, value, {});
}

Result<bool> EtcdGateway::put_if_revision(std::string_view compare_key, int64_t mod_revision, std::string_view key,
                                          std::string_view value, std::string_view clear_prefix) {
  json compare{{"key", base64(compare_key)}, {"result", "EQUAL"}};
  if (mod_revision == 0) {
    compare["target"] = "CREATE";
    compare["create_revision"] = "0";
  } else {
    compare["target"] = "MOD";
    compare["mod_revision"] = std::to_string(mod_revision);
  }
  json success = json::array({json{{"request_put", {{"key", base64(key)}, {"value", base64(value)}}}}});
  if (!clear_prefix.empty()) {
    success.push_back(json{{"request_delete_range",
                            {{"key", base64(clear_prefix)}, {"range_end", base64(etcd_prefix_end(clear_prefix))}}}});
  }
  const json request{{"compare", json::array({compare})}, {"success", std::move(success)}};
  Result<json> answer = parse_answer(call("/v3/kv/txn", request.dump()));
  if (!answer) {
    return answer.error();
  }
  return answer->value("succeeded", false);
}

Result<int64_t> EtcdGateway::lease_grant(int64_t ttl_seconds) {
  Result<json> answer = parse_answer(call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}}.dump()));
  if (!answer) {
    return answer.error();
  }
  const int64_t id = get_int(*answer, "ID");
  if (id == 0) {
    return malformed("lease grant without ID");
  }
  return id;
}

Result<int64_t> EtcdGateway::lease_keepalive(int64_t lease) {
  // A bidirectional stream in gRPC; through the gateway one request gets one
  // {"result": ...} and the stream ends.
  Result<std::string> body = call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  if (!body) {
    return body.error();
  }
  const size_t end = body->find('\n');
  Result<json> answer = parse_answer(body->substr(0, end));
  if (!answer) {
    return answer.error();
  }
  if (std::string error = error_of(*answer); !error.empty()) {
    return make_error(ErrorCode::kFailedPrecondition, "etcd lease keepalive: " + error);
  }
  const auto result = answer->find("result");
  if (result == answer->end() || !result->is_object()) {
    return malformed("lease keepalive without result");
  }
  return get_int(*result, "TTL");
}

Status EtcdGateway::lease_revoke(int64_t lease) {
  Result<std::string> body = call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  if (!body) {
    return body.error();
  }
  return {};
}

// ---- EtcdWatch ----

struct EtcdWatch::Impl {
  using Clock = std::chrono::steady_clock;
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  std::array<char, 65536> chunk{};
  http::request<http::string_body> request;
  bool pending = false;  // an operation was started and has not completed
  bool done = false;     // it completed, with `result`
  beast::error_code result;
  std::string data;  // body bytes not yet split into messages
  bool ended = false;

  // Runs the io_context until the pending operation completes (true), the
  // deadline passes or `canceled` is set (false; the operation stays pending
  // unless canceled, in which case the socket is closed). It blocks for the
  // whole wait: cancel() wakes it by posting close_for_cancel().
  bool run_until(Clock::time_point deadline, const std::atomic<bool>& canceled) {
    while (!done) {
      if (canceled.load()) {
        close_for_cancel();
        return false;
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        return false;
      }
      io.restart();
      io.run_for(deadline - now);
    }
    pending = false;
    return true;
  }

  // On the watch thread (inside run_for, or from run_until): the pending
  // operation completes with operation_aborted.
  void close_for_cancel() {
    beast::error_code ignored;
    socket.close(ignored);
  }
};

EtcdWatch::EtcdWatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EtcdWatch::~EtcdWatch() {
  beast::error_code ignored;
  impl_->socket.close(ignored);
}

void EtcdWatch::cancel() noexcept {
  canceled_.store(true);
  try {
    // Runs on the watch thread the next time it runs the io_context (at once
    // if it is waiting); the socket is only touched there.
    asio::post(impl_->io, [impl = impl_.get()] { impl->close_for_cancel(); });
  } catch (const std::exception&) {
    // Out of memory: next() still sees canceled_ when its wait ends.
  }
}

Result<std::unique_ptr<EtcdWatch>> EtcdWatch::open(std::string_view url, std::string_view key,
                                                   std::string_view range_end, int64_t start_revision,
                                                   std::chrono::milliseconds connect_timeout) {
  Result<client::Url> parsed = client::parse_url(url);
  if (!parsed) {
    return make_error(ErrorCode::kInvalidArgument, "etcd URL \"" + std::string(url) + "\": " + parsed.error().message);
  }
  auto impl = std::make_unique<Impl>();
  std::unique_ptr<EtcdWatch> watch(new EtcdWatch(std::move(impl)));
  Impl& w = *watch->impl_;
  const auto deadline = Impl::Clock::now() + connect_timeout;
  const auto unreachable = [&](std::string_view what, const beast::error_code& ec) {
    return make_error(ErrorCode::kUnavailable, "etcd at " + std::string(url) + " is unreachable (watch " +
                                                   std::string(what) + "): " + (ec ? ec.message() : "timed out"));
  };

  tcp::resolver resolver(w.io);
  tcp::resolver::results_type endpoints;
  w.pending = true;
  w.done = false;
  resolver.async_resolve(parsed->host, parsed->port,
                         [&](const beast::error_code& ec, tcp::resolver::results_type found) {
                           w.result = ec;
                           endpoints = std::move(found);
                           w.done = true;
                         });
  if (!w.run_until(deadline, watch->canceled_) || w.result) {
    resolver.cancel();
    return unreachable("resolve", w.result);
  }
  w.pending = true;
  w.done = false;
  asio::async_connect(w.socket, endpoints, [&](const beast::error_code& ec, const tcp::endpoint&) {
    w.result = ec;
    w.done = true;
  });
  if (!w.run_until(deadline, watch->canceled_) || w.result) {
    return unreachable("connect", w.result);
  }
  beast::error_code ignored;
  w.socket.set_option(tcp::no_delay(true), ignored);

  json create{{"key", base64(key)}, {"range_end", base64(range_end)}};
  if (start_revision > 0) {
    create["start_revision"] = std::to_string(start_revision);
  }
  w.request = http::request<http::string_body>(http::verb::post, parsed->base_path + "/v3/watch", 11);
  w.request.set(http::field::host, parsed->host + ":" + parsed->port);
  w.request.set(http::field::content_type, "application/json");
  w.request.set(http::field::user_agent, "quorum-etcd-gateway/0.1");
  w.request.body() = json{{"create_request", create}}.dump();
  w.request.prepare_payload();
  w.pending = true;
  w.done = false;
  http::async_write(w.socket, w.request, [&](const beast::error_code& ec, size_t) {
    w.result = ec;
    w.done = true;
  });
  if (!w.run_until(deadline, watch->canceled_) || w.result) {
    return unreachable("request", w.result);
  }
  w.parser.body_limit(boost::none);
  w.pending = true;
  w.done = false;
  http::async_read_header(w.socket, w.buffer, w.parser, [&](const beast::error_code& ec, size_t) {
    w.result = ec;
    w.done = true;
  });
  if (!w.run_until(deadline, watch->canceled_) || w.result) {
    return unreachable("answer", w.result);
  }
  if (w.parser.get().result() != http::status::ok) {
    return make_error(ErrorCode::kFailedPrecondition, "etcd at " + std::string(url) + " refused the watch (HTTP " +
                                                          std::to_string(w.parser.get().result_int()) + ")");
  }
  return watch;
}

Result<std::optional<EtcdWatchMessage>> EtcdWatch::next(std::chrono::milliseconds timeout) {
  Impl& w = *impl_;
  const auto deadline = Impl::Clock::now() + timeout;
  while (true) {
    const size_t newline = w.data.find('\n');
    if (newline != std::string::npos) {
      const std::string line = w.data.substr(0, newline);
      w.data.erase(0, newline + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) {
        continue;
      }
      Result<EtcdWatchMessage> message = parse_watch_message(line);
      if (!message) {
        return message.error();
      }
      return std::optional<EtcdWatchMessage>(std::move(message).value());
    }
    if (w.data.size() > kMaxWatchMessageBytes) {
      return make_error(ErrorCode::kResourceExhausted,
                        "etcd watch: a message is larger than " + std::to_string(kMaxWatchMessageBytes) + " bytes");
    }
    if (canceled_.load()) {
      beast::error_code ignored;
      w.socket.close(ignored);
      return make_error(ErrorCode::kUnavailable, "etcd watch: canceled");
    }
    if (w.ended) {
      return make_error(ErrorCode::kUnavailable, "etcd watch: the stream ended");
    }
    if (!w.pending) {
      w.parser.get().body().data = w.chunk.data();
      w.parser.get().body().size = w.chunk.size();
      w.pending = true;
      w.done = false;
      http::async_read_some(w.socket, w.buffer, w.parser, [&w](const beast::error_code& ec, size_t) {
        w.result = ec;
        w.done = true;
      });
    }
    if (!w.run_until(deadline, canceled_)) {
      if (canceled_.load()) {
        continue;
      }
      return std::optional<EtcdWatchMessage>();
    }
    if (canceled_.load()) {
      continue;  // the read ended because cancel() closed the socket
    }
    const size_t got = w.chunk.size() - w.parser.get().body().size;
    w.data.append(w.chunk.data(), got);
    if (w.result && w.result != http::error::need_buffer) {
      w.ended = true;
      if (w.data.find('\n') == std::string::npos) {
        return make_error(ErrorCode::kUnavailable, "etcd watch: " + w.result.message());
      }
    } else if (w.parser.is_done()) {
      w.ended = true;
    }
  }
}

}  // namespace quorum::cluster
