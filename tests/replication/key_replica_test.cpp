// KeyReplica, message by message: fencing, durability before answers, the
// vouched-prefix rule, quorums (3 of 5; both sets while joint). The many-
// seed simulation (tests/sim) explores interleavings; these pin the rules
// one at a time, and run under the sanitizers with a few simulated seeds.
#include "entry_chain.hpp"
#include "simulation.hpp"

#include <quorum/replication/key_replica.hpp>
#include <quorum/store/entry.hpp>

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace quorum::replication {
namespace {

constexpr const char* kKey = "e/test/precinct/1";

// A node's durable log of one key, and the writes it was asked for.
class MemLog final : public LogReader {
 public:
  std::vector<store::EncodedEntry> read(std::string_view, uint64_t from, uint64_t to, size_t max_bytes) const override {
    std::vector<store::EncodedEntry> out;
    size_t bytes = 0;
    for (uint64_t s = from; s <= to && s <= entries.size() && (out.empty() || bytes < max_bytes); ++s) {
      out.push_back(entries[s - 1]);
      bytes += entries[s - 1].bytes().size();
    }
    return out;
  }
  std::optional<store::Hash> hash_at(std::string_view, uint64_t seq) const override {
    ++hash_reads;
    if (seq == 0 || seq > entries.size()) {
      return std::nullopt;
    }
    return entries[seq - 1].hash();
  }
  void apply(const Write& w) {
    if (w.truncate_after != kNoTruncate && w.truncate_after < entries.size()) {
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(w.truncate_after), entries.end());
    }
    for (const auto& e : w.entries) {
      entries.push_back(e);
    }
    meta = w.meta;
  }
  std::vector<store::EncodedEntry> entries;
  Meta meta;
  mutable size_t hash_reads = 0;  // store reads of one hash (the replica keeps recent ones)
};

// Every hash the replica reports equals what its log holds.
void expect_hashes_match_log(const KeyReplica& r, const MemLog& log) {
  ASSERT_EQ(r.last_seq(), log.entries.size());
  for (uint64_t seq = 1; seq <= log.entries.size(); ++seq) {
    ASSERT_EQ(r.hash_at(seq), log.entries[seq - 1].hash()) << "seq " << seq;
  }
  EXPECT_EQ(r.hash_at(log.entries.size() + 1), std::nullopt);
}

using testing::chain;

// Five nodes (ids 1..5), one key; messages and writes are pumped by hand.
struct Group {
  Group() {
    for (NodeId n = 1; n <= 5; ++n) {
      logs[n] = std::make_unique<MemLog>();
      replicas[n] = std::make_unique<KeyReplica>(kKey, n, *logs[n], Meta{});
    }
  }
  // Applies writes durably at once and queues messages.
  void take(NodeId n, Output& out) {
    for (auto& w : out.writes) {
      pending_writes[n].push_back(std::move(w));
    }
    for (auto& m : out.messages) {
      wire.push_back(std::move(m));
    }
    if (out.committed) {
      committed[n] = *out.committed;
    }
    out.clear();
  }
  void sync(NodeId n) {
    if (pending_writes[n].empty()) {
      return;
    }
    uint64_t last = 0;
    for (auto& w : pending_writes[n]) {
      logs[n]->apply(w);
      last = w.id;
    }
    pending_writes[n].clear();
    Output out;
    replicas[n]->durable(last, now, out);
    take(n, out);
  }
  // Delivers queued messages (dropping those to `cut` nodes) and syncs every
  // disk, until nothing moves.
  void run(std::set<NodeId> cut = {}) {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      for (NodeId n = 1; n <= 5; ++n) {
        if (!pending_writes[n].empty() && !cut.count(n)) {
          sync(n);
          moved = true;
        }
      }
      std::deque<Envelope> batch;
      batch.swap(wire);
      for (auto& m : batch) {
        if (cut.count(m.to) || cut.count(m.from)) {
          continue;
        }
        Output out;
        replicas[m.to]->receive(m, now, out);
        take(m.to, out);
        moved = true;
      }
      if (!moved) {
        return;
      }
    }
    FAIL() << "messages never settled";
  }
  // Time passes: resends of what was lost.
  void tick_all() {
    now += 1000;
    for (NodeId n = 1; n <= 5; ++n) {
      Output out;
      replicas[n]->tick(now, out);
      take(n, out);
    }
  }
  void configure_all(const KeyConfig& c) {
    for (NodeId n = 1; n <= 5; ++n) {
      Output out;
      replicas[n]->configure(c, now, out);
      take(n, out);
    }
  }
  std::map<NodeId, std::unique_ptr<MemLog>> logs;
  std::map<NodeId, std::unique_ptr<KeyReplica>> replicas;
  std::map<NodeId, std::vector<Write>> pending_writes;
  std::map<NodeId, uint64_t> committed;
  std::deque<Envelope> wire;
  uint64_t now = 1000;
};

KeyConfig five(uint64_t topology, NodeId writer) {
  KeyConfig c;
  c.topology = topology;
  c.writer = writer;
  c.current = {writer};
  for (NodeId n = 1; n <= 5; ++n) {
    if (n != writer) {
      c.current.push_back(n);
    }
  }
  return c;
}

TEST(KeyReplica, AWriterServesOnlyAfterAQuorumPromisedAndCommitsOnlyOnAMajority) {
  Group g;
  g.configure_all(five(1, 1));
  g.run({4, 5});  // two followers unreachable: 3 of 5 remain
  ASSERT_TRUE(g.replicas[1]->serving());
  Output out;
  auto seq = g.replicas[1]->propose(chain(g.replicas[1]->head(), 1, 3, 1, "a"), g.now, out);
  ASSERT_TRUE(seq.ok());
  g.take(1, out);
  // Only the writer's own copy and nothing else: no commit.
  g.sync(1);
  EXPECT_EQ(g.replicas[1]->commit(), 0u);
  // One follower more: 2 of 5, still no commit.
  g.run({3, 4, 5});
  EXPECT_EQ(g.replicas[1]->commit(), 0u);
  // A second follower: 3 of 5 (the writer resends what node 3 missed).
  g.tick_all();
  g.run({4, 5});
  EXPECT_EQ(g.replicas[1]->commit(), 3u);
  EXPECT_EQ(g.committed[1], 3u);
}

TEST(KeyReplica, WithTwoOfFiveTheWriterNeverServes) {
  Group g;
  g.configure_all(five(1, 1));
  g.run({3, 4, 5});
  EXPECT_FALSE(g.replicas[1]->serving());
  EXPECT_EQ(g.replicas[1]->role(), KeyReplica::Role::kPreparing);
}

TEST(KeyReplica, AReplicaRefusesAnOlderBallotAndChangesNothing) {
  Group g;
  g.configure_all(five(1, 1));
  g.run();
  ASSERT_TRUE(g.replicas[1]->serving());
  // Node 2 becomes the writer under topology 2 and fences node 1.
  g.configure_all(five(2, 2));
  g.run();
  ASSERT_TRUE(g.replicas[2]->serving());
  EXPECT_FALSE(g.replicas[1]->serving());
  const Meta before = g.replicas[3]->meta();
  Envelope stale{1, 3, kKey, Append{Ballot{1, 0, 1}, 0, 0, store::kGenesisHash, chain(store::kGenesisHash, 1, 2, 1, "x"), 2}};
  Output out;
  g.replicas[3]->receive(stale, g.now, out);
  ASSERT_EQ(out.messages.size(), 1u);
  const auto& reply = std::get<AppendReply>(out.messages[0].body);
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.promised, (Ballot{2, 0, 2}));
  EXPECT_TRUE(out.writes.empty());
  EXPECT_EQ(g.replicas[3]->meta(), before);
  // And a Prepare below the promise is refused.
  out.clear();
  g.replicas[3]->receive(Envelope{1, 3, kKey, Prepare{Ballot{1, 5, 1}}}, g.now, out);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_FALSE(std::get<Promise>(out.messages[0].body).granted);
  EXPECT_TRUE(out.writes.empty());
}

TEST(KeyReplica, APromiseLeavesOnlyOnceItIsDurable) {
  Group g;
  Output out;
  g.replicas[3]->receive(Envelope{1, 3, kKey, Prepare{Ballot{1, 0, 1}}}, g.now, out);
  EXPECT_TRUE(out.messages.empty());
  ASSERT_EQ(out.writes.size(), 1u);
  EXPECT_EQ(out.writes[0].meta.promised, (Ballot{1, 0, 1}));
  const uint64_t id = out.writes[0].id;
  out.clear();
  g.replicas[3]->durable(id, g.now, out);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_TRUE(std::get<Promise>(out.messages[0].body).granted);
}

TEST(KeyReplica, ALateShorterAppendOfTheSameBallotDoesNotShortenTheLog) {
  Group g;
  const Ballot b{1, 0, 1};
  const auto entries = chain(store::kGenesisHash, 1, 4, 1, "a");
  auto& r = *g.replicas[3];
  Output out;
  r.receive(Envelope{1, 3, kKey, Append{b, 0, 0, store::kGenesisHash, entries, 0}}, g.now, out);
  g.take(3, out);
  g.sync(3);
  ASSERT_EQ(r.meta().vouched, 4u);
  // The same ballot's earlier Append (two entries) arrives late.
  std::vector<store::EncodedEntry> first_two(entries.begin(), entries.begin() + 2);
  r.receive(Envelope{1, 3, kKey, Append{b, 0, 0, store::kGenesisHash, first_two, 0}}, g.now, out);
  EXPECT_EQ(r.meta().vouched, 4u);
  EXPECT_EQ(r.last_seq(), 4u);
  ASSERT_FALSE(out.messages.empty());
  EXPECT_EQ(std::get<AppendReply>(out.messages.back().body).match, 4u);  // what it really holds
}

TEST(KeyReplica, ANewBallotIsTakenOnlyWithTheWritersWholeRecoveredLog) {
  Group g;
  auto& r = *g.replicas[3];
  // Node 3 holds 6 entries under ballot (1,0,1).
  const auto old = chain(store::kGenesisHash, 1, 6, 1, "old");
  Output out;
  r.receive(Envelope{1, 3, kKey, Append{Ballot{1, 0, 1}, 0, 0, store::kGenesisHash, old, 0}}, g.now, out);
  g.take(3, out);
  g.sync(3);
  ASSERT_EQ(r.meta().accepted, (Ballot{1, 0, 1}));
  // Writer (2,0,2) recovered a log of 5 entries: the first 3 shared, then
  // two of its own. Its first Append carries only entries 4 (of 4..5).
  auto recovered = chain(old[2].hash(), 4, 2, 2, "new");
  out.clear();
  r.receive(Envelope{2, 3, kKey, Append{Ballot{2, 0, 2}, 5, 3, old[2].hash(), {recovered[0]}, 0}}, g.now, out);
  g.take(3, out);
  g.sync(3);
  // Not yet the new ballot: it does not hold the writer's base (5).
  EXPECT_EQ(r.meta().accepted, (Ballot{1, 0, 1}));
  EXPECT_EQ(r.meta().vouched, 3u);  // entries past the first difference are not vouched any more
  EXPECT_EQ(r.meta().promised, (Ballot{2, 0, 2}));
  // The rest arrives: now it takes the ballot, and its old entry 6 is gone.
  r.receive(Envelope{2, 3, kKey, Append{Ballot{2, 0, 2}, 5, 4, recovered[0].hash(), {recovered[1]}, 0}}, g.now, out);
  g.take(3, out);
  g.sync(3);
  EXPECT_EQ(r.meta().accepted, (Ballot{2, 0, 2}));
  EXPECT_EQ(r.meta().vouched, 5u);
  EXPECT_EQ(r.last_seq(), 5u);
  EXPECT_EQ(g.logs[3]->entries.size(), 5u);
  EXPECT_EQ(*r.hash_at(5), recovered[1].hash());
}

TEST(KeyReplica, SteadyRoundsReadNoHashFromTheStore) {
  // Every Append carries the hash of the entry before its first: in steady
  // state the previous round's last entry, durable and out of the overlay.
  // The replica keeps the last hashes, so a round costs no store read (a
  // LevelDB iterator seek per follower before).
  Group g;
  g.configure_all(five(1, 1));
  g.run();
  ASSERT_TRUE(g.replicas[1]->serving());
  for (NodeId n = 1; n <= 5; ++n) {
    g.logs[n]->hash_reads = 0;
  }
  for (int round = 0; round < 40; ++round) {
    Output out;
    ASSERT_TRUE(g.replicas[1]
                    ->propose(chain(g.replicas[1]->head(), g.replicas[1]->last_seq() + 1, 1 + round % 3, 1,
                                    "r" + std::to_string(round)),
                              g.now, out)
                    .ok());
    g.take(1, out);
    g.run();
  }
  EXPECT_EQ(g.replicas[1]->commit(), g.replicas[1]->last_seq());
  for (NodeId n = 1; n <= 5; ++n) {
    EXPECT_EQ(g.logs[n]->hash_reads, 0u) << "node " << n;
    expect_hashes_match_log(*g.replicas[n], *g.logs[n]);
  }
}

TEST(KeyReplica, RecentHashesFollowATruncation) {
  // Node 3 holds 20 entries of an old ballot; a new writer's log shares the
  // first 12 and then differs: node 3 drops 13..20 and takes the new ones.
  // The hashes it keeps must be the new log's, also for the seqs it dropped.
  Group g;
  auto& r = *g.replicas[3];
  const auto old = chain(store::kGenesisHash, 1, 20, 1, "old");
  Output out;
  r.receive(Envelope{1, 3, kKey, Append{Ballot{1, 0, 1}, 0, 0, store::kGenesisHash, old, 0}}, g.now, out);
  g.take(3, out);
  g.sync(3);
  expect_hashes_match_log(r, *g.logs[3]);
  const auto fresh = chain(old[11].hash(), 13, 5, 2, "new");
  out.clear();
  r.receive(Envelope{2, 3, kKey, Append{Ballot{2, 0, 2}, 17, 12, old[11].hash(), fresh, 0}}, g.now, out);
  g.take(3, out);
  // Before the write is durable (served from memory) and after.
  ASSERT_EQ(r.last_seq(), 17u);
  for (uint64_t seq = 13; seq <= 17; ++seq) {
    EXPECT_EQ(r.hash_at(seq), fresh[seq - 13].hash()) << "seq " << seq;
  }
  EXPECT_EQ(r.hash_at(18), std::nullopt);
  g.sync(3);
  expect_hashes_match_log(r, *g.logs[3]);
  // Appending on from there keeps them right, past the kept window too.
  auto more = chain(fresh.back().hash(), 18, 30, 2, "more");
  out.clear();
  r.receive(Envelope{2, 3, kKey, Append{Ballot{2, 0, 2}, 17, 17, fresh.back().hash(), more, 0}}, g.now, out);
  g.take(3, out);
  g.sync(3);
  expect_hashes_match_log(r, *g.logs[3]);
}

TEST(KeyReplica, WhileJointACommitNeedsAMajorityOfBothSets) {
  Group g;
  KeyConfig c;
  c.topology = 2;
  c.writer = 1;
  c.current = {1, 2, 3};   // the new set
  c.previous = {3, 4, 5};  // the old one
  g.configure_all(c);
  g.run({4, 5});  // only 3 of the old set: no majority of it
  EXPECT_FALSE(g.replicas[1]->serving());
  g.tick_all();
  g.run({5});
  ASSERT_TRUE(g.replicas[1]->serving());
  Output out;
  ASSERT_TRUE(g.replicas[1]->propose(chain(g.replicas[1]->head(), 1, 1, 2, "j"), g.now, out).ok());
  g.take(1, out);
  g.run({4, 5});  // new set complete, old set 1 of 3
  EXPECT_EQ(g.replicas[1]->commit(), 0u);
  g.tick_all();
  g.run({5});  // old set 2 of 3
  EXPECT_EQ(g.replicas[1]->commit(), 1u);
}

TEST(KeyReplica, ProposalsMustContinueTheLog) {
  Group g;
  g.configure_all(five(1, 1));
  g.run();
  Output out;
  auto wrong = g.replicas[1]->propose(chain(store::kGenesisHash, 2, 1, 1, "w"), g.now, out);
  EXPECT_FALSE(wrong.ok());
  EXPECT_TRUE(out.writes.empty());
  EXPECT_FALSE(g.replicas[2]->propose(chain(store::kGenesisHash, 1, 1, 1, "w"), g.now, out).ok());  // not the writer
}

TEST(KeyReplica, AFetchKeepsVouchedTheEntriesItAlreadyHeld) {
  // Node 1 (the new writer) holds 1..5 under ballot (1,0,9), commit 2. Node 3
  // holds the same 1..5 and two more, under the higher (1,1,9): the best log.
  MemLog log;
  const auto entries = chain(store::kGenesisHash, 1, 7, 1, "e");
  log.entries.assign(entries.begin(), entries.begin() + 5);
  Meta meta;
  meta.promised = meta.accepted = Ballot{1, 0, 9};
  meta.vouched = meta.last_seq = 5;
  meta.head = entries[4].hash();
  meta.commit = 2;
  log.meta = meta;
  ReplicaOptions options;
  options.max_append_bytes = 1;  // one entry per FetchReply
  KeyReplica writer(kKey, 1, log, meta, options);
  Output out;
  KeyConfig c = five(2, 1);
  writer.configure(c, 0, out);
  ASSERT_EQ(out.writes.size(), 1u);
  const uint64_t promise_write = out.writes[0].id;
  out.clear();
  writer.durable(promise_write, 0, out);
  const Ballot b = writer.ballot();
  out.clear();
  writer.receive(Envelope{2, 1, kKey, Promise{b, true, b, Ballot{1, 0, 9}, 5, entries[4].hash(), 2}}, 0, out);
  writer.receive(Envelope{3, 1, kKey, Promise{b, true, b, Ballot{1, 1, 9}, 7, entries[6].hash(), 2}}, 0, out);
  ASSERT_EQ(writer.role(), KeyReplica::Role::kFetching);
  // The first chunk: entry 3, which we hold. Nothing is rewritten, and
  // 1..5 stay vouched if we crash now.
  out.clear();
  writer.receive(Envelope{3, 1, kKey, FetchReply{b, true, 2, {entries[2]}}}, 0, out);
  EXPECT_TRUE(out.writes.empty());
  EXPECT_EQ(writer.meta().vouched, 5u);
  EXPECT_EQ(writer.meta().accepted, (Ballot{1, 0, 9}));
  // The rest, then the adopted log is 1..7 under the new ballot.
  for (uint64_t seq = 4; seq <= 7; ++seq) {
    writer.receive(Envelope{3, 1, kKey, FetchReply{b, true, seq - 1, {entries[seq - 1]}}}, 0, out);
  }
  EXPECT_EQ(writer.role(), KeyReplica::Role::kReplicating);
  EXPECT_EQ(writer.meta().accepted, b);
  EXPECT_EQ(writer.meta().vouched, 7u);
  EXPECT_EQ(writer.last_seq(), 7u);
}

// A few whole simulated seeds, so the sanitizer build runs the core through
// crashes, partitions and transitions too.
TEST(KeyReplica, AFewSimulatedSeedsPass) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    sim::SimOptions options;
    options.seed = seed;
    options.ballots = 80;
    const sim::SimResult result = sim::run_simulation(options);
    ASSERT_TRUE(result.ok) << result.summary() << "\n" << sim::replay_command(options);
  }
}

}  // namespace
}  // namespace quorum::replication
