#include <quorum/host/assert.hpp>
#include <quorum/replication/key_replica.hpp>
#include <quorum/store/chain.hpp>

#include <algorithm>
#include <set>

namespace quorum::replication {

std::string to_string(const Ballot& ballot) {
  return std::to_string(ballot.topology) + "." + std::to_string(ballot.round) + "." + std::to_string(ballot.node);
}

std::string_view to_string(KeyReplica::Role role) noexcept {
  switch (role) {
    case KeyReplica::Role::kReplica: return "replica";
    case KeyReplica::Role::kPreparing: return "preparing";
    case KeyReplica::Role::kFetching: return "fetching";
    case KeyReplica::Role::kReplicating: return "replicating";
    case KeyReplica::Role::kServing: return "serving";
    case KeyReplica::Role::kWaiting: return "waiting";
  }
  return "?";
}

namespace {

size_t majority(size_t n) { return n / 2 + 1; }

// The highest value that at least `need` of `values` reach (0 if none).
uint64_t kth_highest(std::vector<uint64_t> values, size_t need) {
  if (need == 0 || values.size() < need) {
    return 0;
  }
  std::sort(values.begin(), values.end(), std::greater<>());
  return values[need - 1];
}

}  // namespace

KeyReplica::KeyReplica(std::string key, NodeId self, const LogReader& log, Meta durable, ReplicaOptions options)
    : key_(std::move(key)), self_(self), log_(log), options_(options), meta_(durable), durable_(durable) {
  QUORUM_ASSERT(meta_.commit <= meta_.vouched && meta_.vouched <= meta_.last_seq);
  recent_from_ = meta_.last_seq + 1;  // none yet (hash_at(last_seq) is meta_.head)
}

// --- storage ---

std::optional<store::Hash> KeyReplica::hash_at(uint64_t seq) const {
  if (seq == 0) {
    return store::kGenesisHash;
  }
  if (seq > meta_.last_seq) {
    return std::nullopt;
  }
  if (seq == meta_.last_seq) {
    return meta_.head;
  }
  if (seq >= recent_from_) {
    return recent_[seq % kRecentHashes];
  }
  if (auto it = overlay_.find(seq); it != overlay_.end()) {
    return it->second.second.hash();
  }
  return log_.hash_at(key_, seq);
}

std::vector<store::EncodedEntry> KeyReplica::read(uint64_t from, uint64_t to, size_t max_bytes) const {
  std::vector<store::EncodedEntry> entries;
  to = std::min(to, meta_.last_seq);
  size_t bytes = 0;
  uint64_t seq = std::max<uint64_t>(from, 1);
  while (seq <= to && (entries.empty() || bytes < max_bytes)) {
    if (auto it = overlay_.find(seq); it != overlay_.end()) {
      bytes += it->second.second.bytes().size();
      entries.push_back(it->second.second);
      ++seq;
      continue;
    }
    // A run from the durable log, up to the next overlay entry.
    auto next_overlay = overlay_.lower_bound(seq);
    const uint64_t run_end = next_overlay == overlay_.end() ? to : std::min(to, next_overlay->first - 1);
    std::vector<store::EncodedEntry> run = log_.read(key_, seq, run_end, max_bytes > bytes ? max_bytes - bytes : 1);
    if (run.empty()) {
      break;  // the store lacks it (a fault the embedding reports); send what we have
    }
    for (auto& entry : run) {
      QUORUM_ASSERT(entry.seq() == seq);
      bytes += entry.bytes().size();
      entries.push_back(std::move(entry));
      ++seq;
    }
  }
  return entries;
}

void KeyReplica::issue_write(uint64_t truncate_after, std::vector<store::EncodedEntry> entries, Output& out) {
  const uint64_t id = next_write_++;
  if (truncate_after != kNoTruncate && truncate_after < meta_.last_seq) {
    const std::optional<store::Hash> head = hash_at(truncate_after);
    QUORUM_ASSERT(head.has_value());
    overlay_.erase(overlay_.upper_bound(truncate_after), overlay_.end());
    meta_.last_seq = truncate_after;
    meta_.head = *head;
    recent_from_ = std::min(recent_from_, truncate_after + 1);  // the ones up to truncate_after still hold
  } else {
    truncate_after = kNoTruncate;
  }
  for (const auto& entry : entries) {
    QUORUM_ASSERT(entry.seq() == meta_.last_seq + 1);
    overlay_.insert_or_assign(entry.seq(), std::make_pair(id, entry));
    meta_.last_seq = entry.seq();
    meta_.head = entry.hash();
    recent_[entry.seq() % kRecentHashes] = entry.hash();
    recent_from_ = std::max(recent_from_, meta_.last_seq + 1 - std::min(meta_.last_seq, kRecentHashes));
  }
  QUORUM_ASSERT(recent_from_ <= meta_.last_seq + 1 && meta_.last_seq + 1 - recent_from_ <= kRecentHashes);
  meta_.vouched = std::min(meta_.vouched, meta_.last_seq);
  meta_.commit = std::min(meta_.commit, meta_.vouched);
  QUORUM_ASSERT(meta_.promised >= meta_.accepted);
  pending_meta_.emplace_back(id, meta_);
  out.writes.push_back(Write{id, truncate_after, std::move(entries), meta_});
}

void KeyReplica::reply_after_durable(Envelope message, Output& out) {
  if (durable_write_ + 1 == next_write_) {
    out.messages.push_back(std::move(message));  // nothing pending: what it says is durable
  } else {
    deferred_.emplace_back(next_write_ - 1, std::move(message));
  }
}

void KeyReplica::send(NodeId to, Body body, Output& out) {
  out.messages.push_back(Envelope{self_, to, key_, std::move(body)});
}

void KeyReplica::durable(uint64_t id, uint64_t now_ms, Output& out) {
  QUORUM_ASSERT(id < next_write_);
  if (id <= durable_write_) {
    return;
  }
  durable_write_ = id;
  while (!pending_meta_.empty() && pending_meta_.front().first <= id) {
    durable_ = pending_meta_.front().second;
    pending_meta_.pop_front();
  }
  for (auto it = overlay_.begin(); it != overlay_.end();) {
    it = it->second.first <= id ? overlay_.erase(it) : std::next(it);
  }
  while (!deferred_.empty() && deferred_.front().first <= id) {
    out.messages.push_back(std::move(deferred_.front().second));
    deferred_.pop_front();
  }
  if (role_ == Role::kPreparing && !self_promised_ && self_promise_write_ != 0 && id >= self_promise_write_) {
    // Our own promise is durable: count it, and ask the others.
    self_promised_ = true;
    const std::optional<store::Hash> vouched_hash = hash_at(durable_.vouched);
    QUORUM_ASSERT(vouched_hash.has_value());
    promises_[self_] =
        Promise{ballot_, true, durable_.promised, durable_.accepted, durable_.vouched, *vouched_hash, durable_.commit};
    for (NodeId n : members()) {
      send(n, Prepare{ballot_}, out);
    }
    retry_at_ = now_ms + options_.retry_ms;
    on_promise(self_, promises_[self_], now_ms, out);
    return;
  }
  if (role_ == Role::kReplicating || role_ == Role::kServing) {
    advance_commit(out);
  }
}

// --- configuration and time ---

std::vector<NodeId> KeyReplica::members() const {
  std::set<NodeId> all(config_.current.begin(), config_.current.end());
  all.insert(config_.previous.begin(), config_.previous.end());
  all.erase(self_);
  return {all.begin(), all.end()};
}

bool KeyReplica::quorum_of(const std::vector<NodeId>& voters) const {
  auto count_in = [&](const std::vector<NodeId>& set) {
    return static_cast<size_t>(
        std::count_if(set.begin(), set.end(), [&](NodeId n) { return std::find(voters.begin(), voters.end(), n) != voters.end(); }));
  };
  if (config_.current.empty() || count_in(config_.current) < majority(config_.current.size())) {
    return false;
  }
  return !config_.joint() || count_in(config_.previous) >= majority(config_.previous.size());
}

void KeyReplica::configure(const KeyConfig& config, uint64_t now_ms, Output& out) {
  if (config == config_) {
    return;
  }
  if (config.topology < config_.topology) {
    return;  // stale
  }
  const KeyConfig before = config_;
  config_ = config;
  if (config_.writer != self_) {
    if (writer_role()) {
      step_down(out);
    }
    role_ = Role::kReplica;
    return;
  }
  const bool same_ballot_topology = writer_role() && ballot_.topology == config_.topology;
  if (same_ballot_topology && before.joint() && !config_.joint()) {
    // T+1 became final: same ballot, quorums of the new set only.
    for (auto it = progress_.begin(); it != progress_.end();) {
      const bool member = std::find(config_.current.begin(), config_.current.end(), it->first) != config_.current.end();
      it = member ? std::next(it) : progress_.erase(it);
    }
    if (role_ == Role::kReplicating || role_ == Role::kServing) {
      advance_commit(out);
    }
    return;
  }
  start_prepare(now_ms, out);
}

void KeyReplica::tick(uint64_t now_ms, Output& out) {
  switch (role_) {
    case Role::kReplica:
      return;
    case Role::kWaiting:
      if (now_ms >= retry_at_ && config_.writer == self_) {
        start_prepare(now_ms, out);
      }
      return;
    case Role::kPreparing:
      if (self_promised_ && now_ms >= retry_at_) {
        for (NodeId n : members()) {
          if (!promises_.count(n)) {
            send(n, Prepare{ballot_}, out);
          }
        }
        retry_at_ = now_ms + options_.retry_ms;
      }
      return;
    case Role::kFetching:
      if (now_ms >= retry_at_) {
        if (++fetch_attempts_ > kMaxFetchAttempts) {
          start_prepare(now_ms, out);  // the best replica is gone: recover again, from another quorum
        } else {
          send_fetch(now_ms, out);
        }
      }
      return;
    case Role::kReplicating:
    case Role::kServing:
      send_appends(now_ms, false, out);
      return;
  }
}

// --- writer: recovery ---

void KeyReplica::step_down(Output& out) {
  if (role_ == Role::kServing) {
    out.serving_stopped = true;
  }
  role_ = Role::kReplica;
  promises_.clear();
  progress_.clear();
  self_promise_write_ = 0;
  self_promised_ = false;
}

void KeyReplica::observe(const Ballot& seen, uint64_t now_ms, Output& out) {
  if (!writer_role() || seen <= ballot_) {
    return;
  }
  step_down(out);
  if (config_.writer == self_ && seen.topology <= config_.topology) {
    role_ = Role::kWaiting;  // still ours by the topology: try again, higher
    retry_at_ = now_ms + options_.retry_ms + (self_ % 7) * 10;
  }
}

void KeyReplica::start_prepare(uint64_t now_ms, Output& out) {
  if (role_ == Role::kServing) {
    out.serving_stopped = true;
  }
  promises_.clear();
  progress_.clear();
  self_promised_ = false;
  if (meta_.promised.topology > config_.topology) {
    role_ = Role::kWaiting;  // a newer topology is about; wait for it
    retry_at_ = now_ms + options_.retry_ms;
    return;
  }
  Ballot next{config_.topology, 0, self_};
  if (meta_.promised.topology == config_.topology) {
    next.round = meta_.promised.round + 1;
  }
  if (ballot_.topology == config_.topology) {
    next.round = std::max(next.round, ballot_.round + 1);
  }
  QUORUM_ASSERT(next > meta_.promised);
  ballot_ = next;
  meta_.promised = ballot_;
  role_ = Role::kPreparing;
  prepared_joint_ = config_.joint();
  issue_write(kNoTruncate, {}, out);
  self_promise_write_ = next_write_ - 1;
  retry_at_ = now_ms + options_.retry_ms;
  // The Prepares go out once our own promise is durable (durable()): a
  // ballot must never be issued twice with different logs after a crash.
}

void KeyReplica::prepared(uint64_t now_ms, Output& out) {
  // The best log among the promises: highest accepted ballot, then longest
  // vouched prefix. Prefer our own copy among equals (nothing to fetch).
  NodeId best = self_;
  Promise best_promise = promises_.at(self_);
  for (const auto& [node, promise] : promises_) {
    if (std::tie(promise.accepted, promise.vouched) > std::tie(best_promise.accepted, best_promise.vouched)) {
      best = node;
      best_promise = promise;
    }
  }
  best_ = best;
  best_promise_ = best_promise;
  const uint64_t base = best_promise.vouched;
  if (base <= meta_.last_seq && hash_at(base) == best_promise.vouched_hash) {
    adopt(base, now_ms, out);  // we hold that log already
    return;
  }
  // Fetch it, from the last entry we know to be committed (committed
  // prefixes agree everywhere).
  role_ = Role::kFetching;
  if (meta_.commit > base) {
    // Our commit is past the best vouched log: a committed entry missing
    // from a quorum. Cannot happen if the invariants hold.
    QUORUM_ASSERT(false && "committed entry missing from the best log");
  }
  fetched_to_ = meta_.commit;
  fetch_attempts_ = 0;
  send_fetch(now_ms, out);
}

void KeyReplica::send_fetch(uint64_t now_ms, Output& out) {
  send(best_, Fetch{ballot_, fetched_to_, best_promise_.vouched}, out);
  retry_at_ = now_ms + options_.retry_ms;
}

void KeyReplica::on_fetch_reply(NodeId from, const FetchReply& m, uint64_t now_ms, Output& out) {
  if (role_ != Role::kFetching || from != best_ || m.ballot != ballot_ || !m.ok || m.after != fetched_to_ ||
      m.entries.empty()) {
    return;  // stale, duplicated or refused (a refusal comes with a Promise/Append that deposes us)
  }
  const std::optional<store::Hash> anchor = hash_at(m.after);
  QUORUM_ASSERT(anchor.has_value());
  const store::ChainReport report = store::verify_chain(m.after, *anchor, m.entries);
  if (!report.ok() || report.last_seq > best_promise_.vouched) {
    return;  // not the log promised (corrupt in transit): asked again on tick
  }
  // Only entries that differ from ours are replaced (and from there on our
  // old ballot no longer vouches for them): an entry we hold and a quorum
  // may have committed stays vouched even if we crash mid-fetch. adopt()
  // vouches for the whole log under ours.
  Merge merge = merge_after(m.after, m.entries);
  meta_.vouched = std::min(meta_.vouched, merge.truncate_after);
  if (!merge.entries.empty() || merge.truncate_after != kNoTruncate) {
    issue_write(merge.truncate_after, std::move(merge.entries), out);
  }
  fetched_to_ = report.last_seq;
  fetch_attempts_ = 0;
  if (fetched_to_ == best_promise_.vouched) {
    adopt(fetched_to_, now_ms, out);
  } else {
    send_fetch(now_ms, out);
  }
}

void KeyReplica::adopt(uint64_t base, uint64_t now_ms, Output& out) {
  QUORUM_ASSERT(base <= meta_.last_seq);
  const uint64_t last_before = meta_.last_seq;
  base_ = base;
  meta_.accepted = ballot_;
  meta_.vouched = base;
  issue_write(base, {}, out);  // drop anything past the adopted log
  if (last_before > base) {
    out.truncated_after = base;
  }
  role_ = Role::kReplicating;
  for (NodeId n : members()) {
    Progress p;
    auto it = promises_.find(n);
    if (it != promises_.end() && it->second.vouched <= base && hash_at(it->second.vouched) == it->second.vouched_hash) {
      p.next = it->second.vouched + 1;
    } else if (it != promises_.end()) {
      p.next = std::min(it->second.commit, base) + 1;
    } else {
      p.next = base + 1;  // unknown: probe at our end; its hint corrects
    }
    progress_[n] = p;
  }
  send_appends(now_ms, true, out);
  advance_commit(out);
}

// --- writer: replication ---

void KeyReplica::send_append(NodeId to, Progress& p, uint64_t now_ms, Output& out) {
  Append m;
  m.ballot = ballot_;
  m.base = base_;
  m.commit = meta_.commit;
  p.next = std::clamp<uint64_t>(p.next, 1, meta_.last_seq + 1);
  m.prev_seq = p.next - 1;
  const std::optional<store::Hash> prev = hash_at(m.prev_seq);
  QUORUM_ASSERT(prev.has_value());
  m.prev_hash = *prev;
  if (p.next <= meta_.last_seq && p.next <= p.match + options_.max_in_flight) {
    m.entries = read(p.next, meta_.last_seq, options_.max_append_bytes);
    p.next += m.entries.size();
  }
  p.sent_ms = now_ms;
  p.sent_once = true;
  send(to, std::move(m), out);
}

void KeyReplica::send_appends(uint64_t now_ms, bool force, Output& out) {
  for (auto& [node, p] : progress_) {
    const bool unsent = p.next <= meta_.last_seq && p.next <= p.match + options_.max_in_flight;
    const bool stalled = p.match < meta_.last_seq && now_ms >= p.sent_ms + options_.retry_ms;
    // Heartbeats only while a follower may lack something: entries, or the
    // commit seq (it acknowledges what it knows): an idle key costs nothing.
    const bool behind = p.match < meta_.last_seq || p.commit_known < meta_.commit;
    const bool quiet = behind && now_ms >= p.sent_ms + options_.heartbeat_ms;
    if (stalled) {
      p.next = p.match + 1;  // resend what was not acknowledged
    }
    if (force || !p.sent_once || unsent || stalled || quiet) {
      send_append(node, p, now_ms, out);
    }
  }
}

void KeyReplica::on_append_reply(NodeId from, const AppendReply& m, uint64_t now_ms, Output& out) {
  if (m.promised > ballot_) {
    observe(m.promised, now_ms, out);
    return;
  }
  if ((role_ != Role::kReplicating && role_ != Role::kServing) || m.ballot != ballot_) {
    return;
  }
  auto it = progress_.find(from);
  if (it == progress_.end()) {
    return;
  }
  Progress& p = it->second;
  p.commit_known = std::max(p.commit_known, std::min(m.commit, meta_.commit));
  if (m.ok) {
    QUORUM_ASSERT(m.match <= meta_.last_seq);
    p.match = std::max(p.match, m.match);
    p.next = std::max(p.next, p.match + 1);
    advance_commit(out);
  } else {
    p.next = std::min(p.next, m.hint + 1);
    if (p.next <= p.match) {
      p.next = p.match + 1;
    }
    send_append(from, p, now_ms, out);
  }
}

size_t KeyReplica::copies() const {
  if (role_ != Role::kServing) {
    return 0;
  }
  size_t count = 0;
  for (NodeId n : config_.current) {
    if (n == self_) {
      count += durable_.accepted == ballot_ && durable_.vouched >= meta_.commit ? 1 : 0;
    } else if (auto it = progress_.find(n); it != progress_.end() && it->second.match >= meta_.commit) {
      ++count;
    }
  }
  return count;
}

void KeyReplica::advance_commit(Output& out) {
  if (role_ != Role::kReplicating && role_ != Role::kServing) {
    return;
  }
  const uint64_t self_match = durable_.accepted == ballot_ ? durable_.vouched : 0;
  auto match_of = [&](NodeId n) -> uint64_t {
    if (n == self_) {
      return self_match;
    }
    auto it = progress_.find(n);
    return it == progress_.end() ? 0 : it->second.match;
  };
  uint64_t candidate = 0;
  if (options_.unsafe_commit_followers > 0) {
    // The planted bug (simulator only): writer plus N followers, anywhere.
    std::vector<uint64_t> others;
    for (const auto& [n, p] : progress_) {
      others.push_back(p.match);
    }
    candidate = std::min(self_match, kth_highest(others, options_.unsafe_commit_followers));
  } else {
    auto quorum_match = [&](const std::vector<NodeId>& set) {
      std::vector<uint64_t> values;
      for (NodeId n : set) {
        values.push_back(match_of(n));
      }
      return kth_highest(values, majority(set.size()));
    };
    candidate = quorum_match(config_.current);
    if (config_.joint()) {
      candidate = std::min(candidate, quorum_match(config_.previous));
    }
    candidate = std::min(candidate, self_match);  // the writer holds every entry it commits
  }
  if (candidate < base_) {
    return;  // the adopted log is not on a quorum under our ballot yet
  }
  if (candidate > meta_.commit) {
    meta_.commit = candidate;
    out.committed = candidate;
  }
  if (role_ == Role::kReplicating) {
    role_ = Role::kServing;
    out.serving_started = true;
    if (prepared_joint_) {
      out.caught_up = ballot_.topology;
    }
  }
}

Result<uint64_t> KeyReplica::propose(std::vector<store::EncodedEntry> entries, uint64_t now_ms, Output& out) {
  if (role_ != Role::kServing) {
    return make_error(ErrorCode::kUnavailable, "not serving key '" + key_ + "'");
  }
  if (entries.empty()) {
    return meta_.last_seq;
  }
  const store::ChainReport report = store::verify_chain(meta_.last_seq, meta_.head, entries);
  if (!report.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "proposed entries do not continue the log of '" + key_ + "'");
  }
  meta_.vouched = report.last_seq;  // our own log under our ballot (issue_write keeps it)
  issue_write(kNoTruncate, std::move(entries), out);
  QUORUM_ASSERT(meta_.vouched == meta_.last_seq);
  send_appends(now_ms, false, out);
  return meta_.last_seq;
}

// --- replica side ---

void KeyReplica::receive(const Envelope& message, uint64_t now_ms, Output& out) {
  if (message.key != key_ || message.to != self_) {
    return;
  }
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, Prepare>) {
          on_prepare(message.from, body, now_ms, out);
        } else if constexpr (std::is_same_v<T, Promise>) {
          on_promise(message.from, body, now_ms, out);
        } else if constexpr (std::is_same_v<T, Append>) {
          on_append(message.from, body, now_ms, out);
        } else if constexpr (std::is_same_v<T, AppendReply>) {
          on_append_reply(message.from, body, now_ms, out);
        } else if constexpr (std::is_same_v<T, Fetch>) {
          on_fetch(message.from, body, out);
        } else if constexpr (std::is_same_v<T, FetchReply>) {
          on_fetch_reply(message.from, body, now_ms, out);
        }
      },
      message.body);
}

void KeyReplica::on_prepare(NodeId from, const Prepare& m, uint64_t now_ms, Output& out) {
  if (m.ballot < meta_.promised) {
    send(from, Promise{m.ballot, false, meta_.promised, {}, 0, {}, 0}, out);
    return;
  }
  observe(m.ballot, now_ms, out);
  if (m.ballot > meta_.promised) {
    meta_.promised = m.ballot;
    issue_write(kNoTruncate, {}, out);
  }
  const std::optional<store::Hash> vouched_hash = hash_at(meta_.vouched);
  QUORUM_ASSERT(vouched_hash.has_value());
  reply_after_durable(
      Envelope{self_, from, key_,
               Promise{m.ballot, true, meta_.promised, meta_.accepted, meta_.vouched, *vouched_hash, meta_.commit}},
      out);
}

void KeyReplica::on_promise(NodeId from, const Promise& m, uint64_t now_ms, Output& out) {
  if (!m.granted) {
    observe(m.promised, now_ms, out);
    return;
  }
  if (role_ != Role::kPreparing || m.ballot != ballot_) {
    return;
  }
  if (from != self_) {
    promises_[from] = m;
  }
  std::vector<NodeId> voters;
  for (const auto& [node, promise] : promises_) {
    voters.push_back(node);
  }
  if (self_promised_ && quorum_of(voters)) {
    prepared(now_ms, out);
  }
}

void KeyReplica::on_fetch(NodeId from, const Fetch& m, Output& out) {
  FetchReply reply{m.ballot, false, m.after, {}};
  if (m.ballot >= meta_.promised && m.after < meta_.vouched) {
    reply.ok = true;
    reply.entries = read(m.after + 1, std::min(m.upto, meta_.vouched), options_.max_append_bytes);
  }
  // The entries served are the vouched prefix that our durable Promise
  // reported; serve them once what we hold is durable.
  reply_after_durable(Envelope{self_, from, key_, std::move(reply)}, out);
}

void KeyReplica::on_append(NodeId from, const Append& m, uint64_t now_ms, Output& out) {
  auto refuse = [&](uint64_t hint) {
    send(from, AppendReply{m.ballot, false, meta_.promised, 0, hint, meta_.commit}, out);
  };
  if (m.ballot < meta_.promised) {
    refuse(0);
    return;
  }
  observe(m.ballot, now_ms, out);
  if (writer_role() && m.ballot == ballot_) {
    return;  // our own ballot from elsewhere: impossible unless misrouted
  }
  const bool promise_changed = m.ballot > meta_.promised;
  meta_.promised = m.ballot;  // written with the next write; nothing is acknowledged before
  const bool same_ballot = meta_.accepted == m.ballot;
  const uint64_t fallback = same_ballot ? meta_.vouched : meta_.commit;
  // Attached? The entry before the batch must be ours, with that hash.
  const std::optional<store::Hash> prev = hash_at(m.prev_seq);
  if (!prev || *prev != m.prev_hash) {
    refuse(std::min(fallback, m.prev_seq > 0 ? m.prev_seq - 1 : 0));
    return;
  }
  if (!m.entries.empty() && !store::verify_chain(m.prev_seq, m.prev_hash, m.entries).ok()) {
    refuse(fallback);  // corrupt in transit: ask again
    return;
  }
  const uint64_t end = m.prev_seq + m.entries.size();
  Merge merge = merge_after(m.prev_seq, m.entries);
  if (same_ballot && merge.truncate_after < meta_.vouched) {
    refuse(fallback);  // a different entry inside our log of the same ballot: corrupt
    return;
  }
  uint64_t truncate_after = merge.truncate_after;
  uint64_t vouched = std::min(meta_.vouched, truncate_after);
  std::vector<store::EncodedEntry> entries = std::move(merge.entries);
  bool accepted_now = false;
  bool accepted_changed = false;
  if (same_ballot) {
    // Within a ballot the log only grows: a late, shorter Append changes nothing.
    vouched = std::max(vouched, end);
    accepted_now = true;
  } else if (end >= m.base || options_.unsafe_accept_below_base) {
    // We hold the writer's recovered log: take its ballot. Leftovers past
    // `end` are not its log.
    meta_.accepted = m.ballot;
    accepted_changed = true;
    vouched = end;
    if (truncate_after == kNoTruncate && meta_.last_seq > end) {
      truncate_after = end;
    }
    accepted_now = true;
  }
  uint64_t commit = std::min(meta_.commit, vouched);
  if (accepted_now) {
    commit = std::max(commit, std::min(m.commit, vouched));
  }
  const bool changes = promise_changed || !entries.empty() || truncate_after != kNoTruncate ||
                       accepted_changed || vouched != meta_.vouched || commit != meta_.commit;
  meta_.vouched = vouched;
  meta_.commit = commit;
  if (changes) {
    issue_write(truncate_after, std::move(entries), out);
  }
  QUORUM_ASSERT(meta_.last_seq >= end && meta_.vouched == vouched && meta_.commit == commit);
  if (accepted_now) {
    learn_commit(meta_.commit, out);
    reply_after_durable(
        Envelope{self_, from, key_, AppendReply{m.ballot, true, meta_.promised, meta_.vouched, 0, meta_.commit}}, out);
  } else {
    send(from, AppendReply{m.ballot, false, meta_.promised, 0, end, meta_.commit}, out);  // continue after `end`
  }
}

KeyReplica::Merge KeyReplica::merge_after(uint64_t prev_seq, const std::vector<store::EncodedEntry>& incoming) const {
  // Skip what we hold already (same hash = same prefix); the rest replaces
  // our log from the first difference.
  size_t same = 0;
  while (same < incoming.size()) {
    const std::optional<store::Hash> have = hash_at(prev_seq + 1 + same);
    if (!have || *have != incoming[same].hash()) {
      break;
    }
    ++same;
  }
  Merge merge;
  if (same < incoming.size()) {
    const uint64_t from_seq = prev_seq + 1 + same;
    if (from_seq <= meta_.last_seq) {
      merge.truncate_after = from_seq - 1;
    }
    merge.entries.assign(incoming.begin() + static_cast<std::ptrdiff_t>(same), incoming.end());
  }
  return merge;
}

void KeyReplica::learn_commit(uint64_t commit, Output& out) {
  if (commit > 0 && (!out.committed || *out.committed < commit)) {
    out.committed = commit;
  }
}

}  // namespace quorum::replication
