// Verifying a run of encoded entries against the hash chain.
//
// A verifier starts from an anchor (seq 0 and the genesis hash, or a
// snapshot's seq and chain hash) and takes entries in order. The first entry
// that is unreadable, out of sequence, or whose hash does not follow from the
// one before it is reported with its seq and the reason; the verifier then
// stops (the fault is sticky). Pure computation: safe on any thread, one
// verifier per thread.
#pragma once

#include <quorum/store/entry.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace quorum::store {

// Why a log, or an actor's stored state, cannot be trusted.
enum class FaultKind {
  kUnreadableEntry,   // the stored bytes do not parse as an entry
  kSeqMismatch,       // an entry stored under seq N says it is seq M
  kSeqGap,            // an entry is missing (seqs must be consecutive)
  kBrokenChain,       // the hash does not follow from the previous entry's hash
  kMetaMissing,       // entries or snapshots exist, but no replica meta
  kMetaHeadMismatch,  // meta's last seq or head hash disagree with the log
  kSnapshotMismatch,  // a snapshot's seq or chain hash disagree with the log
  kReadFailed,        // the store could not read (I/O error, storage corruption)
};

std::string_view to_string(FaultKind kind) noexcept;

struct ChainFault {
  uint64_t seq = 0;  // the first seq that cannot be trusted
  FaultKind kind = FaultKind::kBrokenChain;
  std::string detail;
};

class ChainVerifier {
 public:
  // Genesis: the next entry must be seq 1 with prev_hash = kGenesisHash.
  ChainVerifier() = default;
  // From an anchor: the next entry must be anchor_seq + 1 and chain to anchor_hash.
  ChainVerifier(uint64_t anchor_seq, const Hash& anchor_hash) noexcept : last_seq_(anchor_seq), head_(anchor_hash) {}

  // Checks the next entry. stored_seq is the seq the store filed it under
  // (0 if unknown: then only the entry's own seq is checked). Returns false
  // on a fault (see fault()); after a fault every call returns false.
  bool next(std::string_view encoded, uint64_t stored_seq = 0);
  // The same for an entry already validated (no second parse).
  bool next(const EncodedEntry& entry, uint64_t stored_seq = 0);

  uint64_t last_seq() const noexcept { return last_seq_; }  // the last verified seq (or the anchor)
  const Hash& head() const noexcept { return head_; }       // its hash
  uint64_t verified() const noexcept { return verified_; }  // entries verified so far
  const std::optional<ChainFault>& fault() const noexcept { return fault_; }
  bool ok() const noexcept { return !fault_.has_value(); }

 private:
  bool fail(uint64_t seq, FaultKind kind, std::string detail);
  bool check_position(uint64_t stored_seq);
  bool check_link(uint64_t seq, uint64_t epoch, std::string_view body, const Hash& hash);

  uint64_t last_seq_ = 0;
  Hash head_ = kGenesisHash;
  uint64_t verified_ = 0;
  std::optional<ChainFault> fault_;
};

struct ChainReport {
  uint64_t verified = 0;
  uint64_t last_seq = 0;
  Hash head{};
  std::optional<ChainFault> fault;
  bool ok() const noexcept { return !fault.has_value(); }
};

// Verifies a run of entries that must follow (anchor_seq, anchor_hash).
ChainReport verify_chain(uint64_t anchor_seq, const Hash& anchor_hash, std::span<const EncodedEntry> entries);
ChainReport verify_chain(uint64_t anchor_seq, const Hash& anchor_hash, std::span<const std::string> entries);

}  // namespace quorum::store
