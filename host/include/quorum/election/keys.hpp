// Actor keys of an election (docs/election-actors.md): one place that says
// how an election's registry, definition, directory pages, reporting units
// and ranked-choice contests are named, so the loader, the ingester, the
// results builder and the handler plugin agree byte for byte.
//
//   elections                          the registry of loaded elections
//   election/EID                       the definition
//   election/EID/dir/N                 directory page N (<= kUnitsPerPage units)
//   election/EID/unit/ESC(unit id)     a reporting unit (precinct or roll-up)
//   election/EID/contest/ESC(id)       a ranked-choice contest's ballots
//
// Ids from election files (NIST "@id", Dominion numbers) may hold any byte,
// while keys allow only [A-Za-z0-9._:@/-]; escape_segment() keeps
// [A-Za-z0-9.-] and writes every other byte as ":XX" (upper-case hex), so the
// mapping is injective and reversible and a segment never holds '/'.
// Header-only: the plugin (built against the SDK only) includes it too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quorum::election {

inline constexpr std::string_view kElectionsKey = "elections";
inline constexpr std::string_view kElectionPrefix = "election/";
inline constexpr size_t kUnitsPerPage = 1000;
inline constexpr size_t kMaxElectionIdBytes = 64;

// Election ids: [A-Za-z0-9.-]{1,64}.
inline bool valid_election_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxElectionIdBytes) {
    return false;
  }
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

inline bool plain_segment_char(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

inline std::string escape_segment(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (const char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    if (plain_segment_char(c)) {
      out.push_back(ch);
    } else {
      out.push_back(':');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

// The inverse of escape_segment; nullopt for a segment it cannot have made.
inline std::optional<std::string> unescape_segment(std::string_view segment) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(segment.size());
  for (size_t i = 0; i < segment.size(); ++i) {
    const auto c = static_cast<unsigned char>(segment[i]);
    if (plain_segment_char(c)) {
      out.push_back(segment[i]);
      continue;
    }
    if (segment[i] != ':' || i + 2 >= segment.size()) {
      return std::nullopt;
    }
    const int high = hex(segment[i + 1]);
    const int low = hex(segment[i + 2]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    const auto byte = static_cast<unsigned char>(high * 16 + low);
    if (plain_segment_char(byte)) {
      return std::nullopt;  // escape_segment never escapes a plain byte
    }
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

inline std::string election_key(std::string_view eid) { return std::string(kElectionPrefix) + std::string(eid); }

inline std::string directory_key(std::string_view eid, uint64_t page) {
  return election_key(eid) + "/dir/" + std::to_string(page);
}

inline std::string unit_key(std::string_view eid, std::string_view unit_id) {
  return election_key(eid) + "/unit/" + escape_segment(unit_id);
}

inline std::string contest_key(std::string_view eid, std::string_view contest_id) {
  return election_key(eid) + "/contest/" + escape_segment(contest_id);
}

// What an election key names (the plugin's dispatch).
enum class KeyKind { kNone, kRegistry, kElection, kDirectory, kUnit, kContest, kOther };

struct ParsedKey {
  KeyKind kind = KeyKind::kNone;
  std::string_view election;  // kElection and below
  std::string_view rest;      // the page number, or the ESCAPED unit / contest id
};

// Parses without allocating (the views point into `key`, which must outlive
// them); kNone for keys outside the election namespace,
// kOther for election/... keys of no known shape.
inline ParsedKey parse_key(std::string_view key) noexcept {
  if (key == kElectionsKey) {
    return {KeyKind::kRegistry, {}, {}};
  }
  if (key.substr(0, kElectionPrefix.size()) != kElectionPrefix) {
    return {};
  }
  std::string_view tail = key.substr(kElectionPrefix.size());
  const size_t slash = tail.find('/');
  const std::string_view eid = tail.substr(0, slash);
  if (!valid_election_id(eid)) {
    return {KeyKind::kOther, {}, {}};
  }
  if (slash == std::string_view::npos) {
    return {KeyKind::kElection, eid, {}};
  }
  tail = tail.substr(slash + 1);
  const size_t next = tail.find('/');
  if (next == std::string_view::npos) {
    return {KeyKind::kOther, eid, {}};
  }
  const std::string_view what = tail.substr(0, next);
  const std::string_view rest = tail.substr(next + 1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) {
    return {KeyKind::kOther, eid, {}};
  }
  if (what == "dir") {
    return {KeyKind::kDirectory, eid, rest};
  }
  if (what == "unit") {
    return {KeyKind::kUnit, eid, rest};
  }
  if (what == "contest") {
    return {KeyKind::kContest, eid, rest};
  }
  return {KeyKind::kOther, eid, {}};
}

}  // namespace quorum::election
