// Command codecs: turn request bodies (JSON, msgpack, NDJSON) into validated
// node::Command values, and node answers (receipts, actor views, log entries,
// stream events) into JSON for clients.
//
// Why here: every byte a client sends passes through these functions before
// anything else sees it, so they are the node's input boundary and its fuzz
// targets (tests/fuzz/). They never throw, never crash and never allocate
// more than a small multiple of their input: nesting depth, container sizes,
// data size and batch length are all bounded.
//
// Errors are values. ErrorCode::kInvalidArgument means "malformed or invalid
// field" (HTTP 400); ErrorCode::kResourceExhausted means "over a size bound"
// (HTTP 413). Messages name the field and what is wrong with it.
//
// Threads: pure functions, no state; safe from any thread.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/node/json_text_writer.hpp>
#include <quorum/node/node_service.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::node {

// Deepest nesting accepted in a command (JSON or msgpack), counting the
// command map itself.
inline constexpr size_t kMaxCommandDepth = 64;

// Field validation (each returns kInvalidArgument with a message naming the
// field). Keys: [A-Za-z0-9._:@/-], 1..256 bytes, no empty segment, no
// leading or trailing '/'. Ids: at most 128 bytes, no control characters
// (empty = none). Types: [a-z0-9_.-]{1,64}.
Status validate_key(std::string_view key);
Status validate_id(std::string_view id);
Status validate_type(std::string_view type);

// One command for the actor `key` (taken from the URL). The body is a map
// {"id"?, "type", "data"?, "key"?}; a "key" field, if present, must equal
// `key`. Missing data becomes nil. data is re-encoded as one msgpack value
// of at most kMaxCommandDataBytes (kResourceExhausted above that).
Result<Command> decode_command_json(std::string_view key, std::string_view body);
Result<Command> decode_command_msgpack(std::string_view key, std::string_view body);

// Decodes an already parsed command map (the key comes from its "key"
// field when `key` is empty). The JSON decoders above and below give the
// same commands and errors without building the DOM (a SAX pass writes
// "data" straight to msgpack); this is their reference.
Result<Command> command_from_json(std::string_view key, const nlohmann::json& value);

// A batch: one result per command, in request order; a bad item fails only
// itself. The Error of the whole batch (kInvalidArgument: not an array /
// malformed msgpack; kResourceExhausted: more than kMaxBatchCommands) means
// nothing could be decoded. NDJSON: one command map per line with a "key";
// blank lines are skipped; "\r\n" line ends are accepted.
using BatchItems = std::vector<Result<Command>>;
Result<BatchItems> decode_batch_ndjson(std::string_view body);
Result<BatchItems> decode_batch_msgpack(std::string_view body);
// A JSON array of command maps (each with a "key").
Result<BatchItems> decode_batch_json(std::string_view body);

// Msgpack bytes (one value) -> JSON. Binary and ext values become
// {"bin": "<hex>"} / {"ext": type, "bin": "<hex>"}; map keys that are not
// strings become their JSON text (scalar, bin and ext keys) or "<array of
// N>" / "<map of N>" (container keys), so the output stays linear in the
// input; invalid UTF-8 is replaced when the JSON is dumped (use dump_json).
// Errors: malformed, trailing bytes, deeper than kMaxCommandDepth.
Result<nlohmann::json> msgpack_to_json(std::string_view bytes);

// JSON -> text, replacing invalid UTF-8 instead of throwing.
std::string dump_json(const nlohmann::json& value);

// Hand-written JSON for hot paths, byte for byte what dump_json gives
// (append_json_string, append_receipt_json, append_error_json): see
// json_text_writer.hpp, included above.

// Node answers as the JSON of docs/api.md. Projection and payload bytes that
// are not valid msgpack are rendered as {"invalid_msgpack": "<reason>"}.
nlohmann::json receipt_to_json(const CommandReceipt& receipt);
nlohmann::json actor_view_to_json(const ActorView& view);
nlohmann::json log_entry_to_json(const LogEntryView& entry);
nlohmann::json stream_event_to_json(const StreamEvent& event);

}  // namespace quorum::node
