// Property tests of the rcv handler (rapidcheck). A failure prints the seed;
// replay it with RC_PARAMS="seed=<seed>" ./rcv_property_test.
#include "plugins/rcv/rcv.hpp"
#include "rcv_support.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <set>

namespace {

using quorum::plugins::rcv::Rcv;
using rcv_test::Ballot;
using rcv_test::json;
using rcv_test::Runner;

const std::vector<std::string> kCandidates = {"a", "b", "c", "d", "e", "w-write-in"};
const std::vector<std::string> kContests = {"contest-1", "contest-2"};

// One CVR: a ranked ballot per contest (an all-blank ballot is not counted).
using Cvr = std::vector<Ballot>;

rc::Gen<std::vector<std::string>> gen_rank() {
  return rc::gen::weightedOneOf<std::vector<std::string>>({
      {1, rc::gen::just(std::vector<std::string>{})},  // a skipped rank
      {8, rc::gen::map(rc::gen::elementOf(kCandidates), [](std::string c) { return std::vector<std::string>{c}; })},
      {1, rc::gen::container<std::vector<std::string>>(2, rc::gen::elementOf(kCandidates))},  // overvote (or a double mark)
  });
}

rc::Gen<Ballot> gen_ballot() {
  return rc::gen::mapcat(rc::gen::inRange(0, 7), [](int ranks) {
    return rc::gen::container<Ballot>(static_cast<size_t>(ranks), gen_rank());
  });
}

rc::Gen<Cvr> gen_cvr() { return rc::gen::container<Cvr>(kContests.size(), gen_ballot()); }

rc::Gen<json> gen_config() {
  return rc::gen::apply(
      [](std::string overvote, int skipped, std::string duplicates, std::string tie_break) {
        json config = {{"overvote", overvote}, {"duplicates", duplicates}, {"tie_break", tie_break}};
        config["max_skipped_ranks"] = skipped < 0 ? json("unlimited") : json(skipped);
        return config;
      },
      rc::gen::elementOf(std::vector<std::string>{"exhaust_immediately", "skip_to_next"}),
      rc::gen::inRange(-1, 3), rc::gen::elementOf(std::vector<std::string>{"skip", "exhaust"}),
      rc::gen::elementOf(std::vector<std::string>{"previous_rounds_then_lexical", "lexical"}));
}

json cvr_json(const Cvr& cvr) {
  std::vector<json> contests;
  for (size_t i = 0; i < cvr.size(); ++i) {
    contests.push_back(rcv_test::ranked_contest(kContests[i], cvr[i]));
  }
  return rcv_test::cvr(contests);
}

std::string message(size_t index, const Cvr& cvr) {
  return quorum::sdk::testing::make_message("b-" + std::to_string(index), "cvr", 1000 + static_cast<int64_t>(index),
                                            cvr_json(cvr));
}

Runner run(const json& config, const std::vector<Cvr>& cvrs) {
  Runner runner(quorum::sdk::descriptor<Rcv>(), config);
  for (size_t i = 0; i < cvrs.size(); ++i) {
    auto result = runner.feed_bytes(message(i, cvrs[i]));
    RC_ASSERT(result.ok());
  }
  return runner;
}

bool counted(const Ballot& ballot) {
  return std::any_of(ballot.begin(), ballot.end(), [](const auto& rank) { return !rank.empty(); });
}

// ---- a textbook reference: every round re-walks every raw ballot ----------

struct RefRound {
  std::map<std::string, uint64_t> tally;
  uint64_t exhausted = 0;
  std::optional<std::string> eliminated, elected;
};

std::vector<RefRound> reference(const std::vector<Ballot>& ballots, const json& config) {
  const bool exhaust_overvote = config["overvote"] == "exhaust_immediately";
  const bool exhaust_duplicate = config["duplicates"] == "exhaust";
  const bool previous_rounds = config["tie_break"] == "previous_rounds_then_lexical";
  const int max_skipped = config["max_skipped_ranks"].is_number() ? config["max_skipped_ranks"].get<int>() : -1;
  std::set<std::string> candidates;
  for (const Ballot& ballot : ballots) {
    for (const auto& rank : ballot) {
      candidates.insert(rank.begin(), rank.end());
    }
  }
  std::set<std::string> eliminated;
  std::vector<RefRound> rounds;
  for (;;) {
    RefRound round;
    for (const std::string& c : candidates) {
      if (!eliminated.count(c)) {
        round.tally[c] = 0;
      }
    }
    for (const Ballot& ballot : ballots) {
      std::optional<std::string> choice;
      std::set<std::string> seen;
      int previous = 0;
      for (size_t r = 0; r < ballot.size(); ++r) {
        const std::set<std::string> marks(ballot[r].begin(), ballot[r].end());
        if (marks.empty()) {
          continue;
        }
        const int rank = static_cast<int>(r) + 1;
        if (max_skipped >= 0 && rank - previous - 1 > max_skipped) {
          break;
        }
        previous = rank;
        if (marks.size() > 1) {
          if (exhaust_overvote) {
            break;
          }
          continue;
        }
        const std::string& c = *marks.begin();
        if (seen.count(c)) {
          if (exhaust_duplicate) {
            break;
          }
          continue;
        }
        seen.insert(c);
        if (!eliminated.count(c)) {
          choice = c;
          break;
        }
      }
      if (choice) {
        ++round.tally[*choice];
      } else {
        ++round.exhausted;
      }
    }
    uint64_t continuing = 0;
    for (const auto& [c, v] : round.tally) {
      continuing += v;
    }
    rounds.push_back(round);
    if (continuing == 0) {
      break;
    }
    for (const auto& [c, v] : round.tally) {
      if (2 * v > continuing) {
        rounds.back().elected = c;
      }
    }
    if (rounds.back().elected) {
      break;
    }
    std::optional<std::string> loser;
    for (const auto& [c, v] : round.tally) {  // in id order: the first of equals stays
      if (!loser) {
        loser = c;
        continue;
      }
      bool fewer = v < round.tally[*loser];
      if (v == round.tally[*loser] && previous_rounds) {
        for (size_t r = rounds.size() - 1; r-- > 0;) {
          const uint64_t mine = rounds[r].tally.count(c) ? rounds[r].tally[c] : 0;
          const uint64_t theirs = rounds[r].tally.count(*loser) ? rounds[r].tally[*loser] : 0;
          if (mine != theirs) {
            fewer = mine < theirs;
            break;
          }
        }
      }
      if (fewer) {
        loser = c;
      }
    }
    rounds.back().eliminated = loser;
    eliminated.insert(*loser);
  }
  return rounds;
}

json reference_json(const std::vector<RefRound>& rounds) {
  json out = json::array();
  for (size_t r = 0; r < rounds.size(); ++r) {
    uint64_t continuing = 0;
    for (const auto& [c, v] : rounds[r].tally) {
      continuing += v;
    }
    out.push_back({{"continuing", continuing},
                   {"elected", rounds[r].elected ? json(*rounds[r].elected) : json(nullptr)},
                   {"eliminated", rounds[r].eliminated ? json(*rounds[r].eliminated) : json(nullptr)},
                   {"exhausted", rounds[r].exhausted},
                   {"round", r + 1},
                   {"tally", rounds[r].tally}});
  }
  return out;
}

std::vector<Ballot> ballots_of(const std::vector<Cvr>& cvrs, size_t contest) {
  std::vector<Ballot> out;
  for (const Cvr& cvr : cvrs) {
    if (counted(cvr[contest])) {
      out.push_back(cvr[contest]);
    }
  }
  return out;
}

RC_GTEST_PROP(RcvProperty, RoundsMatchATextbookReference, ()) {
  const json config = *gen_config();
  const auto cvrs = *rc::gen::container<std::vector<Cvr>>(gen_cvr());
  const json projection = run(config, cvrs).projection();
  for (size_t k = 0; k < kContests.size(); ++k) {
    const std::vector<Ballot> ballots = ballots_of(cvrs, k);
    if (ballots.empty()) {
      RC_ASSERT(!projection["contests"].contains(kContests[k]));
      continue;
    }
    const json& contest = projection["contests"][kContests[k]];
    const json expected = reference_json(reference(ballots, config));
    RC_ASSERT(contest["rounds"] == expected);
    const json& last = expected.back();
    RC_ASSERT(contest["winner"] == last["elected"]);
  }
}

RC_GTEST_PROP(RcvProperty, AnyPermutationGivesIdenticalBytes, ()) {
  const json config = *gen_config();
  const auto cvrs = *rc::gen::container<std::vector<Cvr>>(gen_cvr());
  const auto keys = *rc::gen::container<std::vector<uint32_t>>(cvrs.size(), rc::gen::arbitrary<uint32_t>());
  std::vector<size_t> order(cvrs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<Cvr> shuffled;
  for (size_t i : order) {
    shuffled.push_back(cvrs[i]);
  }
  RC_ASSERT(run(config, cvrs).bytes_now() == run(config, shuffled).bytes_now());
}

RC_GTEST_PROP(RcvProperty, RoundInvariants, ()) {
  const json config = *gen_config();
  const auto cvrs = *rc::gen::container<std::vector<Cvr>>(gen_cvr());
  const json projection = run(config, cvrs).projection();
  RC_ASSERT(projection["cvrs"] == cvrs.size());
  for (size_t k = 0; k < kContests.size(); ++k) {
    const uint64_t ballots = ballots_of(cvrs, k).size();
    if (ballots == 0) {
      continue;
    }
    const json& contest = projection["contests"][kContests[k]];
    RC_ASSERT(contest["ballots"] == ballots);
    uint64_t ranked = 0;
    for (const json& ranking : contest["rankings"]) {
      ranked += ranking[1].get<uint64_t>();
    }
    RC_ASSERT(ranked == ballots);
    const json& rounds = contest["rounds"];
    RC_ASSERT(!rounds.empty());
    std::set<std::string> gone;
    uint64_t previous_exhausted = 0;
    for (size_t r = 0; r < rounds.size(); ++r) {
      const json& round = rounds[r];
      uint64_t votes = 0;
      for (const auto& [candidate, v] : round["tally"].items()) {
        RC_ASSERT(!gone.count(candidate));  // an eliminated candidate never gets votes again
        votes += v.get<uint64_t>();
      }
      RC_ASSERT(votes == round["continuing"].get<uint64_t>());
      RC_ASSERT(votes + round["exhausted"].get<uint64_t>() == ballots);
      RC_ASSERT(round["exhausted"].get<uint64_t>() >= previous_exhausted);
      previous_exhausted = round["exhausted"].get<uint64_t>();
      RC_ASSERT(round["round"] == r + 1);
      const bool last = r + 1 == rounds.size();
      RC_ASSERT(round["eliminated"].is_null() == last);
      if (!last) {
        RC_ASSERT(round["elected"].is_null());
        gone.insert(round["eliminated"].get<std::string>());
        RC_ASSERT(rounds[r + 1]["tally"].size() + 1 == round["tally"].size());
      }
    }
    const json& final_round = rounds.back();
    if (contest["winner"].is_null()) {
      RC_ASSERT(final_round["continuing"] == 0);
    } else {
      const std::string winner = contest["winner"];
      RC_ASSERT(final_round["elected"] == winner);
      RC_ASSERT(2 * final_round["tally"][winner].get<uint64_t>() > final_round["continuing"].get<uint64_t>());
    }
  }
}

RC_GTEST_PROP(RcvProperty, SameInputSameBytesAndBatchEqualsSequential, ()) {
  const json config = *gen_config();
  const auto cvrs = *rc::gen::container<std::vector<Cvr>>(gen_cvr());
  const Runner first = run(config, cvrs);
  const Runner second = run(config, cvrs);
  RC_ASSERT(first.bytes_now() == second.bytes_now());

  // handle_batch over the same messages ends in the same bytes.
  const quorum_plugin_descriptor* d = quorum::sdk::descriptor<Rcv>();
  const Runner start(d, config);
  json batch = json::array();
  for (size_t i = 0; i < cvrs.size(); ++i) {
    batch.push_back({{"id", "b-" + std::to_string(i)}, {"type", "cvr"}, {"time", 1000 + i}, {"data", cvr_json(cvrs[i])}});
  }
  const std::vector<uint8_t> bytes = json::to_msgpack(batch);
  quorum_buffer out{nullptr, 0, nullptr};
  const std::string& projection = start.bytes_now();
  const int32_t status =
      d->handle_batch(quorum_bytes{reinterpret_cast<const uint8_t*>("k"), 1},
                      quorum_bytes{reinterpret_cast<const uint8_t*>(projection.data()), projection.size()},
                      quorum_bytes{bytes.data(), bytes.size()}, nullptr, &out);
  const json body = json::from_msgpack(out.data, out.data + out.size);
  d->free(&out);
  RC_ASSERT(status == QUORUM_STATUS_OK);
  const auto& binary = body["projection"].get_binary();
  RC_ASSERT(std::string(binary.begin(), binary.end()) == first.bytes_now());
}

// Malformed "cvr" messages are rejected without a trace, and messages of
// other types pass unchanged, wherever they fall in the stream.
RC_GTEST_PROP(RcvProperty, RejectedAndForeignMessagesLeaveBytesUnchanged, ()) {
  const json config = *gen_config();
  const auto cvrs = *rc::gen::container<std::vector<Cvr>>(gen_cvr());
  const auto noise = *rc::gen::container<std::vector<int>>(cvrs.size(), rc::gen::inRange(0, 8));
  Runner clean = run(config, cvrs);
  Runner noisy(quorum::sdk::descriptor<Rcv>(), config);
  for (size_t i = 0; i < cvrs.size(); ++i) {
    const std::string before = noisy.bytes_now();
    json bad = cvr_json(cvrs[i]);
    bool reject = true;
    switch (noise[i]) {
      case 0: bad.erase("CVRSnapshot"); break;
      case 1: bad["CurrentSnapshotId"] = "missing"; break;
      case 2: bad = json::array({1, 2}); break;
      case 3: bad["CVRSnapshot"] = json::array(); break;
      case 4:
        bad["CVRSnapshot"][0]["CVRContest"] =
            json::array({rcv_test::ranked_contest("contest-1", {{"a"}})});
        bad["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["Rank"] = -3;
        break;
      default: reject = false; break;  // a message of another type
    }
    if (reject) {
      auto result = noisy.feed("bad-" + std::to_string(i), bad);
      RC_ASSERT(result.status == QUORUM_STATUS_REJECTED);
    } else {
      auto result = noisy.feed("other-" + std::to_string(i), bad, "note");
      RC_ASSERT(result.ok());
    }
    RC_ASSERT(noisy.bytes_now() == before);
    RC_ASSERT(noisy.feed_bytes(message(i, cvrs[i])).ok());
  }
  RC_ASSERT(noisy.bytes_now() == clean.bytes_now());
}

}  // namespace
