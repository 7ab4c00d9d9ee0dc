// The result parsers: well-formed results become host types; anything else
// becomes a FAILED result that names the problem (never a crash).
#include <quorum/host/handle_result.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <rapidcheck/gtest.h>

#include <string>

namespace {

using quorum::host::CallStatus;
using quorum::host::parse_batch_result;
using quorum::host::parse_handle_result;
using quorum::host::parse_projection_result;
using testing::HasSubstr;

std::string pack(const nlohmann::json& value) {
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

nlohmann::json bin(const std::string& bytes) {
  return nlohmann::json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

TEST(HandleResult, ParsesAnAcceptedResult) {
  const std::string projection = pack({{"count", 3}});
  const std::string bytes = pack({{"ok", true},
                                  {"projection", bin(projection)},
                                  {"effects", {{{"to", "county/1"}, {"type", "delta"}, {"data", {{"n", 1}}}},
                                               {{"to", "x"}, {"type", "y"}}}}});
  auto result = parse_handle_result(QUORUM_STATUS_OK, bytes);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.projection, projection);
  ASSERT_EQ(result.effects.size(), 2u);
  EXPECT_EQ(result.effects[0].to, "county/1");
  EXPECT_EQ(result.effects[0].type, "delta");
  EXPECT_EQ(result.effects[0].data, pack({{"n", 1}}));
  EXPECT_EQ(result.effects[1].data, pack(nullptr));
}

TEST(HandleResult, ParsesRejectionsAndFailures) {
  auto rejected = parse_handle_result(QUORUM_STATUS_REJECTED, pack({{"ok", false}, {"error", "duplicate ballot"}}));
  EXPECT_EQ(rejected.status, CallStatus::kRejected);
  EXPECT_EQ(rejected.error, "duplicate ballot");
  auto failed = parse_handle_result(QUORUM_STATUS_FAILED, pack({{"ok", false}, {"error", "handler threw: x"}}));
  EXPECT_EQ(failed.status, CallStatus::kFailed);
  EXPECT_EQ(failed.error, "handler threw: x");
  auto silent = parse_handle_result(QUORUM_STATUS_REJECTED, "");
  EXPECT_EQ(silent.status, CallStatus::kRejected);
  EXPECT_EQ(silent.error, "(no reason given)");
}

TEST(HandleResult, MalformedResultsFailTheCall) {
  struct Case {
    int32_t status;
    std::string bytes;
    std::string expected;
  };
  const std::string projection = pack(1);
  const std::vector<Case> cases = {
      {QUORUM_STATUS_OK, "", "empty result buffer"},
      {QUORUM_STATUS_OK, std::string("\xc1\xff\x00", 3), "invalid msgpack"},
      {QUORUM_STATUS_OK, pack({1, 2, 3}), "not a msgpack map"},
      {QUORUM_STATUS_OK, pack({{"projection", bin(projection)}}), "no boolean 'ok'"},
      {QUORUM_STATUS_REJECTED, pack({{"ok", true}, {"projection", bin(projection)}}), "'ok' is true but the status code is 1"},
      {QUORUM_STATUS_OK, pack({{"ok", false}, {"error", "x"}}), "'ok' is false but the status code is 0"},
      {QUORUM_STATUS_OK, pack({{"ok", true}}), "no 'projection'"},
      {QUORUM_STATUS_OK, pack({{"ok", true}, {"projection", "text"}}), "'projection' is not a bin"},
      {QUORUM_STATUS_OK, pack({{"ok", true}, {"projection", bin(projection)}, {"effects", 5}}), "'effects' is not an array"},
      {QUORUM_STATUS_OK, pack({{"ok", true}, {"projection", bin(projection)}, {"effects", {1}}}), "effect 0 is not a map"},
      {QUORUM_STATUS_OK, pack({{"ok", true}, {"projection", bin(projection)}, {"effects", {{{"type", "t"}}}}}),
       "effect 0 has no string 'to'"},
      {QUORUM_STATUS_OK, pack({{"ok", true}, {"projection", bin(projection)}}) + "x", "1 trailing bytes"},
      {QUORUM_STATUS_REJECTED, pack({{"ok", false}, {"error", 7}}), "'error' is not a string"},
      {7, pack({{"ok", true}}), "unknown status code 7"},
      // A map that claims 4 billion entries in a 9-byte buffer.
      {QUORUM_STATUS_OK, std::string("\xdf\xff\xff\xff\xff\xa2ok\xc3", 9), "invalid msgpack"},
      {QUORUM_STATUS_OK, std::string("\xc6\xff\xff\xff\xff", 5), "invalid msgpack"},
  };
  for (const Case& c : cases) {
    auto result = parse_handle_result(c.status, c.bytes);
    EXPECT_EQ(result.status, CallStatus::kFailed) << c.expected;
    EXPECT_THAT(result.error, HasSubstr("malformed result from plugin")) << c.expected;
    EXPECT_THAT(result.error, HasSubstr(c.expected));
  }
}

TEST(HandleResult, DeeplyNestedResultsFail) {
  std::string bytes = "\x83\xa2ok\xc3\xaaprojection\xc4\x01\x01\xa7" "effects";
  for (int i = 0; i < 100; ++i) {
    bytes += '\x91';
  }
  bytes += '\xc0';
  auto result = parse_handle_result(QUORUM_STATUS_OK, bytes);
  EXPECT_EQ(result.status, CallStatus::kFailed);
}

RC_GTEST_PROP(HandleResultProperty, ArbitraryBytesNeverCrashTheParser, (const std::string& bytes, int status)) {
  auto result = parse_handle_result(status % 4, bytes);
  if (result.status != CallStatus::kOk) {
    RC_ASSERT(!result.error.empty());
  }
  (void)parse_projection_result(status % 4, bytes);
  (void)parse_batch_result(status % 4, bytes, 3);
}

// The fast path for the SDK's plain accepted result gives exactly what the
// general parser gives, for that shape and for every near miss (other key
// orders, bin8/16/32, effects empty, nil, absent or present, an extra or
// repeated key, "ok" false, trailing or missing bytes, other statuses).
RC_GTEST_PROP(HandleResultProperty, ThePlainAcceptFastPathAgreesWithTheGeneralParser, ()) {
  auto fixstr = [](const std::string& text) { return std::string(1, static_cast<char>(0xa0 | text.size())) + text; };
  const std::string projection = *rc::gen::container<std::string>(
      *rc::gen::element<size_t>(0, 1, 200, 255, 256, 300, 65535, 65536, 70000), rc::gen::arbitrary<char>());
  std::string bin;
  const int width = *rc::gen::element(1, 2, 4);
  if (width == 1 && projection.size() <= 255) {
    bin = std::string("\xc4") + static_cast<char>(projection.size());
  } else if (width <= 2 && projection.size() <= 65535) {
    bin = std::string("\xc5") + static_cast<char>(projection.size() >> 8) + static_cast<char>(projection.size() & 0xff);
  } else {
    bin = std::string("\xc6") + static_cast<char>(projection.size() >> 24) +
          static_cast<char>((projection.size() >> 16) & 0xff) + static_cast<char>((projection.size() >> 8) & 0xff) +
          static_cast<char>(projection.size() & 0xff);
  }
  std::vector<std::string> fields = {fixstr("ok") + *rc::gen::element<std::string>("\xc3", "\xc3", "\xc2", "\x01"),
                                     fixstr("projection") + bin + projection};
  switch (*rc::gen::inRange(0, 5)) {
    case 0:
      break;  // no effects
    case 1:
      fields.push_back(fixstr("effects") + "\x90");
      break;
    case 2:
      fields.push_back(fixstr("effects") + "\xc0");
      break;
    case 3:
      fields.push_back(fixstr("effects") + "\x91\x83" + fixstr("to") + fixstr("k/1") + fixstr("type") + fixstr("t") +
                       fixstr("data") + "\x07");
      break;
    default:
      fields.push_back(fixstr("effects") + "\xa1x");
      break;  // not an array
  }
  if (*rc::gen::inRange(0, 4) == 0) {
    fields.push_back(fixstr(*rc::gen::element<std::string>("extra", "ok", "projection", "effects")) + "\xc3");
  }
  std::vector<size_t> order(fields.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[*rc::gen::inRange<size_t>(0, i)]);
  }
  std::string bytes(1, static_cast<char>(0x80 | fields.size()));
  for (size_t i : order) {
    bytes += fields[i];
  }
  switch (*rc::gen::inRange(0, 6)) {
    case 0:
      bytes.push_back(0);
      break;  // a trailing byte
    case 1:
      bytes.resize(*rc::gen::inRange<size_t>(1, bytes.size()));
      break;  // cut short
    default:
      break;
  }
  const int status = *rc::gen::element(QUORUM_STATUS_OK, QUORUM_STATUS_OK, QUORUM_STATUS_REJECTED);
  RC_ASSERT(parse_handle_result(status, bytes) == quorum::host::detail::parse_general_result(status, bytes, true));
  const quorum::host::HandleResult general = quorum::host::detail::parse_general_result(status, bytes, false);
  const quorum::Result<std::string> fast = parse_projection_result(status, bytes);
  RC_ASSERT(fast.ok() == general.ok());
  if (fast.ok()) {
    RC_ASSERT(*fast == general.projection);
  }
}

TEST(ProjectionResult, ParsesInitAndMigrateResults) {
  auto ok = parse_projection_result(QUORUM_STATUS_OK, pack({{"ok", true}, {"projection", bin("abc")}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "abc");
  auto failed = parse_projection_result(QUORUM_STATUS_FAILED, pack({{"ok", false}, {"error", "bad config"}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "bad config");
  auto garbage = parse_projection_result(QUORUM_STATUS_OK, "zzz");
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.error().message, HasSubstr("malformed result"));
}

TEST(BatchResult, ParsesPerMessageResultsAndChecksTheirCount) {
  const std::string bytes = pack({{"ok", true},
                                  {"projection", bin("p")},
                                  {"results",
                                   {{{"ok", true}, {"effects", nlohmann::json::array()}},
                                    {{"ok", false}, {"error", "no"}}}}});
  auto batch = parse_batch_result(QUORUM_STATUS_OK, bytes, 2);
  ASSERT_TRUE(batch.ok()) << batch.error;
  EXPECT_EQ(batch.projection, "p");
  ASSERT_EQ(batch.results.size(), 2u);
  EXPECT_TRUE(batch.results[0].ok());
  EXPECT_EQ(batch.results[1].status, CallStatus::kRejected);
  EXPECT_EQ(batch.results[1].error, "no");
  auto short_batch = parse_batch_result(QUORUM_STATUS_OK, bytes, 3);
  EXPECT_EQ(short_batch.status, CallStatus::kFailed);
  EXPECT_THAT(short_batch.error, HasSubstr("2 results for 3 messages"));
}

}  // namespace
