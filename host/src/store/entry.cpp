#include <quorum/store/entry.hpp>

#include "canonical_msgpack.hpp"
#include "sha256.hpp"

#include <cstring>

namespace quorum::store {

namespace {

Error malformed(std::string what) { return make_error(ErrorCode::kInvalidArgument, "malformed entry: " + what); }

Status check_bounds(std::string_view id, std::string_view type, std::string_view payload) {
  if (id.size() > kMaxIdBytes) {
    return malformed("id is " + std::to_string(id.size()) + " bytes, over the bound of " + std::to_string(kMaxIdBytes));
  }
  if (type.empty()) {
    return malformed("type is empty");
  }
  if (type.size() > kMaxTypeBytes) {
    return malformed("type is " + std::to_string(type.size()) + " bytes, over the bound of " +
                     std::to_string(kMaxTypeBytes));
  }
  if (payload.size() > kMaxPayloadBytes) {
    return malformed("payload is " + std::to_string(payload.size()) + " bytes, over the bound of " +
                     std::to_string(kMaxPayloadBytes));
  }
  if (!detail::is_one_msgpack_value(payload)) {
    return malformed("payload is not exactly one msgpack value");
  }
  return {};
}

}  // namespace

Entry EntryView::to_entry() const {
  return Entry{seq, epoch, time_ms, std::string(id), std::string(type), std::string(payload), hash};
}

std::string encode_entry_body(int64_t time_ms, std::string_view id, std::string_view type,
                              std::string_view payload) {
  std::string body;
  body.reserve(1 + 9 + 5 + id.size() + 2 + type.size() + 5 + payload.size());
  detail::write_array_header(body, 4);
  detail::write_int(body, time_ms);
  detail::write_str(body, id);
  detail::write_str(body, type);
  detail::write_bin(body, payload);
  return body;
}

Hash entry_hash(const Hash& prev_hash, uint64_t seq, uint64_t epoch, std::string_view body) noexcept {
  char numbers[16];
  for (int i = 0; i < 8; ++i) {
    numbers[i] = static_cast<char>(seq >> (56 - 8 * i));
    numbers[8 + i] = static_cast<char>(epoch >> (56 - 8 * i));
  }
  detail::Sha256 sha;
  sha.update(std::string_view(reinterpret_cast<const char*>(prev_hash.data()), prev_hash.size()));
  sha.update(std::string_view(numbers, sizeof(numbers)));
  sha.update(body);
  return sha.finish();
}

bool entry_hash_matches(const Hash& prev_hash, const EntryView& entry) noexcept {
  return entry_hash(prev_hash, entry.seq, entry.epoch, entry.body) == entry.hash;
}

Result<EncodedEntry> encode_entry(const Hash& prev_hash, const EntryDraft& draft) {
  if (draft.seq == 0) {
    return malformed("seq 0 (sequence numbers start at 1)");
  }
  if (Status bounds = check_bounds(draft.id, draft.type, draft.payload); !bounds.ok()) {
    return bounds.error();
  }
  std::string bytes;
  bytes.reserve(kEntryHeaderBytes + 24 + draft.id.size() + draft.type.size() + draft.payload.size());
  bytes.push_back(static_cast<char>(kEntryFormatVersion));
  detail::put_be64(bytes, draft.seq);
  detail::put_be64(bytes, draft.epoch);
  bytes.append(32, '\0');
  detail::write_array_header(bytes, 4);
  detail::write_int(bytes, draft.time_ms);
  detail::write_str(bytes, draft.id);
  detail::write_str(bytes, draft.type);
  detail::write_bin(bytes, draft.payload);
  const std::string_view body = std::string_view(bytes).substr(kEntryHeaderBytes);
  const Hash hash = entry_hash(prev_hash, draft.seq, draft.epoch, body);
  std::memcpy(bytes.data() + 17, hash.data(), hash.size());
  return EncodedEntry(std::move(bytes));
}

Result<EntryView> parse_entry(std::string_view bytes) {
  if (bytes.size() < kEntryHeaderBytes) {
    return malformed("truncated header (" + std::to_string(bytes.size()) + " bytes, need " +
                     std::to_string(kEntryHeaderBytes) + ")");
  }
  if (bytes.size() > kMaxEntryBytes) {
    return malformed(std::to_string(bytes.size()) + " bytes, over the bound of " + std::to_string(kMaxEntryBytes));
  }
  if (static_cast<uint8_t>(bytes[0]) != kEntryFormatVersion) {
    return malformed("unknown format version " + std::to_string(static_cast<uint8_t>(bytes[0])));
  }
  EntryView view;
  view.seq = detail::get_be64(bytes.data() + 1);
  view.epoch = detail::get_be64(bytes.data() + 9);
  std::memcpy(view.hash.data(), bytes.data() + 17, view.hash.size());
  view.body = bytes.substr(kEntryHeaderBytes);
  if (view.seq == 0) {
    return malformed("seq 0");
  }
  detail::CanonicalReader reader(view.body);
  uint32_t count = 0;
  if (!reader.read_array_header(count)) {
    return malformed(std::string("body: ") + reader.error());
  }
  if (count != 4) {
    return malformed("body has " + std::to_string(count) + " fields, expected 4");
  }
  if (!reader.read_int(view.time_ms)) {
    return malformed(std::string("time_ms: ") + reader.error());
  }
  if (!reader.read_str(view.id)) {
    return malformed(std::string("id: ") + reader.error());
  }
  if (!reader.read_str(view.type)) {
    return malformed(std::string("type: ") + reader.error());
  }
  if (!reader.read_bin(view.payload)) {
    return malformed(std::string("payload: ") + reader.error());
  }
  if (!reader.at_end()) {
    return malformed(std::to_string(view.body.size() - reader.position()) + " trailing bytes after the body");
  }
  if (Status bounds = check_bounds(view.id, view.type, view.payload); !bounds.ok()) {
    return bounds.error();
  }
  return view;
}

Result<Entry> decode_entry(std::string_view bytes) {
  Result<EntryView> view = parse_entry(bytes);
  if (!view.ok()) {
    return view.error();
  }
  return view->to_entry();
}

Result<EncodedEntry> EncodedEntry::from_bytes(std::string bytes) {
  if (Result<EntryView> view = parse_entry(bytes); !view.ok()) {
    return view.error();
  }
  return EncodedEntry(std::move(bytes));
}

uint64_t EncodedEntry::seq() const noexcept { return detail::get_be64(bytes_.data() + 1); }
uint64_t EncodedEntry::epoch() const noexcept { return detail::get_be64(bytes_.data() + 9); }
Hash EncodedEntry::hash() const noexcept {
  Hash hash;
  std::memcpy(hash.data(), bytes_.data() + 17, hash.size());
  return hash;
}
std::string_view EncodedEntry::body() const noexcept { return std::string_view(bytes_).substr(kEntryHeaderBytes); }

EntryView EncodedEntry::view() const {
  Result<EntryView> view = parse_entry(bytes_);
  QUORUM_ASSERT(view.ok());
  return *view;
}

std::string to_hex(const Hash& hash) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (uint8_t byte : hash) {
    hex.push_back(digits[byte >> 4]);
    hex.push_back(digits[byte & 0x0f]);
  }
  return hex;
}

}  // namespace quorum::store
