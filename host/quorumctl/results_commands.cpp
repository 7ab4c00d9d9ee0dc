// quorumctl results: an election's results from GET /v1/results of --node
// (docs/quorumctl.md). The body is written as the node sent it (to stdout or
// -o FILE); --summary prints a table of each contest instead.
#include "ctl.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

namespace quorum::ctl {
namespace {

using client::HttpClient;
using client::Response;
using nlohmann::json;

struct ResultsOptions {
  std::string election;
  std::string format = "json";
  std::string output;
  bool summary = false;
};

std::string percent_text(const json& value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f%%", value.is_number() ? value.get<double>() : 0.0);
  return buffer;
}

int print_summary(const json& results) {
  const json& reporting = results.value("reporting", json::object());
  std::cout << "election " << json_cell(results["election"].value("id", json(""))) << " ("
            << json_cell(results["election"].value("name", json("")))
            << "): " << json_cell(results.value("status", json(""))) << ", "
            << json_cell(reporting.value("reported", json(0))) << " of " << json_cell(reporting.value("total", json(0)))
            << " precincts reported\n";
  for (const json& contest : results.value("contests", json::array())) {
    const json& r = contest.value("reporting", json::object());
    std::cout << "\n"
              << json_cell(contest.value("name", json(""))) << " [" << json_cell(contest.value("id", json(""))) << "]  "
              << json_cell(r.value("reported", json(0))) << "/" << json_cell(r.value("total", json(0)))
              << " precincts, " << json_cell(contest.value("ballots", json(0))) << " ballots, overvotes "
              << json_cell(contest.value("overvotes", json(0))) << ", undervotes "
              << json_cell(contest.value("undervotes", json(0))) << "\n";
    Table table({"SELECTION", "NAME", "VOTES", "PERCENT"});
    for (const json& s : contest.value("selections", json::array())) {
      table.add({json_cell(s.value("id", json(""))), json_cell(s.value("name", json(""))),
                 json_cell(s.value("votes", json(0))), percent_text(s.value("percent", json(0)))});
    }
    table.print();
    const json& rounds = contest.value("rounds", json::array());
    if (!rounds.empty()) {
      const json& last = rounds.back();
      std::cout << "ranked choice: " << rounds.size() << " round(s); "
                << (last.value("elected", json(nullptr)).is_string() ? "elected " + last["elected"].get<std::string>()
                                                                     : std::string("no winner yet"))
                << "\n";
    }
  }
  const json& audit = results.value("audit", json::object());
  if (!audit.value("computed", false)) {
    std::cout << "\naudit: not computed from these reads (quorumctl results --format audit)\n";
    return kExitOk;
  }
  std::cout << "\naudit: " << json_cell(audit.value("units_checked", json(0))) << " roll-up(s) checked, "
            << json_cell(audit.value("pending", json(0))) << " pending, "
            << audit.value("differences", json::array()).size() << " difference(s)\n";
  return kExitOk;
}

int run_results(const ResultsOptions& options, const Context& context) {
  if (options.summary && options.format != "json") {
    return fail(kExitUsage, "results: --summary reads the json format (drop --format)");
  }
  HttpClient::Options client_options;
  client_options.token = context.token;
  client_options.timeout = context.timeout;
  auto client = HttpClient::create(context.node_url, client_options);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  std::string target = "/v1/results?format=" + client::url_encode(options.format);
  if (!options.election.empty()) {
    target += "&election=" + client::url_encode(options.election);
  }
  Result<Response> response = (*client)->get(target);
  if (const int code = check_json(response, "results", context.json); code != kExitOk) {
    return code;
  }
  if (options.summary) {
    json results = json::parse(response->body, nullptr, false);
    if (results.is_discarded() || !results.is_object()) {
      return fail(kExitRefused, "results: the node answered with something that is not a JSON object");
    }
    return print_summary(results);
  }
  if (!options.output.empty()) {
    std::ofstream out(options.output, std::ios::binary | std::ios::trunc);
    out << response->body;
    out.close();
    if (!out) {
      return fail(kExitUsage, "results: cannot write " + options.output);
    }
    std::cerr << "results (" << options.format << ", " << response->body.size() << " bytes) written to "
              << options.output << "\n";
    return kExitOk;
  }
  std::cout << response->body;
  if (!response->body.empty() && response->body.back() != '\n') {
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

GroupRunner add_results_commands(CLI::App& app, const Context& context) {
  auto options = std::make_shared<ResultsOptions>();
  auto* results = app.add_subcommand("results", "an election's results (GET /v1/results)");
  results->add_option("--election", options->election, "election id (default: the last one loaded)");
  results->add_option("--format", options->format, "json, nist-err (NIST SP 1500-100 v2), ap, csv or audit")
      ->check(CLI::IsMember({"json", "nist-err", "ap", "csv", "audit"}))
      ->capture_default_str();
  results->add_option("-o,--output", options->output, "write to this file instead of stdout");
  results->add_flag("--summary", options->summary, "a table per contest instead of the raw json");
  return [results, options, &context]() -> std::optional<int> {
    if (!*results) {
      return std::nullopt;
    }
    return run_results(*options, context);
  };
}

}  // namespace quorum::ctl
