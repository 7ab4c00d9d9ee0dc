// The projections plugin's shared library: exports the Projections handler
// (plugins/projections/projections.hpp).
#include "projections.hpp"

QUORUM_PLUGIN(quorum::plugins::projections::Projections)
