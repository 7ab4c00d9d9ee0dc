// quorumctl topology subcommands (being written; see ctl.hpp).
#include "ctl.hpp"

#include <CLI/CLI.hpp>

namespace quorum::ctl {

GroupRunner add_topology_commands(CLI::App&, const Context&) {
  return [] { return std::optional<int>(); };
}

}  // namespace quorum::ctl
