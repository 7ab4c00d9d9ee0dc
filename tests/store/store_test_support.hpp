// Helpers shared by the store tests: entry builders, temporary directories
// and a harness that runs one suite over MemoryStore and LevelDbStore.
#pragma once

#include "support/scratch_dir.hpp"
#include <quorum/store/entry.hpp>
#include <quorum/store/leveldb_store.hpp>
#include <quorum/store/memory_store.hpp>
#include <quorum/store/write_batch.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace quorum::store::testing {

// A msgpack payload: one str value holding `text` (fixstr/str8/str16).
inline std::string msgpack_string(const std::string& text) {
  std::string out;
  if (text.size() < 32) {
    out.push_back(static_cast<char>(0xa0 | text.size()));
  } else if (text.size() < 256) {
    out.push_back(static_cast<char>(0xd9));
    out.push_back(static_cast<char>(text.size()));
  } else {
    out.push_back(static_cast<char>(0xda));
    out.push_back(static_cast<char>(text.size() >> 8));
    out.push_back(static_cast<char>(text.size() & 0xff));
  }
  return out + text;
}

// Builds `count` chained entries for seqs first_seq.. after prev_hash.
inline std::vector<EncodedEntry> make_chain(Hash prev_hash, uint64_t first_seq, size_t count, uint64_t epoch = 1,
                                            const std::string& tag = "v") {
  std::vector<EncodedEntry> entries;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t seq = first_seq + i;
    EntryDraft draft{seq, epoch, static_cast<int64_t>(1000 + seq), "id-" + tag + std::to_string(seq), "cast",
                     msgpack_string(tag + "-" + std::to_string(seq))};
    Result<EncodedEntry> entry = encode_entry(prev_hash, draft);
    EXPECT_TRUE(entry.ok());
    prev_hash = entry->hash();
    entries.push_back(std::move(entry).value());
  }
  return entries;
}

inline ReplicaMeta meta_for(const std::vector<EncodedEntry>& log, uint64_t epoch = 1) {
  ReplicaMeta meta;
  meta.promised_epoch = epoch;
  meta.last_seq = log.empty() ? 0 : log.back().seq();
  meta.commit_seq = meta.last_seq;
  meta.head = log.empty() ? kGenesisHash : log.back().hash();
  meta.last_accepted_epoch = epoch;
  return meta;
}

// Adds a whole log plus its meta to a batch.
inline void add_log(WriteBatch& batch, const std::string& actor, const std::vector<EncodedEntry>& log) {
  for (const EncodedEntry& entry : log) {
    ASSERT_TRUE(batch.append(actor, entry).ok());
  }
  ASSERT_TRUE(batch.put_meta(actor, meta_for(log)).ok());
}

using TempDir = quorum::test_support::ScratchDir;  // tests/support/scratch_dir.hpp

// Runs the same tests over both stores. reopen() is a restart: LevelDbStore
// closes and opens the directory again; MemoryStore keeps what is durable.
struct MemoryHarness {
  static constexpr const char* name = "memory";
  std::unique_ptr<MemoryStore> store = std::make_unique<MemoryStore>();
  EventStore& get() { return *store; }
  void reopen() { store->crash(); }
};

struct LevelDbHarness {
  static constexpr const char* name = "leveldb";
  TempDir dir;
  std::unique_ptr<LevelDbStore> store = open_store();
  EventStore& get() { return *store; }
  void reopen() {
    store.reset();
    store = open_store();
  }
  std::unique_ptr<LevelDbStore> open_store() {
    Result<std::unique_ptr<LevelDbStore>> opened = LevelDbStore::open(dir.path().string());
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().message);
    return opened.ok() ? std::move(opened).value() : nullptr;
  }
};

}  // namespace quorum::store::testing
