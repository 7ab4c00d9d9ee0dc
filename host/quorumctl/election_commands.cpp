// quorumctl election load | election close | ingest (docs/quorumctl.md; the
// issue-6 contract): load an election's definition into a cluster, stream
// cast vote records into its precincts, and close precincts. The sending
// (batches, bounded in flight, retries with the same ids) is
// batch_sender.hpp; the ids make every retry and every re-run idempotent.
#include "batch_sender.hpp"
#include "ctl.hpp"

#include <quorum/election/cvr_reader.hpp>
#include <quorum/election/definition.hpp>
#include <quorum/election/dominion.hpp>
#include <quorum/election/keys.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace quorum::ctl {

namespace {

using client::HttpClient;
using client::Response;
using client::url_encode;
using election::OutCommand;
using nlohmann::json;
namespace fs = std::filesystem;

// The manifests of a Dominion export: `path` is its directory or a file in it.
Result<election::DominionManifest> dominion_of(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return make_error(ErrorCode::kNotFound, path.string() + ": no such file or directory");
  }
  return election::load_dominion_manifest(fs::is_directory(path, ec) ? path : path.parent_path());
}

// ---- election load ----
int run_load(const Context& context, const std::string& path, std::string eid, const std::string& format,
             size_t batch) {
  std::error_code ec;
  const bool directory = fs::is_directory(path, ec);
  const std::string kind = format.empty() ? (directory ? "dominion" : "nist") : format;
  Result<election::ElectionDefinition> definition = make_error(ErrorCode::kInvalidArgument, "");
  if (kind == "dominion") {
    Result<election::DominionManifest> manifest = dominion_of(path);  // the directory, or a file's directory
    if (!manifest) {
      return fail(kExitUsage, "election load: " + manifest.error().message);
    }
    definition = std::move(manifest->definition);
  } else if (kind == "nist") {
    definition = election::load_nist_definition(path);
  } else {
    return fail(kExitUsage, "election load: --format must be nist or dominion");
  }
  if (!definition) {
    return fail(kExitUsage, "election load: " + definition.error().message);
  }
  if (eid.empty()) {
    std::string stem = fs::path(path).filename().stem().string();
    if (directory) {
      stem = fs::path(path).lexically_normal().filename().string();
      if (stem.empty()) {
        stem = fs::path(path).lexically_normal().parent_path().filename().string();
      }
    }
    eid = election::election_id_from_stem(stem);
  }
  Result<election::Hierarchy> hierarchy = election::compute_hierarchy(*definition);
  if (!hierarchy) {
    return fail(kExitUsage, "election load: " + path + ": " + hierarchy.error().message);
  }
  Result<election::LoadPlan> plan = election::plan_load(eid, *definition, *hierarchy);
  if (!plan) {
    return fail(kExitUsage, "election load: " + plan.error().message);
  }
  std::vector<Item> items;
  items.reserve(plan->commands.size());
  for (OutCommand& command : plan->commands) {
    std::string label = command.type + " " + command.key;
    items.push_back({std::move(command), std::move(label), ""});
  }
  const size_t count = items.size();
  ProgressBar bar("load " + eid, count, context.progress && !context.json);
  BatchSender sender(context, 2, context.json);
  push_all(sender, std::move(items), batch, [&] { bar.update(sender.answered()); });
  sender.drain();
  bar.update(sender.answered());
  bar.finish();
  if (const int code = sender.fatal()) {
    return code;
  }
  const Totals totals = sender.totals();
  if (context.json) {
    std::cout << json{{"election", eid},
                      {"units", plan->units},
                      {"leaves", plan->leaves},
                      {"contests", plan->contests},
                      {"pages", plan->pages},
                      {"commands", count},
                      {"committed", totals.committed},
                      {"duplicates", totals.duplicates},
                      {"refused", totals.refused},
                      {"errors", sender.take_errors()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "election " << eid << ": " << plan->units << " units (" << plan->leaves << " precincts), "
              << plan->contests << " contests\n";
  }
  if (totals.refused > 0) {
    return fail(kExitRefused, "election load: the node refused " + std::to_string(totals.refused) + " of " +
                                  std::to_string(count) + " commands");
  }
  return kExitOk;
}

// Close commands for `units` of `eid`.
std::vector<Item> close_items(const std::string& eid, const std::vector<std::string>& units) {
  std::vector<Item> items;
  for (const std::string& unit : units) {
    OutCommand command;
    command.key = election::unit_key(eid, unit);
    command.id = "close/" + eid + "/" + election::escape_segment(unit);
    command.type = "close";
    const std::vector<uint8_t> data = json::to_msgpack(json{{"election", eid}, {"unit", unit}});
    command.data.assign(data.begin(), data.end());
    items.push_back({std::move(command), "close " + unit, ""});
  }
  return items;
}

// "flush" commands for `units` of `eid`: each precinct sends its roll-ups
// the ballots it holds pending (docs/election-actors.md, flushing). `run`
// and `round` make the ids unique per ingest and per flush round, and the
// same on a retry (a flush with nothing pending changes nothing anyway).
std::vector<Item> flush_items(const std::string& eid, const std::vector<std::string>& units, const std::string& run,
                              uint64_t round) {
  std::vector<Item> items;
  items.reserve(units.size());
  for (const std::string& unit : units) {
    OutCommand command;
    command.key = election::unit_key(eid, unit);
    command.id = "flush/" + run + "/" + std::to_string(round) + "/" + election::escape_segment(unit);
    command.type = "flush";
    const std::vector<uint8_t> data = json::to_msgpack(json::object());
    command.data.assign(data.begin(), data.end());
    Item item{std::move(command), "flush " + unit, ""};
    item.flush = true;
    items.push_back(std::move(item));
  }
  return items;
}

// A token naming one ingest run (the flush ids' prefix).
std::string run_token() {
  std::random_device device;
  char text[17];
  std::snprintf(text, sizeof text, "%08x%08x", device(), device());
  return text;
}

// The data of the first log entry of `key` with `type` (the loader's
// definition / units command), read from the log so it works whatever
// handlers the node runs.
Result<json> first_entry_data(HttpClient& client, const std::string& key, const std::string& type) {
  Result<Response> response = client.get("/v1/actors/" + url_encode(key) + "/log?from=1&limit=100");
  if (!response) {
    return response.error();
  }
  if (response->status == 404) {
    return make_error(ErrorCode::kNotFound, key + " has no entries: load the election first");
  }
  if (!response->ok()) {
    return make_error(ErrorCode::kRejected,
                      key + ": HTTP " + std::to_string(response->status) + ": " + response->error_text());
  }
  json body = json::parse(response->body, nullptr, false);
  if (body.is_object() && body.contains("entries") && body["entries"].is_array()) {
    for (const json& entry : body["entries"]) {
      if (entry.is_object() && entry.value("type", "") == type && entry.contains("data")) {
        return entry["data"];
      }
    }
  }
  return make_error(ErrorCode::kNotFound, key + " holds no " + type + " command: load the election first");
}

int run_close(const Context& context, const std::string& eid, bool all, std::vector<std::string> units, size_t batch) {
  if (!election::valid_election_id(eid)) {
    return fail(kExitUsage, "election close: '" + eid + "' is not a valid election id");
  }
  if (all == !units.empty()) {
    return fail(kExitUsage, "election close: give --all or UNIT..., not both");
  }
  if (all) {
    HttpClient::Options options;
    options.token = context.token;
    options.timeout = context.timeout;
    auto client = HttpClient::create(context.node_url, options);
    if (!client) {
      return fail(kExitUsage, client.error().message);
    }
    Result<json> definition = first_entry_data(**client, election::election_key(eid), "definition");
    if (!definition) {
      return fail(definition.error().code == ErrorCode::kUnavailable ? kExitUnreachable : kExitRefused,
                  "election close: " + definition.error().message);
    }
    const uint64_t pages = definition->value("pages", uint64_t{0});
    for (uint64_t page = 0; page < pages; ++page) {
      Result<json> directory = first_entry_data(**client, election::directory_key(eid, page), "units");
      if (!directory) {
        return fail(directory.error().code == ErrorCode::kUnavailable ? kExitUnreachable : kExitRefused,
                    "election close: " + directory.error().message);
      }
      for (const json& unit : directory->value("units", json::array())) {
        if (unit.is_object() && unit.value("leaf", false) && unit.contains("id") && unit["id"].is_string()) {
          units.push_back(unit["id"].get<std::string>());
        }
      }
    }
  }
  const size_t count = units.size();
  BatchSender sender(context, 2, context.json);
  push_all(sender, close_items(eid, units), batch);
  sender.drain();
  if (const int code = sender.fatal()) {
    return code;
  }
  const Totals totals = sender.totals();
  if (context.json) {
    std::cout << json{{"election", eid},
                      {"units", count},
                      {"closed", totals.committed},
                      {"already_closed", totals.duplicates},
                      {"refused", totals.refused},
                      {"errors", sender.take_errors()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "closed " << totals.committed << " of " << count << " precincts of " << eid << " ("
              << totals.duplicates << " already closed, " << totals.refused << " refused)\n";
  }
  return totals.refused > 0 ? kExitRefused : kExitOk;
}

// ---- ingest ----
struct IngestOptions {
  std::vector<std::string> files;
  std::string election;
  std::string format = "auto";
  std::string unit;  // rctab: leaf for CVRs without BallotStyleUnitId
  double rate = 0;   // ballots per second, 0 = as fast as the node takes them
  bool no_close = false;
  size_t batch = 1000;
  size_t senders = 4;
};

int run_ingest(const Context& context, const IngestOptions& options) {
  Result<election::CvrFormat> format = election::parse_cvr_format(options.format);
  if (!format) {
    return fail(kExitUsage, "ingest: " + format.error().message);
  }
  if (!election::valid_election_id(options.election)) {
    return fail(kExitUsage, "ingest: --election '" + options.election + "' is not a valid election id");
  }
  size_t batch = std::clamp<size_t>(options.batch, 1, kMaxBatchCommands);
  if (options.rate > 0) {  // small batches make a steady stream
    batch = std::min(batch, std::max<size_t>(1, static_cast<size_t>(options.rate / 10)));
  }
  const auto started = std::chrono::steady_clock::now();  // the summary's time: checking the files included
  // Every file is checked (and its records counted) before anything is
  // sent: a file that cannot be read changes nothing.
  std::map<fs::path, election::DominionManifest> manifests;  // by directory
  std::vector<election::ReaderOptions> reader_options;
  uint64_t total = 0;
  for (const std::string& path : options.files) {
    election::ReaderOptions file_options;
    file_options.election = options.election;
    file_options.format = *format;
    file_options.default_unit = options.unit;
    const fs::path directory = fs::path(path).parent_path();
    std::error_code ec;
    const bool has_manifests = fs::exists(directory / "ContestManifest.json", ec);
    if (*format == election::CvrFormat::kDominion || (*format == election::CvrFormat::kAuto && has_manifests)) {
      auto found = manifests.find(directory);
      if (found == manifests.end()) {
        Result<election::DominionManifest> manifest = dominion_of(path);
        if (!manifest) {
          return fail(kExitUsage, "ingest: " + manifest.error().message);
        }
        found = manifests.emplace(directory, std::move(*manifest)).first;
      }
      file_options.dominion = &found->second;
    }
    Result<std::unique_ptr<election::CvrFileReader>> reader = election::CvrFileReader::open(path, file_options);
    if (!reader) {
      return fail(kExitUsage, "ingest: " + reader.error().message);
    }
    total += (*reader)->total();
    reader_options.push_back(std::move(file_options));
  }

  const auto start = std::chrono::steady_clock::now();
  BatchSender sender(context, options.senders, context.json);
  ProgressBar bar("ingest", total, context.progress && !context.json);
  uint64_t malformed = 0;
  uint64_t pushed = 0;
  std::vector<std::string> local_errors;
  int code = kExitOk;
  Batch next;  // carried across files: many small files still make full batches
  // Once a second, the precincts that took ballots since the last round
  // are told to flush, so roll-ups follow a stream within about a second
  // (the handler flushes by itself every 100 ballots, and close flushes).
  const std::string run = run_token();
  uint64_t flush_round = 0;
  auto last_flush = std::chrono::steady_clock::now();
  const auto send_flushes = [&] {
    last_flush = std::chrono::steady_clock::now();
    std::vector<std::string> units = sender.take_unflushed();
    if (!units.empty()) {
      push_all(sender, flush_items(options.election, units, run, ++flush_round), kMaxBatchCommands);
    }
  };
  const auto flush = [&] {
    pushed += next.items.size();
    if (options.rate > 0) {  // pace: `pushed` ballots are due at start + pushed / rate
      const auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(pushed) / options.rate));
      std::this_thread::sleep_until(due);
    }
    sender.push(std::move(next));
    next = Batch{};
    bar.update(sender.answered() + malformed);
    if (std::chrono::steady_clock::now() - last_flush >= std::chrono::seconds(1)) {
      send_flushes();
    }
  };
  for (size_t f = 0; f < options.files.size() && sender.fatal() == 0; ++f) {
    // Opened again (the first pass above kept nothing): one open file at a time.
    Result<std::unique_ptr<election::CvrFileReader>> reader =
        election::CvrFileReader::open(options.files[f], reader_options[f]);
    if (!reader) {
      code = fail(kExitUsage, "ingest: " + reader.error().message);
      break;
    }
    election::CvrFileReader& file = **reader;
    bool more = file.total() > 0;
    while (more && sender.fatal() == 0) {
      std::vector<election::CvrCommand> commands;
      std::vector<election::RecordError> errors;
      more = file.next(batch - next.items.size(), commands, errors);
      for (const election::RecordError& error : errors) {
        ++malformed;
        if (local_errors.size() < kMaxErrorsPrinted) {
          local_errors.push_back(error.text());
          if (!context.json) {
            std::cerr << "\r" << error.text() << "\n";
          }
        }
      }
      for (election::CvrCommand& command : commands) {
        std::string label = file.file() + "[#" + std::to_string(command.index) + "]";
        next.bytes += command.command.data.size();
        next.items.push_back({std::move(command.command), std::move(label), std::move(command.unit)});
      }
      if (next.items.size() >= batch || next.bytes >= kMaxBatchBytes) {
        flush();
      }
    }
  }
  if (sender.fatal() == 0) {
    flush();
  }
  sender.drain();
  if (options.no_close && sender.fatal() == 0) {  // else close flushes
    send_flushes();
    sender.drain();
  }
  bar.update(sender.answered() + malformed);
  bar.finish();
  if (code == kExitOk) {
    code = sender.fatal();
  }
  Totals totals = sender.totals();
  uint64_t closed = 0;
  uint64_t close_refused = 0;
  if (code == kExitOk && !options.no_close && !totals.accepted_units.empty()) {
    std::vector<std::string> units(totals.accepted_units.begin(), totals.accepted_units.end());
    BatchSender closer(context, 2, context.json);
    push_all(closer, close_items(options.election, units), kMaxBatchCommands);
    closer.drain();
    code = closer.fatal();
    const Totals close_totals = closer.totals();
    closed = close_totals.committed + close_totals.duplicates;
    close_refused = close_totals.refused;
    for (std::string& error : closer.take_errors()) {
      local_errors.push_back(std::move(error));
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const uint64_t ingested = totals.committed + totals.duplicates;
  const uint64_t refused = totals.refused + malformed;
  if (context.json) {
    std::vector<std::string> errors = sender.take_errors();
    errors.insert(errors.end(), local_errors.begin(), local_errors.end());
    std::cout << json{{"election", options.election},
                      {"ingested", ingested},
                      {"committed", totals.committed},
                      {"duplicates", totals.duplicates},
                      {"refused", refused},
                      {"closed", closed},
                      {"close_refused", close_refused},
                      {"flushes", totals.flushes},
                      {"seconds", seconds},
                      {"errors", errors}}
                     .dump()
              << "\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof line, "ingested %llu ballots (%llu duplicates, %llu refused) in %.1f s",
                  static_cast<unsigned long long>(ingested), static_cast<unsigned long long>(totals.duplicates),
                  static_cast<unsigned long long>(refused), seconds);
    std::cout << line << "\n";
    if (!options.no_close && closed + close_refused > 0) {
      std::cout << "closed " << closed << " precincts"
                << (close_refused ? " (" + std::to_string(close_refused) + " refused)" : std::string()) << "\n";
    }
  }
  if (code != kExitOk) {
    return code;
  }
  return refused > 0 || close_refused > 0 ? kExitRefused : kExitOk;
}

}  // namespace

GroupRunner add_election_commands(CLI::App& app, const Context& context) {
  auto* group = app.add_subcommand("election", "elections: load a definition, close precincts");
  group->require_subcommand(1);

  struct State {
    std::string load_path, load_id, load_format;
    size_t batch = 1000;
    std::string close_id;
    bool close_all = false;
    std::vector<std::string> close_units;
    IngestOptions ingest;
  };
  auto state = std::make_shared<State>();

  auto* load = group->add_subcommand("load", "send an election's definition, directory and unit configs");
  load->add_option("file", state->load_path, "a NIST pe-err JSON file, or a Dominion export directory")->required();
  load->add_option("--id", state->load_id, "election id [A-Za-z0-9.-]{1,64} (default: the file's stem)");
  load->add_option("--format", state->load_format, "nist or dominion (default: dominion for a directory)")
      ->check(CLI::IsMember({"nist", "dominion"}));
  load->add_option("--batch", state->batch, "commands per request (1..10000)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();

  auto* close = group->add_subcommand("close", "close precincts: they have reported all their ballots");
  close->add_option("election", state->close_id, "election id")->required();
  close->add_option("units", state->close_units, "unit ids (as in the election files)");
  close->add_flag("--all", state->close_all, "every precinct (leaf) of the election");

  auto* ingest = app.add_subcommand("ingest", "send cast vote records to an election's precincts");
  IngestOptions& in = state->ingest;
  ingest->add_option("files", in.files, "CVR files: NIST SP 1500-103 JSON, RCTab JSON, Dominion CvrExport*.json")
      ->required();
  ingest->add_option("--election", in.election, "election id")->required();
  ingest->add_option("--format", in.format, "auto, nist, rctab or dominion")
      ->check(CLI::IsMember({"auto", "nist", "rctab", "dominion"}))
      ->capture_default_str();
  ingest->add_option("--unit", in.unit, "rctab: the precinct of CVRs without BallotStyleUnitId");
  ingest->add_option("--rate", in.rate, "ballots per second, a steady stream (default: as fast as possible)")
      ->check(CLI::PositiveNumber);
  ingest->add_flag("--no-close", in.no_close, "do not close the precincts that received ballots");
  ingest->add_option("--batch", in.batch, "ballots per request (1..10000)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  ingest->add_option("--parallel", in.senders, "requests in flight (1..16)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();

  return [&context, state, load, close, ingest]() -> std::optional<int> {
    if (*load) {
      return run_load(context, state->load_path, state->load_id, state->load_format, state->batch);
    }
    if (*close) {
      return run_close(context, state->close_id, state->close_all, state->close_units, state->batch);
    }
    if (*ingest) {
      return run_ingest(context, state->ingest);
    }
    return std::nullopt;
  };
}

}  // namespace quorum::ctl
