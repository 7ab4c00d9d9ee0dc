// ResultsService: what GET /v1/results, GET /v1/results/events and GET /
// (the live results page) serve, over the election results builder
// (quorum/election/results.hpp) and gatherer (results_gather.hpp).
//
// - query(): one answer of GET /v1/results: gathers the actors the format
//   needs, builds, renders. Nothing is cached; at most kMaxResultsQueries
//   run at once (kResourceExhausted beyond).
// - latest_json(): the page's json for an election, shared by every live
//   subscriber: a model at most kLiveMaxAgeMs old is reused, and while one
//   computation runs, later callers wait for it. So N subscribers of one
//   election cost about one recompute a second, and none without them.
//   At most kMaxLiveElections elections are remembered (oldest dropped).
// - page(): the self-contained HTML page (inline CSS and JS, no external
//   assets), embedded at build time from host/src/http/results_page.html.
//
// Threads: callable from any thread. Building and rendering run on `post`
// (the server's I/O threads) when given, else on the node callback thread.
#pragma once

#include <quorum/election/results.hpp>
#include <quorum/host/result.hpp>
#include <quorum/node/node_service.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::http {

inline constexpr int64_t kLiveMaxAgeMs = 900;
// The live json reads every unit (so its audit is computed) for elections of
// at most this many units; larger ones read only the district units.
inline constexpr uint64_t kLiveAuditMaxUnits = 1000;
inline constexpr size_t kMaxLiveElections = 64;
inline constexpr size_t kMaxLiveWaiters = 4096;
// GET /v1/results answers being computed at once (each may read every unit
// of an election); more are answered 503.
inline constexpr size_t kMaxResultsQueries = 8;

using PostWork = std::function<void(std::function<void()>)>;

struct ResultsQuery {
  std::string election;  // empty: the last one registered
  election::ResultsFormat format = election::ResultsFormat::kJson;
  bool all_units = false;
};

struct RenderedResults {
  std::string body;
  std::string content_type;
};

// Parses ?election=&format=&units= (kInvalidArgument with a clear message).
Result<ResultsQuery> parse_results_query(const std::vector<std::pair<std::string, std::string>>& params);

// The live page (HTML).
std::string_view results_page();

class ResultsService {
 public:
  ResultsService(node::NodeService& node, PostWork post);

  void query(ResultsQuery query, std::function<void(Result<RenderedResults>)> done);
  // The json of GET /v1/results?election=E (E empty: the last registered).
  void latest_json(std::string election, std::function<void(Result<std::string>)> done);

 private:
  struct Live {
    bool running = false;
    int64_t computed_ms = -1;  // steady clock
    Result<std::string> json = Error{ErrorCode::kUnavailable, "not computed yet"};
    std::vector<std::function<void(Result<std::string>)>> waiters;
  };
  struct Shared {
    node::NodeService& node;
    PostWork post;
    std::mutex mutex;
    std::map<std::string, Live> live;  // by requested election ("" = default)
    size_t queries = 0;                // query() calls in flight (guarded by mutex)
  };
  static void compute(const std::shared_ptr<Shared>& shared, ResultsQuery query, uint64_t all_units_up_to,
                      std::function<void(Result<RenderedResults>)> done);
  std::shared_ptr<Shared> shared_;
};

}  // namespace quorum::http
