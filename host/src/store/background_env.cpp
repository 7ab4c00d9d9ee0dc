#include <quorum/host/assert.hpp>
#include <quorum/store/background_env.hpp>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace quorum::store {

BackgroundEnv::BackgroundEnv(int nice) : leveldb::EnvWrapper(leveldb::Env::Default()), nice_(nice) {
  QUORUM_ASSERT(nice >= 0 && nice <= 19);
  thread_ = std::thread([this] { run(); });
}

BackgroundEnv::~BackgroundEnv() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void BackgroundEnv::Schedule(void (*function)(void* arg), void* arg) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // LevelDB keeps at most one job scheduled per database, and schedules
    // none once the database is closed: a longer queue, or a job after the
    // destructor began, means a bug, not load.
    QUORUM_ASSERT(queue_.size() < kMaxQueued && !stopping_);
    queue_.emplace_back(function, arg);
  }
  wake_.notify_one();
}

bool BackgroundEnv::lowered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lowered_;
}

void BackgroundEnv::run() {
  // Per thread on Linux: PRIO_PROCESS with a thread id sets that thread only.
  const bool lowered = nice_ > 0 && setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                                                getpriority(PRIO_PROCESS, 0) + nice_) == 0;
  std::unique_lock<std::mutex> lock(mutex_);
  lowered_ = lowered;
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      return;  // stopping, nothing left to run
    }
    auto [function, arg] = queue_.front();
    queue_.pop_front();
    lock.unlock();
    function(arg);
    lock.lock();
  }
}

}  // namespace quorum::store
