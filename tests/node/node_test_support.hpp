// Helpers for the node tests: a fake clock, scratch directories, the ledger
// fixture plugin, and a sans-IO harness that drives a Registry over a
// MemoryStore the way LocalNode's shard loop does (without threads).
#pragma once

#include <quorum/host/host.hpp>
#include <quorum/node/actor.hpp>
#include <quorum/node/local_node.hpp>
#include <quorum/node/registry.hpp>
#include <quorum/store/memory_store.hpp>
#include <quorum/store/recovery.hpp>
#include "support/node_service_sync.hpp"
#include "support/scratch_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quorum::node::testing {

inline std::filesystem::path fixture_dir() { return QUORUM_NODE_FIXTURE_DIR; }
inline std::filesystem::path ledger_plugin(const std::string& version = "1.0.0") {
  return fixture_dir() / ("ledger-" + version + ".so");
}

using ScratchDir = quorum::test_support::ScratchDir;  // tests/support/scratch_dir.hpp

class FakeClock final : public Clock {
 public:
  int64_t now_ms() const override { return now; }
  int64_t now = 1'762'000'000'000;
};

inline std::string msgpack_of(const nlohmann::json& value) {
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}
inline nlohmann::json json_of(std::string_view bytes) {
  if (bytes.empty()) {
    return nullptr;
  }
  return nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
}

inline Command add(const std::string& key, const std::string& id, int64_t by, const std::string& to = {}) {
  nlohmann::json data = {{"by", by}};
  if (!to.empty()) {
    data["to"] = to;
  }
  return Command{key, id, "add", msgpack_of(data)};
}

// Drives one Registry over a MemoryStore: submits, builds one group-commit
// batch, completes (or fails, or crashes) it, and delivers side effects.
class Harness {
 public:
  explicit Harness(ActorOptions actor_options = {}, RegistryOptions registry_options = {}) {
    host::PluginHost::Options host_options;
    host_options.cache_dir = dir_.path() / "cache";
    plugins_ = std::make_unique<host::PluginHost>(host_options);
    Result<host::VersionId> loaded = plugins_->load("ledger", ledger_plugin());
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message);
    EXPECT_TRUE(plugins_->activate("ledger", *loaded).ok());
    runner_ = std::make_unique<host::ProjectionRunner>(*plugins_);
    env_.store = &store;
    env_.plugins = plugins_.get();
    env_.runner = runner_.get();
    env_.clock = &clock;
    env_.options = actor_options;
    env_.emit_events = &events_wanted;
    registry_options_ = registry_options;
    registry = std::make_unique<Registry>(env_, registry_options_);
  }

  // Submits; returns the token whose answer lands in replies.
  ReplyToken submit(Command command) {
    const ReplyToken token = next_token_++;
    registry->submit(std::move(command), token);
    pump();
    return token;
  }
  // Submits without processing: commands admitted together run through the
  // handlers together (handle_batch) at the next pump() or begin_write().
  ReplyToken admit(Command command) {
    const ReplyToken token = next_token_++;
    registry->submit(std::move(command), token);
    return token;
  }
  bool answered(ReplyToken token) const { return replies.count(token) != 0; }
  const Result<CommandReceipt>& reply(ReplyToken token) const { return replies.at(token); }

  // Runs what was admitted (as LocalNode does before each group commit),
  // then drains the outputs.
  void pump() {
    registry->process();
    ActorOutputs outputs;
    registry->take_outputs(outputs);
    for (Delivery& delivery : outputs.deliveries) {
      deliveries.push_back(std::move(delivery));
    }
    for (StreamEvent& event : outputs.events) {
      events.push_back(std::move(event));
    }
    for (Reply& reply : outputs.replies) {
      if (auto wait = delivery_waits_.find(reply.token); wait != delivery_waits_.end()) {
        const Delivery source = wait->second;
        delivery_waits_.erase(wait);
        const bool retry = !reply.result.ok() && (reply.result.error().code == ErrorCode::kUnavailable ||
                                                  reply.result.error().code == ErrorCode::kResourceExhausted);
        if (retry) {
          registry->delivery_failed(source.source, source.source_seq, source.index);
        } else {
          registry->delivery_confirmed(source.source, source.source_seq, source.index);
        }
        continue;
      }
      ASSERT_EQ(replies.count(reply.token), 0u) << "token answered twice: " << reply.token;
      replies.emplace(reply.token, std::move(reply.result));
    }
  }

  // Takes every actor's pending write into one batch (the write in flight).
  size_t begin_write() {
    EXPECT_TRUE(in_flight_.empty());
    batch_.clear();
    in_flight_ = registry->writers();
    for (Actor* actor : in_flight_) {
      actor->take_write(batch_);
    }
    return in_flight_.size();
  }
  bool write_in_flight() const { return !in_flight_.empty(); }
  const store::WriteBatch& batch() const { return batch_; }
  size_t batch_appends() const {
    size_t n = 0;
    for (const store::BatchOp& op : batch_.ops()) {
      n += op.key.starts_with("l/") ? 1 : 0;
    }
    return n;
  }
  // The write completes: durable (ok) or failed (nothing stored).
  void complete_write(bool ok = true) {
    Status status;
    if (ok) {
      Result<uint64_t> written = store.write(batch_);
      EXPECT_TRUE(written.ok());
      store.sync();
    } else {
      status = make_error(ErrorCode::kIo, "injected write failure");
    }
    std::vector<Actor*> actors = std::move(in_flight_);
    in_flight_.clear();
    for (Actor* actor : actors) {
      registry->write_done(*actor, status);
    }
    batch_.clear();
    pump();
  }
  // The write reaches the disk but the process dies before the fsync.
  void write_then_crash() {
    if (!in_flight_.empty()) {
      EXPECT_TRUE(store.write(batch_).ok());
    }
    crash();
  }
  // Power loss: unsynced writes, actors, in-flight answers and deliveries are gone.
  void crash() {
    store.crash();
    in_flight_.clear();
    batch_.clear();
    registry->drop_all();
    registry = std::make_unique<Registry>(env_, registry_options_);
    deliveries.clear();
    delivery_waits_.clear();
  }
  void commit() {
    if (begin_write() > 0) {
      complete_write(true);
    } else {
      in_flight_.clear();
    }
  }
  // Delivers the oldest pending side effect to its receiver.
  bool deliver_one() {
    if (deliveries.empty()) {
      return false;
    }
    Delivery delivery = std::move(deliveries.front());
    deliveries.erase(deliveries.begin());
    const ReplyToken token = next_token_++;
    Command command = delivery.command;
    delivery_waits_.emplace(token, std::move(delivery));
    registry->submit(std::move(command), token);
    pump();
    return true;
  }
  // Runs until nothing is pending: deliveries, writes, confirmations.
  void settle(size_t rounds_max = 1000) {
    for (size_t round = 0; round < rounds_max; ++round) {
      registry->tick(clock.now);  // re-emits deliveries that failed (receiver unavailable)
      pump();
      bool progress = false;
      while (deliver_one()) {
        progress = true;
      }
      if (begin_write() > 0) {
        complete_write(true);
        progress = true;
      } else {
        in_flight_.clear();
      }
      if (!progress && deliveries.empty()) {
        return;
      }
    }
    ADD_FAILURE() << "did not settle";
  }

  nlohmann::json projection(const std::string& key) {
    Result<ActorView> view = registry->get(key).view();
    if (!view.ok() || view->projections.empty()) {
      return nullptr;
    }
    return json_of(view->projections[0].bytes);
  }
  uint64_t seq(const std::string& key) { return registry->get(key).durable_seq(); }

  std::vector<store::Entry> log(const std::string& key) {
    std::vector<store::Entry> out;
    Result<std::vector<store::RawEntry>> raw = store.read_log(key, 1, store::kMaxReadEntries);
    EXPECT_TRUE(raw.ok());
    for (const store::RawEntry& entry : *raw) {
      Result<store::Entry> decoded = store::decode_entry(entry.bytes);
      EXPECT_TRUE(decoded.ok());
      out.push_back(*decoded);
    }
    return out;
  }

  host::PluginHost& plugins() { return *plugins_; }

  ScratchDir dir_;
  store::MemoryStore store;
  FakeClock clock;
  std::atomic<bool> events_wanted{false};
  std::unique_ptr<Registry> registry;
  std::map<ReplyToken, Result<CommandReceipt>> replies;
  std::vector<Delivery> deliveries;
  std::vector<StreamEvent> events;

 private:
  std::unique_ptr<host::PluginHost> plugins_;
  std::unique_ptr<host::ProjectionRunner> runner_;
  ActorEnv env_;
  RegistryOptions registry_options_;
  std::vector<Actor*> in_flight_;
  store::WriteBatch batch_;
  std::map<ReplyToken, Delivery> delivery_waits_;
  ReplyToken next_token_ = 1;
};

// The ledger fixture's total for `key` (-1 when unreadable).
inline int64_t total_of(NodeService& node, const std::string& key) {
  Result<ActorView> view = read_actor_sync(node, key);
  if (!view.ok() || view->projections.empty()) {
    return -1;
  }
  return testing::json_of(view->projections[0].bytes)["total"].get<int64_t>();
}

// A LocalNode on `data_dir` called `name`, with the ledger fixture 1.0.0
// active, 2 shards and a 20 ms tick (quick passivation and retries).
inline LocalNodeOptions ledger_node_options(const std::filesystem::path& data_dir, const std::string& name) {
  LocalNodeOptions options;
  options.data_dir = data_dir;
  options.node_name = name;
  options.shards = 2;
  options.plugin_dir = fixture_dir();
  options.activations = {{"ledger", "1.0.0"}};
  options.tick_ms = 20;
  return options;
}

// Opens a LocalNode; a failure fails the test and returns null.
inline std::unique_ptr<LocalNode> open_local_node(LocalNodeOptions options) {
  Result<std::unique_ptr<LocalNode>> node = LocalNode::open(std::move(options));
  EXPECT_TRUE(node.ok()) << (node.ok() ? "" : node.error().message);
  return node.ok() ? std::move(node).value() : nullptr;
}

}  // namespace quorum::node::testing
