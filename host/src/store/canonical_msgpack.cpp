#include "canonical_msgpack.hpp"

#include <limits>

namespace quorum::store::detail {

namespace {

void put_byte(std::string& out, unsigned value) { out.push_back(static_cast<char>(static_cast<uint8_t>(value))); }

void put_be16(std::string& out, uint16_t value) {
  put_byte(out, value >> 8);
  put_byte(out, value & 0xff);
}

uint8_t byte_at(const char* bytes, size_t i) noexcept { return static_cast<uint8_t>(bytes[i]); }

void write_length_prefixed(std::string& out, std::string_view value, uint8_t tag_8, uint8_t tag_16, uint8_t tag_32,
                           bool has_fix, uint8_t fix_base, size_t fix_max) {
  const size_t size = value.size();
  if (has_fix && size <= fix_max) {
    put_byte(out, fix_base | static_cast<unsigned>(size));
  } else if (size <= 0xff) {
    put_byte(out, tag_8);
    put_byte(out, static_cast<unsigned>(size));
  } else if (size <= 0xffff) {
    put_byte(out, tag_16);
    put_be16(out, static_cast<uint16_t>(size));
  } else {
    put_byte(out, tag_32);
    put_be32(out, static_cast<uint32_t>(size));
  }
  out.append(value);
}

}  // namespace

void put_be64(std::string& out, uint64_t value) {
  char bytes[8];
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out.append(bytes, 8);
}

void put_be32(std::string& out, uint32_t value) {
  char bytes[4];
  for (int i = 3; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out.append(bytes, 4);
}

uint64_t get_be64(const char* bytes) noexcept {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) {
    value = (value << 8) | byte_at(bytes, i);
  }
  return value;
}

uint32_t get_be32(const char* bytes) noexcept {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) {
    value = (value << 8) | byte_at(bytes, i);
  }
  return value;
}

void write_uint(std::string& out, uint64_t value) {
  if (value < 0x80) {
    put_byte(out, static_cast<unsigned>(value));
  } else if (value <= 0xff) {
    put_byte(out, 0xcc);
    put_byte(out, static_cast<unsigned>(value));
  } else if (value <= 0xffff) {
    put_byte(out, 0xcd);
    put_be16(out, static_cast<uint16_t>(value));
  } else if (value <= 0xffffffffu) {
    put_byte(out, 0xce);
    put_be32(out, static_cast<uint32_t>(value));
  } else {
    put_byte(out, 0xcf);
    put_be64(out, value);
  }
}

void write_int(std::string& out, int64_t value) {
  if (value >= 0) {
    write_uint(out, static_cast<uint64_t>(value));
  } else if (value >= -32) {
    put_byte(out, static_cast<uint8_t>(static_cast<int8_t>(value)));
  } else if (value >= -128) {
    put_byte(out, 0xd0);
    put_byte(out, static_cast<uint8_t>(static_cast<int8_t>(value)));
  } else if (value >= -32768) {
    put_byte(out, 0xd1);
    put_be16(out, static_cast<uint16_t>(static_cast<int16_t>(value)));
  } else if (value >= std::numeric_limits<int32_t>::min()) {
    put_byte(out, 0xd2);
    put_be32(out, static_cast<uint32_t>(static_cast<int32_t>(value)));
  } else {
    put_byte(out, 0xd3);
    put_be64(out, static_cast<uint64_t>(value));
  }
}

void write_str(std::string& out, std::string_view value) {
  write_length_prefixed(out, value, 0xd9, 0xda, 0xdb, true, 0xa0, 31);
}

void write_bin(std::string& out, std::string_view value) {
  write_length_prefixed(out, value, 0xc4, 0xc5, 0xc6, false, 0, 0);
}

void write_array_header(std::string& out, uint32_t count) {
  if (count < 16) {
    put_byte(out, 0x90 | count);
  } else if (count <= 0xffff) {
    put_byte(out, 0xdc);
    put_be16(out, static_cast<uint16_t>(count));
  } else {
    put_byte(out, 0xdd);
    put_be32(out, count);
  }
}

bool CanonicalReader::take(size_t count, const char*& start) noexcept {
  if (bytes_.size() - position_ < count) {
    return fail("truncated msgpack value");
  }
  start = bytes_.data() + position_;
  position_ += count;
  return true;
}

bool CanonicalReader::read_uint(uint64_t& value) {
  const char* p = nullptr;
  if (!take(1, p)) {
    return false;
  }
  const uint8_t tag = byte_at(p, 0);
  if (tag < 0x80) {
    value = tag;
    return true;
  }
  size_t width = 0;
  uint64_t minimum = 0;
  switch (tag) {
    case 0xcc: width = 1; minimum = 0x80; break;
    case 0xcd: width = 2; minimum = 0x100; break;
    case 0xce: width = 4; minimum = 0x10000; break;
    case 0xcf: width = 8; minimum = 0x100000000ull; break;
    default: return fail("expected an unsigned integer");
  }
  if (!take(width, p)) {
    return false;
  }
  value = 0;
  for (size_t i = 0; i < width; ++i) {
    value = (value << 8) | byte_at(p, i);
  }
  if (value < minimum) {
    return fail("integer not in its shortest encoding");
  }
  return true;
}

bool CanonicalReader::read_int(int64_t& value) {
  if (position_ >= bytes_.size()) {
    return fail("truncated msgpack value");
  }
  const uint8_t tag = byte_at(bytes_.data(), position_);
  if (tag < 0x80 || (tag >= 0xcc && tag <= 0xcf)) {
    uint64_t unsigned_value = 0;
    if (!read_uint(unsigned_value)) {
      return false;
    }
    if (unsigned_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail("integer out of int64 range");
    }
    value = static_cast<int64_t>(unsigned_value);
    return true;
  }
  const char* p = nullptr;
  (void)take(1, p);
  if (tag >= 0xe0) {
    value = static_cast<int8_t>(tag);
    return true;
  }
  size_t width = 0;
  int64_t upper = 0;  // the value must be below this, or a shorter form exists
  switch (tag) {
    case 0xd0: width = 1; upper = -32; break;
    case 0xd1: width = 2; upper = -128; break;
    case 0xd2: width = 4; upper = -32768; break;
    case 0xd3: width = 8; upper = std::numeric_limits<int32_t>::min(); break;
    default: return fail("expected an integer");
  }
  if (!take(width, p)) {
    return false;
  }
  uint64_t raw = 0;
  for (size_t i = 0; i < width; ++i) {
    raw = (raw << 8) | byte_at(p, i);
  }
  switch (width) {
    case 1: value = static_cast<int8_t>(raw); break;
    case 2: value = static_cast<int16_t>(raw); break;
    case 4: value = static_cast<int32_t>(raw); break;
    default: value = static_cast<int64_t>(raw); break;
  }
  if (value >= upper) {
    return fail("integer not in its shortest encoding");
  }
  return true;
}

bool CanonicalReader::read_length_prefixed(uint8_t tag_8, uint8_t tag_16, uint8_t tag_32, uint8_t fix_base,
                                           uint32_t fix_max, std::string_view& value, const char* what) {
  const char* p = nullptr;
  if (!take(1, p)) {
    return false;
  }
  const uint8_t tag = byte_at(p, 0);
  uint32_t size = 0;
  uint32_t minimum = 0;
  if (fix_max > 0 && tag >= fix_base && tag <= fix_base + fix_max) {
    size = tag - fix_base;
  } else if (tag == tag_8) {
    if (!take(1, p)) {
      return false;
    }
    size = byte_at(p, 0);
    minimum = fix_max > 0 ? fix_max + 1 : 0;
  } else if (tag == tag_16) {
    if (!take(2, p)) {
      return false;
    }
    size = (uint32_t{byte_at(p, 0)} << 8) | byte_at(p, 1);
    minimum = 0x100;
  } else if (tag == tag_32) {
    if (!take(4, p)) {
      return false;
    }
    size = get_be32(p);
    minimum = 0x10000;
  } else {
    return fail(what);
  }
  if (size < minimum) {
    return fail("length not in its shortest encoding");
  }
  if (!take(size, p)) {
    return false;
  }
  value = std::string_view(p, size);
  return true;
}

bool CanonicalReader::read_str(std::string_view& value) {
  return read_length_prefixed(0xd9, 0xda, 0xdb, 0xa0, 31, value, "expected a string");
}

bool CanonicalReader::read_bin(std::string_view& value) {
  return read_length_prefixed(0xc4, 0xc5, 0xc6, 0, 0, value, "expected binary bytes");
}

bool CanonicalReader::read_array_header(uint32_t& count) {
  const char* p = nullptr;
  if (!take(1, p)) {
    return false;
  }
  const uint8_t tag = byte_at(p, 0);
  if (tag >= 0x90 && tag <= 0x9f) {
    count = tag & 0x0f;
    return true;
  }
  if (tag == 0xdc) {
    if (!take(2, p)) {
      return false;
    }
    count = (uint32_t{byte_at(p, 0)} << 8) | byte_at(p, 1);
    return count >= 16 ? true : fail("array length not in its shortest encoding");
  }
  if (tag == 0xdd) {
    if (!take(4, p)) {
      return false;
    }
    count = get_be32(p);
    return count > 0xffff ? true : fail("array length not in its shortest encoding");
  }
  return fail("expected an array");
}

namespace {

// Walks one value starting at `position`; advances it. Each element takes at
// least one byte, so a lying count runs out of input instead of looping long.
bool skip_value(std::string_view bytes, size_t& position, int depth) noexcept {
  if (depth < 0 || position >= bytes.size()) {
    return false;
  }
  const char* data = bytes.data();
  const uint8_t tag = byte_at(data, position++);
  const size_t remaining = bytes.size() - position;
  auto skip = [&](size_t count) {
    if (bytes.size() - position < count) {
      return false;
    }
    position += count;
    return true;
  };
  auto length = [&](size_t width, size_t& out) {
    if (remaining < width) {
      return false;
    }
    out = 0;
    for (size_t i = 0; i < width; ++i) {
      out = (out << 8) | byte_at(data, position + i);
    }
    position += width;
    return true;
  };
  auto elements = [&](size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (!skip_value(bytes, position, depth - 1)) {
        return false;
      }
    }
    return true;
  };
  size_t n = 0;
  if (tag <= 0x7f || tag >= 0xe0 || tag == 0xc0 || tag == 0xc2 || tag == 0xc3) {
    return true;
  }
  if ((tag & 0xe0) == 0xa0) {
    return skip(tag & 0x1f);
  }
  if ((tag & 0xf0) == 0x90) {
    return elements(tag & 0x0f);
  }
  if ((tag & 0xf0) == 0x80) {
    return elements(size_t{2} * (tag & 0x0f));
  }
  switch (tag) {
    case 0xcc: case 0xd0: return skip(1);
    case 0xcd: case 0xd1: return skip(2);
    case 0xce: case 0xd2: case 0xca: return skip(4);
    case 0xcf: case 0xd3: case 0xcb: return skip(8);
    case 0xd9: case 0xc4: return length(1, n) && skip(n);
    case 0xda: case 0xc5: return length(2, n) && skip(n);
    case 0xdb: case 0xc6: return length(4, n) && skip(n);
    case 0xdc: return length(2, n) && elements(n);
    case 0xdd: return length(4, n) && elements(n);
    case 0xde: return length(2, n) && elements(2 * n);
    case 0xdf: return length(4, n) && elements(2 * n);
    case 0xd4: return skip(2);
    case 0xd5: return skip(3);
    case 0xd6: return skip(5);
    case 0xd7: return skip(9);
    case 0xd8: return skip(17);
    case 0xc7: return length(1, n) && skip(n + 1);
    case 0xc8: return length(2, n) && skip(n + 1);
    case 0xc9: return length(4, n) && skip(n + 1);
    default: return false;  // 0xc1 is never used
  }
}

}  // namespace

bool is_one_msgpack_value(std::string_view bytes, int max_depth) noexcept {
  size_t position = 0;
  return skip_value(bytes, position, max_depth) && position == bytes.size();
}

}  // namespace quorum::store::detail
