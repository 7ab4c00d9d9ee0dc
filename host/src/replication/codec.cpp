#include <quorum/replication/codec.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <type_traits>

namespace quorum::replication {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Body kinds on the wire: the variant's index plus one (0 is never sent).
template <class T>
constexpr uint64_t kind_of() {
  if constexpr (std::is_same_v<T, Prepare>) return 1;
  else if constexpr (std::is_same_v<T, Promise>) return 2;
  else if constexpr (std::is_same_v<T, Append>) return 3;
  else if constexpr (std::is_same_v<T, AppendReply>) return 4;
  else if constexpr (std::is_same_v<T, Fetch>) return 5;
  else return 6;  // FetchReply
}

void pack_bytes(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_ballot(Packer& p, const Ballot& b) {
  p.pack_array(3);
  p.pack_uint64(b.topology);
  p.pack_uint32(b.round);
  p.pack_uint32(b.node);
}

void pack_hash(Packer& p, const store::Hash& h) {
  pack_bytes(p, std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

void pack_entries(Packer& p, const std::vector<store::EncodedEntry>& entries) {
  p.pack_array(static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    pack_bytes(p, e.bytes());
  }
}

// Field readers over one msgpack array; each returns false on a wrong type.
struct Fields {
  const msgpack::object* items = nullptr;
  size_t size = 0;
  size_t next = 0;
  bool ok = true;

  const msgpack::object* take() {
    if (next >= size) {
      ok = false;
      return nullptr;
    }
    return &items[next++];
  }
  uint64_t u64() {
    const msgpack::object* o = take();
    if (o == nullptr || o->type != msgpack::type::POSITIVE_INTEGER) {
      ok = false;
      return 0;
    }
    return o->via.u64;
  }
  uint32_t u32() {
    const uint64_t v = u64();
    if (v > UINT32_MAX) {
      ok = false;
    }
    return static_cast<uint32_t>(v);
  }
  bool boolean() {
    const msgpack::object* o = take();
    if (o == nullptr || o->type != msgpack::type::BOOLEAN) {
      ok = false;
      return false;
    }
    return o->via.boolean;
  }
  std::string_view bytes() {
    const msgpack::object* o = take();
    if (o == nullptr || (o->type != msgpack::type::BIN && o->type != msgpack::type::STR)) {
      ok = false;
      return {};
    }
    return o->type == msgpack::type::BIN ? std::string_view(o->via.bin.ptr, o->via.bin.size)
                                         : std::string_view(o->via.str.ptr, o->via.str.size);
  }
  store::Hash hash() {
    store::Hash h{};
    const std::string_view b = bytes();
    if (b.size() != h.size()) {
      ok = false;
      return h;
    }
    std::memcpy(h.data(), b.data(), h.size());
    return h;
  }
  Ballot ballot() {
    const msgpack::object* o = take();
    if (o == nullptr || o->type != msgpack::type::ARRAY || o->via.array.size != 3) {
      ok = false;
      return {};
    }
    Fields inner{o->via.array.ptr, 3};
    Ballot b{inner.u64(), inner.u32(), inner.u32()};
    ok = ok && inner.ok;
    return b;
  }
  // Entries must be valid stored entries with consecutive seqs.
  std::vector<store::EncodedEntry> entries() {
    std::vector<store::EncodedEntry> out;
    const msgpack::object* o = take();
    if (o == nullptr || o->type != msgpack::type::ARRAY || o->via.array.size > kMaxEntriesPerMessage) {
      ok = false;
      return out;
    }
    out.reserve(o->via.array.size);
    for (uint32_t i = 0; i < o->via.array.size && ok; ++i) {
      const msgpack::object& item = o->via.array.ptr[i];
      if (item.type != msgpack::type::BIN) {
        ok = false;
        break;
      }
      auto entry = store::EncodedEntry::from_bytes(std::string(item.via.bin.ptr, item.via.bin.size));
      if (!entry.ok() || (!out.empty() && entry->seq() != out.back().seq() + 1)) {
        ok = false;
        break;
      }
      out.push_back(std::move(entry).value());
    }
    return out;
  }
};

Error malformed(std::string_view what) {
  return Error{ErrorCode::kInvalidArgument, "malformed replication message: " + std::string(what)};
}

// Unpacks one top-level array, bounded by the input's own size.
Result<msgpack::object_handle> unpack_array(std::string_view bytes, std::string_view what) {
  msgpack::object_handle handle;
  try {
    const size_t n = bytes.size();
    size_t offset = 0;
    handle = msgpack::unpack(bytes.data(), n, offset, nullptr, nullptr, msgpack::unpack_limit(n, n, n, n, n, 8));
    if (offset != n) {
      return malformed(std::string(what) + ": trailing bytes");
    }
  } catch (const std::exception& e) {
    return malformed(std::string(what) + ": " + e.what());
  }
  if (handle.get().type != msgpack::type::ARRAY) {
    return malformed(std::string(what) + ": not an array");
  }
  return handle;
}

}  // namespace

std::string encode(const Envelope& envelope) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        size_t fields = 0;
        if constexpr (std::is_same_v<T, Prepare>) fields = 1;
        else if constexpr (std::is_same_v<T, Promise>) fields = 7;
        else if constexpr (std::is_same_v<T, Append>) fields = 6;
        else if constexpr (std::is_same_v<T, AppendReply>) fields = 6;
        else if constexpr (std::is_same_v<T, Fetch>) fields = 3;
        else fields = 4;
        p.pack_array(static_cast<uint32_t>(5 + fields));
        p.pack_uint8(kWireVersion);
        p.pack_uint64(kind_of<T>());
        pack_bytes(p, envelope.key);
        p.pack_uint32(envelope.from);
        p.pack_uint32(envelope.to);
        if constexpr (std::is_same_v<T, Prepare>) {
          pack_ballot(p, body.ballot);
        } else if constexpr (std::is_same_v<T, Promise>) {
          pack_ballot(p, body.ballot);
          p.pack(body.granted);
          pack_ballot(p, body.promised);
          pack_ballot(p, body.accepted);
          p.pack_uint64(body.vouched);
          pack_hash(p, body.vouched_hash);
          p.pack_uint64(body.commit);
        } else if constexpr (std::is_same_v<T, Append>) {
          pack_ballot(p, body.ballot);
          p.pack_uint64(body.base);
          p.pack_uint64(body.prev_seq);
          pack_hash(p, body.prev_hash);
          pack_entries(p, body.entries);
          p.pack_uint64(body.commit);
        } else if constexpr (std::is_same_v<T, AppendReply>) {
          pack_ballot(p, body.ballot);
          p.pack(body.ok);
          pack_ballot(p, body.promised);
          p.pack_uint64(body.match);
          p.pack_uint64(body.hint);
          p.pack_uint64(body.commit);
        } else if constexpr (std::is_same_v<T, Fetch>) {
          pack_ballot(p, body.ballot);
          p.pack_uint64(body.after);
          p.pack_uint64(body.upto);
        } else {
          pack_ballot(p, body.ballot);
          p.pack(body.ok);
          p.pack_uint64(body.after);
          pack_entries(p, body.entries);
        }
      },
      envelope.body);
  return std::string(buffer.data(), buffer.size());
}

Result<Envelope> decode_envelope(std::string_view bytes) {
  auto handle = unpack_array(bytes, "envelope");
  if (!handle.ok()) {
    return handle.error();
  }
  const msgpack::object& root = handle->get();
  Fields f{root.via.array.ptr, root.via.array.size};
  if (f.u64() != kWireVersion || !f.ok) {
    return malformed("unknown version");
  }
  const uint64_t kind = f.u64();
  Envelope e;
  const std::string_view key = f.bytes();
  if (!f.ok || key.empty() || key.size() > kMaxKeyBytes) {
    return malformed("key must be 1.." + std::to_string(kMaxKeyBytes) + " bytes");
  }
  e.key.assign(key);
  e.from = f.u32();
  e.to = f.u32();
  switch (kind) {
    case 1: e.body = Prepare{f.ballot()}; break;
    case 2: {
      Promise m;
      m.ballot = f.ballot();
      m.granted = f.boolean();
      m.promised = f.ballot();
      m.accepted = f.ballot();
      m.vouched = f.u64();
      m.vouched_hash = f.hash();
      m.commit = f.u64();
      e.body = m;
      break;
    }
    case 3: {
      Append m;
      m.ballot = f.ballot();
      m.base = f.u64();
      m.prev_seq = f.u64();
      m.prev_hash = f.hash();
      m.entries = f.entries();
      m.commit = f.u64();
      if (f.ok && !m.entries.empty() && m.entries.front().seq() != m.prev_seq + 1) {
        return malformed("append entries do not follow prev_seq");
      }
      e.body = std::move(m);
      break;
    }
    case 4: {
      AppendReply m;
      m.ballot = f.ballot();
      m.ok = f.boolean();
      m.promised = f.ballot();
      m.match = f.u64();
      m.hint = f.u64();
      m.commit = f.u64();
      e.body = m;
      break;
    }
    case 5: {
      Fetch m;
      m.ballot = f.ballot();
      m.after = f.u64();
      m.upto = f.u64();
      e.body = m;
      break;
    }
    case 6: {
      FetchReply m;
      m.ballot = f.ballot();
      m.ok = f.boolean();
      m.after = f.u64();
      m.entries = f.entries();
      if (f.ok && !m.entries.empty() && m.entries.front().seq() != m.after + 1) {
        return malformed("fetched entries do not follow `after`");
      }
      e.body = std::move(m);
      break;
    }
    default:
      return malformed("unknown kind " + std::to_string(kind));
  }
  if (!f.ok) {
    return malformed("wrong field types or count");
  }
  if (f.next != f.size) {
    return malformed("extra fields");
  }
  return e;
}

std::string encode(const Meta& meta) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(7);
  p.pack_uint8(kWireVersion);
  pack_ballot(p, meta.promised);
  pack_ballot(p, meta.accepted);
  p.pack_uint64(meta.vouched);
  p.pack_uint64(meta.last_seq);
  pack_hash(p, meta.head);
  p.pack_uint64(meta.commit);
  return std::string(buffer.data(), buffer.size());
}

Result<Meta> decode_meta(std::string_view bytes) {
  auto handle = unpack_array(bytes, "meta");
  if (!handle.ok()) {
    return handle.error();
  }
  const msgpack::object& root = handle->get();
  Fields f{root.via.array.ptr, root.via.array.size};
  if (f.u64() != kWireVersion || !f.ok) {
    return malformed("meta: unknown version");
  }
  Meta m;
  m.promised = f.ballot();
  m.accepted = f.ballot();
  m.vouched = f.u64();
  m.last_seq = f.u64();
  m.head = f.hash();
  m.commit = f.u64();
  if (!f.ok || f.next != f.size) {
    return malformed("meta: wrong fields");
  }
  if (m.commit > m.vouched || m.vouched > m.last_seq || m.accepted > m.promised) {
    return malformed("meta: commit <= vouched <= last_seq and accepted <= promised do not hold");
  }
  return m;
}

}  // namespace quorum::replication
