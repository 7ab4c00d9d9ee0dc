// Loading real plugin files: content-addressed copies, sharing, every ABI
// refusal with its message, and calls through HandlerVersion.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <fstream>

namespace {

using namespace quorum::host;
using namespace quorum::host::testing;
using ::testing::HasSubstr;
using quorum::ErrorCode;

TEST(LibraryLoader, LoadsAContentAddressedCopy) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto library = loader.load(fixture("counter_v1"), "counter");
  ASSERT_TRUE(library.ok()) << library.error().message;
  const LoadedLibrary& loaded = **library;
  EXPECT_EQ(loaded.info().name, "counter");
  EXPECT_EQ(loaded.info().semver, "1.0.0");
  EXPECT_EQ(loaded.info().projection_schema, 1u);
  auto bytes = read_file(fixture("counter_v1"));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(loaded.sha256_hex(), to_hex(sha256(*bytes)));
  EXPECT_EQ(loaded.mapped_path(), std::filesystem::absolute(dir.path() / "cache" / (loaded.sha256_hex() + ".so")));
  EXPECT_TRUE(is_mapped_in_process(loaded.mapped_path()));
  EXPECT_FALSE(is_mapped_in_process(fixture("counter_v1"))) << "the build output itself must never be mapped";
}

TEST(LibraryLoader, SameContentSharesOneLoadedLibrary) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  std::filesystem::copy_file(fixture("counter_v1"), dir.path() / "renamed.so");
  auto first = loader.load(fixture("counter_v1"));
  auto second = loader.load(dir.path() / "renamed.so");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(loader.stats().loaded, 1u);
  EXPECT_EQ(loader.stats().shared_loads, 1u);
  auto other = loader.load(fixture("counter_v2"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->get(), first->get());
  EXPECT_NE((*other)->mapped_path(), (*first)->mapped_path());
}

TEST(LibraryLoader, UnloadsWhenTheLastReferenceGoes) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  std::filesystem::path mapped;
  {
    auto library = loader.load(fixture("counter_v1"));
    ASSERT_TRUE(library.ok());
    mapped = (*library)->mapped_path();
    EXPECT_TRUE(is_mapped_in_process(mapped));
    EXPECT_EQ(loader.stats().resident, 1u);
  }
  EXPECT_FALSE(is_mapped_in_process(mapped));
  EXPECT_EQ(loader.stats().unloaded, 1u);
  EXPECT_EQ(loader.stats().still_mapped, 0u);
  EXPECT_EQ(loader.stats().resident, 0u);
  // Loading the same bytes again maps them afresh.
  auto again = loader.load(fixture("counter_v1"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(is_mapped_in_process(mapped));
}

struct Refusal {
  std::string file;  // fixture name, or "" for a special case
  std::string expected_name;
  ErrorCode code;
  std::string message;
};

class LoaderRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(LoaderRefusal, RefusesWithAMessageNamingTheProblem) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  const Refusal& refusal = GetParam();
  auto result = loader.load(fixture(refusal.file), refusal.expected_name);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, refusal.code);
  EXPECT_THAT(result.error().message, HasSubstr(refusal.message));
  EXPECT_EQ(loader.stats().resident, 0u);
  // The refused copy is not left mapped, and the loader goes on working.
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "cache")) {
    EXPECT_FALSE(is_mapped_in_process(entry.path())) << entry.path();
  }
  EXPECT_TRUE(loader.load(fixture("counter_v1")).ok());
}

INSTANTIATE_TEST_SUITE_P(
    AbiChecks, LoaderRefusal,
    ::testing::Values(
        Refusal{"raw_no_entry", "", ErrorCode::kLoadFailed, "missing entry symbol quorum_plugin_entry"},
        Refusal{"raw_null_entry", "", ErrorCode::kIncompatible, "quorum_plugin_entry returned a null descriptor"},
        Refusal{"raw_short", "", ErrorCode::kIncompatible, "descriptor too short: 40 bytes, need at least 48"},
        Refusal{"raw_abi2", "", ErrorCode::kIncompatible, "ABI major 2 is not supported by this host (speaks 1.x)"},
        Refusal{"raw_bad_name", "", ErrorCode::kIncompatible,
                "descriptor field 'name' is 'Raw Plugin', which does not match [a-z0-9_-]{1,64}"},
        Refusal{"raw_bad_semver", "", ErrorCode::kIncompatible,
                "descriptor field 'semver' is '1.0', which is not MAJOR.MINOR.PATCH"},
        Refusal{"counter_v1", "tally", ErrorCode::kIncompatible, "descriptor field 'name' is 'counter', expected 'tally'"}),
    [](const ::testing::TestParamInfo<Refusal>& param_info) {
      return param_info.param.file + (param_info.param.expected_name.empty() ? "" : "_as_" + param_info.param.expected_name);
    });

TEST(LibraryLoader, AcceptsANewerMinorAndIgnoresItsExtraFields) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto library = loader.load(fixture("raw_newer_minor"), "raw");
  ASSERT_TRUE(library.ok()) << library.error().message;
  EXPECT_EQ((*library)->info().abi_minor, 9);
  EXPECT_EQ((*library)->info().struct_size, sizeof(quorum_plugin_descriptor) + sizeof(void*));
  HandlerVersion version(1, *library);
  EmptyHistory history;
  EXPECT_TRUE(version.handle("k", "", message("count", "x"), history).ok());
}

TEST(LibraryLoader, RefusesMissingFilesAndNonLibraries) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto missing = loader.load(dir.path() / "missing.so");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message, HasSubstr("plugin file not found"));

  std::ofstream(dir.path() / "text.so") << "this is not a shared library";
  auto text = loader.load(dir.path() / "text.so");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code, ErrorCode::kLoadFailed);
  EXPECT_THAT(text.error().message, HasSubstr("not a shared library"));

  // An ELF header and nothing else: the dynamic loader refuses it.
  std::ofstream(dir.path() / "truncated.so") << std::string("\x7f" "ELF\x02\x01\x01", 7) << std::string(64, '\0');
  auto truncated = loader.load(dir.path() / "truncated.so");
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.error().message, HasSubstr("not a shared library: cannot load"));

  auto directory = loader.load(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.error().message, HasSubstr("not a regular file"));
}

// --- HandlerVersion over real plugins

std::shared_ptr<HandlerVersion> version_of(LibraryLoader& loader, const std::string& name) {
  auto library = loader.load(fixture(name));
  EXPECT_TRUE(library.ok()) << library.error().message;
  return std::make_shared<HandlerVersion>(1, std::move(library).value());
}

TEST(HandlerVersion, ParsesTheResultsOfAnSdkPlugin) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto version = version_of(loader, "counter_v1");
  EmptyHistory history;
  HandleResult first = version->handle("precinct/1", "", inc("m1", 2), history);
  ASSERT_TRUE(first.ok()) << first.error;
  EXPECT_EQ(json_of(first.projection)["count"], 2);
  ASSERT_EQ(first.effects.size(), 1u);
  EXPECT_EQ(first.effects[0].to, "audit/precinct/1");
  EXPECT_EQ(first.effects[0].type, "counted");
  EXPECT_EQ(json_of(first.effects[0].data)["v"], "1.0.0");

  HandleResult rejected = version->handle("precinct/1", first.projection, message("m2", "reject"), history);
  EXPECT_EQ(rejected.status, CallStatus::kRejected);
  EXPECT_EQ(rejected.error, "counter refuses message m2");

  HandleResult thrown = version->handle("precinct/1", first.projection, message("m3", "throw"), history);
  EXPECT_EQ(thrown.status, CallStatus::kFailed);
  EXPECT_EQ(thrown.error, "handler threw: counter was told to throw");

  const VersionCounters counters = version->counters();
  EXPECT_EQ(counters.calls, 3u);
  EXPECT_EQ(counters.rejections, 1u);
  EXPECT_EQ(counters.errors, 1u);
}

TEST(HandlerVersion, BadResultsAndThrowsFailTheCallAndEveryBufferIsFreedOnce) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto version = version_of(loader, "raw");
  EmptyHistory history;
  struct Case {
    std::string keyword;
    std::string error;
  };
  for (const Case& c : {Case{"garbage", "malformed result from plugin: invalid msgpack"},
                        Case{"huge", "malformed result from plugin"},
                        Case{"liar", "'ok' is true but the status code is 1"},
                        Case{"throw", "plugin threw across the C ABI: raw plugin threw"}}) {
    for (int i = 0; i < 3; ++i) {
      HandleResult result = version->handle("k", "", message(c.keyword, "x"), history);
      EXPECT_EQ(result.status, CallStatus::kFailed) << c.keyword;
      EXPECT_THAT(result.error, HasSubstr(c.error));
    }
  }
  // The plugin reports how many of its buffers are outstanding: the host
  // handed back every one it received, exactly once.
  HandleResult count = version->handle("k", "", message("count", "x"), history);
  ASSERT_TRUE(count.ok()) << count.error;
  EXPECT_EQ(json_of(count.projection), 0);
  EXPECT_EQ(version->counters().errors, 12u);
  EXPECT_EQ(version->counters().calls, 13u);
}

TEST(HandlerVersion, InitAndMigrate) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto v1 = version_of(loader, "counter_v1");
  auto v4 = version_of(loader, "counter_v4");
  auto empty = v1->initial_projection();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");  // no init: the empty projection
  EXPECT_FALSE(v1->migrate(0, "").ok());
  EXPECT_EQ(v1->migrate(0, "").error().code, ErrorCode::kFailedPrecondition);

  EmptyHistory history;
  HandleResult old = v1->handle("k", "", inc("a", 5), history);
  ASSERT_TRUE(old.ok());
  auto migrated = v4->migrate(1, old.projection);
  ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  EXPECT_EQ(json_of(*migrated)["n"], 5);
  EXPECT_EQ(json_of(*migrated)["migrated"], true);
  auto refused = v4->migrate(9, old.projection);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("cannot migrate from schema 9"));
}

TEST(HandlerVersion, HandleBatchFoldsManyMessages) {
  ScratchDir dir;
  LibraryLoader loader(dir.path() / "cache");
  auto v1 = version_of(loader, "counter_v1");
  std::string messages = "\x93";
  messages += inc("a", 1) + message("b", "reject") + inc("c", 4);
  EmptyHistory history;
  BatchResult batch = v1->handle_batch("k", "", messages, 3, history);
  ASSERT_TRUE(batch.ok()) << batch.error;
  EXPECT_EQ(json_of(batch.projection)["count"], 5);
  ASSERT_EQ(batch.results.size(), 3u);
  EXPECT_EQ(batch.results[1].status, CallStatus::kRejected);
  EXPECT_EQ(batch.results[2].effects.size(), 1u);
}

}  // namespace
