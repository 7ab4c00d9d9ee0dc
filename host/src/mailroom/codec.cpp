#include <quorum/mailroom/codec.hpp>

#include <zstd.h>
#include <msgpack.hpp>

#include <cstring>
#include <exception>

namespace quorum::mailroom {
namespace {

// msgpack-cxx packer sink that appends to a std::string.
struct StringSink {
  std::string* out;
  void write(const char* data, size_t size) { out->append(data, size); }
};

Error bad(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }

// A strict reader of canonical msgpack over a byte range; every read checks
// the remaining length first.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : data_(bytes) {}
  size_t position() const { return position_; }
  bool at_end() const { return position_ == data_.size(); }

  bool read_bytes(size_t count, std::string_view& out) {
    if (data_.size() - position_ < count) {
      return false;
    }
    out = data_.substr(position_, count);
    position_ += count;
    return true;
  }
  bool read_be(size_t count, uint64_t& value) {
    std::string_view raw;
    if (!read_bytes(count, raw)) {
      return false;
    }
    value = 0;
    for (char c : raw) {
      value = (value << 8) | static_cast<uint8_t>(c);
    }
    return true;
  }
  bool read_tag(uint8_t& tag) {
    if (at_end()) {
      return false;
    }
    tag = static_cast<uint8_t>(data_[position_++]);
    return true;
  }

  // Canonical array header.
  Result<uint32_t> array_header() {
    uint8_t tag = 0;
    if (!read_tag(tag)) {
      return bad("truncated array header");
    }
    uint64_t count = 0;
    if ((tag & 0xf0) == 0x90) {
      return static_cast<uint32_t>(tag & 0x0f);
    }
    if (tag == 0xdc) {
      if (!read_be(2, count)) {
        return bad("truncated array header");
      }
      if (count < 16) {
        return bad("non-canonical array header");
      }
    } else if (tag == 0xdd) {
      if (!read_be(4, count)) {
        return bad("truncated array header");
      }
      if (count < 65536) {
        return bad("non-canonical array header");
      }
    } else {
      return bad("expected an array");
    }
    return static_cast<uint32_t>(count);
  }

  // Canonical unsigned integer at most `max`.
  Result<uint64_t> read_uint(uint64_t max, const char* what) {
    uint8_t tag = 0;
    if (!read_tag(tag)) {
      return bad(std::string("truncated ") + what);
    }
    uint64_t value = 0;
    uint64_t minimum = 0;
    if (tag < 0x80) {
      value = tag;
    } else if (tag >= 0xcc && tag <= 0xcf) {
      const size_t width = size_t{1} << (tag - 0xcc);
      if (!read_be(width, value)) {
        return bad(std::string("truncated ") + what);
      }
      minimum = width == 1 ? 0x80 : (uint64_t{1} << (width * 4));
      if (value < minimum) {
        return bad(std::string("non-canonical ") + what);
      }
    } else {
      return bad(std::string(what) + " is not an unsigned integer");
    }
    if (value > max) {
      return bad(std::string(what) + " out of range");
    }
    return value;
  }

  // Canonical str (binary = false) or bin (binary = true).
  Result<std::string_view> read_str_or_bin(bool binary, const char* what) {
    uint8_t tag = 0;
    if (!read_tag(tag)) {
      return bad(std::string("truncated ") + what);
    }
    uint64_t length = 0;
    size_t width = 0;
    if (!binary && (tag & 0xe0) == 0xa0) {
      length = tag & 0x1f;
    } else if (tag == (binary ? 0xc4 : 0xd9)) {
      width = 1;
    } else if (tag == (binary ? 0xc5 : 0xda)) {
      width = 2;
    } else if (tag == (binary ? 0xc6 : 0xdb)) {
      width = 4;
    } else {
      return bad(std::string(what) + (binary ? " is not bin" : " is not str"));
    }
    if (width != 0) {
      if (!read_be(width, length)) {
        return bad(std::string("truncated ") + what);
      }
      const uint64_t minimum = width == 1 ? (binary ? 0 : 32) : (uint64_t{1} << ((width / 2) * 8));
      if (length < minimum) {
        return bad(std::string("non-canonical ") + what + " length");
      }
    }
    std::string_view out;
    if (!read_bytes(length, out)) {
      return bad(std::string("truncated ") + what);
    }
    return out;
  }

 private:
  std::string_view data_;
  size_t position_ = 0;
};

}  // namespace

void append_frame(std::string& out, const Frame& frame) {
  StringSink sink{&out};
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(6);
  packer.pack_uint8(frame.kind);
  packer.pack_uint64(frame.correlation);
  packer.pack_uint8(frame.hops);
  packer.pack_uint64(frame.epoch);
  packer.pack_str(static_cast<uint32_t>(frame.key.size()));
  packer.pack_str_body(frame.key.data(), static_cast<uint32_t>(frame.key.size()));
  packer.pack_bin(static_cast<uint32_t>(frame.body.size()));
  packer.pack_bin_body(frame.body.data(), static_cast<uint32_t>(frame.body.size()));
}

size_t encoded_frame_size(const Frame& frame) {
  auto uint_size = [](uint64_t v) -> size_t {
    return v < 0x80 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffULL ? 5 : 9;
  };
  auto str_size = [](size_t n) -> size_t { return n < 32 ? 1 + n : n < 256 ? 2 + n : n < 65536 ? 3 + n : 5 + n; };
  auto bin_size = [](size_t n) -> size_t { return n < 256 ? 2 + n : n < 65536 ? 3 + n : 5 + n; };
  return 1 + uint_size(frame.kind) + uint_size(frame.correlation) + uint_size(frame.hops) + uint_size(frame.epoch) +
         str_size(frame.key.size()) + bin_size(frame.body.size());
}

void append_array_header(std::string& out, uint32_t count) {
  StringSink sink{&out};
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(count);
}

std::string encode_payload(std::span<const Frame> frames) {
  std::string out;
  append_array_header(out, static_cast<uint32_t>(frames.size()));
  for (const Frame& frame : frames) {
    append_frame(out, frame);
  }
  return out;
}

Result<std::vector<Frame>> decode_payload(std::string_view payload, size_t max_frame_bytes) {
  Reader reader(payload);
  Result<uint32_t> count = reader.array_header();
  if (!count.ok()) {
    return count.error();
  }
  // Each frame takes at least 8 bytes: refuse counts the input cannot hold
  // before reserving anything.
  if (*count > (payload.size() - reader.position()) / 8) {
    return bad("bundle declares " + std::to_string(*count) + " frames in " + std::to_string(payload.size()) + " bytes");
  }
  std::vector<Frame> frames;
  frames.reserve(*count);
  for (uint32_t n = 0; n < *count; ++n) {
    const size_t start = reader.position();
    Result<uint32_t> fields = reader.array_header();
    if (!fields.ok()) {
      return fields.error();
    }
    if (*fields != 6) {
      return bad("a frame has " + std::to_string(*fields) + " fields, expected 6");
    }
    Frame frame;
    Result<uint64_t> kind = reader.read_uint(0xff, "kind");
    if (!kind.ok()) {
      return kind.error();
    }
    Result<uint64_t> correlation = reader.read_uint(UINT64_MAX, "correlation");
    if (!correlation.ok()) {
      return correlation.error();
    }
    Result<uint64_t> hops = reader.read_uint(0xff, "hops");
    if (!hops.ok()) {
      return hops.error();
    }
    Result<uint64_t> epoch = reader.read_uint(UINT64_MAX, "epoch");
    if (!epoch.ok()) {
      return epoch.error();
    }
    Result<std::string_view> key = reader.read_str_or_bin(false, "key");
    if (!key.ok()) {
      return key.error();
    }
    Result<std::string_view> body = reader.read_str_or_bin(true, "body");
    if (!body.ok()) {
      return body.error();
    }
    const size_t size = reader.position() - start;
    if (size > max_frame_bytes) {
      return bad("frame of " + std::to_string(size) + " bytes over the limit of " + std::to_string(max_frame_bytes));
    }
    frame.kind = static_cast<uint8_t>(*kind);
    frame.correlation = *correlation;
    frame.hops = static_cast<uint8_t>(*hops);
    frame.epoch = *epoch;
    frame.key.assign(key->data(), key->size());
    frame.body.assign(body->data(), body->size());
    frames.push_back(std::move(frame));
  }
  if (!reader.at_end()) {
    return bad(std::to_string(payload.size() - reader.position()) + " bytes after the last frame");
  }
  return frames;
}

void append_bundle_header(std::string& out, BundleHeader header) {
  const char bytes[kBundleHeaderBytes] = {static_cast<char>(header.length >> 24),
                                          static_cast<char>(header.length >> 16), static_cast<char>(header.length >> 8),
                                          static_cast<char>(header.length), static_cast<char>(header.flags)};
  out.append(bytes, kBundleHeaderBytes);
}

Result<BundleHeader> parse_bundle_header(std::string_view header, size_t max_payload_bytes) {
  if (header.size() != kBundleHeaderBytes) {
    return bad("truncated bundle header");
  }
  BundleHeader parsed;
  for (size_t n = 0; n < 4; ++n) {
    parsed.length = (parsed.length << 8) | static_cast<uint8_t>(header[n]);
  }
  parsed.flags = static_cast<uint8_t>(header[4]);
  if ((parsed.flags & ~kFlagZstd) != 0) {
    return bad("unknown bundle flags " + std::to_string(parsed.flags));
  }
  if (parsed.length > max_payload_bytes) {
    return bad("bundle of " + std::to_string(parsed.length) + " bytes over the limit of " +
               std::to_string(max_payload_bytes));
  }
  return parsed;
}

std::string encode_bundle(std::span<const Frame> frames, size_t compress_min_bytes) {
  std::string payload = encode_payload(frames);
  uint8_t flags = 0;
  if (compress_min_bytes != 0 && payload.size() >= compress_min_bytes) {
    Result<std::string> compressed = zstd_compress(payload);
    if (compressed.ok() && compressed->size() < payload.size()) {
      payload = std::move(*compressed);
      flags = kFlagZstd;
    }
  }
  std::string out;
  out.reserve(kBundleHeaderBytes + payload.size());
  append_bundle_header(out, BundleHeader{static_cast<uint32_t>(payload.size()), flags});
  out += payload;
  return out;
}

Result<std::vector<Frame>> decode_bundle_payload(std::string_view payload, uint8_t flags, size_t max_payload_bytes,
                                                 size_t max_frame_bytes) {
  if ((flags & ~kFlagZstd) != 0) {
    return bad("unknown bundle flags " + std::to_string(flags));
  }
  if ((flags & kFlagZstd) == 0) {
    return decode_payload(payload, max_frame_bytes);
  }
  Result<std::string> plain = zstd_decompress(payload, max_payload_bytes);
  if (!plain.ok()) {
    return plain.error();
  }
  return decode_payload(*plain, max_frame_bytes);
}

Result<std::string> zstd_compress(std::string_view input) {
  std::string out(ZSTD_compressBound(input.size()), '\0');
  const size_t size = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), 1);
  if (ZSTD_isError(size) != 0) {
    return make_error(ErrorCode::kInvalidArgument, std::string("zstd: ") + ZSTD_getErrorName(size));
  }
  out.resize(size);
  return out;
}

Result<std::string> zstd_decompress(std::string_view input, size_t max_output_bytes) {
  const unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return bad("not a zstd frame");
  }
  if (declared == ZSTD_CONTENTSIZE_UNKNOWN) {
    return bad("zstd frame without a content size");
  }
  if (declared > max_output_bytes) {
    return bad("zstd frame of " + std::to_string(declared) + " bytes over the limit of " +
               std::to_string(max_output_bytes));
  }
  std::string out(static_cast<size_t>(declared), '\0');
  const size_t size = ZSTD_decompress(out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(size) != 0) {
    return bad(std::string("zstd: ") + ZSTD_getErrorName(size));
  }
  if (size != declared) {
    return bad("zstd frame shorter than declared");
  }
  return out;
}

std::string encode_handshake(const Handshake& handshake) {
  std::string payload;
  StringSink sink{&payload};
  msgpack::packer<StringSink> packer(sink);
  packer.pack_map(3);
  packer.pack(std::string_view("version"));
  packer.pack_uint32(handshake.version);
  packer.pack(std::string_view("node"));
  packer.pack(handshake.node);
  packer.pack(std::string_view("epoch"));
  packer.pack_uint64(handshake.epoch);
  std::string out;
  append_bundle_header(out, BundleHeader{static_cast<uint32_t>(payload.size()), 0});
  out += payload;
  return out;
}

Result<Handshake> decode_handshake(std::string_view payload) {
  if (payload.size() > kMaxHandshakeBytes) {
    return bad("handshake of " + std::to_string(payload.size()) + " bytes over the limit");
  }
  try {
    msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::MAP) {
      return bad("handshake is not a map");
    }
    Handshake handshake;
    bool have_version = false;
    bool have_node = false;
    for (uint32_t n = 0; n < root.via.map.size; ++n) {
      const msgpack::object_kv& entry = root.via.map.ptr[n];
      if (entry.key.type != msgpack::type::STR) {
        continue;
      }
      const std::string_view name(entry.key.via.str.ptr, entry.key.via.str.size);
      if (name == "version") {
        handshake.version = entry.val.as<uint32_t>();
        have_version = true;
      } else if (name == "node") {
        handshake.node = entry.val.as<std::string>();
        have_node = true;
      } else if (name == "epoch") {
        handshake.epoch = entry.val.as<uint64_t>();
      }
    }
    if (!have_version || !have_node) {
      return bad("handshake without version or node");
    }
    if (handshake.node.empty()) {
      return bad("handshake with an empty node name");
    }
    return handshake;
  } catch (const std::exception& error) {
    return bad(std::string("undecodable handshake: ") + error.what());
  }
}

}  // namespace quorum::mailroom
