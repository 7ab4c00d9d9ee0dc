// loadgen_bench: a load generator for one quorumd node (plain main).
//
//   loadgen_bench --node http://127.0.0.1:8080 [--connections 64] [--batch 1]
//                 [--keys 1000] [--duration 10] [--warmup 2] [--rate 0]
//                 [--threads 1] [--token T] [--prefix lg/] [--json]
//                 [--topology FILE --writer NODE] [--request-timeout 30]
//                 [--ack-log FILE]
//
// Boost.Asio/Beast asynchronous HTTP/1.1 over keep-alive connections. Each
// request carries one ~200-byte ballot (POST /v1/actors/{key}/commands), or
// --batch N of them as NDJSON (POST /v1/commands), spread round-robin over
// --keys actors, each with a unique id.
// - closed loop (--rate 0): every connection keeps one request outstanding;
// - open loop (--rate R commands/s): requests are due at fixed times; the
//   latency of each counts from its due time (not from when a connection
//   was free), so queueing is measured instead of hidden.
// Reports acknowledged durable commands/s (a 200 with a seq per command),
// request latency p50/p99/max, and errors by status, over --duration
// seconds after --warmup seconds. Ends with one machine-readable line:
//   RESULT mode=... acked/s=... p50_ms=... p99_ms=... max_ms=... errors=...
//
// For cluster benchmarks (tests/bench/replicated_bench.sh, failover_bench.sh):
// - --topology FILE --writer NODE keeps only the keys (prefix + "precinct/"
//   + n, n = 0, 1, ...) whose writer under that topology.json is NODE, until
//   --keys of them are found, so the load goes to one writer's keys only
//   (placement is computed exactly as the nodes do: quorum/cluster/placement.hpp);
// - --request-timeout S gives up on an answer after S seconds (counted as
//   "timeout", then a new connection), so a dead node does not hold a
//   connection for long;
// - --ack-log FILE writes one line per answered (or failed) request, warm-up
//   included: "<key index> <sent unix ns> <answered unix ns> <status>", status
//   the HTTP status or timeout/read/write (failover_bench.sh finds the first
//   ack per key after a kill from it). At most kMaxAckLogLines lines per thread.
#include <quorum/cluster/placement.hpp>
#include <quorum/cluster/topology.hpp>
#include <quorum/host/result.hpp>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string node = "http://127.0.0.1:8080";
  std::string token;
  std::string prefix = "lg/";
  uint64_t connections = 64;
  uint64_t batch = 1;
  uint64_t keys = 1000;
  double duration_s = 10;
  double warmup_s = 2;
  double rate = 0;  // commands/s; 0 = closed loop
  uint64_t threads = 1;
  bool json = false;
  std::string topology_file;  // with writer: only keys written by that node
  std::string writer;
  double request_timeout_s = 30;
  std::string ack_log;  // empty: none
};

// Bounds the in-memory ack log (32 bytes a line): 64 MiB per thread.
constexpr size_t kMaxAckLogLines = size_t{2} << 20;

// Log-linear latency histogram in microseconds (about 1.5 % resolution up
// to about 70 s); fixed size, so recording never allocates.
class Histogram {
 public:
  static constexpr int kSub = 64;
  static constexpr int kGroups = 27;
  void record(uint64_t micros) {
    ++counts_[index(micros)];
    ++count_;
    max_ = std::max(max_, micros);
  }
  void merge(const Histogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) {
      counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double quantile_ms(double q) const {
    if (count_ == 0) {
      return 0;
    }
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return static_cast<double>(std::min(upper(i), max_)) / 1000.0;
      }
    }
    return static_cast<double>(max_) / 1000.0;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < kSub) {
      return v;
    }
    const int group = 63 - __builtin_clzll(v) - 6;  // v in [2^(g+6), 2^(g+7))
    if (group >= kGroups) {
      return static_cast<size_t>(kSub * (kGroups + 1) - 1);
    }
    const uint64_t sub = (v >> group) - kSub;  // 0..63
    return static_cast<size_t>(kSub * (group + 1)) + sub;
  }
  static uint64_t upper(size_t i) {
    if (i < kSub) {
      return i;
    }
    const size_t group = i / kSub - 1;
    const uint64_t sub = i % kSub;
    return ((sub + kSub + 1) << group) - 1;
  }
  std::array<uint64_t, kSub*(kGroups + 1)> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// One request's fate, for --ack-log. status: the HTTP status, or a negative
// AckError.
struct AckLine {
  uint64_t key_index = 0;
  int64_t sent_ns = 0;      // system clock, ns since the epoch
  int64_t answered_ns = 0;  // likewise
  int32_t status = 0;
};
enum AckError : int32_t { kAckTimeout = -1, kAckRead = -2, kAckWrite = -3 };

int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What one thread measured (merged at the end).
struct Stats {
  Histogram latency;
  uint64_t acked = 0;                      // commands acknowledged durable
  uint64_t requests = 0;                   // answered requests in the window
  std::map<std::string, uint64_t> errors;  // by status ("422", "503", "connect", ...)
  std::vector<AckLine> ack_log;            // only with --ack-log; bounded by kMaxAckLogLines
  uint64_t ack_log_dropped = 0;
};

struct Shared {
  Options options;
  std::string host, port, key_prefix_encoded;
  Clock::time_point start, measure_start, end;
  std::atomic<uint64_t> next_request{0};  // open loop: the next due slot
  std::atomic<uint64_t> next_command{0};
  uint64_t run_id = 0;
  std::vector<std::string> keys;          // raw keys
  std::vector<std::string> encoded_keys;  // URL-encoded keys
};

std::string url_encode(const std::string& text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[static_cast<unsigned char>(c) >> 4]);
      out.push_back(hex[static_cast<unsigned char>(c) & 0xf]);
    }
  }
  return out;
}

// A ~200-byte NIST-style CVR ballot (the JSON of one command's data).
std::string ballot_data(uint64_t n) {
  static const char* const choices[] = {"alice", "bob", "carol", "dave"};
  char data[256];
  std::snprintf(data, sizeof data,
                "{\"CVRSnapshot\":[{\"@id\":\"s\",\"CVRContest\":[{\"ContestId\":\"mayor\",\"CVRContestSelection\":"
                "[{\"ContestSelectionId\":\"%s\",\"SelectionPosition\":[{\"HasIndication\":\"yes\","
                "\"NumberVotes\":1}]}]}]}],\"CurrentSnapshotId\":\"s\"}",
                choices[n % 4]);
  return data;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static constexpr size_t kReadBufferBytes = size_t{64} << 10;

  Connection(asio::io_context& io, Shared& shared, Stats& stats, tcp::resolver::results_type endpoints)
      : io_(io), shared_(shared), stats_(stats), endpoints_(std::move(endpoints)), stream_(io), timer_(io) {}

  void start() { connect(); }

 private:
  void connect() {
    if (Clock::now() >= shared_.end) {
      return;
    }
    stream_.expires_after(std::chrono::seconds(10));
    stream_.async_connect(endpoints_, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        self->count_error("connect");
        self->retry_later();
        return;
      }
      beast::error_code ignored;
      self->stream_.socket().set_option(tcp::no_delay(true), ignored);
      self->next();
    });
  }

  void retry_later() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    timer_.expires_after(std::chrono::milliseconds(100));
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->connect(); });
  }

  void count_error(const std::string& what) {
    if (Clock::now() >= shared_.measure_start) {
      ++stats_.errors[what];
    }
  }

  // The next request: now (closed loop) or at its due time (open loop).
  void next() {
    const Options& options = shared_.options;
    if (options.rate > 0) {
      const uint64_t slot = shared_.next_request.fetch_add(1);
      const double per_request_s = static_cast<double>(options.batch) / options.rate;
      due_ = shared_.start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(per_request_s * static_cast<double>(slot)));
      if (due_ >= shared_.end) {
        return;
      }
      if (due_ > Clock::now()) {
        timer_.expires_at(due_);
        timer_.async_wait([self = shared_from_this()](beast::error_code) { self->send(); });
        return;
      }
    } else {
      due_ = Clock::now();
      if (due_ >= shared_.end) {
        return;
      }
    }
    send();
  }

  void send() {
    const Options& options = shared_.options;
    request_ = {};
    request_.version(11);
    request_.method(http::verb::post);
    request_.set(http::field::host, shared_.host);
    request_.keep_alive(true);
    if (!options.token.empty()) {
      request_.set(http::field::authorization, "Bearer " + options.token);
    }
    std::string body;
    const uint64_t first = shared_.next_command.fetch_add(options.batch);
    key_index_ = first % shared_.keys.size();
    sent_ns_ = unix_ns();
    if (options.batch == 1) {
      const uint64_t key_index = key_index_;
      request_.target("/v1/actors/" + shared_.encoded_keys[key_index] + "/commands");
      request_.set(http::field::content_type, "application/json");
      char head[96];
      std::snprintf(head, sizeof head, "{\"id\":\"%016llx-%llu\",\"type\":\"cvr\",\"data\":",
                    static_cast<unsigned long long>(shared_.run_id), static_cast<unsigned long long>(first));
      body = head + ballot_data(first) + "}";
    } else {
      request_.target("/v1/commands");
      request_.set(http::field::content_type, "application/x-ndjson");
      request_.set(http::field::accept, "application/x-ndjson");
      body.reserve(options.batch * 300);
      for (uint64_t n = first; n < first + options.batch; ++n) {
        char head[400];
        std::snprintf(head, sizeof head, "{\"key\":\"%s\",\"id\":\"%016llx-%llu\",\"type\":\"cvr\",\"data\":",
                      shared_.keys[n % shared_.keys.size()].c_str(), static_cast<unsigned long long>(shared_.run_id),
                      static_cast<unsigned long long>(n));
        body += head;
        body += ballot_data(n);
        body += "}\n";
      }
    }
    request_.body() = std::move(body);
    request_.prepare_payload();
    stream_.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(shared_.options.request_timeout_s)));
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->count_error(ec == beast::error::timeout ? "timeout" : "write");
        self->log_ack(ec == beast::error::timeout ? kAckTimeout : kAckWrite);
        self->retry_later();
        return;
      }
      self->read();
    });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(64u << 20);
    // Beast reads at most the buffer's free capacity (512 bytes when it is
    // small) per receive: a batch answer of ~130 KB took ~250 receives of
    // CPU on the cores the node uses.
    if (buffer_.capacity() < kReadBufferBytes) {
      buffer_.reserve(kReadBufferBytes);
    }
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_answer(ec); });
  }

  void on_answer(beast::error_code ec) {
    const auto now = Clock::now();
    if (ec) {
      count_error(ec == beast::error::timeout ? "timeout" : "read");
      log_ack(ec == beast::error::timeout ? kAckTimeout : kAckRead);
      retry_later();
      return;
    }
    const auto& answer = parser_->get();
    log_ack(static_cast<int32_t>(answer.result_int()));
    const bool measured = due_ >= shared_.measure_start && now <= shared_.end;
    if (measured) {
      ++stats_.requests;
      stats_.latency.record(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - due_).count()));
      if (answer.result_int() != 200) {
        stats_.errors[std::to_string(answer.result_int())] += shared_.options.batch;
      } else if (shared_.options.batch == 1) {
        ++stats_.acked;
      } else {
        // NDJSON: one result per line; acknowledged ones carry a seq and no status.
        const std::string& text = answer.body();
        size_t line_start = 0;
        while (line_start < text.size()) {
          size_t end = text.find('\n', line_start);
          if (end == std::string::npos) {
            end = text.size();
          }
          const std::string_view line(text.data() + line_start, end - line_start);
          if (!line.empty()) {
            if (line.find("\"seq\"") != std::string_view::npos && line.find("\"error\"") == std::string_view::npos) {
              ++stats_.acked;
            } else {
              const size_t status = line.find("\"status\":");
              stats_.errors[status == std::string_view::npos ? std::string("batch-item")
                                                             : std::string(line.substr(status + 9, 3))]++;
            }
          }
          line_start = end + 1;
        }
      }
    }
    if (!answer.keep_alive()) {
      beast::error_code ignored;
      stream_.socket().close(ignored);
      connect();
      return;
    }
    next();
  }

  void log_ack(int32_t status) {
    if (shared_.options.ack_log.empty()) {
      return;
    }
    if (stats_.ack_log.size() >= kMaxAckLogLines) {
      ++stats_.ack_log_dropped;
      return;
    }
    stats_.ack_log.push_back(AckLine{key_index_, sent_ns_, unix_ns(), status});
  }

  asio::io_context& io_;
  Shared& shared_;
  Stats& stats_;
  tcp::resolver::results_type endpoints_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Clock::time_point due_;
  uint64_t key_index_ = 0;  // of the request in flight (its first command)
  int64_t sent_ns_ = 0;
};

// The first options.keys keys prefix + "precinct/" + n (n = 0, 1, ...) whose
// writer under the topology file is options.writer.
quorum::Result<std::vector<std::string>> select_keys(const Options& options) {
  auto topology = quorum::cluster::read_topology_file(options.topology_file);
  if (!topology) {
    return topology.error();
  }
  if (quorum::cluster::node_named(*topology, options.writer) == nullptr) {
    return quorum::Error{quorum::ErrorCode::kInvalidArgument,
                         "--writer " + options.writer + " is not a node of " + options.topology_file};
  }
  auto placement = quorum::cluster::Placement::create(std::move(topology).value());
  if (!placement) {
    return placement.error();
  }
  // A writer of 1/N of a ring's keys is found within about N * keys tries;
  // the bound only stops a node that writes nothing under this prefix.
  const uint64_t max_tries = options.keys * 1000 + 100'000;
  std::vector<std::string> keys;
  for (uint64_t n = 0; n < max_tries && keys.size() < options.keys; ++n) {
    std::string key = options.prefix + "precinct/" + std::to_string(n);
    auto writer = placement->writer(key);
    if (!writer) {
      return writer.error();
    }
    if (placement->node_name(*writer) == options.writer) {
      keys.push_back(std::move(key));
    }
  }
  if (keys.size() < options.keys) {
    return quorum::Error{quorum::ErrorCode::kNotFound, "only " + std::to_string(keys.size()) + " of " +
                                                           std::to_string(options.keys) + " keys with prefix " +
                                                           options.prefix + " are written by " + options.writer};
  }
  return keys;
}

bool write_ack_log(const std::string& path, const std::vector<Stats>& stats) {
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) {
    return false;
  }
  for (const Stats& s : stats) {
    for (const AckLine& line : s.ack_log) {
      std::fprintf(out, "%llu %lld %lld ", static_cast<unsigned long long>(line.key_index),
                   static_cast<long long>(line.sent_ns), static_cast<long long>(line.answered_ns));
      switch (line.status) {
        case kAckTimeout:
          std::fputs("timeout\n", out);
          break;
        case kAckRead:
          std::fputs("read\n", out);
          break;
        case kAckWrite:
          std::fputs("write\n", out);
          break;
        default:
          std::fprintf(out, "%d\n", static_cast<int>(line.status));
      }
    }
  }
  return std::fclose(out) == 0;
}

bool split_url(const std::string& url, std::string& host, std::string& port) {
  std::string rest = url;
  if (rest.starts_with("http://")) {
    rest = rest.substr(7);
  }
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  host = rest.substr(0, colon);
  port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  return !host.empty() && !port.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"loadgen_bench: acknowledged durable commands/s and latency of one quorumd node"};
  app.add_option("--node", options.node, "node URL")->capture_default_str();
  app.add_option("--token", options.token, "bearer token");
  app.add_option("--prefix", options.prefix, "actor key prefix")->capture_default_str();
  app.add_option("--connections", options.connections, "keep-alive connections")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--batch", options.batch, "commands per request (1: single; >1: NDJSON batch)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--keys", options.keys, "actors the ballots are spread over")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--duration", options.duration_s, "measured seconds")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup_s, "seconds before measuring")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--rate", options.rate, "open loop at this many commands/s (0: closed loop)")->capture_default_str();
  app.add_option("--threads", options.threads, "client threads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_flag("--json", options.json, "print the result as JSON too");
  app.add_option("--topology", options.topology_file, "topology.json: with --writer, only keys that node writes")
      ->check(CLI::ExistingFile);
  app.add_option("--writer", options.writer, "node name: only keys whose writer is this node (needs --topology)");
  app.add_option("--request-timeout", options.request_timeout_s, "seconds to wait for an answer")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--ack-log", options.ack_log, "file: one line per request (key index, sent ns, answered ns, status)");
  CLI11_PARSE(app, argc, argv);
  if (options.topology_file.empty() != options.writer.empty()) {
    std::fprintf(stderr, "--topology and --writer go together\n");
    return 1;
  }

  Shared shared;
  shared.options = options;
  if (!split_url(options.node, shared.host, shared.port)) {
    std::fprintf(stderr, "bad --node %s\n", options.node.c_str());
    return 1;
  }
  shared.run_id =
      std::random_device{}() * 0x100000001ull ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  if (options.writer.empty()) {
    for (uint64_t k = 0; k < options.keys; ++k) {
      shared.keys.push_back(options.prefix + "precinct/" + std::to_string(k));
    }
  } else {
    auto candidates = select_keys(options);
    if (!candidates) {
      std::fprintf(stderr, "%s\n", candidates.error().message.c_str());
      return 1;
    }
    shared.keys = std::move(candidates).value();
  }
  for (const std::string& key : shared.keys) {
    shared.encoded_keys.push_back(url_encode(key));
  }
  shared.start = Clock::now();
  shared.measure_start =
      shared.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup_s));
  shared.end = shared.measure_start +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration_s));

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<Stats> stats(options.threads);
  for (uint64_t t = 0; t < options.threads; ++t) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
  }
  tcp::resolver resolver(*contexts[0]);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(shared.host, shared.port, ec);
  if (ec) {
    std::fprintf(stderr, "cannot resolve %s: %s\n", options.node.c_str(), ec.message().c_str());
    return 3;
  }
  for (uint64_t c = 0; c < options.connections; ++c) {
    const uint64_t t = c % options.threads;
    std::make_shared<Connection>(*contexts[t], shared, stats[t], endpoints)->start();
  }
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < options.threads; ++t) {
    threads.emplace_back([&, t] {
      // Stop each loop shortly after the end; answers still in flight then are not counted.
      asio::steady_timer stop(*contexts[t]);
      stop.expires_at(shared.end + std::chrono::seconds(2));
      stop.async_wait([&, t](beast::error_code) { contexts[t]->stop(); });
      contexts[t]->run();
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  Stats total;
  for (const Stats& s : stats) {
    total.latency.merge(s.latency);
    total.acked += s.acked;
    total.requests += s.requests;
    for (const auto& [what, count] : s.errors) {
      total.errors[what] += count;
    }
  }
  if (!options.ack_log.empty()) {
    uint64_t dropped = 0;
    for (const Stats& s : stats) {
      dropped += s.ack_log_dropped;
    }
    if (!write_ack_log(options.ack_log, stats)) {
      std::fprintf(stderr, "cannot write --ack-log %s\n", options.ack_log.c_str());
      return 1;
    }
    if (dropped > 0) {
      std::fprintf(stderr, "ack log: %llu lines dropped (over %zu per thread)\n",
                   static_cast<unsigned long long>(dropped), kMaxAckLogLines);
    }
  }
  uint64_t errors = 0;
  std::string by_status;
  for (const auto& [what, count] : total.errors) {
    errors += count;
    by_status += (by_status.empty() ? "" : ",") + what + ":" + std::to_string(count);
  }
  const double acked_per_s = static_cast<double>(total.acked) / options.duration_s;
  const char* mode = options.rate > 0 ? "open" : "closed";
  std::printf("node=%s mode=%s connections=%llu batch=%llu keys=%llu rate=%.0f duration=%.1fs\n", options.node.c_str(),
              mode, static_cast<unsigned long long>(options.connections),
              static_cast<unsigned long long>(options.batch), static_cast<unsigned long long>(options.keys),
              options.rate, options.duration_s);
  std::printf("requests=%llu acked=%llu errors=%llu [%s]\n", static_cast<unsigned long long>(total.requests),
              static_cast<unsigned long long>(total.acked), static_cast<unsigned long long>(errors), by_status.c_str());
  std::printf(
      "RESULT mode=%s batch=%llu connections=%llu rate=%.0f acked/s=%.0f p50_ms=%.3f p99_ms=%.3f "
      "max_ms=%.3f errors=%llu\n",
      mode, static_cast<unsigned long long>(options.batch), static_cast<unsigned long long>(options.connections),
      options.rate, acked_per_s, total.latency.quantile_ms(0.5), total.latency.quantile_ms(0.99),
      static_cast<double>(total.latency.max()) / 1000.0, static_cast<unsigned long long>(errors));
  if (options.json) {
    std::printf(
        "{\"mode\":\"%s\",\"batch\":%llu,\"acked_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
        "\"errors\":%llu}\n",
        mode, static_cast<unsigned long long>(options.batch), acked_per_s, total.latency.quantile_ms(0.5),
        total.latency.quantile_ms(0.99), static_cast<double>(total.latency.max()) / 1000.0,
        static_cast<unsigned long long>(errors));
  }
  return total.acked > 0 ? 0 : 2;
}
