#include "command_fields.hpp"

#include <quorum/node/command_codec.hpp>

#include <string>
#include <utility>

namespace quorum::node::detail {

Error invalid(std::string message) { return make_error(ErrorCode::kInvalidArgument, std::move(message)); }
Error too_big(std::string message) { return make_error(ErrorCode::kResourceExhausted, std::move(message)); }

std::string quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (text.size() > 64) {
    out += "...";
  }
  out += "'";
  return out;
}

Status check_data_size(size_t size) {
  if (size > kMaxCommandDataBytes) {
    return too_big("field 'data' is " + std::to_string(size) + " bytes as msgpack; the limit is " +
                   std::to_string(kMaxCommandDataBytes) + " bytes");
  }
  return {};
}

Status finish_command(std::string_view url_key, Command& command, bool has_type) {
  if (!url_key.empty()) {
    if (!command.key.empty() && command.key != url_key) {
      return invalid("field 'key' " + quote(command.key) + " differs from the key in the URL " + quote(url_key));
    }
    command.key = std::string(url_key);
  } else if (command.key.empty()) {
    return invalid("missing field 'key'");
  }
  if (Status s = validate_key(command.key); !s) {
    return s;
  }
  if (Status s = validate_id(command.id); !s) {
    return s;
  }
  if (!has_type) {
    return invalid("missing field 'type'");
  }
  return validate_type(command.type);
}

Result<std::string*> string_field(Command& command, std::string_view name) {
  if (name == "id") {
    return &command.id;
  }
  if (name == "type") {
    return &command.type;
  }
  if (name == "key") {
    return &command.key;
  }
  return invalid("unknown command field " + quote(name) + " (expected 'key', 'id', 'type', 'data')");
}

Status store_data(Command& command, const void* bytes, size_t size) {
  if (Status s = check_data_size(size); !s) {
    return s;
  }
  command.data.assign(static_cast<const char*>(bytes), size);
  return Status{};
}

}  // namespace quorum::node::detail
