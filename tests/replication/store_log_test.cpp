// The replication core over an EventStore (replication/store_log.hpp), on
// MemoryStore and LevelDbStore alike: StoreLog reads, load_meta, and the
// WriteApplier's translation of Writes into one batch — truncations remove
// entries, idempotency records, outbox records and snapshots past the point
// and nothing before, also when several writes of a key share a batch; a
// command re-appended at another seq is found there; a batch is atomic
// across a crash. Five ReplicationNodes over MemoryStores replicate, change
// writer and truncate a diverged replica through it. The random version is
// store_log_property_test.cpp.
#include <quorum/replication/codec.hpp>
#include <quorum/replication/replication_node.hpp>
#include <quorum/replication/store_log.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/recovery.hpp>

#include "replication/store_log_model.hpp"
#include "store/store_test_support.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quorum::replication {
namespace {

using store::EncodedEntry;
using store::EventStore;
using store::Hash;
using store::kGenesisHash;
using store::WriteBatch;
using store::testing::LevelDbHarness;
using store::testing::MemoryHarness;
using testing::differences;
using testing::KeyModel;
using testing::make_entries;

template <class Harness>
class StoreLogTest : public ::testing::Test {
 protected:
  Harness harness_;
  EventStore& store() { return harness_.get(); }

  // The writes as one batch, committed.
  Status commit(std::vector<KeyWrite> writes) {
    WriteApplier applier(store());
    WriteBatch batch;
    for (KeyWrite& w : writes) {
      if (Status added = applier.add(w.key, std::move(w.write), batch); !added.ok()) {
        return added;
      }
    }
    return store().commit(batch);
  }
};

struct HarnessNames {
  template <class T>
  static std::string GetName(int) {
    return T::name;
  }
};

using Harnesses = ::testing::Types<MemoryHarness, LevelDbHarness>;
TYPED_TEST_SUITE(StoreLogTest, Harnesses, HarnessNames);

TYPED_TEST(StoreLogTest, AppendsReadBackThroughStoreLogAndLoadMeta) {
  KeyModel k;
  EXPECT_EQ(differences(this->store(), "k", k), "");
  EXPECT_FALSE(load_meta(this->store(), "k")->has_value());
  ASSERT_TRUE(
      this->commit({{"k", k.write(kNoTruncate, {"c1", "", "c3", "c4", "c5"}, 1, {2, 1, 3}, {2, 0, 1}, 2)}}).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  ASSERT_TRUE(this->commit({{"k", k.write(kNoTruncate, {"c6"}, 1)}}).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  StoreLog log(this->store());
  EXPECT_EQ(log.read("k", 2, 4, SIZE_MAX), std::vector<EncodedEntry>(k.log.begin() + 1, k.log.begin() + 4));
  EXPECT_EQ(log.read("k", 2, 4, 1).size(), 1u);  // at least one entry, then the byte bound
  EXPECT_EQ(log.read("k", 5, 100, SIZE_MAX).size(), 2u);
  EXPECT_TRUE(log.read("k", 7, 9, SIZE_MAX).empty());
  EXPECT_TRUE(log.read("other", 1, 9, SIZE_MAX).empty());
  EXPECT_EQ(log.faults(), 0u);
  // m/ keeps answering for the tools: listing and the store's own meta.
  EXPECT_EQ(*this->store().list_actors("", 10), std::vector<std::string>{"k"});
  EXPECT_EQ(this->store().read_meta("k")->value().last_seq, 6u);
  this->harness_.reopen();
  EXPECT_EQ(differences(this->store(), "k", k), "");
}

TYPED_TEST(StoreLogTest, TruncationRemovesWhatHangsOffRemovedEntriesAndNothingBefore) {
  KeyModel k;
  KeyModel n;  // a neighbour key with the same ids and records: untouched
  std::vector<std::string> ids;
  for (int i = 1; i <= 10; ++i) {
    ids.push_back("c" + std::to_string(i));
  }
  ASSERT_TRUE(this->commit({{"k", k.write(kNoTruncate, ids, 1)}, {"k2", n.write(kNoTruncate, ids, 1)}}).ok());
  // The actor's own records beside the entries.
  WriteBatch records;
  for (auto [key, model] : {std::pair<std::string, KeyModel*>{"k", &k}, {"k2", &n}}) {
    for (uint64_t seq : {3, 6, 7, 10}) {
      ASSERT_TRUE(records.put_outbox(key, seq, 0, "e").ok());
      ASSERT_TRUE(records.put_outbox(key, seq, 1, "f").ok());
      model->outbox.insert({{seq, 0}, {seq, 1}});
    }
    for (auto [handler, seq] : {std::pair<std::string, uint64_t>{"low", 2}, {"at", 6}, {"high", 9}}) {
      ASSERT_TRUE(
          records.put_snapshot(key, handler, store::Snapshot{seq, model->log[seq - 1].hash(), "1", 1, "\x01"}).ok());
      model->snapshots[handler] = seq;
    }
  }
  ASSERT_TRUE(this->store().commit(records).ok());
  ASSERT_EQ(differences(this->store(), "k", k), "");

  ASSERT_TRUE(this->commit({{"k", k.write(6, {}, 1, {2, 0, 2}, {1, 0, 1})}}).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  EXPECT_EQ(differences(this->store(), "k2", n), "");
  EXPECT_EQ(this->store().read_log("k", 1, 100)->size(), 6u);
  EXPECT_FALSE(this->store().find_command("k", "c7")->has_value());
  EXPECT_EQ(this->store().find_command("k", "c6")->value().seq, 6u);
  EXPECT_TRUE(this->store().read_snapshot("k", "at")->has_value());
  EXPECT_FALSE(this->store().read_snapshot("k", "high")->has_value());
  // To nothing.
  ASSERT_TRUE(this->commit({{"k", k.write(0, {}, 1, {3, 0, 3}, {1, 0, 1})}}).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  EXPECT_TRUE(this->store().read_snapshots("k")->empty());
  EXPECT_EQ(differences(this->store(), "k2", n), "");
}

TYPED_TEST(StoreLogTest, TruncateThenAppendAcrossBatchesAndWithinOne) {
  KeyModel k;
  ASSERT_TRUE(this->commit({{"k", k.write(kNoTruncate, {"a1", "a2", "a3", "a4", "a5"}, 1)}}).ok());
  // Across batches: a new tail from seq 4, one command id carried over.
  ASSERT_TRUE(this->commit({{"k", k.write(3, {"b4", "a5", "b6"}, 2)}}).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  // Within one batch: appends, then a truncation into what the batch
  // appended and into the stored log, then appends again.
  std::vector<KeyWrite> round;
  round.push_back({"k", k.write(kNoTruncate, {"c7", "c8"}, 3)});
  round.push_back({"k", k.write(5, {"c6", "c7"}, 4)});  // removes b6 (stored) and c7, c8 (this batch)
  round.push_back({"k", k.write(kNoTruncate, {"c8"}, 4)});
  ASSERT_TRUE(this->commit(std::move(round)).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  EXPECT_EQ(this->store().find_command("k", "c7")->value().seq, 7u);
  EXPECT_FALSE(this->store().find_command("k", "b6")->has_value());
}

// A stored entry removed twice in one batch (two truncations) must not take
// the record of its command's new entry with it.
TYPED_TEST(StoreLogTest, ACommandReappendedAtAnotherSeqIsFoundThere) {
  KeyModel k;
  ASSERT_TRUE(this->commit({{"k", k.write(kNoTruncate, {"x1", "x2", "x3", "x4", "X"}, 1)}}).ok());
  std::vector<KeyWrite> round;
  round.push_back({"k", k.write(3, {"X"}, 2)});       // X: stored at 5, now at 4
  round.push_back({"k", k.write(4, {"Y"}, 3)});       // stored 5 (X's old entry) is gone already
  round.push_back({"k", k.write(4, {"Z", "W"}, 3)});  // removes Y, this batch's own append
  ASSERT_TRUE(this->commit(std::move(round)).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  Result<std::optional<store::IdempotencyRecord>> x = this->store().find_command("k", "X");
  ASSERT_TRUE(x.ok()) << x.error().message;
  ASSERT_TRUE(x->has_value());
  EXPECT_EQ((*x)->seq, 4u);
  EXPECT_EQ((*x)->hash, k.log[3].hash());
  EXPECT_FALSE(this->store().find_command("k", "Y")->has_value());
  // And across batches: X moves back to 5.
  ASSERT_TRUE(this->commit({{"k", k.write(3, {"x4", "X"}, 5)}}).ok());
  EXPECT_EQ(differences(this->store(), "k", k), "");
  EXPECT_EQ(this->store().find_command("k", "X")->value().seq, 5u);
}

TYPED_TEST(StoreLogTest, LoadMetaRefusesGarbageAndALogWithoutReplicationMeta) {
  WriteBatch garbage;
  ASSERT_TRUE(garbage.put_replication_meta("g", "\x93\x01\x02").ok());
  ASSERT_TRUE(garbage.put_replication_meta("h", std::string("\x97\x02", 2)).ok());  // an unknown version
  ASSERT_TRUE(this->store().commit(garbage).ok());
  for (const char* key : {"g", "h"}) {
    Result<std::optional<Meta>> meta = load_meta(this->store(), key);
    ASSERT_FALSE(meta.ok());
    EXPECT_EQ(meta.error().code, ErrorCode::kIo);
  }
  // A key written by the actor alone (m/ and entries, no p/).
  WriteBatch legacy;
  store::testing::add_log(legacy, "legacy", store::testing::make_chain(kGenesisHash, 1, 3));
  ASSERT_TRUE(this->store().commit(legacy).ok());
  Result<std::optional<Meta>> meta = load_meta(this->store(), "legacy");
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(load_meta(this->store(), "none")->has_value());
  EXPECT_FALSE(load_meta(this->store(), "").ok());
}

TYPED_TEST(StoreLogTest, WritesThatDoNotHangTogetherAreRefused) {
  KeyModel k;
  ASSERT_TRUE(this->commit({{"k", k.write(kNoTruncate, {"a", "b", "c"}, 1)}}).ok());
  KeyModel scratch = k;
  Write gap = scratch.write(1, {"d", "e"}, 2);
  std::swap(gap.entries[0], gap.entries[1]);
  Write late = KeyModel(k).write(1, {"d"}, 2);
  late.truncate_after = 0;  // entries start at 2, not 1
  Write meta_off = KeyModel(k).write(kNoTruncate, {"d"}, 2);
  meta_off.meta.last_seq += 1;
  meta_off.meta.vouched += 1;
  Write bad_meta = KeyModel(k).write(kNoTruncate, {"d"}, 2);
  bad_meta.meta.commit = bad_meta.meta.vouched + 1;
  Write short_truncation = KeyModel(k).write(1, {}, 2);
  short_truncation.meta.last_seq = 2;
  for (Write* w : {&gap, &late, &meta_off, &bad_meta, &short_truncation}) {
    WriteApplier applier(this->store());
    WriteBatch batch;
    Status added = applier.add("k", *w, batch);
    ASSERT_FALSE(added.ok());
    EXPECT_EQ(added.error().code, ErrorCode::kInvalidArgument);
    EXPECT_TRUE(batch.empty());
  }
  EXPECT_EQ(differences(this->store(), "k", k), "");
}

// MemoryStore's crash hook: a batch written but not synced vanishes as a
// whole; the one before stays whole.
TEST(StoreLogCrash, ABatchIsAtomicAcrossACrash) {
  store::MemoryStore store;
  KeyModel k;
  KeyModel n;
  WriteApplier applier(store);
  WriteBatch first;
  ASSERT_TRUE(applier.add("k", k.write(kNoTruncate, {"a1", "a2", "a3", "a4"}, 1), first).ok());
  ASSERT_TRUE(applier.add("n", n.write(kNoTruncate, {"b1"}, 1), first).ok());
  ASSERT_TRUE(store.commit(first).ok());
  applier.clear();
  const KeyModel durable_k = k;
  const KeyModel durable_n = n;
  WriteBatch second;
  ASSERT_TRUE(applier.add("k", k.write(2, {"a4", "c4"}, 2, {2, 0, 2}, {2, 0, 2}), second).ok());
  ASSERT_TRUE(applier.add("n", n.write(kNoTruncate, {"b2"}, 1), second).ok());
  ASSERT_TRUE(store.write(second).ok());
  EXPECT_EQ(differences(store, "k", k), "");  // visible before the sync
  store.crash();
  EXPECT_EQ(differences(store, "k", durable_k), "");
  EXPECT_EQ(differences(store, "n", durable_n), "");
}

TEST(StoreLogFaults, AReadStopsAtAnEntryItCannotVerify) {
  store::MemoryStore store;
  KeyModel k;
  WriteApplier applier(store);
  WriteBatch batch;
  ASSERT_TRUE(applier.add("k", k.write(kNoTruncate, {"a", "b", "c", "d", "e"}, 1), batch).ok());
  ASSERT_TRUE(store.commit(batch).ok());
  StoreLog log(store);
  // Entry 3 replaced by a well-formed entry of another chain: not chained.
  store.raw_put(store::layout::log_key("k", 3), make_entries(kGenesisHash, 3, {"z"}, 9)[0].bytes());
  EXPECT_EQ(log.read("k", 1, 5, SIZE_MAX).size(), 2u);
  EXPECT_EQ(log.faults(), 1u);
  EXPECT_TRUE(log.read("k", 4, 5, SIZE_MAX).empty());  // 4 does not chain to the stored 3
  EXPECT_EQ(log.faults(), 2u);
  // Bytes that do not parse.
  store.raw_put(store::layout::log_key("k", 3), "garbage");
  EXPECT_EQ(log.read("k", 1, 5, SIZE_MAX).size(), 2u);
  EXPECT_FALSE(log.hash_at("k", 3).has_value());
  EXPECT_EQ(log.faults(), 4u);
  // A gap.
  store.raw_erase(store::layout::log_key("k", 3));
  EXPECT_EQ(log.read("k", 1, 5, SIZE_MAX).size(), 2u);
  EXPECT_EQ(log.faults(), 5u);
  // A truncation over the unreadable entry cannot find its command id: refused.
  store.raw_put(store::layout::log_key("k", 3), "garbage");
  WriteApplier again(store);
  WriteBatch cut;
  Status refused = again.add("k", KeyModel(k).write(1, {}, 1), cut);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kIo);
}

// --- five ReplicationNodes over MemoryStores, through the adapter ---

struct Peer {
  NodeId id = 0;
  store::MemoryStore store;
  StoreLog log{store};
  WriteApplier applier{store};
  std::unique_ptr<ReplicationNode> node;

  void start() {
    node = std::make_unique<ReplicationNode>(id, log, [this](std::string_view key) { return load_meta(store, key); });
  }
};

class Cluster {
 public:
  Cluster() {
    for (NodeId id = 1; id <= 5; ++id) {
      auto peer = std::make_unique<Peer>();
      peer->id = id;
      peer->start();
      peers_[id] = std::move(peer);
    }
  }

  Peer& peer(NodeId id) { return *peers_.at(id); }

  // Topology `epoch` with `writer` writing "k" over nodes 1..5.
  void set_writer(uint64_t epoch, NodeId writer) {
    epoch_ = epoch;
    writer_ = writer;
    for (auto& [id, p] : peers_) {
      configure(*p);
    }
    ASSERT_TRUE(peer(writer).node->activate({"k"}, true, now_, out_).ok());
    collect();
  }

  // A restart: the node forgets everything but its store.
  void restart(NodeId id) {
    peer(id).start();
    configure(peer(id));
    if (id == writer_) {
      ASSERT_TRUE(peer(id).node->activate({"k"}, true, now_, out_).ok());
      collect();
    }
  }

  // Advances time in 10 ms steps: ticks, one batch per node, deliveries.
  void run(int steps) {
    for (int i = 0; i < steps; ++i) {
      now_ += 10;
      for (auto& [id, p] : peers_) {
        p->node->tick(now_, out_);
        collect();
        std::vector<KeyWrite> writes = p->node->take_writes();
        if (!writes.empty()) {
          WriteBatch batch;
          for (KeyWrite& w : writes) {
            ASSERT_TRUE(p->applier.add(w.key, std::move(w.write), batch).ok());
          }
          ASSERT_TRUE(p->store.commit(batch).ok());
          p->applier.clear();
          p->node->durable(now_, out_);
          collect();
        }
      }
      std::deque<Envelope> in_flight;
      in_flight.swap(in_flight_);
      for (Envelope& m : in_flight) {
        if (isolated_.count(m.from) || isolated_.count(m.to)) {
          continue;  // lost
        }
        peer(m.to).node->receive(m, now_, out_);
        collect();
      }
    }
  }

  Result<uint64_t> propose(const std::vector<std::string>& ids) {
    const KeyReplica* r = peer(writer_).node->replica("k");
    QUORUM_ASSERT(r != nullptr && r->serving());
    Result<uint64_t> last =
        peer(writer_).node->propose("k", make_entries(r->head(), r->last_seq() + 1, ids, epoch_), now_, out_);
    collect();
    return last;
  }

  bool serving() const {
    const KeyReplica* r = peers_.at(writer_)->node->replica("k");
    return r != nullptr && r->serving();
  }
  uint64_t committed() const { return committed_; }
  std::set<NodeId> isolated_;

 private:
  void configure(Peer& p) {
    const uint64_t epoch = epoch_;
    const NodeId writer = writer_;
    p.node->set_topology(
        epoch, false,
        [epoch, writer](std::string_view) {
          return KeyConfig{epoch, writer, {1, 2, 3, 4, 5}, {}};
        },
        now_, out_);
    collect();
  }

  void collect() {
    for (Envelope& m : out_.messages) {
      in_flight_.push_back(std::move(m));
    }
    for (const KeyEvent& e : out_.events) {
      if (e.kind == KeyEvent::Kind::kCommitted) {
        committed_ = std::max(committed_, e.seq);
      }
    }
    out_.clear();
  }

  std::map<NodeId, std::unique_ptr<Peer>> peers_;
  std::deque<Envelope> in_flight_;
  NodeOutput out_;
  uint64_t now_ = 0;
  uint64_t epoch_ = 0;
  NodeId writer_ = 0;
  uint64_t committed_ = 0;
};

TEST(StoreLogReplication, FiveNodesReplicateChangeWriterAndTruncateADivergedReplica) {
  Cluster cluster;
  cluster.set_writer(1, 1);
  cluster.run(30);
  ASSERT_TRUE(cluster.serving());
  ASSERT_TRUE(cluster.propose({"a1", "a2", "a3"}).ok());
  cluster.run(30);
  EXPECT_EQ(cluster.committed(), 3u);
  // A follower restarts from its store alone (load_meta + StoreLog).
  cluster.restart(4);
  cluster.run(10);

  // Writer 1 appends two entries nobody else gets, then is cut off.
  cluster.isolated_ = {1};
  ASSERT_TRUE(cluster.propose({"lost4", "lost5"}).ok());
  cluster.run(10);
  EXPECT_EQ(cluster.peer(1).store.find_command("k", "lost4")->value().seq, 4u);

  // Writer 2 takes over under topology 2 without node 1, and commits its own tail.
  cluster.set_writer(2, 2);
  cluster.run(60);
  ASSERT_TRUE(cluster.serving());
  ASSERT_TRUE(cluster.propose({"b4", "lost5"}).ok());  // lost5 was retried here: a new entry at seq 5
  cluster.run(30);
  EXPECT_EQ(cluster.committed(), 5u);

  // Node 1 comes back: its leftovers are truncated and replaced.
  cluster.isolated_.clear();
  cluster.run(100);
  const std::vector<store::RawEntry> reference = *cluster.peer(2).store.read_log("k", 1, 100);
  ASSERT_EQ(reference.size(), 5u);
  for (NodeId id = 1; id <= 5; ++id) {
    store::EventStore& store = cluster.peer(id).store;
    SCOPED_TRACE("node " + std::to_string(id));
    EXPECT_EQ(*store.read_log("k", 1, 100), reference);
    EXPECT_FALSE(store.find_command("k", "lost4")->has_value());
    Result<std::optional<store::IdempotencyRecord>> retried = store.find_command("k", "lost5");
    ASSERT_TRUE(retried.ok()) << retried.error().message;
    ASSERT_TRUE(retried->has_value());
    EXPECT_EQ((*retried)->seq, 5u);
    EXPECT_EQ(store.find_command("k", "b4")->value().seq, 4u);
    Result<std::optional<Meta>> meta = load_meta(store, "k");
    ASSERT_TRUE(meta.ok());
    ASSERT_TRUE(meta->has_value());
    EXPECT_EQ((*meta)->last_seq, 5u);
    EXPECT_EQ((*meta)->accepted.topology, 2u);
    const KeyReplica* replica = cluster.peer(id).node->replica("k");
    if (replica != nullptr) {
      EXPECT_EQ(replica->durable_meta(), **meta);
    }
    EXPECT_TRUE(store::verify_actor_log(store, "k").ok());
    EXPECT_EQ(cluster.peer(id).log.faults(), 0u);
  }
}

}  // namespace
}  // namespace quorum::replication
