// BackgroundEnv: the LevelDB environment a node's store runs with. It is
// LevelDB's default environment except for one thing: the background work
// (memtable flushes and compactions) runs on a thread of its own at a lower
// CPU priority (a higher nice value).
//
// Why: on a small machine a compaction takes a whole core for hundreds of
// milliseconds. At the default priority it competes as an equal with the
// threads that answer clients (of this process and of the other nodes on
// the machine); foreground threads should win the CPU, and compactions use
// what is left over. LevelDB protects itself if they fall too far behind:
// it slows writes down when too many level-0 files pile up.
//
// LevelDB schedules at most one background job per database at a time, so
// the queue holds at most a few jobs; it is bounded all the same.
#pragma once

#include <leveldb/env.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace quorum::store {

class BackgroundEnv final : public leveldb::EnvWrapper {
 public:
  // `nice` is added to the background thread's nice value (0..19; 0 runs it
  // at the process's own priority). Raising a nice value needs no privilege.
  explicit BackgroundEnv(int nice);
  // Runs the jobs still queued, then joins the thread. The databases that
  // use this environment must be closed first (LevelDB waits for their
  // running job when it closes).
  ~BackgroundEnv() override;
  BackgroundEnv(const BackgroundEnv&) = delete;
  BackgroundEnv& operator=(const BackgroundEnv&) = delete;

  // Queues function(arg) for the background thread (LevelDB's contract: run
  // once, on some background thread).
  void Schedule(void (*function)(void* arg), void* arg) override;

  // Whether the background thread runs at the lowered priority (false
  // before the thread has started or when the kernel refused it).
  bool lowered() const;

  static constexpr size_t kMaxQueued = 64;

 private:
  void run();

  const int nice_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<void (*)(void*), void*>> queue_;
  bool stopping_ = false;
  bool lowered_ = false;
  std::thread thread_;
};

}  // namespace quorum::store
