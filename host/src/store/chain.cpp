#include <quorum/store/chain.hpp>

namespace quorum::store {

std::string_view to_string(FaultKind kind) noexcept {
  switch (kind) {
    case FaultKind::kUnreadableEntry: return "unreadable entry";
    case FaultKind::kSeqMismatch: return "seq mismatch";
    case FaultKind::kSeqGap: return "gap in seqs";
    case FaultKind::kBrokenChain: return "broken chain";
    case FaultKind::kMetaMissing: return "meta missing";
    case FaultKind::kMetaHeadMismatch: return "meta head mismatch";
    case FaultKind::kSnapshotMismatch: return "snapshot mismatch";
    case FaultKind::kReadFailed: return "read failed";
  }
  return "unknown fault";
}

bool ChainVerifier::fail(uint64_t seq, FaultKind kind, std::string detail) {
  fault_ = ChainFault{seq, kind, std::move(detail)};
  return false;
}

bool ChainVerifier::check_position(uint64_t stored_seq) {
  if (fault_) {
    return false;
  }
  const uint64_t expected = last_seq_ + 1;
  if (stored_seq != 0 && stored_seq != expected) {
    return fail(expected, FaultKind::kSeqGap,
                "expected seq " + std::to_string(expected) + ", next stored entry is seq " + std::to_string(stored_seq));
  }
  return true;
}

bool ChainVerifier::check_link(uint64_t seq, uint64_t epoch, std::string_view body, const Hash& hash) {
  const uint64_t expected = last_seq_ + 1;
  if (seq != expected) {
    return fail(expected, FaultKind::kSeqMismatch,
                "entry stored as seq " + std::to_string(expected) + " says seq " + std::to_string(seq));
  }
  if (entry_hash(head_, seq, epoch, body) != hash) {
    return fail(expected, FaultKind::kBrokenChain,
                "stored hash " + to_hex(hash) + " does not follow from previous hash " + to_hex(head_));
  }
  last_seq_ = expected;
  head_ = hash;
  verified_ += 1;
  return true;
}

bool ChainVerifier::next(std::string_view encoded, uint64_t stored_seq) {
  if (!check_position(stored_seq)) {
    return false;
  }
  Result<EntryView> view = parse_entry(encoded);
  if (!view.ok()) {
    return fail(last_seq_ + 1, FaultKind::kUnreadableEntry, view.error().message);
  }
  return check_link(view->seq, view->epoch, view->body, view->hash);
}

bool ChainVerifier::next(const EncodedEntry& entry, uint64_t stored_seq) {
  if (!check_position(stored_seq)) {
    return false;
  }
  return check_link(entry.seq(), entry.epoch(), entry.body(), entry.hash());
}

namespace {

template <class Range, class Bytes>
ChainReport verify_range(uint64_t anchor_seq, const Hash& anchor_hash, const Range& entries, Bytes bytes) {
  ChainVerifier verifier(anchor_seq, anchor_hash);
  for (const auto& entry : entries) {
    if (!verifier.next(bytes(entry))) {
      break;
    }
  }
  return ChainReport{verifier.verified(), verifier.last_seq(), verifier.head(), verifier.fault()};
}

}  // namespace

ChainReport verify_chain(uint64_t anchor_seq, const Hash& anchor_hash, std::span<const EncodedEntry> entries) {
  return verify_range(anchor_seq, anchor_hash, entries,
                      [](const EncodedEntry& entry) -> const EncodedEntry& { return entry; });
}

ChainReport verify_chain(uint64_t anchor_seq, const Hash& anchor_hash, std::span<const std::string> entries) {
  return verify_range(anchor_seq, anchor_hash, entries,
                      [](const std::string& entry) -> std::string_view { return entry; });
}

}  // namespace quorum::store
