#include <quorum/node/json_text_writer.hpp>

#include <charconv>
#include <cstdint>

namespace quorum::node {

namespace {

constexpr uint8_t kUtf8Accept = 0;
constexpr uint8_t kUtf8Reject = 1;

// One step of the UTF-8 decoder nlohmann's serializer uses (Bjoern
// Hoehrmann's DFA, same table), so that invalid bytes are replaced exactly
// where dump_json replaces them.
uint8_t utf8_step(uint8_t& state, uint32_t& codepoint, uint8_t byte) {
  // clang-format off
  static constexpr uint8_t kTable[400] = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 00..1F
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 20..3F
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 40..5F
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 60..7F
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,  // 80..9F
      7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  // A0..BF
      8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  // C0..DF
      0xA, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x3, 0x4, 0x3, 0x3,                  // E0..EF
      0xB, 0x6, 0x6, 0x6, 0x5, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8, 0x8,                  // F0..FF
      0x0, 0x1, 0x2, 0x3, 0x5, 0x8, 0x7, 0x1, 0x1, 0x1, 0x4, 0x6, 0x1, 0x1, 0x1, 0x1,                  // s0..s0
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1,  // s1..s2
      1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1,  // s3..s4
      1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1,  // s5..s6
      1, 3, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // s7..s8
  };
  // clang-format on
  uint8_t type = kTable[byte];
  codepoint = state != kUtf8Accept ? (byte & 0x3fu) | (codepoint << 6u) : (0xffu >> type) & byte;
  state = kTable[256u + state * 16u + type];
  return state;
}

// Appends one decoded code point's last byte, escaped as dump_json does.
void append_escaped(std::string& out, uint32_t codepoint, char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (codepoint) {
    case '\b':
      out += "\\b";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\r':
      out += "\\r";
      return;
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    default:
      break;
  }
  if (codepoint <= 0x1f) {
    out += "\\u00";
    out.push_back(kHex[codepoint >> 4]);
    out.push_back(kHex[codepoint & 15]);
    return;
  }
  out.push_back(byte);
}

bool plain_json_char(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

void append_uint(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  (void)ec;
  out.append(digits, end);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD
  out.push_back('"');
  uint8_t state = kUtf8Accept;
  uint32_t codepoint = 0;
  size_t accepted = out.size();  // out's size after the last whole character
  size_t pending = 0;            // bytes of an unfinished character
  for (size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<uint8_t>(text[i]);
    if (state == kUtf8Accept && plain_json_char(byte)) {
      out.push_back(static_cast<char>(byte));
      accepted = out.size();
      continue;
    }
    switch (utf8_step(state, codepoint, byte)) {
      case kUtf8Accept:
        append_escaped(out, codepoint, static_cast<char>(byte));
        accepted = out.size();
        pending = 0;
        break;
      case kUtf8Reject:
        if (pending > 0) {
          --i;  // the byte may start a character of its own: read it again
        }
        out.resize(accepted);
        out += kReplacement;
        accepted = out.size();
        pending = 0;
        state = kUtf8Accept;
        break;
      default:
        out.push_back(static_cast<char>(byte));
        ++pending;
        break;
    }
  }
  if (state != kUtf8Accept) {
    out.resize(accepted);
    out += kReplacement;
  }
  out.push_back('"');
}

void append_receipt_json(std::string& out, const CommandReceipt& receipt) {
  out += receipt.duplicate ? "{\"duplicate\":true,\"hash\":" : "{\"duplicate\":false,\"hash\":";
  append_json_string(out, receipt.hash_hex);
  out += ",\"key\":";
  append_json_string(out, receipt.key);
  out += ",\"seq\":";
  append_uint(out, receipt.seq);
  out.push_back('}');
}

void append_error_json(std::string& out, std::string_view key, unsigned status, std::string_view message) {
  out += "{\"error\":";
  append_json_string(out, message);
  if (!key.empty()) {
    out += ",\"key\":";
    append_json_string(out, key);
  }
  out += ",\"status\":";
  append_uint(out, status);
  out.push_back('}');
}

}  // namespace quorum::node
