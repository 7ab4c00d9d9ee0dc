// libFuzzer target: the key / id / type validators and the renderers of
// node answers (projection and payload bytes are arbitrary msgpack).
#include <quorum/node/command_codec.hpp>

#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)quorum::node::validate_key(bytes);
  (void)quorum::node::validate_id(bytes);
  (void)quorum::node::validate_type(bytes);
  quorum::node::ActorView view{"k", 1, "h", {{"h", "1.0.0", 1, std::string(bytes)}}};
  (void)quorum::node::dump_json(quorum::node::actor_view_to_json(view));
  quorum::node::LogEntryView entry{1, 1, 0, std::string(bytes.substr(0, 8)), "t", std::string(bytes), "h", "p"};
  (void)quorum::node::dump_json(quorum::node::log_entry_to_json(entry));
  return 0;
}
