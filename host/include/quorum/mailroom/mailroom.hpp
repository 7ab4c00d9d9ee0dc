// The mailroom: the per-node transport between quorumd nodes (DESIGN §6).
//
// What: moves opaque Frames between named nodes over Boost.Asio TCP. It knows
// nothing about actors, keys or topology beyond the peer list it is given; the
// router above gives `kind`, `key` and `body` their meaning.
//
// Why: every cross-node message (commands, replies, side effects, heartbeats)
// goes through one component that bundles frames per peer (one write, one
// syscall for everything queued), bounds what waits, and reconnects, so that
// nothing above it knows about sockets.
//
// Contract:
//  - Delivery is in order and at most once per (sender, receiver) pair. Frames
//    queued while a peer is unreachable wait (bounded) and go out after the
//    reconnect; the frames of a write that fails when a connection breaks are
//    dropped and counted (frames_dropped), never resent. Retrying is the
//    caller's business.
//  - Connections: each node dials every peer for its outgoing frames and only
//    reads on the connections it accepts (two TCP connections per pair).
//    Wire format and the reasons for it: docs/mailroom.md.
//  - Bounds: a frame's encoded size <= max_frame_bytes; per peer at most
//    peer_queue_frames frames and peer_queue_bytes encoded bytes wait; one
//    write (bundle) <= max_bundle_bytes (or one frame, if a frame is larger);
//    an incoming bundle <= max(max_bundle_bytes, max_frame_bytes) + 64 bytes;
//    a handshake <= kMaxHandshakeBytes; at most 4096 accepted connections,
//    each reading into a buffer of at most one incoming bundle + 8 KiB (a
//    read takes whatever the socket holds: a burst of bundles is one read).
//    Anything over a bound on the wire, an undecodable bundle or a bad flag
//    closes that connection with a logged reason (spdlog); no frame of a bad
//    bundle is delivered.
//
// Threads: send(), stats(), write_metrics() and set_peers() are thread-safe.
// The FrameHandler runs on a mailroom I/O thread (with threads > 1, handlers
// for different connections may run concurrently); it must be quick and must
// not call stop(). stop() joins the I/O threads: no handler runs after it
// returns.
#pragma once

#include <quorum/host/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::mailroom {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kMaxFrameBytes = 4 << 20;  // default frame size limit (encoded frame)

struct Frame {               // one message between nodes
  uint8_t kind = 0;          // meaning defined by the layer above (the router)
  uint64_t correlation = 0;  // request/reply matching, chosen by the sender
  uint8_t hops = 0;          // re-routing count, maintained by the router
  uint64_t epoch = 0;        // sender's topology epoch when it sent the frame
  std::string key;           // actor key (may be empty)
  std::string body;          // msgpack bytes, opaque to the mailroom

  bool operator==(const Frame&) const = default;
};

struct Peer {
  std::string name;
  std::string address;  // "host:port" ("[v6]:port" for IPv6)
};

struct MailroomOptions {
  std::string node_name;       // this node, e.g. "FL-A-1"
  std::string listen_address;  // "127.0.0.1:7001"; port 0 = pick one
  size_t max_frame_bytes = kMaxFrameBytes;
  size_t peer_queue_frames = 100'000;    // per peer: frames waiting to be written
  size_t peer_queue_bytes = 64 << 20;    // per peer: bytes waiting
  size_t max_bundle_bytes = 8 << 20;     // one write at most this much
  size_t compress_min_bytes = 64 << 10;  // bundles at least this large are zstd-compressed (0 = never)
  std::chrono::milliseconds reconnect_min{50}, reconnect_max{2000};
  std::chrono::milliseconds handshake_timeout{5000};
  size_t threads = 1;  // I/O threads
};

// Runs on a mailroom I/O thread; must be quick (post real work elsewhere).
using FrameHandler = std::function<void(std::string_view from_node, Frame frame)>;

class Mailroom {
 public:
  Mailroom(MailroomOptions options, FrameHandler on_frame);
  ~Mailroom();  // stop()
  Mailroom(const Mailroom&) = delete;
  Mailroom& operator=(const Mailroom&) = delete;

  // Listens and starts the I/O threads; returns the bound port. Errors:
  // kInvalidArgument (bad options or address), kIo (cannot listen),
  // kFailedPrecondition (called twice or after stop()).
  Result<uint16_t> start();

  // The peers this node talks to (call it on every topology change; may be
  // called before start()). Peers no longer listed are disconnected, their
  // queued frames dropped and counted (quorum_mailroom_frames_dropped_total);
  // a peer whose address changed is redialled; this node's own name is ignored.
  // `epoch` goes into the handshake of new connections.
  void set_peers(std::vector<Peer> peers, uint64_t epoch);

  // Queues a frame for a peer (bundled with others into one write). Thread-safe.
  // Errors: kNotFound (unknown peer), kInvalidArgument (frame over the limit),
  // kResourceExhausted (that peer's queue is full: backpressure),
  // kUnavailable (stopped).
  // Sending to this node's own name delivers it to on_frame (posted, not
  // inline; at most peer_queue_frames self-frames wait).
  Status send(std::string_view peer, Frame frame);

  struct PeerStats {
    bool connected;  // the outgoing connection is up (handshake done)
    uint64_t frames_sent, frames_received, bytes_sent, bytes_received, bundles_sent, frames_dropped, reconnects;
    size_t queued_frames, queued_bytes;
  };
  std::optional<PeerStats> stats(std::string_view peer) const;

  // Connections closed for a protocol error (bad handshake, wrong version,
  // oversize or undecodable bundle, bad flags), and the last reason logged.
  uint64_t protocol_errors() const noexcept;
  std::string last_protocol_error() const;

  void write_metrics(std::string& out) const;  // Prometheus text (quorum_mailroom_*)
  void stop();                                 // close everything; no handler runs after it returns

  struct State;  // internal

 private:
  std::shared_ptr<State> state_;
};

}  // namespace quorum::mailroom
