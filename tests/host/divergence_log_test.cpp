// The divergence log keeps the last N records and counts them all.
#include <quorum/host/divergence_log.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace {

using quorum::host::DivergenceLog;
using quorum::host::DivergenceRecord;

TEST(DivergenceLog, KeepsTheLastCapacityRecords) {
  DivergenceLog log(3);
  for (int i = 0; i < 5; ++i) {
    DivergenceRecord record;
    record.key = "k" + std::to_string(i);
    log.record(record);
  }
  EXPECT_EQ(log.total(), 5u);
  auto records = log.records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].key, "k2");
  EXPECT_EQ(records[0].sequence, 3u);
  EXPECT_EQ(records[2].key, "k4");
  EXPECT_EQ(records[2].sequence, 5u);
}

TEST(DivergenceLog, CutsLongMessagesAndIsThreadSafe) {
  DivergenceLog log(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        DivergenceRecord record;
        record.message = std::string(quorum::host::kMaxRecordedMessageBytes + 10, 'm');
        log.record(std::move(record));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(log.total(), 4000u);
  auto records = log.records();
  ASSERT_EQ(records.size(), 16u);
  EXPECT_EQ(records.back().sequence, 4000u);
  EXPECT_EQ(records.back().message.size(), quorum::host::kMaxRecordedMessageBytes);
}

}  // namespace
