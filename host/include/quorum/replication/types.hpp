// The replication core's vocabulary: ballots, replica configurations, and
// the messages replicas of one key exchange (DESIGN §4, §5;
// docs/replication.md). Plain values, no I/O: the sans-IO core
// (key_replica.hpp) consumes and produces them, and both the simulator
// (tests/sim) and quorumd's adapters carry them.
#pragma once

#include <quorum/store/entry.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace quorum::replication {

// A node, as the embedding names it: stable for the node's life and across
// restarts (it is part of every ballot the node issues).
using NodeId = uint32_t;

// A writer's epoch for one key: totally ordered, unique to one writer.
// Ordered by topology epoch first, so any writer of a newer topology fences
// every writer of an older one; within a topology by round (a writer that
// was refused retries with a higher round); ties broken by node.
struct Ballot {
  uint64_t topology = 0;
  uint32_t round = 0;
  NodeId node = 0;
  friend auto operator<=>(const Ballot&, const Ballot&) = default;
  friend bool operator==(const Ballot&, const Ballot&) = default;
  bool zero() const noexcept { return topology == 0 && round == 0 && node == 0; }
};

std::string to_string(const Ballot& ballot);

// Where a key lives under one topology epoch: its writer and its replica set
// (the writer and its four followers). While a transition is joint,
// `previous` is the set under the epoch before and every quorum needs a
// majority of both sets; once final, `previous` is empty.
struct KeyConfig {
  uint64_t topology = 0;
  NodeId writer = 0;
  std::vector<NodeId> current;   // includes the writer; 1..5 distinct nodes
  std::vector<NodeId> previous;  // empty unless joint
  bool joint() const noexcept { return !previous.empty(); }
  friend bool operator==(const KeyConfig&, const KeyConfig&) = default;
};

// --- messages (all about one key; the envelope names it) ---

// Writer -> replicas: promise not to accept anything below `ballot`.
struct Prepare {
  Ballot ballot;
};

// Replica -> writer, sent only once the promise is durable. `accepted` and
// `vouched` say which log the replica holds: entries 1..vouched are exactly
// the log of the writer of `accepted` (see key_replica.hpp).
struct Promise {
  Ballot ballot;     // the Prepare answered
  bool granted = false;
  Ballot promised;   // the replica's promise (> ballot when refused)
  Ballot accepted;
  uint64_t vouched = 0;
  store::Hash vouched_hash{};
  uint64_t commit = 0;
};

// Writer -> replica: entries after (prev_seq, prev_hash). `base` is the end
// of the log the writer adopted when it recovered under `ballot`: a replica
// takes `ballot` as its accepted ballot only once it holds at least that
// much of the writer's log.
struct Append {
  Ballot ballot;
  uint64_t base = 0;
  uint64_t prev_seq = 0;
  store::Hash prev_hash{};
  std::vector<store::EncodedEntry> entries;
  uint64_t commit = 0;
};

// Replica -> writer, for an accepted Append sent only once durable.
// ok: the replica holds the writer's log up to `match` under `ballot`.
// !ok: refused (promised > ballot) or not attached; resend after `hint`.
struct AppendReply {
  Ballot ballot;
  bool ok = false;
  Ballot promised;
  uint64_t match = 0;
  uint64_t hint = 0;
  uint64_t commit = 0;  // the replica's commit seq once this is durable (the writer stops repeating it)
};

// New writer -> the replica with the best log: send me your entries after
// `after` up to `upto` (its vouched end).
struct Fetch {
  Ballot ballot;
  uint64_t after = 0;
  uint64_t upto = 0;
};

struct FetchReply {
  Ballot ballot;
  bool ok = false;
  uint64_t after = 0;
  std::vector<store::EncodedEntry> entries;
};

using Body = std::variant<Prepare, Promise, Append, AppendReply, Fetch, FetchReply>;

struct Envelope {
  NodeId from = 0;
  NodeId to = 0;
  std::string key;
  Body body;
};

// What a replica keeps durably about a key besides its entries.
struct Meta {
  Ballot promised;
  Ballot accepted;
  uint64_t vouched = 0;      // entries 1..vouched are the log of accepted's writer
  uint64_t last_seq = 0;     // the last entry held (>= vouched; beyond it: leftovers)
  store::Hash head{};        // hash of entry last_seq
  uint64_t commit = 0;       // highest seq known committed (<= vouched)
  friend bool operator==(const Meta&, const Meta&) = default;
};

}  // namespace quorum::replication
