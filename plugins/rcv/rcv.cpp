// The rcv plugin's shared library: exports the Rcv handler (plugins/rcv/rcv.hpp).
#include "rcv.hpp"

QUORUM_PLUGIN(quorum::plugins::rcv::Rcv)
