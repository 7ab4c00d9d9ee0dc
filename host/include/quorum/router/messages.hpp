// The router's messages between nodes: what a mailroom frame's `kind` means
// and how its `body` (msgpack) is laid out. The mailroom moves frames; this
// module gives them meaning. Part of the node-to-node protocol
// (docs/mailroom.md, "Router messages"): a change here is a protocol change.
//
// Requests carry the node that asked (`origin`), so a forwarded request is
// answered straight to it with the original correlation id.
//
// Decoding never throws: malformed requests come back as kInvalidArgument,
// malformed replies as kUnavailable (the peer is treated as unavailable).
// Sizes are bounded by the mailroom's frame limit and by the node's own
// bounds (kMaxKeyBytes, kMaxCommandDataBytes, max_read_log_entries).
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/node/local_node.hpp>
#include <quorum/node/node_service.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::router {

enum class Kind : uint8_t {
  kHeartbeat = 1,        // liveness for the embedded failure detector; body: the sender's evidence digest
                         // (msgpack [[node, age_ms], ...], cluster_node.cpp; empty from older nodes)
  kCommand = 2,          // CommandRequest; answered by kCommandReply
  kCommandReply = 3,     // Result<CommandReceipt>
  kReadActor = 4,        // ReadRequest; answered by kReadActorReply
  kReadActorReply = 5,   // Result<ActorView>
  kReadLog = 6,          // ReadRequest; answered by kReadLogReply
  kReadLogReply = 7,     // Result<std::vector<LogEntryView>>
  // Hand-off of keys the topology moved (ClusterNode, docs/mailroom.md):
  kHandoffQuery = 8,     // ReadRequest{origin, key}: seal the key (send its traffic to origin) and answer
                         // kHandoffPoint once nothing of it is in flight here
  kHandoffPoint = 9,     // Result<KeyPoint>: the key's stored seq and head here
  kFetchLog = 10,        // ReadRequest{origin, key, from, limit}: raw entries, whoever owns the key
  kFetchLogReply = 11,   // Result<std::vector<std::string>>: raw entries
  kHandoffOffer = 12,    // ReadRequest{origin, key, from = the offerer's seq}: "I hold this key of yours"
  kHandoffTaken = 13,    // empty body: the owner holds at least what the offer said
  // Replication (replicated clusters, docs/replication.md "Wire form"):
  kReplication = 14,     // body: one replication::Envelope (replication/codec.hpp); the frame's key is its key
};

// A request forwarded more often than this is refused (kUnavailable): the
// topology is changing faster than messages travel.
inline constexpr uint8_t kMaxHops = 4;

struct CommandRequest {
  std::string origin;  // node that answers the client
  node::Command command;
};

struct ReadRequest {
  std::string origin;
  std::string key;
  uint64_t from = 0;   // kReadLog only
  uint64_t limit = 0;  // kReadLog only
};

std::string encode(const CommandRequest& request);
Result<CommandRequest> decode_command_request(std::string_view body);

std::string encode(const ReadRequest& request);
Result<ReadRequest> decode_read_request(std::string_view body);

// Replies: either the value or the Error (code and message), as the owner
// produced it.
std::string encode(const Result<node::CommandReceipt>& reply);
Result<node::CommandReceipt> decode_command_reply(std::string_view body);

std::string encode(const Result<node::ActorView>& reply);
Result<node::ActorView> decode_actor_reply(std::string_view body);

std::string encode(const Result<std::vector<node::LogEntryView>>& reply);
Result<std::vector<node::LogEntryView>> decode_log_reply(std::string_view body);

std::string encode(const Result<node::KeyPoint>& reply);
Result<node::KeyPoint> decode_point_reply(std::string_view body);

// Raw entries (each at most store::kMaxEntryBytes).
std::string encode(const Result<std::vector<std::string>>& reply);
Result<std::vector<std::string>> decode_entries_reply(std::string_view body);

}  // namespace quorum::router
