#include <quorum/cluster/topology_store.hpp>

#include <algorithm>
#include <optional>
#include <utility>

namespace quorum::cluster {

namespace {

Error invalid(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }

bool upper_or_digit(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

Error unknown_node(std::string_view name) {
  return make_error(ErrorCode::kNotFound, "topology: no node named \"" + std::string(name) + "\"");
}

}  // namespace

Result<NodeNameParts> parse_node_name(std::string_view name) {
  const auto bad = [&] {
    return invalid("node name \"" + std::string(name) +
                   "\" is not DC-ZONE-N (DC: [A-Z][A-Z0-9]*, ZONE: A or B, N: a number from 1), e.g. FL-A-1");
  };
  if (name.size() > kMaxNameBytes) {
    return bad();
  }
  const size_t first = name.find('-');
  if (first == std::string_view::npos || first == 0 || first + 2 >= name.size() || name[first + 2] != '-') {
    return bad();
  }
  const std::string_view dc = name.substr(0, first);
  const char zone = name[first + 1];
  const std::string_view number = name.substr(first + 3);
  if (dc[0] < 'A' || dc[0] > 'Z' || !std::all_of(dc.begin(), dc.end(), upper_or_digit) ||
      (zone != 'A' && zone != 'B') || number.empty() || number.size() > 9 || number[0] == '0' ||
      !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad();
  }
  return NodeNameParts{std::string(dc), zone == 'A' ? Zone::kA : Zone::kB};
}

Result<Topology> with_node_added(Topology topology, std::string_view data_center, Node node) {
  Result<NodeNameParts> parts = parse_node_name(node.name);
  if (!parts) {
    return parts.error();
  }
  if (parts->data_center != data_center || parts->zone != node.zone) {
    return invalid("node \"" + node.name + "\" does not belong in data center " + std::string(data_center) + ", zone " +
                   std::string(to_string(node.zone)) + " (its name says " + parts->data_center + ", zone " +
                   std::string(to_string(parts->zone)) + ")");
  }
  if (find_node(topology, node.name)) {
    return invalid("topology: a node named \"" + node.name + "\" already exists");
  }
  for (const DataCenter& dc : topology.data_centers) {
    for (const Node& other : dc.nodes) {
      if (other.address == node.address) {
        return invalid("topology: address " + node.address + " is already used by " + other.name);
      }
    }
  }
  const auto dc = std::find_if(topology.data_centers.begin(), topology.data_centers.end(),
                               [&](const DataCenter& d) { return d.name == data_center; });
  if (dc == topology.data_centers.end()) {
    return make_error(ErrorCode::kNotFound, "topology: no data center named \"" + std::string(data_center) +
                                                "\" (adding a data center is an edit of topology.json)");
  }
  dc->nodes.push_back(std::move(node));
  if (Status valid = validate(topology); !valid) {
    return valid.error();
  }
  return topology;
}

Result<Topology> with_node_removed(Topology topology, std::string_view node_name) {
  const auto where = find_node(topology, node_name);
  if (!where) {
    return unknown_node(node_name);
  }
  auto& nodes = topology.data_centers[where->dc].nodes;
  if (nodes.size() == 1) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "topology: " + std::string(node_name) + " is the last node of data center " +
                          topology.data_centers[where->dc].name + "; a data center cannot be empty");
  }
  nodes.erase(nodes.begin() + static_cast<std::ptrdiff_t>(where->node));
  if (Status valid = validate(topology); !valid) {
    return valid.error();
  }
  return topology;
}

Result<Topology> with_node_live(Topology topology, std::string_view node_name, bool live) {
  const auto where = find_node(topology, node_name);
  if (!where) {
    return unknown_node(node_name);
  }
  topology.data_centers[where->dc].nodes[where->node].live = live;
  return topology;
}

Topology effective_topology(const Topology& document, const std::function<bool(std::string_view)>& is_alive,
                            uint64_t epoch) {
  Topology effective = document;
  effective.epoch = epoch;
  for (DataCenter& dc : effective.data_centers) {
    for (Node& node : dc.nodes) {
      node.live = node.live && is_alive(node.name);
    }
  }
  return effective;
}

bool same_except_epoch(const Topology& a, const Topology& b) {
  return a.data_centers == b.data_centers && a.home_rules == b.home_rules && a.fallback_order == b.fallback_order;
}

Result<std::optional<TopologyView>> next_view(const TopologyView& view, const TopologyState& state) {
  const bool same_target = view.current && view.current->topology() == state.target;
  const bool same_from =
      (!state.from && !view.previous) || (state.from && view.previous && view.previous->topology() == *state.from);
  if (same_target && same_from) {
    return std::optional<TopologyView>();
  }
  auto place = [](const Topology& topology) -> Result<std::shared_ptr<const Placement>> {
    Result<Placement> placement = Placement::create(topology);
    if (!placement) {
      return make_error(ErrorCode::kInvalidArgument, "cannot place epoch " + std::to_string(topology.epoch) + ": " +
                                                         placement.error().message);
    }
    return std::make_shared<const Placement>(std::move(placement).value());
  };
  TopologyView next = view;
  if (!same_target) {
    Result<std::shared_ptr<const Placement>> current = place(state.target);
    if (!current) {
      return current.error();
    }
    next.current = *current;
  }
  if (!state.from) {
    next.previous = nullptr;
  } else if (!same_from) {
    Result<std::shared_ptr<const Placement>> previous = place(*state.from);
    if (!previous) {
      return previous.error();
    }
    next.previous = *previous;
  }
  return std::optional<TopologyView>(std::move(next));
}

}  // namespace quorum::cluster
