// EtcdGateway: a small client of etcd v3's JSON gateway (HTTP/1.1 + JSON,
// keys and values base64; etcd 3.4 serves it on the client URL under /v3/).
// Used by EtcdTopologyStore and `quorumctl topology --etcd`. Why the gateway
// and not gRPC: docs/dependencies.md (no grpc++/protobuf build dependency;
// Boost.Beast is already here).
//
// Calls: range (a key or a prefix), put (optionally attached to a lease),
// delete, compare-and-put transactions on create/mod revision (optionally
// clearing a prefix in the same transaction), lease grant,
// keepalive (one round) and revoke; and EtcdWatch, a streaming POST /v3/watch
// read incrementally.
//
// Errors are values: kUnavailable when etcd did not answer (refused, reset,
// timed out), kFailedPrecondition when it answered with an error (the message
// carries etcd's), kInvalidArgument for a malformed URL or answer.
// Bounds: every call has a timeout (Options::timeout); an answer is at most
// 64 MiB; one watch message at most kMaxWatchMessageBytes.
// Threads: an EtcdGateway or EtcdWatch is used by one thread at a time;
// EtcdWatch::next() can be interrupted from another thread with cancel().
#pragma once

#include <quorum/host/result.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::client {
class HttpClient;
}

namespace quorum::cluster {

inline constexpr size_t kMaxWatchMessageBytes = size_t{32} << 20;

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store revision the answer reflects
  std::vector<EtcdKeyValue> kvs;
};

struct EtcdEvent {
  bool deleted = false;  // else a put
  EtcdKeyValue kv;       // for a delete: key and mod_revision (the delete's revision) only
};

// One message of a watch stream.
struct EtcdWatchMessage {
  int64_t revision = 0;  // header revision
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // > 0: the requested start was compacted
  std::string cancel_reason;
  std::vector<EtcdEvent> events;
};

// The end of the range of keys starting with `prefix` (etcd's prefix rule).
std::string etcd_prefix_end(std::string_view prefix);

class EtcdGateway {
 public:
  struct Options {
    std::chrono::milliseconds timeout{5000};
  };
  // url: http://HOST:PORT (the etcd client URL).
  static Result<std::unique_ptr<EtcdGateway>> create(std::string_view url, Options options);
  static Result<std::unique_ptr<EtcdGateway>> create(std::string_view url) { return create(url, Options{}); }
  ~EtcdGateway();
  EtcdGateway(const EtcdGateway&) = delete;
  EtcdGateway& operator=(const EtcdGateway&) = delete;

  Result<EtcdRange> get(std::string_view key);
  Result<EtcdRange> get_prefix(std::string_view prefix);
  // Returns the revision of the put.
  Result<int64_t> put(std::string_view key, std::string_view value, int64_t lease = 0);
  Result<int64_t> erase(std::string_view key);
  // Puts `value` if the key's mod_revision is `mod_revision` (0: the key does
  // not exist). Ok(true) if it did, Ok(false) if the comparison failed.
  Result<bool> put_if_unchanged(std::string_view key, std::string_view value, int64_t mod_revision);
  // One transaction: if `compare_key`'s mod_revision is `mod_revision` (0: it
  // does not exist), puts `key` = `value` and, unless `clear_prefix` is
  // empty, deletes every key starting with `clear_prefix`. Ok(false) if the
  // comparison failed (nothing was done).
  Result<bool> put_if_revision(std::string_view compare_key, int64_t mod_revision, std::string_view key,
                               std::string_view value, std::string_view clear_prefix);

  Result<int64_t> lease_grant(int64_t ttl_seconds);  // the lease id
  Result<int64_t> lease_keepalive(int64_t lease);    // the remaining TTL; 0: the lease is gone
  Status lease_revoke(int64_t lease);

  const std::string& url() const noexcept { return url_; }

 private:
  EtcdGateway(std::string url, std::unique_ptr<client::HttpClient> http);
  Result<std::string> call(std::string_view target, std::string body);
  std::string url_;
  std::unique_ptr<client::HttpClient> http_;
};

// A watch of [key, range_end) from start_revision: POST /v3/watch, read as a
// stream of newline-separated JSON messages.
class EtcdWatch {
 public:
  static Result<std::unique_ptr<EtcdWatch>> open(std::string_view url, std::string_view key, std::string_view range_end,
                                                 int64_t start_revision, std::chrono::milliseconds connect_timeout);
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // The next message; waits at most `timeout`. Ok(nullopt) on timeout (the
  // stream is still fine); kUnavailable when the stream ended or failed, or
  // after cancel().
  Result<std::optional<EtcdWatchMessage>> next(std::chrono::milliseconds timeout);
  // Makes a pending or later next() return kUnavailable at once: it wakes
  // the watch's I/O (no polling; next() sleeps until data, its timeout or
  // this). Any thread, while the watch exists.
  void cancel() noexcept;

 private:
  struct Impl;
  explicit EtcdWatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> canceled_{false};
};

}  // namespace quorum::cluster
