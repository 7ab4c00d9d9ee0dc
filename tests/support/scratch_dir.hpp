// A fresh, uniquely named directory for one test (mkdtemp), removed with
// everything in it when the object goes out of scope. Shared by the test
// suites so each does not write its own.
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace quorum::test_support {

class ScratchDir {
 public:
  // `prefix` names the directory (for a reader of /tmp): "<prefix>-XXXXXX".
  explicit ScratchDir(const std::string& prefix = "quorum-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    const char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace quorum::test_support
