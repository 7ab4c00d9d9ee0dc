// The event store's write and recovery figures (plain main).
//
//   store_recovery_bench [--entries N] [--actors N] [--batch N] [--payload BYTES]
//                        [--group-commits N] [--threads N] [--dir PATH] [--node-commands N]
//
// 1. Writes N entries (~200-byte payloads) over the actors, `batch` entries
//    per commit (each commit one LevelDB WriteBatch, sync=true: one fsync),
//    with every touched actor's meta in the same batch.
// 2. Closes, reopens, and recovers every actor (recover_actor: read meta,
//    snapshots and the tail, verify the hash chain to the head): entries
//    verified per second, on one thread and on --threads threads.
// 3. Raw group-commit rate: batches/s with sync=true for 1-entry and
//    `batch`-entry batches.
// 4. Node-like writes (--node-commands, 0 skips): what a node's shard commits
//    per accepted command (entry + idempotency record, and each touched
//    actor's meta once per commit), ~150-byte CVR payloads, `batch` commands
//    per commit, sync=true, into a fresh store. Prints node CPU per command:
//    the process's CPU including LevelDB's compaction thread, up to and
//    including closing the store (which waits for a running compaction).
// Defaults: 1,000,000 entries, 1,000 actors, 1,000 per batch. Shorter runs:
// --entries 100000; --entries 0 runs only phase 4. Figures and commands: docs/benchmarks.md.
#include <quorum/store/entry.hpp>
#include <quorum/store/leveldb_store.hpp>
#include <quorum/store/recovery.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace quorum::store;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds of this process (all threads): on a shared, loaded machine
// wall-clock figures undercount; entries per CPU-second show the code's cost.
double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

struct Options {
  uint64_t entries = 1'000'000;
  uint64_t actors = 1'000;
  uint64_t batch = 1'000;
  uint64_t payload_bytes = 200;
  uint64_t group_commits = 200;
  uint64_t threads = 2;
  uint64_t node_commands = 400'000;
  std::string dir;
};

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || i + 1 >= argc) {
      return false;
    }
    const char* value = argv[++i];
    if (flag == "--entries") {
      options.entries = std::strtoull(value, nullptr, 10);
    } else if (flag == "--actors") {
      options.actors = std::strtoull(value, nullptr, 10);
    } else if (flag == "--batch") {
      options.batch = std::strtoull(value, nullptr, 10);
    } else if (flag == "--payload") {
      options.payload_bytes = std::strtoull(value, nullptr, 10);
    } else if (flag == "--group-commits") {
      options.group_commits = std::strtoull(value, nullptr, 10);
    } else if (flag == "--threads") {
      options.threads = std::strtoull(value, nullptr, 10);
    } else if (flag == "--node-commands") {
      options.node_commands = std::strtoull(value, nullptr, 10);
    } else if (flag == "--dir") {
      options.dir = value;
    } else {
      return false;
    }
  }
  return (options.entries > 0 || options.node_commands > 0) && options.actors > 0 && options.batch > 0 &&
         options.threads > 0 &&
         options.payload_bytes >= 8 && options.payload_bytes < 60'000;
}

std::string actor_key(uint64_t index) {
  char key[64];
  std::snprintf(key, sizeof(key), "e/2026-11-03/precinct/TN/%06llu", static_cast<unsigned long long>(index));
  return key;
}

// One msgpack str of `bytes` total bytes, random letters (not compressible to nothing).
std::string payload(std::mt19937_64& random, uint64_t bytes) {
  const uint64_t text = bytes - 3;
  std::string out;
  out.push_back(static_cast<char>(0xda));
  out.push_back(static_cast<char>(text >> 8));
  out.push_back(static_cast<char>(text & 0xff));
  for (uint64_t i = 0; i < text; ++i) {
    out.push_back(static_cast<char>('a' + random() % 26));
  }
  return out;
}

struct ActorState {
  uint64_t last_seq = 0;
  Hash head = kGenesisHash;
};

std::unique_ptr<LevelDbStore> open_or_die(const std::string& dir) {
  quorum::Result<std::unique_ptr<LevelDbStore>> store = LevelDbStore::open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), store.error().message.c_str());
    std::exit(1);
  }
  return std::move(store).value();
}

// Recovers actors [first, end) stepping by `step`; returns entries verified.
uint64_t recover_range(const EventStore& store, uint64_t first, uint64_t end, uint64_t step,
                       std::atomic<int>& failures) {
  uint64_t verified = 0;
  for (uint64_t actor = first; actor < end; actor += step) {
    quorum::Result<RecoveredActor> recovered = recover_actor(store, actor_key(actor));
    if (!recovered.ok()) {
      std::fprintf(stderr, "recovery failed: %s\n", recovered.error().message.c_str());
      failures.fetch_add(1);
      continue;
    }
    verified += recovered->tail.size();
  }
  return verified;
}

void recover_all(const EventStore& store, const Options& options, uint64_t threads, const char* label) {
  std::atomic<int> failures{0};
  std::vector<uint64_t> verified(threads, 0);
  const Clock::time_point start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  std::vector<std::thread> workers;
  for (uint64_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] { verified[t] = recover_range(store, t, options.actors, threads, failures); });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  const double elapsed = seconds_since(start);
  const double cpu = process_cpu_seconds() - cpu_start;
  uint64_t total = 0;
  for (uint64_t count : verified) {
    total += count;
  }
  std::printf("recover  %-18s %llu actors, %llu entries verified in %.3f s: %.0f entries/s, %.0f actors/s "
              "(%.3f CPU s: %.0f entries per CPU-second)%s\n",
              label, static_cast<unsigned long long>(options.actors), static_cast<unsigned long long>(total), elapsed,
              static_cast<double>(total) / elapsed, static_cast<double>(options.actors) / elapsed, cpu,
              static_cast<double>(total) / cpu, failures.load() != 0 ? "  FAILURES" : "");
}

// A ~150-byte msgpack CVR ballot like loadgen_bench's (one of four choices).
std::string cvr_payload(uint64_t n) {
  static const char* const choices[] = {"alice", "bob", "carol", "dave"};
  std::string out;
  auto str = [&out](std::string_view text) {
    out.push_back(static_cast<char>(0xa0 | text.size()));
    out.append(text);
  };
  out.push_back(static_cast<char>(0x82));
  str("CVRSnapshot");
  out.push_back(static_cast<char>(0x91));
  out.push_back(static_cast<char>(0x82));
  str("@id");
  str("s");
  str("CVRContest");
  out.push_back(static_cast<char>(0x91));
  out.push_back(static_cast<char>(0x82));
  str("ContestId");
  str("mayor");
  str("CVRContestSelection");
  out.push_back(static_cast<char>(0x91));
  out.push_back(static_cast<char>(0x82));
  str("ContestSelectionId");
  str(choices[n % 4]);
  str("SelectionPosition");
  out.push_back(static_cast<char>(0x91));
  out.push_back(static_cast<char>(0x82));
  str("HasIndication");
  str("yes");
  str("NumberVotes");
  out.push_back(static_cast<char>(0x01));
  str("CurrentSnapshotId");
  str("s");
  return out;
}

uint64_t directory_bytes(const std::filesystem::path& dir) {
  uint64_t bytes = 0;
  std::error_code ignored;
  for (const auto& file : std::filesystem::recursive_directory_iterator(dir, ignored)) {
    if (file.is_regular_file(ignored)) {
      bytes += file.file_size(ignored);
    }
  }
  return bytes;
}

// Phase 4: see the file comment. Returns false on a store error.
bool node_like_writes(const std::filesystem::path& dir, const Options& options) {
  std::vector<std::string> keys;
  for (uint64_t i = 0; i < options.actors; ++i) {
    keys.push_back("lg/precinct/" + std::to_string(i));
  }
  std::vector<ActorState> state(options.actors);
  const double cpu_start = process_cpu_seconds();
  const Clock::time_point start = Clock::now();
  uint64_t written = 0;
  uint64_t bytes = 0;
  uint64_t next_actor = 0;
  {
    std::unique_ptr<LevelDbStore> store = open_or_die(dir.string());
    WriteBatch batch;
    std::vector<uint64_t> touched;
    std::vector<bool> in_batch(options.actors, false);
    while (written < options.node_commands) {
      batch.clear();
      touched.clear();
      const uint64_t count = std::min(options.batch, options.node_commands - written);
      for (uint64_t i = 0; i < count; ++i, ++written) {
        const uint64_t index = next_actor;
        next_actor = (next_actor + 1) % options.actors;
        ActorState& actor = state[index];
        char id[48];
        std::snprintf(id, sizeof(id), "5f3a9c0e12b4d678-%llu", static_cast<unsigned long long>(written));
        quorum::Result<EncodedEntry> entry = encode_entry(
            actor.head, EntryDraft{actor.last_seq + 1, 1, static_cast<int64_t>(1'730'000'000'000 + written), id, "cvr",
                                   cvr_payload(written)});
        if (!entry.ok()) {
          return false;
        }
        actor.last_seq += 1;
        actor.head = entry->hash();
        bytes += entry->bytes().size();
        if (!batch.append(keys[index], std::move(entry).value()).ok() ||
            !batch.put_idempotency(keys[index], id, IdempotencyRecord{actor.last_seq, actor.head}).ok()) {
          return false;
        }
        if (!in_batch[index]) {
          in_batch[index] = true;
          touched.push_back(index);
        }
      }
      for (uint64_t index : touched) {
        in_batch[index] = false;
        const ActorState& actor = state[index];
        if (!batch.put_meta(keys[index], ReplicaMeta{1, actor.last_seq, actor.last_seq, actor.head, 1}).ok()) {
          return false;
        }
      }
      quorum::Status committed = store->commit(batch);
      if (!committed.ok()) {
        std::fprintf(stderr, "commit: %s\n", committed.error().message.c_str());
        return false;
      }
    }
  }
  const double elapsed = seconds_since(start);
  const double cpu = process_cpu_seconds() - cpu_start;
  std::printf("node     %llu commands (%.1f MB of entries), %llu per commit (entry + idempotency, meta per actor; "
              "sync=true): %.0f commands/s, %.2f us CPU per command (incl. compaction), %.1f MB on disk\n",
              static_cast<unsigned long long>(written), static_cast<double>(bytes) / 1e6,
              static_cast<unsigned long long>(options.batch), static_cast<double>(written) / elapsed,
              1e6 * cpu / static_cast<double>(written), static_cast<double>(directory_bytes(dir)) / 1e6);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: %s [--entries N] [--actors N] [--batch N] [--payload BYTES] [--group-commits N] "
                 "[--threads N] [--dir PATH] [--node-commands N]\n",
                 argv[0]);
    return 2;
  }
  std::filesystem::path dir = options.dir;
  const bool temporary = options.dir.empty();
  if (temporary) {
    std::string pattern = (std::filesystem::temp_directory_path() / "quorum-store-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = pattern;
  }
  std::printf("store_recovery_bench: %llu entries, %llu actors, %llu entries per commit, %llu-byte payloads, dir %s\n",
              static_cast<unsigned long long>(options.entries), static_cast<unsigned long long>(options.actors),
              static_cast<unsigned long long>(options.batch), static_cast<unsigned long long>(options.payload_bytes),
              dir.c_str());

  if (options.entries > 0) {  // phases 1-3
    // 1. Write.
    std::mt19937_64 random(42);
    std::vector<ActorState> actors(options.actors);
    {
      std::unique_ptr<LevelDbStore> store = open_or_die((dir / "db").string());
      uint64_t written = 0;
      uint64_t commits = 0;
      uint64_t bytes = 0;
      uint64_t next_actor = 0;
      double encode_seconds = 0;
      const Clock::time_point start = Clock::now();
      while (written < options.entries) {
        WriteBatch batch;
        std::vector<uint64_t> touched;
        const Clock::time_point encode_start = Clock::now();
        const uint64_t in_batch = std::min(options.batch, options.entries - written);
        for (uint64_t i = 0; i < in_batch; ++i) {
          const uint64_t index = next_actor;
          next_actor = (next_actor + 1) % options.actors;
          ActorState& actor = actors[index];
          EntryDraft draft{actor.last_seq + 1, 1, static_cast<int64_t>(1'730'000'000'000 + written), "ballot-" +
                           std::to_string(written), "cast", payload(random, options.payload_bytes)};
          quorum::Result<EncodedEntry> entry = encode_entry(actor.head, draft);
          if (!entry.ok()) {
            std::fprintf(stderr, "encode: %s\n", entry.error().message.c_str());
            return 1;
          }
          actor.last_seq += 1;
          actor.head = entry->hash();
          bytes += entry->bytes().size();
          if (!batch.append(actor_key(index), std::move(entry).value()).ok()) {
            return 1;
          }
          touched.push_back(index);
        }
        for (uint64_t index : touched) {
          const ActorState& actor = actors[index];
          if (!batch.put_meta(actor_key(index), ReplicaMeta{1, actor.last_seq, actor.last_seq, actor.head, 1}).ok()) {
            return 1;
          }
        }
        encode_seconds += seconds_since(encode_start);
        quorum::Status committed = store->commit(batch);
        if (!committed.ok()) {
          std::fprintf(stderr, "commit: %s\n", committed.error().message.c_str());
          return 1;
        }
        written += in_batch;
        commits += 1;
      }
      const double elapsed = seconds_since(start);
      std::printf("write    %llu entries (%.1f MB of entries) in %llu commits, %.3f s (%.3f s building batches): "
                  "%.0f commits/s, %.0f entries/s\n",
                  static_cast<unsigned long long>(written), static_cast<double>(bytes) / 1e6,
                  static_cast<unsigned long long>(commits), elapsed, encode_seconds,
                  static_cast<double>(commits) / elapsed, static_cast<double>(written) / elapsed);
    }

    // 2. Reopen and recover.
    {
      const Clock::time_point open_start = Clock::now();
      std::unique_ptr<LevelDbStore> store = open_or_die((dir / "db").string());
      std::printf("reopen   %.3f s\n", seconds_since(open_start));
      const Clock::time_point compact_start = Clock::now();
      store->compact();  // measure recovery without compaction running beside it
      std::printf("compact  %.3f s\n", seconds_since(compact_start));
      recover_all(*store, options, 1, "(1 thread, cold)");
      recover_all(*store, options, 1, "(1 thread)");
      if (options.threads > 1) {
        recover_all(*store, options, options.threads,
                    ("(" + std::to_string(options.threads) + " threads)").c_str());
      }
      const Clock::time_point verify_start = Clock::now();
      const double verify_cpu_start = process_cpu_seconds();
      uint64_t verified = 0;
      for (uint64_t actor = 0; actor < options.actors; ++actor) {
        LogVerification verification = verify_actor_log(*store, actor_key(actor));
        if (!verification.ok()) {
          std::fprintf(stderr, "verify failed for %s\n", actor_key(actor).c_str());
        }
        verified += verification.entries_verified;
      }
      const double elapsed = seconds_since(verify_start);
      const double cpu = process_cpu_seconds() - verify_cpu_start;
      std::printf("verify   full logs (1 thread)   %llu entries in %.3f s: %.0f entries/s "
                  "(%.0f entries per CPU-second)\n",
                  static_cast<unsigned long long>(verified), elapsed, static_cast<double>(verified) / elapsed,
                  static_cast<double>(verified) / cpu);
    }

    // 3. Raw group-commit rate (sync = true).
    {
      std::unique_ptr<LevelDbStore> store = open_or_die((dir / "group").string());
      for (uint64_t per_batch : {uint64_t{1}, options.batch}) {
        std::vector<ActorState> state(options.actors);
        uint64_t next_actor = 0;
        const Clock::time_point start = Clock::now();
        for (uint64_t commit = 0; commit < options.group_commits; ++commit) {
          WriteBatch batch;
          for (uint64_t i = 0; i < per_batch; ++i) {
            const uint64_t index = next_actor;
            next_actor = (next_actor + 1) % options.actors;
            ActorState& actor = state[index];
            quorum::Result<EncodedEntry> entry = encode_entry(
                actor.head, EntryDraft{actor.last_seq + 1, 1, 0, "", "cast", payload(random, options.payload_bytes)});
            actor.last_seq += 1;
            actor.head = entry->hash();
            (void)batch.append("g/" + std::to_string(per_batch) + "/" + std::to_string(index),
                               std::move(entry).value());
          }
          if (!store->commit(batch).ok()) {
            return 1;
          }
        }
        const double elapsed = seconds_since(start);
        std::printf("group    %llu commits of %llu entries (sync=true): %.0f batches/s, %.0f entries/s, "
                    "%.2f ms/commit\n",
                    static_cast<unsigned long long>(options.group_commits), static_cast<unsigned long long>(per_batch),
                    static_cast<double>(options.group_commits) / elapsed,
                    static_cast<double>(options.group_commits * per_batch) / elapsed,
                    elapsed * 1e3 / static_cast<double>(options.group_commits));
      }
    }
  }
  // 4. Node-like writes.
  if (options.node_commands > 0 && !node_like_writes(dir / "node", options)) {
    return 1;
  }
  if (temporary) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return 0;
}
