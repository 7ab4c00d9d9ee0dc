// The mailroom over real TCP on 127.0.0.1: several Mailroom objects in one
// process. Waits poll with generous deadlines (the machine is noisy); no
// test depends on tight timing.
#include <quorum/mailroom/codec.hpp>
#include <quorum/mailroom/mailroom.hpp>

#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace quorum::mailroom {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr auto kDeadline = 30s;

bool eventually(const std::function<bool()>& condition, std::chrono::seconds limit = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

MailroomOptions options_for(const std::string& name, uint16_t port = 0) {
  MailroomOptions options;
  options.node_name = name;
  options.listen_address = "127.0.0.1:" + std::to_string(port);
  options.reconnect_min = 10ms;
  options.reconnect_max = 200ms;
  return options;
}

struct Received {
  std::string from;
  Frame frame;
  std::thread::id thread;
};

// A mailroom that records what it receives.
struct Node {
  explicit Node(MailroomOptions options)
      : name(options.node_name),
        mailroom(std::make_unique<Mailroom>(std::move(options), [this](std::string_view from, Frame frame) {
          std::lock_guard lock(mutex);
          received.push_back(Received{std::string(from), std::move(frame), std::this_thread::get_id()});
        })) {
    Result<uint16_t> started = mailroom->start();
    EXPECT_TRUE(started.ok()) << started.error().message;
    port = started.ok() ? *started : 0;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  size_t count() {
    std::lock_guard lock(mutex);
    return received.size();
  }
  std::vector<Received> snapshot() {
    std::lock_guard lock(mutex);
    return received;
  }

  std::string name;
  uint16_t port = 0;
  std::mutex mutex;
  std::vector<Received> received;
  std::unique_ptr<Mailroom> mailroom;
};

// A port nothing listens on (bound, then closed).
uint16_t dead_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

void three_nodes_deliver_complete_and_in_order(size_t compress_min_bytes) {
  std::vector<std::unique_ptr<Node>> nodes;
  for (const char* name : {"FL-A-1", "TN-A-1", "TX-A-1"}) {
    MailroomOptions options = options_for(name);
    options.compress_min_bytes = compress_min_bytes;
    nodes.push_back(std::make_unique<Node>(options));
  }
  std::vector<Peer> peers;
  for (auto& node : nodes) {
    peers.push_back(Peer{node->name, node->address()});
  }
  for (auto& node : nodes) {
    node->mailroom->set_peers(peers, 3);
  }
  constexpr uint64_t kFrames = 3000;
  std::vector<std::thread> senders;
  for (auto& node : nodes) {
    senders.emplace_back([&, sender = node.get()] {
      for (uint64_t n = 0; n < kFrames; ++n) {
        for (auto& target : nodes) {
          if (target.get() == sender) {
            continue;
          }
          Frame frame{static_cast<uint8_t>(n % 7),
                      n,
                      0,
                      3,
                      "key/" + std::to_string(n),
                      sender->name + ":" + std::to_string(n) + std::string(n % 300, 'p')};
          for (;;) {
            Status sent = sender->mailroom->send(target->name, frame);
            if (sent.ok()) {
              break;
            }
            ASSERT_EQ(sent.error().code, ErrorCode::kResourceExhausted) << sent.error().message;
            std::this_thread::sleep_for(1ms);
          }
        }
      }
    });
  }
  for (auto& sender : senders) {
    sender.join();
  }
  for (auto& node : nodes) {
    ASSERT_TRUE(eventually([&] { return node->count() == 2 * kFrames; })) << node->name << " got " << node->count();
  }
  for (auto& node : nodes) {
    std::map<std::string, uint64_t> next;
    for (const Received& received : node->snapshot()) {
      const uint64_t n = next[received.from]++;
      ASSERT_EQ(received.frame.correlation, n) << "from " << received.from << " to " << node->name;
      EXPECT_EQ(received.frame.kind, n % 7);
      EXPECT_EQ(received.frame.epoch, 3u);
      EXPECT_EQ(received.frame.key, "key/" + std::to_string(n));
      EXPECT_EQ(received.frame.body, received.from + ":" + std::to_string(n) + std::string(n % 300, 'p'));
    }
    EXPECT_EQ(next.size(), 2u);
    for (auto& other : nodes) {
      if (other.get() == node.get()) {
        continue;
      }
      std::optional<Mailroom::PeerStats> stats = node->mailroom->stats(other->name);
      ASSERT_TRUE(stats.has_value());
      EXPECT_EQ(stats->frames_sent, kFrames);
      EXPECT_EQ(stats->frames_received, kFrames);
      EXPECT_EQ(stats->frames_dropped, 0u);
      EXPECT_LE(stats->bundles_sent, kFrames);
      EXPECT_GT(stats->bytes_sent, 0u);
      EXPECT_TRUE(stats->connected);
    }
  }
  std::string metrics;
  nodes[0]->mailroom->write_metrics(metrics);
  EXPECT_NE(metrics.find("quorum_mailroom_frames_sent_total{peer=\"TN-A-1\"} 3000"), std::string::npos) << metrics;
  EXPECT_FALSE(nodes[0]->mailroom->stats("FL-A-1").has_value());  // self is not a peer
}

TEST(MailroomTcp, ThreeNodesDeliverCompleteAndInOrder) { three_nodes_deliver_complete_and_in_order(0); }

// Every bundle of 512 bytes or more goes out zstd-compressed.
TEST(MailroomTcp, ThreeNodesDeliverCompleteAndInOrderCompressed) { three_nodes_deliver_complete_and_in_order(512); }

TEST(MailroomTcp, SelfSendIsPostedToTheHandler) {
  Node node(options_for("FL-A-1"));
  ASSERT_TRUE(node.mailroom->send("FL-A-1", Frame{1, 5, 0, 0, "k", "b"}).ok());
  ASSERT_TRUE(eventually([&] { return node.count() == 1; }));
  const Received received = node.snapshot().front();
  EXPECT_EQ(received.from, "FL-A-1");
  EXPECT_EQ(received.frame, (Frame{1, 5, 0, 0, "k", "b"}));
  EXPECT_NE(received.thread, std::this_thread::get_id());
}

TEST(MailroomTcp, ErrorsAndBackpressure) {
  MailroomOptions options = options_for("FL-A-1");
  options.peer_queue_frames = 10;
  options.peer_queue_bytes = 4096;
  options.max_frame_bytes = 1024;
  Node node(options);
  node.mailroom->set_peers({Peer{"TN-A-1", "127.0.0.1:" + std::to_string(dead_port())}}, 1);
  EXPECT_EQ(node.mailroom->send("UT-A-1", Frame{}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(node.mailroom->send("TN-A-1", Frame{0, 0, 0, 0, "", std::string(2000, 'x')}).error().code,
            ErrorCode::kInvalidArgument);
  for (int n = 0; n < 10; ++n) {
    ASSERT_TRUE(node.mailroom->send("TN-A-1", Frame{}).ok()) << n;
  }
  Status full = node.mailroom->send("TN-A-1", Frame{});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  std::optional<Mailroom::PeerStats> stats = node.mailroom->stats("TN-A-1");
  ASSERT_TRUE(stats.has_value());
  EXPECT_FALSE(stats->connected);
  EXPECT_EQ(stats->queued_frames, 10u);

  // The byte bound: a fresh peer, frames of ~1000 bytes, 4096 bytes queued at most.
  node.mailroom->set_peers({Peer{"TX-A-1", "127.0.0.1:" + std::to_string(dead_port())}}, 2);
  int accepted = 0;
  while (node.mailroom->send("TX-A-1", Frame{0, 0, 0, 0, "", std::string(990, 'x')}).ok()) {
    ++accepted;
    ASSERT_LT(accepted, 10);
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_LE(node.mailroom->stats("TX-A-1")->queued_bytes, 4096u);
}

TEST(MailroomTcp, ReconnectsAfterThePeerRestarts) {
  Node a(options_for("FL-A-1"));
  auto b = std::make_unique<Node>(options_for("TN-A-1"));
  const uint16_t port = b->port;
  a.mailroom->set_peers({Peer{"TN-A-1", b->address()}}, 1);
  for (uint64_t n = 0; n < 10; ++n) {
    ASSERT_TRUE(a.mailroom->send("TN-A-1", Frame{0, n, 0, 1, "", "before"}).ok());
  }
  ASSERT_TRUE(eventually([&] { return b->count() == 10; }));
  b.reset();  // stop the peer
  ASSERT_TRUE(eventually([&] { return !a.mailroom->stats("TN-A-1")->connected; }));
  for (uint64_t n = 0; n < 100; ++n) {
    ASSERT_TRUE(a.mailroom->send("TN-A-1", Frame{0, n, 0, 1, "", "while down"}).ok());
  }
  std::this_thread::sleep_for(300ms);  // a few failed dials
  EXPECT_EQ(a.mailroom->stats("TN-A-1")->queued_frames, 100u);
  b = std::make_unique<Node>(options_for("TN-A-1", port));
  ASSERT_EQ(b->port, port);
  ASSERT_TRUE(eventually([&] { return b->count() == 100; })) << b->count();
  const std::vector<Received> received = b->snapshot();
  for (uint64_t n = 0; n < 100; ++n) {
    EXPECT_EQ(received[n].frame.correlation, n);
    EXPECT_EQ(received[n].frame.body, "while down");
  }
  EXPECT_GE(a.mailroom->stats("TN-A-1")->reconnects, 1u);
  EXPECT_EQ(a.mailroom->stats("TN-A-1")->frames_dropped, 0u);
}

// A raw client: connects, writes `bytes`, and reads until the mailroom closes.
std::string raw_exchange(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(bytes));
  std::string answer;
  boost::system::error_code ec;
  char buffer[4096];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(buffer), ec);
    if (ec) {
      break;
    }
    answer.append(buffer, n);
  }
  // Closed: EOF, or a reset when the mailroom closed with our bytes unread.
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  return answer;
}

TEST(MailroomTcp, WrongProtocolVersionIsRefused) {
  Node node(options_for("FL-A-1"));
  const std::string answer = raw_exchange(node.port, encode_handshake(Handshake{2, "OLD-A-1", 0}));
  // The mailroom answers with its own handshake (so the dialer learns why), then closes.
  ASSERT_GE(answer.size(), kBundleHeaderBytes);
  Result<Handshake> theirs = decode_handshake(std::string_view(answer).substr(kBundleHeaderBytes));
  ASSERT_TRUE(theirs.ok());
  EXPECT_EQ(theirs->version, kProtocolVersion);
  EXPECT_EQ(theirs->node, "FL-A-1");
  EXPECT_EQ(node.mailroom->protocol_errors(), 1u);
  EXPECT_NE(node.mailroom->last_protocol_error().find("protocol version 2"), std::string::npos)
      << node.mailroom->last_protocol_error();
  EXPECT_EQ(node.count(), 0u);
}

TEST(MailroomTcp, DialerRefusesAPeerWithAnotherVersion) {
  // A fake peer that accepts and answers with a version-2 handshake.
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread fake([&] {
    boost::system::error_code ec;
    tcp::socket socket = acceptor.accept(ec);
    if (ec) {
      return;
    }
    std::string hello(64, '\0');
    socket.read_some(asio::buffer(hello), ec);
    asio::write(socket, asio::buffer(encode_handshake(Handshake{2, "TN-A-1", 0})), ec);
    char byte;
    socket.read_some(asio::buffer(&byte, 1), ec);  // until the mailroom closes
  });
  Node node(options_for("FL-A-1"));
  node.mailroom->set_peers({Peer{"TN-A-1", "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port())}}, 1);
  ASSERT_TRUE(eventually([&] { return node.mailroom->protocol_errors() >= 1; }));
  EXPECT_NE(node.mailroom->last_protocol_error().find("version 2"), std::string::npos);
  EXPECT_FALSE(node.mailroom->stats("TN-A-1")->connected);
  node.mailroom->stop();
  fake.join();
}

TEST(MailroomTcp, OversizeFrameClosesTheConnection) {
  MailroomOptions small = options_for("TN-A-1");
  small.max_frame_bytes = 1024;
  Node b(small);
  Node a(options_for("FL-A-1"));
  a.mailroom->set_peers({Peer{"TN-A-1", b.address()}}, 1);
  ASSERT_TRUE(a.mailroom->send("TN-A-1", Frame{0, 1, 0, 0, "", std::string(10000, 'x')}).ok());
  ASSERT_TRUE(eventually([&] { return b.mailroom->protocol_errors() >= 1; }));
  EXPECT_NE(b.mailroom->last_protocol_error().find("over the limit"), std::string::npos)
      << b.mailroom->last_protocol_error();
  // The sender reconnects; later frames within the limit arrive; the big one never does.
  ASSERT_TRUE(eventually([&] {
    (void)a.mailroom->send("TN-A-1", Frame{0, 2, 0, 0, "", "small"});
    return b.count() >= 1;
  }));
  for (const Received& received : b.snapshot()) {
    EXPECT_EQ(received.frame.body, "small");
  }
}

TEST(MailroomTcp, GarbageAfterTheHandshakeClosesTheConnection) {
  Node node(options_for("FL-A-1"));
  const std::string hello = encode_handshake(Handshake{kProtocolVersion, "TN-A-1", 0});
  // Bad flags.
  std::string bad_flags = hello;
  append_bundle_header(bad_flags, BundleHeader{3, 0x04});
  bad_flags += "abc";
  raw_exchange(node.port, bad_flags);
  ASSERT_TRUE(eventually([&] { return node.mailroom->protocol_errors() == 1; }));
  EXPECT_NE(node.mailroom->last_protocol_error().find("flags"), std::string::npos);
  // Undecodable payload: one good frame then garbage in the same bundle; nothing is delivered.
  std::string garbage = hello;
  std::string payload = encode_payload(std::vector<Frame>{Frame{0, 1, 0, 0, "", "ok"}, Frame{0, 2, 0, 0, "", "ok"}});
  payload.resize(payload.size() - 1);
  append_bundle_header(garbage, BundleHeader{static_cast<uint32_t>(payload.size()), 0});
  garbage += payload;
  raw_exchange(node.port, garbage);
  ASSERT_TRUE(eventually([&] { return node.mailroom->protocol_errors() == 2; }));
  // Over the bundle size limit (header only: refused before reading the payload).
  std::string huge = hello;
  append_bundle_header(huge, BundleHeader{0x7fffffff, 0});
  raw_exchange(node.port, huge);
  ASSERT_TRUE(eventually([&] { return node.mailroom->protocol_errors() == 3; }));
  EXPECT_NE(node.mailroom->last_protocol_error().find("over the limit"), std::string::npos);
  EXPECT_EQ(node.count(), 0u);
}

TEST(MailroomTcp, SetPeersRemovingAPeerDropsItsQueue) {
  Node node(options_for("FL-A-1"));
  node.mailroom->set_peers({Peer{"TN-A-1", "127.0.0.1:" + std::to_string(dead_port())}}, 1);
  for (int n = 0; n < 50; ++n) {
    ASSERT_TRUE(node.mailroom->send("TN-A-1", Frame{}).ok());
  }
  EXPECT_EQ(node.mailroom->stats("TN-A-1")->queued_frames, 50u);
  node.mailroom->set_peers({}, 2);
  EXPECT_FALSE(node.mailroom->stats("TN-A-1").has_value());
  EXPECT_EQ(node.mailroom->send("TN-A-1", Frame{}).error().code, ErrorCode::kNotFound);
  std::string metrics;
  node.mailroom->write_metrics(metrics);
  EXPECT_NE(metrics.find("quorum_mailroom_removed_peer_frames_dropped_total 50"), std::string::npos) << metrics;
}

TEST(MailroomTcp, StopWhileSendingIsClean) {
  for (int round = 0; round < 3; ++round) {
    MailroomOptions options_a = options_for("FL-A-1");
    options_a.threads = 2;
    options_a.compress_min_bytes = 4096;
    Node a(options_a);
    Node b(options_for("TN-A-1"));
    a.mailroom->set_peers({Peer{"TN-A-1", b.address()}}, 1);
    b.mailroom->set_peers({Peer{"FL-A-1", a.address()}}, 1);
    std::atomic<bool> go{true};
    std::vector<std::thread> senders;
    for (Node* from : {&a, &b}) {
      senders.emplace_back([&go, from, to = from == &a ? "TN-A-1" : "FL-A-1"] {
        uint64_t n = 0;
        while (go) {
          (void)from->mailroom->send(to, Frame{0, n++, 0, 0, "k", std::string(200, 'z')});
          (void)from->mailroom->send(from->name, Frame{});
        }
      });
    }
    ASSERT_TRUE(eventually([&] { return a.count() > 100 && b.count() > 100; }));
    (round % 2 == 0 ? a : b).mailroom->stop();
    const size_t after = (round % 2 == 0 ? a : b).count();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ((round % 2 == 0 ? a : b).count(), after);  // no handler after stop()
    EXPECT_EQ((round % 2 == 0 ? a : b).mailroom->send("TN-A-1", Frame{}).error().code, ErrorCode::kUnavailable);
    go = false;
    for (auto& sender : senders) {
      sender.join();
    }
  }
}

}  // namespace
}  // namespace quorum::mailroom
