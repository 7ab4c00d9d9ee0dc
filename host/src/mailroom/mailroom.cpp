#include <quorum/mailroom/mailroom.hpp>

#include <quorum/host/assert.hpp>
#include <quorum/mailroom/codec.hpp>

#include <spdlog/spdlog.h>
#include <zstd.h>
#include <boost/asio.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <exception>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

namespace quorum::mailroom {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

// Reserved bytes at the start of every queued chunk: the bundle header (5)
// and the array header (at most 5) are written there, right-aligned, so a
// bundle goes out as one contiguous buffer.
constexpr size_t kChunkReserve = kBundleHeaderBytes + 5;

// Accepted connections at most (one per peer is normal; the rest is slack
// for reconnects whose old connection has not been noticed dead yet).
constexpr size_t kMaxInboundConnections = 4096;

// Counters kept for nodes that dialled us but are not in the peer list.
constexpr size_t kMaxUnlistedCounters = 1024;

// One read of an accepted connection asks for at least this much (more only
// to finish a larger bundle): a burst of small bundles is one read.
constexpr size_t kReadChunkBytes = 8 << 10;

struct PeerCounters {
  std::atomic<uint64_t> frames_sent{0}, frames_received{0}, bytes_sent{0}, bytes_received{0}, bundles_sent{0},
      frames_dropped{0}, reconnects{0};
};

// "host:port" or "[v6]:port".
bool split_host_port(const std::string& address, std::string& host, std::string& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return false;
  }
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5;
}

}  // namespace

class OutLink;
class InLink;

struct Mailroom::State {
  MailroomOptions options;
  FrameHandler on_frame;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::optional<tcp::acceptor> acceptor;
  std::atomic<bool> started{false}, stopping{false};
  std::atomic<uint64_t> epoch{0};
  std::atomic<uint64_t> self_queued{0};
  std::atomic<uint64_t> removed_dropped{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> accepted{0};

  mutable std::shared_mutex peers_mutex;
  std::unordered_map<std::string, std::shared_ptr<OutLink>> peers;
  std::unordered_map<std::string, std::shared_ptr<PeerCounters>> counters;  // same names as peers

  std::mutex in_mutex;
  std::unordered_map<InLink*, std::weak_ptr<InLink>> in_links;

  mutable std::mutex error_mutex;
  std::string last_error;

  size_t incoming_limit() const {
    return std::max(options.max_bundle_bytes, options.max_frame_bytes) + kBundleSlackBytes;
  }
  void protocol_error(const std::string& reason) {
    protocol_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("mailroom {}: {}", options.node_name, reason);
    std::lock_guard lock(error_mutex);
    last_error = reason;
  }
  // The counters of a node that dialled us; kept for set_peers when the
  // node is not (yet) a peer, up to kMaxUnlistedCounters names.
  std::shared_ptr<PeerCounters> counters_for(const std::string& name) {
    std::unique_lock lock(peers_mutex);
    auto found = counters.find(name);
    if (found != counters.end()) {
      return found->second;
    }
    auto fresh = std::make_shared<PeerCounters>();
    if (counters.size() < peers.size() + kMaxUnlistedCounters) {
      counters.emplace(name, fresh);
    }
    return fresh;
  }
  void accept_next();
};

namespace {
using State = Mailroom::State;
}  // namespace

// The outgoing connection to one peer and its queue. Socket work runs on the
// strand; the queue is shared with send() under mutex_.
class OutLink : public std::enable_shared_from_this<OutLink> {
 public:
  struct Chunk {
    std::string bytes;  // kChunkReserve reserved bytes, then encoded frames
    uint32_t frames = 0;
  };

  OutLink(State& state, std::string name, std::string address, std::shared_ptr<PeerCounters> counters)
      : state_(state),
        name_(std::move(name)),
        address_(std::move(address)),
        counters_(std::move(counters)),
        strand_(asio::make_strand(state.io)),
        socket_(strand_),
        resolver_(strand_),
        retry_timer_(strand_),
        handshake_timer_(strand_),
        random_(std::random_device{}()) {}

  ~OutLink() {
    if (cctx_ != nullptr) {
      ZSTD_freeCCtx(cctx_);
    }
  }

  const std::string& address() const { return address_; }

  void start() {
    asio::post(strand_, [self = shared_from_this()] { self->connect(); });
  }

  Status enqueue(std::string_view encoded) {
    const MailroomOptions& options = state_.options;
    bool kick = false;
    {
      std::lock_guard lock(mutex_);
      if (closed_) {
        return make_error(ErrorCode::kNotFound, "peer " + name_ + " was removed");
      }
      if (queued_frames_ + 1 > options.peer_queue_frames || queued_bytes_ + encoded.size() > options.peer_queue_bytes) {
        return make_error(ErrorCode::kResourceExhausted, "the queue to " + name_ + " is full (" +
                                                             std::to_string(queued_frames_) + " frames, " +
                                                             std::to_string(queued_bytes_) + " bytes)");
      }
      if (queue_.empty() ||
          (queue_.back().frames > 0 &&
           queue_.back().bytes.size() - kChunkReserve + encoded.size() + 5 > options.max_bundle_bytes)) {
        Chunk chunk;
        chunk.bytes = std::move(spare_);
        chunk.bytes.assign(kChunkReserve, '\0');
        queue_.push_back(std::move(chunk));
      }
      Chunk& back = queue_.back();
      back.bytes.append(encoded);
      back.frames += 1;
      queued_frames_ += 1;
      queued_bytes_ += encoded.size();
      if (connected_ && !writing_) {
        writing_ = true;
        kick = true;
      }
    }
    if (kick) {
      asio::post(strand_, [self = shared_from_this()] { self->write_next(); });
    }
    return {};
  }

  // Removed from the peer list: drop the queue (counted) and close.
  void close_and_drop() {
    uint64_t dropped = 0;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      dropped = queued_frames_;
      queue_.clear();
      queued_frames_ = 0;
      queued_bytes_ = 0;
    }
    counters_->frames_dropped.fetch_add(dropped, std::memory_order_relaxed);
    state_.removed_dropped.fetch_add(dropped, std::memory_order_relaxed);
    asio::post(strand_, [self = shared_from_this()] { self->shut(); });
  }

  // Only with no I/O thread running (Mailroom::stop).
  void shut() {
    ++generation_;
    boost::system::error_code ignored;
    socket_.close(ignored);
    resolver_.cancel();
    retry_timer_.cancel();
    handshake_timer_.cancel();
  }

  Mailroom::PeerStats stats() const {
    Mailroom::PeerStats out{};
    {
      std::lock_guard lock(mutex_);
      out.connected = connected_;
      out.queued_frames = queued_frames_;
      out.queued_bytes = queued_bytes_;
    }
    out.frames_sent = counters_->frames_sent.load();
    out.frames_received = counters_->frames_received.load();
    out.bytes_sent = counters_->bytes_sent.load();
    out.bytes_received = counters_->bytes_received.load();
    out.bundles_sent = counters_->bundles_sent.load();
    out.frames_dropped = counters_->frames_dropped.load();
    out.reconnects = counters_->reconnects.load();
    return out;
  }

 private:
  bool stale(uint64_t generation) const { return generation != generation_ || is_closed() || state_.stopping; }
  bool is_closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  void connect() {
    if (is_closed() || state_.stopping) {
      return;
    }
    const uint64_t generation = ++generation_;
    socket_ = tcp::socket(strand_);
    std::string host;
    std::string port;
    if (!split_host_port(address_, host, port)) {
      spdlog::error("mailroom {}: peer {} has a bad address '{}'", state_.options.node_name, name_, address_);
      retry(generation);
      return;
    }
    resolver_.async_resolve(
        host, port,
        [self = shared_from_this(), generation](boost::system::error_code ec, tcp::resolver::results_type results) {
          if (self->stale(generation)) {
            return;
          }
          if (ec) {
            self->fail(generation, "resolving " + self->address_ + ": " + ec.message());
            return;
          }
          asio::async_connect(self->socket_, results,
                              [self, generation](boost::system::error_code error, const tcp::endpoint&) {
                                self->on_connected(generation, error);
                              });
        });
  }

  void on_connected(uint64_t generation, boost::system::error_code ec) {
    if (stale(generation)) {
      return;
    }
    if (ec) {
      fail(generation, "connecting to " + address_ + ": " + ec.message());
      return;
    }
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    handshake_out_ = encode_handshake(Handshake{kProtocolVersion, state_.options.node_name, state_.epoch.load()});
    handshake_timer_.expires_after(state_.options.handshake_timeout);
    handshake_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code error) {
      if (!error && !self->stale(generation) && !self->handshake_done_) {
        self->fail(generation, "handshake with " + self->name_ + " timed out");
      }
    });
    handshake_done_ = false;
    asio::async_write(socket_, asio::buffer(handshake_out_),
                      [self = shared_from_this(), generation](boost::system::error_code error, size_t) {
                        if (self->stale(generation)) {
                          return;
                        }
                        if (error) {
                          self->fail(generation, "sending the handshake: " + error.message());
                          return;
                        }
                        self->read_handshake(generation);
                      });
  }

  void read_handshake(uint64_t generation) {
    asio::async_read(
        socket_, asio::buffer(header_), [self = shared_from_this(), generation](boost::system::error_code ec, size_t) {
          if (self->stale(generation)) {
            return;
          }
          if (ec) {
            self->fail(generation, "reading the handshake of " + self->name_ + ": " + ec.message());
            return;
          }
          Result<BundleHeader> header =
              parse_bundle_header(std::string_view(self->header_.data(), self->header_.size()), kMaxHandshakeBytes);
          if (!header.ok() || header->flags != 0) {
            self->protocol_fail(generation, "bad handshake header from " + self->name_ + " (" + self->address_ + ")");
            return;
          }
          self->handshake_in_.resize(header->length);
          asio::async_read(self->socket_, asio::buffer(self->handshake_in_),
                           [self, generation](boost::system::error_code error, size_t) {
                             if (self->stale(generation)) {
                               return;
                             }
                             if (error) {
                               self->fail(generation,
                                          "reading the handshake of " + self->name_ + ": " + error.message());
                               return;
                             }
                             self->on_handshake(generation);
                           });
        });
  }

  void on_handshake(uint64_t generation) {
    Result<Handshake> handshake = decode_handshake(handshake_in_);
    if (!handshake.ok()) {
      protocol_fail(generation, "handshake from " + name_ + ": " + handshake.error().message);
      return;
    }
    if (handshake->version != kProtocolVersion) {
      protocol_fail(generation, "peer " + name_ + " (" + address_ + ") speaks protocol version " +
                                    std::to_string(handshake->version) + ", this node " +
                                    std::to_string(kProtocolVersion) + ": refused");
      return;
    }
    if (handshake->node != name_) {
      protocol_fail(generation, "the node at " + address_ + " is " + handshake->node + ", expected " + name_);
      return;
    }
    handshake_done_ = true;
    handshake_timer_.cancel();
    attempts_ = 0;
    if (ever_connected_) {
      counters_->reconnects.fetch_add(1, std::memory_order_relaxed);
    }
    ever_connected_ = true;
    spdlog::debug("mailroom {}: connected to {} ({})", state_.options.node_name, name_, address_);
    watch(generation);
    bool start_writing = false;
    {
      std::lock_guard lock(mutex_);
      connected_ = true;
      if (!writing_ && !queue_.empty()) {
        writing_ = true;
        start_writing = true;
      }
    }
    if (start_writing) {
      write_next();
    }
  }

  // The peer never writes on this connection after its handshake: a read
  // completing means it closed (or misbehaves).
  void watch(uint64_t generation) {
    socket_.async_read_some(
        asio::buffer(watch_byte_), [self = shared_from_this(), generation](boost::system::error_code ec, size_t) {
          if (self->stale(generation)) {
            return;
          }
          if (ec) {
            self->fail(generation, "connection to " + self->name_ + " lost: " + ec.message());
          } else {
            self->protocol_fail(generation, "peer " + self->name_ + " wrote on an outgoing connection");
          }
        });
  }

  void write_next() {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || !connected_ || queue_.empty() || state_.stopping) {
        writing_ = false;
        return;
      }
      in_flight_ = std::move(queue_.front());
      queue_.pop_front();
      queued_frames_ -= in_flight_.frames;
      queued_bytes_ -= in_flight_.bytes.size() - kChunkReserve;
    }
    std::string prefix;
    append_array_header(prefix, in_flight_.frames);
    QUORUM_ASSERT(prefix.size() <= kChunkReserve - kBundleHeaderBytes);
    const size_t payload_start = kChunkReserve - prefix.size();
    std::copy(prefix.begin(), prefix.end(), in_flight_.bytes.begin() + static_cast<std::ptrdiff_t>(payload_start));
    const size_t payload_size = in_flight_.bytes.size() - payload_start;
    const size_t compress_min = state_.options.compress_min_bytes;
    std::array<asio::const_buffer, 2>& buffers = write_buffers_;  // async_write keeps a view: must outlive the call
    size_t buffer_count = 1;
    if (compress_min != 0 && payload_size >= compress_min && compress(payload_start, payload_size)) {
      compressed_header_.clear();
      append_bundle_header(compressed_header_, BundleHeader{static_cast<uint32_t>(compressed_.size()), kFlagZstd});
      buffers[0] = asio::buffer(compressed_header_);
      buffers[1] = asio::buffer(compressed_);
      buffer_count = 2;
    } else {
      std::string header;
      append_bundle_header(header, BundleHeader{static_cast<uint32_t>(payload_size), 0});
      const size_t start = payload_start - kBundleHeaderBytes;
      std::copy(header.begin(), header.end(), in_flight_.bytes.begin() + static_cast<std::ptrdiff_t>(start));
      buffers[0] = asio::buffer(in_flight_.bytes.data() + start, in_flight_.bytes.size() - start);
    }
    const uint64_t generation = generation_;
    asio::async_write(socket_, std::span(buffers.data(), buffer_count),
                      [self = shared_from_this(), generation](boost::system::error_code ec, size_t bytes) {
                        self->on_written(generation, ec, bytes);
                      });
  }

  bool compress(size_t start, size_t size) {
    if (cctx_ == nullptr) {
      cctx_ = ZSTD_createCCtx();
      if (cctx_ == nullptr) {
        return false;
      }
    }
    compressed_.resize(ZSTD_compressBound(size));
    const size_t written =
        ZSTD_compressCCtx(cctx_, compressed_.data(), compressed_.size(), in_flight_.bytes.data() + start, size, 1);
    if (ZSTD_isError(written) != 0 || written >= size) {
      return false;
    }
    compressed_.resize(written);
    return true;
  }

  void on_written(uint64_t generation, boost::system::error_code ec, size_t bytes) {
    const uint32_t frames = in_flight_.frames;
    in_flight_.frames = 0;
    if (ec) {
      counters_->frames_dropped.fetch_add(frames, std::memory_order_relaxed);
      {
        std::lock_guard lock(mutex_);
        writing_ = false;
      }
      if (!stale(generation)) {
        fail(generation, "writing to " + name_ + ": " + ec.message());
      } else if (!state_.stopping) {
        restart_writing_if_connected();
      }
      return;
    }
    counters_->frames_sent.fetch_add(frames, std::memory_order_relaxed);
    counters_->bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    counters_->bundles_sent.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      if (in_flight_.bytes.capacity() <= 2 * state_.options.max_bundle_bytes) {
        spare_ = std::move(in_flight_.bytes);
      }
      in_flight_.bytes = std::string();
    }
    if (stale(generation)) {
      std::lock_guard lock(mutex_);
      writing_ = false;
      return;
    }
    write_next();
  }

  void restart_writing_if_connected() {
    bool start_writing = false;
    {
      std::lock_guard lock(mutex_);
      if (connected_ && !writing_ && !queue_.empty()) {
        writing_ = true;
        start_writing = true;
      }
    }
    if (start_writing) {
      write_next();
    }
  }

  void protocol_fail(uint64_t generation, const std::string& reason) {
    state_.protocol_error(reason);
    fail(generation, {});
  }

  void fail(uint64_t generation, const std::string& reason) {
    if (stale(generation)) {
      return;
    }
    if (!reason.empty()) {
      spdlog::debug("mailroom {}: {}", state_.options.node_name, reason);
    }
    {
      std::lock_guard lock(mutex_);
      connected_ = false;
    }
    boost::system::error_code ignored;
    socket_.close(ignored);
    handshake_timer_.cancel();
    ++generation_;
    retry(generation_);
  }

  void retry(uint64_t generation) {
    const auto min = state_.options.reconnect_min;
    const auto max = std::max(state_.options.reconnect_max, min);
    auto delay = min;
    for (int n = 0; n < attempts_ && delay < max; ++n) {
      delay *= 2;
    }
    delay = std::min(delay, max);
    ++attempts_;
    // Jitter: uniform in [delay/2, delay].
    std::uniform_int_distribution<int64_t> jitter(delay.count() / 2, delay.count());
    retry_timer_.expires_after(std::chrono::milliseconds(jitter(random_)));
    retry_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
      if (!ec && generation == self->generation_ && !self->is_closed() && !self->state_.stopping) {
        self->connect();
      }
    });
  }

  State& state_;
  const std::string name_;
  const std::string address_;
  const std::shared_ptr<PeerCounters> counters_;
  Strand strand_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer retry_timer_;
  asio::steady_timer handshake_timer_;
  std::minstd_rand random_;

  // Strand only.
  uint64_t generation_ = 0;
  int attempts_ = 0;
  bool ever_connected_ = false;
  bool handshake_done_ = false;
  std::string handshake_out_;
  std::array<char, kBundleHeaderBytes> header_{};
  std::string handshake_in_;
  std::array<char, 1> watch_byte_{};
  Chunk in_flight_;
  std::array<asio::const_buffer, 2> write_buffers_;
  std::string compressed_header_;
  std::string compressed_;
  ZSTD_CCtx* cctx_ = nullptr;

  // Shared with send().
  mutable std::mutex mutex_;
  std::deque<Chunk> queue_;
  std::string spare_;
  size_t queued_frames_ = 0;
  size_t queued_bytes_ = 0;
  bool connected_ = false;
  bool writing_ = false;  // a write is in flight or posted
  bool closed_ = false;
};

// An accepted connection: reads the dialer's handshake, answers with ours,
// then reads bundles and hands their frames to on_frame. Strand only.
class InLink : public std::enable_shared_from_this<InLink> {
 public:
  InLink(State& state, tcp::socket socket)
      : state_(state), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

  void start() {
    boost::system::error_code ignored;
    const tcp::endpoint remote = socket_.remote_endpoint(ignored);
    remote_ = remote.address().to_string() + ":" + std::to_string(remote.port());
    timer_.expires_after(state_.options.handshake_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->handshake_done_) {
        self->close("handshake from " + self->remote_ + " timed out", true);
      }
    });
    asio::async_read(socket_, asio::buffer(header_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->on_handshake_header(ec);
    });
  }

  tcp::socket::executor_type executor() { return socket_.get_executor(); }

  void close(const std::string& reason, bool protocol) {
    if (closed_) {
      return;
    }
    closed_ = true;
    if (protocol) {
      state_.protocol_error(reason);
    } else if (!reason.empty()) {
      spdlog::debug("mailroom {}: {}", state_.options.node_name, reason);
    }
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    std::lock_guard lock(state_.in_mutex);
    state_.in_links.erase(this);
  }

 private:
  bool stopped() const { return closed_ || state_.stopping; }

  void on_handshake_header(boost::system::error_code ec) {
    if (stopped()) {
      return;
    }
    if (ec) {
      close("reading a handshake from " + remote_ + ": " + ec.message(), false);
      return;
    }
    Result<BundleHeader> header =
        parse_bundle_header(std::string_view(header_.data(), header_.size()), kMaxHandshakeBytes);
    if (!header.ok() || header->flags != 0) {
      close("bad handshake header from " + remote_ + (header.ok() ? "" : ": " + header.error().message), true);
      return;
    }
    buffer_.resize(header->length);
    asio::async_read(
        socket_, asio::buffer(buffer_),
        [self = shared_from_this()](boost::system::error_code error, size_t) { self->on_handshake(error); });
  }

  void on_handshake(boost::system::error_code ec) {
    if (stopped()) {
      return;
    }
    if (ec) {
      close("reading a handshake from " + remote_ + ": " + ec.message(), false);
      return;
    }
    Result<Handshake> handshake = decode_handshake(buffer_);
    if (!handshake.ok()) {
      close("handshake from " + remote_ + ": " + handshake.error().message, true);
      return;
    }
    std::string refusal;
    if (handshake->version != kProtocolVersion) {
      refusal = "refusing " + handshake->node + " (" + remote_ + "): protocol version " +
                std::to_string(handshake->version) + ", this node speaks " + std::to_string(kProtocolVersion);
    }
    peer_ = handshake->node;
    counters_ = state_.counters_for(peer_);
    // Always answer with our handshake, so a refused dialer learns our version.
    handshake_out_ = encode_handshake(Handshake{kProtocolVersion, state_.options.node_name, state_.epoch.load()});
    asio::async_write(socket_, asio::buffer(handshake_out_),
                      [self = shared_from_this(), refusal](boost::system::error_code error, size_t) {
                        if (self->stopped()) {
                          return;
                        }
                        if (!refusal.empty()) {
                          self->close(refusal, true);
                          return;
                        }
                        if (error) {
                          self->close("answering " + self->peer_ + ": " + error.message(), false);
                          return;
                        }
                        self->handshake_done_ = true;
                        self->timer_.cancel();
                        self->read_more();
                      });
  }

  // Bundles are read in as large pieces as the socket has (up to
  // kReadChunkBytes, or the rest of a larger bundle in one read), so a burst
  // of small bundles costs one read, not two per bundle; whole bundles are
  // decoded and delivered from in_, the rest waits for more bytes.
  void read_more() {
    size_t want = kReadChunkBytes;
    if (in_.size() >= kBundleHeaderBytes) {
      // A bundle is incomplete (process_input() checked its header): read
      // up to its end, at least a chunk.
      const size_t bundle_end = kBundleHeaderBytes + declared_length_;
      want = std::max(want, bundle_end - in_.size());
    }
    const size_t used = in_.size();
    in_.resize(used + want);
    socket_.async_read_some(asio::buffer(in_.data() + used, want),
                            [self = shared_from_this(), used](boost::system::error_code ec, size_t n) {
                              self->in_.resize(used + (ec ? 0 : n));
                              self->on_read(ec);
                            });
  }

  void on_read(boost::system::error_code ec) {
    if (stopped()) {
      return;
    }
    if (ec) {
      close("connection from " + peer_ + " ended: " + ec.message(), false);
      return;
    }
    if (!process_input()) {
      return;
    }
    read_more();
  }

  // Decodes and delivers every complete bundle in in_; false if the
  // connection was closed (a bad bundle: none of its frames is delivered).
  bool process_input() {
    size_t offset = 0;
    while (in_.size() - offset >= kBundleHeaderBytes) {
      Result<BundleHeader> header = parse_bundle_header(std::string_view(in_.data() + offset, kBundleHeaderBytes),
                                                        state_.incoming_limit());
      if (!header.ok()) {
        close("closing the connection from " + peer_ + ": " + header.error().message, true);
        return false;
      }
      declared_length_ = header->length;
      if (in_.size() - offset - kBundleHeaderBytes < header->length) {
        break;
      }
      const std::string_view payload(in_.data() + offset + kBundleHeaderBytes, header->length);
      Result<std::vector<Frame>> frames =
          decode_bundle_payload(payload, header->flags, state_.incoming_limit(), state_.options.max_frame_bytes);
      if (!frames.ok()) {
        close("closing the connection from " + peer_ + ": " + frames.error().message, true);
        return false;
      }
      offset += kBundleHeaderBytes + header->length;
      counters_->frames_received.fetch_add(frames->size(), std::memory_order_relaxed);
      counters_->bytes_received.fetch_add(kBundleHeaderBytes + header->length, std::memory_order_relaxed);
      for (Frame& frame : *frames) {
        if (state_.stopping) {
          return false;
        }
        state_.on_frame(peer_, std::move(frame));
      }
    }
    in_.erase(0, offset);
    if (in_.capacity() > 2 * state_.incoming_limit() / 8 && in_.size() < in_.capacity() / 4) {
      std::string(in_).swap(in_);  // do not keep a rare huge buffer
    }
    return true;
  }

  State& state_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string remote_;
  std::string peer_;
  std::shared_ptr<PeerCounters> counters_;
  std::array<char, kBundleHeaderBytes> header_{};
  std::string buffer_;  // the handshake
  std::string in_;      // received bytes not yet decoded: at most one incomplete bundle + kReadChunkBytes
  size_t declared_length_ = 0;  // payload length of the bundle at the start of in_, once its header is in
  std::string handshake_out_;
  bool handshake_done_ = false;
  bool closed_ = false;
};

void Mailroom::State::accept_next() {
  acceptor->async_accept(asio::make_strand(io), [this](boost::system::error_code ec, tcp::socket socket) {
    if (stopping) {
      return;
    }
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      spdlog::warn("mailroom {}: accept: {}", options.node_name, ec.message());
    } else {
      accepted.fetch_add(1, std::memory_order_relaxed);
      auto link = std::make_shared<InLink>(*this, std::move(socket));
      bool admitted = false;
      {
        std::lock_guard lock(in_mutex);
        if (in_links.size() < kMaxInboundConnections) {
          in_links.emplace(link.get(), link);
          admitted = true;
        }
      }
      if (admitted) {
        asio::post(link->executor(), [link] { link->start(); });
      } else {
        spdlog::warn("mailroom {}: refusing a connection: {} inbound connections already", options.node_name,
                     kMaxInboundConnections);
      }  // not admitted: the socket closes with `link`
    }
    accept_next();
  });
}

Mailroom::Mailroom(MailroomOptions options, FrameHandler on_frame) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  state_->on_frame = std::move(on_frame);
}

Mailroom::~Mailroom() { stop(); }

Result<uint16_t> Mailroom::start() {
  State& state = *state_;
  const MailroomOptions& options = state.options;
  if (state.started || state.stopping) {
    return make_error(ErrorCode::kFailedPrecondition, "the mailroom was already started");
  }
  if (options.node_name.empty() || !state.on_frame || options.max_frame_bytes == 0 || options.peer_queue_frames == 0 ||
      options.max_bundle_bytes == 0 || options.max_frame_bytes > (size_t{1} << 31) ||
      options.max_bundle_bytes > (size_t{1} << 31)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "mailroom options: need a node name, a handler, non-zero limits and frames/bundles under 2 GiB");
  }
  std::string host;
  std::string port;
  if (!split_host_port(options.listen_address, host, port)) {
    return make_error(ErrorCode::kInvalidArgument, "bad listen address '" + options.listen_address + "'");
  }
  boost::system::error_code ec;
  tcp::resolver resolver(state.io);
  const auto endpoints = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot resolve listen address '" + options.listen_address + "': " + ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  state.acceptor.emplace(state.io);
  state.acceptor->open(endpoint.protocol(), ec);
  if (!ec) {
    state.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    state.acceptor->bind(endpoint, ec);
  }
  if (!ec) {
    state.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    state.acceptor.reset();
    return make_error(ErrorCode::kIo, "cannot listen on " + options.listen_address + ": " + ec.message());
  }
  const uint16_t bound = state.acceptor->local_endpoint(ec).port();
  state.started = true;
  state.work.emplace(state.io.get_executor());
  state.accept_next();
  {
    std::shared_lock lock(state.peers_mutex);
    for (auto& [name, link] : state.peers) {
      link->start();
    }
  }
  const size_t threads = std::max<size_t>(1, options.threads);
  for (size_t n = 0; n < threads; ++n) {
    state.threads.emplace_back([&state] {
      for (;;) {
        try {
          state.io.run();
          return;
        } catch (const std::exception& error) {
          spdlog::error("mailroom {}: a handler threw: {}", state.options.node_name, error.what());
        }
      }
    });
  }
  spdlog::info("mailroom {}: listening on {}:{}", options.node_name, host, bound);
  return bound;
}

void Mailroom::set_peers(std::vector<Peer> peers, uint64_t epoch) {
  State& state = *state_;
  state.epoch.store(epoch);
  std::vector<std::shared_ptr<OutLink>> removed;
  std::vector<std::shared_ptr<OutLink>> added;
  {
    std::unique_lock lock(state.peers_mutex);
    if (state.stopping) {
      return;
    }
    std::unordered_map<std::string, std::shared_ptr<OutLink>> next;
    std::unordered_map<std::string, std::shared_ptr<PeerCounters>> next_counters;
    for (Peer& peer : peers) {
      if (peer.name == state.options.node_name || next.count(peer.name) != 0) {
        continue;
      }
      auto existing = state.peers.find(peer.name);
      // Counters may exist before the peer is listed: it dialled us first.
      auto known = state.counters.find(peer.name);
      std::shared_ptr<PeerCounters> counters =
          known != state.counters.end() ? known->second : std::make_shared<PeerCounters>();
      if (existing != state.peers.end() && existing->second->address() == peer.address) {
        next.emplace(peer.name, existing->second);
      } else {
        if (existing != state.peers.end()) {
          removed.push_back(existing->second);
        }
        auto link = std::make_shared<OutLink>(state, peer.name, peer.address, counters);
        next.emplace(peer.name, link);
        added.push_back(link);
      }
      next_counters.emplace(peer.name, counters);
    }
    for (auto& [name, link] : state.peers) {
      if (next.count(name) == 0) {
        removed.push_back(link);
      }
    }
    state.peers = std::move(next);
    state.counters = std::move(next_counters);
  }
  for (auto& link : removed) {
    link->close_and_drop();
  }
  if (state.started) {
    for (auto& link : added) {
      link->start();
    }
  }
}

Status Mailroom::send(std::string_view peer, Frame frame) {
  State& state = *state_;
  if (state.stopping) {
    return make_error(ErrorCode::kUnavailable, "the mailroom is stopped");
  }
  const size_t size = encoded_frame_size(frame);
  if (size > state.options.max_frame_bytes) {
    return make_error(ErrorCode::kInvalidArgument, "frame of " + std::to_string(size) + " bytes over the limit of " +
                                                       std::to_string(state.options.max_frame_bytes));
  }
  if (peer == state.options.node_name) {
    if (state.self_queued.fetch_add(1) >= state.options.peer_queue_frames) {
      state.self_queued.fetch_sub(1);
      return make_error(ErrorCode::kResourceExhausted, "the queue to this node itself is full");
    }
    asio::post(state.io, [weak = std::weak_ptr<State>(state_), frame = std::move(frame)]() mutable {
      auto self = weak.lock();
      if (!self) {
        return;
      }
      self->self_queued.fetch_sub(1);
      if (!self->stopping) {
        self->on_frame(self->options.node_name, std::move(frame));
      }
    });
    return {};
  }
  std::shared_ptr<OutLink> link;
  {
    std::shared_lock lock(state.peers_mutex);
    auto found = state.peers.find(std::string(peer));
    if (found == state.peers.end()) {
      return make_error(ErrorCode::kNotFound, "no peer named " + std::string(peer));
    }
    link = found->second;
  }
  thread_local std::string encoded;
  encoded.clear();
  append_frame(encoded, frame);
  QUORUM_ASSERT(encoded.size() == size);
  Status queued = link->enqueue(encoded);
  if (encoded.capacity() > (1 << 20)) {
    std::string().swap(encoded);
  }
  return queued;
}

std::optional<Mailroom::PeerStats> Mailroom::stats(std::string_view peer) const {
  std::shared_ptr<OutLink> link;
  {
    std::shared_lock lock(state_->peers_mutex);
    auto found = state_->peers.find(std::string(peer));
    if (found == state_->peers.end()) {
      return std::nullopt;
    }
    link = found->second;
  }
  return link->stats();
}

uint64_t Mailroom::protocol_errors() const noexcept { return state_->protocol_errors.load(); }

std::string Mailroom::last_protocol_error() const {
  std::lock_guard lock(state_->error_mutex);
  return state_->last_error;
}

void Mailroom::write_metrics(std::string& out) const {
  std::vector<std::pair<std::string, PeerStats>> rows;
  {
    std::shared_lock lock(state_->peers_mutex);
    for (const auto& [name, link] : state_->peers) {
      rows.emplace_back(name, link->stats());
    }
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [peer, stats] : rows) {
      out += std::string(name) + "{peer=\"" + peer + "\"} " + std::to_string(value(stats)) + "\n";
    }
  };
  family("quorum_mailroom_peer_connected", "gauge", "1 when the outgoing connection to the peer is up.",
         [](const PeerStats& s) { return s.connected ? 1 : 0; });
  family("quorum_mailroom_frames_sent_total", "counter", "Frames written to the peer.",
         [](const PeerStats& s) { return s.frames_sent; });
  family("quorum_mailroom_frames_received_total", "counter", "Frames received from the peer.",
         [](const PeerStats& s) { return s.frames_received; });
  family("quorum_mailroom_bytes_sent_total", "counter", "Bytes written to the peer (after compression).",
         [](const PeerStats& s) { return s.bytes_sent; });
  family("quorum_mailroom_bytes_received_total", "counter", "Bytes received from the peer.",
         [](const PeerStats& s) { return s.bytes_received; });
  family("quorum_mailroom_bundles_sent_total", "counter", "Writes (bundles) to the peer.",
         [](const PeerStats& s) { return s.bundles_sent; });
  family("quorum_mailroom_frames_dropped_total", "counter", "Frames dropped: a write failed or the peer was removed.",
         [](const PeerStats& s) { return s.frames_dropped; });
  family("quorum_mailroom_reconnects_total", "counter", "Connections re-established after a loss.",
         [](const PeerStats& s) { return s.reconnects; });
  family("quorum_mailroom_queued_frames", "gauge", "Frames waiting to be written.",
         [](const PeerStats& s) { return s.queued_frames; });
  family("quorum_mailroom_queued_bytes", "gauge", "Encoded bytes waiting to be written.",
         [](const PeerStats& s) { return s.queued_bytes; });
  out +=
      "# HELP quorum_mailroom_removed_peer_frames_dropped_total Frames dropped because their peer was removed.\n"
      "# TYPE quorum_mailroom_removed_peer_frames_dropped_total counter\n"
      "quorum_mailroom_removed_peer_frames_dropped_total " +
      std::to_string(state_->removed_dropped.load()) + "\n";
  out +=
      "# HELP quorum_mailroom_protocol_errors_total Connections closed for a protocol error.\n"
      "# TYPE quorum_mailroom_protocol_errors_total counter\n"
      "quorum_mailroom_protocol_errors_total " +
      std::to_string(state_->protocol_errors.load()) + "\n";
}

void Mailroom::stop() {
  State& state = *state_;
  if (state.stopping.exchange(true)) {
    return;
  }
  for (const std::thread& thread : state.threads) {
    QUORUM_ASSERT(thread.get_id() != std::this_thread::get_id());  // stop() from a handler would deadlock
  }
  state.work.reset();
  state.io.stop();
  for (std::thread& thread : state.threads) {
    thread.join();
  }
  state.threads.clear();
  // No I/O thread runs now: close everything from here, then let the aborted
  // operations complete (they see `stopping` and do nothing).
  boost::system::error_code ignored;
  if (state.acceptor) {
    state.acceptor->close(ignored);
  }
  std::unordered_map<std::string, std::shared_ptr<OutLink>> peers;
  {
    std::unique_lock lock(state.peers_mutex);
    peers.swap(state.peers);
  }
  for (auto& [name, link] : peers) {
    link->shut();
  }
  std::vector<std::shared_ptr<InLink>> in_links;
  {
    std::lock_guard lock(state.in_mutex);
    for (auto& [raw, weak] : state.in_links) {
      if (auto link = weak.lock()) {
        in_links.push_back(std::move(link));
      }
    }
  }
  for (auto& link : in_links) {
    link->close({}, false);
  }
  in_links.clear();
  peers.clear();
  state.io.restart();
  state.io.run_for(std::chrono::seconds(2));
  if (state.started) {
    spdlog::debug("mailroom {}: stopped", state.options.node_name);
  }
}

}  // namespace quorum::mailroom
