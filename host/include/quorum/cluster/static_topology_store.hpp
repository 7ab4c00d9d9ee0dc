// StaticTopologyStore: the embedded topology store (DESIGN.md §5, §6): a
// topology.json file plus a local FailureDetector per node, and the
// transition record every node using that file shares. For one machine and
// for tests; production uses EtcdTopologyStore.
//
// One sequence for all nodes of the file: the record <file>.state
// (StoredTopologyState, docs/formats.md §6.3) holds the epoch,
// the document the target was built from, the nodes taken for dead, while
// joint the last final topology, and the caught-up reports. Every node reads
// and writes it only under the file's advisory lock (<file>.lock, flock, the
// lock quorumctl's edits take too) and replaces it atomically (temp file,
// fsync, rename), so all nodes see one sequence. Each node's store thread
// runs next_stored_topology_state on it whenever topology.json, the record
// or its own detector changes, and writes the result if any: the first node
// to notice a change publishes it, the others find it published.
//
// Liveness: the record's `down` set. A detector verdict is an edit: when
// this node's detector flips X to dead, the store writes X down if the
// record still has X up, and the reverse when X comes back (edge-triggered:
// a node whose detector still holds X dead does not fight a node that saw X
// again). A node always counts itself alive, so a restarted node that finds
// itself down writes itself up. alive() is this node's detector's verdict.
//
// Effective topology = the record's target: the document with live lowered
// for drained and `down` nodes, at the record's epoch. With
// joint_transitions (off by default: its users do not report yet), a change
// is published joint with the last final topology (state().previous) and
// becomes final once every live node of the target called
// report_caught_up(); an operator's edit waits meanwhile, a liveness change
// is folded in. Off, every change is written final at once. All nodes of a
// file must use the same setting.
//
// The files are watched on the store's thread, so edits by `quorumctl
// topology ... --file` or by hand reach the node: with inotify on their
// directory (a write closed or a rename onto either file wakes the store at
// once; plus a re-check every kStaticRecheckInterval), or, when inotify is
// unavailable, off (use_inotify) or the path is a symlink, by polling every
// poll_interval. Either way the store compares inode, size and mtime, then
// the content. A topology.json that does not parse or validate is logged
// and ignored (the previous topology stays), and so is a record that does
// not parse (the store never overwrites it: an operator fixes or removes
// it; start() fails on it naming the file). Mutations (add_node, ...) edit
// the file under the lock with epoch+1, replace it atomically (write
// <file>.tmp.<pid>, fsync, rename) and step the record under the same lock
// (one epoch per edit even when edits race; refused, changing nothing, while
// the record does not parse); they return once the store has applied the
// new state (while a transition is joint: the edit waits in the file).
// Edits by quorumctl change only the file; the first node to see it steps
// the record.
//
// Idle cost: the store thread sleeps until a file changes, a mutation,
// report or stop() wakes it (an eventfd), the failure detector's next
// timeout runs out (FailureDetector::next_tick), or heard_from() revives a
// dead node; a node is declared dead when its timeout runs out, not at the
// next poll.
//
// Threads: one store thread (file watch, failure detection, callbacks). All
// members are thread-safe; on_change is set before start().
#pragma once

#include <quorum/cluster/failure_detector.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <quorum/cluster/topology_state.hpp>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
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
  bool joint_transitions = false;                // see the header; the same for every node of the file
};

// The shared record of a topology file: <path>.state.
std::string topology_state_path(const std::string& topology_path);

// Reads `path`, applies `edit`, raises the epoch by one, validates and
// replaces the file atomically, all under <path>.lock. Nothing changes on
// error. Used by StaticTopologyStore and `quorumctl topology --file`.
Result<Topology> edit_topology_file(const std::string& path, const TopologyEdit& edit);
// Writes `topology` to `path` atomically (temp file, fsync, rename).
Status write_topology_file(const std::string& path, const Topology& topology);
// Reads the shared record of `topology_path` under its lock: nullopt if
// there is none yet; kInvalidArgument naming the file if it does not parse.
Result<std::optional<StoredTopologyState>> read_topology_state(const std::string& topology_path);

class StaticTopologyStore final : public TopologyStore {
 public:
  explicit StaticTopologyStore(StaticTopologyStoreOptions options);
  ~StaticTopologyStore() override;
  StaticTopologyStore(const StaticTopologyStore&) = delete;
  StaticTopologyStore& operator=(const StaticTopologyStore&) = delete;

  Status start() override;  // kIo / kInvalidArgument when the file cannot be read or is invalid
  void stop() override;
  std::shared_ptr<const Placement> current() const override;
  TopologyView state() const override;
  void on_change(std::function<void(std::shared_ptr<const Placement>)> callback) override;
  // Adds `node` to the record's reports if `epoch` is its pending joint
  // epoch, finalizing when it completes them; returns once stored.
  Status report_caught_up(std::string_view node, uint64_t epoch) override;
  void heard_from(std::string_view node, Clock::time_point now) override;
  bool alive(std::string_view node) const override;  // the failure detector's verdict now
  Status add_node(std::string_view data_center, Node node) override;
  Status remove_node(std::string_view node_name) override;
  Status drain(std::string_view node_name) override;
  Status undrain(std::string_view node_name) override;

  // Files that failed to parse or validate since start (each is logged).
  uint64_t rejected_files() const;
  // Records (<file>.state) that failed to parse since start (each is logged once).
  uint64_t rejected_states() const;

 private:
  struct FileStamp {
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  struct Report {
    std::string node;
    uint64_t epoch = 0;
  };
  // What one sync read (and maybe wrote) under the file lock.
  struct Synced {
    Topology document;
    StoredTopologyState record;
  };
  void run();
  // Sets up inotify on the files' directory; false (polling) if it cannot.
  bool watch_file();
  // Under mutex_: wakes the store thread (eventfd).
  void wake();
  // Under mutex_, with no store thread running.
  void close_fds();
  // Reads the pending inotify events; true if one concerns either file (or
  // events were lost). Switches to polling if the directory went away.
  bool drain_file_events();
  // Under mutex_: true if either file's stamp changed since the last sync.
  bool files_changed_locked();
  // Which file a failed sync refused.
  enum class Refused { kNone, kDocument, kRecord };
  // Without mutex_ (no member but the const options is touched): under the
  // file lock, reads topology.json and the record, applies `edit` to the
  // document (epoch + 1, written first), `report` and the detector
  // verdicts, steps the record and writes it if it changed. `verdicts` is a
  // copy taken under mutex_. A record written anew (none there) gets at
  // least `min_epoch`. Nothing is written when the record does not parse.
  Result<Synced> sync_files(const std::map<std::string, bool, std::less<>>& verdicts,
                            const std::optional<Report>& report, const TopologyEdit* edit, uint64_t min_epoch,
                            Refused* refused) const;
  // Under mutex_: one sync (mutex_ released around the file I/O); returns the
  // view to announce if the published state changed.
  std::optional<TopologyView> sync_locked(std::unique_lock<std::mutex>& lock);
  // Under mutex_: adopts a synced record; returns the view if it changed.
  std::optional<TopologyView> publish_locked(Synced synced);
  Status mutate(const TopologyEdit& edit);
  // Wakes the store thread for a forced sync and waits until it ran.
  void request_sync(std::unique_lock<std::mutex>& lock);

  const StaticTopologyStoreOptions options_;
  const std::string state_path_;
  mutable std::mutex mutex_;
  std::condition_variable applied_;
  int wake_fd_ = -1;       // eventfd: stop, mutations, reports, revived nodes
  int inotify_fd_ = -1;    // -1: polling
  std::string file_name_;  // the files' names in their directory (inotify events carry them)
  std::string state_name_;
  FailureDetector detector_;
  // This node's detector verdicts not yet in the record (true: alive); at most one per node of the document.
  std::map<std::string, bool, std::less<>> verdicts_;
  Topology document_;
  std::optional<StoredTopologyState> record_;
  FileStamp stamp_;
  FileStamp state_stamp_;
  std::string last_error_;  // the last sync error (logged and counted once)
  TopologyView view_;
  uint64_t rejected_files_ = 0;
  uint64_t rejected_states_ = 0;
  uint64_t reload_requests_ = 0;  // bumped by mutations and reports
  uint64_t reloads_done_ = 0;     // the last request the store thread served
  bool stopping_ = false;
  std::function<void(std::shared_ptr<const Placement>)> callback_;
  std::thread thread_;
};

}  // namespace quorum::cluster
