#include <quorum/cluster/topology_state.hpp>
#include <quorum/cluster/topology_store.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace quorum::cluster {

std::set<std::string> required_reporters(const TopologyState& state) {
  std::set<std::string> nodes;
  for (const DataCenter& dc : state.target.data_centers) {
    for (const Node& node : dc.nodes) {
      if (node.live) {
        nodes.insert(node.name);
      }
    }
  }
  return nodes;
}

std::optional<TopologyState> next_topology_state(const TopologyState& now, const Topology& desired,
                                                 const std::set<std::string>& reported, bool forced) {
  if (now.joint()) {
    const std::set<std::string> required = required_reporters(now);
    if (std::includes(reported.begin(), reported.end(), required.begin(), required.end())) {
      return TopologyState{now.target, std::nullopt};
    }
  }
  if (same_except_epoch(desired, now.target)) {
    return std::nullopt;
  }
  if (now.joint() && !forced) {
    return std::nullopt;  // one transition at a time: an operator's change waits
  }
  TopologyState next;
  next.target = desired;
  next.target.epoch = now.target.epoch + 1;
  next.from = now.joint() ? now.from : std::optional<Topology>(now.target);
  return next;
}

// ---- The stored record ----

namespace {

using nlohmann::json;

Error bad_state(const std::string& message) {
  return make_error(ErrorCode::kInvalidArgument, "topology state: " + message);
}

Result<Topology> topology_from(const json& root, const char* field) {
  const auto it = root.find(field);
  if (it == root.end() || !it->is_object()) {
    return bad_state(std::string("\"") + field + "\" must be a topology object");
  }
  Result<Topology> parsed = parse_topology(it->dump());
  if (!parsed) {
    return bad_state(std::string("\"") + field + "\": " + parsed.error().message);
  }
  return parsed;
}

Result<std::set<std::string>> names_from(const json& root, const char* field, const Topology& document,
                                         bool must_be_live) {
  const auto it = root.find(field);
  if (it == root.end() || !it->is_array()) {
    return bad_state(std::string("\"") + field + "\" must be an array of node names");
  }
  std::set<std::string> names;
  for (const json& value : *it) {
    if (!value.is_string()) {
      return bad_state(std::string("\"") + field + "\" must be an array of node names");
    }
    const std::string name = value.get<std::string>();
    const Node* node = node_named(document, name);
    if (node == nullptr || (must_be_live && !node->live)) {
      return bad_state(std::string("\"") + field + "\" names " + name + ", not a" + (must_be_live ? " live" : "") +
                       " node of the document");
    }
    if (!names.insert(name).second) {
      return bad_state(std::string("\"") + field + "\" names " + name + " twice");
    }
  }
  return names;
}

std::set<std::string> down_in(const Topology& document, const std::function<bool(std::string_view)>& alive) {
  std::set<std::string> down;
  for (const DataCenter& dc : document.data_centers) {
    for (const Node& node : dc.nodes) {
      if (node.live && !alive(node.name)) {
        down.insert(node.name);
      }
    }
  }
  return down;
}

}  // namespace

TopologyState StoredTopologyState::state() const {
  return TopologyState{
      effective_topology(
          document, [this](std::string_view name) { return !down.contains(std::string(name)); }, epoch),
      from};
}

std::string to_json(const StoredTopologyState& stored) {
  nlohmann::ordered_json root;
  root["version"] = 1;
  root["epoch"] = stored.epoch;
  root["document"] = nlohmann::ordered_json::parse(to_json(stored.document));
  root["down"] = stored.down;
  root["from"] = stored.from ? nlohmann::ordered_json::parse(to_json(*stored.from)) : nlohmann::ordered_json();
  root["reported"] = stored.reported;
  return root.dump(2) + "\n";
}

Result<StoredTopologyState> parse_stored_topology_state(std::string_view text) {
  if (text.size() > kMaxTopologyStateBytes) {
    return bad_state("larger than " + std::to_string(kMaxTopologyStateBytes) + " bytes");
  }
  const json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return bad_state("not a JSON object");
  }
  try {
    for (const auto& [field, value] : root.items()) {
      (void)value;
      if (field != "version" && field != "epoch" && field != "document" && field != "down" && field != "from" &&
          field != "reported") {
        return bad_state("unknown field \"" + field + "\"");
      }
    }
    const auto version = root.find("version");
    if (version == root.end() || !version->is_number_integer() || version->get<int64_t>() != 1) {
      return bad_state("\"version\" must be 1");
    }
    StoredTopologyState stored;
    const auto epoch = root.find("epoch");
    if (epoch == root.end() || !epoch->is_number_unsigned() || epoch->get<uint64_t>() == 0) {
      return bad_state("\"epoch\" must be a positive integer");
    }
    stored.epoch = epoch->get<uint64_t>();
    Result<Topology> document = topology_from(root, "document");
    if (!document) {
      return document.error();
    }
    stored.document = std::move(document).value();
    Result<std::set<std::string>> down = names_from(root, "down", stored.document, true);
    if (!down) {
      return down.error();
    }
    stored.down = std::move(down).value();
    const auto from = root.find("from");
    if (from == root.end()) {
      return bad_state("\"from\" is missing (null when final)");
    }
    if (!from->is_null()) {
      Result<Topology> parsed = topology_from(root, "from");
      if (!parsed) {
        return parsed.error();
      }
      if (parsed->epoch >= stored.epoch) {
        return bad_state("\"from\" has epoch " + std::to_string(parsed->epoch) + ", not below the state's " +
                         std::to_string(stored.epoch));
      }
      stored.from = std::move(parsed).value();
    }
    Result<std::set<std::string>> reported = names_from(root, "reported", stored.document, false);
    if (!reported) {
      return reported.error();
    }
    stored.reported = std::move(reported).value();
    if (Status placeable = validate(stored.state().target); !placeable) {
      return bad_state("the target is invalid: " + placeable.error().message);
    }
    return stored;
  } catch (const json::exception& e) {  // not expected: every access is checked first
    return bad_state(std::string("malformed: ") + e.what());
  }
}

std::optional<StoredTopologyState> next_stored_topology_state(const std::optional<StoredTopologyState>& now,
                                                              const Topology& document,
                                                              const std::function<bool(std::string_view)>& alive,
                                                              bool joint) {
  if (!now) {
    StoredTopologyState first;
    first.epoch = std::max<uint64_t>(document.epoch, 1);
    first.document = document;
    first.down = down_in(document, alive);
    return first;
  }
  if (now->joint() && !joint) {  // a store switched to final-at-once transitions: finish the pending one
    StoredTopologyState out = *now;
    out.from.reset();
    out.reported.clear();
    return out;
  }
  // While joint, the pending transition's document stays: only liveness may change it (folded).
  const Topology& base = now->joint() ? now->document : document;
  std::set<std::string> down = down_in(base, alive);
  const TopologyState state = now->state();
  const Topology desired = effective_topology(
      base, [&](std::string_view name) { return !down.contains(std::string(name)); }, 0);
  std::optional<TopologyState> next = next_topology_state(state, desired, now->reported, now->joint());
  if (!next) {
    if (now->joint() || document == now->document) {
      return std::nullopt;
    }
    // Final, and the document changed without changing the target (its epoch, an undrained node that is
    // down): record it, so the next change builds on it. Same target, same epoch.
    StoredTopologyState same = *now;
    same.document = document;
    same.down = std::move(down);
    return same;
  }
  StoredTopologyState out;
  if (next->target.epoch == now->epoch) {  // finalized: same target, same record otherwise
    out = *now;
    out.from.reset();
    out.reported.clear();
    return out;
  }
  out.epoch = next->target.epoch;
  out.document = base;
  out.down = std::move(down);
  if (joint) {
    out.from = next->from;
  }
  return out;
}

}  // namespace quorum::cluster
