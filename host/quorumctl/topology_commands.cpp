// quorumctl topology show|add-node|remove-node|drain|undrain: read and edit
// the cluster topology where the nodes get it from (docs/quorumctl.md
// "topology", docs/operator-guide.md):
//  --file topology.json     the embedded store: the file is edited under its
//                           lock and replaced atomically (epoch + 1); every
//                           StaticTopologyStore polling it picks it up
//  --etcd URL [--prefix P]  the production store: <P>topology is edited with
//                           a compare-and-swap transaction (epoch + 1); the
//                           nodes' watches push it
// Exit codes: 0 ok; 1 usage (bad arguments or name, unreadable file); 2 the
// edit was refused (unknown node, duplicate name or address, an invalid or
// missing stored topology); 3 etcd is unreachable. A refused edit changes
// nothing.
#include "ctl.hpp"

#include <quorum/cluster/etcd_topology_store.hpp>
#include <quorum/cluster/static_topology_store.hpp>

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace quorum::ctl {
namespace {

using nlohmann::json;
using namespace quorum::cluster;

struct TopologyOptions {
  std::string file;
  std::string etcd;
  std::string prefix = std::string(kDefaultEtcdPrefix);
  bool json = false;
  std::string node;
  std::string address;
};

int exit_code_of(const Error& error) {
  switch (error.code) {
    case ErrorCode::kUnavailable:
      return kExitUnreachable;
    case ErrorCode::kIo:
      return kExitUsage;
    default:
      return kExitRefused;
  }
}

int failed(const std::string& what, const Error& error) {
  return fail(exit_code_of(error), what + ": " + error.message);
}

// What `show` prints for one node.
struct NodeView {
  std::string dc;
  const Node* node;
  std::optional<bool> alive;  // etcd only: the node holds an alive key
};

std::string state_of(const NodeView& view) {
  if (!view.node->live) {
    return view.alive.value_or(false) ? "drained (up)" : "drained";
  }
  if (!view.alive) {
    return "live";  // the file says so; liveness is each node's own view
  }
  return *view.alive ? "live" : "down";
}

int print_topology(const Topology& topology, const std::optional<std::set<std::string>>& alive,
                   const std::string& source, std::optional<int64_t> revision, bool as_json) {
  std::vector<NodeView> views;
  for (const DataCenter& dc : topology.data_centers) {
    for (const Node& node : dc.nodes) {
      views.push_back(NodeView{dc.name, &node, alive ? std::optional<bool>(alive->contains(node.name)) : std::nullopt});
    }
  }
  std::vector<std::string> fallback = topology.fallback_order;
  if (fallback.empty()) {
    for (const DataCenter& dc : topology.data_centers) {
      fallback.push_back(dc.name);
    }
    std::sort(fallback.begin(), fallback.end());
  }
  if (as_json) {
    json out{{"source", source}, {"epoch", topology.epoch}};
    if (revision) {
      out["revision"] = *revision;
    }
    json dcs = json::array();
    for (const DataCenter& dc : topology.data_centers) {
      json nodes = json::array();
      for (const NodeView& view : views) {
        if (view.dc != dc.name) {
          continue;
        }
        json node{{"name", view.node->name},
                  {"zone", std::string(to_string(view.node->zone))},
                  {"address", view.node->address},
                  {"drained", !view.node->live},
                  {"state", state_of(view)}};
        node["alive"] = view.alive ? json(*view.alive) : json(nullptr);
        nodes.push_back(std::move(node));
      }
      dcs.push_back(json{{"name", dc.name}, {"nodes", std::move(nodes)}});
    }
    out["data_centers"] = std::move(dcs);
    json rules = json::array();
    for (const HomeRule& rule : topology.home_rules) {
      rules.push_back(json{{"prefix", rule.pattern}, {"dc", rule.data_center}});
    }
    out["home_rules"] = std::move(rules);
    out["fallback_order"] = fallback;
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  std::cout << "topology epoch " << topology.epoch << " (" << source;
  if (revision) {
    std::cout << ", revision " << *revision;
  }
  std::cout << ")\n";
  Table table({"DC", "NODE", "ZONE", "ADDRESS", "STATE"});
  for (const NodeView& view : views) {
    table.add({view.dc, view.node->name, std::string(to_string(view.node->zone)), view.node->address, state_of(view)});
  }
  table.print();
  std::cout << "home rules:";
  if (topology.home_rules.empty()) {
    std::cout << " none (keys hash to a data center)";
  }
  std::cout << "\n";
  for (const HomeRule& rule : topology.home_rules) {
    std::cout << "  " << rule.pattern << " -> " << rule.data_center << "\n";
  }
  std::cout << "fallback order:";
  for (const std::string& dc : fallback) {
    std::cout << " " << dc;
  }
  std::cout << "\n";
  return kExitOk;
}

Result<std::unique_ptr<EtcdGateway>> connect(const TopologyOptions& options, const Context& context) {
  return EtcdGateway::create(options.etcd, EtcdGateway::Options{context.timeout});
}

int run_show(const TopologyOptions& options, const Context& context, bool as_json) {
  if (!options.file.empty()) {
    Result<Topology> topology = read_topology_file(options.file);
    if (!topology) {
      return fail(kExitUsage, "topology show: " + topology.error().message);
    }
    return print_topology(*topology, std::nullopt, "file " + options.file, std::nullopt, as_json);
  }
  Result<std::unique_ptr<EtcdGateway>> gateway = connect(options, context);
  if (!gateway) {
    return fail(kExitUsage, "topology show: " + gateway.error().message);
  }
  Result<EtcdTopologySnapshot> snapshot = read_etcd_topology(**gateway, options.prefix);
  if (!snapshot) {
    return failed("topology show", snapshot.error());
  }
  return print_topology(snapshot->document, snapshot->alive, "etcd " + options.etcd + " " + options.prefix,
                        snapshot->revision, as_json);
}

int run_edit(const TopologyOptions& options, const Context& context, const std::string& action,
             const TopologyEdit& edit, bool as_json) {
  Result<Topology> edited = make_error(ErrorCode::kInvalidArgument, "no store");
  if (!options.file.empty()) {
    edited = edit_topology_file(options.file, edit);
  } else {
    Result<std::unique_ptr<EtcdGateway>> gateway = connect(options, context);
    if (!gateway) {
      return fail(kExitUsage, "topology " + action + ": " + gateway.error().message);
    }
    edited = edit_etcd_topology(**gateway, options.prefix, edit);
  }
  if (!edited) {
    return failed("topology " + action + " " + options.node, edited.error());
  }
  if (as_json) {
    std::cout << json{{"ok", true}, {"action", action}, {"node", options.node}, {"epoch", edited->epoch}}.dump()
              << "\n";
  } else {
    std::cout << action << " " << options.node << ": done, topology epoch " << edited->epoch << "\n";
  }
  return kExitOk;
}

}  // namespace

GroupRunner add_topology_commands(CLI::App& app, const Context& context) {
  auto* group = app.add_subcommand("topology", "show or edit the cluster topology (a topology.json file or etcd)");
  group->require_subcommand(1);
  group->fallthrough();
  auto options = std::make_shared<TopologyOptions>();
  group->add_option("--file", options->file, "topology.json of the embedded store (edited in place)");
  group->add_option("--etcd", options->etcd, "etcd client URL of the production store (env QUORUM_ETCD)")
      ->envname("QUORUM_ETCD");
  group->add_option("--prefix", options->prefix, "etcd key prefix")->capture_default_str();

  auto* show = group->add_subcommand("show", "data centers, nodes, zones, addresses, live/drained, epoch, home rules");
  show->add_flag("--json", options->json, "JSON on stdout");
  auto* add = group->add_subcommand("add-node", "add a node NAME (DC-ZONE-N) to its data center");
  add->add_option("name", options->node, "node name DC-ZONE-N, e.g. FL-A-5 (DC and zone come from it)")->required();
  add->add_option("--address", options->address, "the node's HOST:PORT")->required();
  add->add_flag("--json", options->json, "JSON on stdout");
  auto* remove = group->add_subcommand("remove-node", "remove a node from the topology");
  remove->add_option("name", options->node, "node name")->required();
  remove->add_flag("--json", options->json, "JSON on stdout");
  auto* drain = group->add_subcommand("drain", "take a node off its ring (kept in the topology)");
  drain->add_option("name", options->node, "node name")->required();
  drain->add_flag("--json", options->json, "JSON on stdout");
  auto* undrain = group->add_subcommand("undrain", "put a drained node back on its ring");
  undrain->add_option("name", options->node, "node name")->required();
  undrain->add_flag("--json", options->json, "JSON on stdout");

  return [=, &context]() -> std::optional<int> {
    if (!*group) {
      return std::nullopt;
    }
    if (options->file.empty() && options->etcd.empty()) {
      return fail(kExitUsage, "topology: give --file topology.json or --etcd URL");
    }
    if (!options->file.empty() && !options->etcd.empty()) {
      return fail(kExitUsage, "topology: give --file or --etcd, not both (is QUORUM_ETCD set?)");
    }
    const bool as_json = context.json || options->json;
    if (*show) {
      return run_show(*options, context, as_json);
    }
    if (*add) {
      Result<NodeNameParts> parts = parse_node_name(options->node);
      if (!parts) {
        return fail(kExitUsage, "topology add-node: " + parts.error().message);
      }
      const Node node{options->node, parts->zone, options->address, true};
      const std::string dc = parts->data_center;
      return run_edit(
          *options, context, "add-node", [node, dc](Topology t) { return with_node_added(std::move(t), dc, node); },
          as_json);
    }
    const std::string name = options->node;
    if (*remove) {
      return run_edit(
          *options, context, "remove-node", [name](Topology t) { return with_node_removed(std::move(t), name); },
          as_json);
    }
    if (*drain || *undrain) {
      const bool live = static_cast<bool>(*undrain);
      return run_edit(
          *options, context, live ? "undrain" : "drain",
          [name, live](Topology t) { return with_node_live(std::move(t), name, live); }, as_json);
    }
    return fail(kExitUsage, "topology: show, add-node, remove-node, drain or undrain");
  };
}

}  // namespace quorum::ctl
