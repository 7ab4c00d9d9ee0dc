// ProjectionNode: a NodeService that serves fixed projections (actor key ->
// handler slot -> msgpack bytes) to read_actor, answering on its own worker
// thread as a real node does. It counts reads (so tests can see what the
// gatherer read and how often) and can fail the reads of one key. Writes
// are refused: the results code never writes.
#pragma once

#include <quorum/node/node_service.hpp>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace quorum::election::testing {

class ProjectionNode final : public node::NodeService {
 public:
  using Actors = std::map<std::string, std::map<std::string, std::string>>;

  explicit ProjectionNode(Actors actors) : actors_(std::move(actors)) {
    worker_ = std::thread([this] { run(); });
  }
  ~ProjectionNode() override { shutdown(); }

  void set_actors(Actors actors) {
    std::lock_guard lock(mutex_);
    actors_ = std::move(actors);
  }
  void fail_key(std::string key, Error error) {
    std::lock_guard lock(mutex_);
    failing_key_ = std::move(key);
    failing_error_ = std::move(error);
  }
  std::map<std::string, size_t> reads() const {
    std::lock_guard lock(mutex_);
    return reads_;
  }
  size_t total_reads() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [key, count] : reads_) {
      n += count;
    }
    return n;
  }

  void submit(node::Command, node::Callback<node::CommandReceipt> done) override {
    post([done = std::move(done)] { done(Error{ErrorCode::kRejected, "ProjectionNode is read-only"}); });
  }
  void read_actor(std::string key, node::Callback<node::ActorView> done) override {
    post([this, key = std::move(key), done = std::move(done)] {
      std::unique_lock lock(mutex_);
      ++reads_[key];
      if (failing_key_ && *failing_key_ == key) {
        Error error = failing_error_;
        lock.unlock();
        done(error);
        return;
      }
      auto it = actors_.find(key);
      if (it == actors_.end()) {
        lock.unlock();
        done(Error{ErrorCode::kNotFound, "actor '" + key + "' has no entries"});
        return;
      }
      node::ActorView view;
      view.key = key;
      view.seq = 1;
      view.head_hex = std::string(64, 'a');
      for (const auto& [handler, bytes] : it->second) {
        view.projections.push_back({handler, "1.0.0", 1, bytes});
      }
      lock.unlock();
      done(std::move(view));
    });
  }
  void read_log(std::string, uint64_t, size_t, node::Callback<std::vector<node::LogEntryView>> done) override {
    post([done = std::move(done)] { done(Error{ErrorCode::kNotFound, "no logs here"}); });
  }
  std::unique_ptr<node::Subscription> subscribe(std::string, size_t,
                                                std::function<void(const node::StreamEvent&)>) override {
    return nullptr;
  }
  host::PluginHost& plugins() override { std::abort(); }  // the results code never asks
  node::Health health() const override {
    node::Health health;
    health.serving = true;
    health.node_name = "projection-node";
    return health;
  }
  void write_metrics(std::string&) const override {}
  void shutdown() override {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) {
        return;
      }
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) {
      worker_.join();
    }
  }

 private:
  void post(std::function<void()> job) {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) {
        return;
      }
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(queue_mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) {
          return;
        }
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  mutable std::mutex mutex_;
  Actors actors_;
  std::map<std::string, size_t> reads_;
  std::optional<std::string> failing_key_;
  Error failing_error_{ErrorCode::kUnavailable, ""};
  std::mutex queue_mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace quorum::election::testing
