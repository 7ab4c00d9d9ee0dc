// Properties of the router's messages: any bytes decode or fail cleanly,
// and every command request round-trips (RC_PARAMS="seed=N" replays).
#include <quorum/router/messages.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

namespace quorum::router {
namespace {

RC_GTEST_PROP(RouterMessagesProperty, AnyBytesDecodeOrFailCleanly, (const std::string& body)) {
  // Never crashes; a decoded request re-encodes to a request that decodes equal.
  auto request = decode_command_request(body);
  if (request.ok()) {
    auto again = decode_command_request(encode(*request));
    RC_ASSERT(again.ok());
    RC_ASSERT(again->command.key == request->command.key);
    RC_ASSERT(again->command.data == request->command.data);
  }
  (void)decode_read_request(body);
  (void)decode_command_reply(body);
  (void)decode_actor_reply(body);
  (void)decode_log_reply(body);
}

RC_GTEST_PROP(RouterMessagesProperty, CommandsRoundTrip,
              (const std::string& origin, const std::string& key, const std::string& id, const std::string& data)) {
  CommandRequest request{origin, {key, id, "cvr", data}};
  auto back = decode_command_request(encode(request));
  RC_ASSERT(back.ok());
  RC_ASSERT(back->origin == origin);
  RC_ASSERT(back->command.key == key);
  RC_ASSERT(back->command.id == id);
  RC_ASSERT(back->command.data == data);
}

}  // namespace
}  // namespace quorum::router
