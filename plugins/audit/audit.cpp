// The audit plugin's entry point (the handler is in audit.hpp).
#include "audit.hpp"

QUORUM_PLUGIN(quorum::plugins::Audit)
