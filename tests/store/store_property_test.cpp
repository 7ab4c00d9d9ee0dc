// Property tests of the store (rapidcheck; RC_PARAMS="seed=N" replays).
//  - Random appends, commits, unsynced writes, syncs, truncations and
//    crashes on MemoryStore: everything made durable survives a crash,
//    nothing that was not appears, and every chain verifies.
//  - LevelDbStore (which writes a batch sorted by key) ends every commit in
//    the state of applying the batch's operations one by one, in order
//    (MemoryStore): repeated keys, deletes after puts, truncations (of logs
//    and outboxes) before and after appends of the same actor.
//  - Any single-byte corruption of a stored entry is detected at its seq.
//  - The entry codec round-trips and its body is canonical msgpack.
#include <quorum/store/chain.hpp>
#include <quorum/store/entry.hpp>
#include <quorum/store/layout.hpp>
#include <quorum/store/leveldb_store.hpp>
#include <quorum/store/memory_store.hpp>
#include <quorum/store/recovery.hpp>

#include "store/sha256.hpp"
#include "store_test_support.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using namespace quorum::store;
using quorum::Result;
using quorum::Status;
using namespace quorum::store::testing;

using Model = std::map<std::string, std::vector<EncodedEntry>>;

// The store must hold exactly the model: same entries, meta at the head,
// recovery and full verification succeed.
void check_store_matches(const MemoryStore& store, const Model& model) {
  Result<std::vector<std::string>> actors = store.list_actors("", kMaxListActors);
  RC_ASSERT(actors.ok());
  std::vector<std::string> expected_actors;
  for (const auto& [actor, log] : model) {
    expected_actors.push_back(actor);
  }
  RC_ASSERT(*actors == expected_actors);
  for (const auto& [actor, log] : model) {
    Result<std::vector<RawEntry>> read = store.read_log(actor, 0, kMaxReadEntries);
    RC_ASSERT(read.ok());
    RC_ASSERT(read->size() == log.size());
    for (size_t i = 0; i < log.size(); ++i) {
      RC_ASSERT((*read)[i].seq == i + 1);
      RC_ASSERT((*read)[i].bytes == log[i].bytes());
    }
    Result<RecoveredActor> recovered = recover_actor(store, actor);
    RC_ASSERT(recovered.ok());
    RC_ASSERT(recovered->tail == log);
    RC_ASSERT(recovered->meta == meta_for(log));
    RC_ASSERT(verify_actor_log(store, actor).ok());
  }
}

RC_GTEST_PROP(StoreProperty, DurableWritesSurviveCrashesAndNothingElseAppears, ()) {
  MemoryStore store;
  Model durable;  // what must survive a crash
  Model visible;  // what reads must show
  const int steps = *rc::gen::inRange(1, 60);
  int unsynced = 0;
  for (int step = 0; step < steps; ++step) {
    const int kind = *rc::gen::inRange(0, 10);
    if (kind <= 5) {
      // A batch of appends (and sometimes a truncation first) for a few actors.
      WriteBatch batch;
      Model next = visible;
      const int actors = *rc::gen::inRange(1, 4);
      for (int a = 0; a < actors; ++a) {
        const std::string actor = "p/" + std::to_string(*rc::gen::inRange(0, 6));
        std::vector<EncodedEntry>& log = next[actor];
        if (!log.empty() && *rc::gen::inRange(0, 4) == 0) {
          const size_t keep = static_cast<size_t>(*rc::gen::inRange<size_t>(0, log.size() + 1));
          RC_ASSERT(batch.truncate_log_after(actor, keep).ok());
          log.erase(log.begin() + static_cast<long>(keep), log.end());
        }
        const size_t count = *rc::gen::inRange<size_t>(1, 6);
        const Hash head = log.empty() ? kGenesisHash : log.back().hash();
        std::vector<EncodedEntry> more =
            make_chain(head, log.size() + 1, count, static_cast<uint64_t>(step + 1), "s" + std::to_string(step));
        for (EncodedEntry& entry : more) {
          RC_ASSERT(batch.append(actor, entry).ok());
          log.push_back(std::move(entry));
        }
        RC_ASSERT(batch.put_meta(actor, meta_for(log)).ok());
      }
      if (kind <= 2) {
        RC_ASSERT(store.commit(batch).ok());
        visible = next;
        durable = next;  // a commit syncs every earlier write too
        unsynced = 0;
      } else {
        RC_ASSERT(store.write(batch).ok());
        visible = next;
        unsynced += 1;
      }
    } else if (kind <= 7) {
      store.sync();
      durable = visible;
      unsynced = 0;
    } else {
      store.crash();
      visible = durable;
      unsynced = 0;
    }
    RC_ASSERT(store.unsynced_writes() == static_cast<size_t>(unsynced));
    check_store_matches(store, visible);
  }
  store.crash();
  check_store_matches(store, durable);
}

// Everything a reader can see of the few keys the batches below touch.
struct Visible {
  std::vector<RawEntry> log;
  std::vector<OutboxRecord> outbox_a;
  std::vector<OutboxRecord> outbox_b;
  std::optional<ReplicaMeta> meta_a;
  std::optional<ReplicaMeta> meta_b;
  std::optional<std::string> replication_meta_a;
  std::optional<std::string> replication_meta_b;
  friend bool operator==(const Visible&, const Visible&) = default;
};

Visible read_visible(const EventStore& store) {
  Visible visible;
  visible.log = *store.read_log("l", 0, kMaxReadEntries);
  visible.outbox_a = *store.read_outbox("a", 0, 0, kMaxReadOutbox);
  visible.outbox_b = *store.read_outbox("b", 0, 0, kMaxReadOutbox);
  visible.meta_a = *store.read_meta("a");
  visible.meta_b = *store.read_meta("b");
  visible.replication_meta_a = *store.read_replication_meta("a");
  visible.replication_meta_b = *store.read_replication_meta("b");
  return visible;
}

RC_GTEST_PROP(StoreProperty, LevelDbCommitsEqualApplyingTheBatchInOrder, ()) {
  TempDir dir;
  LevelDbOptions options;
  options.sync = false;  // the order of writes is under test, not their durability
  Result<std::unique_ptr<LevelDbStore>> opened = LevelDbStore::open(dir.path().string(), options);
  RC_ASSERT(opened.ok());
  std::unique_ptr<LevelDbStore> leveldb = std::move(opened).value();
  MemoryStore reference;
  // Entries of two different chains for the same seqs: a later append of a
  // seq must replace an earlier one.
  const std::vector<EncodedEntry> first = make_chain(kGenesisHash, 1, 6, 1, "f");
  const std::vector<EncodedEntry> second = make_chain(kGenesisHash, 1, 6, 2, "s");
  const int commits = *rc::gen::inRange(1, 8);
  for (int commit = 0; commit < commits; ++commit) {
    WriteBatch batch;
    const int ops = *rc::gen::inRange(1, 40);
    for (int op = 0; op < ops; ++op) {
      const std::string actor = *rc::gen::element<std::string>("a", "b");
      const uint64_t seq = *rc::gen::inRange<uint64_t>(1, 4);
      const uint32_t index = *rc::gen::inRange<uint32_t>(0, 2);
      switch (*rc::gen::inRange(0, 8)) {
        case 0: RC_ASSERT(batch.put_outbox(actor, seq, index, *rc::gen::element<std::string>("x", "y", "z")).ok()); break;
        case 1: RC_ASSERT(batch.delete_outbox(actor, seq, index).ok()); break;
        case 2: {
          const uint64_t last = *rc::gen::inRange<uint64_t>(0, 100);
          RC_ASSERT(batch.put_meta(actor, ReplicaMeta{seq, last, last / 2, kGenesisHash, index}).ok());
          break;
        }
        case 3:
        case 4: {
          const std::vector<EncodedEntry>& chain = *rc::gen::inRange(0, 2) == 0 ? first : second;
          RC_ASSERT(batch.append("l", chain[*rc::gen::inRange<size_t>(0, chain.size())]).ok());
          break;
        }
        case 5: RC_ASSERT(batch.truncate_log_after("l", *rc::gen::inRange<uint64_t>(0, 7)).ok()); break;
        case 6: RC_ASSERT(batch.truncate_outbox_after(actor, *rc::gen::inRange<uint64_t>(0, 4)).ok()); break;
        default: RC_ASSERT(batch.put_replication_meta(actor, *rc::gen::element<std::string>("p", "q")).ok()); break;
      }
    }
    RC_ASSERT(reference.commit(batch).ok());
    RC_ASSERT(leveldb->commit(batch).ok());
    RC_ASSERT(read_visible(*leveldb) == read_visible(reference));
  }
  leveldb.reset();
  opened = LevelDbStore::open(dir.path().string(), options);
  RC_ASSERT(opened.ok());
  RC_ASSERT(read_visible(**opened) == read_visible(reference));
}

RC_GTEST_PROP(StoreProperty, AnySingleByteCorruptionOfAnEntryIsDetected, ()) {
  MemoryStore store;
  const size_t length = *rc::gen::inRange<size_t>(1, 25);
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, length);
  WriteBatch batch;
  add_log(batch, "victim", log);
  const bool with_snapshot = *rc::gen::arbitrary<bool>();
  const uint64_t snapshot_seq = with_snapshot ? *rc::gen::inRange<uint64_t>(1, length + 1) : 0;
  if (with_snapshot) {
    RC_ASSERT(batch.put_snapshot("victim", "tally", Snapshot{snapshot_seq, log[snapshot_seq - 1].hash(), "1", 1, "\xc0"})
                  .ok());
  }
  RC_ASSERT(store.commit(batch).ok());
  RC_ASSERT(recover_actor(store, "victim").ok());

  const uint64_t seq = *rc::gen::inRange<uint64_t>(1, length + 1);
  const std::string key = layout::log_key("victim", seq);
  std::string bytes = *store.raw_get(key);
  const size_t offset = *rc::gen::inRange<size_t>(0, bytes.size());
  const auto mask = *rc::gen::inRange<int>(1, 256);
  bytes[offset] = static_cast<char>(bytes[offset] ^ mask);
  store.raw_put(key, bytes);

  // Full verification from genesis always finds it, at that seq.
  LogVerification verification = verify_actor_log(store, "victim");
  RC_ASSERT(!verification.ok());
  RC_ASSERT(verification.fault->seq == seq);
  RC_ASSERT(verification.fault->actor == "victim");
  RC_ASSERT(verification.entries_verified == seq - 1);
  // Recovery verifies the tail after the oldest snapshot: it finds every
  // corruption there (entries the snapshot covers are verify_actor_log's job).
  RecoveryOutcome outcome = recover_actor_checked(store, "victim");
  if (seq > snapshot_seq) {
    RC_ASSERT(outcome.fault.has_value());
    RC_ASSERT(outcome.fault->seq == seq);
    RC_ASSERT(outcome.fault->actor == "victim");
  }
}

// The body is what msgpack-c packs, and parse(encode(x)) == x.
RC_GTEST_PROP(EntryProperty, RoundTripsAndMatchesMsgpackCxx,
              (int64_t time_ms, uint64_t seq_raw, uint64_t epoch, std::string id, std::string type)) {
  const uint64_t seq = seq_raw == 0 ? 1 : seq_raw;
  id.resize(std::min(id.size(), kMaxIdBytes));
  type.resize(std::min(type.size(), kMaxTypeBytes));
  if (type.empty()) {
    type = "t";
  }
  const std::string payload = msgpack_string(*rc::gen::arbitrary<std::string>());
  Result<EncodedEntry> encoded = encode_entry(kGenesisHash, EntryDraft{seq, epoch, time_ms, id, type, payload});
  RC_ASSERT(encoded.ok());
  Result<Entry> decoded = decode_entry(encoded->bytes());
  RC_ASSERT(decoded.ok());
  RC_ASSERT(decoded->seq == seq);
  RC_ASSERT(decoded->epoch == epoch);
  RC_ASSERT(decoded->time_ms == time_ms);
  RC_ASSERT(decoded->id == id);
  RC_ASSERT(decoded->type == type);
  RC_ASSERT(decoded->payload == payload);

  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack(time_ms);
  packer.pack(id);
  packer.pack(type);
  packer.pack_bin(static_cast<uint32_t>(payload.size()));
  packer.pack_bin_body(payload.data(), static_cast<uint32_t>(payload.size()));
  RC_ASSERT(std::string(encoded->body()) == std::string(buffer.data(), buffer.size()));
}

// Mutated entries either fail to parse or parse to fields whose canonical
// encoding is exactly the stored body: one value, one byte form.
RC_GTEST_PROP(EntryProperty, MutatedBytesAreRejectedOrCanonical, ()) {
  std::vector<EncodedEntry> log = make_chain(kGenesisHash, 1, 1);
  std::string bytes = log[0].bytes();
  const int mutations = *rc::gen::inRange(1, 4);
  for (int i = 0; i < mutations; ++i) {
    const int what = *rc::gen::inRange(0, 3);
    if (what == 0 && !bytes.empty()) {
      const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
      bytes[at] = static_cast<char>(*rc::gen::inRange(0, 256));
    } else if (what == 1 && !bytes.empty()) {
      bytes.resize(*rc::gen::inRange<size_t>(0, bytes.size()));
    } else {
      bytes.push_back(static_cast<char>(*rc::gen::inRange(0, 256)));
    }
  }
  Result<EntryView> view = parse_entry(bytes);
  if (view.ok()) {
    RC_ASSERT(encode_entry_body(view->time_ms, view->id, view->type, view->payload) == std::string(view->body));
  }
}

}  // namespace

namespace {

// SHA-NI and libsodium agree on every input, split into any updates.
RC_GTEST_PROP(Sha256Property, BothImplementationsAgree, (std::string data)) {
  const size_t repeat = *rc::gen::inRange<size_t>(1, 8);
  std::string input;
  for (size_t i = 0; i < repeat; ++i) {
    input += data;
  }
  quorum::store::detail::Sha256 fast(true);
  quorum::store::detail::Sha256 sodium(false);
  size_t at = 0;
  while (at < input.size()) {
    const size_t step = std::min(input.size() - at, *rc::gen::inRange<size_t>(1, 200));
    fast.update(std::string_view(input).substr(at, step));
    at += step;
  }
  sodium.update(input);
  RC_ASSERT(fast.finish() == sodium.finish());
}

TEST(Sha256, KnownAnswers) {
  for (bool fast : {true, false}) {
    quorum::store::detail::Sha256 empty(fast);
    EXPECT_EQ(to_hex(empty.finish()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    quorum::store::detail::Sha256 abc(fast);
    abc.update("abc");
    EXPECT_EQ(to_hex(abc.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    quorum::store::detail::Sha256 million(fast);
    const std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; ++i) {
      million.update(chunk);
    }
    EXPECT_EQ(to_hex(million.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
  std::printf("SHA extensions on this CPU: %s\n", quorum::store::detail::cpu_has_sha_extensions() ? "yes" : "no");
}

}  // namespace
