// quorum::election::synthetic in process (labels election, unit; the ASan
// stage runs it): option checks, the plan's shape and bounds, contest
// families, determinism, file splitting and that bad options write nothing.
// The files' NIST validity and realism are checked by gen_test.py.
#include <quorum/election/synthetic.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace quorum::election::synthetic;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("quorum-synthetic-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Options small() {
  Options options;
  options.name = "t";
  options.precincts = 45;
  options.ballots_per_precinct = 7;
  options.cvrs_per_file = 100;
  return options;
}

}  // namespace

TEST(SyntheticPlan, ShapeFollowsPrecincts) {
  Options options = small();
  options.precincts = 100'000;
  auto plan = make_plan(options);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->counties, kMaxCounties);
  EXPECT_EQ(plan->congressional, kMaxCongressionalDistricts);
  EXPECT_EQ(plan->house, kMaxStateHouseDistricts);
  EXPECT_EQ(plan->units, 1 + 60 + 12 + 40 + 1 + 100'000u);
  EXPECT_EQ(plan->contests, 2 + 12 + 40 + 60 + 1 + 1u);  // bounded: the definition fits one command
  options.ballots_per_precinct = 1'500;  // the scale: 1.5e8 ballots in files of 100,000
  options.cvrs_per_file = kMaxCvrsPerFile;
  plan = make_plan(options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->ballots, 150'000'000u);
  EXPECT_EQ(plan->files, 1'500u);
  options.precincts = 1;
  plan = make_plan(options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->counties, 1u);
  EXPECT_EQ(plan->city_precincts, 1u);
  EXPECT_EQ(plan->files, 1u);
}

TEST(SyntheticPlan, RefusesBadOptions) {
  for (auto change : std::vector<void (*)(Options&)>{
           [](Options& o) { o.precincts = 0; },
           [](Options& o) { o.precincts = kMaxPrecincts + 1; },
           [](Options& o) { o.ballots_per_precinct = 0; },
           [](Options& o) { o.cvrs_per_file = kMaxCvrsPerFile + 1; },
           [](Options& o) { o.name = "a/b"; },
           [](Options& o) { o.name = ""; },
           [](Options& o) { o.date = "2026-1-03"; },
           [](Options& o) { o.families = Families{false, false, false, false, false, false}; },
       }) {
    Options options = small();
    change(options);
    auto plan = make_plan(options);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().code, quorum::ErrorCode::kInvalidArgument);
    TempDir dir;
    auto written = write_election(options, dir.path());
    ASSERT_FALSE(written.ok());
    EXPECT_FALSE(fs::exists(dir.path())) << "bad options wrote " << dir.path();
  }
}

TEST(SyntheticFamilies, Parses) {
  auto all = parse_families("all");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->rcv && all->county && all->statewide);
  auto some = parse_families("statewide,rcv");
  ASSERT_TRUE(some.ok());
  EXPECT_TRUE(some->statewide && some->rcv);
  EXPECT_FALSE(some->county || some->house || some->congress || some->measure);
  EXPECT_FALSE(parse_families("statewide,bogus").ok());
  EXPECT_FALSE(parse_families("").ok());
}

TEST(SyntheticWrite, DeterministicSplitAndComplete) {
  TempDir a, b;
  const Options options = small();
  uint64_t last_done = 0, calls = 0;
  auto first = write_election(options, a.path() / "x", [&](uint64_t done, uint64_t total) {
    EXPECT_GT(done, last_done);
    EXPECT_EQ(total, 45u * 7u);
    last_done = done;
    ++calls;
  });
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(calls, 45u);
  EXPECT_EQ(last_done, 45u * 7u);
  ASSERT_EQ(first->cvr_files.size(), 4u);  // 315 ballots in files of 100
  auto second = write_election(options, b.path() / "x");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(slurp(first->definition), slurp(second->definition));
  std::set<std::string> ids;
  for (size_t i = 0; i < first->cvr_files.size(); ++i) {
    const std::string text = slurp(first->cvr_files[i]);
    EXPECT_EQ(text, slurp(second->cvr_files[i]));
    const auto report = nlohmann::json::parse(text);
    EXPECT_LE(report.at("CVR").size(), 100u);
    for (const auto& cvr : report.at("CVR")) {
      EXPECT_TRUE(ids.insert(cvr.at("UniqueId").get<std::string>()).second);
    }
  }
  EXPECT_EQ(ids.size(), 45u * 7u);

  Options other = options;
  other.seed = 2;
  TempDir c;
  auto third = write_election(other, c.path());
  ASSERT_TRUE(third.ok());
  EXPECT_NE(a.path(), b.path());
  EXPECT_NE(slurp(third->cvr_files[0]), slurp(first->cvr_files[0]));
}

TEST(SyntheticWrite, FamiliesLeaveContestsOut) {
  Options options = small();
  options.families = Families{true, false, false, false, false, false};
  TempDir dir;
  auto written = write_election(options, dir.path());
  ASSERT_TRUE(written.ok());
  const auto definition = nlohmann::json::parse(slurp(written->definition));
  const auto& contests = definition.at("Election").at(0).at("Contest");
  ASSERT_EQ(contests.size(), 2u);
  for (const auto& contest : contests) {
    EXPECT_EQ(contest.at("ElectionDistrictId"), "ru-state");
  }
}
