#include <quorum/store/layout.hpp>
#include <quorum/store/write_batch.hpp>

#define QUORUM_STORE_RETURN_IF_ERROR(expression)           \
  do {                                                     \
    if (Status status_ = (expression); !status_.ok()) {    \
      return status_;                                      \
    }                                                      \
  } while (false)

namespace quorum::store {

void WriteBatch::clear() noexcept {
  ops_.clear();
  bytes_ = 0;
}

Status WriteBatch::add(BatchOp op) {
  const size_t op_bytes = op.key.size() + op.value.size() + op.actor.size();
  if (ops_.size() >= kMaxBatchOps) {
    return make_error(ErrorCode::kResourceExhausted,
                      "write batch is full (" + std::to_string(kMaxBatchOps) + " operations): commit it first");
  }
  if (bytes_ + op_bytes > kMaxBatchBytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      "write batch would exceed " + std::to_string(kMaxBatchBytes) + " bytes: commit it first");
  }
  bytes_ += op_bytes;
  ops_.push_back(std::move(op));
  return {};
}

Status WriteBatch::append(std::string_view actor, const EncodedEntry& entry) {
  return append(actor, EncodedEntry(entry));
}

Status WriteBatch::append(std::string_view actor, EncodedEntry&& entry) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  const uint64_t seq = entry.seq();
  QUORUM_ASSERT(seq >= 1);
  return add(BatchOp{BatchOp::Kind::kPut, layout::log_key(actor, seq), std::move(entry).release(), {}, 0});
}

Status WriteBatch::put_meta(std::string_view actor, const ReplicaMeta& meta) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_ASSERT(meta.commit_seq <= meta.last_seq);
  return add(BatchOp{BatchOp::Kind::kPut, layout::meta_key(actor), layout::encode_meta(meta), {}, 0});
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
  return add(BatchOp{BatchOp::Kind::kPut, layout::snapshot_key(actor, handler), layout::encode_snapshot(snapshot),
                     {}, 0});
}

Status WriteBatch::put_idempotency(std::string_view actor, std::string_view command_id,
                                   const IdempotencyRecord& record) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  QUORUM_STORE_RETURN_IF_ERROR(validate_command_id(command_id));
  return add(BatchOp{BatchOp::Kind::kPut, layout::idempotency_key(actor, command_id),
                     layout::encode_idempotency(record), {}, 0});
}

Status WriteBatch::put_outbox(std::string_view actor, uint64_t source_seq, uint32_t index, std::string_view effect) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  if (effect.size() > kMaxEffectBytes) {
    return make_error(ErrorCode::kInvalidArgument, "outbox effect is over " + std::to_string(kMaxEffectBytes) + " bytes");
  }
  return add(BatchOp{BatchOp::Kind::kPut, layout::outbox_key(actor, source_seq, index), std::string(effect), {}, 0});
}

Status WriteBatch::delete_outbox(std::string_view actor, uint64_t source_seq, uint32_t index) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  return add(BatchOp{BatchOp::Kind::kDelete, layout::outbox_key(actor, source_seq, index), {}, {}, 0});
}

Status WriteBatch::truncate_log_after(std::string_view actor, uint64_t seq) {
  QUORUM_STORE_RETURN_IF_ERROR(validate_actor_key(actor));
  return add(BatchOp{BatchOp::Kind::kTruncateLogAfter, {}, {}, std::string(actor), seq});
}

}  // namespace quorum::store
