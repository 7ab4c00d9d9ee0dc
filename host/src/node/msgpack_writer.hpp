// Internal: JSON values as msgpack, written from parser events (the SAX pass
// of command_json_reader.cpp writes a command's "data" with it).
//
// Why: decoding JSON commands without building an nlohmann::json DOM is
// several times faster (tests/bench/codec_bench.cpp), and the bytes must still
// be exactly the data the DOM path (command_from_json) stores.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::node::detail {

// Appends `marker` then the low `Bytes` bytes of `value`, most significant
// first, in one append (not one push_back per byte).
template <int Bytes>
inline void put_marked(std::string& out, char marker, uint64_t value) {
  char buffer[Bytes + 1];
  buffer[0] = marker;
  for (int i = 0; i < Bytes; ++i) {
    buffer[Bytes - i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
  out.append(buffer, Bytes + 1);
}

// JSON values as msgpack, byte for byte what nlohmann::json::to_msgpack
// writes for the value json::parse would build: smallest integer widths,
// float32 when exact, object members sorted by key (std::map order) and the
// last of duplicate keys kept.
//
// A container's element count is known only when it closes. Its opening
// reserves one byte, the fixarray/fixmap header that nearly every container
// (<= 15 elements) gets: the header is then written in place when it closes
// and nothing moves. Only a container of 16 or more elements inserts 2 or 4
// more header bytes (moving its own contents once). Objects note whether
// their keys arrive strictly ascending (the usual case); only those that do
// not are sorted and rebuilt when they close.
class MsgpackWriter {
 public:
  void clear() {
    out_.clear();
    frames_.clear();
    members_.clear();
  }
  // True when no container is open: the value written so far is complete.
  bool idle() const { return frames_.empty(); }
  const std::string& bytes() const { return out_; }
  std::string take() { return std::exchange(out_, {}); }

  void null() { put_scalar('\xc0'); }
  void boolean(bool value) { put_scalar(value ? '\xc3' : '\xc2'); }
  void unsigned_integer(uint64_t value) {
    put_unsigned(value);
    value_done();
  }
  void signed_integer(int64_t value) {
    if (value >= 0) {
      put_unsigned(static_cast<uint64_t>(value));
    } else {
      put_negative(value);
    }
    value_done();
  }
  void floating(double value) {
    put_float(value);
    value_done();
  }
  void string(std::string_view text) {
    put_string(text);
    value_done();
  }
  void key(std::string_view name) {
    Frame& frame = frames_.back();
    if (frame.ordered && members_.size() > frame.first_member && !(key_of(members_.back()) < name)) {
      frame.ordered = false;  // out of order or a duplicate: sort when the object closes
    }
    size_t start = out_.size();
    put_string(name);
    members_.push_back({start, out_.size() - name.size(), name.size(), 0});
  }
  void start_array() { open(false); }
  void start_object() { open(true); }
  void end_array() {
    Frame frame = frames_.back();
    frames_.pop_back();
    put_header(frame.start, frame.count, '\x90', '\xdc', '\xdd');
    value_done();
  }
  void end_object() {
    Frame frame = frames_.back();
    frames_.pop_back();
    size_t count = members_.size() - frame.first_member;
    if (!frame.ordered) {
      count = sort_members(frame);
    }
    members_.resize(frame.first_member);
    put_header(frame.start, count, '\x80', '\xde', '\xdf');
    value_done();
  }

 private:
  struct Frame {
    bool object;
    bool ordered;         // keys so far strictly ascending (objects only)
    size_t start;         // offset of the first element in out_ (the header byte is just before)
    size_t count;         // elements so far (arrays only)
    size_t first_member;  // index in members_ (objects only)
  };
  struct Member {
    size_t start;       // offset of the key's msgpack header
    size_t key_offset;  // offset of the key's bytes
    size_t key_size;
    size_t end;  // offset after the value (set when sorting)
  };

  void open(bool object) {
    out_.push_back('\0');  // the header's first byte, written when the container closes
    frames_.push_back({object, true, out_.size(), 0, members_.size()});
  }
  void put_scalar(char byte) {
    out_.push_back(byte);
    value_done();
  }
  void value_done() {
    if (!frames_.empty() && !frames_.back().object) {
      ++frames_.back().count;
    }
  }
  void put_unsigned(uint64_t value) {
    if (value < 128) {
      out_.push_back(static_cast<char>(value));
    } else if (value <= 0xff) {
      put_marked<1>(out_, '\xcc', value);
    } else if (value <= 0xffff) {
      put_marked<2>(out_, '\xcd', value);
    } else if (value <= 0xffffffff) {
      put_marked<4>(out_, '\xce', value);
    } else {
      put_marked<8>(out_, '\xcf', value);
    }
  }
  void put_negative(int64_t value) {
    auto bits = static_cast<uint64_t>(value);
    if (value >= -32) {
      out_.push_back(static_cast<char>(bits & 0xff));
    } else if (value >= INT8_MIN) {
      put_marked<1>(out_, '\xd0', bits);
    } else if (value >= INT16_MIN) {
      put_marked<2>(out_, '\xd1', bits);
    } else if (value >= INT32_MIN) {
      put_marked<4>(out_, '\xd2', bits);
    } else {
      put_marked<8>(out_, '\xd3', bits);
    }
  }
  void put_float(double value) {
    // As nlohmann's write_compact_float: float32 when that is exact.
    bool fits = value >= static_cast<double>(std::numeric_limits<float>::lowest()) &&
                value <= static_cast<double>(std::numeric_limits<float>::max()) &&
                std::equal_to<double>()(static_cast<double>(static_cast<float>(value)), value);
    if (fits) {
      put_marked<4>(out_, '\xca', std::bit_cast<uint32_t>(static_cast<float>(value)));
    } else {
      put_marked<8>(out_, '\xcb', std::bit_cast<uint64_t>(value));
    }
  }
  void put_string(std::string_view text) {
    size_t size = text.size();
    if (size <= 31) {
      // Most keys and values: header and bytes in one append.
      char buffer[32];
      buffer[0] = static_cast<char>(0xa0 | size);
      std::memcpy(buffer + 1, text.data(), size);
      out_.append(buffer, size + 1);
      return;
    }
    if (size <= 0xff) {
      put_marked<1>(out_, '\xd9', size);
    } else if (size <= 0xffff) {
      put_marked<2>(out_, '\xda', size);
    } else {
      put_marked<4>(out_, '\xdb', size);
    }
    out_.append(text);
  }
  // Writes the header of a container of `count` elements starting at
  // `start`, into the byte reserved before it; a 16/32-bit count needs 2 or
  // 4 more bytes, inserted after that byte.
  void put_header(size_t start, size_t count, char fix, char wide16, char wide32) {
    if (count <= 15) {
      out_[start - 1] = static_cast<char>(static_cast<unsigned char>(fix) | count);
      return;
    }
    char buffer[5];
    int width = count <= 0xffff ? 2 : 4;
    buffer[0] = width == 2 ? wide16 : wide32;
    for (int i = 0; i < width; ++i) {
      buffer[width - i] = static_cast<char>((count >> (8 * i)) & 0xff);
    }
    out_[start - 1] = buffer[0];
    out_.insert(start, buffer + 1, static_cast<size_t>(width));
  }
  std::string_view key_of(const Member& m) const { return {out_.data() + m.key_offset, m.key_size}; }
  // Puts the members of the object `frame` (the tail of out_) in key order,
  // dropping all but the last of duplicate keys; returns how many remain.
  size_t sort_members(const Frame& frame) {
    auto first = members_.begin() + static_cast<std::ptrdiff_t>(frame.first_member);
    for (auto m = first; m != members_.end(); ++m) {
      m->end = m + 1 == members_.end() ? out_.size() : (m + 1)->start;
    }
    std::stable_sort(first, members_.end(), [this](const Member& a, const Member& b) { return key_of(a) < key_of(b); });
    scratch_.clear();
    size_t kept = 0;
    for (auto m = first; m != members_.end(); ++m) {
      if (m + 1 != members_.end() && key_of(*m) == key_of(*(m + 1))) {
        continue;  // a later duplicate wins
      }
      scratch_.append(out_, m->start, m->end - m->start);
      ++kept;
    }
    out_.resize(frame.start);
    out_ += scratch_;
    return kept;
  }

  std::string out_;
  std::string scratch_;
  std::vector<Frame> frames_;
  std::vector<Member> members_;
};

}  // namespace quorum::node::detail
