// The topology: the only cluster-wide state that needs consensus
// (DESIGN.md §2, §3). Data centers, each with its nodes (name DC-ZONE-N,
// availability zone A or B, address, live flag); ordered home rules that pin
// key prefixes to a data center; and the fallback order used when a home
// data center has no live node. Its JSON form, topology.json, is documented
// in docs/formats.md; a sample with 4 DCs x 8 nodes is
// packaging/topology/sample-4x8.json.
//
// Values only: no I/O except read_topology_file. Every function reports bad
// input as an Error value (kInvalidArgument, or kIo for the file) whose
// message names the offending field; nothing throws.
#pragma once

#include <quorum/host/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::cluster {

// Bounds (validate() refuses more).
inline constexpr size_t kMaxDataCenters = 16;
inline constexpr size_t kMaxNodesPerDataCenter = 1024;
inline constexpr size_t kMaxHomeRules = 4096;
inline constexpr size_t kMaxNameBytes = 64;
inline constexpr size_t kMaxAddressBytes = 255;
inline constexpr size_t kMaxPatternBytes = 1024;
inline constexpr size_t kMaxTopologyFileBytes = 16 * 1024 * 1024;

enum class Zone : uint8_t { kA, kB };

std::string_view to_string(Zone zone) noexcept;  // "A" or "B"

struct Node {
  std::string name;  // DC-ZONE-N, e.g. "FL-A-1": DC is its data center, ZONE its zone, N >= 1
  Zone zone = Zone::kA;
  std::string address;  // host:port
  bool live = true;     // only live nodes are on their data center's ring

  friend bool operator==(const Node&, const Node&) = default;
};

struct DataCenter {
  std::string name;  // [A-Z][A-Z0-9]*, e.g. "FL"
  std::vector<Node> nodes;

  friend bool operator==(const DataCenter&, const DataCenter&) = default;
};

// A key whose segments ('/'-separated) start with the pattern's segments is
// homed in `data_center`; a "*" segment matches any one segment. So
// "e/*/precinct/TN" matches "e/2026-11-03/precinct/TN/davidson/0101" and
// "e/x/precinct/TN", not "e/x/precinct/TNX" nor "e/precinct/TN".
struct HomeRule {
  std::string pattern;
  std::string data_center;

  friend bool operator==(const HomeRule&, const HomeRule&) = default;
};

struct Topology {
  uint64_t epoch = 0;
  std::vector<DataCenter> data_centers;
  std::vector<HomeRule> home_rules;  // first match wins
  // A cyclic order of all data centers: a home without live nodes falls back
  // to the next DC after it with a live node. Empty means the DC names sorted.
  std::vector<std::string> fallback_order;

  friend bool operator==(const Topology&, const Topology&) = default;
};

// True if `pattern` (a valid home-rule pattern) matches a prefix of `key`'s
// segments, as described at HomeRule.
bool pattern_matches(std::string_view pattern, std::string_view key) noexcept;

// Checks every rule listed in docs/formats.md ("topology.json"): bounds, name
// syntax (DC-ZONE-N matching its DC and zone), zones A/B, no empty DC, no
// duplicate DC, node or address, rules naming known DCs with valid patterns,
// and a fallback order that lists every DC exactly once.
Status validate(const Topology& topology);

// Where the node named `name` is: topology.data_centers[dc].nodes[node].
struct NodePosition {
  size_t dc = 0;
  size_t node = 0;
};
std::optional<NodePosition> find_node(const Topology& topology, std::string_view name);
// The node named `name`, or null.
const Node* node_named(const Topology& topology, std::string_view name);

// topology.json text -> a validated Topology.
Result<Topology> parse_topology(std::string_view json_text);
Result<Topology> read_topology_file(const std::string& path);

// A Topology -> topology.json text (2-space indent, trailing newline; fields
// in a fixed order). parse_topology(to_json(t)) == t for a valid t.
std::string to_json(const Topology& topology);

}  // namespace quorum::cluster
