// The C++ layer's boundary behaviour, driven through the C ABI in-process.
#include <quorum/sdk/sdk.hpp>
#include <quorum/sdk/testing.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

using quorum::sdk::Context;
using quorum::sdk::Message;
using quorum::sdk::Outcome;
using quorum::sdk::testing::Driver;

struct Echo {
  static constexpr const char* name = "echo";
  static constexpr const char* version = "2.3.4";
  static constexpr uint32_t projection_schema = 7;
  static constexpr bool reads_history = true;
  struct Projection {
    uint64_t seen = 0;
    uint64_t history_at_last_call = 0;
    MSGPACK_DEFINE_MAP(seen, history_at_last_call)
  };
  Outcome handle(const Context& context, const Message& message, Projection& projection) const {
    if (message.type == "throw") {
      throw std::runtime_error("boom");
    }
    if (message.type == "throw-int") {
      throw 42;
    }
    if (message.type == "reject") {
      return Outcome::reject("refused: " + std::string(message.id));
    }
    if (message.type == "bad-field") {
      (void)quorum::sdk::require_string(*message.data, "missing");
    }
    projection.seen += 1;
    projection.history_at_last_call = context.history.size();
    std::vector<quorum::sdk::Effect> effects;
    if (message.type == "forward") {
      effects.push_back(quorum::sdk::Effect::make("county/1", "delta", std::map<std::string, int>{{"n", 1}}));
    }
    return Outcome::accept(std::move(effects));
  }
};

TEST(SdkDescriptor, CarriesTheHandlerIdentityAndAbiVersion) {
  const quorum_plugin_descriptor* d = quorum::sdk::descriptor<Echo>();
  EXPECT_EQ(d->struct_size, sizeof(quorum_plugin_descriptor));
  EXPECT_EQ(d->abi_major, QUORUM_ABI_MAJOR);
  EXPECT_EQ(d->abi_minor, QUORUM_ABI_MINOR);
  EXPECT_STREQ(d->name, "echo");
  EXPECT_STREQ(d->semver, "2.3.4");
  EXPECT_EQ(d->projection_schema, 7u);
  EXPECT_TRUE(d->capabilities & QUORUM_CAP_READS_HISTORY);
  EXPECT_TRUE(d->capabilities & QUORUM_CAP_HANDLE_BATCH);
  EXPECT_FALSE(d->capabilities & QUORUM_CAP_INIT);
  EXPECT_EQ(d->init, nullptr);
  EXPECT_EQ(d->migrate, nullptr);
  EXPECT_NE(d->handle_batch, nullptr);
}

TEST(SdkBoundary, AcceptsAndAdvancesProjectionAndHistory) {
  Driver driver(quorum::sdk::descriptor<Echo>());
  ASSERT_TRUE(driver.feed("k", "1", "plain", 0, nullptr).ok());
  auto second = driver.feed("k", "2", "forward", 0, nullptr);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(driver.projection_json("k")["seen"], 2);
  EXPECT_EQ(driver.projection_json("k")["history_at_last_call"], 1);
  ASSERT_EQ(second.effects.size(), 1u);
  EXPECT_EQ(second.effects[0]["to"], "county/1");
  EXPECT_EQ(second.effects[0]["data"]["n"], 1);
}

TEST(SdkBoundary, RejectionLeavesStateUnchanged) {
  Driver driver(quorum::sdk::descriptor<Echo>());
  ASSERT_TRUE(driver.feed("k", "1", "plain", 0, nullptr).ok());
  auto rejected = driver.feed("k", "b-9", "reject", 0, nullptr);
  EXPECT_EQ(rejected.status, QUORUM_STATUS_REJECTED);
  EXPECT_EQ(rejected.error, "refused: b-9");
  EXPECT_EQ(driver.projection_json("k")["seen"], 1);
  EXPECT_EQ(driver.history("k").size(), 1u);
}

TEST(SdkBoundary, ExceptionsBecomeFailedResults) {
  Driver driver(quorum::sdk::descriptor<Echo>());
  auto thrown = driver.feed("k", "1", "throw", 0, nullptr);
  EXPECT_EQ(thrown.status, QUORUM_STATUS_FAILED);
  EXPECT_EQ(thrown.error, "handler threw: boom");
  auto thrown_int = driver.feed("k", "2", "throw-int", 0, nullptr);
  EXPECT_EQ(thrown_int.status, QUORUM_STATUS_FAILED);
  EXPECT_NE(thrown_int.error.find("non-standard"), std::string::npos);
  auto bad_field = driver.feed("k", "3", "bad-field", 0, nullptr);
  EXPECT_EQ(bad_field.status, QUORUM_STATUS_REJECTED);
  EXPECT_NE(bad_field.error.find("'missing'"), std::string::npos);
}

TEST(SdkBoundary, MalformedBytesAreRejectedNotCrashed) {
  Driver driver(quorum::sdk::descriptor<Echo>());
  auto garbage = driver.feed("k", std::string("\xc1\xff\x00", 3));
  EXPECT_EQ(garbage.status, QUORUM_STATUS_REJECTED);
  auto not_a_map = driver.feed("k", std::string("\x93\x01\x02\x03", 4));
  EXPECT_EQ(not_a_map.status, QUORUM_STATUS_REJECTED);
  auto truncated = driver.feed("k", std::string("\x82\xa2id", 4));
  EXPECT_EQ(truncated.status, QUORUM_STATUS_REJECTED);
}

TEST(SdkBoundary, BatchEqualsSequentialHandles) {
  const quorum_plugin_descriptor* d = quorum::sdk::descriptor<Echo>();
  nlohmann::json messages = nlohmann::json::array();
  for (const char* type : {"plain", "reject", "forward", "throw", "plain"}) {
    messages.push_back({{"id", "x"}, {"type", type}, {"time", 0}, {"data", nullptr}});
  }
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(messages);
  quorum_buffer out{};
  const int32_t status = d->handle_batch(quorum_bytes{reinterpret_cast<const uint8_t*>("k"), 1}, quorum_bytes{nullptr, 0},
                                         quorum_bytes{bytes.data(), bytes.size()}, nullptr, &out);
  // An exception inside a batch fails the whole batch: the host falls back
  // to handle() per message so only that message fails.
  EXPECT_EQ(status, QUORUM_STATUS_FAILED);
  d->free(&out);

  messages.erase(3);
  bytes = nlohmann::json::to_msgpack(messages);
  ASSERT_EQ(d->handle_batch(quorum_bytes{reinterpret_cast<const uint8_t*>("k"), 1}, quorum_bytes{nullptr, 0},
                            quorum_bytes{bytes.data(), bytes.size()}, nullptr, &out),
            QUORUM_STATUS_OK);
  nlohmann::json body = nlohmann::json::from_msgpack(out.data, out.data + out.size);
  d->free(&out);
  ASSERT_EQ(body["results"].size(), 4u);
  EXPECT_TRUE(body["results"][0]["ok"]);
  EXPECT_FALSE(body["results"][1]["ok"]);
  EXPECT_EQ(body["results"][2]["effects"].size(), 1u);
  const auto& binary = body["projection"].get_binary();
  nlohmann::json projection = nlohmann::json::from_msgpack(binary.begin(), binary.end());
  EXPECT_EQ(projection["seen"], 3);
}

}  // namespace

namespace {

struct Configured {
  static constexpr const char* name = "configured";
  static constexpr const char* version = "1.0.0";
  static constexpr uint32_t projection_schema = 1;
  struct Projection {
    int64_t start = 0;
    int64_t seen = 0;
    MSGPACK_DEFINE_MAP(start, seen)
  };
  static Projection initial(const msgpack::object* config) {
    Projection projection;
    if (config != nullptr) {
      projection.start = quorum::sdk::as_int(quorum::sdk::find(*config, "start")).value_or(0);
    }
    return projection;
  }
  Outcome handle(const Context&, const Message&, Projection& projection) const {
    ++projection.seen;
    return Outcome::accept();
  }
};

TEST(SdkInit, InitialProjectionComesFromConfig) {
  const quorum_plugin_descriptor* d = quorum::sdk::descriptor<Configured>();
  EXPECT_TRUE(d->capabilities & QUORUM_CAP_INIT);
  Driver driver(d);
  driver.init("k", {{"start", 40}});
  ASSERT_TRUE(driver.feed("k", "1", "x", 0, nullptr).ok());
  EXPECT_EQ(driver.projection_json("k")["start"], 40);
  EXPECT_EQ(driver.projection_json("k")["seen"], 1);
  // Without init, an actor starts from initial(nullptr).
  ASSERT_TRUE(driver.feed("other", "1", "x", 0, nullptr).ok());
  EXPECT_EQ(driver.projection_json("other")["start"], 0);
}

TEST(SdkInit, DriverRefusesInitWithoutEntryPoint) {
  Driver driver(quorum::sdk::descriptor<Echo>());
  EXPECT_THROW(driver.init("k", nlohmann::json::object()), std::runtime_error);
}

}  // namespace
