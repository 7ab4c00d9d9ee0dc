#include <quorum/cluster/topology.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace quorum::cluster {

namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, "topology: " + std::move(message));
}

bool is_upper_or_digit(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool valid_data_center_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name[0] < 'A' || name[0] > 'Z') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), is_upper_or_digit);
}

// "N" of DC-ZONE-N: a decimal number >= 1 without leading zeros.
bool valid_node_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 9 || digits[0] == '0') {
    return false;
  }
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Status check_node_name(const DataCenter& dc, const Node& node) {
  const std::string_view name = node.name;
  const std::string expected_prefix = dc.name + "-" + std::string(to_string(node.zone)) + "-";
  if (name.size() > kMaxNameBytes || !name.starts_with(expected_prefix) ||
      !valid_node_number(name.substr(expected_prefix.size()))) {
    return invalid("node \"" + node.name + "\" in data center " + dc.name + " (zone " +
                   std::string(to_string(node.zone)) + ") must be named " + expected_prefix +
                   "N with N a number from 1, e.g. " + expected_prefix + "1");
  }
  return {};
}

Status check_address(const Node& node) {
  const std::string& address = node.address;
  const size_t colon = address.rfind(':');
  bool ok = address.size() <= kMaxAddressBytes && colon != std::string::npos && colon > 0;
  if (ok) {
    const std::string_view port_text = std::string_view(address).substr(colon + 1);
    unsigned port = 0;
    const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    ok = !port_text.empty() && error == std::errc() && end == port_text.data() + port_text.size() && port >= 1 &&
         port <= 65535 && port_text[0] != '0';
  }
  if (!ok) {
    return invalid("node " + node.name + ": address \"" + address + "\" is not host:port (port 1..65535)");
  }
  return {};
}

Status check_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > kMaxPatternBytes) {
    return invalid("home rule pattern \"" + std::string(pattern) + "\" must have 1.." +
                   std::to_string(kMaxPatternBytes) + " bytes");
  }
  size_t start = 0;
  while (true) {
    const size_t slash = pattern.find('/', start);
    const std::string_view segment =
        pattern.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) {
      return invalid("home rule pattern \"" + std::string(pattern) + "\" has an empty segment");
    }
    if (segment != "*" && segment.find('*') != std::string_view::npos) {
      return invalid("home rule pattern \"" + std::string(pattern) +
                     "\": '*' must be a whole segment (it matches one segment)");
    }
    if (slash == std::string_view::npos) {
      return {};
    }
    start = slash + 1;
  }
}

// --- JSON reading helpers: each names the field it refuses. ---

Status check_fields(const json& object, std::string_view where, std::initializer_list<std::string_view> known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      return invalid(std::string(where) + ": unknown field \"" + it.key() + "\"");
    }
  }
  return {};
}

Result<std::string> get_string(const json& object, const char* field, std::string_view where) {
  const auto it = object.find(field);
  if (it == object.end() || !it->is_string()) {
    return invalid(std::string(where) + ": \"" + field + "\" must be a string");
  }
  return it->get<std::string>();
}

Result<const json*> get_array(const json& object, const char* field, std::string_view where, bool required) {
  static const json empty = json::array();
  const auto it = object.find(field);
  if (it == object.end()) {
    if (required) {
      return invalid(std::string(where) + ": \"" + field + "\" is missing");
    }
    return &empty;
  }
  if (!it->is_array()) {
    return invalid(std::string(where) + ": \"" + field + "\" must be an array");
  }
  return &*it;
}

Result<Node> parse_node(const json& value, const std::string& where) {
  if (!value.is_object()) {
    return invalid(where + " must be an object");
  }
  if (auto status = check_fields(value, where, {"name", "zone", "address", "live"}); !status) {
    return status.error();
  }
  Node node;
  auto name = get_string(value, "name", where);
  if (!name) {
    return name.error();
  }
  node.name = std::move(*name);
  const std::string at = where + " (" + node.name + ")";
  auto zone = get_string(value, "zone", at);
  if (!zone) {
    return zone.error();
  }
  if (*zone == "A") {
    node.zone = Zone::kA;
  } else if (*zone == "B") {
    node.zone = Zone::kB;
  } else {
    return invalid(at + ": zone \"" + *zone + "\" must be \"A\" or \"B\"");
  }
  auto address = get_string(value, "address", at);
  if (!address) {
    return address.error();
  }
  node.address = std::move(*address);
  if (const auto it = value.find("live"); it != value.end()) {
    if (!it->is_boolean()) {
      return invalid(at + ": \"live\" must be true or false");
    }
    node.live = it->get<bool>();
  }
  return node;
}

Result<Topology> from_json(const json& root) {
  if (!root.is_object()) {
    return invalid("the document must be a JSON object");
  }
  if (auto status =
          check_fields(root, "topology", {"version", "epoch", "data_centers", "home_rules", "fallback_order"});
      !status) {
    return status.error();
  }
  const auto version = root.find("version");
  if (version == root.end() || !version->is_number_integer() || version->get<int64_t>() != kFormatVersion) {
    return invalid("\"version\" must be " + std::to_string(kFormatVersion));
  }
  Topology topology;
  const auto epoch = root.find("epoch");
  if (epoch == root.end() || !epoch->is_number_unsigned()) {
    return invalid("\"epoch\" must be a non-negative integer");
  }
  topology.epoch = epoch->get<uint64_t>();

  auto data_centers = get_array(root, "data_centers", "topology", true);
  if (!data_centers) {
    return data_centers.error();
  }
  if ((*data_centers)->size() > kMaxDataCenters) {
    return invalid("more than " + std::to_string(kMaxDataCenters) + " data centers");
  }
  for (size_t i = 0; i < (*data_centers)->size(); ++i) {
    const json& value = (**data_centers)[i];
    const std::string where = "data_centers[" + std::to_string(i) + "]";
    if (!value.is_object()) {
      return invalid(where + " must be an object");
    }
    if (auto status = check_fields(value, where, {"name", "nodes"}); !status) {
      return status.error();
    }
    DataCenter dc;
    auto name = get_string(value, "name", where);
    if (!name) {
      return name.error();
    }
    dc.name = std::move(*name);
    auto nodes = get_array(value, "nodes", where, true);
    if (!nodes) {
      return nodes.error();
    }
    if ((*nodes)->size() > kMaxNodesPerDataCenter) {
      return invalid("data center " + dc.name + " has more than " + std::to_string(kMaxNodesPerDataCenter) + " nodes");
    }
    for (size_t n = 0; n < (*nodes)->size(); ++n) {
      auto node = parse_node((**nodes)[n], where + ".nodes[" + std::to_string(n) + "]");
      if (!node) {
        return node.error();
      }
      dc.nodes.push_back(std::move(*node));
    }
    topology.data_centers.push_back(std::move(dc));
  }

  auto rules = get_array(root, "home_rules", "topology", false);
  if (!rules) {
    return rules.error();
  }
  if ((*rules)->size() > kMaxHomeRules) {
    return invalid("more than " + std::to_string(kMaxHomeRules) + " home rules");
  }
  for (size_t i = 0; i < (*rules)->size(); ++i) {
    const json& value = (**rules)[i];
    const std::string where = "home_rules[" + std::to_string(i) + "]";
    if (!value.is_object()) {
      return invalid(where + " must be an object");
    }
    if (auto status = check_fields(value, where, {"prefix", "dc"}); !status) {
      return status.error();
    }
    auto prefix = get_string(value, "prefix", where);
    if (!prefix) {
      return prefix.error();
    }
    auto dc = get_string(value, "dc", where);
    if (!dc) {
      return dc.error();
    }
    topology.home_rules.push_back({std::move(*prefix), std::move(*dc)});
  }

  auto fallback = get_array(root, "fallback_order", "topology", false);
  if (!fallback) {
    return fallback.error();
  }
  if ((*fallback)->size() > kMaxDataCenters) {
    return invalid("\"fallback_order\" names more than " + std::to_string(kMaxDataCenters) + " data centers");
  }
  for (const json& value : **fallback) {
    if (!value.is_string()) {
      return invalid("\"fallback_order\" must be an array of data center names");
    }
    topology.fallback_order.push_back(value.get<std::string>());
  }
  if (auto status = validate(topology); !status) {
    return status.error();
  }
  return topology;
}

}  // namespace

std::string_view to_string(Zone zone) noexcept { return zone == Zone::kA ? "A" : "B"; }

bool pattern_matches(std::string_view pattern, std::string_view key) noexcept {
  size_t p = 0;
  size_t k = 0;
  while (true) {
    const size_t p_end = std::min(pattern.find('/', p), pattern.size());
    const size_t k_end = std::min(key.find('/', k), key.size());
    const std::string_view pattern_segment = pattern.substr(p, p_end - p);
    const std::string_view key_segment = key.substr(k, k_end - k);
    if (pattern_segment != "*" && pattern_segment != key_segment) {
      return false;
    }
    if (p_end == pattern.size()) {
      return true;
    }
    if (k_end == key.size()) {
      return false;
    }
    p = p_end + 1;
    k = k_end + 1;
  }
}

std::optional<NodePosition> find_node(const Topology& topology, std::string_view name) {
  for (size_t d = 0; d < topology.data_centers.size(); ++d) {
    const auto& nodes = topology.data_centers[d].nodes;
    for (size_t n = 0; n < nodes.size(); ++n) {
      if (nodes[n].name == name) {
        return NodePosition{d, n};
      }
    }
  }
  return std::nullopt;
}

const Node* node_named(const Topology& topology, std::string_view name) {
  const auto where = find_node(topology, name);
  return where ? &topology.data_centers[where->dc].nodes[where->node] : nullptr;
}

Status validate(const Topology& topology) {
  if (topology.data_centers.empty()) {
    return invalid("there must be at least one data center");
  }
  if (topology.data_centers.size() > kMaxDataCenters) {
    return invalid("more than " + std::to_string(kMaxDataCenters) + " data centers");
  }
  std::set<std::string_view> dc_names;
  std::set<std::string_view> node_names;
  std::set<std::string_view> addresses;
  for (const DataCenter& dc : topology.data_centers) {
    if (!valid_data_center_name(dc.name)) {
      return invalid("data center name \"" + dc.name + "\" must be 1.." + std::to_string(kMaxNameBytes) +
                     " characters A-Z or 0-9, starting with a letter");
    }
    if (!dc_names.insert(dc.name).second) {
      return invalid("data center " + dc.name + " is listed twice");
    }
    if (dc.nodes.empty()) {
      return invalid("data center " + dc.name + " has no nodes");
    }
    if (dc.nodes.size() > kMaxNodesPerDataCenter) {
      return invalid("data center " + dc.name + " has more than " + std::to_string(kMaxNodesPerDataCenter) + " nodes");
    }
    for (const Node& node : dc.nodes) {
      if (node.zone != Zone::kA && node.zone != Zone::kB) {
        return invalid("node " + node.name + ": zone must be A or B");
      }
      if (auto status = check_node_name(dc, node); !status) {
        return status;
      }
      if (!node_names.insert(node.name).second) {
        return invalid("node name " + node.name + " is used twice");
      }
      if (auto status = check_address(node); !status) {
        return status;
      }
      if (!addresses.insert(node.address).second) {
        return invalid("address " + node.address + " (node " + node.name + ") is used by two nodes");
      }
    }
  }
  if (topology.home_rules.size() > kMaxHomeRules) {
    return invalid("more than " + std::to_string(kMaxHomeRules) + " home rules");
  }
  for (const HomeRule& rule : topology.home_rules) {
    if (auto status = check_pattern(rule.pattern); !status) {
      return status;
    }
    if (!dc_names.contains(rule.data_center)) {
      return invalid("home rule \"" + rule.pattern + "\" names unknown data center \"" + rule.data_center + "\"");
    }
  }
  if (!topology.fallback_order.empty()) {
    std::set<std::string_view> seen;
    for (const std::string& name : topology.fallback_order) {
      if (!dc_names.contains(name)) {
        return invalid("\"fallback_order\" names unknown data center \"" + name + "\"");
      }
      if (!seen.insert(name).second) {
        return invalid("\"fallback_order\" names data center " + name + " twice");
      }
    }
    if (seen.size() != dc_names.size()) {
      for (std::string_view name : dc_names) {
        if (!seen.contains(name)) {
          return invalid("\"fallback_order\" must list every data center; " + std::string(name) + " is missing");
        }
      }
    }
  }
  return {};
}

Result<Topology> parse_topology(std::string_view json_text) {
  if (json_text.size() > kMaxTopologyFileBytes) {
    return invalid("larger than " + std::to_string(kMaxTopologyFileBytes) + " bytes");
  }
  const json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return invalid("not valid JSON");
  }
  try {
    return from_json(root);
  } catch (const json::exception& e) {  // not expected: every access is checked first
    return invalid(std::string("malformed: ") + e.what());
  }
}

Result<Topology> read_topology_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return make_error(ErrorCode::kIo, "topology: cannot open " + path);
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (!file.good() && !file.eof()) {
    return make_error(ErrorCode::kIo, "topology: cannot read " + path);
  }
  auto topology = parse_topology(text.str());
  if (!topology) {
    return make_error(topology.error().code, path + ": " + topology.error().message);
  }
  return topology;
}

std::string to_json(const Topology& topology) {
  // ordered_json keeps the fields in the order written here.
  nlohmann::ordered_json root;
  root["version"] = kFormatVersion;
  root["epoch"] = topology.epoch;
  root["data_centers"] = nlohmann::ordered_json::array();
  for (const DataCenter& dc : topology.data_centers) {
    nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
    for (const Node& node : dc.nodes) {
      nlohmann::ordered_json entry;
      entry["name"] = node.name;
      entry["zone"] = std::string(to_string(node.zone));
      entry["address"] = node.address;
      entry["live"] = node.live;
      nodes.push_back(std::move(entry));
    }
    nlohmann::ordered_json entry;
    entry["name"] = dc.name;
    entry["nodes"] = std::move(nodes);
    root["data_centers"].push_back(std::move(entry));
  }
  root["home_rules"] = nlohmann::ordered_json::array();
  for (const HomeRule& rule : topology.home_rules) {
    nlohmann::ordered_json entry;
    entry["prefix"] = rule.pattern;
    entry["dc"] = rule.data_center;
    root["home_rules"].push_back(std::move(entry));
  }
  root["fallback_order"] = topology.fallback_order;
  return root.dump(2) + "\n";
}

}  // namespace quorum::cluster
