// Property tests: the DOM-free JSON decoders (decode_command_json,
// decode_batch_ndjson, decode_batch_json) give exactly what the DOM path
// gives (json::parse + command_from_json): the same Command (id, type, key,
// data bytes) or the same error code and message, over many generated valid
// and malformed texts. And the hand-written JSON writers (append_*_json)
// give exactly dump_json's bytes, invalid UTF-8 included. The msgpack
// writer the reader uses for data is also checked on its own against
// json::to_msgpack, at every header width boundary (internal header, hence
// the relative include).
#include <quorum/node/command_codec.hpp>

#include "../../host/src/node/msgpack_writer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace quorum::node {
namespace {

using nlohmann::json;

// ---- the DOM path, as the decoders were before the SAX pass -----------------

size_t json_depth(std::string_view text, size_t bound) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > bound) {
        return deepest;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Error invalid(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }

Result<json> dom_parse(std::string_view text, size_t depth_bound) {
  if (json_depth(text, depth_bound) > depth_bound) {
    return invalid("malformed JSON: nested deeper than " + std::to_string(depth_bound) + " levels");
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return invalid(std::string("malformed JSON: ") + e.what());
  }
}

Result<Command> dom_command(std::string_view key, std::string_view body) {
  if (Status s = validate_key(key); !s) {
    return s.error();
  }
  Result<json> parsed = dom_parse(body, kMaxCommandDepth);
  if (!parsed) {
    return parsed.error();
  }
  return command_from_json(key, *parsed);
}

Error prefixed(const std::string& prefix, Error error) {
  error.message = prefix + error.message;
  return error;
}

Result<BatchItems> dom_ndjson(std::string_view body) {
  BatchItems items;
  size_t start = 0;
  size_t line_number = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) {
      end = body.size();
    }
    std::string_view line = body.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      continue;
    }
    if (items.size() == kMaxBatchCommands) {
      return make_error(ErrorCode::kResourceExhausted,
                        "a batch holds at most " + std::to_string(kMaxBatchCommands) + " commands");
    }
    std::string prefix = "line " + std::to_string(line_number) + ": ";
    Result<json> parsed = dom_parse(line, kMaxCommandDepth);
    if (!parsed) {
      items.emplace_back(prefixed(prefix, parsed.error()));
      continue;
    }
    Result<Command> command = command_from_json({}, *parsed);
    items.emplace_back(command ? std::move(command) : Result<Command>(prefixed(prefix, command.error())));
  }
  if (items.empty()) {
    return invalid("empty batch: send one JSON command per line");
  }
  return items;
}

Result<BatchItems> dom_batch_json(std::string_view body) {
  Result<json> parsed = dom_parse(body, kMaxCommandDepth + 1);
  if (!parsed) {
    return parsed.error();
  }
  if (!parsed->is_array()) {
    return invalid("a JSON batch must be an array of command objects (or send NDJSON)");
  }
  if (parsed->size() > kMaxBatchCommands) {
    return make_error(ErrorCode::kResourceExhausted, "a batch holds at most " + std::to_string(kMaxBatchCommands) +
                                                         " commands, got " + std::to_string(parsed->size()));
  }
  if (parsed->empty()) {
    return invalid("empty batch");
  }
  BatchItems items;
  for (size_t i = 0; i < parsed->size(); ++i) {
    Result<Command> command = command_from_json({}, (*parsed)[i]);
    items.emplace_back(command ? std::move(command)
                               : Result<Command>(prefixed("item " + std::to_string(i) + ": ", command.error())));
  }
  return items;
}

// ---- comparisons ------------------------------------------------------------

void expect_same(const Result<Command>& fast, const Result<Command>& dom, const std::string& text) {
  ASSERT_EQ(fast.ok(), dom.ok()) << "text: " << text << "\nfast: " << (fast ? "ok" : fast.error().message)
                                 << "\ndom: " << (dom ? "ok" : dom.error().message);
  if (dom.ok()) {
    EXPECT_EQ(fast->key, dom->key) << text;
    EXPECT_EQ(fast->id, dom->id) << text;
    EXPECT_EQ(fast->type, dom->type) << text;
    EXPECT_EQ(fast->data, dom->data) << text;
  } else {
    EXPECT_EQ(fast.error().code, dom.error().code) << text;
    EXPECT_EQ(fast.error().message, dom.error().message) << text;
  }
}

void expect_same(const Result<BatchItems>& fast, const Result<BatchItems>& dom, const std::string& text) {
  ASSERT_EQ(fast.ok(), dom.ok()) << "text: " << text << "\nfast: " << (fast ? "ok" : fast.error().message)
                                 << "\ndom: " << (dom ? "ok" : dom.error().message);
  if (!dom.ok()) {
    EXPECT_EQ(fast.error().code, dom.error().code) << text;
    EXPECT_EQ(fast.error().message, dom.error().message) << text;
    return;
  }
  ASSERT_EQ(fast->size(), dom->size()) << text;
  for (size_t i = 0; i < dom->size(); ++i) {
    expect_same((*fast)[i], (*dom)[i], text);
  }
}

// ---- generators -------------------------------------------------------------

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(size_t one_in) { return below(one_in) == 0; }

  // A JSON text of one value, nested at most `depth` more levels.
  std::string value(int depth) {
    switch (below(depth > 0 ? 9 : 6)) {
      case 0:
        return pick({"null", "true", "false"});
      case 1:
        return integer();
      case 2:
        return floating();
      case 3:
      case 4:
        return string_literal();
      case 5:
        return integer();
      case 6:
        return array(depth - 1);
      default:
        return object(depth - 1);
    }
  }

  std::string integer() {
    static const std::vector<std::string> kEdges = {
        "0", "-0", "1", "-1", "31", "-31", "-32", "-33", "127", "128", "-127", "-128", "-129", "255", "256",
        "32767", "32768", "-32768", "-32769", "65535", "65536", "2147483647", "2147483648", "-2147483648",
        "-2147483649", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "123456789012345678901234567890", "-123456789012345678901234567890"};
    if (chance(2)) {
      return kEdges[below(kEdges.size())];
    }
    int64_t v = static_cast<int64_t>(rng_()) >> below(64);
    return std::to_string(v);
  }

  std::string floating() {
    static const std::vector<std::string> kEdges = {
        "0.0", "-0.0", "1.5", "0.1", "1e3", "1E-3", "-2.5e+10", "3.4028234663852886e38", "3.4028235677973366e38",
        "-3.4028234663852886e38", "1.401298464324817e-45", "1e-46", "1e308", "1.7976931348623157e308",
        "4.9e-324", "16777217.0", "16777216.0", "0.30000000000000004", "1e400", "-1e400"};
    if (chance(2)) {
      return kEdges[below(kEdges.size())];
    }
    std::uniform_real_distribution<double> d(-1e6, 1e6);
    char text[64];
    std::snprintf(text, sizeof(text), below(2) ? "%.17g" : "%.3f", d(rng_));
    std::string s = text;
    if (s.find_first_of(".eE") == std::string::npos) {
      s += ".0";
    }
    return s;
  }

  std::string raw_string() {
    static const std::vector<std::string> kPieces = {"a", "b", "Z", "id", "type", "key", "data", " ", "\\\"",
                                                     "\\\\", "\\n", "\\u0000", "\\u001f", "\\u00e9", "\\ud83d\\ude00",
                                                     "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "/", "\\/", "~",
                                                     "\x7f"};
    size_t size = below(4) == 0 ? below(300) : below(8);
    if (chance(40)) {
      size = 65530 + below(12);  // around the str16 / str32 boundary
    }
    std::string out;
    for (size_t i = 0; i < size; ++i) {
      out += size > 64 ? std::string(1, static_cast<char>('a' + below(26))) : kPieces[below(kPieces.size())];
    }
    return out;
  }

  std::string string_literal() { return "\"" + raw_string() + "\""; }

  std::string key_literal() {
    static const std::vector<std::string> kKeys = {"a", "b", "c", "A", "B", "aa", "ab", "", "\\u00e9", "\xc3\xa9",
                                                   "z", "id", "type", "data", "key", "\\u0000", "a\\u0000"};
    return "\"" + (chance(3) ? raw_string() : kKeys[below(kKeys.size())]) + "\"";
  }

  std::string array(int depth) {
    size_t size = sized();
    std::string out = "[";
    for (size_t i = 0; i < size; ++i) {
      out += (i ? "," : "") + space() + value(depth) + space();
    }
    return out + "]";
  }

  std::string object(int depth) {
    size_t size = sized();
    std::string out = "{";
    for (size_t i = 0; i < size; ++i) {
      out += (i ? "," : "") + space() + key_literal() + space() + ":" + value(depth);
    }
    return out + "}";
  }

  // A command map: the known fields with valid values, or (sloppy) with
  // wrong values, missing, unknown or duplicate fields; in random order.
  std::string command(bool with_key) {
    bool sloppy = chance(2);
    std::vector<std::string> fields;
    if (!sloppy || !chance(8)) {
      fields.push_back("\"type\":" + (sloppy ? pick({"\"cvr\"", "\"Bad\"", "5", "\"\"", "null", "\"a.b-c_9\""})
                                            : pick({"\"cvr\"", "\"t\"", "\"a.b-c_9\""})));
    }
    if (!chance(3)) {
      fields.push_back("\"id\":" + (sloppy ? pick({"\"b-1\"", "7", "\"\\u0001\"", "[1]"})
                                          : pick({"\"b-1\"", "\"\"", "\"ballot 42\"", "\"\\u00e9\""})));
    }
    if (with_key ? (!sloppy || !chance(8)) : chance(3)) {
      fields.push_back("\"key\":" + (sloppy ? pick({"\"k\"", "\"bad key\"", "\"a//b\"", "1"})
                                           : pick({"\"e/p1\"", "\"e/p1\""})));
    }
    if (!chance(4)) {
      fields.push_back("\"data\":" + value(static_cast<int>(below(5))));
    }
    if (sloppy && chance(3)) {
      fields.push_back(key_literal() + ":" + value(1));
    }
    if (chance(6) && !fields.empty()) {
      fields.push_back(fields[below(fields.size())]);  // a duplicate
      if (sloppy) {
        std::string& d = fields.back();
        d = d.substr(0, d.find(':') + 1) + value(2);  // with another value
      }
    }
    std::shuffle(fields.begin(), fields.end(), rng_);
    std::string out = "{";
    for (size_t i = 0; i < fields.size(); ++i) {
      out += (i ? "," : "") + space() + fields[i];
    }
    return out + space() + "}";
  }

  // `text` with a few random edits: deletions, insertions, truncation.
  std::string mutate(std::string text) {
    static const std::string kAlphabet = "{}[],:\"\\ 0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9\xff\n";
    size_t edits = 1 + below(3);
    for (size_t e = 0; e < edits && !text.empty(); ++e) {
      size_t at = below(text.size());
      switch (below(4)) {
        case 0:
          text.erase(at, 1 + below(3));
          break;
        case 1:
          text.insert(at, 1, kAlphabet[below(kAlphabet.size())]);
          break;
        case 2:
          text[at] = kAlphabet[below(kAlphabet.size())];
          break;
        default:
          text.resize(at);
          break;
      }
    }
    return text;
  }

  std::string bytes(size_t max_size) {
    std::string out(below(max_size + 1), '\0');
    for (char& c : out) {
      c = static_cast<char>(chance(3) ? 0x80 + below(128) : below(128));
    }
    return out;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::string pick(std::initializer_list<const char*> options) {
    return *(options.begin() + static_cast<std::ptrdiff_t>(below(options.size())));
  }
  size_t sized() {
    switch (below(8)) {
      case 0:
        return 15 + below(3);  // fix / 16-bit header boundary
      case 1:
        return 0;
      default:
        return below(5);
    }
  }
  std::string space() { return chance(5) ? pick({" ", "\t", "\n ", "  "}) : ""; }

  std::mt19937_64 rng_;
};

// ---- the properties -----------------------------------------------------------

TEST(CodecEquivalence, SingleCommandsMatchTheDomPath) {
  Gen gen(1);
  int decoded = 0;
  int malformed = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string text = gen.command(false);
    if (i % 3 == 1) {
      text = gen.mutate(text);
    } else if (i % 7 == 2) {
      text = gen.value(3);  // not a command map at all
    }
    std::string key = i % 11 == 0 ? "bad key" : (i % 5 == 0 ? "k" : "e/p1");
    Result<Command> dom = dom_command(key, text);
    expect_same(decode_command_json(key, text), dom, text);
    if (testing::Test::HasFailure()) {
      return;
    }
    decoded += dom.ok() && dom->data.size() > 1 ? 1 : 0;
    malformed += !dom.ok() && dom.error().message.starts_with("malformed JSON: [json") ? 1 : 0;
  }
  // Not vacuous: many commands with data decode, many texts do not parse.
  EXPECT_GT(decoded, 600);
  EXPECT_GT(malformed, 600);
}

TEST(CodecEquivalence, DataBytesMatchToMsgpackForEdgeValues) {
  // Values where msgpack widths, float compaction and key order matter.
  const char* values[] = {
      "{\"b\":1,\"a\":2,\"b\":3}", "{\"z\":{\"y\":1,\"x\":[3,2,1]},\"a\":null}", "{\"\":0,\"\\u0000\":1,\"a\":2}",
      "{\"\xc3\xa9\":1,\"z\":2,\"\\u00e9\":3}", "[1.0,1.5,0.1,-0.0,3.4028234663852886e38,1e39,16777217.0]",
      "[-32,-33,-128,-129,-32768,-32769,-2147483648,-2147483649,-9223372036854775808]",
      "[127,128,255,256,65535,65536,4294967295,4294967296,18446744073709551615,18446744073709551616]",
      "{\"a\":1,\"a\":{\"b\":2,\"b\":3},\"a\":[{\"c\":1,\"c\":2}]}",
      "[[],{},[[]],{\"a\":{}},[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14],[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]]",
      "{\"a\":0,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,\"h\":0,\"i\":0,\"j\":0,\"k\":0,\"l\":0,\"m\":0,"
      "\"n\":0,\"o\":0,\"p\":0,\"a\":1}",
      "{\"p\":0,\"o\":0,\"n\":0,\"m\":0,\"l\":0,\"k\":0,\"j\":0,\"i\":0,\"h\":0,\"g\":0,\"f\":0,\"e\":0,\"d\":0,"
      "\"c\":0,\"b\":0,\"a\":0}",
  };
  for (const char* value : values) {
    std::string text = std::string("{\"type\":\"t\",\"data\":") + value + "}";
    Result<Command> fast = decode_command_json("k", text);
    ASSERT_TRUE(fast.ok()) << text << ": " << fast.error().message;
    std::vector<uint8_t> expected = json::to_msgpack(json::parse(value));
    EXPECT_EQ(fast->data, std::string(expected.begin(), expected.end())) << value;
    expect_same(fast, dom_command("k", text), text);
  }
}

TEST(CodecEquivalence, DataSizeAndDepthBoundsMatch) {
  for (size_t size : {kMaxCommandDataBytes - 6, kMaxCommandDataBytes - 5, kMaxCommandDataBytes - 4}) {
    std::string text = "{\"type\":\"t\",\"data\":\"" + std::string(size, 'x') + "\"}";
    expect_same(decode_command_json("k", text), dom_command("k", text), "size " + std::to_string(size));
  }
  std::string big_then_unknown =
      "{\"zz\":1,\"data\":\"" + std::string(kMaxCommandDataBytes, 'x') + "\",\"aa\":2,\"type\":\"t\"}";
  expect_same(decode_command_json("k", big_then_unknown), dom_command("k", big_then_unknown), "big + unknown");
  for (size_t depth : {62, 63, 64, 65, 100}) {
    std::string data = std::string(depth, '[') + std::string(depth, ']');
    std::string text = "{\"type\":\"t\",\"data\":" + data + "}";
    expect_same(decode_command_json("k", text), dom_command("k", text), "depth " + std::to_string(depth));
    std::string batch = "[" + text + "]";
    expect_same(decode_batch_json(batch), dom_batch_json(batch), "batch depth " + std::to_string(depth));
  }
}

TEST(CodecEquivalence, NdjsonBatchesMatchTheDomPath) {
  Gen gen(2);
  for (int i = 0; i < 400; ++i) {
    std::string body;
    size_t lines = gen.below(12);
    for (size_t l = 0; l < lines; ++l) {
      std::string line = gen.command(true);
      if (gen.chance(4)) {
        line = gen.mutate(line);
      }
      if (gen.chance(10)) {
        line = gen.chance(2) ? "" : " \t";
      }
      body += line + (gen.chance(5) ? "\r\n" : "\n");
    }
    if (gen.chance(3) && !body.empty()) {
      body.pop_back();
    }
    expect_same(decode_batch_ndjson(body), dom_ndjson(body), body);
    if (testing::Test::HasFailure()) {
      return;
    }
  }
}

TEST(CodecEquivalence, JsonArrayBatchesMatchTheDomPath) {
  Gen gen(3);
  for (int i = 0; i < 600; ++i) {
    std::string body;
    if (gen.chance(8)) {
      body = gen.value(3);  // any JSON value, arrays of scalars included
    } else {
      body = "[";
      size_t items = gen.below(8);
      for (size_t n = 0; n < items; ++n) {
        body += (n ? "," : "") + (gen.chance(8) ? gen.value(2) : gen.command(true));
      }
      body += "]";
    }
    if (gen.chance(4)) {
      body = gen.mutate(body);
    }
    expect_same(decode_batch_json(body), dom_batch_json(body), body);
    if (testing::Test::HasFailure()) {
      return;
    }
  }
}

TEST(CodecEquivalence, BatchBoundsMatch) {
  std::string full = "[";
  for (size_t i = 0; i <= kMaxBatchCommands; ++i) {
    full += i ? ",1" : "1";
  }
  full += "]";
  expect_same(decode_batch_json(full), dom_batch_json(full), "over the batch bound");
  expect_same(decode_batch_json("[]"), dom_batch_json("[]"), "[]");
  expect_same(decode_batch_json("{\"a\":[1]}"), dom_batch_json("{\"a\":[1]}"), "object");
  expect_same(decode_batch_json("[[{}],{\"a\":{\"b\":[]}}]"), dom_batch_json("[[{}],{\"a\":{\"b\":[]}}]"), "nested");
}

TEST(CodecEquivalence, RandomBytesMatchTheDomPath) {
  Gen gen(4);
  for (int i = 0; i < 3000; ++i) {
    std::string text = gen.bytes(40);
    expect_same(decode_command_json("k", text), dom_command("k", text), text);
    expect_same(decode_batch_ndjson(text), dom_ndjson(text), text);
    expect_same(decode_batch_json(text), dom_batch_json(text), text);
    if (testing::Test::HasFailure()) {
      return;
    }
  }
}

TEST(CodecEquivalence, SpecialBytesAtEveryOffsetOfAStringMatch) {
  // The fast reader scans string bytes 16 at a time: put each kind of byte
  // it must stop at (or must not) at every offset around and across those
  // 16-byte steps, in the id (a field) and in data (a value and a key).
  const std::vector<std::string> specials = {
      "\"", "\\\\", "\\n", "\\u00e9", std::string(1, '\x01'), "\x1f", "\x7f", " ", "~", "\xc3\xa9",
      "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xc3", "\xff", "\xed\xa0\x80", "\xc0\xaf"};
  int checked = 0;
  for (const std::string& special : specials) {
    for (size_t before = 0; before < 40; ++before) {
      for (size_t after : {size_t{0}, size_t{1}, size_t{15}, size_t{17}}) {
        std::string inner = std::string(before, 'a') + special + std::string(after, 'b');
        std::string texts[] = {
            "{\"id\":\"" + inner + "\",\"type\":\"t\"}",
            "{\"type\":\"t\",\"data\":{\"" + inner + "\":\"" + inner + "\"}}",
            "{\"type\":\"t\",\"data\":\"" + inner,  // cut short inside the string
        };
        for (const std::string& text : texts) {
          expect_same(decode_command_json("k", text), dom_command("k", text), text);
          std::string line = "{\"key\":\"e/p1\"," + text.substr(1) + "\n";
          expect_same(decode_batch_ndjson(line), dom_ndjson(line), line);
          if (testing::Test::HasFailure()) {
            return;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(specials.size()) * 40 * 4 * 3);
}

TEST(CodecEquivalence, KnownFieldsInAnyOrderAndRepeatsMatch) {
  // Commands with only the four known fields take a path without sorting;
  // repeats and unknown fields the sorted one. Both must agree with the DOM.
  const std::vector<std::string> fields = {
      "\"type\":\"t\"", "\"id\":\"b-1\"", "\"key\":\"e/p1\"", "\"data\":{\"z\":1,\"a\":[2]}", "\"type\":5",
      "\"id\":\"b-2\"", "\"zz\":1", "\"key\":\"bad key\"", "\"data\":null"};
  Gen gen(5);
  for (int i = 0; i < 3000; ++i) {
    std::string text = "{";
    size_t count = 1 + gen.below(6);
    for (size_t n = 0; n < count; ++n) {
      text += (n ? "," : "") + fields[gen.below(i % 2 == 0 ? 4 : fields.size())];
    }
    text += "}";
    expect_same(decode_command_json("e/p1", text), dom_command("e/p1", text), text);
    std::string line = text + "\n";
    expect_same(decode_batch_ndjson(line), dom_ndjson(line), line);
    if (testing::Test::HasFailure()) {
      return;
    }
  }
}

// ---- the msgpack writer on its own -------------------------------------------------

// Forwards nlohmann's SAX events to a MsgpackWriter, as command_json_reader
// does for a command's data.
class WriterSax {
 public:
  explicit WriterSax(detail::MsgpackWriter& writer) : writer_(writer) {}
  bool null() { return writer_.null(), true; }
  bool boolean(bool v) { return writer_.boolean(v), true; }
  bool number_integer(json::number_integer_t v) { return writer_.signed_integer(v), true; }
  bool number_unsigned(json::number_unsigned_t v) { return writer_.unsigned_integer(v), true; }
  bool number_float(json::number_float_t v, const std::string& /*text*/) { return writer_.floating(v), true; }
  bool string(std::string& v) { return writer_.string(v), true; }
  bool binary(json::binary_t& /*v*/) { return true; }
  bool start_object(size_t /*n*/) { return writer_.start_object(), true; }
  bool key(std::string& v) { return writer_.key(v), true; }
  bool end_object() { return writer_.end_object(), true; }
  bool start_array(size_t /*n*/) { return writer_.start_array(), true; }
  bool end_array() { return writer_.end_array(), true; }
  bool parse_error(size_t /*p*/, const std::string& /*t*/, const nlohmann::detail::exception& /*e*/) { return false; }

 private:
  detail::MsgpackWriter& writer_;
};

// The writer's bytes for `text` (a valid JSON value) equal to_msgpack of the
// DOM json::parse builds. `writer` is reused, as the reader reuses it.
void expect_writer_matches(detail::MsgpackWriter& writer, const std::string& text) {
  writer.clear();
  WriterSax sax(writer);
  ASSERT_TRUE(json::sax_parse(text, &sax)) << text.substr(0, 200);
  ASSERT_TRUE(writer.idle()) << text.substr(0, 200);
  std::vector<uint8_t> expected = json::to_msgpack(json::parse(text));
  ASSERT_EQ(writer.bytes(), std::string(expected.begin(), expected.end())) << text.substr(0, 200);
}

// Containers of `count` elements: an array, an object with keys ascending,
// one with keys descending and one whose last key repeats the first.
std::vector<std::string> wide_containers(size_t count, const std::string& element) {
  std::string array = "[";
  std::string up = "{";
  std::string down = "{";
  for (size_t i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "k%07zu", i);
    array += (i ? "," : "") + element;
    up += std::string(i ? "," : "") + "\"" + name + "\":" + element;
    std::snprintf(name, sizeof name, "k%07zu", count - 1 - i);
    down += std::string(i ? "," : "") + "\"" + name + "\":" + element;
  }
  std::string repeat = up + (count ? "," : "") + "\"k0000000\":" + element + "}";
  return {array + "]", up + "}", down + "}", repeat};
}

// Containers in `value` (nested ones included) with more than 15 elements.
int count_wide(const json& value) {
  int wide = value.is_structured() && value.size() > 15 ? 1 : 0;
  if (value.is_structured()) {
    for (const json& element : value) {
      wide += count_wide(element);
    }
  }
  return wide;
}

TEST(MsgpackWriter, RandomValuesMatchToMsgpack) {
  Gen gen(7);
  detail::MsgpackWriter writer;
  int wide = 0;
  int valid = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text = gen.value(4);
    if (!json::accept(text)) {
      continue;  // e.g. 1e400: the reader reports those before any data is stored
    }
    ++valid;
    expect_writer_matches(writer, text);
    if (testing::Test::HasFailure()) {
      return;
    }
    wide += count_wide(json::parse(text));
  }
  EXPECT_GT(valid, 3000);
  EXPECT_GT(wide, 50);  // not vacuous: many containers need a 16-bit header
}

TEST(MsgpackWriter, HeaderWidthBoundariesMatchToMsgpack) {
  // 15/16 (fix -> 16-bit) and 65535/65536 (16 -> 32-bit) elements, alone and
  // nested inside each other, inside sorted and unsorted objects and after
  // earlier siblings, so that inserted header bytes move later offsets.
  detail::MsgpackWriter writer;
  for (size_t count : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{65535}, size_t{65536}}) {
    bool huge = count > 100;  // fewer shapes there: the DOM reference is slow (sanitizer builds)
    std::vector<std::string> containers = wide_containers(count, huge ? "0" : "[1,{\"b\":1,\"a\":[2]},\"x\"]");
    if (huge) {
      containers = {containers[0], containers[2]};  // the array and the descending object
    }
    for (const std::string& c : containers) {
      expect_writer_matches(writer, c);
      expect_writer_matches(writer, "{\"z\":" + c + ",\"a\":" + c + ",\"m\":1}");
      if (!huge) {
        expect_writer_matches(writer, "[" + c + "," + c + "]");
        expect_writer_matches(writer, "{\"a\":1,\"b\":" + c + ",\"c\":[" + c + "]}");
        expect_writer_matches(writer, "{\"b\":" + c + ",\"b\":[" + c + "],\"a\":\"x\"}");
      }
      if (testing::Test::HasFailure()) {
        return;
      }
    }
  }
  for (const std::string& outer : wide_containers(20, wide_containers(16, "\"v\"")[2])) {
    expect_writer_matches(writer, outer);
  }
}

TEST(MsgpackWriter, ClearAfterAnUnfinishedValueStartsAfresh) {
  // The reader clears the writer when a malformed line left containers open.
  detail::MsgpackWriter writer;
  writer.start_object();
  writer.key("b");
  writer.start_array();
  writer.unsigned_integer(1);
  EXPECT_FALSE(writer.idle());
  expect_writer_matches(writer, "{\"b\":1,\"a\":[1,2]}");
  writer.clear();
  writer.start_array();
  writer.clear();
  expect_writer_matches(writer, "[]");
  std::string moved = writer.take();
  EXPECT_EQ(moved, std::string("\x90", 1));
  expect_writer_matches(writer, "{}");
}

// ---- the JSON writers -----------------------------------------------------------

TEST(JsonWriter, StringsMatchDumpJson) {
  Gen gen(5);
  const std::string edges[] = {"", "plain", "\"\\/\b\f\n\r\t", std::string("\0\x01\x1f\x7f", 4), "\xc3\xa9\xe2\x82\xac",
                               "\xf0\x9f\x98\x80", "\xff", "\xc3", "a\xc3", "\xe2\x82", "\xe2\x82x", "\xc3\xc3\xa9",
                               "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\x80\x80", "\xf0\x9f\x98"};
  for (const std::string& text : edges) {
    std::string out;
    append_json_string(out, text);
    EXPECT_EQ(out, dump_json(json(text))) << text;
  }
  for (int i = 0; i < 20000; ++i) {
    std::string text = gen.bytes(24);
    std::string out = "prefix";
    append_json_string(out, text);
    ASSERT_EQ(out, "prefix" + dump_json(json(text))) << text;
  }
}

TEST(JsonWriter, BatchResultsMatchDumpJson) {
  Gen gen(6);
  for (int i = 0; i < 2000; ++i) {
    CommandReceipt receipt{gen.bytes(20), gen.rng()() >> gen.below(64), gen.bytes(64), gen.chance(2)};
    std::string out;
    append_receipt_json(out, receipt);
    ASSERT_EQ(out, dump_json(receipt_to_json(receipt)));

    std::string key = gen.chance(4) ? "" : gen.bytes(12);
    std::string message = gen.bytes(40);
    auto status = static_cast<unsigned>(gen.below(600));
    std::string error;
    append_error_json(error, key, status, message);
    json expected = key.empty() ? json{{"status", status}, {"error", message}}
                                : json{{"key", key}, {"status", status}, {"error", message}};
    ASSERT_EQ(error, dump_json(expected));
  }
}

}  // namespace
}  // namespace quorum::node
