// ReplicationNode: one node's replicas of many keys. Group commit (one batch
// for all keys' writes), routing, the bound on replicas, passivation of idle
// followers, refused keys, and the caught-up report of a joint topology.
#include <quorum/replication/replication_node.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace quorum::replication {
namespace {

class EmptyLog final : public LogReader {
 public:
  std::vector<store::EncodedEntry> read(std::string_view, uint64_t, uint64_t, size_t) const override { return {}; }
  std::optional<store::Hash> hash_at(std::string_view, uint64_t) const override { return std::nullopt; }
};

MetaLoader no_meta() {
  return [](std::string_view) -> Result<std::optional<Meta>> { return std::optional<Meta>(); };
}

// Node 1 writes every key; the others follow.
KeyConfig config_of_key(std::string_view, uint64_t topology, bool joint) {
  KeyConfig c;
  c.topology = topology;
  c.writer = 1;
  c.current = {1, 2, 3, 4, 5};
  if (joint) {
    c.previous = {1, 2, 3, 6, 7};
  }
  return c;
}

TEST(ReplicationNode, WritesOfManyKeysGoToDiskAsOneBatch) {
  EmptyLog log;
  ReplicationNode node(2, log, no_meta());
  NodeOutput out;
  node.set_topology(1, false, [](std::string_view k) { return config_of_key(k, 1, false); }, 0, out);
  for (const char* key : {"a", "b", "c"}) {
    node.receive(Envelope{1, 2, key, Prepare{Ballot{1, 0, 1}}}, 0, out);
  }
  EXPECT_TRUE(out.messages.empty());  // promises wait for the disk
  const std::vector<KeyWrite> batch = node.take_writes();
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_TRUE(node.take_writes().empty());
  node.durable(1, out);
  ASSERT_EQ(out.messages.size(), 3u);  // one promise per key, all after the one sync
  for (const Envelope& m : out.messages) {
    EXPECT_TRUE(std::get<Promise>(m.body).granted);
    EXPECT_EQ(m.to, 1u);
  }
}

TEST(ReplicationNode, MessagesForAnotherNodeOrARefusedKeyChangeNothing) {
  EmptyLog log;
  ReplicationNode node(2, log, no_meta());
  NodeOutput out;
  node.receive(Envelope{1, 3, "a", Prepare{Ballot{1, 0, 1}}}, 0, out);
  EXPECT_EQ(node.replicas(), 0u);
  node.refuse_key("bad");
  node.receive(Envelope{1, 2, "bad", Prepare{Ballot{1, 0, 1}}}, 0, out);
  EXPECT_EQ(node.replicas(), 0u);
  EXPECT_TRUE(node.take_writes().empty());
  EXPECT_TRUE(out.messages.empty());
}

TEST(ReplicationNode, ReplicasAreBoundedAndIdleFollowersPassivate) {
  EmptyLog log;
  ReplicationNodeOptions options;
  options.max_replicas = 2;
  options.idle_ms = 1000;
  ReplicationNode node(2, log, no_meta(), options);
  NodeOutput out;
  for (const char* key : {"a", "b", "c"}) {
    node.receive(Envelope{1, 2, key, Prepare{Ballot{1, 0, 1}}}, 0, out);
  }
  EXPECT_EQ(node.replicas(), 2u);  // "c" refused: the sender retries later
  (void)node.take_writes();
  node.tick(500, out);
  EXPECT_EQ(node.replicas(), 2u);  // writes pending: not idle
  node.durable(600, out);
  node.tick(900, out);
  EXPECT_EQ(node.replicas(), 2u);  // idle for 900 ms only
  node.tick(1100, out);
  EXPECT_EQ(node.replicas(), 0u);  // idle past 1000 ms, all durable: dropped (their state is on disk)
  node.receive(Envelope{1, 2, "c", Prepare{Ballot{1, 0, 1}}}, 1200, out);
  EXPECT_EQ(node.replicas(), 1u);
}

TEST(ReplicationNode, ReportsCaughtUpOnlyWhenEveryKeyItWritesRecoveredUnderTheJointTopology) {
  EmptyLog log;
  ReplicationNode writer(1, log, no_meta());
  NodeOutput out;
  writer.set_topology(2, true, [](std::string_view k) { return config_of_key(k, 2, true); }, 0, out);
  ASSERT_TRUE(writer.activate({"a", "b"}, false, 0, out).ok());
  EXPECT_FALSE(out.caught_up);
  (void)writer.take_writes();
  writer.durable(1, out);  // own promises durable: Prepares go out
  // Every follower (both sets) promises, for both keys.
  std::vector<Envelope> prepares;
  for (const Envelope& m : out.messages) {
    if (std::holds_alternative<Prepare>(m.body)) {
      prepares.push_back(m);
    }
  }
  ASSERT_EQ(prepares.size(), 12u);  // 2 keys x 6 other members of the two sets
  out.clear();
  for (const Envelope& p : prepares) {
    writer.receive(Envelope{p.to, 1, p.key, Promise{std::get<Prepare>(p.body).ballot, true, std::get<Prepare>(p.body).ballot,
                                                     Ballot{}, 0, store::kGenesisHash, 0}},
                   2, out);
  }
  (void)writer.take_writes();
  writer.durable(3, out);
  // Empty logs: serving at once, under a joint-prepared ballot; but the
  // embedding has not said it named every key yet.
  EXPECT_EQ(writer.writing(), 2u);
  EXPECT_FALSE(out.caught_up);
  ASSERT_TRUE(writer.activate({}, true, 4, out).ok());
  ASSERT_TRUE(out.caught_up);
  EXPECT_EQ(*out.caught_up, 2u);
}

}  // namespace
}  // namespace quorum::replication
