// The mailroom's wire codec (docs/mailroom.md, "Wire format"), sans-IO.
//
// What: encodes and decodes handshakes and bundles. A bundle on the wire is
// a 5-byte header (4-byte big-endian payload length, 1 flags byte; bit 0 =
// zstd) and a payload: a msgpack array of frames, each frame the fixed array
// [kind, correlation, hops, epoch, key (str), body (bin)], zstd-compressed
// when the flag is set.
//
// Why sans-IO: the decoder is what faces bytes from the network, so it is
// tested on its own (round trips, garbage, a rapidcheck property).
//
// Contract: the encoder writes canonical msgpack (the smallest encoding of
// every integer, length and array header, as msgpack-cxx's packer does); the
// decoder accepts only that, so any payload it accepts re-encodes to the same
// bytes. The decoder never reads past its input, never allocates more than
// its limits allow and returns an Error (kInvalidArgument) for anything it
// refuses; it yields all frames of a bundle or none.
//
// Threads: free functions without shared state.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/mailroom/mailroom.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::mailroom {

inline constexpr size_t kBundleHeaderBytes = 5;     // length (4, big-endian) + flags (1)
inline constexpr uint8_t kFlagZstd = 0x01;          // the only defined flag
inline constexpr size_t kMaxHandshakeBytes = 4096;  // handshake payload bound
inline constexpr size_t kBundleSlackBytes = 64;     // incoming bundle bound = max(bundle, frame) + this

// Appends one frame's canonical msgpack encoding to `out`.
void append_frame(std::string& out, const Frame& frame);
// The encoded size of one frame (what max_frame_bytes bounds).
size_t encoded_frame_size(const Frame& frame);
// Appends a canonical msgpack array header for `count` elements.
void append_array_header(std::string& out, uint32_t count);

// An uncompressed payload: array header + frames.
std::string encode_payload(std::span<const Frame> frames);
// Decodes an uncompressed payload. Every frame's encoded size must be at most
// max_frame_bytes, and the payload must end exactly after the last frame.
Result<std::vector<Frame>> decode_payload(std::string_view payload, size_t max_frame_bytes);

struct BundleHeader {
  uint32_t length = 0;  // payload bytes after the header
  uint8_t flags = 0;
};
void append_bundle_header(std::string& out, BundleHeader header);
// Refuses a payload length over max_payload_bytes or unknown flag bits.
Result<BundleHeader> parse_bundle_header(std::string_view header, size_t max_payload_bytes);

// A whole bundle (header + payload), compressed with zstd when the payload is
// at least compress_min_bytes (0 = never) and compression makes it smaller.
std::string encode_bundle(std::span<const Frame> frames, size_t compress_min_bytes);
// Decodes a payload given its header's flags: decompresses (refusing more than
// max_payload_bytes of output) and decodes.
Result<std::vector<Frame>> decode_bundle_payload(std::string_view payload, uint8_t flags, size_t max_payload_bytes,
                                                 size_t max_frame_bytes);

// zstd (level 1). decompress refuses output over max_output_bytes and frames
// that do not declare their content size.
Result<std::string> zstd_compress(std::string_view input);
Result<std::string> zstd_decompress(std::string_view input, size_t max_output_bytes);

// The first message each way on a connection: a bundle header (flags 0) and a
// msgpack map {"version": uint, "node": str, "epoch": uint}.
struct Handshake {
  uint32_t version = kProtocolVersion;
  std::string node;
  uint64_t epoch = 0;
};
std::string encode_handshake(const Handshake& handshake);      // header included
Result<Handshake> decode_handshake(std::string_view payload);  // payload only

}  // namespace quorum::mailroom
