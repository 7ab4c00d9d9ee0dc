// quorum-replay: feeds the cast vote records of a NIST SP 1500-103 file through
// the shipped plugins, one in-memory actor per precinct, hot-swaps a handler
// to another version in the middle of the stream, and prints the results —
// optionally checked against the certified NIST SP 1500-100 results.
//
// It is the main job until the node and the cluster exist, and a small
// verifier's tool afterwards: the same plugins, the same runner, the same
// bytes as every node.
//
//   quorum-replay --plugins build/release/plugins --cvr cvr-gen-03.json
//       --election pe-err-gen-03.json --certified err-gen-03.json
//       --swap tally=2.0.0 --swap-after 10
#include <quorum/host/plugin_host.hpp>
#include <quorum/host/projection_runner.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using quorum::host::ActorProjections;
using quorum::host::PluginHost;
using quorum::host::ProjectionRunner;
using quorum::host::VectorHistory;
using quorum::host::VersionId;

struct Options {
  fs::path plugin_dir;
  fs::path cvr_file;
  fs::path election_file;   // optional: names of contests and candidates
  fs::path certified_file;  // optional: certified results to check against
  fs::path cache_dir;
  std::string swap;         // "name=semver"
  size_t swap_after = 0;
  std::string election_key = "demo";
};

// One actor: its projections and its accepted messages, in memory.
struct Actor {
  ActorProjections projections;
  std::vector<std::string> history;
};

std::optional<json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "quorum-replay: cannot open " << path << "\n";
    return std::nullopt;
  }
  json document = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    std::cerr << "quorum-replay: " << path << " is not valid JSON\n";
    return std::nullopt;
  }
  return document;
}

// Plugin files are named <handler>-<semver>.so.
struct PluginFile {
  std::string name;
  std::string semver;
  fs::path path;
};

std::vector<PluginFile> find_plugins(const fs::path& dir) {
  static const std::regex pattern(R"(([a-z0-9_]+)-(\d+\.\d+\.\d+)\.so)");
  std::vector<PluginFile> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch match;
    const std::string file_name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(file_name, match, pattern)) {
      files.push_back({match[1], match[2], entry.path()});
    }
  }
  std::sort(files.begin(), files.end(), [](const PluginFile& a, const PluginFile& b) {
    return std::tie(a.name, a.semver) < std::tie(b.name, b.semver);
  });
  return files;
}

std::string text_of(const json& internationalized) {
  if (internationalized.contains("Text") && !internationalized["Text"].empty()) {
    return internationalized["Text"][0].value("Content", "");
  }
  return "";
}

// Display names from a NIST pre-election report (ElectionReport).
struct Names {
  std::map<std::string, std::string> contests;
  std::map<std::string, std::string> selections;
  std::vector<std::string> contest_order;
  std::map<std::string, std::vector<std::string>> composing;  // gp unit -> composing units
};

Names read_names(const json& report) {
  Names names;
  std::map<std::string, std::string> candidates;
  for (const auto& gp_unit : report.value("GpUnit", json::array())) {
    names.composing[gp_unit.value("@id", "")] = gp_unit.value("ComposingGpUnitIds", std::vector<std::string>{});
  }
  for (const auto& election : report.value("Election", json::array())) {
    for (const auto& candidate : election.value("Candidate", json::array())) {
      candidates[candidate.value("@id", "")] = text_of(candidate.value("BallotName", json::object()));
    }
    for (const auto& contest : election.value("Contest", json::array())) {
      const std::string contest_id = contest.value("@id", "");
      names.contest_order.push_back(contest_id);
      names.contests[contest_id] = contest.value("Name", contest_id);
      for (const auto& selection : contest.value("ContestSelection", json::array())) {
        std::string label;
        if (selection.value("IsWriteIn", false)) {
          label = "Write-in";
        } else if (selection.contains("CandidateIds")) {
          for (const auto& candidate_id : selection["CandidateIds"]) {
            label += (label.empty() ? "" : " & ") + candidates[candidate_id.get<std::string>()];
          }
        } else if (selection.contains("Selection")) {
          label = text_of(selection["Selection"]);
        }
        names.selections[selection.value("@id", "")] = label;
      }
    }
  }
  return names;
}

// The tally projection of one actor as JSON (the layout is documented in
// plugins/tally/tally.hpp).
json tally_of(const Actor& actor) {
  auto it = actor.projections.find("tally");
  if (it == actor.projections.end() || it->second.live.bytes.empty()) {
    return json::object();
  }
  const std::string& bytes = it->second.live.bytes;
  return json::from_msgpack(bytes.begin(), bytes.end());
}

// Precincts composing `unit`, recursively (a precinct composes itself).
std::set<std::string> precincts_of(const Names& names, const std::string& unit) {
  std::set<std::string> result;
  auto it = names.composing.find(unit);
  if (it == names.composing.end() || it->second.empty()) {
    result.insert(unit);
    return result;
  }
  for (const auto& child : it->second) {
    auto below = precincts_of(names, child);
    result.insert(below.begin(), below.end());
  }
  return result;
}

int run(const Options& options) {
  auto cvr_report = read_json(options.cvr_file);
  if (!cvr_report) {
    return 1;
  }
  Names names;
  if (!options.election_file.empty()) {
    auto election = read_json(options.election_file);
    if (!election) {
      return 1;
    }
    names = read_names(*election);
  }

  PluginHost host(PluginHost::Options{.cache_dir = options.cache_dir});
  ProjectionRunner runner(host);

  // Load every plugin file; activate the lowest version of each handler.
  std::map<std::string, std::map<std::string, VersionId>> versions;  // name -> semver -> id
  for (const PluginFile& file : find_plugins(options.plugin_dir)) {
    auto loaded = host.load(file.name, file.path);
    if (!loaded) {
      std::cerr << "quorum-replay: refused " << file.path.filename() << ": " << loaded.error().message << "\n";
      return 1;
    }
    const bool first = versions[file.name].empty();
    versions[file.name][file.semver] = *loaded;
    if (first) {
      if (auto status = host.activate(file.name, *loaded); !status) {
        std::cerr << "quorum-replay: " << status.error().message << "\n";
        return 1;
      }
    }
  }
  if (versions.empty()) {
    std::cerr << "quorum-replay: no plugins (<name>-<semver>.so) in " << options.plugin_dir << "\n";
    return 1;
  }
  std::printf("plugins:");
  for (const auto& slot : host.list()) {
    for (const auto& version : slot.versions) {
      std::printf("  %s %s%s", slot.name.c_str(), version.semver.c_str(),
                  version.id == slot.active ? " (active)" : " (standby)");
    }
  }
  std::printf("\n");

  // Parse the swap request.
  std::string swap_name;
  std::string swap_semver;
  if (!options.swap.empty()) {
    const auto equals = options.swap.find('=');
    swap_name = options.swap.substr(0, equals);
    swap_semver = equals == std::string::npos ? "" : options.swap.substr(equals + 1);
    if (!versions.count(swap_name) || !versions[swap_name].count(swap_semver)) {
      std::cerr << "quorum-replay: --swap " << options.swap << ": no such plugin version loaded\n";
      return 1;
    }
  }

  // Interleave the precincts' ballots (round-robin, deterministic), as they
  // would arrive on election night, so the swap lands in every actor's stream.
  std::map<std::string, std::vector<const json*>> by_precinct;
  for (const json& cvr : (*cvr_report)["CVR"]) {
    by_precinct[cvr.value("BallotStyleUnitId", "unknown")].push_back(&cvr);
  }
  std::vector<const json*> stream;
  for (size_t round = 0; stream.size() < (*cvr_report)["CVR"].size(); ++round) {
    for (const auto& [precinct, ballots] : by_precinct) {
      if (round < ballots.size()) {
        stream.push_back(ballots[round]);
      }
    }
  }
  const size_t swap_after = options.swap_after != 0 ? options.swap_after : stream.size() / 2;
  std::map<std::string, Actor> actors;  // precinct -> actor
  size_t accepted = 0;
  size_t refused = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t index = 0; index < stream.size(); ++index) {
    if (!swap_name.empty() && index == swap_after) {
      const auto swap_start = std::chrono::steady_clock::now();
      auto status = host.swap(swap_name, versions[swap_name][swap_semver]);
      const auto swap_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - swap_start);
      if (!status) {
        std::cerr << "quorum-replay: swap failed: " << status.error().message << "\n";
        return 1;
      }
      std::printf("== hot-swap: %s is now %s (after %zu ballots; the swap took %.1f us, messages kept flowing)\n",
                  swap_name.c_str(), swap_semver.c_str(), index, swap_us.count());
    }
    const json& cvr = *stream[index];
    const std::string precinct = cvr.value("BallotStyleUnitId", "unknown");
    const std::string ballot_id = cvr.value("BallotPrePrintedId", cvr.value("UniqueId", std::to_string(index)));
    const std::string key = "e/" + options.election_key + "/precinct/" + precinct;
    const json envelope = {{"id", ballot_id}, {"type", "cvr"}, {"time", 0}, {"data", cvr}};
    const std::vector<uint8_t> bytes = json::to_msgpack(envelope);
    const std::string message(bytes.begin(), bytes.end());

    Actor& actor = actors[precinct];
    VectorHistory history(actor.history);
    auto result = runner.run(key, actor.projections, history, message);
    if (!result.ok()) {
      ++refused;
      std::printf("ballot %3zu  %-22s refused by %s: %s\n", index + 1, ballot_id.c_str(), result.handler.c_str(),
                  result.error.c_str());
      continue;
    }
    const uint32_t schema_before =
        actor.projections.count("tally") ? actor.projections.at("tally").live.projection_schema : 0;
    const size_t history_before = actor.history.size();
    actor.projections = std::move(result.projections);
    actor.history.push_back(message);
    ++accepted;
    const auto& tally = actor.projections.at("tally").live;
    std::printf("ballot %3zu  %-22s -> %-32s seq %-3zu tally %s (schema %u)%s\n", index + 1, ballot_id.c_str(),
                key.c_str(), actor.history.size(), host.version(tally.version)->semver().c_str(),
                tally.projection_schema,
                schema_before != 0 && schema_before != tally.projection_schema
                    ? (" <- rebuilt by replaying " + std::to_string(history_before) + " earlier ballots").c_str()
                    : "");
  }
  // Bring every actor to the versions now active (a reader after a swap
  // sees projections in the current schema).
  for (auto& [precinct, actor] : actors) {
    VectorHistory history(actor.history);
    auto refreshed = runner.refresh(precinct, actor.projections, history);
    if (!refreshed) {
      std::cerr << "quorum-replay: refreshing " << precinct << ": " << refreshed.error().message << "\n";
      return 1;
    }
    actor.projections = std::move(*refreshed);
  }
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n%zu ballots accepted, %zu refused, in %.2f ms\n", accepted, refused, elapsed_ms);

  // Results: precincts and the sum over all of them.
  std::map<std::string, std::map<std::string, uint64_t>> totals;  // contest -> selection -> votes
  std::map<std::string, std::pair<uint64_t, uint64_t>> other;     // contest -> {over, under}
  std::map<std::string, uint64_t> contest_ballots;                 // contest -> ballots (tally schema 2)
  for (const auto& [precinct, actor] : actors) {
    const json contests = tally_of(actor).value("contests", json::object());
    for (const auto& [contest_id, contest] : contests.items()) {
      const json selections = contest.value("selections", json::object());
      for (const auto& [selection_id, votes] : selections.items()) {
        totals[contest_id][selection_id] += votes.get<uint64_t>();
      }
      other[contest_id].first += contest.value("overvotes", uint64_t{0});
      other[contest_id].second += contest.value("undervotes", uint64_t{0});
      contest_ballots[contest_id] += contest.value("ballots", uint64_t{0});
    }
  }
  std::vector<std::string> order = names.contest_order;
  for (const auto& [contest_id, unused] : totals) {
    if (std::find(order.begin(), order.end(), contest_id) == order.end()) {
      order.push_back(contest_id);
    }
  }
  std::printf("\nRESULTS (%zu precincts)\n", actors.size());
  for (const auto& contest_id : order) {
    if (!totals.count(contest_id)) {
      continue;
    }
    uint64_t contest_total = 0;
    for (const auto& [unused, votes] : totals[contest_id]) {
      contest_total += votes;
    }
    const std::string title = names.contests.count(contest_id) ? names.contests[contest_id] : contest_id;
    std::printf("\n%s  [%s]\n", title.c_str(), contest_id.c_str());
    for (const auto& [selection_id, votes] : totals[contest_id]) {
      const std::string label = names.selections.count(selection_id) ? names.selections[selection_id] : "";
      const double share = contest_total == 0 ? 0.0 : 100.0 * static_cast<double>(votes) / contest_total;
      std::printf("  %-20s %-28s %6llu  %5.1f%%  %s\n", selection_id.c_str(), label.c_str(),
                  static_cast<unsigned long long>(votes), share,
                  std::string(static_cast<size_t>(share / 4), '#').c_str());
    }
    std::printf("  ballots %llu, overvotes %llu, undervotes %llu\n",
                static_cast<unsigned long long>(contest_ballots[contest_id]),
                static_cast<unsigned long long>(other[contest_id].first),
                static_cast<unsigned long long>(other[contest_id].second));
  }

  // Other handlers' views, briefly.
  for (const auto& slot : host.list()) {
    if (slot.name == "tally") {
      continue;
    }
    std::printf("\n%s:", slot.name.c_str());
    for (const auto& [precinct, actor] : actors) {
      auto it = actor.projections.find(slot.name);
      if (it != actor.projections.end() && !it->second.live.bytes.empty()) {
        const std::string& bytes = it->second.live.bytes;
        std::string summary = json::from_msgpack(bytes.begin(), bytes.end()).dump();
        if (summary.size() > 160) {
          summary = summary.substr(0, 157) + "...";
        }
        std::printf("\n  %s: %s", precinct.c_str(), summary.c_str());
      }
    }
    std::printf("\n");
  }

  if (options.certified_file.empty()) {
    return refused == 0 ? 0 : 2;
  }
  // Check every certified VoteCounts entry: a precinct's count comes from its
  // actor, a larger unit's from the sum over the precincts composing it.
  auto certified = read_json(options.certified_file);
  if (!certified) {
    return 1;
  }
  size_t checked = 0;
  size_t mismatched = 0;
  std::map<std::string, json> precinct_tallies;
  for (const auto& [precinct, actor] : actors) {
    precinct_tallies[precinct] = tally_of(actor);
  }
  for (const auto& election : (*certified)["Election"]) {
    for (const auto& contest : election.value("Contest", json::array())) {
      const std::string contest_id = contest.value("@id", "");
      for (const auto& selection : contest.value("ContestSelection", json::array())) {
        const std::string selection_id = selection.value("@id", "");
        for (const auto& count : selection.value("VoteCounts", json::array())) {
          const std::string unit = count.value("GpUnitId", "");
          uint64_t ours = 0;
          for (const auto& precinct : precincts_of(names, unit)) {
            auto it = precinct_tallies.find(precinct);
            if (it == precinct_tallies.end()) {
              continue;
            }
            const json& contests = (*it).second.value("contests", json::object());
            if (contests.contains(contest_id) && contests[contest_id]["selections"].contains(selection_id)) {
              ours += contests[contest_id]["selections"][selection_id].get<uint64_t>();
            }
          }
          ++checked;
          if (ours != count.value("Count", uint64_t{0})) {
            ++mismatched;
            std::printf("MISMATCH %s %s at %s: certified %llu, ours %llu\n", contest_id.c_str(), selection_id.c_str(),
                        unit.c_str(), static_cast<unsigned long long>(count.value("Count", uint64_t{0})),
                        static_cast<unsigned long long>(ours));
          }
        }
      }
    }
  }
  std::printf("\ncertified results (%s): %zu of %zu counts match%s\n",
              options.certified_file.filename().c_str(), checked - mismatched, checked,
              mismatched == 0 ? " - exact" : " - MISMATCH");
  return mismatched == 0 && refused == 0 ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"quorum-replay: feed NIST cast vote records through Quorum's plugins, with a hot-swap mid-stream"};
  app.add_option("--plugins", options.plugin_dir, "directory of <handler>-<semver>.so plugin files")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--cvr", options.cvr_file, "NIST SP 1500-103 cast vote record report (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--election", options.election_file, "NIST SP 1500-100 pre-election report, for names")
      ->check(CLI::ExistingFile);
  app.add_option("--certified", options.certified_file, "NIST SP 1500-100 certified results to check against")
      ->check(CLI::ExistingFile);
  app.add_option("--swap", options.swap, "hot-swap a handler to another loaded version: name=semver");
  app.add_option("--swap-after", options.swap_after, "ballots to feed before the swap")->default_val(0);
  app.add_option("--cache", options.cache_dir, "where content-addressed plugin copies go (default: a temp dir)");
  app.add_option("--election-key", options.election_key, "election part of the actor keys")->default_val("demo");
  CLI11_PARSE(app, argc, argv);

  std::error_code error;
  bool temporary_cache = false;
  if (options.cache_dir.empty()) {
    options.cache_dir = fs::temp_directory_path() / ("quorum-replay-" + std::to_string(::getpid()));
    temporary_cache = true;
  }
  fs::create_directories(options.cache_dir, error);
  if (error) {
    std::cerr << "quorum-replay: cannot create " << options.cache_dir << ": " << error.message() << "\n";
    return 1;
  }
  const int status = run(options);
  if (temporary_cache) {
    fs::remove_all(options.cache_dir, error);
  }
  return status;
}
