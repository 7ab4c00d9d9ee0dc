#include <quorum/host/assert.hpp>
#include <quorum/replication/replication_node.hpp>

#include <algorithm>
#include <limits>
#include <utility>

namespace quorum::replication {

ReplicationNode::ReplicationNode(NodeId self, const LogReader& log, MetaLoader load_meta, ReplicationNodeOptions options)
    : self_(self), log_(log), load_meta_(std::move(load_meta)), options_(options) {}

const KeyReplica* ReplicationNode::replica(std::string_view key) const {
  auto it = replicas_.find(key);
  return it == replicas_.end() ? nullptr : it->second.replica.get();
}

ReplicationNode::Slot* ReplicationNode::slot(const std::string& key, uint64_t now_ms, NodeOutput& out) {
  if (refused_.count(key)) {
    return nullptr;
  }
  auto it = replicas_.find(key);
  if (it != replicas_.end()) {
    it->second.last_used_ms = now_ms;
    return &it->second;
  }
  if (replicas_.size() >= options_.max_replicas) {
    return nullptr;  // bounded: the sender retries, and idle replicas passivate
  }
  Result<std::optional<Meta>> meta = load_meta_(key);
  if (!meta.ok()) {
    return nullptr;  // the store reported it; the key is unavailable here
  }
  Slot s;
  s.replica = std::make_unique<KeyReplica>(key, self_, log_, meta->value_or(Meta{}), options_.replica);
  s.last_used_ms = now_ms;
  Slot& placed = replicas_.emplace(key, std::move(s)).first->second;
  if (config_of_) {
    configure(key, placed, now_ms, out);
  }
  return &placed;
}

void ReplicationNode::configure(const std::string& key, Slot& s, uint64_t now_ms, NodeOutput& out) {
  const KeyConfig config = config_of_(key);
  if (joint_ && config.writer == self_) {
    behind_.insert(key);  // until it recovers under the joint topology
  }
  Output o;
  s.replica->configure(config, now_ms, o);
  collect(key, s, o, out);
}

void ReplicationNode::collect(const std::string& key, Slot& s, Output& o, NodeOutput& out) {
  for (Write& w : o.writes) {
    writes_.push_back(KeyWrite{key, std::move(w)});
  }
  for (Envelope& m : o.messages) {
    out.messages.push_back(std::move(m));
  }
  if (o.serving_stopped) {
    out.events.push_back(KeyEvent{key, KeyEvent::Kind::kServingStopped, 0});
  }
  if (o.truncated_after) {
    out.events.push_back(KeyEvent{key, KeyEvent::Kind::kTruncated, *o.truncated_after});
  }
  if (o.committed) {
    out.events.push_back(KeyEvent{key, KeyEvent::Kind::kCommitted, *o.committed});
  }
  if (o.serving_started) {
    out.events.push_back(KeyEvent{key, KeyEvent::Kind::kServingStarted, s.replica->last_seq()});
  }
  const KeyReplica::Role role = s.replica->role();
  if (role == KeyReplica::Role::kReplica) {
    writers_.erase(key);
  } else {
    writers_.insert(key);
  }
  if (o.caught_up && joint_ && *o.caught_up == topology_) {
    behind_.erase(key);
    check_caught_up(out);
  }
  o.clear();
}

void ReplicationNode::check_caught_up(NodeOutput& out) {
  if (joint_ && activation_complete_ && behind_.empty() && !reported_) {
    reported_ = true;
    out.caught_up = topology_;
  }
}

void ReplicationNode::set_topology(uint64_t topology, bool joint, ConfigOf config_of, uint64_t now_ms,
                                   NodeOutput& out) {
  QUORUM_ASSERT(config_of);
  if (topology < topology_ || (topology == topology_ && (joint == joint_ || joint) && config_of_)) {
    return;  // stale, the same, or joint again after final (a state that never comes back)
  }
  topology_ = topology;
  joint_ = joint;
  config_of_ = std::move(config_of);
  behind_.clear();
  activation_complete_ = false;
  reported_ = false;
  // Reconfigure every running replica (collect() may change the writer
  // set, never the replica map).
  for (auto& [key, s] : replicas_) {
    configure(key, s, now_ms, out);
  }
}

Status ReplicationNode::activate(const std::vector<std::string>& keys, bool complete, uint64_t now_ms,
                                 NodeOutput& out) {
  for (const std::string& key : keys) {
    if (refused_.count(key)) {
      continue;
    }
    if (slot(key, now_ms, out) == nullptr) {
      return make_error(ErrorCode::kResourceExhausted, "cannot start a replica for key '" + key + "'");
    }
  }
  activation_complete_ = activation_complete_ || complete;
  check_caught_up(out);
  return {};
}

void ReplicationNode::receive(const Envelope& message, uint64_t now_ms, NodeOutput& out) {
  if (message.to != self_) {
    return;
  }
  Slot* s = slot(message.key, now_ms, out);
  if (s == nullptr) {
    return;
  }
  Output o;
  s->replica->receive(message, now_ms, o);
  collect(message.key, *s, o, out);
}

void ReplicationNode::tick(uint64_t now_ms, NodeOutput& out) {
  const std::vector<std::string> keys(writers_.begin(), writers_.end());
  for (const std::string& key : keys) {
    auto it = replicas_.find(key);
    if (it == replicas_.end()) {
      continue;
    }
    Output o;
    it->second.replica->tick(now_ms, o);
    collect(key, it->second, o, out);
  }
  if (now_ms >= last_passivation_ms_ + 1000) {
    last_passivation_ms_ = now_ms;
    passivate(now_ms);
  }
}

Result<uint64_t> ReplicationNode::propose(std::string_view key, std::vector<store::EncodedEntry> entries,
                                          uint64_t now_ms, NodeOutput& out) {
  auto it = replicas_.find(key);
  if (it == replicas_.end()) {
    return make_error(ErrorCode::kUnavailable, "no replica of key '" + std::string(key) + "' here");
  }
  it->second.last_used_ms = now_ms;
  Output o;
  Result<uint64_t> seq = it->second.replica->propose(std::move(entries), now_ms, o);
  collect(it->first, it->second, o, out);
  return seq;
}

std::vector<KeyWrite> ReplicationNode::take_writes() {
  for (const KeyWrite& w : writes_) {
    uint64_t& last = taken_[w.key];
    last = std::max(last, w.write.id);
  }
  return std::exchange(writes_, {});
}

void ReplicationNode::durable(uint64_t now_ms, NodeOutput& out) {
  const auto taken = std::exchange(taken_, {});
  for (const auto& [key, id] : taken) {
    auto it = replicas_.find(key);
    if (it == replicas_.end()) {
      continue;
    }
    Output o;
    it->second.replica->durable(id, now_ms, o);
    collect(key, it->second, o, out);
  }
}

std::vector<ReplicationNode::UnderReplicated> ReplicationNode::under_replicated(size_t limit) const {
  std::vector<UnderReplicated> out;
  for (const std::string& key : writers_) {
    if (out.size() >= limit) {
      break;
    }
    auto it = replicas_.find(key);
    if (it == replicas_.end() || !it->second.replica->serving()) {
      continue;
    }
    const KeyReplica& r = *it->second.replica;
    if (const size_t copies = r.copies(); copies < r.config().current.size()) {
      out.push_back(UnderReplicated{key, copies, r.config().current.size()});
    }
  }
  return out;
}

size_t ReplicationNode::under_replicated_count() const {
  return under_replicated(std::numeric_limits<size_t>::max()).size();
}

void ReplicationNode::refuse_key(const std::string& key) {
  refused_.insert(key);
  replicas_.erase(key);
  writers_.erase(key);
  taken_.erase(key);
  std::erase_if(writes_, [&](const KeyWrite& w) { return w.key == key; });
}

void ReplicationNode::passivate(uint64_t now_ms) {
  for (auto it = replicas_.begin(); it != replicas_.end();) {
    const bool idle = it->second.replica->idle() && !writers_.count(it->first) && !taken_.count(it->first) &&
                      now_ms >= it->second.last_used_ms + options_.idle_ms &&
                      std::none_of(writes_.begin(), writes_.end(), [&](const KeyWrite& w) { return w.key == it->first; });
    it = idle ? replicas_.erase(it) : std::next(it);
  }
}

}  // namespace quorum::replication
