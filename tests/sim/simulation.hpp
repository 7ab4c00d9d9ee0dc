// The deterministic simulator: a whole Quorum cluster in one process, from a
// seed. Every node runs the real replication core (quorum::replication::
// KeyReplica) over the real entry format and hash chain
// (quorum::store::encode_entry / verify_chain) and the real placement
// (quorum::cluster::Placement); the network, the disks, the clock, the
// topology store and the clients are simulated:
//  - network: delay, loss, duplication, reordering, partitions (a node or a
//    whole data center);
//  - disk: writes become durable only at a later sync; a crash keeps a
//    random prefix of the unsynced writes and loses the rest; seeded
//    corruption of a stored entry must be found by the hash chain on restart;
//  - crashes and restarts, a whole data center lost at once (also while a
//    topology transition is joint);
//  - topology changes through joint transitions (T+1 joint with T, then
//    final once every key's writer caught up), including replacing a
//    key's writer and a follower at once;
//  - clients submitting ballots with ids and retrying until acknowledged.
// After every event the checker verifies: every acknowledged ballot is in
// the log of every later writer of its key; committed prefixes agree on all
// replicas; no id is committed twice; projections (tallies) are equal for
// equal prefixes. At the end (faults healed) every ballot is acknowledged
// and the tally equals the set of acknowledged ballots exactly.
//
// Everything that varies comes from the seed (one 64-bit PRNG, no clocks,
// no threads, no unordered iteration), so a seed replays exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace quorum::sim {

struct SimOptions {
  uint64_t seed = 1;
  uint64_t fault_ms = 12000;  // simulated time with faults and topology changes
  uint64_t heal_ms = 20000;   // then at most this long, healed, for every ballot to be acknowledged
  size_t keys = 5;
  size_t ballots = 240;
  bool faults = true;
  // The planted bug (see KeyReplica's ReplicaOptions): commit after this
  // many followers instead of majorities. 0 = the real protocol.
  size_t unsafe_commit_followers = 0;
  bool unsafe_accept_below_base = false;  // the other planted bug (see ReplicaOptions)
  bool trace = false;  // print every event (for a failing seed)
};

struct SimResult {
  bool ok = true;
  std::string failure;  // the first violation, with the time and what broke
  uint64_t events = 0;
  uint64_t end_ms = 0;
  uint64_t acked = 0;
  uint64_t committed = 0;  // entries committed over all keys
  uint64_t messages = 0;
  uint64_t crashes = 0;
  uint64_t dc_losses = 0;
  uint64_t transitions = 0;  // topology changes that became final
  uint64_t corruptions = 0;  // injected; each was detected or the run failed
  uint64_t partitions = 0;
  uint64_t writer_and_follower_moved = 0;  // joint transitions that changed a key's writer and a follower at once
  uint64_t dc_losses_while_joint = 0;      // whole DCs lost while a transition was joint
  std::string summary() const;
};

SimResult run_simulation(const SimOptions& options);

// The command line that replays `options` exactly.
std::string replay_command(const SimOptions& options);

}  // namespace quorum::sim
