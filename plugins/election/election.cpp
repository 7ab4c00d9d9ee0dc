// The election plugin's entry point (election-1.1.0): the handler of
// election.hpp behind the key fast path of entry.hpp.
#include "entry.hpp"

extern "C" QUORUM_PLUGIN_EXPORT const quorum_plugin_descriptor* quorum_plugin_entry(void) {
  return quorum::plugins::election::descriptor();
}
