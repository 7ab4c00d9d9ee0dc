#include <quorum/election/keys.hpp>
#include <quorum/election/results_gather.hpp>
#include <quorum/http/results_service.hpp>

#include <cassert>
#include <utility>

namespace quorum::http {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<ResultsQuery> parse_results_query(const std::vector<std::pair<std::string, std::string>>& params) {
  ResultsQuery query;
  for (const auto& [name, value] : params) {
    if (name == "election") {
      if (!election::valid_election_id(value)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "query parameter 'election' must be 1..64 characters of [A-Za-z0-9.-]");
      }
      query.election = value;
    } else if (name == "format") {
      std::optional<election::ResultsFormat> format = election::parse_results_format(value);
      if (!format) {
        return make_error(ErrorCode::kInvalidArgument,
                          "unknown format '" + value + "' (json, nist-err, ap, csv or audit)");
      }
      query.format = *format;
    } else if (name == "units") {
      if (value != "all") {
        return make_error(ErrorCode::kInvalidArgument, "query parameter 'units' takes only 'all'");
      }
      query.all_units = true;
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        "unknown query parameter '" + name + "' (election, format, units)");
    }
  }
  if (election::format_needs_units(query.format)) {
    query.all_units = true;
  }
  return query;
}

ResultsService::ResultsService(node::NodeService& node, PostWork post)
    : shared_(std::make_shared<Shared>(node, std::move(post))) {}

void ResultsService::compute(const std::shared_ptr<Shared>& shared, ResultsQuery query, uint64_t all_units_up_to,
                             std::function<void(Result<RenderedResults>)> done) {
  election::GatherRequest request{query.election, query.all_units, all_units_up_to,
                                  election::kDefaultGatherConcurrency};
  const election::ResultsFormat format = query.format;
  const bool list_units = query.all_units;
  election::gather_results(
      shared->node, std::move(request),
      [shared, format, list_units, done = std::move(done)](Result<election::ResultsInput> input) mutable {
        auto work = [format, list_units, done = std::move(done), input = std::move(input)]() mutable {
          if (!input) {
            done(input.error());
            return;
          }
          Result<election::Results> results = election::build_results(*input);
          if (!results) {
            done(results.error());
            return;
          }
          results->has_units = results->has_units && list_units;  // read for the audit only: not listed
          done(RenderedResults{election::render(*results, format), std::string(election::content_type(format))});
        };
        if (shared->post) {
          shared->post(std::move(work));
        } else {
          work();
        }
      });
}

void ResultsService::query(ResultsQuery query, std::function<void(Result<RenderedResults>)> done) {
  bool admitted = false;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->queries < kMaxResultsQueries) {
      ++shared_->queries;
      admitted = true;
    }
  }
  if (!admitted) {
    done(Error{ErrorCode::kResourceExhausted,
               "too many results requests in flight (" + std::to_string(kMaxResultsQueries) + "); retry later"});
    return;
  }
  std::shared_ptr<Shared> shared = shared_;
  compute(shared_, std::move(query), 0, [shared, done = std::move(done)](Result<RenderedResults> rendered) {
    {
      std::lock_guard lock(shared->mutex);
      assert(shared->queries > 0);
      --shared->queries;
    }
    done(std::move(rendered));
  });
}

void ResultsService::latest_json(std::string election, std::function<void(Result<std::string>)> done) {
  const int64_t now = steady_ms();
  {
    std::unique_lock lock(shared_->mutex);
    auto it = shared_->live.find(election);
    if (it == shared_->live.end()) {
      if (shared_->live.size() >= kMaxLiveElections) {
        // Drop the least recently computed idle entry.
        auto oldest = shared_->live.end();
        for (auto e = shared_->live.begin(); e != shared_->live.end(); ++e) {
          if (!e->second.running &&
              (oldest == shared_->live.end() || e->second.computed_ms < oldest->second.computed_ms)) {
            oldest = e;
          }
        }
        if (oldest == shared_->live.end()) {
          lock.unlock();
          done(Error{ErrorCode::kResourceExhausted, "too many elections followed live; retry later"});
          return;
        }
        shared_->live.erase(oldest);
      }
      it = shared_->live.emplace(election, Live{}).first;
    }
    Live& live = it->second;
    if (!live.running && live.computed_ms >= 0 && now - live.computed_ms < kLiveMaxAgeMs) {
      Result<std::string> copy = live.json;
      lock.unlock();
      done(std::move(copy));
      return;
    }
    if (live.waiters.size() >= kMaxLiveWaiters) {
      lock.unlock();
      done(Error{ErrorCode::kResourceExhausted, "too many live results waiters; retry later"});
      return;
    }
    live.waiters.push_back(std::move(done));
    if (live.running) {
      return;
    }
    live.running = true;
  }
  std::shared_ptr<Shared> shared = shared_;
  compute(shared, ResultsQuery{election, election::ResultsFormat::kJson, false}, kLiveAuditMaxUnits,
          [shared, election](Result<RenderedResults> rendered) {
            Result<std::string> json =
                rendered ? Result<std::string>(std::move(rendered->body)) : Result<std::string>(rendered.error());
            std::vector<std::function<void(Result<std::string>)>> waiters;
            {
              std::lock_guard lock(shared->mutex);
              Live& live = shared->live[election];
              live.running = false;
              live.computed_ms = steady_ms();
              live.json = json;
              waiters.swap(live.waiters);
            }
            for (auto& waiter : waiters) {
              waiter(json);
            }
          });
}

}  // namespace quorum::http
