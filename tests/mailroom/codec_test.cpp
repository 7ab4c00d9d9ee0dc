// The mailroom's wire codec: round trips, canonical encoding, refusals of
// truncated, oversize and garbage input, zstd bundles, handshakes, and a
// property: any bytes fed to the decoder either decode to frames that
// re-encode to exactly those bytes, or are refused with an error.
#include <quorum/mailroom/codec.hpp>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <msgpack.hpp>

#include <string>
#include <vector>

namespace quorum::mailroom {
namespace {

std::vector<Frame> sample_frames() {
  std::vector<Frame> frames;
  frames.push_back(Frame{});
  frames.push_back(Frame{7, 42, 1, 9, "e/2026-11-03/precinct/TN/davidson/0101", std::string("\x92\x01\xa1x", 4)});
  frames.push_back(Frame{255, UINT64_MAX, 255, UINT64_MAX, std::string(300, 'k'), std::string(70000, '\0')});
  frames.push_back(Frame{128, 0x100, 127, 0x10000, std::string(31, 'a'), std::string(255, 'b')});
  frames.push_back(Frame{1, 0x100000000ULL, 0, 65535, std::string(32, 'a'), std::string(256, 'b')});
  return frames;
}

TEST(MailroomCodec, PayloadRoundTrip) {
  const std::vector<Frame> frames = sample_frames();
  const std::string payload = encode_payload(frames);
  Result<std::vector<Frame>> decoded = decode_payload(payload, kMaxFrameBytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, frames);
  for (const Frame& frame : frames) {
    std::string one;
    append_frame(one, frame);
    EXPECT_EQ(one.size(), encoded_frame_size(frame));
  }
}

TEST(MailroomCodec, PayloadIsPlainMsgpack) {
  const Frame frame{3, 1000, 2, 77, "key", "body"};
  const std::string payload = encode_payload(std::vector<Frame>{frame});
  msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
  const msgpack::object& root = handle.get();
  ASSERT_EQ(root.type, msgpack::type::ARRAY);
  ASSERT_EQ(root.via.array.size, 1u);
  const msgpack::object& fields = root.via.array.ptr[0];
  ASSERT_EQ(fields.via.array.size, 6u);
  EXPECT_EQ(fields.via.array.ptr[0].as<int>(), 3);
  EXPECT_EQ(fields.via.array.ptr[1].as<uint64_t>(), 1000u);
  EXPECT_EQ(fields.via.array.ptr[2].as<int>(), 2);
  EXPECT_EQ(fields.via.array.ptr[3].as<uint64_t>(), 77u);
  EXPECT_EQ(fields.via.array.ptr[4].type, msgpack::type::STR);
  EXPECT_EQ(fields.via.array.ptr[4].as<std::string>(), "key");
  EXPECT_EQ(fields.via.array.ptr[5].type, msgpack::type::BIN);
}

TEST(MailroomCodec, EmptyBundle) {
  Result<std::vector<Frame>> decoded = decode_payload(encode_payload({}), kMaxFrameBytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
}

TEST(MailroomCodec, BundleRoundTripWithAndWithoutZstd) {
  std::vector<Frame> frames;
  for (int n = 0; n < 2000; ++n) {
    frames.push_back(
        Frame{1, static_cast<uint64_t>(n), 0, 5, "e/key/" + std::to_string(n % 10), std::string(100, 'x')});
  }
  for (size_t compress_min : {size_t{0}, size_t{1024}}) {
    const std::string bundle = encode_bundle(frames, compress_min);
    Result<BundleHeader> header = parse_bundle_header(std::string_view(bundle).substr(0, kBundleHeaderBytes), 8 << 20);
    ASSERT_TRUE(header.ok()) << header.error().message;
    EXPECT_EQ(header->length, bundle.size() - kBundleHeaderBytes);
    EXPECT_EQ(header->flags, compress_min == 0 ? 0 : kFlagZstd);
    if (compress_min != 0) {
      EXPECT_LT(bundle.size(), encode_payload(frames).size() / 4);  // 100 x 'x' compresses well
    }
    Result<std::vector<Frame>> decoded = decode_bundle_payload(std::string_view(bundle).substr(kBundleHeaderBytes),
                                                               header->flags, 8 << 20, kMaxFrameBytes);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, frames);
  }
}

TEST(MailroomCodec, IncompressibleBundleIsSentPlain) {
  std::string noise(100000, '\0');
  uint32_t x = 12345;
  for (char& c : noise) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  const std::string bundle = encode_bundle(std::vector<Frame>{Frame{0, 0, 0, 0, "", noise}}, 1);
  EXPECT_EQ(static_cast<uint8_t>(bundle[4]), 0);
}

TEST(MailroomCodec, HeaderRefusesOversizeAndBadFlags) {
  std::string header;
  append_bundle_header(header, BundleHeader{1000, 0});
  EXPECT_TRUE(parse_bundle_header(header, 1000).ok());
  Result<BundleHeader> over = parse_bundle_header(header, 999);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("over the limit"), std::string::npos);
  header.clear();
  append_bundle_header(header, BundleHeader{10, 0x02});
  Result<BundleHeader> flags = parse_bundle_header(header, 1000);
  ASSERT_FALSE(flags.ok());
  EXPECT_NE(flags.error().message.find("flags"), std::string::npos);
  EXPECT_FALSE(parse_bundle_header("\0\0\0", 1000).ok());
  EXPECT_FALSE(decode_bundle_payload("x", 0x80, 1000, 1000).ok());
}

TEST(MailroomCodec, TruncatedPayloadsAreRefused) {
  const std::string payload = encode_payload(sample_frames());
  for (size_t size = 0; size < payload.size(); size += (size < 400 ? 1 : 997)) {
    Result<std::vector<Frame>> decoded = decode_payload(std::string_view(payload).substr(0, size), kMaxFrameBytes);
    EXPECT_FALSE(decoded.ok()) << "prefix of " << size << " bytes accepted";
  }
  EXPECT_FALSE(decode_payload(payload + "x", kMaxFrameBytes).ok());  // trailing bytes
}

TEST(MailroomCodec, FrameOverTheLimitIsRefused) {
  const Frame frame{0, 0, 0, 0, "k", std::string(5000, 'b')};
  const std::string payload = encode_payload(std::vector<Frame>{frame});
  EXPECT_TRUE(decode_payload(payload, encoded_frame_size(frame)).ok());
  Result<std::vector<Frame>> decoded = decode_payload(payload, encoded_frame_size(frame) - 1);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("over the limit"), std::string::npos);
}

TEST(MailroomCodec, GarbageAndNonCanonicalAreRefused) {
  EXPECT_FALSE(decode_payload("", kMaxFrameBytes).ok());
  EXPECT_FALSE(decode_payload("\xc0", kMaxFrameBytes).ok());                                  // nil
  EXPECT_FALSE(decode_payload("\xdd\xff\xff\xff\xff", kMaxFrameBytes).ok());                  // 4G frames, no bytes
  EXPECT_FALSE(decode_payload(std::string("\x91\x95\0\0\0\0\xa0", 7), kMaxFrameBytes).ok());  // 5 fields
  // kind as uint8 0x05 (canonical is fixint 0x05).
  EXPECT_FALSE(decode_payload(std::string("\x91\x96\xcc\x05\0\0\0\xa0\xc4\0", 10), kMaxFrameBytes).ok());
  // kind 256 does not fit a byte.
  EXPECT_FALSE(decode_payload(std::string("\x91\x96\xcd\x01\x00\0\0\0\xa0\xc4\0", 11), kMaxFrameBytes).ok());
  // key as str8 of 3 bytes (canonical is fixstr).
  EXPECT_FALSE(decode_payload(std::string("\x91\x96\0\0\0\0\xd9\x03"
                                          "abc\xc4\0",
                                          13),
                              kMaxFrameBytes)
                   .ok());
  // body as str instead of bin.
  EXPECT_FALSE(decode_payload(std::string("\x91\x96\0\0\0\0\xa0\xa0", 8), kMaxFrameBytes).ok());
  // The canonical form of the same frame decodes.
  EXPECT_TRUE(decode_payload(std::string("\x91\x96\x05\0\0\0\xa3"
                                         "abc\xc4\0",
                                         12),
                             kMaxFrameBytes)
                  .ok());
}

TEST(MailroomCodec, ZstdRefusesBombsAndGarbage) {
  const std::string big(1 << 20, 'z');
  Result<std::string> compressed = zstd_compress(big);
  ASSERT_TRUE(compressed.ok());
  EXPECT_TRUE(zstd_decompress(*compressed, 1 << 20).ok());
  Result<std::string> bomb = zstd_decompress(*compressed, (1 << 20) - 1);
  ASSERT_FALSE(bomb.ok());
  EXPECT_NE(bomb.error().message.find("over the limit"), std::string::npos);
  EXPECT_FALSE(zstd_decompress("not zstd at all", 1000).ok());
  std::string corrupt = *compressed;
  corrupt.resize(corrupt.size() / 2);
  EXPECT_FALSE(zstd_decompress(corrupt, 1 << 20).ok());
}

TEST(MailroomCodec, Handshake) {
  const std::string wire = encode_handshake(Handshake{kProtocolVersion, "FL-A-1", 17});
  Result<BundleHeader> header = parse_bundle_header(std::string_view(wire).substr(0, 5), kMaxHandshakeBytes);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->flags, 0);
  Result<Handshake> decoded = decode_handshake(std::string_view(wire).substr(5));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->version, kProtocolVersion);
  EXPECT_EQ(decoded->node, "FL-A-1");
  EXPECT_EQ(decoded->epoch, 17u);
  EXPECT_FALSE(decode_handshake("\x93\x01\x02\x03").ok());   // not a map
  EXPECT_FALSE(decode_handshake("\x81\xa4node\xa1x").ok());  // no version
  EXPECT_FALSE(decode_handshake("\xff\xff").ok());
}

// Any byte string: frames that re-encode to the same bytes, or an error.
RC_GTEST_PROP(MailroomCodecProperty, DecoderAcceptsOnlyWhatReencodesIdentically, (const std::string& bytes)) {
  Result<std::vector<Frame>> decoded = decode_payload(bytes, 1 << 16);
  if (decoded.ok()) {
    RC_ASSERT(encode_payload(*decoded) == bytes);
  }
}

// Valid bundles with random damage (a byte flipped, cut short): the same rule.
RC_GTEST_PROP(MailroomCodecProperty, DamagedBundles, ()) {
  const auto frames = *rc::gen::container<std::vector<Frame>>(
      rc::gen::build<Frame>(rc::gen::set(&Frame::kind), rc::gen::set(&Frame::correlation), rc::gen::set(&Frame::hops),
                            rc::gen::set(&Frame::epoch), rc::gen::set(&Frame::key), rc::gen::set(&Frame::body)));
  std::string payload = encode_payload(frames);
  Result<std::vector<Frame>> clean = decode_payload(payload, 1 << 20);
  RC_ASSERT(clean.ok());
  RC_ASSERT(*clean == frames);
  if (!payload.empty()) {
    const size_t at = *rc::gen::inRange<size_t>(0, payload.size());
    payload[at] = static_cast<char>(*rc::gen::arbitrary<uint8_t>());
    payload.resize(*rc::gen::inRange<size_t>(0, payload.size() + 1));
  }
  Result<std::vector<Frame>> decoded = decode_payload(payload, 1 << 20);
  if (decoded.ok()) {
    RC_ASSERT(encode_payload(*decoded) == payload);
  }
  // Compressed: any damage is refused or decodes to something that re-encodes.
  Result<std::string> compressed = zstd_compress(payload);
  RC_ASSERT(compressed.ok());
  std::string damaged = *compressed;
  damaged[*rc::gen::inRange<size_t>(0, damaged.size())] ^= static_cast<char>(*rc::gen::inRange<int>(1, 256));
  Result<std::vector<Frame>> unzipped = decode_bundle_payload(damaged, kFlagZstd, 1 << 20, 1 << 20);
  if (unzipped.ok()) {
    RC_ASSERT(encode_payload(*unzipped).size() <= (1u << 20));
  }
}

}  // namespace
}  // namespace quorum::mailroom
