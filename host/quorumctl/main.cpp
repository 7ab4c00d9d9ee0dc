// quorumctl: the operator's command line for a quorumd node (docs/quorumctl.md).
//
//   quorumctl [--node URL] [--token T] [--json] <status|send|get|log|tail|plugin> ...
//
// Exit codes: 0 ok, 1 usage, 2 the server refused, 3 the node is unreachable.
#include "ctl.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  using namespace quorum::ctl;
  CLI::App app{"quorumctl: operate a Quorum node over its HTTP API"};
  app.require_subcommand(1);
  app.fallthrough();

  Context context;
  context.node_url = "http://127.0.0.1:8080";
  uint64_t timeout_s = 30;
  bool no_progress = false;
  app.add_option("--node", context.node_url, "the node's base URL (env QUORUM_NODE)")
      ->envname("QUORUM_NODE")
      ->capture_default_str();
  app.add_option("--token", context.token, "bearer token for writes and plugin operations (env QUORUM_TOKEN)")
      ->envname("QUORUM_TOKEN");
  app.add_flag("--json", context.json, "machine-readable JSON on stdout");
  app.add_flag("--no-progress", no_progress, "no progress bars");
  app.add_option("--timeout", timeout_s, "seconds to wait for each answer")->check(CLI::Range(1, 3600));

  auto* status = app.add_subcommand("status", "health and a metrics summary");

  auto* send = app.add_subcommand("send", "submit one command, or a batch from an NDJSON file");
  std::string send_key, send_type, send_id, send_data = "null", send_file;
  size_t send_batch = 1000;
  send->add_option("key", send_key, "actor key, e.g. e/demo/precinct/p1");
  send->add_option("--type", send_type, "command type, e.g. cvr");
  send->add_option("--id", send_id, "idempotency id (a ballot id): makes retries safe");
  send->add_option("--data", send_data, "command data: JSON text, or @file");
  send->add_option("--file", send_file, "NDJSON file (or - for stdin): one {key,id,type,data} per line");
  send->add_option("--batch", send_batch, "commands per request with --file (1..10000)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();

  auto* get = app.add_subcommand("get", "an actor's projections");
  std::string get_key;
  get->add_option("key", get_key, "actor key")->required();

  auto* log = app.add_subcommand("log", "an actor's log entries");
  std::string log_key;
  uint64_t log_from = 1, log_limit = 100;
  bool log_all = false;
  log->add_option("key", log_key, "actor key")->required();
  log->add_option("--from", log_from, "first seq")->capture_default_str();
  log->add_option("--limit", log_limit, "at most this many entries")->capture_default_str();
  log->add_flag("--all", log_all, "every entry from --from on");

  auto* tail = app.add_subcommand("tail", "follow committed entries live (Server-Sent Events)");
  std::string tail_prefix;
  uint64_t tail_count = 0, tail_seconds = 0;
  tail->add_option("--prefix", tail_prefix, "only keys starting with this");
  tail->add_option("--count", tail_count, "stop after this many commits (0: never)");
  tail->add_option("--seconds", tail_seconds, "stop after this many seconds (0: never)");

  auto* plugin =
      app.add_subcommand("plugin", "handler plugins: list, load, swap, dark, promote, drop, rollback, divergences");
  plugin->require_subcommand(1);
  std::string plugin_name, plugin_argument;
  plugin->add_subcommand("list", "slots, versions and states");
  auto* plugin_load = plugin->add_subcommand("load", "load a plugin file as a standby version");
  plugin_load->add_option("name", plugin_name, "slot name")->required();
  plugin_load->add_option("path", plugin_argument, "path of the .so on the node")->required();
  for (const char* action : {"swap", "dark"}) {
    auto* sub = plugin->add_subcommand(action, std::string(action) == "swap" ? "activate a loaded version (hot-swap)"
                                                                             : "dark-launch a loaded version");
    sub->add_option("name", plugin_name, "slot name")->required();
    sub->add_option("version", plugin_argument, "version id (from load or list)")->required();
  }
  for (const char* action : {"promote", "drop", "rollback", "divergences"}) {
    auto* sub =
        plugin->add_subcommand(action, std::string(action) == "promote"    ? "the dark candidate becomes active"
                                       : std::string(action) == "drop"     ? "forget the dark candidate"
                                       : std::string(action) == "rollback" ? "the previous version becomes active"
                                                                           : "last divergences of the dark launch");
    sub->add_option("name", plugin_name, "slot name")->required();
  }

  GroupRunner cluster_runner = add_cluster_commands(app, context);
  GroupRunner topology_runner = add_topology_commands(app, context);
  GroupRunner election_runner = add_election_commands(app, context);
  GroupRunner results_runner = add_results_commands(app, context);
  GroupRunner gen_runner = add_gen_commands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitUsage;
  }
  context.timeout = std::chrono::seconds(timeout_s);
  context.progress = !no_progress;

  for (const GroupRunner* runner :
       {&cluster_runner, &topology_runner, &election_runner, &results_runner, &gen_runner}) {
    if (std::optional<int> code = (*runner)()) {
      return *code;
    }
  }
  if (*status) {
    return run_status(context);
  }
  if (*send) {
    if (!send_file.empty()) {
      if (!send_key.empty() || !send_type.empty() || !send_id.empty()) {
        return fail(kExitUsage, "send: --file takes the keys, ids and types from the file");
      }
      return run_send_file(context, send_file, send_batch);
    }
    if (send_key.empty() || send_type.empty()) {
      return fail(kExitUsage, "send: KEY and --type are required (or --file NDJSON)");
    }
    return run_send(context, send_key, send_type, send_id, send_data);
  }
  if (*get) {
    return run_get(context, get_key);
  }
  if (*log) {
    if (log_limit == 0 && !log_all) {
      return fail(kExitUsage, "log: --limit must be at least 1");
    }
    return run_log(context, log_key, log_from, log_limit, log_all);
  }
  if (*tail) {
    return run_tail(context, tail_prefix, tail_count, tail_seconds);
  }
  for (CLI::App* sub : plugin->get_subcommands()) {
    return run_plugin(context, sub->get_name(), plugin_name, plugin_argument);
  }
  return fail(kExitUsage, "no subcommand");
}
