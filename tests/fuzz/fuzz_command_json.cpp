// libFuzzer target: the JSON command decoders (single command, NDJSON batch,
// JSON array batch) on arbitrary bytes. Invariants checked on top of "never
// crashes": every decoded command passes the field validators again and its
// data is exactly one msgpack value that msgpack_to_json accepts.
#include <quorum/node/command_codec.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check(const quorum::Result<quorum::node::Command>& command) {
  using namespace quorum::node;
  if (!command.ok()) {
    if (command.error().message.empty()) {
      std::abort();  // every error must say what is wrong
    }
    return;
  }
  if (!validate_key(command->key).ok() || !validate_id(command->id).ok() || !validate_type(command->type).ok() ||
      command->data.empty() || command->data.size() > kMaxCommandDataBytes) {
    std::abort();
  }
  if (!msgpack_to_json(command->data).ok()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  check(quorum::node::decode_command_json("e/fuzz/p1", body));
  if (auto batch = quorum::node::decode_batch_ndjson(body); batch.ok()) {
    for (const auto& item : *batch) {
      check(item);
    }
  }
  if (auto batch = quorum::node::decode_batch_json(body); batch.ok()) {
    for (const auto& item : *batch) {
      check(item);
    }
  }
  return 0;
}
