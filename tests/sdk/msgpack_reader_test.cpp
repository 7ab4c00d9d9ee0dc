// The lazy msgpack reader (quorum/sdk/msgpack_reader.hpp): every format,
// lookup and iteration, truncation and malformed bytes; and properties over
// random msgpack written by msgpack-c's packer (the reader agrees with
// msgpack-c's object tree) and over random mutations and truncations (the
// reader never reads out of bounds: run under ASan, the bytes live in an
// exactly sized heap block).
#include <quorum/sdk/msgpack_reader.hpp>

#include <gtest/gtest.h>
#include <msgpack.hpp>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <functional>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using quorum::sdk::InvalidMessage;
using quorum::sdk::MalformedMsgpack;
using quorum::sdk::MsgEntry;
using quorum::sdk::MsgType;
using quorum::sdk::MsgView;
using Packer = msgpack::packer<msgpack::sbuffer>;

// The bytes in a heap block of exactly their size (so ASan sees any overread).
class Exact {
 public:
  explicit Exact(std::string_view bytes) : size_(bytes.size()), data_(new uint8_t[bytes.size() == 0 ? 1 : bytes.size()]) {
    if (!bytes.empty()) {
      std::memcpy(data_.get(), bytes.data(), bytes.size());
    }
  }
  MsgView view() const { return MsgView(data_.get(), size_); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  size_t size_;
  std::unique_ptr<uint8_t[]> data_;
};

template <class F>
std::string packed(F&& write) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  write(packer);
  return std::string(buffer.data(), buffer.size());
}

TEST(MsgpackReader, IntegersInEveryEncoding) {
  const std::vector<int64_t> values = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL, 4294967296LL,
                                       INT64_MAX, -1, -32, -33, -128, -129, -32768, -32769, -2147483648LL,
                                       -2147483649LL, INT64_MIN};
  for (int64_t value : values) {
    const Exact bytes(packed([&](Packer& p) { p.pack(value); }));
    EXPECT_EQ(bytes.view().as_int(), value);
    EXPECT_EQ(bytes.view().type(), value < 0 ? MsgType::kInt : MsgType::kUint);
    EXPECT_EQ(bytes.view().as_uint().has_value(), value >= 0);
    EXPECT_EQ(bytes.view().skip(), bytes.data() + bytes.size());
  }
  // Signed encodings of non-negative values are unsigned (as in msgpack-c).
  for (const char* raw : {"\xd0\x05", "\xd1\x00\x05", "\xd2\x00\x00\x00\x05", "\xd3\x00\x00\x00\x00\x00\x00\x00\x05"}) {
    const size_t n = raw[0] == '\xd0' ? 2 : raw[0] == '\xd1' ? 3 : raw[0] == '\xd2' ? 5 : 9;
    const Exact bytes(std::string_view(raw, n));
    EXPECT_EQ(bytes.view().as_uint(), 5u);
  }
  const Exact big(packed([](Packer& p) { p.pack(std::numeric_limits<uint64_t>::max()); }));
  EXPECT_EQ(big.view().as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(big.view().as_int());  // does not fit int64
}

TEST(MsgpackReader, FloatsBoolsNilStringsBinExt) {
  const Exact f64(std::string_view("\xcb\x40\x00\x00\x00\x00\x00\x00\x00", 9));  // 2.0 (msgpack-c packs it as 2)
  EXPECT_EQ(f64.view().type(), MsgType::kFloat64);
  EXPECT_EQ(f64.view().as_int(), 2);  // integral floats count, as quorum::sdk::as_int
  EXPECT_EQ(f64.view().as_double(), 2.0);
  const Exact f32(packed([](Packer& p) { p.pack(1.5f); }));
  EXPECT_EQ(f32.view().type(), MsgType::kFloat32);
  EXPECT_FALSE(f32.view().as_int());
  EXPECT_EQ(f32.view().as_double(), 1.5);
  const Exact t(packed([](Packer& p) { p.pack(true); }));
  EXPECT_EQ(t.view().as_bool(), true);
  EXPECT_FALSE(t.view().as_int());
  const Exact nil(packed([](Packer& p) { p.pack_nil(); }));
  EXPECT_TRUE(nil.view().is_nil());
  EXPECT_FALSE(nil.view().as_string());
  for (size_t n : {0u, 5u, 31u, 32u, 255u, 256u, 65535u, 65536u}) {
    const std::string text(n, 'x');
    const Exact s(packed([&](Packer& p) { p.pack(text); }));
    EXPECT_EQ(s.view().as_string(), text);
    EXPECT_TRUE(s.view().is_string());
    EXPECT_EQ(s.view().skip(), s.data() + s.size());
    const Exact b(packed([&](Packer& p) {
      p.pack_bin(static_cast<uint32_t>(n));
      p.pack_bin_body(text.data(), static_cast<uint32_t>(n));
    }));
    EXPECT_EQ(b.view().as_bin(), text);
    EXPECT_FALSE(b.view().as_string());
    EXPECT_EQ(b.view().skip(), b.data() + b.size());
    const Exact e(packed([&](Packer& p) {
      p.pack_ext(n, 7);
      p.pack_ext_body(text.data(), static_cast<uint32_t>(n));
    }));
    EXPECT_EQ(e.view().type(), MsgType::kExt);
    EXPECT_EQ(e.view().skip(), e.data() + e.size());
  }
}

TEST(MsgpackReader, MapsArraysLookupAndIteration) {
  const Exact bytes(packed([](Packer& p) {
    p.pack_map(4);
    p.pack(std::string("a"));
    p.pack_array(3);
    p.pack(1);
    p.pack(std::string("two"));
    p.pack_map(0);
    p.pack(7);  // a non-string key
    p.pack(std::string("seven"));
    p.pack(std::string("b"));
    p.pack(std::string("first"));
    p.pack(std::string("b"));
    p.pack(std::string("second"));
  }));
  const MsgView root = bytes.view();
  ASSERT_TRUE(root.is_map());
  EXPECT_EQ(root.size(), 4u);
  EXPECT_EQ(root.find("b")->as_string(), "first");  // the first match, as quorum::sdk::find
  EXPECT_FALSE(root.find("zzz"));
  EXPECT_FALSE(root.find("a")->find("x"));  // not a map
  const MsgView a = *root.find("a");
  ASSERT_TRUE(a.is_array());
  EXPECT_EQ(a.elements().size(), 3u);
  EXPECT_EQ(a.elements().at(1).as_string(), "two");
  EXPECT_THROW((void)a.elements().at(3), InvalidMessage);
  std::vector<std::string> keys;
  for (const MsgEntry& entry : root.items()) {
    keys.emplace_back(entry.key_string());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "", "b", "b"}));
  int elements = 0;
  for (const MsgView& element : a.elements()) {
    ++elements;
    EXPECT_EQ(element.depth(), 2u);
  }
  EXPECT_EQ(elements, 3);
  EXPECT_TRUE(root.elements().empty());  // a map is no array
  EXPECT_TRUE(MsgView().items().empty());
  EXPECT_FALSE(MsgView().find("a"));
  EXPECT_EQ(root.encoded().size(), bytes.size());
  // find_all: find() for several keys in one pass.
  const auto [b, zzz, first_a] = root.find_all<3>({std::string_view("b"), "zzz", "a"});
  EXPECT_EQ(b->as_string(), "first");
  EXPECT_FALSE(zzz);
  EXPECT_EQ(first_a->data(), a.data());
  EXPECT_EQ(first_a->depth(), root.find("a")->depth());
  EXPECT_FALSE(a.find_all<1>({std::string_view("x")})[0]);  // not a map
  EXPECT_FALSE(MsgView().find_all<1>({std::string_view("a")})[0]);
}

TEST(MsgpackReader, EveryTruncationThrowsAndNeverOverreads) {
  const std::string full = packed([](Packer& p) {
    p.pack_map(2);
    p.pack(std::string("CVRSnapshot"));
    p.pack_array(2);
    p.pack(std::string(40, 'y'));
    p.pack(uint64_t{1} << 40);
    p.pack(std::string("x"));
    p.pack(-3.25);
  });
  for (size_t n = 0; n < full.size(); ++n) {
    const Exact cut(std::string_view(full).substr(0, n));
    EXPECT_THROW((void)cut.view().skip(), MalformedMsgpack) << n;
  }
  EXPECT_NO_THROW((void)Exact(full).view().skip());
}

TEST(MsgpackReader, MalformedBytesThrowMalformedMsgpack) {
  EXPECT_THROW((void)Exact(std::string_view("\xc1", 1)).view().skip(), MalformedMsgpack);
  EXPECT_THROW((void)Exact(std::string_view("\xc1", 1)).view().type(), MalformedMsgpack);
  // A map declaring 2^32-1 entries in 5 bytes fails at once, without looping.
  EXPECT_THROW((void)Exact(std::string_view("\xdf\xff\xff\xff\xff", 5)).view().skip(), MalformedMsgpack);
  EXPECT_THROW((void)Exact(std::string_view("\xdf\xff\xff\xff\xff", 5)).view().items(), MalformedMsgpack);
  // A str32 declaring more bytes than there are.
  EXPECT_THROW((void)Exact(std::string_view("\xdb\x00\x00\x01\x00zz", 7)).view().as_string(), MalformedMsgpack);
  EXPECT_THROW((void)MsgView().skip(), MalformedMsgpack);
  EXPECT_THROW((void)MsgView().type(), MalformedMsgpack);
  // Trailing bytes after the value are not part of it (as msgpack-c's unpack).
  const Exact trailing(std::string_view("\x01\x02", 2));
  EXPECT_EQ(trailing.view().skip(), trailing.data() + 1);
}

TEST(MsgpackReader, NestingDepthIsBounded) {
  std::string deep(100000, '\x91');  // [[[[...]]]]
  deep.push_back('\x01');
  const Exact bytes(deep);
  EXPECT_EQ(bytes.view().skip(), bytes.data() + bytes.size());  // iterative: no recursion
  // A recursive walk through views stops at the depth limit with an error.
  std::function<void(const MsgView&)> walk = [&](const MsgView& v) {
    for (const MsgView& element : v.elements()) {
      walk(element);
    }
  };
  EXPECT_THROW(walk(bytes.view()), MalformedMsgpack);
}

// --- Properties -----------------------------------------------------------

// A random msgpack value, written by msgpack-c's packer.
void write_random(Packer& packer, int depth) {
  const int kind = *rc::gen::inRange(0, depth > 3 ? 9 : 12);
  switch (kind) {
    case 0:
      packer.pack_nil();
      break;
    case 1:
      packer.pack(*rc::gen::arbitrary<bool>());
      break;
    case 2:
      packer.pack(*rc::gen::arbitrary<uint64_t>());
      break;
    case 3:
      packer.pack(*rc::gen::arbitrary<int64_t>());
      break;
    case 4:
      packer.pack(*rc::gen::inRange<int>(-40, 200));
      break;
    case 5:
      packer.pack(*rc::gen::arbitrary<double>());
      break;
    case 6:
      packer.pack(*rc::gen::arbitrary<float>());
      break;
    case 7:
      packer.pack(*rc::gen::arbitrary<std::string>());
      break;
    case 8: {
      const std::string body = *rc::gen::arbitrary<std::string>();
      if (*rc::gen::arbitrary<bool>()) {
        packer.pack_bin(static_cast<uint32_t>(body.size()));
        packer.pack_bin_body(body.data(), static_cast<uint32_t>(body.size()));
      } else {
        packer.pack_ext(body.size(), static_cast<int8_t>(*rc::gen::inRange(0, 100)));
        packer.pack_ext_body(body.data(), static_cast<uint32_t>(body.size()));
      }
      break;
    }
    case 9:
    case 10: {
      const auto n = static_cast<uint32_t>(*rc::gen::inRange(0, 20));
      packer.pack_array(n);
      for (uint32_t i = 0; i < n; ++i) {
        write_random(packer, depth + 1);
      }
      break;
    }
    default: {
      const auto n = static_cast<uint32_t>(*rc::gen::inRange(0, 20));
      packer.pack_map(n);
      for (uint32_t i = 0; i < n; ++i) {
        if (*rc::gen::inRange(0, 4) == 0) {
          write_random(packer, depth + 1);  // a non-string key now and then
        } else {
          packer.pack(*rc::gen::element<std::string>("a", "b", "id", "type", "CVRContest", "x"));
        }
        write_random(packer, depth + 1);
      }
      break;
    }
  }
}

// The reader's view agrees with msgpack-c's object, recursively.
void agree(const msgpack::object& o, const MsgView& v) {
  switch (o.type) {
    case msgpack::type::NIL:
      RC_ASSERT(v.type() == MsgType::kNil);
      break;
    case msgpack::type::BOOLEAN:
      RC_ASSERT(v.as_bool() == o.via.boolean);
      break;
    case msgpack::type::POSITIVE_INTEGER:
      RC_ASSERT(v.type() == MsgType::kUint);
      RC_ASSERT(v.as_uint() == o.via.u64);
      RC_ASSERT(v.as_int() == quorum::sdk::as_int(&o));
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      RC_ASSERT(v.type() == MsgType::kInt);
      RC_ASSERT(v.as_int() == o.via.i64);
      RC_ASSERT(!v.as_uint());
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      RC_ASSERT(v.type() == (o.type == msgpack::type::FLOAT32 ? MsgType::kFloat32 : MsgType::kFloat64));
      const double d = *v.as_double();
      RC_ASSERT((std::isnan(d) && std::isnan(o.via.f64)) || d == o.via.f64);
      RC_ASSERT(v.as_int() == quorum::sdk::as_int(&o));
      break;
    }
    case msgpack::type::STR:
      RC_ASSERT(v.as_string() == std::string_view(o.via.str.ptr, o.via.str.size));
      break;
    case msgpack::type::BIN:
      RC_ASSERT(v.as_bin() == std::string_view(o.via.bin.ptr, o.via.bin.size));
      break;
    case msgpack::type::EXT:
      RC_ASSERT(v.type() == MsgType::kExt);
      RC_ASSERT(static_cast<size_t>(v.skip() - v.data()) >= o.via.ext.size);
      break;
    case msgpack::type::ARRAY: {
      RC_ASSERT(v.size() == o.via.array.size);
      uint32_t i = 0;
      for (const MsgView& element : v.elements()) {
        agree(o.via.array.ptr[i++], element);
      }
      RC_ASSERT(i == o.via.array.size);
      break;
    }
    case msgpack::type::MAP: {
      RC_ASSERT(v.size() == o.via.map.size);
      uint32_t i = 0;
      for (const MsgEntry& entry : v.items()) {
        agree(o.via.map.ptr[i].key, entry.key);
        agree(o.via.map.ptr[i].val, entry.value);
        ++i;
      }
      RC_ASSERT(i == o.via.map.size);
      const auto all = v.find_all<4>({std::string_view("a"), "id", "CVRContest", "nope"});
      size_t k = 0;
      for (const char* key : {"a", "id", "CVRContest", "nope"}) {
        const msgpack::object* expected = quorum::sdk::find(o, key);
        const std::optional<MsgView> found = v.find(key);
        RC_ASSERT(found.has_value() == (expected != nullptr));
        RC_ASSERT(all[k].has_value() == found.has_value());
        if (found) {
          agree(*expected, *found);
          RC_ASSERT(all[k]->data() == found->data());
        }
        ++k;
      }
      break;
    }
  }
}

// Touches everything the reader offers on a value, recursively; returns
// normally or throws MalformedMsgpack (checked by the caller).
void touch(const MsgView& v) {
  (void)v.type();
  (void)v.is_map();
  (void)v.is_array();
  (void)v.as_string();
  (void)v.as_bin();
  (void)v.as_int();
  (void)v.as_uint();
  (void)v.as_double();
  (void)v.as_bool();
  (void)v.size();
  (void)v.find("a");
  for (const MsgEntry& entry : v.items()) {
    touch(entry.key);
    touch(entry.value);
  }
  for (const MsgView& element : v.elements()) {
    touch(element);
  }
}

RC_GTEST_PROP(MsgpackReaderProperty, AgreesWithMsgpackC, ()) {
  const std::string bytes = packed([](Packer& p) { write_random(p, 0); });
  const Exact exact(bytes);
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  agree(handle.get(), exact.view());
  RC_ASSERT(exact.view().skip() == exact.data() + exact.size());
}

RC_GTEST_PROP(MsgpackReaderProperty, MutationsAndTruncationsNeverOverread, ()) {
  std::string bytes = packed([](Packer& p) { write_random(p, 0); });
  const int mutations = *rc::gen::inRange(0, 6);
  for (int i = 0; i < mutations && !bytes.empty(); ++i) {
    const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
    bytes[at] = static_cast<char>(*rc::gen::arbitrary<uint8_t>());
  }
  if (*rc::gen::arbitrary<bool>()) {
    bytes.resize(*rc::gen::inRange<size_t>(0, bytes.size() + 1));
  }
  const Exact exact(bytes);
  bool skipped = false;
  try {
    const uint8_t* end = exact.view().skip();
    RC_ASSERT(end > exact.data());
    RC_ASSERT(end <= exact.data() + exact.size());
    skipped = true;
  } catch (const MalformedMsgpack&) {
  }
  bool touched = false;
  try {
    touch(exact.view());
    touched = true;
  } catch (const MalformedMsgpack&) {
  }
  // A value that skips cleanly is fully readable, and agrees with msgpack-c
  // (which can then be asked safely: every declared size fits the bytes).
  if (skipped) {
    RC_ASSERT(touched);
    msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
    agree(handle.get(), exact.view());
  }
}

}  // namespace
