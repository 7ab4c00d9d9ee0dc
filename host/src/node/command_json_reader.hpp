// Internal: JSON command text -> Commands without building an nlohmann::json
// DOM. A strict fast reader takes the common case, nlohmann's SAX parser
// everything else, and a command's "data" is written straight to msgpack
// (msgpack_writer.hpp). decode_command_json, decode_batch_ndjson and
// decode_batch_json (command_codec.cpp) run on it.
//
// Why: several times faster than json::parse + command_from_json
// (tests/bench/codec_bench.cpp), with exactly the commands and errors that
// path gives: the same parser and error texts, fields handled in std::map
// order with the last duplicate winning, and data bytes equal to
// json::to_msgpack of the parsed value (tests/http/codec_equivalence_test.cpp).
#pragma once

#include "msgpack_writer.hpp"

#include <quorum/host/result.hpp>
#include <quorum/node/command_codec.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace quorum::node::detail {

// A top-level field of a command object as the parser met it.
struct Field {
  std::string name;
  bool is_string = false;
  std::string value;  // string values of 'id', 'type' and 'key' only
};

// nlohmann::json SAX handler decoding command objects. item_depth 0: the
// text is one command; 1: the text is an array of commands. It never stops
// the parser except on a syntax error, so syntax errors anywhere win over
// field errors, as with json::parse. Feed it with run_sax.
class CommandSax {
 public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  CommandSax(size_t item_depth, std::string_view url_key) : item_depth_(item_depth), url_key_(url_key) {}

  // Forgets everything parsed; keeps buffers for the next text.
  void reset();
  const std::string& error() const { return error_; }
  std::string& scratch() { return scratch_; }  // FastJsonReader's string buffer
  bool root_array() const { return root_array_; }
  size_t item_count() const { return item_count_; }
  // One result per item (at most kMaxBatchCommands of them).
  BatchItems& items() { return items_; }

  // The events of nlohmann::json_sax; string_view_value and key_view are the
  // copy-free forms the fast reader calls.
  bool null();
  bool boolean(bool value);
  bool number_integer(number_integer_t value);
  bool number_unsigned(number_unsigned_t value);
  bool number_float(number_float_t value, const string_t& text);
  bool string(string_t& value);
  bool string_view_value(std::string_view value);
  bool binary(binary_t& value);
  bool start_object(size_t elements);
  bool start_array(size_t elements);
  bool end_object();
  bool end_array();
  bool key(string_t& name);
  bool key_view(std::string_view name);
  bool parse_error(size_t position, const std::string& last_token, const nlohmann::detail::exception& e);

 private:
  bool in_items() const { return item_depth_ == 0 || root_array_; }
  bool at_item() const { return depth_ == item_depth_ && in_items(); }
  bool at_field() const { return item_object_ && depth_ == item_depth_ + 1; }

  template <typename Write>
  bool on_scalar(bool is_string, std::string_view text, Write write);
  bool on_start(bool object);
  bool on_end(bool object);
  void close_data_if_done();
  void add_field(bool is_string, std::string_view text);
  void begin_item(bool object);
  void finish_item();
  // The command_from_json logic over the fields seen.
  Result<Command> build_command();

  const size_t item_depth_;
  const std::string_view url_key_;
  size_t depth_ = 0;          // containers open
  bool root_array_ = false;   // the text is an array (item_depth_ 1)
  bool item_object_ = false;  // inside an item that is an object
  bool data_open_ = false;    // the "data" value is being written
  size_t item_count_ = 0;
  std::string field_name_;
  std::vector<Field> fields_;
  MsgpackWriter writer_;
  BatchItems items_;
  std::string error_;
  std::string scratch_;
};

// Runs `sax` over `text` (after sax.reset()): the fast reader first,
// nlohmann's parser when that declines. Errors: deeper than depth_bound
// ([ and { nesting) or not JSON ("malformed JSON: " and nlohmann's message).
Status run_sax(CommandSax& sax, std::string_view text, size_t depth_bound);

// The one command of a parsed text (item_depth 0).
Result<Command> single_command(CommandSax& sax);

}  // namespace quorum::node::detail
