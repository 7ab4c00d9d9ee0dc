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
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::node::detail {

// Appends the low `bytes` bytes of `value`, most significant first.
inline void put_big_endian(std::string& out, uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// JSON values as msgpack, byte for byte what nlohmann::json::to_msgpack
// writes for the value json::parse would build: smallest integer widths,
// float32 when exact, object members sorted by key (std::map order) and the
// last of duplicate keys kept. Containers get their header when they close.
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
    members_.push_back({out_.size(), 0, name.size(), 0});
    put_string(name);
    members_.back().key_offset = out_.size() - name.size();
  }
  void start_array() { frames_.push_back({false, out_.size(), 0, members_.size()}); }
  void start_object() { frames_.push_back({true, out_.size(), 0, members_.size()}); }
  void end_array() {
    Frame frame = frames_.back();
    frames_.pop_back();
    insert_header(frame.start, frame.count, '\x90', '\xdc', '\xdd');
    value_done();
  }
  void end_object() {
    Frame frame = frames_.back();
    frames_.pop_back();
    size_t count = sort_members(frame);
    members_.resize(frame.first_member);
    insert_header(frame.start, count, '\x80', '\xde', '\xdf');
    value_done();
  }

 private:
  struct Frame {
    bool object;
    size_t start;         // offset of the first element in out_
    size_t count;         // elements so far (arrays only)
    size_t first_member;  // index in members_ (objects only)
  };
  struct Member {
    size_t start;       // offset of the key's msgpack header
    size_t key_offset;  // offset of the key's bytes
    size_t key_size;
    size_t end;  // offset after the value (set when sorting)
  };

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
      out_.push_back('\xcc');
      put_big_endian(out_, value, 1);
    } else if (value <= 0xffff) {
      out_.push_back('\xcd');
      put_big_endian(out_, value, 2);
    } else if (value <= 0xffffffff) {
      out_.push_back('\xce');
      put_big_endian(out_, value, 4);
    } else {
      out_.push_back('\xcf');
      put_big_endian(out_, value, 8);
    }
  }
  void put_negative(int64_t value) {
    auto bits = static_cast<uint64_t>(value);
    if (value >= -32) {
      out_.push_back(static_cast<char>(bits & 0xff));
    } else if (value >= INT8_MIN) {
      out_.push_back('\xd0');
      put_big_endian(out_, bits, 1);
    } else if (value >= INT16_MIN) {
      out_.push_back('\xd1');
      put_big_endian(out_, bits, 2);
    } else if (value >= INT32_MIN) {
      out_.push_back('\xd2');
      put_big_endian(out_, bits, 4);
    } else {
      out_.push_back('\xd3');
      put_big_endian(out_, bits, 8);
    }
  }
  void put_float(double value) {
    // As nlohmann's write_compact_float: float32 when that is exact.
    bool fits = value >= static_cast<double>(std::numeric_limits<float>::lowest()) &&
                value <= static_cast<double>(std::numeric_limits<float>::max()) &&
                std::equal_to<double>()(static_cast<double>(static_cast<float>(value)), value);
    if (fits) {
      out_.push_back('\xca');
      put_big_endian(out_, std::bit_cast<uint32_t>(static_cast<float>(value)), 4);
    } else {
      out_.push_back('\xcb');
      put_big_endian(out_, std::bit_cast<uint64_t>(value), 8);
    }
  }
  void put_string(std::string_view text) {
    size_t size = text.size();
    if (size <= 31) {
      out_.push_back(static_cast<char>(0xa0 | size));
    } else if (size <= 0xff) {
      out_.push_back('\xd9');
      put_big_endian(out_, size, 1);
    } else if (size <= 0xffff) {
      out_.push_back('\xda');
      put_big_endian(out_, size, 2);
    } else {
      out_.push_back('\xdb');
      put_big_endian(out_, size, 4);
    }
    out_.append(text);
  }
  // Inserts the header of a container of `count` elements at `start`.
  void insert_header(size_t start, size_t count, char fix, char wide16, char wide32) {
    std::string header;
    if (count <= 15) {
      header.push_back(static_cast<char>(static_cast<unsigned char>(fix) | count));
    } else if (count <= 0xffff) {
      header.push_back(wide16);
      put_big_endian(header, count, 2);
    } else {
      header.push_back(wide32);
      put_big_endian(header, count, 4);
    }
    out_.insert(start, header);
  }
  std::string_view key_of(const Member& m) const { return {out_.data() + m.key_offset, m.key_size}; }
  // Puts the members of the object `frame` (the tail of out_) in key order,
  // dropping all but the last of duplicate keys; returns how many remain.
  size_t sort_members(const Frame& frame) {
    auto first = members_.begin() + static_cast<std::ptrdiff_t>(frame.first_member);
    size_t count = members_.size() - frame.first_member;
    bool ordered = true;
    for (auto m = first; m != members_.end(); ++m) {
      m->end = m + 1 == members_.end() ? out_.size() : (m + 1)->start;
      ordered = ordered && (m == first || key_of(*(m - 1)) < key_of(*m));
    }
    if (ordered) {
      return count;
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
