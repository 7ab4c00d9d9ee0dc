// The election plugin's entry point (election-1.0.0); see election.hpp.
#include "election.hpp"

QUORUM_PLUGIN(quorum::plugins::election::ElectionHandler)
