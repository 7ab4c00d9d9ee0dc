// quorumctl internals: sending many commands in batches over
// POST /v1/commands (msgpack), as election load / close and ingest do.
//
// BatchSender runs `senders` threads, each with its own connection; push()
// blocks while kQueuedBatches batches wait, so a reader feeding it never
// holds more than that many. A 503 (for the request, or for single
// commands in its answer) is retried with the same ids after Retry-After,
// a lost connection three times: the ids make retries idempotent (what the
// node already took comes back as a duplicate). A request the node refuses
// as a whole, or an unreachable node, is fatal: the queued batches are
// dropped and fatal() gives the exit code.
#pragma once

#include "ctl.hpp"

#include <quorum/election/definition.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace quorum::ctl {

inline constexpr size_t kMaxBatchCommands = 10'000;  // the API's bound per request
inline constexpr size_t kMaxBatchBytes = size_t{4} << 20;
inline constexpr size_t kQueuedBatches = 4;
inline constexpr int kMaxOverloadRetries = 60;
inline constexpr int kMaxUnreachableRetries = 3;  // after 0.5, 1 and 2 s
inline constexpr size_t kMaxErrorsPrinted = 1000;

// One command of a batch and what to say about it.
struct Item {
  election::OutCommand command;
  std::string label;   // FILE[#index] for cvrs, the key otherwise
  std::string unit;    // the leaf of a cvr ("" otherwise)
  bool flush = false;  // a precinct's "flush": tallied apart (Totals::flushes), not as progress
};

struct Batch {
  std::vector<Item> items;
  size_t bytes = 0;
};

// What the node answered, summed over every batch.
struct Totals {
  uint64_t committed = 0;
  uint64_t duplicates = 0;
  uint64_t refused = 0;
  uint64_t flushes = 0;                  // "flush" commands the node took
  std::set<std::string> accepted_units;  // leaves with at least one accepted cvr
};

inline std::string msgpack_body(const std::vector<Item>& items) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(static_cast<uint32_t>(items.size()));
  for (const Item& item : items) {
    packer.pack_map(4);
    packer.pack(std::string_view("key"));
    packer.pack(item.command.key);
    packer.pack(std::string_view("id"));
    packer.pack(item.command.id);
    packer.pack(std::string_view("type"));
    packer.pack(item.command.type);
    packer.pack(std::string_view("data"));
    buffer.write(item.command.data.data(), item.command.data.size());  // already one msgpack value
  }
  return std::string(buffer.data(), buffer.size());
}

// Sends batches from `senders` threads. push() blocks while kQueuedBatches
// wait (back-pressure on the reader); drain() waits for every answer.
class BatchSender {
 public:
  BatchSender(const Context& context, size_t senders, bool quiet) : context_(context), quiet_(quiet) {
    for (size_t i = 0; i < senders; ++i) {
      threads_.emplace_back([this] { run(); });
    }
  }
  ~BatchSender() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (std::thread& thread : threads_) {
      thread.join();
    }
  }

  void push(Batch batch) {
    if (batch.items.empty()) {
      return;
    }
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queue_.size() < kQueuedBatches || fatal_code_ != 0; });
    if (fatal_code_ != 0) {
      return;  // the node is gone: drop, the caller sees fatal()
    }
    queue_.push_back(std::move(batch));
    ++pending_;
    changed_.notify_all();
  }

  void drain() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return pending_ == 0 || fatal_code_ != 0; });
  }

  uint64_t answered() const { return answered_.load(); }
  int fatal() {
    std::lock_guard lock(mutex_);
    return fatal_code_;
  }
  Totals totals() {
    std::lock_guard lock(mutex_);
    return totals_;
  }
  std::vector<std::string> take_errors() {
    std::lock_guard lock(mutex_);
    return std::move(errors_);
  }
  // The leaves that committed a new cvr since the last call (sorted): the
  // precincts that may hold ballots they have not flushed to their roll-ups.
  std::vector<std::string> take_unflushed() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> units(unflushed_.begin(), unflushed_.end());
    unflushed_.clear();
    return units;
  }

 private:
  void run() {
    client::HttpClient::Options options;
    options.token = context_.token;
    options.timeout = context_.timeout;
    auto connection = client::HttpClient::create(context_.node_url, options);
    for (;;) {
      Batch batch;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
          return;
        }
        batch = std::move(queue_.front());
        queue_.pop_front();
        changed_.notify_all();
      }
      if (!connection) {
        finish_fatal(kExitUsage, connection.error().message);
        continue;
      }
      send(**connection, std::move(batch));
    }
  }

  void finish_fatal(int code, const std::string& message) {
    std::lock_guard lock(mutex_);
    if (fatal_code_ == 0) {
      fatal_code_ = code;
      ctl::fail(code, message);
    }
    pending_ -= queue_.size() + 1;  // this batch and the queued ones are dropped: nothing more goes out
    queue_.clear();
    changed_.notify_all();
  }

  // One POST with retries: the whole request again on 503 or a lost
  // connection; the items the node answered 503 for (an overloaded actor)
  // again by themselves. Same ids every time: a command the node did take
  // comes back as a duplicate.
  Result<client::Response> post(client::HttpClient& connection, const std::string& body) {
    Result<client::Response> response = make_error(ErrorCode::kUnavailable, "not sent");
    int overloaded = 0;
    int unreachable = 0;
    for (;;) {
      response = connection.post("/v1/commands", body, "application/msgpack", "application/json");
      if (response && response->status == 503 && overloaded++ < kMaxOverloadRetries) {
        std::this_thread::sleep_for(retry_after(*response));
        continue;
      }
      if (!response && response.error().code == ErrorCode::kUnavailable && unreachable++ < kMaxUnreachableRetries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250 << unreachable));
        continue;
      }
      return response;
    }
  }

  static std::chrono::seconds retry_after(const client::Response& response) {
    return std::chrono::seconds(
        response.retry_after.empty() ? 1 : std::clamp(std::atoi(response.retry_after.c_str()), 1, 10));
  }

  void send(client::HttpClient& connection, Batch batch) {
    const size_t counted = static_cast<size_t>(
        std::count_if(batch.items.begin(), batch.items.end(), [](const Item& item) { return !item.flush; }));
    std::vector<Item> items = std::move(batch.items);
    for (int round = 0;; ++round) {
      Result<client::Response> response = post(connection, msgpack_body(items));
      if (!response) {
        const int code = response.error().code == ErrorCode::kUnavailable ? kExitUnreachable : kExitUsage;
        finish_fatal(code, "POST /v1/commands: " + response.error().message);
        return;
      }
      if (!response->ok()) {
        finish_fatal(kExitRefused,
                     "POST /v1/commands: HTTP " + std::to_string(response->status) + ": " + response->error_text());
        return;
      }
      nlohmann::json parsed = nlohmann::json::parse(response->body, nullptr, false);
      if (!parsed.is_object() || !parsed.contains("results") || !parsed["results"].is_array() ||
          parsed["results"].size() != items.size()) {
        finish_fatal(kExitRefused, "POST /v1/commands: the node's answer does not hold one result per command");
        return;
      }
      std::vector<Item> again;
      std::unique_lock lock(mutex_);
      const nlohmann::json& results = parsed["results"];
      for (size_t i = 0; i < results.size(); ++i) {
        const nlohmann::json& result = results[i];
        Item& item = items[i];
        if (result.is_object() && result.contains("seq") && !result.contains("error")) {
          if (item.flush) {
            ++totals_.flushes;
            continue;
          }
          const bool duplicate = result.value("duplicate", false);
          duplicate ? ++totals_.duplicates : ++totals_.committed;
          if (!item.unit.empty()) {
            totals_.accepted_units.insert(item.unit);
            if (!duplicate) {  // a re-sent ballot was flushed (or closed) after it first came
              unflushed_.insert(item.unit);
            }
          }
          continue;
        }
        const unsigned status = result.is_object() ? result.value("status", 0u) : 0u;
        if (status == 503 && round < kMaxOverloadRetries) {
          again.push_back(std::move(item));
          continue;
        }
        ++totals_.refused;
        const std::string reason =
            result.is_object() && result.contains("error") ? json_cell(result["error"]) : result.dump();
        if (errors_.size() < kMaxErrorsPrinted) {
          errors_.push_back(item.label + ": " + reason);
        }
        if (!quiet_ && printed_ < kMaxErrorsPrinted) {
          ++printed_;
          std::cerr << "\r" << item.label << ": " << reason << "\n";
        }
      }
      if (!again.empty()) {
        lock.unlock();
        items = std::move(again);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      answered_ += counted;
      --pending_;
      changed_.notify_all();
      return;
    }
  }

  const Context& context_;
  const bool quiet_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  size_t pending_ = 0;  // pushed and not answered
  bool stopping_ = false;
  int fatal_code_ = 0;
  Totals totals_;
  std::set<std::string> unflushed_;
  std::vector<std::string> errors_;
  size_t printed_ = 0;
  std::atomic<uint64_t> answered_{0};
  std::vector<std::thread> threads_;
};

// Splits `items` into batches of at most `batch` commands / kMaxBatchBytes.
// `after_push` runs after each batch is queued (progress).
inline void push_all(BatchSender& sender, std::vector<Item> items, size_t batch,
                     const std::function<void()>& after_push = {}) {
  Batch current;
  for (Item& item : items) {
    const size_t size = item.command.data.size() + item.command.key.size() + item.command.id.size() + 32;
    if (!current.items.empty() && (current.items.size() >= batch || current.bytes + size > kMaxBatchBytes)) {
      sender.push(std::move(current));
      current = Batch{};
      if (after_push) {
        after_push();
      }
    }
    current.bytes += size;
    current.items.push_back(std::move(item));
  }
  sender.push(std::move(current));
}

}  // namespace quorum::ctl
