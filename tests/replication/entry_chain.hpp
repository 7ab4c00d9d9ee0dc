// Test helper: n hash-chained ballot entries seq first_seq.. after `prev`.
#pragma once

#include <quorum/store/entry.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quorum::replication::testing {

inline std::vector<store::EncodedEntry> chain(const store::Hash& prev, uint64_t first_seq, size_t n, uint64_t epoch,
                                              const std::string& id_prefix) {
  std::vector<store::EncodedEntry> out;
  store::Hash h = prev;
  for (size_t i = 0; i < n; ++i) {
    store::EntryDraft d;
    d.seq = first_seq + i;
    d.epoch = epoch;
    d.id = id_prefix + std::to_string(first_seq + i);
    d.type = "ballot";
    d.payload = std::string(1, '\x01');
    auto e = store::encode_entry(h, d);
    EXPECT_TRUE(e.ok());
    h = e->hash();
    out.push_back(std::move(e).value());
  }
  return out;
}

}  // namespace quorum::replication::testing
