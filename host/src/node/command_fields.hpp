// Internal: the rules for a command's fields, shared by every command decoder
// (msgpack and the JSON DOM path in command_codec.cpp, the DOM-free JSON path
// in command_json_reader.cpp), so that all of them accept the same commands
// and word their errors the same way.
#pragma once

#include <quorum/host/result.hpp>
#include <quorum/node/node_service.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace quorum::node::detail {

// Errors of the codecs: kInvalidArgument (HTTP 400) and kResourceExhausted
// (HTTP 413).
Error invalid(std::string message);
Error too_big(std::string message);

// A printable rendering of client bytes for error messages: at most 64
// characters, non-printable bytes escaped.
std::string quote(std::string_view text);

// kResourceExhausted when a command's data (msgpack) is over
// kMaxCommandDataBytes.
Status check_data_size(size_t size);

// Where a command's string field goes ('id', 'type' or 'key'), or an error
// naming an unknown field.
Result<std::string*> string_field(Command& command, std::string_view name);

// Stores the command's data (msgpack bytes) after checking its size.
Status store_data(Command& command, const void* bytes, size_t size);

// The last step of decoding a command once its fields are read: takes the
// key from the URL (`url_key`, which a "key" field must equal) or, without
// one, from the field; then validates key, id and type (`has_type`: the
// command had a 'type' field).
Status finish_command(std::string_view url_key, Command& command, bool has_type);

}  // namespace quorum::node::detail
