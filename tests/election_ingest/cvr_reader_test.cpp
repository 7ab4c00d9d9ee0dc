// The CVR reader: NIST files (counts, keys, ids), a corrupted record
// reported by index while the rest go on, RCTab's lenient files, Dominion
// sessions converted to NIST CVRs (compared with an independent reading of
// the raw export done here with plain JSON).
#include <quorum/election/cvr_reader.hpp>
#include <quorum/election/keys.hpp>

#include "cvr_view.hpp"
#include "support/scratch_dir.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include <map>
#include <set>

namespace {

using namespace quorum::election;
using nlohmann::json;

const std::string kData = QUORUM_TEST_DATA_DIR;
const std::string kGen01 = kData + "/nist-cdf-test-method/gen-01/cvr-gen-01.json";
const std::string kGen03 = kData + "/nist-cdf-test-method/gen-03/cvr-gen-03.json";
const std::string kRctab = kData + "/rctab/cdf_json_file1_cvr.json";
const std::string kDominion = kData + "/dominion-sf-2020";

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

struct ReadAll {
  std::vector<CvrCommand> commands;
  std::vector<RecordError> errors;
  CvrFormat format = CvrFormat::kAuto;
  size_t total = 0;
};

ReadAll read_all(const std::string& path, ReaderOptions options, size_t batch = 7) {
  auto reader = CvrFileReader::open(path, options);
  EXPECT_TRUE(reader.ok()) << (reader.ok() ? "" : reader.error().message);
  ReadAll out;
  if (!reader.ok()) {
    return out;
  }
  out.total = (*reader)->total();
  size_t calls = 0;
  while (true) {
    const size_t before = out.commands.size() + out.errors.size();
    const bool more = (*reader)->next(batch, out.commands, out.errors);
    EXPECT_LE(out.commands.size() + out.errors.size() - before, batch);  // bounded batches
    ++calls;
    if (!more) {
      break;
    }
  }
  EXPECT_EQ(calls, out.total == 0 ? 1 : (out.total + batch - 1) / batch);
  out.format = (*reader)->format();
  return out;
}

json data_of(const CvrCommand& command) {
  return json::from_msgpack(std::vector<uint8_t>(command.command.data.begin(), command.command.data.end()));
}

TEST(CvrReader, Gen03CountsKeysAndIds) {
  const json raw = read_json(kGen03);
  const ReadAll all = read_all(kGen03, {"gen03", CvrFormat::kAuto, "", nullptr});
  EXPECT_EQ(all.format, CvrFormat::kNist);
  EXPECT_TRUE(all.errors.empty());
  ASSERT_EQ(all.commands.size(), raw["CVR"].size());
  ASSERT_EQ(all.commands.size(), 20u);
  std::set<std::string> ids;
  for (size_t i = 0; i < all.commands.size(); ++i) {
    const CvrCommand& c = all.commands[i];
    const json& cvr = raw["CVR"][i];
    EXPECT_EQ(c.index, i);
    EXPECT_EQ(c.unit, cvr["BallotStyleUnitId"]);
    EXPECT_EQ(c.command.key, unit_key("gen03", cvr["BallotStyleUnitId"].get<std::string>()));
    EXPECT_EQ(c.command.type, "cvr");
    // No UniqueId in these files: the BallotPrePrintedId names the ballot.
    EXPECT_EQ(c.command.id, "cvr/gen03/" + escape_segment(cvr["BallotPrePrintedId"].get<std::string>()));
    EXPECT_EQ(data_of(c), cvr);  // the CVR itself, unchanged
    ids.insert(c.command.id);
  }
  EXPECT_EQ(ids.size(), 20u);
  std::set<std::string> units;
  for (const CvrCommand& c : all.commands) {
    units.insert(c.unit);
  }
  EXPECT_EQ(units, (std::set<std::string>{"prec-ac", "prec-fs-23"}));
}

TEST(CvrReader, Gen01LandsOnTheBallotStyleUnits) {
  const ReadAll all = read_all(kGen01, {"gen01", CvrFormat::kNist, "", nullptr}, 1000);
  EXPECT_TRUE(all.errors.empty());
  EXPECT_EQ(all.commands.size(), 40u);
  std::set<std::string> units;
  for (const CvrCommand& c : all.commands) {
    units.insert(c.unit);
  }
  EXPECT_EQ(units, (std::set<std::string>{"cp-1-4-5-6", "cp-3-7-8-9", "ps-2a", "ps-2b"}));
}

TEST(CvrReader, CorruptedRecordsAreReportedByIndexAndTheRestGoOn) {
  json raw = read_json(kGen03);
  raw["CVR"][3] = "not a cvr";
  raw["CVR"][5].erase("CVRSnapshot");
  raw["CVR"][8]["CVRSnapshot"][0]["CVRContest"][0]["Overvotes"] = -1;
  raw["CVR"][11].erase("BallotStyleUnitId");
  raw["CVR"][14] = "BROKEN";
  quorum::test_support::ScratchDir dir("election-ingest");
  const std::string path = (dir.path() / "bad.json").string();
  std::string text = raw.dump();
  text.replace(text.find("\"BROKEN\""), 8, "[tru, 1]");  // brackets balance, the JSON does not parse
  std::ofstream(path) << text;
  const ReadAll all = read_all(path, {"gen03", CvrFormat::kNist, "", nullptr}, 4);
  ASSERT_EQ(all.errors.size(), 5u);
  EXPECT_EQ(all.commands.size(), 15u);
  EXPECT_EQ(all.errors[4].text(), path + "[#14]: the record is not valid JSON");
  EXPECT_EQ(all.errors[0].index, 3u);
  EXPECT_EQ(all.errors[0].text(), path + "[#3]: the CVR is not an object");
  EXPECT_EQ(all.errors[1].index, 5u);
  EXPECT_NE(all.errors[1].reason.find("CVRSnapshot"), std::string::npos);
  EXPECT_EQ(all.errors[2].index, 8u);
  EXPECT_NE(all.errors[2].reason.find("Overvotes"), std::string::npos);  // the tally reader's reason
  EXPECT_EQ(all.errors[3].index, 11u);
  EXPECT_NE(all.errors[3].reason.find("BallotStyleUnitId"), std::string::npos);
  for (const CvrCommand& c : all.commands) {
    EXPECT_TRUE(c.index != 3 && c.index != 5 && c.index != 8 && c.index != 11 && c.index != 14);
  }
}

TEST(CvrReader, FilesThatAreNotCvrsAreErrors) {
  quorum::test_support::ScratchDir dir("election-ingest");
  const std::string path = (dir.path() / "x.json").string();
  std::ofstream(path) << R"({"something": []})";
  auto reader = CvrFileReader::open(path, {"e", CvrFormat::kAuto, "", nullptr});
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.error().message.find(path), std::string::npos);
  std::ofstream(path) << "{broken";
  EXPECT_FALSE(CvrFileReader::open(path, {"e", CvrFormat::kAuto, "", nullptr}).ok());
  std::ofstream(path) << R"({"CVR": [{"a": 1}, {"b": [1, 2)";  // cut short
  reader = CvrFileReader::open(path, {"e", CvrFormat::kAuto, "", nullptr});
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.error().message.find("CVR[1] is cut short"), std::string::npos) << reader.error().message;
  std::ofstream(path) << "\xEF\xBB\xBF"
                      << R"({"CVR": [{"UniqueId": "u1", "BallotStyleUnitId": "p",
      "CVRSnapshot": [{"@id": "s", "CVRContest": []}]}]})";  // with a byte order mark
  reader = CvrFileReader::open(path, {"e", CvrFormat::kAuto, "", nullptr});
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ((*reader)->total(), 1u);
  std::ofstream(path) << R"({"CVR": []})";
  reader = CvrFileReader::open(path, {"e", CvrFormat::kAuto, "", nullptr});
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->total(), 0u);
  EXPECT_FALSE(CvrFileReader::open(kGen03, {"bad/id", CvrFormat::kAuto, "", nullptr}).ok());
  // A Dominion export without its manifests.
  EXPECT_FALSE(CvrFileReader::open(kDominion + "/CvrExport_24940.json", {"e", CvrFormat::kAuto, "", nullptr}).ok());
}

TEST(CvrReader, RctabIsReadLeniently) {
  // Strict NIST refuses Rank on positions and a missing BallotStyleUnitId.
  const ReadAll strict = read_all(kRctab, {"rcv1", CvrFormat::kNist, "", nullptr});
  EXPECT_TRUE(strict.commands.empty());
  ASSERT_EQ(strict.errors.size(), 15u);
  EXPECT_NE(strict.errors[0].reason.find("Rank"), std::string::npos);

  const ReadAll lenient = read_all(kRctab, {"rcv1", CvrFormat::kAuto, "", nullptr});
  EXPECT_EQ(lenient.format, CvrFormat::kRctab);
  EXPECT_TRUE(lenient.errors.empty());
  ASSERT_EQ(lenient.commands.size(), 15u);
  const json raw = read_json(kRctab);
  for (size_t i = 0; i < 15; ++i) {
    EXPECT_EQ(lenient.commands[i].unit, "gpu-election");  // the report's ElectionScopeId
    EXPECT_EQ(lenient.commands[i].command.id,
              "cvr/rcv1/" + escape_segment(raw["CVR"][i]["BallotPrePrintedId"].get<std::string>()));
    EXPECT_EQ(data_of(lenient.commands[i]), raw["CVR"][i]);  // Rank kept for the rcv plugin
  }
  const ReadAll unit = read_all(kRctab, {"rcv1", CvrFormat::kRctab, "p-1", nullptr});
  EXPECT_EQ(unit.commands.front().command.key, "election/rcv1/unit/p-1");
}

TEST(CvrReader, BallotIdsFallBackToFileHashAndIndex) {
  json raw = read_json(kGen03);
  for (json& cvr : raw["CVR"]) {
    cvr.erase("BallotPrePrintedId");
  }
  quorum::test_support::ScratchDir dir("election-ingest");
  const std::string path = (dir.path() / "anon.json").string();
  const std::string text = raw.dump();
  std::ofstream(path) << text;
  const ReadAll all = read_all(path, {"gen03", CvrFormat::kNist, "", nullptr});
  ASSERT_EQ(all.commands.size(), 20u);
  EXPECT_EQ(all.commands[7].command.id, "cvr/gen03/" + short_sha(text) + "-7");
}

// The Dominion export converted to NIST CVRs, checked against a reading of
// the raw sessions here: one ballot per session, its leaf the current
// portion, and per (contest, candidate) the marks that are votes equal the
// allocable votes the tally plugin's reader finds in the converted CVRs.
TEST(CvrReader, DominionSessionsBecomeNistCvrs) {
  auto manifest = load_dominion_manifest(kDominion);
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  const std::string path = kDominion + "/CvrExport_24940.json";
  const ReadAll all = read_all(path, {"sf", CvrFormat::kAuto, "", &*manifest}, 2);
  EXPECT_EQ(all.format, CvrFormat::kDominion);
  EXPECT_TRUE(all.errors.empty());
  const json raw = read_json(path);
  const json& sessions = raw["Sessions"];
  ASSERT_EQ(all.commands.size(), sessions.size());

  std::map<std::pair<std::string, std::string>, uint64_t> expected;
  std::map<std::pair<std::string, std::string>, uint64_t> counted;
  for (size_t i = 0; i < sessions.size(); ++i) {
    const json& session = sessions[i];
    const json& current = session.contains("Modified") && session["Modified"]["IsCurrent"].get<bool>()
                              ? session["Modified"]
                              : session["Original"];
    const std::string unique = std::to_string(session["TabulatorId"].get<int>()) + "-" +
                               std::to_string(session["BatchId"].get<int>()) + "-" +
                               std::to_string(session["RecordId"].get<int>());
    const std::string portion = std::to_string(current["PrecinctPortionId"].get<int>());
    EXPECT_EQ(all.commands[i].unit, portion);
    EXPECT_EQ(all.commands[i].command.key, "election/sf/unit/" + portion);
    EXPECT_EQ(all.commands[i].command.id, "cvr/sf/" + unique);
    for (const json& card : current["Cards"]) {
      for (const json& contest : card["Contests"]) {
        for (const json& mark : contest["Marks"]) {
          if (mark["IsVote"].get<bool>()) {
            ++expected[{std::to_string(contest["Id"].get<int>()), std::to_string(mark["CandidateId"].get<int>())}];
          }
        }
      }
    }
    const std::string& data = all.commands[i].command.data;
    msgpack::object_handle handle = msgpack::unpack(data.data(), data.size());
    quorum::plugins::cvr::Ballot ballot;
    ASSERT_EQ(quorum::plugins::cvr::read(handle.get(), ballot), "");
    EXPECT_EQ(ballot.ballot_style_unit_id, portion);
    for (const auto& contest : ballot.contests) {
      for (uint32_t s = contest.first; s < contest.first + contest.count; ++s) {
        const auto& selection = ballot.selections[s];
        if (selection.allocable_votes > 0) {
          counted[{std::string(contest.id), std::string(selection.id)}] += selection.allocable_votes;
        }
      }
    }
  }
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(counted, expected);

  // Ranked-choice contests keep their ranks; plurality ones carry none.
  const json first = data_of(all.commands[0]);
  bool saw_rank = false;
  for (const json& contest : first["CVRSnapshot"][0]["CVRContest"]) {
    const bool rcv = manifest->contests.at(std::stoll(contest["ContestId"].get<std::string>())).rcv;
    for (const json& selection : contest["CVRContestSelection"]) {
      for (const json& position : selection["SelectionPosition"]) {
        EXPECT_EQ(position.contains("Rank"), rcv);
        saw_rank = saw_rank || position.contains("Rank");
      }
    }
  }
  EXPECT_EQ(first["CurrentSnapshotId"], first["CVRSnapshot"][0]["@id"]);
  (void)saw_rank;
}

TEST(CvrReader, DominionBadSessionIsReportedAndTheRestGoOn) {
  auto manifest = load_dominion_manifest(kDominion);
  ASSERT_TRUE(manifest.ok());
  json raw = read_json(kDominion + "/CvrExport_24940.json");
  raw["Sessions"][1]["Original"]["PrecinctPortionId"] = 999999;
  raw["Sessions"][3]["Original"]["Cards"][0]["Contests"][0]["Marks"][0]["CandidateId"] = 424242;
  quorum::test_support::ScratchDir dir("election-ingest");
  const std::string path = (dir.path() / "CvrExport_1.json").string();
  std::ofstream(path) << raw.dump();
  const ReadAll all = read_all(path, {"sf", CvrFormat::kDominion, "", &*manifest});
  ASSERT_EQ(all.errors.size(), 2u);
  EXPECT_EQ(all.errors[0].index, 1u);
  EXPECT_NE(all.errors[0].reason.find("999999"), std::string::npos);
  EXPECT_EQ(all.errors[1].index, 3u);
  EXPECT_NE(all.errors[1].reason.find("424242"), std::string::npos);
  EXPECT_EQ(all.commands.size(), raw["Sessions"].size() - 2);
}

}  // namespace

namespace {

// An adjudicated session: Modified is current, its portion and marks count.
TEST(CvrReader, DominionModifiedCardSetIsTheCurrentSnapshot) {
  auto manifest = load_dominion_manifest(kDominion);
  ASSERT_TRUE(manifest.ok());
  json session = read_json(kDominion + "/CvrExport_24940.json")["Sessions"][0];
  session["Original"]["IsCurrent"] = false;
  json modified = session["Original"];
  modified["IsCurrent"] = true;
  modified["PrecinctPortionId"] = 7;
  modified["Cards"][0]["Contests"][0]["Marks"][0]["IsVote"] = false;  // adjudicated away
  session["Modified"] = modified;
  auto cvr = dominion_session_to_cvr(session, *manifest);
  ASSERT_TRUE(cvr.ok()) << cvr.error().message;
  EXPECT_EQ((*cvr)["BallotStyleUnitId"], "7");
  ASSERT_EQ((*cvr)["CVRSnapshot"].size(), 2u);
  EXPECT_EQ((*cvr)["CVRSnapshot"][0]["Type"], "interpreted");
  EXPECT_EQ((*cvr)["CVRSnapshot"][1]["Type"], "modified");
  EXPECT_EQ((*cvr)["CurrentSnapshotId"], (*cvr)["CVRSnapshot"][1]["@id"]);
  EXPECT_EQ((*cvr)["CVRSnapshot"][1]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["IsAllocable"],
            "no");
  EXPECT_EQ((*cvr)["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][0]["IsAllocable"],
            "yes");
  const std::vector<uint8_t> bytes = json::to_msgpack(*cvr);
  msgpack::object_handle handle = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  quorum::plugins::cvr::Ballot ballot;
  ASSERT_EQ(quorum::plugins::cvr::read(handle.get(), ballot), "");
  EXPECT_EQ(ballot.selections[ballot.contests[0].first].allocable_votes, 0u);  // the tally reads the modified set

  session.erase("Original");
  session.erase("Modified");
  EXPECT_FALSE(dominion_session_to_cvr(session, *manifest).ok());
}

TEST(CvrReader, BallotIdsAreEscapedIntoTheCommandId) {
  json raw = read_json(kGen03);
  raw["CVR"] = json::array({raw["CVR"][0]});
  raw["CVR"][0]["UniqueId"] = "box 7/ballot:12";
  quorum::test_support::ScratchDir dir("election-ingest");
  const std::string path = (dir.path() / "one.json").string();
  std::ofstream(path) << raw.dump();
  const ReadAll all = read_all(path, {"e", CvrFormat::kNist, "", nullptr});
  ASSERT_EQ(all.commands.size(), 1u);
  EXPECT_EQ(all.commands[0].command.id, "cvr/e/box:207:2Fballot:3A12");
}

}  // namespace
