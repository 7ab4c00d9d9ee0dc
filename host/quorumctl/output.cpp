// Terminal output of quorumctl: errors, tables, progress bars, formats.
#include "ctl.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace quorum::ctl {

namespace {
constexpr size_t kMaxCellChars = 80;
}

int fail(int code, const std::string& message) {
  std::cerr << "quorumctl: " << message << "\n";
  return code;
}

int check(const Result<client::Response>& response, const std::string& what) {
  return check_json(response, what, false);
}

int check_json(const Result<client::Response>& response, const std::string& what, bool json) {
  if (!response) {
    const Error& error = response.error();
    const int code = error.code == ErrorCode::kUnavailable ? kExitUnreachable : kExitUsage;
    if (json) {
      std::cout << nlohmann::json{{"error", error.message}, {"status", 0}}.dump() << "\n";
    }
    return fail(code, what + ": " + error.message);
  }
  if (response->ok()) {
    return kExitOk;
  }
  const std::string text = response->error_text();
  if (json) {
    std::cout << nlohmann::json{{"error", text}, {"status", response->status}}.dump() << "\n";
  }
  std::string message = what + ": HTTP " + std::to_string(response->status) + ": " + text;
  if (response->status == 401) {
    message += " (pass --token or set QUORUM_TOKEN)";
  } else if (!response->retry_after.empty()) {
    message += " (retry after " + response->retry_after + " s)";
  }
  return fail(kExitRefused, message);
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  for (std::string& cell : row) {
    if (cell.size() > kMaxCellChars) {
      cell = cell.substr(0, kMaxCellChars - 3) + "...";
    }
  }
  rows_.push_back(std::move(row));
}

void Table::print() const {
  std::vector<size_t> widths;
  for (const std::string& header : headers_) {
    widths.push_back(header.size());
  }
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  const auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    std::cout << line << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_) {
    print_row(row);
  }
}

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(uint64_t done) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() { draw(true); }

void ProgressBar::draw(bool final_draw) {
  if (!enabled_) {
    return;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
  const double fraction = total_ > 0 ? std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_)) : 1.0;
  constexpr int width = 30;
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '-');
  std::string eta = "--";
  if (rate > 0 && total_ >= done_) {
    eta = format_duration_ms(static_cast<uint64_t>(static_cast<double>(total_ - done_) / rate * 1000.0));
  }
  char line[256];
  std::snprintf(line, sizeof line, "\r%s [%s] %llu/%llu %3.0f%% %.0f/s ETA %s   ", label_.c_str(), bar.c_str(),
                static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_), fraction * 100.0, rate,
                eta.c_str());
  std::cerr << line;
  if (final_draw) {
    std::cerr << "\n";
  }
  std::cerr.flush();
}

std::string format_time_ms(int64_t time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(time_ms % 1000));
  return out;
}

std::string format_duration_ms(uint64_t ms) {
  uint64_t seconds = ms / 1000;
  const uint64_t days = seconds / 86400;
  seconds %= 86400;
  const uint64_t hours = seconds / 3600;
  seconds %= 3600;
  const uint64_t minutes = seconds / 60;
  seconds %= 60;
  std::string out;
  if (days > 0) {
    out += std::to_string(days) + "d ";
  }
  if (days > 0 || hours > 0) {
    out += std::to_string(hours) + "h ";
  }
  if (days > 0 || hours > 0 || minutes > 0) {
    out += std::to_string(minutes) + "m ";
  }
  out += std::to_string(seconds) + "s";
  return out;
}

std::string short_hash(const std::string& hash_hex) { return hash_hex.size() > 16 ? hash_hex.substr(0, 16) : hash_hex; }

std::string json_cell(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_null()) {
    return "";
  }
  return value.dump();
}

}  // namespace quorum::ctl
