// FakeNode: an in-process NodeService for the HTTP tests. Keeps actors in
// memory, answers on its own worker thread (as a real node does: never
// inline), dedups by id, and can be told to fail: a command of type
// "reject" is refused by a pretend handler (kRejected), `fail_next` makes
// submits answer with a given error (e.g. kResourceExhausted), and
// `serving` flips health. The plugin host is a real PluginHost over a
// scratch cache directory.
//
// Threads: every member is safe from any thread; callbacks run on the
// worker. shutdown() drains the worker; the destructor calls it.
#pragma once

#include <quorum/host/plugin_host.hpp>
#include <quorum/node/node_service.hpp>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace quorum::http::testing {

class FakeNode final : public node::NodeService {
 public:
  FakeNode() : cache_dir_(scratch()), plugins_(options(cache_dir_)) {
    worker_ = std::thread([this] { run(); });
  }
  ~FakeNode() override {
    shutdown();
    std::error_code ignored;
    std::filesystem::remove_all(cache_dir_, ignored);
  }

  void submit(node::Command command, node::Callback<node::CommandReceipt> done) override {
    post([this, command = std::move(command), done = std::move(done)]() mutable {
      std::unique_lock lock(mutex_);
      submitted_.push_back(command);
      if (fail_next_) {
        Error error = *fail_next_;
        fail_next_.reset();
        lock.unlock();
        done(error);
        return;
      }
      if (command.type == "reject") {
        lock.unlock();
        done(make_error(ErrorCode::kRejected, "rejected by tally: contest 'mayor' is not on this ballot style"));
        return;
      }
      auto& log = actors_[command.key];
      if (!command.id.empty()) {
        for (const node::LogEntryView& e : log) {
          if (e.id == command.id) {
            node::CommandReceipt receipt{command.key, e.seq, e.hash_hex, true};
            lock.unlock();
            done(receipt);
            return;
          }
        }
      }
      node::LogEntryView entry;
      entry.seq = log.size() + 1;
      entry.epoch = 1;
      entry.time_ms = 1'700'000'000'000;
      entry.id = command.id;
      entry.type = command.type;
      entry.payload = command.data;
      entry.prev_hash_hex = log.empty() ? std::string(64, '0') : log.back().hash_hex;
      entry.hash_hex = std::string(63, 'a') + static_cast<char>('0' + entry.seq % 10);
      log.push_back(entry);
      node::StreamEvent event{command.key, entry, {projection()}};
      std::vector<std::function<void(const node::StreamEvent&)>> listeners;
      for (auto& [id, sub] : subscribers_) {
        if (command.key.starts_with(sub.first)) {
          listeners.push_back(sub.second);
        }
      }
      node::CommandReceipt receipt{command.key, entry.seq, entry.hash_hex, false};
      lock.unlock();
      for (auto& listener : listeners) {
        listener(event);
      }
      done(receipt);
    });
  }

  void read_actor(std::string key, node::Callback<node::ActorView> done) override {
    post([this, key = std::move(key), done = std::move(done)] {
      std::unique_lock lock(mutex_);
      auto it = actors_.find(key);
      if (it == actors_.end() || it->second.empty()) {
        lock.unlock();
        done(make_error(ErrorCode::kNotFound, "actor '" + key + "' has no entries"));
        return;
      }
      node::ActorView view{key, it->second.size(), it->second.back().hash_hex, {projection()}};
      lock.unlock();
      done(view);
    });
  }

  void read_log(std::string key, uint64_t from, size_t limit,
                node::Callback<std::vector<node::LogEntryView>> done) override {
    post([this, key = std::move(key), from, limit, done = std::move(done)] {
      std::unique_lock lock(mutex_);
      last_log_request_ = {from, limit};
      auto it = actors_.find(key);
      if (it == actors_.end()) {
        lock.unlock();
        done(make_error(ErrorCode::kNotFound, "actor '" + key + "' has no entries"));
        return;
      }
      std::vector<node::LogEntryView> out;
      for (const node::LogEntryView& e : it->second) {
        if (e.seq >= from && out.size() < limit) {
          out.push_back(e);
        }
      }
      lock.unlock();
      done(out);
    });
  }

  class FakeSubscription final : public node::Subscription {
   public:
    FakeSubscription(FakeNode& node, uint64_t id) : node_(node), id_(id) {}
    ~FakeSubscription() override {
      std::lock_guard lock(node_.mutex_);
      node_.subscribers_.erase(id_);
    }
    uint64_t dropped() const override { return 0; }

   private:
    FakeNode& node_;
    uint64_t id_;
  };

  std::unique_ptr<node::Subscription> subscribe(std::string prefix, size_t,
                                                std::function<void(const node::StreamEvent&)> on_event) override {
    std::lock_guard lock(mutex_);
    uint64_t id = ++next_subscription_;
    subscribers_[id] = {std::move(prefix), std::move(on_event)};
    return std::make_unique<FakeSubscription>(*this, id);
  }

  host::PluginHost& plugins() override { return plugins_; }

  node::Health health() const override {
    node::Health health;
    health.serving = serving.load();
    health.node_name = "fake-1";
    health.actors_active = 3;
    health.uptime_ms = 1234;
    return health;
  }

  void write_metrics(std::string& out) const override {
    out += "# TYPE quorum_commits_total counter\nquorum_commits_total 7\n";
  }

  void shutdown() override {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) {
        return;
      }
      stopping_ = true;
    }
    queue_cv_.notify_all();
    if (worker_.joinable()) {
      worker_.join();
    }
  }

  // Test controls.
  void fail_next(Error error) {
    std::lock_guard lock(mutex_);
    fail_next_ = std::move(error);
  }
  std::vector<node::Command> submitted() const {
    std::lock_guard lock(mutex_);
    return submitted_;
  }
  std::pair<uint64_t, size_t> last_log_request() const {
    std::lock_guard lock(mutex_);
    return last_log_request_;
  }
  size_t subscribers() const {
    std::lock_guard lock(mutex_);
    return subscribers_.size();
  }
  std::atomic<bool> serving{true};

 private:
  static std::filesystem::path scratch() {
    static std::atomic<int> counter{0};
    auto path = std::filesystem::temp_directory_path() /
                ("quorum-http-fake-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    return path;
  }
  static host::PluginHost::Options options(const std::filesystem::path& dir) {
    host::PluginHost::Options o;
    o.cache_dir = dir / "cache";
    return o;
  }
  static node::ActorView::Projection projection() {
    // {"count": 1} as msgpack
    return node::ActorView::Projection{"counter", "1.0.0", 1,
                                       std::string("\x81\xa5"
                                                   "count\x01",
                                                   8)};
  }

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) {
        // After shutdown: answer inline, as LocalNode does.
        task_after_stop_ = true;
      } else {
        tasks_.push_back(std::move(task));
        queue_cv_.notify_one();
        return;
      }
    }
    task();
  }

  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) {
          return;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::filesystem::path cache_dir_;
  host::PluginHost plugins_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<node::LogEntryView>> actors_;
  std::vector<node::Command> submitted_;
  std::optional<Error> fail_next_;
  std::pair<uint64_t, size_t> last_log_request_{0, 0};
  std::map<uint64_t, std::pair<std::string, std::function<void(const node::StreamEvent&)>>> subscribers_;
  uint64_t next_subscription_ = 0;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool task_after_stop_ = false;
  std::thread worker_;
};

}  // namespace quorum::http::testing
