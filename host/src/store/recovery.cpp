#include <quorum/store/recovery.hpp>

#include <algorithm>

namespace quorum::store {

std::string ActorFault::describe() const {
  return "actor '" + actor + "' seq " + std::to_string(seq) + ": " + std::string(to_string(kind)) + ": " + detail;
}

Error ActorFault::to_error() const { return make_error(ErrorCode::kIo, describe()); }

namespace {

ActorFault read_failed(std::string_view actor, uint64_t seq, const Error& error) {
  return ActorFault{std::string(actor), seq, FaultKind::kReadFailed, error.message};
}

// Walks the log of one actor from an anchor to meta.last_seq, verifying it.
// `keep` receives each verified entry when the caller wants the tail.
struct Walk {
  const EventStore& store;
  std::string_view actor;
  const ReplicaMeta& meta;
  const std::vector<SnapshotRecord>& snapshots;
  size_t page_entries;
  std::vector<EncodedEntry>* keep = nullptr;

  ChainVerifier verifier;
  std::optional<ActorFault> fault;

  bool fail(uint64_t seq, FaultKind kind, std::string detail) {
    fault = ActorFault{std::string(actor), seq, kind, std::move(detail)};
    return false;
  }

  bool from_chain_fault() {
    const ChainFault& chain = *verifier.fault();
    return fail(chain.seq, chain.kind, chain.detail);
  }

  // Snapshots taken at `seq` must carry the hash the chain has there.
  bool check_snapshots_at(uint64_t seq, const Hash& hash) {
    for (const SnapshotRecord& record : snapshots) {
      if (record.snapshot.seq == seq && record.snapshot.chain_hash != hash) {
        return fail(seq, FaultKind::kSnapshotMismatch,
                    "snapshot of handler '" + record.handler + "' has chain hash " +
                        to_hex(record.snapshot.chain_hash) + ", the log has " + to_hex(hash));
      }
    }
    return true;
  }

  bool run() {
    while (verifier.last_seq() < meta.last_seq) {
      const uint64_t from = verifier.last_seq() + 1;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(page_entries, meta.last_seq - verifier.last_seq()));
      Result<std::vector<RawEntry>> page = store.read_log(actor, from, want);
      if (!page.ok()) {
        fault = read_failed(actor, from, page.error());
        return false;
      }
      if (page->empty()) {
        break;
      }
      for (RawEntry& raw : *page) {
        if (raw.seq > meta.last_seq) {
          break;
        }
        if (keep != nullptr) {
          const uint64_t expected = verifier.last_seq() + 1;
          if (raw.seq != expected) {
            return fail(expected, FaultKind::kSeqGap,
                        "expected seq " + std::to_string(expected) + ", next stored entry is seq " +
                            std::to_string(raw.seq));
          }
          Result<EncodedEntry> entry = EncodedEntry::from_bytes(std::move(raw.bytes));
          if (!entry.ok()) {
            return fail(expected, FaultKind::kUnreadableEntry, entry.error().message);
          }
          if (!verifier.next(*entry, raw.seq)) {
            return from_chain_fault();
          }
          keep->push_back(std::move(entry).value());
        } else if (!verifier.next(raw.bytes, raw.seq)) {
          return from_chain_fault();
        }
        if (!check_snapshots_at(verifier.last_seq(), verifier.head())) {
          return false;
        }
      }
    }
    if (verifier.last_seq() < meta.last_seq) {
      return fail(verifier.last_seq() + 1, FaultKind::kSeqGap,
                  "the log ends at seq " + std::to_string(verifier.last_seq()) + ", meta says last_seq " +
                      std::to_string(meta.last_seq));
    }
    if (verifier.head() != meta.head) {
      return fail(meta.last_seq, FaultKind::kMetaHeadMismatch,
                  "meta head " + to_hex(meta.head) + ", the log's hash at seq " + std::to_string(meta.last_seq) +
                      " is " + to_hex(verifier.head()));
    }
    Result<std::vector<RawEntry>> beyond = store.read_log(actor, meta.last_seq + 1, 1);
    if (!beyond.ok()) {
      fault = read_failed(actor, meta.last_seq + 1, beyond.error());
      return false;
    }
    if (!beyond->empty()) {
      return fail(beyond->front().seq, FaultKind::kMetaHeadMismatch,
                  "entry stored past meta's last_seq " + std::to_string(meta.last_seq));
    }
    return true;
  }
};

// Reads meta and snapshots; decides the anchor. Returns false with `fault`
// set, or with `fresh` set for an actor that has nothing stored.
struct Start {
  std::optional<ReplicaMeta> meta;
  std::vector<SnapshotRecord> snapshots;
  uint64_t anchor_seq = 0;
  Hash anchor_hash = kGenesisHash;
  bool fresh = false;
  std::optional<ActorFault> fault;
};

Start load_start(const EventStore& store, std::string_view actor, bool anchor_at_snapshot) {
  Start start;
  auto fail = [&](uint64_t seq, FaultKind kind, std::string detail) {
    start.fault = ActorFault{std::string(actor), seq, kind, std::move(detail)};
    return std::move(start);
  };
  Result<std::optional<ReplicaMeta>> meta = store.read_meta(actor);
  if (!meta.ok()) {
    start.fault = read_failed(actor, 0, meta.error());
    return start;
  }
  start.meta = *meta;
  Result<std::vector<SnapshotRecord>> snapshots = store.read_snapshots(actor);
  if (!snapshots.ok()) {
    start.fault = read_failed(actor, 0, snapshots.error());
    return start;
  }
  start.snapshots = std::move(snapshots).value();
  if (!start.meta) {
    if (!start.snapshots.empty()) {
      return fail(start.snapshots.front().snapshot.seq, FaultKind::kMetaMissing,
                  "snapshot of handler '" + start.snapshots.front().handler + "' exists without replica meta");
    }
    Result<std::vector<RawEntry>> first = store.read_log(actor, 0, 1);
    if (!first.ok()) {
      start.fault = read_failed(actor, 1, first.error());
      return start;
    }
    if (!first->empty()) {
      return fail(first->front().seq, FaultKind::kMetaMissing, "log entries exist without replica meta");
    }
    start.fresh = true;
    return start;
  }
  const ReplicaMeta& m = *start.meta;
  for (const SnapshotRecord& record : start.snapshots) {
    if (record.snapshot.seq > m.last_seq) {
      return fail(record.snapshot.seq, FaultKind::kSnapshotMismatch,
                  "snapshot of handler '" + record.handler + "' is at seq " + std::to_string(record.snapshot.seq) +
                      ", past meta's last_seq " + std::to_string(m.last_seq));
    }
    if (record.snapshot.seq == 0 && record.snapshot.chain_hash != kGenesisHash) {
      return fail(0, FaultKind::kSnapshotMismatch,
                  "snapshot of handler '" + record.handler + "' at seq 0 has a non-genesis chain hash");
    }
  }
  if (!anchor_at_snapshot || start.snapshots.empty()) {
    return start;
  }
  const SnapshotRecord& oldest = *std::min_element(
      start.snapshots.begin(), start.snapshots.end(),
      [](const SnapshotRecord& a, const SnapshotRecord& b) { return a.snapshot.seq < b.snapshot.seq; });
  start.anchor_seq = oldest.snapshot.seq;
  start.anchor_hash = oldest.snapshot.chain_hash;
  if (start.anchor_seq > 0) {
    // The anchor must match the entry the log holds at that seq.
    Result<std::vector<RawEntry>> at = store.read_log(actor, start.anchor_seq, 1);
    if (!at.ok()) {
      start.fault = read_failed(actor, start.anchor_seq, at.error());
      return start;
    }
    if (at->empty() || at->front().seq != start.anchor_seq) {
      return fail(start.anchor_seq, FaultKind::kSeqGap,
                  "the entry at snapshot seq " + std::to_string(start.anchor_seq) + " is missing");
    }
    Result<EntryView> view = parse_entry(at->front().bytes);
    if (!view.ok()) {
      return fail(start.anchor_seq, FaultKind::kUnreadableEntry, view.error().message);
    }
    if (view->seq != start.anchor_seq) {
      return fail(start.anchor_seq, FaultKind::kSeqMismatch,
                  "entry stored as seq " + std::to_string(start.anchor_seq) + " says seq " + std::to_string(view->seq));
    }
    for (const SnapshotRecord& record : start.snapshots) {
      if (record.snapshot.seq == start.anchor_seq && record.snapshot.chain_hash != view->hash) {
        return fail(start.anchor_seq, FaultKind::kSnapshotMismatch,
                    "snapshot of handler '" + record.handler + "' has chain hash " +
                        to_hex(record.snapshot.chain_hash) + ", the entry has " + to_hex(view->hash));
      }
    }
  }
  return start;
}

}  // namespace

RecoveryOutcome recover_actor_checked(const EventStore& store, std::string_view actor, const RecoveryOptions& options) {
  QUORUM_ASSERT(options.read_page_entries > 0);
  RecoveryOutcome outcome;
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    outcome.error = valid.error();
    return outcome;
  }
  Start start = load_start(store, actor, /*anchor_at_snapshot=*/true);
  if (start.fault) {
    outcome.fault = std::move(start.fault);
    return outcome;
  }
  RecoveredActor recovered;
  recovered.actor = std::string(actor);
  if (start.fresh) {
    outcome.actor = std::move(recovered);
    return outcome;
  }
  recovered.exists = true;
  recovered.meta = *start.meta;
  recovered.snapshots = std::move(start.snapshots);
  recovered.tail_after_seq = start.anchor_seq;
  const uint64_t tail_length = recovered.meta.last_seq - start.anchor_seq;
  if (tail_length > options.max_tail_entries) {
    outcome.error = make_error(ErrorCode::kResourceExhausted,
                               "actor '" + recovered.actor + "' has " + std::to_string(tail_length) +
                                   " entries after its oldest snapshot, over the recovery bound of " +
                                   std::to_string(options.max_tail_entries) + ": snapshot it first");
    return outcome;
  }
  recovered.tail.reserve(static_cast<size_t>(tail_length));
  Walk walk{store, actor, recovered.meta, recovered.snapshots, options.read_page_entries, &recovered.tail,
            ChainVerifier(start.anchor_seq, start.anchor_hash), std::nullopt};
  if (!walk.run()) {
    outcome.fault = std::move(walk.fault);
    return outcome;
  }
  outcome.actor = std::move(recovered);
  return outcome;
}

Result<RecoveredActor> recover_actor(const EventStore& store, std::string_view actor, const RecoveryOptions& options) {
  RecoveryOutcome outcome = recover_actor_checked(store, actor, options);
  if (outcome.fault) {
    return outcome.fault->to_error();
  }
  if (outcome.error) {
    return *outcome.error;
  }
  QUORUM_ASSERT(outcome.actor.has_value());
  return std::move(*outcome.actor);
}

LogVerification verify_actor_log(const EventStore& store, std::string_view actor) {
  LogVerification result;
  result.actor = std::string(actor);
  if (Status valid = validate_actor_key(actor); !valid.ok()) {
    result.error = valid.error();
    return result;
  }
  Start start = load_start(store, actor, /*anchor_at_snapshot=*/false);
  if (start.fault) {
    result.fault = std::move(start.fault);
    return result;
  }
  if (start.fresh) {
    return result;
  }
  Walk walk{store, actor, *start.meta, start.snapshots, kMaxReadEntries, nullptr, ChainVerifier(), std::nullopt};
  const bool ok = walk.run();
  result.entries_verified = walk.verifier.verified();
  result.last_seq = walk.verifier.last_seq();
  result.head = walk.verifier.head();
  if (!ok) {
    result.fault = std::move(walk.fault);
  }
  return result;
}

}  // namespace quorum::store
