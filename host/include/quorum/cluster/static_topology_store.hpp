// StaticTopologyStore: the embedded topology store (DESIGN.md §6): a
// topology.json file plus a local FailureDetector. For one machine and for
// tests; production uses EtcdTopologyStore.
//
// Effective topology = the file's topology with live = file.live &&
// failure-detector-alive (heard_from() feeds the detector; this node is
// always alive; a node not heard yet is alive for one timeout after start).
//
// Epochs are per node and monotonic, not global: the effective epoch starts
// at the file's epoch and rises by one on every effective change; when a
// re-read file carries a higher epoch, the effective epoch jumps to it.
// Two nodes may therefore show different epochs for the same topology.
//
// The file is watched on the store's thread, so edits by `quorumctl
// topology ... --file` or by hand reach the node: with inotify on its
// directory (a write closed or a rename onto the file wakes the store at
// once; plus a re-check every kStaticRecheckInterval), or, when inotify is
// unavailable, off (use_inotify) or the path is a symlink, by polling every
// poll_interval. Either way the store compares inode, size and mtime, then
// the content. A file that does not parse or validate is logged and ignored
// (the previous topology stays). Mutations (add_node, ...) edit the file
// under an advisory lock (<file>.lock, flock) with epoch+1 and replace it
// atomically (write <file>.tmp.<pid>, fsync, rename); they return once the
// store has applied the new file.
//
// Idle cost: the store thread sleeps until the file changes, a mutation or
// stop() wakes it (an eventfd), the failure detector's next timeout runs out
// (FailureDetector::next_tick), or heard_from() revives a dead node; a node
// is declared dead when its timeout runs out, not at the next poll.
//
// Threads: one store thread (file watch, failure detection, callbacks). All
// members are thread-safe; on_change is set before start().
#pragma once

#include <quorum/cluster/failure_detector.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace quorum::cluster {

// With inotify, the file is also re-checked this often (a writer that
// never closes the file, a missed event).
inline constexpr std::chrono::milliseconds kStaticRecheckInterval{5000};

struct StaticTopologyStoreOptions {
  std::string path;  // topology.json
  std::string self;  // this node's name (always alive)
  std::chrono::milliseconds failure_timeout{3000};
  std::chrono::milliseconds poll_interval{200};  // file polling when it is not watched with inotify
  bool use_inotify = true;                       // false: always poll (tests; filesystems without inotify)
};

// Reads `path`, applies `edit`, raises the epoch by one, validates and
// replaces the file atomically, all under <path>.lock. Nothing changes on
// error. Used by StaticTopologyStore and `quorumctl topology --file`.
Result<Topology> edit_topology_file(const std::string& path, const TopologyEdit& edit);
// Writes `topology` to `path` atomically (temp file, fsync, rename).
Status write_topology_file(const std::string& path, const Topology& topology);

class StaticTopologyStore final : public TopologyStore {
 public:
  explicit StaticTopologyStore(StaticTopologyStoreOptions options);
  ~StaticTopologyStore() override;
  StaticTopologyStore(const StaticTopologyStore&) = delete;
  StaticTopologyStore& operator=(const StaticTopologyStore&) = delete;

  Status start() override;  // kIo / kInvalidArgument when the file cannot be read or is invalid
  void stop() override;
  std::shared_ptr<const Placement> current() const override;
  void on_change(std::function<void(std::shared_ptr<const Placement>)> callback) override;
  void heard_from(std::string_view node, Clock::time_point now) override;
  bool alive(std::string_view node) const override;  // the failure detector's verdict now
  Status add_node(std::string_view data_center, Node node) override;
  Status remove_node(std::string_view node_name) override;
  Status drain(std::string_view node_name) override;
  Status undrain(std::string_view node_name) override;

  // Files that failed to parse or validate since start (each is logged).
  uint64_t rejected_files() const;

 private:
  struct FileStamp {
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  void run();
  // Sets up inotify on the file's directory; false (polling) if it cannot.
  bool watch_file();
  // Under mutex_: wakes the store thread (eventfd).
  void wake();
  // Under mutex_, with no store thread running.
  void close_fds();
  // Reads the pending inotify events; true if one concerns the file (or
  // events were lost). Switches to polling if the directory went away.
  bool drain_file_events();
  // Under mutex_: re-reads the file if its stamp changed; returns true if the document changed.
  bool reload_locked(bool force);
  // Under mutex_: recomputes the effective placement; returns it if it changed.
  std::shared_ptr<const Placement> recompute_locked();
  Status mutate(const TopologyEdit& edit);

  const StaticTopologyStoreOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable applied_;
  int wake_fd_ = -1;     // eventfd: stop, mutations, revived nodes
  int inotify_fd_ = -1;  // -1: polling
  std::string file_name_;  // the file's name in its directory (inotify events carry it)
  FailureDetector detector_;
  Topology document_;
  FileStamp stamp_;
  std::string content_;
  std::shared_ptr<const Placement> current_;
  uint64_t epoch_ = 0;
  uint64_t rejected_files_ = 0;
  uint64_t reload_requests_ = 0;  // bumped by mutations
  uint64_t reloads_done_ = 0;     // the last request the store thread served
  bool stopping_ = false;
  std::function<void(std::shared_ptr<const Placement>)> callback_;
  std::thread thread_;
};

}  // namespace quorum::cluster
