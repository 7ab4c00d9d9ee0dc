// Pins the audit handler's bytes to the handler as it was before its id set
// stopped being materialised (audit_reference.hpp, a frozen copy): for the
// same projection and messages, init / handle / handle_batch return the same
// status and the same bytes (projection, results, errors), over random
// streams, the gen-01 and gen-03 CVR streams, hand-written (non-canonical)
// projections and corrupt ones. Also the IdSet against a model.
// Replay a failure with RC_PARAMS="seed=<seed>".
#include "audit.hpp"
#include "audit_reference.hpp"
#include "plugin_equivalence.hpp"
#include "plugin_harness.hpp"

#include <quorum/sdk/sdk.hpp>
#include <quorum/sdk/testing/cvr_gen.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

namespace g = quorum::sdk::testing::cvr_gen;
using quorum::plugins::Audit;
using quorum::plugins::IdSet;
using quorum::test::to_msgpack;
using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

const quorum_plugin_descriptor& fresh() { return *quorum::sdk::descriptor<Audit>(); }
const quorum_plugin_descriptor& reference() {
  return *quorum::sdk::descriptor<quorum::plugins::audit_reference::Audit>();
}

using quorum::test::equivalence::handle;
using quorum::test::equivalence::handle_batch;
using quorum::test::equivalence::init;
using quorum::test::equivalence::projection_of;
using quorum::test::equivalence::Raw;

// Both handlers over the same messages; equal bytes after every call.
std::string feed_both(std::string projection, const std::vector<std::string>& messages,
                      const std::vector<size_t>& chunks) {
  return quorum::test::equivalence::feed_both(fresh(), reference(), std::move(projection), messages, chunks,
                                              [](const Raw& a, const Raw& b) { RC_ASSERT(a == b); });
}

// ---- IdSet against a model -------------------------------------------------

std::string stored(const std::vector<uint64_t>& hashes) {
  std::string bytes(8 * hashes.size(), '\0');
  for (size_t i = 0; i < hashes.size(); ++i) {
    quorum::plugins::audit_detail::store_be64(bytes.data() + 8 * i, hashes[i]);
  }
  return bytes;
}

// Hashes drawn from a small range sometimes, so lookups and inserts hit.
rc::Gen<uint64_t> hash_gen() {
  return rc::gen::oneOf(rc::gen::inRange<uint64_t>(0, 64), rc::gen::arbitrary<uint64_t>(),
                        rc::gen::element<uint64_t>(0, UINT64_MAX, UINT64_MAX - 1, 1ull << 63));
}

RC_GTEST_PROP(AuditIdSet, BehavesLikeASortedVectorWithInsertAndWritesItsBytes, ()) {
  // The base as the old decoder accepted it: ascending, duplicates allowed.
  std::vector<uint64_t> model = *rc::gen::container<std::vector<uint64_t>>(hash_gen());
  std::sort(model.begin(), model.end());
  const std::string base = stored(model);
  IdSet set(base);
  RC_ASSERT(set.size() == model.size());
  const auto inserts = *rc::gen::container<std::vector<uint64_t>>(hash_gen());
  for (const uint64_t hash : inserts) {
    const uint64_t probe = *hash_gen();
    RC_ASSERT(set.contains(probe) == std::binary_search(model.begin(), model.end(), probe));
    RC_ASSERT(set.contains(hash) == std::binary_search(model.begin(), model.end(), hash));
    // The old Projection::remember.
    auto it = std::lower_bound(model.begin(), model.end(), hash);
    if (it == model.end() || *it != hash) {
      model.insert(it, hash);
    }
    set.insert(hash);
    RC_ASSERT(set.contains(hash));
    RC_ASSERT(set.size() == model.size());
  }
  std::string written;
  set.write([&](const char* bytes, size_t size) { written.append(bytes, size); });
  RC_ASSERT(written == stored(model));
  RC_ASSERT(set.to_vector() == model);
}

TEST(AuditIdSet, EmptyAndEdges) {
  IdSet empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_FALSE(empty.contains(0));
  std::string written;
  empty.write([&](const char* bytes, size_t size) { written.append(bytes, size); });
  EXPECT_TRUE(written.empty());
  const std::string base = stored({5, 9});
  IdSet set(base);
  set.insert(UINT64_MAX);
  set.insert(0);
  set.insert(7);
  set.insert(9);  // already in the base
  EXPECT_EQ(set.to_vector(), (std::vector<uint64_t>{0, 5, 7, 9, UINT64_MAX}));
  EXPECT_EQ(set.added(), (std::vector<uint64_t>{0, 7, UINT64_MAX}));
}

// ---- old vs new over streams --------------------------------------------------

json config_for(const g::Election& election) {
  json config = json::object();
  const int shape = *rc::gen::inRange(0, 5);
  if (shape == 0) {
    return nullptr;  // no config: checks skipped
  }
  if (shape != 1) {
    json contests = election.config()["contests"];
    if (shape == 2 && !contests.empty()) {  // a contest missing: unknown_contest findings
      contests.erase(contests.begin());
    }
    config["contests"] = contests;
  }
  if (shape != 3) {
    // Often narrow, so most messages are outside: many findings (past kMaxFindings).
    const int64_t start = *rc::gen::inRange<int64_t>(-5, 3000);
    config["window"] = {{"start_ms", start}, {"end_ms", start + *rc::gen::inRange<int64_t>(0, 2000)}};
  }
  config["reject_duplicates"] = *rc::gen::arbitrary<bool>();
  return config;
}

std::vector<std::string> stream_of(const g::Election& election, size_t max_ballots) {
  const std::vector<json> ballots = *g::cvrs(election, max_ballots);
  std::vector<std::string> messages;
  std::vector<std::pair<std::string, json>> sent;
  size_t next = 0;
  auto time = [] { return *rc::gen::inRange<int64_t>(-10, 5000); };
  for (const json& ballot : ballots) {
    sent.emplace_back("m-" + std::to_string(next++), ballot);
    messages.push_back(quorum::test::make_message(sent.back().first, "cvr", time(), ballot));
    switch (*rc::gen::inRange(0, 12)) {
      case 0: {  // exact re-send
        const auto& again = sent[*rc::gen::inRange<size_t>(0, sent.size())];
        messages.push_back(quorum::test::make_message(again.first, "cvr", time(), again.second));
        break;
      }
      case 1: {  // re-scanned under a new message id
        const auto& again = sent[*rc::gen::inRange<size_t>(0, sent.size())];
        messages.push_back(quorum::test::make_message("m-" + std::to_string(next++), "cvr", time(), again.second));
        break;
      }
      case 2: {  // a shared UniqueId
        json copy = ballot;
        copy["BallotPrePrintedId"] = "fresh-" + std::to_string(next);
        copy["UniqueId"] = "u-shared";
        messages.push_back(quorum::test::make_message("m-" + std::to_string(next++), "cvr", time(), copy));
        break;
      }
      case 3: {  // malformed
        json broken = ballot;
        broken.erase("CVRSnapshot");
        messages.push_back(quorum::test::make_message("m-" + std::to_string(next++), "cvr", time(), broken));
        break;
      }
      case 4:  // another type: accepted unchanged
        messages.push_back(quorum::test::make_message("n-" + std::to_string(next++), "note", time(), json{{"x", 1}}));
        break;
      case 5:  // no message id
        messages.push_back(quorum::test::make_message("", "cvr", time(), ballot));
        break;
      case 6:  // not an envelope at all: the message is rejected, the batch goes on
        messages.push_back(to_msgpack(json::array({1, 2})));
        break;
      default:
        break;
    }
  }
  return messages;
}

RC_GTEST_PROP(AuditEquivalence, SameBytesAsTheOldHandlerOverRandomStreams, ()) {
  const g::Election election = *g::election();
  const json config = config_for(election);
  const std::string config_bytes = config.is_null() ? std::string() : to_msgpack(config);
  const Raw a = init(fresh(), config_bytes);
  RC_ASSERT(a == init(reference(), config_bytes));
  RC_ASSERT(a.status == QUORUM_STATUS_OK);
  const std::vector<std::string> messages = stream_of(election, 60);
  const auto chunks = *rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(1, 9));
  // From init's projection, and from the empty projection (initial(nullptr) in place).
  feed_both(projection_of(a), messages, chunks);
  feed_both(std::string(), messages, chunks);
}

// Every CVR of a NIST test-method file, one precinct actor per
// BallotStyleUnitId and one county actor for all, with each file's first
// ballots rescanned under new ids; config from the certified results.
void gen_stream(const std::string& dir, const std::string& id) {
  const json err = quorum::test::read_json_file("nist-cdf-test-method/" + dir + "/err-" + id + ".json");
  json contests = json::object();
  for (const json& contest : err["Election"][0]["Contest"]) {
    json selections = json::array();
    for (const json& selection : contest.value("ContestSelection", json::array())) {
      selections.push_back(selection["@id"]);
    }
    contests[contest["@id"].get<std::string>()] = {{"selections", selections},
                                                   {"votes_allowed", contest.value("VotesAllowed", 1)}};
  }
  const json report = quorum::test::read_json_file("nist-cdf-test-method/" + dir + "/cvr-" + id + ".json");
  std::map<std::string, std::vector<std::string>> by_unit;
  std::vector<std::string> all;
  int64_t time = 1730000000000;
  for (const json& cvr : report["CVR"]) {
    const std::string message =
        quorum::test::make_message(cvr.value("BallotPrePrintedId", std::string("?")), "cvr", time++, cvr);
    by_unit[cvr.value("BallotStyleUnitId", std::string())].push_back(message);
    all.push_back(message);
  }
  for (size_t i = 0; i < 3 && i < report["CVR"].size(); ++i) {
    all.push_back(quorum::test::make_message("rescan-" + std::to_string(i), "cvr", time, report["CVR"][i]));
  }
  for (const json& config : {json(nullptr), json{{"contests", contests}},
                             json{{"contests", contests},
                                  {"window", {{"start_ms", 1730000000000}, {"end_ms", 1730000000018}}},
                                  {"reject_duplicates", true}}}) {
    const std::string config_bytes = config.is_null() ? std::string() : to_msgpack(config);
    const Raw start = init(fresh(), config_bytes);
    ASSERT_EQ(start, init(reference(), config_bytes));
    for (const std::vector<size_t>& chunks :
         {std::vector<size_t>{1}, std::vector<size_t>{4}, std::vector<size_t>{2, 8, 1, 3}}) {
      auto same = [](const Raw& a, const Raw& b) { EXPECT_EQ(a, b); };
      const std::string county =
          quorum::test::equivalence::feed_both(fresh(), reference(), projection_of(start), all, chunks, same);
      EXPECT_GT(county.size(), 0u);
      for (const auto& [unit, messages] : by_unit) {
        quorum::test::equivalence::feed_both(fresh(), reference(), projection_of(start), messages, chunks, same);
      }
    }
  }
}

TEST(AuditEquivalence, Gen01SameBytes) { gen_stream("gen-01", "gen-01"); }
TEST(AuditEquivalence, Gen03SameBytes) { gen_stream("gen-03", "gen-03"); }

// ---- hand-written and corrupt projections ------------------------------------

std::string bin_of(const std::vector<uint64_t>& hashes) { return stored(hashes); }

ordered handwritten() {
  // Keys out of order, contests and selections unsorted with repeats, a
  // second "selections" list, an unknown key, a finding missing fields.
  ordered config = ordered::object();
  config["window"] = {{"end_ms", 2000}, {"start_ms", 1000}};
  config["contests"] = ordered::object();
  config["contests"]["zeta"] = {{"selections", {"b", "a", "b"}}, {"votes_allowed", 1}, {"selections", {"c"}}};
  config["contests"]["alpha"] = {{"votes_allowed", 2}, {"selections", {"y", "x"}}};
  config["reject_duplicates"] = false;
  ordered p = ordered::object();
  p["schema"] = 1;
  p["reconcile"] = {{"tallied", 1}, {"received", 2}, {"malformed", 1}, {"duplicates", 0}};
  p["extra"] = {1, 2, 3};
  p["config"] = config;
  p["counts"] = {{"malformed", 1}, {"nonsense", "ignored"}};
  p["findings"] = ordered::array({{{"kind", "malformed"}, {"seq", 1.0}, {"detail", "bad"}, {"id", "m2"}},
                                  {{"seq", 7}}});
  return p;
}

std::string msgpack_of(const ordered& value) {
  std::vector<uint8_t> bytes = ordered::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

// `p` with "ids" set to `ids` (appended last).
std::string with_ids(ordered p, const std::string& ids) {
  std::string bytes = msgpack_of(p);
  // Bump the map's entry count (fixmap) and append "ids": bin32.
  const auto first = static_cast<uint8_t>(bytes[0]);
  EXPECT_TRUE(first >= 0x80 && first < 0x8f);
  bytes[0] = static_cast<char>(first + 1);
  bytes += to_msgpack(json("ids"));
  bytes.push_back(static_cast<char>(0xc6));
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<char>((ids.size() >> shift) & 0xff));
  }
  return bytes + ids;
}

void expect_same(const std::string& projection, const std::vector<std::string>& messages) {
  for (const std::string& message : messages) {
    EXPECT_EQ(handle(fresh(), projection, message), handle(reference(), projection, message));
  }
  EXPECT_EQ(handle_batch(fresh(), projection, messages), handle_batch(reference(), projection, messages));
}

std::vector<std::string> probe_messages() {
  const json ballot = {{"BallotPrePrintedId", "p9"},
                       {"CVRSnapshot",
                        json::array({{{"@id", "s"},
                                      {"CVRContest",
                                       json::array({{{"ContestId", "zeta"},
                                                     {"CVRContestSelection",
                                                      json::array({{{"ContestSelectionId", "q"},
                                                                    {"SelectionPosition",
                                                                     json::array({{{"HasIndication", "yes"},
                                                                                   {"NumberVotes", 1}}})}}})}}})}}})},
                       {"CurrentSnapshotId", "s"}};
  return {quorum::test::make_message("m5", "cvr", 1500, ballot), quorum::test::make_message("m1", "cvr", 900, ballot),
          quorum::test::make_message("m6", "other", 1, json(nullptr)),
          quorum::test::make_message("m7", "cvr", 1500, json{{"no", "snapshot"}})};
}

TEST(AuditEquivalence, HandWrittenProjectionsBecomeTheSameCanonicalBytes) {
  // m1 and p9 hashes, sorted, one repeated (the old decoder accepted repeats).
  std::vector<uint64_t> ids = {quorum::plugins::fnv1a64('m', "m1"), quorum::plugins::fnv1a64('p', "p0"),
                               quorum::plugins::fnv1a64('u', "u0")};
  std::sort(ids.begin(), ids.end());
  ids.insert(ids.begin() + 1, ids[1]);
  expect_same(with_ids(handwritten(), bin_of(ids)), probe_messages());
  // Two "config" entries: the contests of both, sorted together.
  ordered twice = handwritten();
  std::string bytes = with_ids(twice, bin_of({}));
  bytes[0] = static_cast<char>(static_cast<uint8_t>(bytes[0]) + 1);
  bytes += to_msgpack(json("config"));
  bytes += msgpack_of(ordered{{"contests", {{"beta", {{"selections", {"k"}}}}, {"alpha", ordered::object()}}}});
  expect_same(bytes, probe_messages());
}

TEST(AuditEquivalence, CorruptProjectionsFailTheSameWay) {
  std::vector<std::string> corrupt;
  corrupt.push_back(with_ids(handwritten(), bin_of({5, 3})));       // unsorted ids
  corrupt.push_back(with_ids(handwritten(), std::string(7, 'x')));  // not 8-byte hashes
  ordered p = handwritten();
  p["findings"] = "not an array";
  corrupt.push_back(with_ids(p, bin_of({})));
  p = handwritten();
  p["findings"] = ordered::array({{{"seq", -1}}});
  corrupt.push_back(with_ids(p, bin_of({})));
  p = handwritten();
  p["reconcile"]["received"] = 5;  // broken reconciliation
  corrupt.push_back(with_ids(p, bin_of({})));
  p = handwritten();
  p["config"]["contests"]["zeta"]["selections"] = ordered::array({1});
  corrupt.push_back(with_ids(p, bin_of({})));
  p = handwritten();
  p["config"]["window"] = {{"start_ms", 1}};
  corrupt.push_back(with_ids(p, bin_of({})));
  p = handwritten();
  p["config"]["reject_duplicates"] = 1;
  corrupt.push_back(with_ids(p, bin_of({})));
  corrupt.push_back(msgpack_of(ordered::array({1})));  // not a map
  const std::string whole = with_ids(handwritten(), bin_of({1, 2}));
  corrupt.push_back(whole.substr(0, whole.size() - 3));  // truncated
  std::string reserved = with_ids(handwritten(), bin_of({}));
  reserved.back() = static_cast<char>(0xc1);  // the ids bin now claims 193 bytes: truncated
  corrupt.push_back(reserved);
  corrupt.push_back(msgpack_of(ordered{{"ids", "text"}, {"reconcile", ordered::object()}}));
  for (const std::string& bytes : corrupt) {
    const Raw a = handle(fresh(), bytes, probe_messages()[0]);
    EXPECT_NE(a.status, QUORUM_STATUS_OK);
    EXPECT_EQ(a, handle(reference(), bytes, probe_messages()[0]));
    EXPECT_EQ(handle_batch(fresh(), bytes, probe_messages()), handle_batch(reference(), bytes, probe_messages()));
  }
}

}  // namespace
