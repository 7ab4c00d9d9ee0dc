// Content addressing: SHA-256 of the bytes names the copy.
#include <quorum/host/content_store.hpp>

#include "test_support.hpp"

#include <fstream>

namespace {

using namespace quorum::host;
using quorum::host::testing::ScratchDir;

TEST(ContentStore, Sha256MatchesKnownVectors) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ContentStore, CopiesUnderTheDigestAndReusesAnExistingCopy) {
  ScratchDir dir;
  auto first = store_content_addressed(dir.path() / "cache", "plugin bytes");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->path.filename().string(), to_hex(sha256("plugin bytes")) + ".so");
  auto bytes = read_file(first->path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "plugin bytes");
  const auto inode = std::filesystem::last_write_time(first->path);
  auto second = store_content_addressed(dir.path() / "cache", "plugin bytes");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->path, first->path);
  EXPECT_EQ(std::filesystem::last_write_time(second->path), inode);
  auto other = store_content_addressed(dir.path() / "cache", "other bytes");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->path, first->path);
}

TEST(ContentStore, RewritesACorruptedCopy) {
  ScratchDir dir;
  auto first = store_content_addressed(dir.path(), "good");
  ASSERT_TRUE(first.ok());
  std::ofstream(first->path, std::ios::trunc) << "tampered";
  auto again = store_content_addressed(dir.path(), "good");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*read_file(again->path), "good");
}

TEST(ContentStore, ReadFileReportsMissingFilesAndLimits) {
  ScratchDir dir;
  auto missing = read_file(dir.path() / "nope.so");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, quorum::ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr("plugin file not found"));
  std::ofstream(dir.path() / "big") << std::string(100, 'x');
  auto big = read_file(dir.path() / "big", 10);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, quorum::ErrorCode::kResourceExhausted);
}

}  // namespace
