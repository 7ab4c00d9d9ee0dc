// Mailroom throughput and latency between two processes on loopback TCP
// (A sends, B echoes), each mailroom with one I/O thread; small frames
// (100-byte body, 24-byte key).
//
//  1. frames/s one way, A -> B, with bundling: one thread in A calls send()
//     as fast as the per-peer queue allows (retrying on kResourceExhausted),
//     then sends a request; B answers it, and since frames arrive in order
//     per pair, the answer means B has received every frame before it.
//  2. request/reply round trips A -> B -> A, one at a time (so no bundling
//     is possible): p50/p99 and round trips/s.
//
//   build/tests/bench/mailroom_bench [frames=2000000] [round_trips=20000]
//                                    [compress_min_bytes=65536; 0 = off] [--one-process]
#include <quorum/mailroom/mailroom.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace quorum::mailroom;
using Clock = std::chrono::steady_clock;

constexpr uint8_t kData = 1, kRequest = 2, kReply = 3, kQuit = 9;

size_t compress_min_bytes = MailroomOptions{}.compress_min_bytes;

MailroomOptions options_for(const char* name) {
  MailroomOptions options;
  options.node_name = name;
  options.listen_address = "127.0.0.1:0";
  options.compress_min_bytes = compress_min_bytes;
  return options;
}

bool wait_until(const std::atomic<uint64_t>& counter, uint64_t target, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (counter.load(std::memory_order_acquire) < target) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

// B: answers requests, quits on kQuit. Returns its mailroom (started).
struct Echo {
  std::atomic<bool> quit{false};
  std::atomic<uint64_t> frames{0};
  std::unique_ptr<Mailroom> mailroom;
  uint16_t port = 0;
  Echo() {
    mailroom = std::make_unique<Mailroom>(options_for("BENCH-B-1"), [this](std::string_view from, Frame frame) {
      frames.fetch_add(1, std::memory_order_relaxed);
      if (frame.kind == kRequest) {
        frame.kind = kReply;
        frame.body.clear();
        (void)mailroom->send(from, std::move(frame));
      } else if (frame.kind == kQuit) {
        quit = true;
      }
    });
    auto started = mailroom->start();
    if (!started.ok()) {
      std::fprintf(stderr, "B: %s\n", started.error().message.c_str());
      std::exit(1);
    }
    port = *started;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool one_process = std::find(args.begin(), args.end(), "--one-process") != args.end();
  args.erase(std::remove(args.begin(), args.end(), "--one-process"), args.end());
  const uint64_t frames = args.size() > 0 ? std::strtoull(args[0].c_str(), nullptr, 10) : 2'000'000;
  const uint64_t round_trips = args.size() > 1 ? std::strtoull(args[1].c_str(), nullptr, 10) : 20'000;
  if (args.size() > 2) {
    compress_min_bytes = std::strtoull(args[2].c_str(), nullptr, 10);
  }
  std::printf("%s, frames %llu, round trips %llu, compress_min_bytes %zu\n",
              one_process ? "one process" : "two processes", static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(round_trips), compress_min_bytes);
  std::fflush(stdout);

  // Start B (in a child process unless --one-process); learn its port.
  std::unique_ptr<Echo> local_echo;
  uint16_t port_b = 0;
  int to_child[2] = {-1, -1};
  pid_t child = -1;
  if (one_process) {
    local_echo = std::make_unique<Echo>();
    port_b = local_echo->port;
  } else {
    int from_child[2];
    if (pipe(from_child) != 0 || pipe(to_child) != 0) {
      std::perror("pipe");
      return 1;
    }
    child = fork();
    if (child == 0) {
      Echo echo;
      (void)!write(from_child[1], &echo.port, sizeof echo.port);
      uint16_t port_a = 0;
      if (read(to_child[0], &port_a, sizeof port_a) != sizeof port_a) {
        _exit(1);
      }
      echo.mailroom->set_peers({Peer{"BENCH-A-1", "127.0.0.1:" + std::to_string(port_a)}}, 1);
      while (!echo.quit) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      echo.mailroom->stop();
      _exit(0);
    }
    if (read(from_child[0], &port_b, sizeof port_b) != sizeof port_b) {
      std::fprintf(stderr, "B did not start\n");
      return 1;
    }
  }

  std::atomic<uint64_t> replies{0};
  Mailroom a(options_for("BENCH-A-1"), [&](std::string_view, Frame frame) {
    if (frame.kind == kReply) {
      replies.fetch_add(1, std::memory_order_release);
    }
  });
  auto port_a = a.start();
  if (!port_a.ok()) {
    std::fprintf(stderr, "A: %s\n", port_a.error().message.c_str());
    return 1;
  }
  a.set_peers({Peer{"BENCH-B-1", "127.0.0.1:" + std::to_string(port_b)}}, 1);
  if (one_process) {
    local_echo->mailroom->set_peers({Peer{"BENCH-A-1", "127.0.0.1:" + std::to_string(*port_a)}}, 1);
  } else {
    const uint16_t port = *port_a;
    (void)!write(to_child[1], &port, sizeof port);
  }

  const Frame data{kData, 0, 0, 1, "e/2026-11-03/precinct/01", std::string(100, 'b')};
  Frame request = data;
  request.kind = kRequest;
  auto send_retrying = [&](Frame frame) {
    uint64_t refused = 0;
    for (;;) {
      auto sent = a.send("BENCH-B-1", frame);
      if (sent.ok()) {
        return refused;
      }
      ++refused;
      std::this_thread::yield();
    }
  };
  // Warm up: connections both ways.
  send_retrying(request);
  if (!wait_until(replies, 1, std::chrono::seconds(30))) {
    std::fprintf(stderr, "no connection\n");
    return 1;
  }

  // 1. Bundled throughput.
  {
    const auto before = *a.stats("BENCH-B-1");
    uint64_t refused = 0;
    const uint64_t base = replies.load();
    const auto start = Clock::now();
    for (uint64_t n = 0; n < frames; ++n) {
      Frame frame = data;
      frame.correlation = n;
      refused += send_retrying(std::move(frame));
    }
    send_retrying(request);
    if (!wait_until(replies, base + 1, std::chrono::seconds(300))) {
      std::fprintf(stderr, "frames lost\n");
      return 1;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto after = *a.stats("BENCH-B-1");
    const double bundles = static_cast<double>(after.bundles_sent - before.bundles_sent);
    std::printf(
        "bundled:    %.0f frames/s (%llu frames in %.3f s), %.1f MB/s on the wire, %.0f frames per write, "
        "%llu sends refused (queue full)\n",
        static_cast<double>(frames) / seconds, static_cast<unsigned long long>(frames), seconds,
        static_cast<double>(after.bytes_sent - before.bytes_sent) / seconds / 1e6,
        static_cast<double>(after.frames_sent - before.frames_sent) / std::max(1.0, bundles),
        static_cast<unsigned long long>(refused));
  }

  // 2. Round trips.
  {
    std::vector<double> micros;
    micros.reserve(round_trips);
    const auto start_all = Clock::now();
    for (uint64_t n = 0; n < round_trips; ++n) {
      const uint64_t before = replies.load();
      Frame frame = request;
      frame.correlation = n;
      const auto start = Clock::now();
      send_retrying(std::move(frame));
      if (!wait_until(replies, before + 1, std::chrono::seconds(30))) {
        std::fprintf(stderr, "reply lost\n");
        return 1;
      }
      micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start_all).count();
    std::sort(micros.begin(), micros.end());
    auto at = [&](double q) { return micros[static_cast<size_t>(q * static_cast<double>(micros.size() - 1))]; };
    std::printf("round trip: p50 %.1f us, p99 %.1f us, max %.1f us (%llu one at a time: %.0f round trips/s)\n", at(0.5),
                at(0.99), micros.back(), static_cast<unsigned long long>(round_trips),
                static_cast<double>(round_trips) / seconds);
  }
  Frame quit = data;
  quit.kind = kQuit;
  send_retrying(quit);
  if (child > 0) {
    int status = 0;
    waitpid(child, &status, 0);
  }
  a.stop();
  return 0;
}
