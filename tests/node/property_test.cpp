// Property: whatever the interleaving of submits (fresh, retried, rejected,
// with side effects), write completions, failed writes, crashes before the
// fsync, restarts, deliveries and passivation, after settling:
//  - every acknowledged command is in its actor's log exactly once, at the
//    seq and hash it was acknowledged with;
//  - every hash chain verifies;
//  - live projections equal a fresh replay of the log (a restart), and equal
//    the sums the log implies;
//  - every side effect of a durable entry was applied exactly once.
// RC_PARAMS="seed=N" replays a failure.
#include "node_test_support.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

namespace quorum::node {
namespace {

using testing::Harness;

const std::vector<std::string> kPrecincts = {"precinct/a", "precinct/b", "precinct/c"};
const std::vector<std::string> kCounties = {"county/x", "county/y"};

struct Acked {
  std::string key;
  uint64_t seq = 0;
  std::string hash_hex;
};

RC_GTEST_PROP(NodeProperty, AcknowledgedCommandsSurviveEveryInterleaving, ()) {
  ActorOptions actor_options;
  actor_options.snapshot_interval = *rc::gen::inRange<uint64_t>(0, 6);
  actor_options.queue_bound = 64;
  actor_options.history_window = *rc::gen::inRange<size_t>(1, 8);
  // Few fingerprint bits force collisions in the idempotency tables; a small
  // id bound forces evictions (store look-ups).
  actor_options.id_fingerprint_bits = *rc::gen::element(1u, 3u, 64u);
  actor_options.recent_ids_bound = *rc::gen::element<size_t>(0, 2, 4096);
  RegistryOptions registry_options;
  registry_options.idle_passivation_ms = 10;
  registry_options.max_active = *rc::gen::inRange<size_t>(2, 8);
  Harness h(actor_options, registry_options);

  std::map<std::string, Acked> acked;           // command id -> its answer
  std::map<ReplyToken, std::string> submitted;  // token -> id
  int next_id = 0;
  const int steps = *rc::gen::inRange(10, 120);
  for (int step = 0; step < steps; ++step) {
    const int action = *rc::gen::inRange(0, 100);
    if (action < 45) {
      const std::string key = *rc::gen::elementOf(kPrecincts);
      std::string id;
      if (!submitted.empty() && *rc::gen::inRange(0, 4) == 0) {
        // A retry of an earlier command (same key: ids are per actor).
        auto it = submitted.begin();
        std::advance(it, *rc::gen::inRange<size_t>(0, submitted.size()));
        id = it->second;
      } else {
        id = "b-" + std::to_string(next_id++);
      }
      const std::string& target = id.back() % 2 == 0 ? kCounties[0] : kCounties[1];
      // ids are unique per key in this model: key is a function of the id.
      const std::string& owner = kPrecincts[std::stoul(id.substr(2)) % kPrecincts.size()];
      (void)key;
      const int64_t by = std::stoll(id.substr(2)) % 7 + 1;
      Command command = testing::add(owner, id, by, *rc::gen::inRange(0, 2) == 0 ? target : "");
      // Some commands are only admitted, so later ones join them in one
      // handle_batch call at the next pump or write.
      const ReplyToken token =
          *rc::gen::inRange(0, 3) == 0 ? h.admit(std::move(command)) : h.submit(std::move(command));
      submitted.emplace(token, id);
    } else if (action < 50) {
      Command command{*rc::gen::elementOf(kPrecincts), "r", "reject", testing::msgpack_of(nullptr)};
      if (*rc::gen::inRange(0, 2) == 0) {
        h.admit(std::move(command));
      } else {
        h.submit(std::move(command));
      }
    } else if (action < 65) {
      if (h.write_in_flight()) {
        h.complete_write(true);
      } else {
        h.begin_write();
      }
    } else if (action < 70) {
      if (h.write_in_flight()) {
        h.complete_write(false);
      }
    } else if (action < 75) {
      h.write_then_crash();
    } else if (action < 78) {
      h.crash();
    } else if (action < 90) {
      if (!h.write_in_flight()) {
        h.deliver_one();
      }
    } else {
      if (!h.write_in_flight()) {
        h.clock.now += *rc::gen::inRange(0, 20);
        h.registry->tick(h.clock.now);
        h.pump();
      }
    }
    // Acknowledgements must never contradict each other.
    for (const auto& [token, result] : h.replies) {
      if (!result.ok() || submitted.count(token) == 0) {
        continue;
      }
      const std::string& id = submitted.at(token);
      Acked answer{result->key, result->seq, result->hash_hex};
      auto [it, inserted] = acked.emplace(id, answer);
      if (!inserted) {
        RC_ASSERT(it->second.key == answer.key);
        RC_ASSERT(it->second.seq == answer.seq);
        RC_ASSERT(it->second.hash_hex == answer.hash_hex);
      }
    }
  }

  // Settle: finish the write in flight, restart actors with an outbox (as
  // LocalNode does at start), deliver everything.
  if (h.write_in_flight()) {
    h.complete_write(true);
  }
  for (const std::string& key : kPrecincts) {
    h.registry->get(key);
  }
  h.settle();
  for (const auto& [token, result] : h.replies) {
    if (result.ok() && submitted.count(token) != 0) {
      acked.emplace(submitted.at(token), Acked{result->key, result->seq, result->hash_hex});
    }
  }

  // Every acknowledged command is in the log exactly once, as acknowledged.
  std::map<std::string, std::vector<store::Entry>> logs;
  for (const auto& keys : {kPrecincts, kCounties}) {
    for (const std::string& key : keys) {
      logs[key] = h.log(key);
      RC_ASSERT(store::verify_actor_log(h.store, key).ok());
    }
  }
  for (const auto& [id, answer] : acked) {
    const std::vector<store::Entry>& log = logs.at(answer.key);
    size_t found = 0;
    for (const store::Entry& entry : log) {
      if (entry.id == id) {
        ++found;
        RC_ASSERT(entry.seq == answer.seq);
        RC_ASSERT(store::to_hex(entry.hash) == answer.hash_hex);
      }
    }
    RC_ASSERT(found == 1u);
  }
  // No id twice in any log.
  for (const auto& [key, log] : logs) {
    std::set<std::string> ids;
    for (const store::Entry& entry : log) {
      RC_ASSERT(ids.insert(entry.id).second);
    }
  }

  // Projections: live == the sums of the log == after a fresh replay; every
  // effect of a durable precinct entry applied exactly once at its county.
  std::map<std::string, int64_t> expected_total;
  for (const std::string& key : kPrecincts) {
    for (const store::Entry& entry : logs.at(key)) {
      const nlohmann::json data = testing::json_of(entry.payload);
      expected_total[key] += data.at("by").get<int64_t>();
      if (data.contains("to")) {
        expected_total[data.at("to").get<std::string>()] += data.at("by").get<int64_t>();
      }
    }
  }
  std::map<std::string, nlohmann::json> live;
  for (const auto& [key, log] : logs) {
    const nlohmann::json projection = h.projection(key);
    const int64_t total = projection.is_null() ? 0 : projection.at("total").get<int64_t>();
    if (total != expected_total[key] && std::getenv("NODE_PROPERTY_DEBUG") != nullptr) {
      std::cerr << "key " << key << " total " << total << " expected " << expected_total[key] << "\n";
      for (const auto& [k, l] : logs) {
        for (const store::Entry& e : l) {
          std::cerr << "  " << k << " seq " << e.seq << " id " << e.id << " " << testing::json_of(e.payload) << "\n";
        }
      }
    }
    RC_ASSERT(total == expected_total[key]);
    live[key] = projection;
    RC_ASSERT(h.store.read_outbox(key, 0, 0, 10)->empty());
  }
  h.crash();
  for (const auto& [key, projection] : live) {
    RC_ASSERT(h.projection(key) == projection);
  }
}

// Batched processing is invisible: the same commands admitted together
// (one handle_batch call per handler, falling back to one by one around a
// refusal) or processed one at a time give the same replies, the same log
// bytes (hence hashes) and the same projections.
RC_GTEST_PROP(NodeProperty, BatchedProcessingEqualsOneByOne, ()) {
  ActorOptions actor_options;
  actor_options.snapshot_interval = *rc::gen::inRange<uint64_t>(0, 9);
  actor_options.queue_bound = 512;
  // The batched side also runs with colliding id fingerprints and a small id
  // bound: neither may change any answer.
  ActorOptions batched_options = actor_options;
  batched_options.id_fingerprint_bits = *rc::gen::element(1u, 2u, 64u);
  batched_options.recent_ids_bound = *rc::gen::element<size_t>(1, 8, 4096);
  Harness batched(batched_options);
  Harness single(actor_options);

  const std::string key = "precinct/a";
  const int count = *rc::gen::inRange(1, 300);
  std::vector<Command> commands;
  for (int i = 0; i < count; ++i) {
    const int kind = *rc::gen::inRange(0, 100);
    const std::string id = (kind < 10 && i > 0) ? "b-" + std::to_string(*rc::gen::inRange(0, i))  // a retry
                                                : "b-" + std::to_string(i);
    if (kind >= 10 && kind < 14) {
      commands.push_back(Command{key, id, "reject", testing::msgpack_of(nullptr)});
    } else if (kind == 14) {
      commands.push_back(Command{key, id, "throw", testing::msgpack_of(nullptr)});
    } else {
      commands.push_back(testing::add(key, id, *rc::gen::inRange(-5, 50), kind % 3 == 0 ? "county/x" : ""));
    }
  }
  // Rounds: the batched harness admits a random number of commands, then
  // processes and commits them; the single one processes each at once.
  std::vector<ReplyToken> batched_tokens;
  std::vector<ReplyToken> single_tokens;
  size_t next = 0;
  while (next < commands.size()) {
    const size_t round = std::min(commands.size() - next, *rc::gen::inRange<size_t>(1, 400));
    for (size_t i = next; i < next + round; ++i) {
      batched_tokens.push_back(batched.admit(commands[i]));
      single_tokens.push_back(single.submit(commands[i]));
    }
    next += round;
    batched.commit();
    single.commit();
  }
  batched.pump();
  single.pump();

  RC_ASSERT(batched_tokens.size() == single_tokens.size());
  for (size_t i = 0; i < batched_tokens.size(); ++i) {
    RC_ASSERT(batched.answered(batched_tokens[i]));
    RC_ASSERT(single.answered(single_tokens[i]));
    const Result<CommandReceipt>& a = batched.reply(batched_tokens[i]);
    const Result<CommandReceipt>& b = single.reply(single_tokens[i]);
    RC_ASSERT(a.ok() == b.ok());
    if (a.ok()) {
      RC_ASSERT(a->seq == b->seq);
      RC_ASSERT(a->hash_hex == b->hash_hex);
    } else {
      RC_ASSERT(a.error().code == b.error().code);
      RC_ASSERT(a.error().message == b.error().message);
    }
  }
  const std::vector<store::Entry> log_a = batched.log(key);
  const std::vector<store::Entry> log_b = single.log(key);
  RC_ASSERT(log_a.size() == log_b.size());
  for (size_t i = 0; i < log_a.size(); ++i) {
    RC_ASSERT(log_a[i].hash == log_b[i].hash);
  }
  RC_ASSERT(batched.projection(key) == single.projection(key));
  RC_ASSERT(batched.store.read_outbox(key, 0, 0, 1000)->size() == single.store.read_outbox(key, 0, 0, 1000)->size());
  const std::vector<store::SnapshotRecord> snapshots_a = *batched.store.read_snapshots(key);
  const std::vector<store::SnapshotRecord> snapshots_b = *single.store.read_snapshots(key);
  RC_ASSERT(snapshots_a.size() == snapshots_b.size());
  for (size_t i = 0; i < snapshots_a.size(); ++i) {
    RC_ASSERT(snapshots_a[i].handler == snapshots_b[i].handler);
    RC_ASSERT(snapshots_a[i].snapshot.seq == snapshots_b[i].snapshot.seq);
    RC_ASSERT(snapshots_a[i].snapshot.projection == snapshots_b[i].snapshot.projection);
  }
}

}  // namespace
}  // namespace quorum::node
