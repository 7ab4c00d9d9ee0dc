// The tally plugin's entry point. QUORUM_TALLY_SCHEMA (1 or 2) picks the
// build: tally-1.0.0 or tally-2.0.0 (see plugins/tally/CMakeLists.txt).
#include "tally.hpp"

#ifndef QUORUM_TALLY_SCHEMA
#define QUORUM_TALLY_SCHEMA 1
#endif

QUORUM_PLUGIN(quorum::plugins::BasicTally<QUORUM_TALLY_SCHEMA>)
