// The subcommands of quorumctl, each one or a few requests of docs/api.md.
#include "ctl.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

namespace quorum::ctl {

namespace {

using client::HttpClient;
using client::Response;
using client::url_encode;
using nlohmann::json;

constexpr size_t kMaxBatchCommands = 10'000;  // the API's bound per request
constexpr size_t kMaxInputLineBytes = size_t{1} << 20;
constexpr size_t kMaxErrorsKept = 100;
constexpr int kMaxOverloadRetries = 30;
constexpr uint64_t kMaxLogPage = 1000;  // the API's bound per page

Result<std::unique_ptr<HttpClient>> connect(const Context& context) {
  HttpClient::Options options;
  options.token = context.token;
  options.timeout = context.timeout;
  return HttpClient::create(context.node_url, options);
}

// Parses a JSON body; an unparsable one is reported (exit 2: the server
// answered something this client does not understand).
bool parse_body(const Response& response, json& out, const std::string& what) {
  out = json::parse(response.body, nullptr, false);
  if (out.is_discarded()) {
    fail(kExitRefused, what + ": the node answered with something that is not JSON: " + response.body.substr(0, 200));
    return false;
  }
  return true;
}

std::string get_string(const json& object, const char* field) {
  if (object.is_object() && object.contains(field)) {
    return json_cell(object[field]);
  }
  return "";
}

// Reads `text` or, for "@path", the file's contents (bounded by the API's
// 256 KiB command limit with room for JSON's verbosity).
Result<std::string> read_argument(const std::string& text) {
  if (!text.starts_with("@")) {
    return text;
  }
  const std::string path = text.substr(1);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return make_error(ErrorCode::kNotFound, "cannot read " + path);
  }
  std::string contents;
  char block[65536];
  while (file.read(block, sizeof block) || file.gcount() > 0) {
    contents.append(block, static_cast<size_t>(file.gcount()));
    if (contents.size() > size_t{8} << 20) {
      return make_error(ErrorCode::kResourceExhausted, path + " is over 8 MiB");
    }
  }
  return contents;
}

// ---- metrics (Prometheus text) ----
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse_metrics(const std::string& text) {
  std::vector<Sample> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line) && samples.size() < 100'000) {
    if (line.empty() || line.front() == '#') {
      continue;
    }
    Sample sample;
    size_t position = line.find_first_of("{ ");
    if (position == std::string::npos) {
      continue;
    }
    sample.name = line.substr(0, position);
    if (line[position] == '{') {
      const size_t close = line.find('}', position);
      if (close == std::string::npos) {
        continue;
      }
      std::string labels = line.substr(position + 1, close - position - 1);
      size_t start = 0;
      while (start < labels.size()) {
        const size_t equals = labels.find('=', start);
        if (equals == std::string::npos || equals + 1 >= labels.size() || labels[equals + 1] != '"') {
          break;
        }
        const size_t end_quote = labels.find('"', equals + 2);
        if (end_quote == std::string::npos) {
          break;
        }
        sample.labels[labels.substr(start, equals - start)] = labels.substr(equals + 2, end_quote - equals - 2);
        start = end_quote + 1;
        if (start < labels.size() && labels[start] == ',') {
          ++start;
        }
      }
      position = close + 1;
    }
    try {
      sample.value = std::stod(line.substr(position));
    } catch (...) {
      continue;
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

double metric_sum(const std::vector<Sample>& samples, const std::string& name) {
  double sum = 0;
  for (const Sample& sample : samples) {
    if (sample.name == name) {
      sum += sample.value;
    }
  }
  return sum;
}

// The q-quantile of a Prometheus histogram: the upper bound of the first
// bucket holding it (NaN when empty).
double histogram_quantile(const std::vector<Sample>& samples, const std::string& name, double q) {
  std::vector<std::pair<double, double>> buckets;  // le, cumulative count
  for (const Sample& sample : samples) {
    if (sample.name != name + "_bucket") {
      continue;
    }
    const auto le = sample.labels.find("le");
    if (le == sample.labels.end()) {
      continue;
    }
    const double bound = le->second == "+Inf" ? INFINITY : std::atof(le->second.c_str());
    buckets.emplace_back(bound, sample.value);
  }
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) {
    return NAN;
  }
  const double rank = q * buckets.back().second;
  for (const auto& [bound, count] : buckets) {
    if (count >= rank) {
      return bound;
    }
  }
  return buckets.back().first;
}

std::string number(double value) {
  if (std::isnan(value)) {
    return "-";
  }
  char text[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(text, sizeof text, "%.0f", value);
  } else {
    std::snprintf(text, sizeof text, "%.3g", value);
  }
  return text;
}

// Versions in requests: the API's ids are numbers; keep others as strings.
json version_value(const std::string& version) {
  if (!version.empty() && version.size() < 19 && version.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoull(version);
  }
  return version;
}

}  // namespace

int run_status(const Context& context) {
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  Result<Response> health = (*client)->get("/v1/health");
  if (!health) {
    return check_json(health, "health", context.json);
  }
  json health_json;
  if (!parse_body(*health, health_json, "health")) {
    return kExitRefused;
  }
  Result<Response> metrics = (*client)->get("/metrics");
  if (const int code = check_json(metrics, "metrics", context.json); code != kExitOk) {
    return code;
  }
  const std::vector<Sample> samples = parse_metrics(metrics->body);
  json summary;
  std::map<std::string, double> commands;
  for (const Sample& sample : samples) {
    if (sample.name == "quorum_commands_total") {
      commands[sample.labels.count("result") ? sample.labels.at("result") : "all"] += sample.value;
    }
  }
  const double batches = metric_sum(samples, "quorum_commit_batch_commands_count");
  const double batched = metric_sum(samples, "quorum_commit_batch_commands_sum");
  const double latency_count = metric_sum(samples, "quorum_commit_latency_seconds_count");
  const double latency_sum = metric_sum(samples, "quorum_commit_latency_seconds_sum");
  summary["commands"] = commands;
  summary["commits"] = metric_sum(samples, "quorum_commits_total");
  summary["batch_commands_mean"] = batches > 0 ? batched / batches : 0.0;
  summary["commit_latency_ms_mean"] = latency_count > 0 ? latency_sum / latency_count * 1000.0 : 0.0;
  const double p99 = histogram_quantile(samples, "quorum_commit_latency_seconds", 0.99);
  summary["commit_latency_ms_p99_bound"] = std::isnan(p99) || std::isinf(p99) ? json(nullptr) : json(p99 * 1000.0);
  summary["queue_depth"] = metric_sum(samples, "quorum_queue_depth");
  summary["handler_errors"] = metric_sum(samples, "quorum_handler_errors_total");
  summary["http_requests"] = metric_sum(samples, "quorum_http_requests_total");
  const int code = health->ok() ? kExitOk : kExitRefused;
  if (context.json) {
    std::cout << json{{"health", health_json}, {"http_status", health->status}, {"metrics", summary}}.dump() << "\n";
    return code;
  }
  Table table({"field", "value"});
  table.add({"node", context.node_url + (get_string(health_json, "node").empty()
                                             ? std::string()
                                             : " (" + get_string(health_json, "node") + ")")});
  table.add({"status", get_string(health_json, "status") +
                           (health->ok() ? "" : " (HTTP " + std::to_string(health->status) + ")")});
  if (health_json.contains("uptime_ms") && health_json["uptime_ms"].is_number()) {
    table.add({"uptime", format_duration_ms(health_json["uptime_ms"].get<uint64_t>())});
  }
  table.add({"actors active", get_string(health_json, "actors_active")});
  table.add({"actors failed", get_string(health_json, "actors_failed")});
  for (const auto& [result, count] : commands) {
    table.add({"commands " + result, number(count)});
  }
  table.add({"commits", number(summary["commits"].get<double>())});
  table.add({"commands per commit (mean)", number(summary["batch_commands_mean"].get<double>())});
  table.add({"commit latency ms (mean)", number(summary["commit_latency_ms_mean"].get<double>())});
  table.add({"commit latency ms (p99 <=)", std::isnan(p99) ? "-" : number(p99 * 1000.0)});
  table.add({"queue depth", number(summary["queue_depth"].get<double>())});
  table.add({"handler errors", number(summary["handler_errors"].get<double>())});
  const json replication = health_json.value("replication", json());
  if (replication.is_object()) {
    table.add({"key replicas here", get_string(replication, "replicas")});
    table.add({"keys written here", get_string(replication, "keys_writing")});
    table.add({"keys below five copies", get_string(replication, "keys_under_replicated")});
  }
  table.print();
  if (replication.is_object() && replication.value("under_replicated", json::array()).is_array() &&
      !replication["under_replicated"].empty()) {
    Table keys({"key below full copies", "copies", "replicas"});
    for (const json& k : replication["under_replicated"]) {
      keys.add({get_string(k, "key"), get_string(k, "copies"), get_string(k, "replicas")});
    }
    keys.print();
  }
  if (!health->ok()) {
    return fail(code, "the node is not serving (HTTP " + std::to_string(health->status) + ")");
  }
  return code;
}

int run_send(const Context& context, const std::string& key, const std::string& type, const std::string& id,
             const std::string& data) {
  Result<std::string> data_text = read_argument(data);
  if (!data_text) {
    return fail(kExitUsage, data_text.error().message);
  }
  json command{{"type", type}};
  command["data"] = json::parse(*data_text, nullptr, false);
  if (command["data"].is_discarded()) {
    return fail(kExitUsage, "--data is not valid JSON");
  }
  if (!id.empty()) {
    command["id"] = id;
  }
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  Result<Response> response =
      (*client)->post("/v1/actors/" + url_encode(key) + "/commands", command.dump(), "application/json");
  if (const int code = check_json(response, "send", context.json); code != kExitOk) {
    return code;
  }
  json receipt;
  if (!parse_body(*response, receipt, "send")) {
    return kExitRefused;
  }
  if (context.json) {
    std::cout << receipt.dump() << "\n";
    return kExitOk;
  }
  const bool duplicate = receipt.value("duplicate", false);
  std::cout << (duplicate ? "duplicate (already committed) " : "committed ") << get_string(receipt, "key") << " seq "
            << get_string(receipt, "seq") << " hash " << get_string(receipt, "hash") << "\n";
  return kExitOk;
}

int run_send_file(const Context& context, const std::string& path, size_t batch) {
  batch = std::clamp<size_t>(batch, 1, kMaxBatchCommands);
  std::ifstream input;
  std::istream* in = &std::cin;
  uint64_t total = 0;
  if (path != "-") {
    input.open(path, std::ios::binary);
    if (!input) {
      return fail(kExitUsage, "cannot read " + path);
    }
    std::string line;
    while (std::getline(input, line)) {  // first pass: the total for the progress bar
      if (line.find_first_not_of(" \t\r") != std::string::npos) {
        ++total;
      }
    }
    input.clear();
    input.seekg(0);
    in = &input;
  }
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  ProgressBar bar("send", total, context.progress && !context.json && total > 0);
  uint64_t sent = 0;
  uint64_t committed = 0;
  uint64_t duplicates = 0;
  uint64_t line_number = 0;
  std::map<unsigned, uint64_t> failed;  // by status
  json errors = json::array();
  const auto start = std::chrono::steady_clock::now();

  std::string body;
  std::vector<uint64_t> lines;  // input line number of each command in the batch
  const auto flush = [&]() -> int {
    if (lines.empty()) {
      return kExitOk;
    }
    Result<Response> response = make_error(ErrorCode::kUnavailable, "not sent");
    for (int attempt = 0;; ++attempt) {
      response = (*client)->post("/v1/commands", body, "application/x-ndjson", "application/json");
      if (!response || response->status != 503 || attempt >= kMaxOverloadRetries) {
        break;
      }
      const int wait_s =
          response->retry_after.empty() ? 1 : std::clamp(std::atoi(response->retry_after.c_str()), 1, 10);
      std::this_thread::sleep_for(std::chrono::seconds(wait_s));
    }
    if (const int code = check_json(
            response, "send --file (commands before line " + std::to_string(lines.front()) + ")", context.json);
        code != kExitOk) {
      bar.finish();
      return code;
    }
    json results;
    const std::string& text = response->body;
    if (!text.empty() && text.front() == '{' && text.find("\"results\"") != std::string::npos) {
      json parsed = json::parse(text, nullptr, false);
      if (parsed.is_object() && parsed.contains("results")) {
        results = parsed["results"];
      }
    } else {  // NDJSON answer
      results = json::array();
      std::istringstream answer_lines(text);
      std::string answer_line;
      while (std::getline(answer_lines, answer_line)) {
        if (!answer_line.empty()) {
          results.push_back(json::parse(answer_line, nullptr, false));
        }
      }
    }
    if (!results.is_array() || results.size() != lines.size()) {
      bar.finish();
      return fail(kExitRefused, "send --file: the node answered " + std::to_string(results.size()) + " results for " +
                                    std::to_string(lines.size()) + " commands");
    }
    for (size_t i = 0; i < results.size(); ++i) {
      const json& result = results[i];
      if (result.is_object() && result.contains("seq") && !result.contains("error")) {
        result.value("duplicate", false) ? ++duplicates : ++committed;
      } else {
        const unsigned status = result.is_object() ? result.value("status", 0u) : 0u;
        ++failed[status];
        if (errors.size() < kMaxErrorsKept) {
          errors.push_back({{"line", lines[i]},
                            {"key", get_string(result, "key")},
                            {"status", status},
                            {"error", get_string(result, "error")}});
        }
      }
    }
    sent += lines.size();
    bar.update(sent);
    body.clear();
    lines.clear();
    return kExitOk;
  };

  std::string line;
  while (std::getline(*in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    if (line.size() > kMaxInputLineBytes) {
      return fail(kExitUsage, path + ":" + std::to_string(line_number) + ": line over 1 MiB");
    }
    body += line;
    body += '\n';
    lines.push_back(line_number);
    if (lines.size() >= batch || body.size() >= (size_t{6} << 20)) {
      if (const int code = flush(); code != kExitOk) {
        return code;
      }
    }
  }
  if (const int code = flush(); code != kExitOk) {
    return code;
  }
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t failed_total = 0;
  json failed_json = json::object();
  for (const auto& [status, count] : failed) {
    failed_total += count;
    failed_json[std::to_string(status)] = count;
  }
  if (context.json) {
    std::cout << json{{"commands", sent},       {"committed", committed},          {"duplicates", duplicates},
                      {"failed", failed_total}, {"failed_by_status", failed_json}, {"seconds", seconds},
                      {"errors", errors}}
                     .dump()
              << "\n";
  } else {
    std::cout << sent << " commands: " << committed << " committed, " << duplicates << " duplicates, " << failed_total
              << " failed";
    char rate[64];
    std::snprintf(rate, sizeof rate, " in %.2f s (%.0f/s)\n", seconds, seconds > 0 ? sent / seconds : 0.0);
    std::cout << rate;
    for (const json& error : errors) {
      std::cerr << path << ":" << error["line"] << ": " << get_string(error, "key") << ": HTTP " << error["status"]
                << ": " << get_string(error, "error") << "\n";
    }
  }
  return failed_total > 0 ? kExitRefused : kExitOk;
}

int run_get(const Context& context, const std::string& key) {
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  Result<Response> response = (*client)->get("/v1/actors/" + url_encode(key));
  if (const int code = check_json(response, "get " + key, context.json); code != kExitOk) {
    return code;
  }
  json view;
  if (!parse_body(*response, view, "get")) {
    return kExitRefused;
  }
  if (context.json) {
    std::cout << view.dump() << "\n";
    return kExitOk;
  }
  std::cout << "key   " << get_string(view, "key") << "\nseq   " << get_string(view, "seq") << "\nhead  "
            << get_string(view, "head") << "\n";
  if (view.contains("projections") && view["projections"].is_object()) {
    for (const auto& [handler, projection] : view["projections"].items()) {
      std::cout << "\n== " << handler;
      if (projection.is_object()) {
        std::cout << " " << get_string(projection, "version") << " (schema " << get_string(projection, "schema")
                  << ")\n";
        std::cout << (projection.contains("value") ? projection["value"] : projection).dump(2) << "\n";
      } else {
        std::cout << "\n" << projection.dump(2) << "\n";
      }
    }
  }
  return kExitOk;
}

int run_log(const Context& context, const std::string& key, uint64_t from, uint64_t limit, bool all) {
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  json entries = json::array();
  uint64_t next = std::max<uint64_t>(from, 1);
  uint64_t wanted = all ? UINT64_MAX : limit;
  while (wanted > 0) {
    const uint64_t page = std::min(wanted, kMaxLogPage);
    Result<Response> response = (*client)->get("/v1/actors/" + url_encode(key) + "/log?from=" + std::to_string(next) +
                                               "&limit=" + std::to_string(page));
    if (const int code = check_json(response, "log " + key, context.json); code != kExitOk) {
      return code;
    }
    json body;
    if (!parse_body(*response, body, "log")) {
      return kExitRefused;
    }
    if (!body.contains("entries") || !body["entries"].is_array()) {
      return fail(kExitRefused, "log: the node's answer has no entries");
    }
    const json& got = body["entries"];
    for (const json& entry : got) {
      entries.push_back(entry);
    }
    if (got.size() < page || got.empty()) {
      break;
    }
    wanted -= got.size();
    next = got.back().value("seq", next + got.size() - 1) + 1;
  }
  if (context.json) {
    std::cout << json{{"key", key}, {"entries", entries}}.dump() << "\n";
    return kExitOk;
  }
  Table table({"seq", "time", "id", "type", "hash"});
  for (const json& entry : entries) {
    std::string time = get_string(entry, "time");
    if (entry.contains("time") && entry["time"].is_number_integer()) {
      time = format_time_ms(entry["time"].get<int64_t>());
    }
    table.add({get_string(entry, "seq"), time, get_string(entry, "id"), get_string(entry, "type"),
               short_hash(get_string(entry, "hash"))});
  }
  table.print();
  return kExitOk;
}

int run_tail(const Context& context, const std::string& prefix, uint64_t count, uint64_t seconds) {
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  uint64_t seen = 0;
  Result<Response> response =
      (*client)->stream("/v1/stream?prefix=" + url_encode(prefix), std::chrono::seconds(60),
                        std::chrono::seconds(seconds), [&](const client::SseEvent& event) {
                          if (event.event != "commit" && event.event != "message") {
                            return true;
                          }
                          ++seen;
                          if (context.json) {
                            std::cout << event.data << "\n";
                          } else {
                            const json data = json::parse(event.data, nullptr, false);
                            if (data.is_object()) {
                              std::cout << get_string(data, "key") << "  seq " << get_string(data, "seq") << "  id "
                                        << get_string(data, "id") << "  type " << get_string(data, "type") << "  hash "
                                        << short_hash(get_string(data, "hash")) << "\n";
                            } else {
                              std::cout << event.data << "\n";
                            }
                          }
                          std::cout.flush();
                          return count == 0 || seen < count;
                        });
  return check_json(response, "tail", context.json);
}

int run_plugin(const Context& context, const std::string& action, const std::string& name,
               const std::string& argument) {
  auto client = connect(context);
  if (!client) {
    return fail(kExitUsage, client.error().message);
  }
  Result<Response> response = make_error(ErrorCode::kInvalidArgument, "unknown plugin action " + action);
  const std::string base = "/v1/plugins/" + url_encode(name);
  if (action == "list") {
    response = (*client)->get("/v1/plugins");
  } else if (action == "load") {
    std::string path = argument;
    std::error_code error;
    if (std::filesystem::exists(path, error)) {
      path = std::filesystem::absolute(path, error).string();
    }
    response = (*client)->post("/v1/plugins/load", json{{"name", name}, {"path", path}}.dump(), "application/json");
  } else if (action == "swap" || action == "dark") {
    response =
        (*client)->post(base + "/" + action, json{{"version", version_value(argument)}}.dump(), "application/json");
  } else if (action == "promote" || action == "drop" || action == "rollback") {
    response = (*client)->post(base + "/" + action, "{}", "application/json");
  } else if (action == "divergences") {
    response = (*client)->get(base + "/divergences");
  } else {
    return fail(kExitUsage, "unknown plugin action " + action);
  }
  if (const int code = check_json(response, "plugin " + action, context.json); code != kExitOk) {
    return code;
  }
  json body;
  if (!parse_body(*response, body, "plugin " + action)) {
    return kExitRefused;
  }
  if (context.json) {
    std::cout << body.dump() << "\n";
    return kExitOk;
  }
  if (action == "list") {
    const json& slots = body.is_object() && body.contains("plugins") ? body["plugins"] : body;
    Table table({"name", "version", "semver", "state", "calls", "errors", "rejections", "divergences"});
    const auto add_row = [&](const std::string& slot, const json& version) {
      table.add({slot, get_string(version, "version"), get_string(version, "semver"), get_string(version, "state"),
                 get_string(version, "calls"), get_string(version, "errors"), get_string(version, "rejections"),
                 get_string(version, "divergences")});
    };
    if (slots.is_array()) {
      for (const json& slot : slots) {
        const std::string slot_name = get_string(slot, "name");
        if (slot.contains("versions") && slot["versions"].is_array()) {
          for (const json& version : slot["versions"]) {
            add_row(slot_name, version);
          }
        } else {
          add_row(slot_name, slot);
        }
      }
    }
    table.print();
    return kExitOk;
  }
  if (action == "divergences") {
    const json& list = body.is_object() && body.contains("divergences") ? body["divergences"] : body;
    if (list.is_array()) {
      std::cout << list.size() << " divergence(s)\n";
      for (const json& divergence : list) {
        std::cout << divergence.dump(2) << "\n";
      }
      return kExitOk;
    }
  }
  std::cout << action << " " << name << ": ok";
  if (body.is_object()) {
    for (const auto& [field, value] : body.items()) {
      std::cout << " " << field << "=" << json_cell(value);
    }
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace quorum::ctl
