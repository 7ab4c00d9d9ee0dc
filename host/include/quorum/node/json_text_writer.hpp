// Hand-written JSON text for the hot paths (batch results), byte for byte
// what dump_json (command_codec.hpp) gives for the same value, invalid UTF-8
// replaced by U+FFFD the same way.
//
// Why: building an nlohmann::json per batch item and dumping it costs more
// than the command itself; these append the text straight to a buffer.
//
// Threads: pure functions, no state; safe from any thread.
#pragma once

#include <quorum/node/node_service.hpp>

#include <string>
#include <string_view>

namespace quorum::node {

// `text` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view text);

// dump_json(receipt_to_json(receipt)).
void append_receipt_json(std::string& out, const CommandReceipt& receipt);

// {"error": message, "key": key, "status": status}, the "key" member left
// out when `key` is empty.
void append_error_json(std::string& out, std::string_view key, unsigned status, std::string_view message);

}  // namespace quorum::node
