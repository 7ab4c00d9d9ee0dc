#include <quorum/store/layout.hpp>
#include <quorum/store/write_batch.hpp>

#include <cstring>

#define QUORUM_STORE_RETURN_IF_ERROR(expression)           \
  do {                                                     \
    if (Status status_ = (expression); !status_.ok()) {    \
      return status_;                                      \
    }                                                      \
  } while (false)

namespace quorum::store {

namespace {

// Chunk size for keys and small values; a value above kCopyBelow that is
// moved in is kept in its own string instead of copied.
constexpr size_t kChunkBytes = size_t{64} << 10;
constexpr size_t kCopyBelow = 512;

std::string_view be64(char (&out)[8], uint64_t value) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(value >> (56 - 8 * i));
  }
  return std::string_view(out, 8);
}

// Replication meta bytes, in their own record or in the meta record: 1 to
// kMaxReplicationMetaBytes (empty would read back as "none").
Status check_replication_meta(std::string_view encoded) {
  if (encoded.empty() || encoded.size() > kMaxReplicationMetaBytes) {
    return make_error(ErrorCode::kInvalidArgument, "replication meta is " + std::to_string(encoded.size()) +
                                                       " bytes (1.." + std::to_string(kMaxReplicationMetaBytes) + ")");
  }
  return {};
}

}  // namespace

WriteBatch::WriteBatch(WriteBatch&& other) noexcept
    : ops_(std::move(other.ops_)),
      bytes_(other.bytes_),
      chunks_(std::move(other.chunks_)),
      chunk_next_(other.chunk_next_),
      chunk_left_(other.chunk_left_),
      kept_(std::move(other.kept_)) {
  other.clear();
}

WriteBatch& WriteBatch::operator=(WriteBatch&& other) noexcept {
  if (this != &other) {
    ops_ = std::move(other.ops_);
    bytes_ = other.bytes_;
    chunks_ = std::move(other.chunks_);
    chunk_next_ = other.chunk_next_;
    chunk_left_ = other.chunk_left_;
    kept_ = std::move(other.kept_);
    other.clear();
  }
  return *this;
}

void WriteBatch::clear() noexcept {
  ops_.clear();
  bytes_ = 0;
  kept_.clear();
  if (chunks_.size() > 1) {
    chunks_.resize(1);  // keep one (standard) chunk for the next use
  }
  if (chunks_.empty()) {
    chunk_next_ = nullptr;
    chunk_left_ = 0;
  } else {
    chunk_next_ = chunks_.front().get();
    chunk_left_ = kChunkBytes;
  }
}

Status WriteBatch::check_room(size_t op_bytes) const {
  if (ops_.size() >= kMaxBatchOps) {
    return make_error(ErrorCode::kResourceExhausted,
                      "write batch is full (" + std::to_string(kMaxBatchOps) + " operations): commit it first");
  }
  if (bytes_ + op_bytes > kMaxBatchBytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      "write batch would exceed " + std::to_string(kMaxBatchBytes) + " bytes: commit it first");
  }
  return {};
}

void WriteBatch::add(BatchOp op) {
  bytes_ += op.key.size() + op.value.size() + op.actor.size();
  ops_.push_back(op);
}

char* WriteBatch::allocate(size_t size) {
  if (size > chunk_left_) {
    if (size > kChunkBytes / 4) {
      // A large piece gets its own chunk; the current one stays in use. The
      // first chunk must stay a standard one (clear() reuses it).
      if (chunks_.empty()) {
        chunks_.push_back(std::make_unique_for_overwrite<char[]>(kChunkBytes));
        chunk_next_ = chunks_.back().get();
        chunk_left_ = kChunkBytes;
      }
      chunks_.push_back(std::make_unique_for_overwrite<char[]>(size));
      return chunks_.back().get();
    }
    chunks_.push_back(std::make_unique_for_overwrite<char[]>(kChunkBytes));
    chunk_next_ = chunks_.back().get();
    chunk_left_ = kChunkBytes;
  }
  char* out = chunk_next_;
  chunk_next_ += size;
  chunk_left_ -= size;
  return out;
}

std::string_view WriteBatch::copy(std::string_view bytes) {
  if (bytes.empty()) {
    return {};
  }
  char* out = allocate(bytes.size());
  std::memcpy(out, bytes.data(), bytes.size());
  return std::string_view(out, bytes.size());
}

std::string_view WriteBatch::keep(std::string&& bytes) {
  if (bytes.size() < kCopyBelow) {
    return copy(bytes);
  }
  kept_.push_back(std::move(bytes));
  return kept_.back();
}

std::string_view WriteBatch::make_key(char tag, std::string_view actor, bool nul, std::string_view suffix) {
  const size_t size = 2 + actor.size() + (nul ? 1 : 0) + suffix.size();
  char* out = allocate(size);
  char* at = out;
  *at++ = tag;
  *at++ = '/';
  std::memcpy(at, actor.data(), actor.size());
  at += actor.size();
  if (nul) {
    *at++ = '\0';
  }
  if (!suffix.empty()) {
    std::memcpy(at, suffix.data(), suffix.size());
  }
  return std::string_view(out, size);
}

Status WriteBatch::append(std::string_view actor, const EncodedEntry& entry) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  const uint64_t seq = entry.seq();
  QUORUM_ASSERT(seq >= 1);
  QUORUM_STORE_RETURN_IF_ERROR(check_room(2 + actor.size() + 9 + entry.bytes().size()));
  char number[8];
  const std::string_view key = make_key('l', actor, true, be64(number, seq));
  add(BatchOp{BatchOp::Kind::kPut, key, copy(entry.bytes()), {}, 0});
  return {};
}

Status WriteBatch::append(std::string_view actor, EncodedEntry&& entry) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  const uint64_t seq = entry.seq();
  QUORUM_ASSERT(seq >= 1);
  QUORUM_STORE_RETURN_IF_ERROR(check_room(2 + actor.size() + 9 + entry.bytes().size()));
  char number[8];
  const std::string_view key = make_key('l', actor, true, be64(number, seq));
  add(BatchOp{BatchOp::Kind::kPut, key, keep(std::move(entry).release()), {}, 0});
  return {};
}

Status WriteBatch::put_meta(std::string_view actor, const ReplicaMeta& meta) { return add_meta(actor, meta, {}); }

Status WriteBatch::put_meta(std::string_view actor, const ReplicaMeta& meta, std::string_view replication) {
  QUORUM_STORE_RETURN_IF_ERROR(check_replication_meta(replication));
  return add_meta(actor, meta, replication);
}

Status WriteBatch::add_meta(std::string_view actor, const ReplicaMeta& meta, std::string_view replication) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_ASSERT(meta.commit_seq <= meta.last_seq);
  std::string value = layout::encode_meta(meta, replication);
  QUORUM_STORE_RETURN_IF_ERROR(check_room(2 + actor.size() + value.size()));
  const std::string_view key = make_key('m', actor, false, {});
  add(BatchOp{BatchOp::Kind::kPut, key, keep(std::move(value)), {}, 0});
  return {};
}

Status WriteBatch::put_snapshot(std::string_view actor, std::string_view handler, const Snapshot& snapshot) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(validate_handler_name(handler));
  if (snapshot.handler_version.size() > kMaxHandlerVersionBytes) {
    return make_error(ErrorCode::kInvalidArgument, "snapshot handler version is over " +
                                                       std::to_string(kMaxHandlerVersionBytes) + " bytes");
  }
  if (snapshot.projection.size() > kMaxProjectionBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "snapshot projection is over " + std::to_string(kMaxProjectionBytes) + " bytes");
  }
  std::string value = layout::encode_snapshot(snapshot);
  QUORUM_STORE_RETURN_IF_ERROR(check_room(3 + actor.size() + handler.size() + value.size()));
  const std::string_view key = make_key('s', actor, true, handler);
  add(BatchOp{BatchOp::Kind::kPut, key, keep(std::move(value)), {}, 0});
  return {};
}

Status WriteBatch::put_idempotency(std::string_view actor, std::string_view command_id,
                                   const IdempotencyRecord& record) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(validate_command_id(command_id));
  if (record.seq == 0) {
    return make_error(ErrorCode::kInvalidArgument, "idempotency record with seq 0 (sequence numbers start at 1)");
  }
  // Only the seq is stored: find_command reads the hash from the entry.
  std::string value = layout::encode_idempotency(record.seq);
  QUORUM_STORE_RETURN_IF_ERROR(check_room(3 + actor.size() + command_id.size() + value.size()));
  const std::string_view key = make_key('i', actor, true, command_id);
  add(BatchOp{BatchOp::Kind::kPut, key, copy(value), {}, 0});
  return {};
}

Status WriteBatch::put_outbox(std::string_view actor, uint64_t source_seq, uint32_t index, std::string_view effect) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  if (effect.size() > kMaxEffectBytes) {
    return make_error(ErrorCode::kInvalidArgument, "outbox effect is over " + std::to_string(kMaxEffectBytes) + " bytes");
  }
  QUORUM_STORE_RETURN_IF_ERROR(check_room(3 + actor.size() + 13 + effect.size()));
  const std::string suffix = layout::outbox_key("", source_seq, index).substr(3);  // be64 seq, NUL, be32 index
  const std::string_view key = make_key('o', actor, true, suffix);
  add(BatchOp{BatchOp::Kind::kPut, key, copy(effect), {}, 0});
  return {};
}

Status WriteBatch::delete_outbox(std::string_view actor, uint64_t source_seq, uint32_t index) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(check_room(3 + actor.size() + 13));
  const std::string suffix = layout::outbox_key("", source_seq, index).substr(3);
  const std::string_view key = make_key('o', actor, true, suffix);
  add(BatchOp{BatchOp::Kind::kDelete, key, {}, {}, 0});
  return {};
}

Status WriteBatch::truncate_log_after(std::string_view actor, uint64_t seq) {
  return add_range(BatchOp::Kind::kTruncateLogAfter, actor, seq);
}

Status WriteBatch::truncate_outbox_after(std::string_view actor, uint64_t seq) {
  return add_range(BatchOp::Kind::kTruncateOutboxAfter, actor, seq);
}

Status WriteBatch::drop_snapshots_after(std::string_view actor, uint64_t seq) {
  return add_range(BatchOp::Kind::kDropSnapshotsAfter, actor, seq);
}

Status WriteBatch::add_range(BatchOp::Kind kind, std::string_view actor, uint64_t seq) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(check_room(actor.size()));
  add(BatchOp{kind, {}, {}, copy(actor), seq});
  return {};
}

Status WriteBatch::delete_idempotency(std::string_view actor, std::string_view command_id) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(validate_command_id(command_id));
  QUORUM_STORE_RETURN_IF_ERROR(check_room(3 + actor.size() + command_id.size()));
  const std::string_view key = make_key('i', actor, true, command_id);
  add(BatchOp{BatchOp::Kind::kDelete, key, {}, {}, 0});
  return {};
}

Status WriteBatch::put_replication_meta(std::string_view actor, std::string_view encoded) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(check_replication_meta(encoded));
  QUORUM_STORE_RETURN_IF_ERROR(check_room(2 + actor.size() + encoded.size()));
  const std::string_view key = make_key('p', actor, false, {});
  add(BatchOp{BatchOp::Kind::kPut, key, copy(encoded), {}, 0});
  return {};
}

}  // namespace quorum::store
