#include <quorum/router/messages.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <exception>
#include <utility>

namespace quorum::router {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void pack_str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

std::string take(msgpack::sbuffer& buffer) { return std::string(buffer.data(), buffer.size()); }

Error malformed(std::string_view what) {
  return Error{ErrorCode::kInvalidArgument, "malformed router message: " + std::string(what)};
}

// A decoded body: the top-level array and its fields, checked one by one.
class Reader {
 public:
  static Result<Reader> open(std::string_view body, std::string_view what) {
    Reader reader;
    try {
      // No honest container declares more elements than the body has bytes.
      const size_t n = body.size();
      reader.handle_ = msgpack::unpack(body.data(), n, nullptr, nullptr,
                                       msgpack::unpack_limit(n, n, n, n, n, 8));
    } catch (const std::exception& e) {
      return malformed(std::string(what) + ": " + e.what());
    }
    const msgpack::object& root = reader.handle_.get();
    if (root.type != msgpack::type::ARRAY) {
      return malformed(std::string(what) + ": not an array");
    }
    reader.items_ = root.via.array.ptr;
    reader.size_ = root.via.array.size;
    reader.what_ = what;
    return reader;
  }

  size_t size() const noexcept { return size_; }
  const msgpack::object& at(size_t i) const { return items_[i]; }

  bool str(size_t i, std::string& out) const { return str_of(items_[i], out); }
  bool u64(size_t i, uint64_t& out) const { return u64_of(items_[i], out); }

  static bool str_of(const msgpack::object& o, std::string& out) {
    if (o.type == msgpack::type::STR) {
      out.assign(o.via.str.ptr, o.via.str.size);
      return true;
    }
    if (o.type == msgpack::type::BIN) {
      out.assign(o.via.bin.ptr, o.via.bin.size);
      return true;
    }
    return false;
  }
  static bool u64_of(const msgpack::object& o, uint64_t& out) {
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      return false;
    }
    out = o.via.u64;
    return true;
  }
  static bool i64_of(const msgpack::object& o, int64_t& out) {
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) {
        return false;
      }
      out = static_cast<int64_t>(o.via.u64);
      return true;
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
      out = o.via.i64;
      return true;
    }
    return false;
  }

  Error bad(std::string_view field) const { return malformed(what_ + ": bad " + std::string(field)); }

 private:
  msgpack::object_handle handle_;
  const msgpack::object* items_ = nullptr;
  size_t size_ = 0;
  std::string what_;
};

// Replies are [0, value...] or [1, code, message].
void pack_error(Packer& p, const Error& error) {
  p.pack_array(3);
  p.pack_uint8(1);
  p.pack_uint8(static_cast<uint8_t>(error.code));
  pack_str(p, error.message);
}

// Opens a reply: an Error for a malformed body or for the owner's error.
Result<Reader> open_reply(std::string_view body, std::string_view what) {
  auto reader = Reader::open(body, what);
  if (!reader) {
    return Error{ErrorCode::kUnavailable, reader.error().message};
  }
  uint64_t tag = 0;
  if (reader->size() < 1 || !reader->u64(0, tag) || tag > 1) {
    return Error{ErrorCode::kUnavailable, reader->bad("reply tag").message};
  }
  if (tag == 1) {
    uint64_t code = 0;
    std::string message;
    if (reader->size() != 3 || !reader->u64(1, code) || code > static_cast<uint64_t>(ErrorCode::kUnavailable) ||
        !reader->str(2, message)) {
      return Error{ErrorCode::kUnavailable, reader->bad("error reply").message};
    }
    return Error{static_cast<ErrorCode>(code), std::move(message)};
  }
  return reader;
}

// A reply: the owner's error, or [0, value fields...] packed by `pack_value`.
template <class T, class PackValue>
std::string encode_reply(const Result<T>& reply, PackValue pack_value) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  if (reply.ok()) {
    pack_value(p, *reply);
  } else {
    pack_error(p, reply.error());
  }
  return take(buffer);
}

void pack_projection(Packer& p, const node::ActorView::Projection& projection) {
  p.pack_array(4);
  pack_str(p, projection.handler);
  pack_str(p, projection.version);
  p.pack_uint32(projection.projection_schema);
  pack_bin(p, projection.bytes);
}

void pack_entry(Packer& p, const node::LogEntryView& e) {
  p.pack_array(8);
  p.pack_uint64(e.seq);
  p.pack_uint64(e.epoch);
  p.pack_int64(e.time_ms);
  pack_str(p, e.id);
  pack_str(p, e.type);
  pack_bin(p, e.payload);
  pack_str(p, e.hash_hex);
  pack_str(p, e.prev_hash_hex);
}

bool unpack_entry(const msgpack::object& o, node::LogEntryView& e) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 8) {
    return false;
  }
  const msgpack::object* f = o.via.array.ptr;
  return Reader::u64_of(f[0], e.seq) && Reader::u64_of(f[1], e.epoch) && Reader::i64_of(f[2], e.time_ms) &&
         Reader::str_of(f[3], e.id) && Reader::str_of(f[4], e.type) && Reader::str_of(f[5], e.payload) &&
         Reader::str_of(f[6], e.hash_hex) && Reader::str_of(f[7], e.prev_hash_hex);
}

}  // namespace

std::string encode(const CommandRequest& request) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(5);
  pack_str(p, request.origin);
  pack_str(p, request.command.key);
  pack_str(p, request.command.id);
  pack_str(p, request.command.type);
  pack_bin(p, request.command.data);
  return take(buffer);
}

Result<CommandRequest> decode_command_request(std::string_view body) {
  auto reader = Reader::open(body, "command request");
  if (!reader) {
    return reader.error();
  }
  CommandRequest request;
  if (reader->size() != 5) {
    return reader->bad("field count");
  }
  if (!reader->str(0, request.origin) || !reader->str(1, request.command.key) ||
      !reader->str(2, request.command.id) || !reader->str(3, request.command.type) ||
      !reader->str(4, request.command.data)) {
    return reader->bad("field");
  }
  return request;
}

std::string encode(const ReadRequest& request) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(4);
  pack_str(p, request.origin);
  pack_str(p, request.key);
  p.pack_uint64(request.from);
  p.pack_uint64(request.limit);
  return take(buffer);
}

Result<ReadRequest> decode_read_request(std::string_view body) {
  auto reader = Reader::open(body, "read request");
  if (!reader) {
    return reader.error();
  }
  ReadRequest request;
  if (reader->size() != 4 || !reader->str(0, request.origin) || !reader->str(1, request.key) ||
      !reader->u64(2, request.from) || !reader->u64(3, request.limit)) {
    return reader->bad("field");
  }
  return request;
}

std::string encode(const Result<node::CommandReceipt>& reply) {
  return encode_reply(reply, [](Packer& p, const node::CommandReceipt& receipt) {
    p.pack_array(5);
    p.pack_uint8(0);
    pack_str(p, receipt.key);
    p.pack_uint64(receipt.seq);
    pack_str(p, receipt.hash_hex);
    if (receipt.duplicate) {
      p.pack_true();
    } else {
      p.pack_false();
    }
  });
}

Result<node::CommandReceipt> decode_command_reply(std::string_view body) {
  auto reader = open_reply(body, "command reply");
  if (!reader) {
    return reader.error();
  }
  node::CommandReceipt receipt;
  if (reader->size() != 5 || !reader->str(1, receipt.key) || !reader->u64(2, receipt.seq) ||
      !reader->str(3, receipt.hash_hex) || reader->at(4).type != msgpack::type::BOOLEAN) {
    return Error{ErrorCode::kUnavailable, reader->bad("receipt").message};
  }
  receipt.duplicate = reader->at(4).via.boolean;
  return receipt;
}

std::string encode(const Result<node::ActorView>& reply) {
  return encode_reply(reply, [](Packer& p, const node::ActorView& view) {
    p.pack_array(5);
    p.pack_uint8(0);
    pack_str(p, view.key);
    p.pack_uint64(view.seq);
    pack_str(p, view.head_hex);
    p.pack_array(static_cast<uint32_t>(view.projections.size()));
    for (const auto& projection : view.projections) {
      pack_projection(p, projection);
    }
  });
}

Result<node::ActorView> decode_actor_reply(std::string_view body) {
  auto reader = open_reply(body, "actor reply");
  if (!reader) {
    return reader.error();
  }
  node::ActorView view;
  if (reader->size() != 5 || !reader->str(1, view.key) || !reader->u64(2, view.seq) ||
      !reader->str(3, view.head_hex) || reader->at(4).type != msgpack::type::ARRAY) {
    return Error{ErrorCode::kUnavailable, reader->bad("actor view").message};
  }
  const auto& list = reader->at(4).via.array;
  view.projections.reserve(list.size);
  for (uint32_t i = 0; i < list.size; ++i) {
    const msgpack::object& o = list.ptr[i];
    node::ActorView::Projection projection;
    uint64_t schema = 0;
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 4 ||
        !Reader::str_of(o.via.array.ptr[0], projection.handler) ||
        !Reader::str_of(o.via.array.ptr[1], projection.version) || !Reader::u64_of(o.via.array.ptr[2], schema) ||
        schema > UINT32_MAX || !Reader::str_of(o.via.array.ptr[3], projection.bytes)) {
      return Error{ErrorCode::kUnavailable, reader->bad("projection").message};
    }
    projection.projection_schema = static_cast<uint32_t>(schema);
    view.projections.push_back(std::move(projection));
  }
  return view;
}

std::string encode(const Result<std::vector<node::LogEntryView>>& reply) {
  return encode_reply(reply, [](Packer& p, const std::vector<node::LogEntryView>& entries) {
    p.pack_array(2);
    p.pack_uint8(0);
    p.pack_array(static_cast<uint32_t>(entries.size()));
    for (const auto& entry : entries) {
      pack_entry(p, entry);
    }
  });
}

Result<std::vector<node::LogEntryView>> decode_log_reply(std::string_view body) {
  auto reader = open_reply(body, "log reply");
  if (!reader) {
    return reader.error();
  }
  if (reader->size() != 2 || reader->at(1).type != msgpack::type::ARRAY) {
    return Error{ErrorCode::kUnavailable, reader->bad("entries").message};
  }
  const auto& list = reader->at(1).via.array;
  std::vector<node::LogEntryView> entries(list.size);
  for (uint32_t i = 0; i < list.size; ++i) {
    if (!unpack_entry(list.ptr[i], entries[i])) {
      return Error{ErrorCode::kUnavailable, reader->bad("entry").message};
    }
  }
  return entries;
}

std::string encode(const Result<node::KeyPoint>& reply) {
  return encode_reply(reply, [](Packer& p, const node::KeyPoint& point) {
    p.pack_array(3);
    p.pack_uint8(0);
    p.pack_uint64(point.seq);
    pack_bin(p, std::string_view(reinterpret_cast<const char*>(point.head.data()), point.head.size()));
  });
}

Result<node::KeyPoint> decode_point_reply(std::string_view body) {
  auto reader = open_reply(body, "hand-off point");
  if (!reader) {
    return reader.error();
  }
  node::KeyPoint point;
  std::string head;
  if (reader->size() != 3 || !reader->u64(1, point.seq) || !reader->str(2, head) || head.size() != point.head.size()) {
    return Error{ErrorCode::kUnavailable, reader->bad("point").message};
  }
  std::copy(head.begin(), head.end(), reinterpret_cast<char*>(point.head.data()));
  return point;
}

std::string encode(const Result<std::vector<std::string>>& reply) {
  return encode_reply(reply, [](Packer& p, const std::vector<std::string>& entries) {
    p.pack_array(2);
    p.pack_uint8(0);
    p.pack_array(static_cast<uint32_t>(entries.size()));
    for (const std::string& entry : entries) {
      pack_bin(p, entry);
    }
  });
}

Result<std::vector<std::string>> decode_entries_reply(std::string_view body) {
  auto reader = open_reply(body, "entries reply");
  if (!reader) {
    return reader.error();
  }
  if (reader->size() != 2 || reader->at(1).type != msgpack::type::ARRAY) {
    return Error{ErrorCode::kUnavailable, reader->bad("entries").message};
  }
  const auto& list = reader->at(1).via.array;
  std::vector<std::string> entries(list.size);
  for (uint32_t i = 0; i < list.size; ++i) {
    if (list.ptr[i].type != msgpack::type::BIN || list.ptr[i].via.bin.size > store::kMaxEntryBytes ||
        !Reader::str_of(list.ptr[i], entries[i])) {
      return Error{ErrorCode::kUnavailable, reader->bad("entry").message};
    }
  }
  return entries;
}

}  // namespace quorum::router
