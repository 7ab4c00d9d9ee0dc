#include <quorum/http/api.hpp>
#include <quorum/node/command_codec.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

namespace quorum::http {
namespace {

using nlohmann::json;
using node::dump_json;

enum class BodyType { kNone, kJson, kMsgpack, kNdjson, kOther };

BodyType body_type(const Request& request) {
  auto it = request.find(beast_http::field::content_type);
  if (it == request.end()) {
    return BodyType::kNone;
  }
  std::string type(it->value());
  type = type.substr(0, type.find(';'));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
    type.pop_back();
  }
  if (type == "application/json") {
    return BodyType::kJson;
  }
  if (type == "application/msgpack" || type == "application/x-msgpack" || type == "application/vnd.msgpack") {
    return BodyType::kMsgpack;
  }
  if (type == "application/x-ndjson" || type == "application/ndjson" || type == "application/jsonl") {
    return BodyType::kNdjson;
  }
  return BodyType::kOther;
}

bool accepts_ndjson(const Request& request) {
  auto it = request.find(beast_http::field::accept);
  return it != request.end() && it->value().find("ndjson") != std::string_view::npos;
}

Response make_response(unsigned status, std::string body, std::string_view content_type, unsigned version,
                       bool keep_alive) {
  Response response{static_cast<beast_http::status>(status), version};
  response.set(beast_http::field::server, "quorumd");
  response.set(beast_http::field::content_type, content_type);
  if (status == 503) {
    response.set(beast_http::field::retry_after, "1");
  }
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// A receipt's JSON without its key and hash: {"duplicate":false,"hash":"","key":"","seq":<20 digits>}.
constexpr size_t kReceiptJsonBytes = 72;

Response json_response(unsigned status, const json& body, unsigned version, bool keep_alive) {
  std::string text = dump_json(body);
  text.push_back('\n');
  return make_response(status, std::move(text), "application/json", version, keep_alive);
}

// Query parameters of a target ("a=1&b=2"), percent-decoded; bounded.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty() && out.size() < 32) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) {
      continue;
    }
    size_t eq = part.find('=');
    std::string name = percent_decode(part.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? std::string{} : percent_decode(part.substr(eq + 1), true);
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::optional<uint64_t> parse_uint(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

json error_json(std::string_view message) { return json{{"error", std::string(message)}}; }

json version_json(const host::VersionStatus& v) {
  return json{{"version", v.id},
              {"semver", v.semver},
              {"schema", v.projection_schema},
              {"sha256", v.sha256_hex},
              {"path", v.source_path},
              {"state", std::string(host::to_string(v.state))},
              {"previous", v.previous},
              {"calls", v.counters.calls},
              {"errors", v.counters.errors},
              {"rejections", v.counters.rejections},
              {"divergences", v.counters.divergences}};
}

json slot_json(const host::SlotStatus& slot) {
  json versions = json::array();
  for (const host::VersionStatus& v : slot.versions) {
    versions.push_back(version_json(v));
  }
  auto id_or_null = [](host::VersionId id) { return id == host::kNoVersion ? json(nullptr) : json(id); };
  return json{{"name", slot.name},
              {"active", id_or_null(slot.active)},
              {"candidate", id_or_null(slot.candidate)},
              {"previous", id_or_null(slot.previous)},
              {"divergences", slot.divergences},
              {"versions", std::move(versions)}};
}

json handle_result_json(const host::HandleResult& result) {
  json out{{"status", std::string(host::to_string(result.status))}};
  if (!result.ok()) {
    out["error"] = result.error;
  } else {
    Result<json> projection = node::msgpack_to_json(result.projection);
    out["projection"] =
        projection ? std::move(projection).value() : json{{"invalid_msgpack", projection.error().message}};
    out["effects"] = result.effects.size();
  }
  return out;
}

}  // namespace

unsigned http_status(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kIncompatible:
    case ErrorCode::kLoadFailed:
    case ErrorCode::kIo:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kRejected:
      return 422;
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kPluginFailed:
      return 500;
  }
  return 500;
}

void HttpMetrics::count_response(unsigned status) noexcept {
  if (status < responses_.size()) {
    responses_[status].fetch_add(1, std::memory_order_relaxed);
  }
}

void HttpMetrics::write(std::string& out) const {
  out += "# HELP quorum_http_requests_total HTTP responses sent, by status code.\n";
  out += "# TYPE quorum_http_requests_total counter\n";
  for (size_t code = 100; code < responses_.size(); ++code) {
    uint64_t n = responses_[code].load(std::memory_order_relaxed);
    if (n > 0) {
      out += "quorum_http_requests_total{code=\"" + std::to_string(code) + "\"} " + std::to_string(n) + "\n";
    }
  }
  auto metric = [&out](const char* name, const char* type, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(value) + "\n";
  };
  metric("quorum_http_connections_active", "gauge", "Open HTTP connections.", connections_active.load());
  metric("quorum_http_connections_total", "counter", "HTTP connections accepted.", connections_total.load());
  metric("quorum_http_connections_refused_total", "counter", "Connections refused over the connection limit.",
         connections_refused.load());
  metric("quorum_http_streams_active", "gauge", "Open /v1/stream subscribers.", streams_active.load());
  metric("quorum_http_stream_events_total", "counter", "Events written to stream subscribers.",
         stream_events_total.load());
  metric("quorum_http_streams_dropped_total", "counter", "Stream subscribers closed for not keeping up.",
         streams_dropped_slow.load());
  metric("quorum_http_commands_invalid_total", "counter", "Commands refused by the decoders (400/413).",
         commands_invalid.load());
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() + 0 && digit(text[i + 1]) >= 0 && digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(digit(text[i + 1]) * 16 + digit(text[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool secure_equals(std::string_view a, std::string_view b) noexcept {
  size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0U : 1U;
  for (size_t i = 0; i < n; ++i) {
    auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

namespace {

// Plugin control errors: a slot that holds too many versions is a state the
// operator must change (409), not an overload to retry (503).
unsigned plugin_status_code(const Error& e) {
  return e.code == ErrorCode::kResourceExhausted ? 409 : http_status(e.code);
}

}  // namespace

struct Api::Call {
  const Request& request;
  Respond respond;  // counts the status, then hands the response on
  unsigned version;
  bool keep_alive;
  std::string_view path;
  std::string_view query;
  std::optional<StreamRequest> stream;

  void send(unsigned status, const json& body) { respond(json_response(status, body, version, keep_alive)); }
  void error(unsigned status, std::string_view message) { send(status, error_json(message)); }
  void error(const Error& e) { error(http_status(e.code), e.message); }
  void plugin_error(const Error& e) { error(plugin_status_code(e), e.message); }
  void method_not_allowed(std::string_view allow) {
    Response response =
        json_response(405,
                      error_json("method " + std::string(request.method_string()) + " is not allowed on " +
                                 std::string(path) + " (use " + std::string(allow) + ")"),
                      version, keep_alive);
    response.set(beast_http::field::allow, allow);
    respond(std::move(response));
  }
};

Api::Api(node::NodeService& node, ApiOptions options)
    : node_(node), options_(std::move(options)), results_(node, options_.post) {}

Response Api::error_response(unsigned status, std::string_view message, unsigned version, bool keep_alive) {
  return json_response(status, error_json(message), version, keep_alive);
}

std::optional<StreamRequest> Api::handle(const Request& request, Respond respond) {
  std::shared_ptr<HttpMetrics> metrics = metrics_;
  Respond counted = [metrics, respond = std::move(respond)](Response response) {
    metrics->count_response(response.result_int());
    respond(std::move(response));
  };
  std::string_view target = request.target();
  size_t q = target.find('?');
  Call call{request,
            std::move(counted),
            request.version(),
            request.keep_alive(),
            target.substr(0, q),
            q == std::string_view::npos ? std::string_view{} : target.substr(q + 1),
            std::nullopt};
  if (request.body().size() > options_.body_limit_bytes) {
    call.error(413, "request body is " + std::to_string(request.body().size()) + " bytes; the limit is " +
                        std::to_string(options_.body_limit_bytes));
    return std::nullopt;
  }
  route(call);
  return std::move(call.stream);
}

bool Api::authorised(Call& call) {
  if (options_.token.empty()) {
    return true;
  }
  auto it = call.request.find(beast_http::field::authorization);
  if (it == call.request.end()) {
    call.error(401, "this node requires 'Authorization: Bearer <token>' for writes");
    return false;
  }
  std::string_view value = it->value();
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() < kBearer.size() || !std::equal(kBearer.begin(), kBearer.end(), value.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      })) {
    call.error(401, "the Authorization header must be 'Bearer <token>'");
    return false;
  }
  if (!secure_equals(value.substr(kBearer.size()), options_.token)) {
    call.error(403, "wrong bearer token");
    return false;
  }
  return true;
}

void Api::election_results(Call& call) {
  Result<ResultsQuery> query = parse_results_query(parse_query(call.query));
  if (!query) {
    call.error(query.error());
    return;
  }
  results_.query(std::move(*query), [respond = call.respond, version = call.version,
                                     keep_alive = call.keep_alive](Result<RenderedResults> rendered) {
    if (!rendered) {
      respond(
          json_response(http_status(rendered.error().code), error_json(rendered.error().message), version, keep_alive));
      return;
    }
    Response response = make_response(200, std::move(rendered->body), rendered->content_type, version, keep_alive);
    response.set(beast_http::field::cache_control, "no-cache");
    respond(std::move(response));
  });
}

void Api::route(Call& call) {
  using beast_http::verb;
  const verb method = call.request.method();
  std::string_view path = call.path;
  const bool get = method == verb::get;
  const bool post = method == verb::post;

  auto require = [&](bool ok, std::string_view allow) {
    if (!ok) {
      call.method_not_allowed(allow);
    }
    return ok;
  };
  auto write_route = [&]() { return require(post, "POST") && authorised(call); };

  constexpr std::string_view kActors = "/v1/actors/";
  constexpr std::string_view kPlugins = "/v1/plugins/";
  if (path.starts_with(kActors) && path.size() > kActors.size()) {
    std::string_view rest = path.substr(kActors.size());
    constexpr std::string_view kCommands = "/commands";
    constexpr std::string_view kLog = "/log";
    if (rest.ends_with(kCommands) && rest.size() > kCommands.size()) {
      if (write_route()) {
        submit_one(call, rest.substr(0, rest.size() - kCommands.size()));
      }
    } else if (rest.ends_with(kLog) && rest.size() > kLog.size()) {
      if (require(get, "GET")) {
        read_log(call, rest.substr(0, rest.size() - kLog.size()));
      }
    } else if (require(get, "GET")) {
      read_actor(call, rest);
    }
  } else if (path == "/v1/commands") {
    if (write_route()) {
      submit_batch(call);
    }
  } else if (path == "/v1/stream") {
    if (require(get, "GET")) {
      std::string prefix;
      for (auto& [name, value] : parse_query(call.query)) {
        if (name == "prefix") {
          prefix = value;
        }
      }
      if (prefix.size() > node::kMaxKeyBytes || !std::all_of(prefix.begin(), prefix.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string_view("._:@/-").find(c) != std::string_view::npos;
          })) {
        call.error(400, "query parameter 'prefix' must be at most 256 bytes of [A-Za-z0-9._:@/-]");
      } else {
        call.stream = StreamRequest{std::move(prefix), false, {}};
      }
    }
  } else if (path == "/v1/results") {
    if (require(get, "GET")) {
      election_results(call);
    }
  } else if (path == "/v1/results/events") {
    if (require(get, "GET")) {
      Result<ResultsQuery> query = parse_results_query(parse_query(call.query));
      if (!query) {
        call.error(query.error());
      } else if (query->format != election::ResultsFormat::kJson || query->all_units) {
        call.error(400, "/v1/results/events streams the json format only (parameter: election)");
      } else {
        call.stream = StreamRequest{{}, true, query->election};
      }
    }
  } else if (path == "/" || path == "/index.html") {
    if (require(get, "GET")) {
      Response response =
          make_response(200, std::string(results_page()), "text/html; charset=utf-8", call.version, call.keep_alive);
      response.set(beast_http::field::cache_control, "no-cache");
      call.respond(std::move(response));
    }
  } else if (path == "/v1/health") {
    if (require(get, "GET")) {
      health(call);
    }
  } else if (path == "/metrics") {
    if (require(get, "GET")) {
      metrics_text(call);
    }
  } else if (path == "/v1/plugins") {
    if (require(get, "GET")) {
      plugins_list(call);
    }
  } else if (path == "/v1/plugins/load") {
    if (write_route()) {
      plugin_load(call);
    }
  } else if (path.starts_with(kPlugins) && path.size() > kPlugins.size()) {
    std::string_view rest = path.substr(kPlugins.size());
    size_t slash = rest.find('/');
    std::string name = percent_decode(rest.substr(0, slash), false);
    std::string_view op = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (op.empty()) {
      if (require(get, "GET")) {
        plugin_status(call, name);
      }
    } else if (op == "divergences") {
      if (require(get, "GET")) {
        plugin_divergences(call, name);
      }
    } else if (op == "swap" || op == "dark" || op == "promote" || op == "drop" || op == "rollback") {
      if (write_route()) {
        plugin_op(call, name, op);
      }
    } else {
      call.error(404, "no route " + std::string(path) +
                          " (plugin operations: swap, dark, promote, drop, rollback, divergences)");
    }
  } else {
    call.error(404, "no route " + std::string(path));
  }
}

void Api::submit_one(Call& call, std::string_view raw_key) {
  std::string key = percent_decode(raw_key, false);
  Result<node::Command> command = make_error(ErrorCode::kInvalidArgument, "");
  switch (body_type(call.request)) {
    case BodyType::kJson:
      command = node::decode_command_json(key, call.request.body());
      break;
    case BodyType::kMsgpack:
      command = node::decode_command_msgpack(key, call.request.body());
      break;
    default:
      call.error(415, "Content-Type must be application/json or application/msgpack");
      return;
  }
  if (!command) {
    metrics_->commands_invalid.fetch_add(1, std::memory_order_relaxed);
    call.error(command.error().code == ErrorCode::kResourceExhausted ? 413 : 400, command.error().message);
    return;
  }
  node_.submit(std::move(command).value(), [respond = call.respond, version = call.version,
                                            keep_alive = call.keep_alive](Result<node::CommandReceipt> receipt) {
    if (receipt) {
      respond(json_response(200, node::receipt_to_json(*receipt), version, keep_alive));
    } else {
      respond(
          json_response(http_status(receipt.error().code), error_json(receipt.error().message), version, keep_alive));
    }
  });
}

void Api::submit_batch(Call& call) {
  Result<node::BatchItems> items = make_error(ErrorCode::kInvalidArgument, "");
  BodyType type = body_type(call.request);
  switch (type) {
    case BodyType::kNdjson:
      items = node::decode_batch_ndjson(call.request.body());
      break;
    case BodyType::kMsgpack:
      items = node::decode_batch_msgpack(call.request.body());
      break;
    case BodyType::kJson:
      items = node::decode_batch_json(call.request.body());
      break;
    default:
      call.error(415, "Content-Type must be application/x-ndjson, application/msgpack or application/json");
      return;
  }
  if (!items) {
    metrics_->commands_invalid.fetch_add(1, std::memory_order_relaxed);
    call.error(items.error().code == ErrorCode::kResourceExhausted ? 413 : 400, items.error().message);
    return;
  }
  // Results are gathered in request order, each already rendered as JSON
  // text (node::append_*_json, as dump_json would render it); the last
  // callback answers with the same bytes json_response would send. Each
  // callback writes only its own slot, so no lock: the decrement of
  // `pending` (acq_rel) orders every slot write before finish() reads them.
  struct Batch {
    std::vector<std::string> results;
    std::atomic<size_t> pending{0};
    // The keys of the submitted commands, for their error results: one
    // buffer instead of a string per callback.
    std::string keys;
    std::vector<std::pair<uint32_t, uint32_t>> key_spans;  // per item: offset, size in `keys`
    Respond respond;
    unsigned version = 11;
    bool keep_alive = true;
    bool ndjson = false;
    std::string_view key(size_t index) const {
      return std::string_view(keys).substr(key_spans[index].first, key_spans[index].second);
    }
    void finish() {
      respond(ndjson ? make_response(200, join("", "\n"), "application/x-ndjson", version, keep_alive)
                     : make_response(200, "{\"results\":[" + join(",", "") + "]}\n", "application/json", version,
                                     keep_alive));
    }
    // The results, each followed by `end` and separated by `separator`.
    std::string join(std::string_view separator, std::string_view end) const {
      size_t size = 0;
      for (const std::string& r : results) {
        size += r.size() + separator.size() + end.size();
      }
      std::string body;
      body.reserve(size + 16);
      for (size_t i = 0; i < results.size(); ++i) {
        if (i > 0) {
          body += separator;
        }
        body += results[i];
        body += end;
      }
      return body;
    }
    void release() {
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        finish();
      }
    }
  };
  auto batch = std::make_shared<Batch>();
  batch->results.resize(items->size());
  batch->key_spans.resize(items->size());
  batch->respond = call.respond;
  batch->version = call.version;
  batch->keep_alive = call.keep_alive;
  batch->ndjson = accepts_ndjson(call.request);
  size_t valid = 0;
  size_t key_bytes = 0;
  for (size_t i = 0; i < items->size(); ++i) {
    Result<node::Command>& item = (*items)[i];
    if (item) {
      ++valid;
      key_bytes += item->key.size();
    } else {
      metrics_->commands_invalid.fetch_add(1, std::memory_order_relaxed);
      unsigned status = item.error().code == ErrorCode::kResourceExhausted ? 413 : 400;
      node::append_error_json(batch->results[i], {}, status, item.error().message);
    }
  }
  // Keys are at most kMaxKeyBytes and a batch at most kMaxBatchCommands
  // items, so offsets fit in 32 bits.
  batch->keys.reserve(key_bytes);
  for (size_t i = 0; i < items->size(); ++i) {
    if (Result<node::Command>& item = (*items)[i]) {
      batch->key_spans[i] = {static_cast<uint32_t>(batch->keys.size()), static_cast<uint32_t>(item->key.size())};
      batch->keys += item->key;
    }
  }
  batch->pending.store(valid + 1, std::memory_order_relaxed);  // +1: this function's own hold, released below
  for (size_t i = 0; i < items->size(); ++i) {
    Result<node::Command>& item = (*items)[i];
    if (!item) {
      continue;
    }
    node_.submit(std::move(item).value(), [batch, index = i](Result<node::CommandReceipt> r) {
      std::string& result = batch->results[index];
      if (r) {
        // One allocation: a receipt is ~110 bytes of JSON plus its key
        // (growing from empty took three).
        result.reserve(kReceiptJsonBytes + r->key.size() + r->hash_hex.size());
        node::append_receipt_json(result, *r);
      } else {
        node::append_error_json(result, batch->key(index), http_status(r.error().code), r.error().message);
      }
      batch->release();
    });
  }
  batch->release();
}

void Api::read_actor(Call& call, std::string_view raw_key) {
  std::string key = percent_decode(raw_key, false);
  if (Status s = node::validate_key(key); !s) {
    call.error(400, s.error().message);
    return;
  }
  node_.read_actor(std::move(key), [respond = call.respond, version = call.version,
                                    keep_alive = call.keep_alive](Result<node::ActorView> view) {
    if (view) {
      respond(json_response(200, node::actor_view_to_json(*view), version, keep_alive));
    } else {
      respond(json_response(http_status(view.error().code), error_json(view.error().message), version, keep_alive));
    }
  });
}

void Api::read_log(Call& call, std::string_view raw_key) {
  std::string key = percent_decode(raw_key, false);
  if (Status s = node::validate_key(key); !s) {
    call.error(400, s.error().message);
    return;
  }
  uint64_t from = 1;
  uint64_t limit = kDefaultLogLimit;
  bool replica_local = false;
  for (auto& [name, value] : parse_query(call.query)) {
    std::optional<uint64_t> number = parse_uint(value);
    if (name == "replica") {
      if (value != "local") {
        call.error(400, "query parameter 'replica' must be 'local', got '" + value.substr(0, 32) + "'");
        return;
      }
      replica_local = true;
    } else if (name == "from") {
      if (!number || *number == 0) {
        call.error(400, "query parameter 'from' must be a sequence number >= 1, got '" + value.substr(0, 32) + "'");
        return;
      }
      from = *number;
    } else if (name == "limit") {
      if (!number || *number == 0 || *number > kMaxLogLimit) {
        call.error(400, "query parameter 'limit' must be 1.." + std::to_string(kMaxLogLimit) + ", got '" +
                            value.substr(0, 32) + "'");
        return;
      }
      limit = *number;
    } else {
      call.error(400, "unknown query parameter '" + name.substr(0, 32) + "' (use 'from', 'limit', 'replica')");
      return;
    }
  }
  if (replica_local) {
    // This node's own copy, committed entries only (any replica serves it).
    node_.read_replica_log(key, from, static_cast<size_t>(limit),
                           [respond = call.respond, version = call.version, keep_alive = call.keep_alive,
                            key](Result<node::NodeService::ReplicaLog> copy) {
                             if (!copy) {
                               respond(json_response(http_status(copy.error().code), error_json(copy.error().message),
                                                     version, keep_alive));
                               return;
                             }
                             json list = json::array();
                             for (const node::LogEntryView& e : copy->entries) {
                               list.push_back(node::log_entry_to_json(e));
                             }
                             respond(json_response(200,
                                                   json{{"key", key},
                                                        {"replica", "local"},
                                                        {"commit", copy->commit},
                                                        {"last_seq", copy->last_seq},
                                                        {"entries", std::move(list)}},
                                                   version, keep_alive));
                           });
    return;
  }
  node_.read_log(key, from, static_cast<size_t>(limit),
                 [respond = call.respond, version = call.version, keep_alive = call.keep_alive,
                  key](Result<std::vector<node::LogEntryView>> entries) {
                   if (!entries) {
                     respond(json_response(http_status(entries.error().code), error_json(entries.error().message),
                                           version, keep_alive));
                     return;
                   }
                   json list = json::array();
                   for (const node::LogEntryView& e : *entries) {
                     list.push_back(node::log_entry_to_json(e));
                   }
                   respond(json_response(200, json{{"key", key}, {"entries", std::move(list)}}, version, keep_alive));
                 });
}

void Api::health(Call& call) {
  node::Health h = node_.health();
  std::string status = stopping_.load() ? "stopping" : (h.serving ? "serving" : "starting");
  json body{{"status", status},
            {"node", h.node_name},
            {"actors_active", h.actors_active},
            {"actors_failed", h.actors_failed},
            {"uptime_ms", h.uptime_ms}};
  if (h.replicated) {
    json keys = json::array();
    for (const node::UnderReplicatedKey& k : h.under_replicated) {
      keys.push_back(json{{"key", k.key}, {"copies", k.copies}, {"replicas", k.replicas}});
    }
    body["replication"] = json{{"replicas", h.replicas},
                               {"keys_writing", h.keys_writing},
                               {"keys_under_replicated", h.keys_under_replicated},
                               {"under_replicated", std::move(keys)}};
  }
  call.send(status == "serving" ? 200 : 503, std::move(body));
}

void Api::metrics_text(Call& call) {
  std::string out;
  node_.write_metrics(out);
  metrics_->write(out);
  call.respond(
      make_response(200, std::move(out), "text/plain; version=0.0.4; charset=utf-8", call.version, call.keep_alive));
}

void Api::plugins_list(Call& call) {
  json slots = json::array();
  for (const host::SlotStatus& slot : node_.plugins().list()) {
    slots.push_back(slot_json(slot));
  }
  call.send(200, json{{"plugins", std::move(slots)}});
}

void Api::plugin_status(Call& call, std::string_view name) {
  Result<host::SlotStatus> slot = node_.plugins().status(name);
  if (!slot) {
    call.plugin_error(slot.error());
    return;
  }
  call.send(200, slot_json(*slot));
}

void Api::plugin_load(Call& call) {
  if (body_type(call.request) != BodyType::kJson) {
    call.error(415, "Content-Type must be application/json");
    return;
  }
  json body = json::parse(call.request.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    call.error(400, "malformed JSON: expected {\"name\": \"...\", \"path\": \"...\"}");
    return;
  }
  if (!body.contains("path") || !body["path"].is_string() || body["path"].get<std::string>().empty()) {
    call.error(400, "field 'path' (the plugin file on the node) must be a non-empty string");
    return;
  }
  if (body.contains("name") && !body["name"].is_string()) {
    call.error(400, "field 'name' must be a string");
    return;
  }
  std::string path = body["path"].get<std::string>();
  std::string name;
  host::VersionId id = host::kNoVersion;
  if (body.contains("name")) {
    name = body["name"].get<std::string>();
    Result<host::VersionId> loaded = node_.plugins().load(name, path);
    if (!loaded) {
      // The file named in the body is the problem (missing, refused), or the slot is full.
      call.error(loaded.error().code == ErrorCode::kResourceExhausted ? 409 : 400, loaded.error().message);
      return;
    }
    id = *loaded;
  } else {
    Result<host::PluginHost::Loaded> loaded = node_.plugins().load(std::filesystem::path(path));
    if (!loaded) {
      call.error(loaded.error().code == ErrorCode::kResourceExhausted ? 409 : 400, loaded.error().message);
      return;
    }
    name = loaded->name;
    id = loaded->version;
  }
  json answer{{"name", name}, {"version", id}};
  if (auto v = node_.plugins().version(id)) {
    answer["semver"] = v->semver();
    answer["schema"] = v->projection_schema();
    answer["sha256"] = v->library().sha256_hex();
  }
  call.send(200, answer);
}

void Api::plugin_op(Call& call, std::string_view name, std::string_view op) {
  host::PluginHost& plugins = node_.plugins();
  Status status;
  if (op == "swap" || op == "dark") {
    if (body_type(call.request) != BodyType::kJson) {
      call.error(415, "Content-Type must be application/json");
      return;
    }
    json body = json::parse(call.request.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("version") ||
        !body["version"].is_number_unsigned()) {
      call.error(400, "expected {\"version\": <id>} with the numeric version id from /v1/plugins");
      return;
    }
    auto id = body["version"].get<host::VersionId>();
    status = op == "swap" ? plugins.swap(name, id) : plugins.dark_launch(name, id);
  } else if (op == "promote") {
    status = plugins.promote(name);
  } else if (op == "drop") {
    status = plugins.drop(name);
  } else {
    status = plugins.rollback(name);
  }
  if (!status) {
    call.plugin_error(status.error());
    return;
  }
  Result<host::SlotStatus> slot = plugins.status(name);
  if (!slot) {
    call.plugin_error(slot.error());
    return;
  }
  call.send(200, slot_json(*slot));
}

void Api::plugin_divergences(Call& call, std::string_view name) {
  Result<host::SlotStatus> slot = node_.plugins().status(name);
  if (!slot) {
    call.plugin_error(slot.error());
    return;
  }
  json records = json::array();
  for (const host::DivergenceRecord& r : node_.plugins().divergences(name)) {
    records.push_back(json{{"sequence", r.sequence},
                           {"handler", r.handler},
                           {"live_version", r.live_version},
                           {"candidate_version", r.candidate_version},
                           {"key", r.key},
                           {"message_id", r.message_id},
                           {"live", handle_result_json(r.live)},
                           {"candidate", handle_result_json(r.candidate)}});
  }
  call.send(200, json{{"name", slot->name}, {"total", slot->divergences}, {"divergences", std::move(records)}});
}

}  // namespace quorum::http
