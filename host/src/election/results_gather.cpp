// gather_results(): the reads behind GET /v1/results. See results_gather.hpp.
#include <quorum/election/keys.hpp>
#include <quorum/election/results_gather.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace quorum::election {
namespace {

constexpr std::string_view kSlot = "election";
constexpr std::string_view kRcvSlot = "rcv";

// The bytes of one handler slot of an actor view, or nullopt (also for an
// empty projection: the handler never changed that actor).
std::optional<std::string> slot_bytes(const node::ActorView& view, std::string_view handler) {
  for (const auto& projection : view.projections) {
    if (projection.handler == handler && !projection.bytes.empty()) {
      return projection.bytes;
    }
  }
  return std::nullopt;
}

// One read: the key, and where its slot bytes go (called under the mutex).
struct Read {
  std::string key;
  std::string_view handler;
  std::function<void(std::string)> store;
};

// Runs reads with bounded concurrency; `finished` runs once with the first
// error or with success when every read completed.
class Batch : public std::enable_shared_from_this<Batch> {
 public:
  Batch(node::NodeService& node, std::vector<Read> reads, size_t concurrency, std::function<void(Result<void>)> done)
      : node_(node), reads_(std::move(reads)), concurrency_(std::max<size_t>(1, concurrency)), done_(std::move(done)) {}

  void start() {
    if (reads_.empty()) {
      finish(Result<void>{});
      return;
    }
    std::vector<size_t> first;
    {
      std::lock_guard lock(mutex_);
      while (next_ < reads_.size() && in_flight_ < concurrency_) {
        first.push_back(next_++);
        ++in_flight_;
      }
    }
    for (size_t i : first) {
      issue(i);
    }
  }

 private:
  void issue(size_t i) {
    auto self = shared_from_this();
    node_.read_actor(reads_[i].key, [self, i](Result<node::ActorView> view) { self->on_read(i, std::move(view)); });
  }

  void on_read(size_t i, Result<node::ActorView> view) {
    std::optional<size_t> next;
    bool complete = false;
    std::optional<Error> error;
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
      if (failed_) {
        return;
      }
      if (!view) {
        if (view.error().code != ErrorCode::kNotFound) {
          failed_ = true;
          error = Error{view.error().code, "reading " + reads_[i].key + ": " + view.error().message};
        }
      } else if (std::optional<std::string> bytes = slot_bytes(*view, reads_[i].handler)) {
        reads_[i].store(std::move(*bytes));
      }
      if (!failed_) {
        if (next_ < reads_.size()) {
          next = next_++;
          ++in_flight_;
        } else if (in_flight_ == 0) {
          complete = true;
        }
      }
    }
    if (error) {
      finish(std::move(*error));
    } else if (next) {
      issue(*next);
    } else if (complete) {
      finish(Result<void>{});
    }
  }

  void finish(Result<void> result) {
    auto done = std::move(done_);
    done_ = nullptr;
    assert(done);
    done(std::move(result));
  }

  node::NodeService& node_;
  std::vector<Read> reads_;
  const size_t concurrency_;
  std::function<void(Result<void>)> done_;
  std::mutex mutex_;
  size_t next_ = 0;
  size_t in_flight_ = 0;
  bool failed_ = false;
};

void run_batch(node::NodeService& node, std::vector<Read> reads, size_t concurrency,
               std::function<void(Result<void>)> done) {
  std::make_shared<Batch>(node, std::move(reads), concurrency, std::move(done))->start();
}

// The state of one gather, shared by its callbacks.
struct Gather : std::enable_shared_from_this<Gather> {
  node::NodeService& node;
  GatherRequest request;
  std::function<void(Result<ResultsInput>)> done;
  ResultsInput input;
  std::mutex mutex;  // guards input while reads store into it
  std::vector<std::optional<std::string>> pages;

  Gather(node::NodeService& n, GatherRequest r, std::function<void(Result<ResultsInput>)> d)
      : node(n), request(std::move(r)), done(std::move(d)) {}

  void fail(Error error) { done(std::move(error)); }

  void start() {
    input.all_units = request.all_units;
    if (!request.election.empty()) {
      read_election();
      return;
    }
    auto self = shared_from_this();
    node.read_actor(std::string(kElectionsKey), [self](Result<node::ActorView> view) {
      if (!view) {
        if (view.error().code == ErrorCode::kNotFound) {
          self->fail(Error{ErrorCode::kNotFound, "no election is loaded (quorumctl election load FILE)"});
        } else {
          self->fail(view.error());
        }
        return;
      }
      std::optional<std::string> bytes = slot_bytes(*view, kSlot);
      if (!bytes) {
        self->fail(Error{ErrorCode::kNotFound, "no election is loaded (the registry has no 'election' projection)"});
        return;
      }
      Result<std::optional<std::string>> last = last_registered_election(*bytes);
      if (!last) {
        self->fail(last.error());
        return;
      }
      if (!*last) {
        self->fail(Error{ErrorCode::kNotFound, "no election is loaded (quorumctl election load FILE)"});
        return;
      }
      self->request.election = std::move(**last);
      self->read_election();
    });
  }

  void read_election() {
    input.election_id = request.election;
    auto self = shared_from_this();
    node.read_actor(election_key(request.election), [self](Result<node::ActorView> view) {
      const std::string& eid = self->request.election;
      if (!view) {
        if (view.error().code == ErrorCode::kNotFound) {
          self->fail(Error{ErrorCode::kNotFound, "election " + eid + " is not loaded"});
        } else {
          self->fail(view.error());
        }
        return;
      }
      std::optional<std::string> bytes = slot_bytes(*view, kSlot);
      if (!bytes) {
        self->fail(Error{ErrorCode::kNotFound, "election " + eid +
                                                   " has no 'election' projection (is the election "
                                                   "plugin active?)"});
        return;
      }
      Result<ElectionSummary> summary = summarize_election(eid, *bytes);
      if (!summary) {
        self->fail(summary.error());
        return;
      }
      self->input.election = std::move(*bytes);
      self->read_parts(std::move(*summary));
    });
  }

  std::vector<Read> contest_reads(const ElectionSummary& summary) {
    std::vector<Read> reads;
    for (const std::string& cid : summary.rcv_contests) {
      reads.push_back({contest_key(request.election, cid), kRcvSlot,
                       [this, cid](std::string bytes) { input.rcv[cid] = std::move(bytes); }});
    }
    return reads;
  }

  std::vector<Read> unit_reads(const std::vector<std::string>& ids) {
    std::vector<Read> reads;
    reads.reserve(ids.size());
    for (const std::string& id : ids) {
      reads.push_back({unit_key(request.election, id), kSlot,
                       [this, id](std::string bytes) { input.units[id] = std::move(bytes); }});
    }
    return reads;
  }

  void read_parts(ElectionSummary summary) {
    auto self = shared_from_this();
    if (!request.all_units && summary.units > 0 && summary.units <= request.all_units_up_to) {
      request.all_units = true;
      input.all_units = true;
    }
    if (!request.all_units) {
      std::vector<Read> reads = unit_reads(summary.district_units);
      for (Read& read : contest_reads(summary)) {
        reads.push_back(std::move(read));
      }
      run_batch(node, std::move(reads), request.concurrency, [self](Result<void> r) { self->finish(std::move(r)); });
      return;
    }
    pages.assign(summary.pages, std::nullopt);
    std::vector<Read> reads;
    for (uint64_t page = 0; page < summary.pages; ++page) {
      reads.push_back({directory_key(request.election, page), kSlot,
                       [this, page](std::string bytes) { pages[page] = std::move(bytes); }});
    }
    auto contests = std::make_shared<std::vector<Read>>(contest_reads(summary));
    run_batch(node, std::move(reads), request.concurrency, [self, contests](Result<void> r) {
      if (!r) {
        self->fail(r.error());
        return;
      }
      std::vector<std::string> ids;
      for (std::optional<std::string>& page : self->pages) {
        if (!page) {
          continue;  // not written yet (the load is still running)
        }
        Result<std::vector<std::string>> page_ids = directory_unit_ids(*page);
        if (!page_ids) {
          self->fail(page_ids.error());
          return;
        }
        ids.insert(ids.end(), page_ids->begin(), page_ids->end());
        self->input.directory_pages.push_back(std::move(*page));
      }
      if (ids.size() > kMaxResultsUnits) {
        self->fail(Error{ErrorCode::kResourceExhausted, "election " + self->request.election + " lists more than " +
                                                            std::to_string(kMaxResultsUnits) + " units"});
        return;
      }
      std::vector<Read> unit_and_contest = self->unit_reads(ids);
      for (Read& read : *contests) {
        unit_and_contest.push_back(std::move(read));
      }
      run_batch(self->node, std::move(unit_and_contest), self->request.concurrency,
                [self](Result<void> result) { self->finish(std::move(result)); });
    });
  }

  void finish(Result<void> result) {
    if (!result) {
      fail(result.error());
      return;
    }
    input.now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    done(std::move(input));
  }
};

}  // namespace

void gather_results(node::NodeService& node, GatherRequest request, std::function<void(Result<ResultsInput>)> done) {
  std::make_shared<Gather>(node, std::move(request), std::move(done))->start();
}

}  // namespace quorum::election
