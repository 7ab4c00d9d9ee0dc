// check_descriptor on descriptors made in memory: every refusal names the
// field, and extensions by newer minors are handled by struct_size.
#include <quorum/host/descriptor_check.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace {

using quorum::ErrorCode;
using quorum::host::check_descriptor;
using testing::HasSubstr;

int32_t fake_handle(quorum_bytes, quorum_bytes, quorum_bytes, const quorum_history*, quorum_buffer*) { return 0; }
void fake_free(quorum_buffer*) {}
int32_t fake_init(quorum_bytes, quorum_buffer*) { return 0; }
int32_t fake_migrate(uint32_t, quorum_bytes, quorum_buffer*) { return 0; }
int32_t fake_batch(quorum_bytes, quorum_bytes, quorum_bytes, const quorum_history*, quorum_buffer*) { return 0; }

quorum_plugin_descriptor valid() {
  return quorum_plugin_descriptor{sizeof(quorum_plugin_descriptor),
                                  QUORUM_ABI_MAJOR,
                                  QUORUM_ABI_MINOR,
                                  "tally",
                                  "1.2.3",
                                  4,
                                  QUORUM_CAP_INIT | QUORUM_CAP_MIGRATE | QUORUM_CAP_HANDLE_BATCH,
                                  &fake_handle,
                                  &fake_free,
                                  &fake_init,
                                  &fake_migrate,
                                  &fake_batch};
}

std::string refusal(const quorum_plugin_descriptor& d, std::string_view expected = {}) {
  auto result = check_descriptor(&d, expected);
  EXPECT_FALSE(result.ok());
  if (result.ok()) {
    return {};
  }
  EXPECT_EQ(result.error().code, ErrorCode::kIncompatible);
  return result.error().message;
}

TEST(DescriptorCheck, AcceptsAValidDescriptorAndCopiesIt) {
  const quorum_plugin_descriptor d = valid();
  auto info = check_descriptor(&d, "tally");
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->name, "tally");
  EXPECT_EQ(info->semver, "1.2.3");
  EXPECT_EQ(info->projection_schema, 4u);
  EXPECT_EQ(info->init, &fake_init);
  EXPECT_EQ(info->migrate, &fake_migrate);
  EXPECT_EQ(info->handle_batch, &fake_batch);
}

TEST(DescriptorCheck, RefusesNull) {
  auto result = check_descriptor(nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "plugin entry quorum_plugin_entry returned a null descriptor");
}

TEST(DescriptorCheck, RefusesATooShortDescriptor) {
  quorum_plugin_descriptor d = valid();
  d.struct_size = 40;
  EXPECT_EQ(refusal(d), "descriptor too short: 40 bytes, need at least 48");
}

TEST(DescriptorCheck, RefusesAnotherAbiMajor) {
  quorum_plugin_descriptor d = valid();
  d.abi_major = 2;
  EXPECT_EQ(refusal(d), "ABI major 2 is not supported by this host (speaks 1.x)");
  d.abi_major = 0;
  EXPECT_EQ(refusal(d), "ABI major 0 is not supported by this host (speaks 1.x)");
}

TEST(DescriptorCheck, AcceptsANewerMinorAndIgnoresFieldsItDoesNotKnow) {
  struct Newer {
    quorum_plugin_descriptor base;
    void* future_field;
  } newer{valid(), reinterpret_cast<void*>(0x1)};
  newer.base.struct_size = sizeof(Newer);
  newer.base.abi_minor = 7;
  auto info = check_descriptor(&newer.base);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->abi_minor, 7);
  EXPECT_EQ(info->struct_size, sizeof(Newer));
}

TEST(DescriptorCheck, TreatsFieldsBeyondStructSizeAsAbsent) {
  quorum_plugin_descriptor d = valid();
  d.struct_size = QUORUM_DESCRIPTOR_MIN_SIZE;  // an older plugin: up to free only
  d.capabilities = 0;
  // The bytes after `free` hold pointers, but the plugin did not compile them in.
  auto info = check_descriptor(&d);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->init, nullptr);
  EXPECT_EQ(info->migrate, nullptr);
  EXPECT_EQ(info->handle_batch, nullptr);
  d.capabilities = QUORUM_CAP_INIT;
  EXPECT_THAT(refusal(d), HasSubstr("QUORUM_CAP_INIT is set but field 'init' is null or beyond struct_size"));
}

TEST(DescriptorCheck, RefusesNullRequiredEntryPoints) {
  quorum_plugin_descriptor d = valid();
  d.handle = nullptr;
  EXPECT_EQ(refusal(d), "descriptor field 'handle' is null (required)");
  d = valid();
  d.free = nullptr;
  EXPECT_EQ(refusal(d), "descriptor field 'free' is null (required)");
}

TEST(DescriptorCheck, RefusesBadOrUnexpectedNames) {
  quorum_plugin_descriptor d = valid();
  EXPECT_EQ(refusal(d, "audit"), "descriptor field 'name' is 'tally', expected 'audit'");
  d.name = "Tally!";
  EXPECT_EQ(refusal(d), "descriptor field 'name' is 'Tally!', which does not match [a-z0-9_-]{1,64}");
  d.name = "";
  EXPECT_THAT(refusal(d), HasSubstr("does not match"));
  const std::string long_name(65, 'a');
  d.name = long_name.c_str();
  EXPECT_THAT(refusal(d), HasSubstr("...', which does not match"));
  d.name = nullptr;
  EXPECT_EQ(refusal(d), "descriptor field 'name' is null");
  const std::string max_name(64, 'z');
  d.name = max_name.c_str();
  EXPECT_TRUE(check_descriptor(&d).ok());
}

TEST(DescriptorCheck, RefusesSemverThatIsNotMajorMinorPatch) {
  for (const char* bad : {"1.0", "1.0.0.0", "v1.0.0", "1.0.x", "01.0.0", "1..0", "", "1.0.0-rc1"}) {
    quorum_plugin_descriptor d = valid();
    d.semver = bad;
    EXPECT_EQ(refusal(d), std::string("descriptor field 'semver' is '") + bad + "', which is not MAJOR.MINOR.PATCH");
  }
  for (const char* good : {"0.0.0", "10.20.30", "1.0.0"}) {
    quorum_plugin_descriptor d = valid();
    d.semver = good;
    EXPECT_TRUE(check_descriptor(&d).ok()) << good;
  }
}

TEST(DescriptorCheck, RefusesUnknownOrInconsistentCapabilities) {
  quorum_plugin_descriptor d = valid();
  d.capabilities |= 0x100;
  EXPECT_EQ(refusal(d), "descriptor field 'capabilities' has unknown flags 0x100 (this host knows 0xf)");
  d = valid();
  d.migrate = nullptr;
  EXPECT_THAT(refusal(d), HasSubstr("QUORUM_CAP_MIGRATE is set but field 'migrate' is null"));
  d = valid();
  d.capabilities &= ~QUORUM_CAP_HANDLE_BATCH;
  EXPECT_EQ(refusal(d), "descriptor field 'handle_batch' is set but capability QUORUM_CAP_HANDLE_BATCH is not");
  d = valid();
  d.capabilities |= QUORUM_CAP_READS_HISTORY;  // a behaviour flag, no pointer
  EXPECT_TRUE(check_descriptor(&d).ok());
}

}  // namespace
