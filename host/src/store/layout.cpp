#include <quorum/store/layout.hpp>

#include "canonical_msgpack.hpp"

#include <cstring>

namespace quorum::store {

namespace {

Status validate_name(std::string_view name, size_t max_bytes, const char* what) {
  if (name.empty()) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
  }
  if (name.size() > max_bytes) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + " is " + std::to_string(name.size()) +
                                                       " bytes, over the bound of " + std::to_string(max_bytes));
  }
  if (name.find('\0') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + " contains a NUL byte");
  }
  return {};
}

std::string with_actor(char tag, std::string_view actor, size_t extra) {
  std::string key;
  key.reserve(2 + actor.size() + 1 + extra);
  key.push_back(tag);
  key.push_back('/');
  key.append(actor);
  return key;
}

Error bad_record(const char* what, const std::string& why) {
  return make_error(ErrorCode::kIo, std::string("corrupt ") + what + " record: " + why);
}

void write_hash(std::string& out, const Hash& hash) {
  detail::write_bin(out, std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

bool read_hash(detail::CanonicalReader& reader, Hash& hash) {
  std::string_view bytes;
  if (!reader.read_bin(bytes) || bytes.size() != hash.size()) {
    return false;
  }
  std::memcpy(hash.data(), bytes.data(), hash.size());
  return true;
}

// Reads the array header and version of a record; `fields` counts the version.
bool read_record_start(detail::CanonicalReader& reader, uint32_t fields) {
  uint32_t count = 0;
  uint64_t version = 0;
  return reader.read_array_header(count) && count == fields && reader.read_uint(version) && version == 1;
}

}  // namespace

Status validate_actor_key(std::string_view key) { return validate_name(key, kMaxActorKeyBytes, "actor key"); }
Status validate_handler_name(std::string_view handler) {
  return validate_name(handler, kMaxHandlerNameBytes, "handler name");
}
Status validate_command_id(std::string_view id) {
  if (id.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "command id is empty");
  }
  if (id.size() > kMaxIdBytes) {
    return make_error(ErrorCode::kInvalidArgument, "command id is " + std::to_string(id.size()) +
                                                       " bytes, over the bound of " + std::to_string(kMaxIdBytes));
  }
  return {};
}

namespace layout {

std::string log_key(std::string_view actor, uint64_t seq) {
  std::string key = with_actor('l', actor, 9);
  key.push_back('\0');
  detail::put_be64(key, seq);
  return key;
}

std::string log_prefix(std::string_view actor) {
  std::string key = with_actor('l', actor, 1);
  key.push_back('\0');
  return key;
}

std::string meta_key(std::string_view actor) { return with_actor('m', actor, 0); }

std::string snapshot_key(std::string_view actor, std::string_view handler) {
  std::string key = snapshot_prefix(actor);
  key.append(handler);
  return key;
}

std::string snapshot_prefix(std::string_view actor) {
  std::string key = with_actor('s', actor, 1);
  key.push_back('\0');
  return key;
}

std::string idempotency_key(std::string_view actor, std::string_view command_id) {
  std::string key = with_actor('i', actor, 1 + command_id.size());
  key.push_back('\0');
  key.append(command_id);
  return key;
}

std::string outbox_key(std::string_view actor, uint64_t seq, uint32_t index) {
  std::string key = outbox_prefix(actor);
  detail::put_be64(key, seq);
  key.push_back('\0');
  detail::put_be32(key, index);
  return key;
}

std::string outbox_prefix(std::string_view actor) {
  std::string key = with_actor('o', actor, 1 + 13);
  key.push_back('\0');
  return key;
}

std::string replication_meta_key(std::string_view actor) { return with_actor('p', actor, 0); }

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;  // every key: callers treat "" as "no upper bound"
}

std::string encode_meta(const ReplicaMeta& meta, std::string_view replication) {
  QUORUM_ASSERT(replication.size() <= kMaxReplicationMetaBytes);
  std::string out;
  detail::write_array_header(out, replication.empty() ? 6 : 7);
  detail::write_uint(out, 1);
  detail::write_uint(out, meta.promised_epoch);
  detail::write_uint(out, meta.last_seq);
  detail::write_uint(out, meta.commit_seq);
  write_hash(out, meta.head);
  detail::write_uint(out, meta.last_accepted_epoch);
  if (!replication.empty()) {
    detail::write_bin(out, replication);
  }
  return out;
}

Result<ReplicaMeta> decode_meta(std::string_view bytes, std::optional<std::string>* replication) {
  detail::CanonicalReader reader(bytes);
  ReplicaMeta meta;
  uint32_t fields = 0;
  uint64_t version = 0;
  std::string_view embedded;
  const bool read = reader.read_array_header(fields) && (fields == 6 || fields == 7) && reader.read_uint(version) &&
                    version == 1 && reader.read_uint(meta.promised_epoch) && reader.read_uint(meta.last_seq) &&
                    reader.read_uint(meta.commit_seq) && read_hash(reader, meta.head) &&
                    reader.read_uint(meta.last_accepted_epoch) && (fields == 6 || reader.read_bin(embedded)) &&
                    reader.at_end();
  if (!read) {
    return bad_record("meta", std::string("not [1, promised_epoch, last_seq, commit_seq, head, accepted_epoch] "
                                          "(+ replication meta): ") +
                                  reader.error());
  }
  if (fields == 7 && (embedded.empty() || embedded.size() > kMaxReplicationMetaBytes)) {
    return bad_record("meta", "the replication meta in it is " + std::to_string(embedded.size()) + " bytes (1.." +
                                  std::to_string(kMaxReplicationMetaBytes) + ")");
  }
  if (replication != nullptr) {
    *replication = fields == 7 ? std::optional<std::string>(std::string(embedded)) : std::nullopt;
  }
  if (meta.commit_seq > meta.last_seq) {
    return bad_record("meta", "commit_seq " + std::to_string(meta.commit_seq) + " is past last_seq " +
                                  std::to_string(meta.last_seq));
  }
  return meta;
}

std::string encode_snapshot(const Snapshot& snapshot) {
  std::string out;
  out.reserve(64 + snapshot.handler_version.size() + snapshot.projection.size());
  detail::write_array_header(out, 6);
  detail::write_uint(out, 1);
  detail::write_uint(out, snapshot.seq);
  write_hash(out, snapshot.chain_hash);
  detail::write_str(out, snapshot.handler_version);
  detail::write_uint(out, snapshot.projection_schema);
  detail::write_bin(out, snapshot.projection);
  return out;
}

Result<Snapshot> decode_snapshot(std::string_view bytes) {
  detail::CanonicalReader reader(bytes);
  Snapshot snapshot;
  std::string_view version;
  std::string_view projection;
  uint64_t schema = 0;
  if (!read_record_start(reader, 6) || !reader.read_uint(snapshot.seq) || !read_hash(reader, snapshot.chain_hash) ||
      !reader.read_str(version) || !reader.read_uint(schema) || !reader.read_bin(projection) || !reader.at_end()) {
    return bad_record("snapshot",
                      std::string("not [1, seq, chain_hash, handler_version, schema, projection]: ") + reader.error());
  }
  if (schema > UINT32_MAX || version.size() > kMaxHandlerVersionBytes || projection.size() > kMaxProjectionBytes) {
    return bad_record("snapshot", "a field is over its bound");
  }
  snapshot.handler_version = std::string(version);
  snapshot.projection_schema = static_cast<uint32_t>(schema);
  snapshot.projection = std::string(projection);
  return snapshot;
}

std::string encode_idempotency(uint64_t seq) {
  std::string out;
  out.reserve(11);
  detail::write_array_header(out, 2);
  detail::write_uint(out, 2);
  detail::write_uint(out, seq);
  return out;
}

Result<StoredIdempotency> decode_idempotency(std::string_view bytes) {
  detail::CanonicalReader reader(bytes);
  StoredIdempotency record;
  uint32_t count = 0;
  uint64_t version = 0;
  if (!reader.read_array_header(count) || !reader.read_uint(version)) {
    return bad_record("idempotency", std::string("not [2, seq] or [1, seq, hash]: ") + reader.error());
  }
  if (version == 2 && count == 2) {
    if (!reader.read_uint(record.seq) || !reader.at_end()) {
      return bad_record("idempotency", std::string("not [2, seq]: ") + reader.error());
    }
  } else if (version == 1 && count == 3) {
    Hash hash{};
    if (!reader.read_uint(record.seq) || !read_hash(reader, hash) || !reader.at_end()) {
      return bad_record("idempotency", std::string("not [1, seq, hash]: ") + reader.error());
    }
    record.hash = hash;
  } else {
    return bad_record("idempotency", "version " + std::to_string(version) + " with " + std::to_string(count) +
                                         " fields (expected [2, seq] or [1, seq, hash])");
  }
  if (record.seq == 0) {
    return bad_record("idempotency", "seq 0");
  }
  return record;
}

}  // namespace layout
}  // namespace quorum::store
