// The hand-off of keys between nodes when the topology moves them: the
// acquisition by the new owner, the seal and the log export on the others,
// and the offers of keys a node holds but no longer owns. The protocol is
// described in cluster_node.hpp and docs/architecture.md ("Hand-off").
#include <quorum/router/cluster_node.hpp>
#include <quorum/router/messages.hpp>
#include <quorum/store/entry.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "make_frame.hpp"

namespace quorum::router {
namespace {

using mailroom::Frame;

// Entries per fetch; a reply also stays under half the frame limit.
constexpr uint64_t kFetchEntries = 1000;
// Stored keys listed per timer tick by the offer walk.
constexpr size_t kWalkPage = 256;
// acquired_ is cleared beyond this many keys (costs re-acquisitions only).
constexpr size_t kMaxAcquired = 1'000'000;
// Silent peers are asked again after this long.
constexpr auto kQueryAgain = std::chrono::seconds(1);

std::string short_hex(const store::Hash& hash) { return store::to_hex(hash).substr(0, 16); }

}  // namespace

void ClusterNode::start_acquisition(const std::string& key, uint64_t id, const std::vector<std::string>& peers) {
  {
    std::lock_guard lock(state_mutex_);
    if (auto found = acquiring_.find(key); found != acquiring_.end() && found->second.id == id) {
      found->second.queried = Clock::now();
    }
  }
  const uint64_t current = epoch();
  for (const std::string& peer : peers) {
    // A lost query is sent again by handoff_tick (answers are idempotent).
    (void)mailroom_->send(peer, make_frame(Kind::kHandoffQuery, id, key, encode(ReadRequest{name_, key, 0, 0}), current));
  }
  local_->settle_key(key, [this, key, id](Result<node::KeyPoint> point) { on_point(name_, key, id, std::move(point)); });
}

void ClusterNode::on_handoff_query(Frame frame) {
  auto request = decode_read_request(frame.body);
  if (!request || request->key != frame.key || request->origin == name_) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    return;  // starting: the asker asks again every second until its deadline
  }
  sync_topology();
  // Seal: from now on this node sends the key's requests to the asker. A
  // request routed here before the seal was posted to the key's shard
  // before settle_key below, so the answer covers it.
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(state_mutex_);
    sealed_[frame.key] = request->origin;
    acquired_.erase(frame.key);
    if (auto found = acquiring_.find(frame.key); found != acquiring_.end()) {
      // Both think they own the key (their topologies differ for a moment):
      // this one yields; its waiters follow the seal.
      waiters = std::move(found->second.waiters);
      acquiring_.erase(found);
    }
  }
  counters_.seals.fetch_add(1, std::memory_order_relaxed);
  for (Waiter& waiter : waiters) {
    waiter.retry();
  }
  local_->settle_key(frame.key, [this, origin = request->origin, key = frame.key, correlation = frame.correlation,
                                 frame_epoch = frame.epoch](Result<node::KeyPoint> point) mutable {
    reply(origin, make_frame(Kind::kHandoffPoint, correlation, std::move(key), encode(point), frame_epoch));
  });
}

void ClusterNode::on_point(const std::string& from, const std::string& key, uint64_t id,
                           Result<node::KeyPoint> point) {
  std::optional<Error> failed;
  std::string source;
  uint64_t fetch_from = 0;
  bool done = false;
  {
    std::lock_guard lock(state_mutex_);
    auto found = acquiring_.find(key);
    if (found == acquiring_.end() || found->second.id != id) {
      return;  // ended (or restarted) already
    }
    Acquisition& acquisition = found->second;
    if (!point.ok()) {
      failed = Error{ErrorCode::kUnavailable, "key '" + key + "' cannot move to node " + name_ + ": node " + from +
                                                  " cannot hand it over: " + point.error().message};
    } else if (from == name_) {
      acquisition.local = *point;
    } else if (acquisition.asked.erase(from) != 0) {
      acquisition.answers[from] = *point;
    } else {
      return;  // a duplicate answer, or from a node not asked
    }
    if (!failed && acquisition.local && acquisition.asked.empty() && acquisition.source.empty()) {
      // Everyone answered: the longest copy wins (this node's on a tie).
      const node::KeyPoint& local = *acquisition.local;
      node::KeyPoint best = local;
      for (const auto& [peer, answer] : acquisition.answers) {
        if (answer.seq > best.seq) {
          best = answer;
          source = peer;
        }
      }
      for (const auto& [peer, answer] : acquisition.answers) {
        // Copies at the same seq must be the same copy.
        if (answer.seq > 0 && answer.seq == best.seq && answer.head != best.head) {
          counters_.conflicts.fetch_add(1, std::memory_order_relaxed);
          spdlog::error("{}: key '{}' has diverged copies: seq {} head {} on {} and head {} on {}", name_, key,
                        best.seq, short_hex(best.head), source.empty() ? name_ : source, short_hex(answer.head), peer);
        }
      }
      if (source.empty()) {
        done = true;
      } else {
        acquisition.source = source;
        acquisition.target = best;
        acquisition.deadline = Clock::now() + options_.request_timeout;
        fetch_from = local.seq + 1;
      }
    }
  }
  if (failed) {
    finish(key, id, std::move(failed));
  } else if (done) {
    finish(key, id, std::nullopt);
  } else if (!source.empty()) {
    fetch_next(key, id, source, fetch_from);
  }
}

void ClusterNode::fetch_next(const std::string& key, uint64_t id, const std::string& source, uint64_t from) {
  Status sent = mailroom_->send(
      source, make_frame(Kind::kFetchLog, id, key, encode(ReadRequest{name_, key, from, kFetchEntries}), epoch()));
  if (!sent.ok()) {
    finish(key, id,
           Error{ErrorCode::kUnavailable, "key '" + key + "': cannot fetch its log from " + source + ": " +
                                              sent.error().message});
  }
}

void ClusterNode::on_fetch_log(Frame frame) {
  auto request = decode_read_request(frame.body);
  if (!request || request->key != frame.key || request->limit == 0) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    reply(request->origin, make_frame(Kind::kFetchLogReply, frame.correlation, frame.key,
                                      encode(Result<std::vector<std::string>>(not_ready())), frame.epoch));
    return;
  }
  const size_t max_bytes = std::max<size_t>(options_.mailroom.max_frame_bytes / 2, 1);
  local_->export_log(frame.key, request->from, static_cast<size_t>(std::min(request->limit, kFetchEntries)),
                     max_bytes,
                     [this, origin = request->origin, key = frame.key, correlation = frame.correlation,
                      frame_epoch = frame.epoch](Result<std::vector<std::string>> entries) mutable {
                       reply(origin, make_frame(Kind::kFetchLogReply, correlation, std::move(key), encode(entries),
                                                frame_epoch));
                     });
}

void ClusterNode::on_fetch_reply(Frame frame) {
  const uint64_t id = frame.correlation;
  std::string source;
  {
    std::lock_guard lock(state_mutex_);
    auto found = acquiring_.find(frame.key);
    if (found == acquiring_.end() || found->second.id != id || found->second.source.empty()) {
      return;
    }
    source = found->second.source;
    found->second.deadline = Clock::now() + options_.request_timeout;
  }
  auto entries = decode_entries_reply(frame.body);
  if (!entries.ok() || entries->empty()) {
    finish(frame.key, id,
           Error{ErrorCode::kUnavailable, "key '" + frame.key + "': node " + source + " did not give its log: " +
                                              (entries.ok() ? std::string("no entries") : entries.error().message)});
    return;
  }
  const size_t count = entries->size();
  local_->import_log(frame.key, std::move(entries).value(),
                     [this, key = frame.key, id, count](Result<node::KeyPoint> point) {
                       if (point.ok()) {
                         counters_.entries_imported.fetch_add(count, std::memory_order_relaxed);
                       }
                       on_imported(key, id, std::move(point));
                     });
}

void ClusterNode::on_imported(const std::string& key, uint64_t id, Result<node::KeyPoint> point) {
  std::string source;
  node::KeyPoint target;
  {
    std::lock_guard lock(state_mutex_);
    auto found = acquiring_.find(key);
    if (found == acquiring_.end() || found->second.id != id) {
      return;
    }
    source = found->second.source;
    target = found->second.target;
    if (point.ok()) {
      found->second.local = *point;
    }
  }
  if (!point.ok()) {
    if (point.error().code == ErrorCode::kFailedPrecondition) {
      // This node's copy and the source's diverged: keep serving ours.
      counters_.conflicts.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("{}: key '{}': the copy on {} (seq {}) does not extend this node's: {}; serving this node's", name_,
                    key, source, target.seq, point.error().message);
      finish(key, id, std::nullopt);
      return;
    }
    finish(key, id, point.error());
    return;
  }
  if (point->seq < target.seq) {
    fetch_next(key, id, source, point->seq + 1);
    return;
  }
  if (point->head != target.head) {
    counters_.conflicts.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("{}: key '{}': copied up to seq {} but the head differs from what {} announced", name_, key,
                  point->seq, source);
  }
  counters_.keys_acquired.fetch_add(1, std::memory_order_relaxed);
  finish(key, id, std::nullopt);
}

void ClusterNode::finish(const std::string& key, uint64_t id, std::optional<Error> error) {
  Acquisition acquisition;
  {
    std::lock_guard lock(state_mutex_);
    auto found = acquiring_.find(key);
    if (found == acquiring_.end() || found->second.id != id) {
      return;
    }
    acquisition = std::move(found->second);
    acquiring_.erase(found);
    if (!error) {
      if (acquired_.size() >= kMaxAcquired) {
        acquired_.clear();
      }
      acquired_[key] = acquisition.local ? acquisition.local->seq : 0;
    }
  }
  if (error) {
    counters_.acquisition_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{}: {}", name_, error->message);
    for (Waiter& waiter : acquisition.waiters) {
      waiter.fail(*error);
    }
    return;
  }
  counters_.acquisitions.fetch_add(1, std::memory_order_relaxed);
  for (const std::string& peer : acquisition.offered_by) {
    (void)mailroom_->send(peer, make_frame(Kind::kHandoffTaken, 0, key, {}, epoch()));
  }
  for (Waiter& waiter : acquisition.waiters) {
    waiter.retry();
  }
}

void ClusterNode::on_offer(std::string_view from, Frame frame) {
  auto request = decode_read_request(frame.body);
  if (!request || request->key != frame.key || request->origin != from) {
    counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!ready_.load(std::memory_order_acquire)) {
    return;  // offered again later
  }
  sync_topology();
  const std::string& key = frame.key;
  std::vector<std::string> peers;
  uint64_t id = 0;
  bool taken = false;
  {
    std::lock_guard lock(state_mutex_);
    auto owner = owner_locked(key);
    if (!owner.ok() || owner->has_value()) {
      return;  // not ours (here): the offerer asks again after its topology moves
    }
    if (auto acquired = acquired_.find(key); acquired != acquired_.end() && acquired->second >= request->from) {
      taken = true;
    } else if (auto found = acquiring_.find(key); found != acquiring_.end()) {
      found->second.offered_by.insert(request->origin);
    } else if (acquiring_.size() < options_.max_acquisitions) {
      acquired_.erase(key);
      id = next_acquisition_++;
      Acquisition& acquisition = acquiring_[key];
      acquisition.id = id;
      acquisition.deadline = Clock::now() + options_.request_timeout;
      acquisition.offered_by.insert(request->origin);
      peers = peers_of_locked();
      acquisition.asked.insert(peers.begin(), peers.end());
    }
  }
  if (taken) {
    (void)mailroom_->send(request->origin, make_frame(Kind::kHandoffTaken, 0, key, {}, epoch()));
  } else if (id != 0) {
    start_acquisition(key, id, peers);
  }
}

void ClusterNode::on_taken(std::string_view from, const Frame& frame) {
  std::lock_guard lock(state_mutex_);
  if (auto found = offered_.find(frame.key); found != offered_.end() && found->second.owner == from) {
    offered_.erase(found);
  }
}

void ClusterNode::send_offer(const std::string& key, const Offer& offer) {
  (void)mailroom_->send(offer.owner,
                        make_frame(Kind::kHandoffOffer, 0, key, encode(ReadRequest{name_, key, offer.seq, 0}), epoch()));
}

void ClusterNode::handoff_tick(Clock::time_point now) {
  struct Expired {
    std::string key;
    uint64_t id;
    std::string silent;
  };
  std::vector<Expired> expired;
  std::vector<std::pair<std::string, std::string>> ask_again;  // key, peer
  std::vector<uint64_t> ask_again_ids;
  std::vector<std::pair<std::string, Offer>> offers;
  bool list = false;
  std::string after;
  {
    std::lock_guard lock(state_mutex_);
    for (auto& [key, acquisition] : acquiring_) {
      if (acquisition.deadline <= now) {
        std::string silent;
        for (const std::string& peer : acquisition.asked) {
          silent += (silent.empty() ? "" : ", ") + peer;
        }
        expired.push_back({key, acquisition.id, silent.empty() ? acquisition.source : silent});
      } else if (acquisition.source.empty() && now - acquisition.queried >= kQueryAgain) {
        acquisition.queried = now;
        for (const std::string& peer : acquisition.asked) {
          ask_again.emplace_back(key, peer);
          ask_again_ids.push_back(acquisition.id);
        }
      }
    }
    for (auto& [key, offer] : offered_) {
      if (now - offer.sent >= options_.reoffer_interval) {
        offer.sent = now;
        offers.emplace_back(key, offer);
      }
    }
    list = walking_ && offered_.size() < options_.max_offers;
    after = walk_after_;
  }
  for (const Expired& e : expired) {
    finish(e.key, e.id,
           Error{ErrorCode::kUnavailable, "key '" + e.key + "' is moving to node " + name_ + " and node(s) " +
                                              e.silent + " did not answer in time; retry"});
  }
  const uint64_t current = epoch();
  for (size_t i = 0; i < ask_again.size(); ++i) {
    const auto& [key, peer] = ask_again[i];
    (void)mailroom_->send(peer, make_frame(Kind::kHandoffQuery, ask_again_ids[i], key,
                                           encode(ReadRequest{name_, key, 0, 0}), current));
  }
  for (const auto& [key, offer] : offers) {
    send_offer(key, offer);
  }
  if (!list) {
    return;
  }
  // The offer walk: one page of stored keys per tick.
  auto page = local_->list_stored(after, kWalkPage);
  if (!page.ok()) {
    spdlog::warn("{}: listing stored keys to offer: {}", name_, page.error().message);
    return;
  }
  offers.clear();
  {
    std::lock_guard lock(state_mutex_);
    if (!walking_ || walk_after_ != after) {
      return;  // the topology changed meanwhile: the walk started over
    }
    for (const auto& [key, point] : *page) {
      auto owner = owner_locked(key);
      if (point.seq == 0 || !owner.ok() || !owner->has_value()) {
        continue;  // nothing to give, or ours
      }
      Offer offer{**owner, point.seq, now};
      offered_[key] = offer;
      offers.emplace_back(key, std::move(offer));
    }
    if (page->size() < kWalkPage) {
      walking_ = false;
    } else {
      walk_after_ = page->back().first;
    }
  }
  for (const auto& [key, offer] : offers) {
    send_offer(key, offer);
  }
}

}  // namespace quorum::router
