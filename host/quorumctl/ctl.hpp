// quorumctl internals: the subcommands (commands.cpp) and the terminal
// output they share (output.cpp): tables, a progress bar, exit codes.
//
// Exit codes (docs/quorumctl.md): 0 ok, 1 usage (bad arguments, unreadable
// input), 2 the server refused (an HTTP status >= 300, or per-command errors
// in a batch), 3 the node is unreachable (refused, reset, timed out).
#pragma once

#include <quorum/client/http_client.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace quorum::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;
inline constexpr int kExitRefused = 2;
inline constexpr int kExitUnreachable = 3;

// What every subcommand gets from the global options.
struct Context {
  std::string node_url;
  std::string token;
  bool json = false;     // machine-readable output on stdout
  bool progress = true;  // progress bars on stderr (only when it is a terminal)
  std::chrono::milliseconds timeout{30'000};
};

// ---- output.cpp ----
// Prints "quorumctl: <message>" on stderr and returns `code`.
int fail(int code, const std::string& message);
// Maps a failed request (no answer) or a refused one (status >= 300) to a
// message on stderr and an exit code; returns kExitOk for a 2xx answer.
int check(const Result<client::Response>& response, const std::string& what);
// In --json mode a refusal is also printed as JSON on stdout:
// {"error": "...", "status": N}.
int check_json(const Result<client::Response>& response, const std::string& what, bool json);

// A text table with left-aligned columns, bounded cell width.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void add(std::vector<std::string> row);
  void print() const;  // to stdout
 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// A one-line progress bar on stderr, redrawn at most 10 times a second:
// done/total, percent, rate and ETA. Silent unless enabled and stderr is a tty.
class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total, bool enabled);
  void update(uint64_t done);
  void finish();  // final redraw and newline
 private:
  void draw(bool final_draw);
  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

std::string format_time_ms(int64_t time_ms);          // 2026-11-26T15:04:05.123Z
std::string format_duration_ms(uint64_t ms);          // 1d 2h 3m 4s
std::string short_hash(const std::string& hash_hex);  // first 16 hex digits
std::string json_cell(const nlohmann::json& value);   // strings bare, the rest dumped

// ---- commands.cpp ----
int run_status(const Context& context);
int run_send(const Context& context, const std::string& key, const std::string& type, const std::string& id,
             const std::string& data);
int run_send_file(const Context& context, const std::string& path, size_t batch);
int run_get(const Context& context, const std::string& key);
int run_log(const Context& context, const std::string& key, uint64_t from, uint64_t limit, bool all);
int run_tail(const Context& context, const std::string& prefix, uint64_t count, uint64_t seconds);
int run_plugin(const Context& context, const std::string& action, const std::string& name, const std::string& argument);


// A subcommand group registered on the app: run() is called after parsing
// and returns nullopt if none of the group's subcommands was given.
using GroupRunner = std::function<std::optional<int>()>;

// ---- cluster_commands.cpp: cluster up|status|down (processes on this machine)
GroupRunner add_cluster_commands(CLI::App& app, const Context& context);
// ---- topology_commands.cpp: topology show|add-node|remove-node|drain|undrain
GroupRunner add_topology_commands(CLI::App& app, const Context& context);
// ---- election_commands.cpp: election load|close, ingest (issue 6)
GroupRunner add_election_commands(CLI::App& app, const Context& context);
// ---- results_commands.cpp: results [--election EID] [--format F] [-o FILE] [--summary]
GroupRunner add_results_commands(CLI::App& app, const Context& context);
// ---- gen_commands.cpp: gen (a synthetic election's NIST files)
GroupRunner add_gen_commands(CLI::App& app, const Context& context);

}  // namespace quorum::ctl
