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
