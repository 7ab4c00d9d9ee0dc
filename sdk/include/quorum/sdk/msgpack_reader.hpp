// A zero-allocation, zero-copy lazy msgpack reader: MsgView is a position in
// a borrowed byte buffer, and every accessor decodes just the header it
// needs. No object tree, no zone, no copies: strings are views into the
// bytes, which must outlive every view (in handle() they live for the call).
//
// Why: building msgpack-c's object tree for every message and projection
// dominated the cost of small handlers (see docs/benchmarks-tally.md).
//
// Safety contract (the bytes are untrusted):
// - every read is bounds-checked against the end of the buffer; a truncated
//   or malformed value (including the reserved byte 0xc1) throws
//   MalformedMsgpack (an InvalidMessage, so the SDK turns it into a
//   rejection "invalid msgpack: ..."); nothing reads outside the buffer;
// - a wrong type is not an error of the bytes: as_*() return nullopt;
// - skip() is iterative (a count of values still to skip, never recursion),
//   and a declared container larger than the bytes left fails at once;
// - views made by iterating a container carry their nesting depth, and a
//   depth beyond kMaxDepth throws, so a recursive walker cannot overflow the
//   stack.
// Semantics follow msgpack-c's: an integer is "unsigned" (as_uint) when its
// value is >= 0 whatever its encoding (msgpack-c's POSITIVE_INTEGER); bytes
// after the first value are ignored; map lookup returns the first match.
#pragma once

#include <quorum/sdk/msgpack_view.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

// Hot accessors are forced inline: a walk calls them per element.
#if defined(__GNUC__)
#define QUORUM_READER_INLINE __attribute__((always_inline)) inline
#else
#define QUORUM_READER_INLINE inline
#endif

namespace quorum::sdk {

// Bytes that are not (complete) msgpack. what() is "insufficient bytes" or
// "parse error", as msgpack-c's unpack errors, or "nesting too deep".
class MalformedMsgpack : public InvalidMessage {
 public:
  using InvalidMessage::InvalidMessage;
};

enum class MsgType : uint8_t { kNil, kBool, kUint, kInt, kFloat32, kFloat64, kStr, kBin, kArray, kMap, kExt };

namespace reader_detail {

inline constexpr uint32_t kMaxDepth = 512;

[[noreturn]] inline void truncated() { throw MalformedMsgpack("insufficient bytes"); }
[[noreturn]] inline void parse_error() { throw MalformedMsgpack("parse error"); }
[[noreturn]] inline void too_deep() { throw MalformedMsgpack("nesting too deep"); }

// Big-endian loads of n bytes at p (the caller checked the bounds).
inline uint64_t load(const uint8_t* p, unsigned n) noexcept {
  switch (n) {
    case 1:
      return p[0];
    case 2: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return __builtin_bswap16(v);
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return __builtin_bswap32(v);
    }
    default: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return __builtin_bswap64(v);
    }
  }
}

inline size_t left(const uint8_t* p, const uint8_t* end) noexcept { return static_cast<size_t>(end - p); }

// A decoded header: what the value is, its scalar/length/count, and where
// its body (payload or first element) starts.
struct Head {
  MsgType type;
  uint64_t value;  // uint/int bits, float bits, bool, length (str/bin/ext) or count (array/map)
  const uint8_t* body;
};

// Decodes the header at p. For str/bin/ext the payload is bounds-checked;
// for containers the count is checked against the bytes left (each element
// needs at least one byte).
inline Head head(const uint8_t* p, const uint8_t* end) {
  if (p >= end) {
    truncated();
  }
  const uint8_t b = *p;
  const uint8_t* q = p + 1;
  auto need = [&](size_t n) {
    if (left(q, end) < n) {
      truncated();
    }
  };
  auto sized = [&](MsgType type, unsigned width) -> Head {
    need(width);
    const uint64_t n = load(q, width);
    q += width;
    need(n);
    return {type, n, q};
  };
  auto counted = [&](MsgType type, uint64_t n, uint64_t per) -> Head {
    if (n * per > left(q, end)) {  // n < 2^32, per <= 2: no overflow
      truncated();
    }
    return {type, n, q};
  };
  auto scalar = [&](MsgType type, unsigned width, bool sign) -> Head {
    need(width);
    uint64_t v = load(q, width);
    if (sign) {
      const unsigned shift = 64 - 8 * width;
      v = static_cast<uint64_t>(static_cast<int64_t>(v << shift) >> shift);
      return {static_cast<int64_t>(v) < 0 ? MsgType::kInt : MsgType::kUint, v, q + width};
    }
    return {type, v, q + width};
  };
  if (b <= 0x7f) {
    return {MsgType::kUint, b, q};
  }
  if (b >= 0xe0) {
    return {MsgType::kInt, static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(b))), q};
  }
  if (b <= 0x8f) {
    return counted(MsgType::kMap, b & 0x0fu, 2);
  }
  if (b <= 0x9f) {
    return counted(MsgType::kArray, b & 0x0fu, 1);
  }
  if (b <= 0xbf) {
    const uint64_t n = b & 0x1fu;
    need(n);
    return {MsgType::kStr, n, q};
  }
  switch (b) {
    case 0xc0:
      return {MsgType::kNil, 0, q};
    case 0xc2:
      return {MsgType::kBool, 0, q};
    case 0xc3:
      return {MsgType::kBool, 1, q};
    case 0xc4:
      return sized(MsgType::kBin, 1);
    case 0xc5:
      return sized(MsgType::kBin, 2);
    case 0xc6:
      return sized(MsgType::kBin, 4);
    case 0xc7:
    case 0xc8:
    case 0xc9: {  // ext 8/16/32: length, then a type byte, then the payload
      const unsigned width = b == 0xc7 ? 1 : (b == 0xc8 ? 2 : 4);
      need(width);
      const uint64_t n = load(q, width);
      q += width;
      need(n + 1);
      return {MsgType::kExt, n, q};
    }
    case 0xca:
      return scalar(MsgType::kFloat32, 4, false);
    case 0xcb:
      return scalar(MsgType::kFloat64, 8, false);
    case 0xcc:
      return scalar(MsgType::kUint, 1, false);
    case 0xcd:
      return scalar(MsgType::kUint, 2, false);
    case 0xce:
      return scalar(MsgType::kUint, 4, false);
    case 0xcf:
      return scalar(MsgType::kUint, 8, false);
    case 0xd0:
      return scalar(MsgType::kInt, 1, true);
    case 0xd1:
      return scalar(MsgType::kInt, 2, true);
    case 0xd2:
      return scalar(MsgType::kInt, 4, true);
    case 0xd3: {
      need(8);
      const uint64_t v = load(q, 8);
      return {static_cast<int64_t>(v) < 0 ? MsgType::kInt : MsgType::kUint, v, q + 8};
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {  // fixext 1/2/4/8/16: a type byte, then the payload
      const uint64_t n = uint64_t{1} << (b - 0xd4);
      need(n + 1);
      return {MsgType::kExt, n, q};
    }
    case 0xd9:
      return sized(MsgType::kStr, 1);
    case 0xda:
      return sized(MsgType::kStr, 2);
    case 0xdb:
      return sized(MsgType::kStr, 4);
    case 0xdc:
      need(2);
      q += 2;
      return counted(MsgType::kArray, load(q - 2, 2), 1);
    case 0xdd:
      need(4);
      q += 4;
      return counted(MsgType::kArray, load(q - 4, 4), 1);
    case 0xde:
      need(2);
      q += 2;
      return counted(MsgType::kMap, load(q - 2, 2), 2);
    case 0xdf:
      need(4);
      q += 4;
      return counted(MsgType::kMap, load(q - 4, 4), 2);
    default:  // 0xc1: never used
      parse_error();
  }
}

// Skips `count` consecutive values starting at p; returns the position after
// them. Iterative: containers add their elements to the count.
inline const uint8_t* skip_values(const uint8_t* p, const uint8_t* end, uint64_t count) {
  while (count > 0) {
    if (p >= end) {
      truncated();
    }
    const uint8_t b = *p;
    --count;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {  // one-byte values
      ++p;
      continue;
    }
    if (b >= 0xa0 && b <= 0xbf) {  // fixstr
      const size_t n = b & 0x1fu;
      if (left(p, end) < n + 1) {
        truncated();
      }
      p += n + 1;
      continue;
    }
    if (b <= 0x9f) {  // fixmap, fixarray
      count += b <= 0x8f ? 2u * (b & 0x0fu) : (b & 0x0fu);
      ++p;
      if (count > left(p, end)) {
        truncated();
      }
      continue;
    }
    const Head h = head(p, end);
    switch (h.type) {
      case MsgType::kArray:
        count += h.value;
        p = h.body;
        break;
      case MsgType::kMap:
        count += 2 * h.value;
        p = h.body;
        break;
      case MsgType::kStr:
      case MsgType::kBin:
        p = h.body + h.value;
        break;
      case MsgType::kExt:
        p = h.body + h.value + 1;
        break;
      default:  // scalars: body is already past them
        p = h.body;
        break;
    }
    if (count > left(p, end)) {  // every value still to skip needs a byte
      truncated();
    }
  }
  return p;
}

}  // namespace reader_detail

// Where containers already walked end, so that iterating a container whose
// elements were themselves iterated does not skip them all over again (a
// nested walk would otherwise cost depth x size). Direct-mapped, 16 slots;
// an entry is recorded only when an iteration reaches a container's end, so
// it is exact. Owned by the caller for as long as the views made with it
// (the SDK keeps one per call); views made without one simply skip.
class SkipMemo {
 public:
  const uint8_t* find(const uint8_t* start) const noexcept {
    const Slot& slot = slots_[index(start)];
    return slot.start == start ? slot.end : nullptr;
  }
  void remember(const uint8_t* start, const uint8_t* end) noexcept { slots_[index(start)] = Slot{start, end}; }

 private:
  struct Slot {
    const uint8_t* start = nullptr;
    const uint8_t* end = nullptr;
  };
  static size_t index(const uint8_t* p) noexcept {
    const auto v = reinterpret_cast<uintptr_t>(p);
    return static_cast<size_t>((v ^ (v >> 4) ^ (v >> 8)) & 15u);
  }
  Slot slots_[16];
};

class MsgView;

// One key/value pair of a map.
struct MsgEntry;

// A read-only view of one msgpack value inside a borrowed buffer. Copyable,
// three words; a default-constructed view is "absent" (present() false).
class MsgView {
 public:
  MsgView() noexcept = default;
  MsgView(const uint8_t* data, size_t size, uint32_t depth = 0, SkipMemo* memo = nullptr) noexcept
      : at_(data), end_(data + size), memo_(memo), depth_(depth) {}
  // A view of `bytes`; with a memo (which must outlive every view made from
  // this one), nested walks skip each container once.
  static MsgView of(std::string_view bytes, SkipMemo* memo = nullptr) noexcept {
    return MsgView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0, memo);
  }

  bool present() const noexcept { return at_ != nullptr; }
  const uint8_t* data() const noexcept { return at_; }
  const uint8_t* buffer_end() const noexcept { return end_; }
  uint32_t depth() const noexcept { return depth_; }

  // The value's type; throws MalformedMsgpack if the header is truncated or invalid.
  MsgType type() const { return head().type; }
  QUORUM_READER_INLINE bool is_nil() const { return first_byte() == 0xc0; }
  QUORUM_READER_INLINE bool is_map() const {
    const uint8_t b = first_byte();
    return (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf;
  }
  QUORUM_READER_INLINE bool is_array() const {
    const uint8_t b = first_byte();
    return (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd;
  }
  bool is_string() const {
    const uint8_t b = first_byte();
    return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
  }

  // The string (str family only), or nullopt for any other type.
  QUORUM_READER_INLINE std::optional<std::string_view> as_string() const {
    const uint8_t b = first_byte();
    if (b >= 0xa0 && b <= 0xbf) {  // fixstr fast path
      const size_t n = b & 0x1fu;
      if (reader_detail::left(at_ + 1, end_) < n) {
        reader_detail::truncated();
      }
      return std::string_view(reinterpret_cast<const char*>(at_ + 1), n);
    }
    if (b < 0xd9 || b > 0xdb) {
      return std::nullopt;
    }
    const reader_detail::Head h = head();
    return std::string_view(reinterpret_cast<const char*>(h.body), h.value);
  }
  // The bytes of a bin value, or nullopt.
  std::optional<std::string_view> as_bin() const {
    const reader_detail::Head h = head();
    if (h.type != MsgType::kBin) {
      return std::nullopt;
    }
    return std::string_view(reinterpret_cast<const char*>(h.body), h.value);
  }
  std::optional<bool> as_bool() const {
    const uint8_t b = first_byte();
    if (b == 0xc2 || b == 0xc3) {
      return b == 0xc3;
    }
    return std::nullopt;
  }
  // A non-negative integer in any integer encoding (msgpack-c's POSITIVE_INTEGER), or nullopt.
  std::optional<uint64_t> as_uint() const {
    const uint8_t b = first_byte();
    if (b <= 0x7f) {
      return b;
    }
    const reader_detail::Head h = head();
    if (h.type != MsgType::kUint) {
      return std::nullopt;
    }
    return h.value;
  }
  // The integer, or nullopt; the same rules as quorum::sdk::as_int (msgpack_view.hpp):
  // floats with an integral value within +-9e15 are accepted.
  std::optional<int64_t> as_int() const {
    const uint8_t b = first_byte();
    if (b <= 0x7f) {
      return b;
    }
    const reader_detail::Head h = head();
    switch (h.type) {
      case MsgType::kUint:
        if (h.value > static_cast<uint64_t>(INT64_MAX)) {
          return std::nullopt;
        }
        return static_cast<int64_t>(h.value);
      case MsgType::kInt:
        return static_cast<int64_t>(h.value);
      case MsgType::kFloat32:
      case MsgType::kFloat64: {
        const double value = as_double_bits(h);
        if (value >= -9.0e15 && value <= 9.0e15 && static_cast<double>(static_cast<int64_t>(value)) == value) {
          return static_cast<int64_t>(value);
        }
        return std::nullopt;
      }
      default:
        return std::nullopt;
    }
  }
  // Any number as a double (msgpack-c's as<double>), or nullopt.
  std::optional<double> as_double() const {
    const reader_detail::Head h = head();
    switch (h.type) {
      case MsgType::kUint:
        return static_cast<double>(h.value);
      case MsgType::kInt:
        return static_cast<double>(static_cast<int64_t>(h.value));
      case MsgType::kFloat32:
      case MsgType::kFloat64:
        return as_double_bits(h);
      default:
        return std::nullopt;
    }
  }

  // Element count of an array or map, or nullopt for other types.
  std::optional<uint32_t> size() const {
    const reader_detail::Head h = head();
    if (h.type != MsgType::kArray && h.type != MsgType::kMap) {
      return std::nullopt;
    }
    return static_cast<uint32_t>(h.value);
  }

  // The position just past this value, validating all of it (every nested
  // header and length). Throws MalformedMsgpack.
  const uint8_t* skip() const {
    if (at_ == nullptr) {
      reader_detail::truncated();
    }
    return skip_at(at_);
  }
  // The encoded bytes of this value (validated).
  std::string_view encoded() const {
    const uint8_t* after = skip();
    return std::string_view(reinterpret_cast<const char*>(at_), static_cast<size_t>(after - at_));
  }
  // The value after this one in the same buffer.
  MsgView next() const {
    const uint8_t* after = skip();
    return MsgView(after, static_cast<size_t>(end_ - after), depth_, memo_);
  }

  // Iteration: a map yields MsgEntry {key, value}; an array yields MsgView.
  // Any other type (or an absent view) iterates as empty.
  class MapRange;
  class ArrayRange;
  MapRange items() const;
  ArrayRange elements() const;

  // The value of the first entry whose key is the string `key`; nullopt if
  // there is none or this is not a map. Scans and skips.
  std::optional<MsgView> find(std::string_view key) const;
  // find() for several keys in one pass over the map (each scan of find()
  // skips every value before its key, nested containers included): found[i]
  // is what find(keys[i]) returns.
  template <size_t N>
  std::array<std::optional<MsgView>, N> find_all(const std::array<std::string_view, N>& keys) const;

 private:
  friend struct MsgEntry;

  QUORUM_READER_INLINE uint8_t first_byte() const {
    if (at_ >= end_) {  // also an absent view (both null)
      reader_detail::truncated();
    }
    return *at_;
  }
  reader_detail::Head head() const {
    if (at_ == nullptr) {
      reader_detail::truncated();
    }
    return reader_detail::head(at_, end_);
  }
  static double as_double_bits(const reader_detail::Head& h) noexcept {
    if (h.type == MsgType::kFloat32) {
      const uint32_t bits = static_cast<uint32_t>(h.value);
      float f;
      std::memcpy(&f, &bits, 4);
      return static_cast<double>(f);
    }
    double d;
    std::memcpy(&d, &h.value, 8);
    return d;
  }
  // A view of a child at p (one level deeper).
  QUORUM_READER_INLINE MsgView child(const uint8_t* p) const {
    if (depth_ + 1 > reader_detail::kMaxDepth) {
      reader_detail::too_deep();
    }
    return MsgView(p, static_cast<size_t>(end_ - p), depth_ + 1, memo_);
  }
  // The position after the value at p (in this view's buffer), through the memo.
  QUORUM_READER_INLINE const uint8_t* skip_at(const uint8_t* p) const {
    if (p >= end_) {
      reader_detail::truncated();
    }
    const uint8_t b = *p;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {  // one-byte values, inline
      return p + 1;
    }
    if (b >= 0xa0 && b <= 0xbf) {  // fixstr (most keys), inline
      const size_t n = b & 0x1fu;
      if (reader_detail::left(p + 1, end_) < n) {
        reader_detail::truncated();
      }
      return p + 1 + n;
    }
    if (memo_ != nullptr) {
      if (const uint8_t* known = memo_->find(p)) {
        return known;
      }
    }
    return reader_detail::skip_values(p, end_, 1);
  }
  QUORUM_READER_INLINE void remember(const uint8_t* after) const noexcept {
    if (memo_ != nullptr) {
      memo_->remember(at_, after);
    }
  }

  const uint8_t* at_ = nullptr;
  const uint8_t* end_ = nullptr;
  SkipMemo* memo_ = nullptr;
  uint32_t depth_ = 0;
};

struct MsgEntry {
  MsgView key;
  MsgView value;
  // The key as a string, or an empty view when the key is not a string.
  std::string_view key_string() const { return key.as_string().value_or(std::string_view{}); }
};

class MsgView::MapRange {
 public:
  class Iterator {
   public:
    Iterator() = default;
    Iterator(MsgView parent, const uint8_t* key, uint64_t remaining)
        : parent_(parent), key_(key), remaining_(remaining) {
      if (remaining_ > 0) {
        value_ = parent_.skip_at(key_);
      }
    }
    QUORUM_READER_INLINE MsgEntry operator*() const { return MsgEntry{parent_.child(key_), parent_.child(value_)}; }
    QUORUM_READER_INLINE Iterator& operator++() {
      key_ = parent_.skip_at(value_);
      if (--remaining_ > 0) {
        value_ = parent_.skip_at(key_);
      } else {
        parent_.remember(key_);  // the map ends here
      }
      return *this;
    }
    bool operator==(const Iterator& other) const noexcept { return remaining_ == other.remaining_; }
    // Where the current entry's key starts (or, at the end, where the map ends).
    const uint8_t* position() const noexcept { return key_; }

   private:
    MsgView parent_;
    const uint8_t* key_ = nullptr;
    const uint8_t* value_ = nullptr;
    uint64_t remaining_ = 0;
  };

  MapRange() = default;
  MapRange(MsgView parent, const uint8_t* first, uint64_t count) : parent_(parent), first_(first), count_(count) {}
  Iterator begin() const { return Iterator(parent_, first_, count_); }
  Iterator end() const { return Iterator(); }
  uint64_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

 private:
  MsgView parent_;
  const uint8_t* first_ = nullptr;
  uint64_t count_ = 0;
};

class MsgView::ArrayRange {
 public:
  class Iterator {
   public:
    Iterator() = default;
    Iterator(MsgView parent, const uint8_t* at, uint64_t remaining) : parent_(parent), at_(at), remaining_(remaining) {}
    QUORUM_READER_INLINE MsgView operator*() const { return parent_.child(at_); }
    QUORUM_READER_INLINE Iterator& operator++() {
      at_ = parent_.skip_at(at_);
      if (--remaining_ == 0) {
        parent_.remember(at_);  // the array ends here
      }
      return *this;
    }
    bool operator==(const Iterator& other) const noexcept { return remaining_ == other.remaining_; }

   private:
    MsgView parent_;
    const uint8_t* at_ = nullptr;
    uint64_t remaining_ = 0;
  };

  ArrayRange() = default;
  ArrayRange(MsgView parent, const uint8_t* first, uint64_t count) : parent_(parent), first_(first), count_(count) {}
  Iterator begin() const { return Iterator(parent_, first_, count_); }
  Iterator end() const { return Iterator(); }
  uint64_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  // The element at index i (< size()), skipping the ones before it.
  MsgView at(uint64_t i) const {
    if (i >= count_) {
      throw InvalidMessage("array index out of range");
    }
    return parent_.child(reader_detail::skip_values(first_, parent_.end_, i));
  }

 private:
  MsgView parent_;
  const uint8_t* first_ = nullptr;
  uint64_t count_ = 0;
};

inline MsgView::MapRange MsgView::items() const {
  if (at_ == nullptr || !is_map()) {
    return {};
  }
  const reader_detail::Head h = head();
  return MapRange(*this, h.body, h.value);
}

inline MsgView::ArrayRange MsgView::elements() const {
  if (at_ == nullptr || !is_array()) {
    return {};
  }
  const reader_detail::Head h = head();
  return ArrayRange(*this, h.body, h.value);
}

inline std::optional<MsgView> MsgView::find(std::string_view key) const {
  if (at_ == nullptr || !is_map()) {
    return std::nullopt;
  }
  const reader_detail::Head h = head();
  const uint8_t* p = h.body;
  for (uint64_t i = 0; i < h.value; ++i) {
    const MsgView k(p, static_cast<size_t>(end_ - p), depth_);
    const std::optional<std::string_view> text = k.as_string();
    const uint8_t* value = skip_at(p);
    if (text && *text == key) {
      return child(value);
    }
    p = skip_at(value);
  }
  return std::nullopt;
}

template <size_t N>
std::array<std::optional<MsgView>, N> MsgView::find_all(const std::array<std::string_view, N>& keys) const {
  std::array<std::optional<MsgView>, N> found{};
  // Always to the end of the map (no early exit): reaching it records where
  // the map ends in the memo, so the walk that skips this map next does not
  // skip it all over again.
  for (const MsgEntry& entry : items()) {  // empty unless a map
    const std::optional<std::string_view> text = entry.key.as_string();
    if (!text) {
      continue;
    }
    for (size_t i = 0; i < N; ++i) {
      if (!found[i] && *text == keys[i]) {
        found[i] = entry.value;
        break;
      }
    }
  }
  return found;
}

}  // namespace quorum::sdk
