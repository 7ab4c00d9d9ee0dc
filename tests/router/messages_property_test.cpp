// Properties of the router's messages: any bytes decode or fail cleanly,
// and every command request, hand-off point and raw-entries reply (value or
// error) round-trips (RC_PARAMS="seed=N" replays).
#include <quorum/router/messages.hpp>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

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
  // Hand-off replies: a decoded value re-encodes to the same value.
  auto point = decode_point_reply(body);
  if (point.ok()) {
    auto again = decode_point_reply(encode(point));
    RC_ASSERT(again.ok());
    RC_ASSERT(*again == *point);
  }
  auto entries = decode_entries_reply(body);
  if (entries.ok()) {
    auto again = decode_entries_reply(encode(entries));
    RC_ASSERT(again.ok());
    RC_ASSERT(*again == *entries);
  }
}

// A body that is a reply with the tag and a few fields of any shape: the
// decoders see well-formed msgpack, not just noise that fails at byte one.
RC_GTEST_PROP(RouterMessagesProperty, ReplyShapedBodiesDecodeOrFailCleanly,
              (uint64_t seq, const std::vector<std::string>& entries, bool as_str)) {
  // Heads of 32 bytes half of the time, of 0..64 bytes otherwise.
  const size_t n = *rc::gen::oneOf(rc::gen::just<size_t>(32), rc::gen::inRange<size_t>(0, 65));
  const std::string head = *rc::gen::container<std::string>(n, rc::gen::arbitrary<char>());
  std::string body("\x93\x00\xcf", 3);  // [0, uint64 seq, head]
  for (int shift = 56; shift >= 0; shift -= 8) {
    body.push_back(static_cast<char>((seq >> shift) & 0xff));
  }
  body.push_back(as_str ? '\xd9' : '\xc4');  // str8 or bin8
  body.push_back(static_cast<char>(n));
  body.append(head);
  auto point = decode_point_reply(body);
  // Only a 32-byte head is a point (a bin; a str head is not pinned here).
  if (as_str) {
    RC_ASSERT(!point.ok() || n == 32);
  } else {
    RC_ASSERT(point.ok() == (n == 32));
  }
  if (point.ok()) {
    RC_ASSERT(point->seq == seq);
    RC_ASSERT(std::string(reinterpret_cast<const char*>(point->head.data()), 32) == head);
  } else {
    RC_ASSERT(point.error().code == ErrorCode::kUnavailable);
  }
  // [0, [entries as str or bin]]: only bins are entries.
  std::string list("\x92\x00\xdd", 3);
  for (int shift = 24; shift >= 0; shift -= 8) {
    list.push_back(static_cast<char>((entries.size() >> shift) & 0xff));
  }
  for (const std::string& entry : entries) {
    list.push_back(as_str ? '\xdb' : '\xc6');  // str32 or bin32
    for (int shift = 24; shift >= 0; shift -= 8) {
      list.push_back(static_cast<char>((entry.size() >> shift) & 0xff));
    }
    list.append(entry);
  }
  auto decoded = decode_entries_reply(list);
  RC_ASSERT(decoded.ok() == (!as_str || entries.empty()));
  if (decoded.ok()) {
    RC_ASSERT(*decoded == entries);
  } else {
    RC_ASSERT(decoded.error().code == ErrorCode::kUnavailable);
  }
}

RC_GTEST_PROP(RouterMessagesProperty, PointsRoundTrip, (uint64_t seq, const std::array<uint8_t, 32>& head)) {
  node::KeyPoint point;
  point.seq = seq;
  point.head = head;
  auto back = decode_point_reply(encode(Result<node::KeyPoint>(point)));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == point);
}

RC_GTEST_PROP(RouterMessagesProperty, EntriesRoundTrip, (const std::vector<std::string>& entries)) {
  auto back = decode_entries_reply(encode(Result<std::vector<std::string>>(entries)));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == entries);
}

RC_GTEST_PROP(RouterMessagesProperty, HandoffErrorsRoundTrip, (const std::string& message)) {
  const auto code = static_cast<ErrorCode>(*rc::gen::inRange(0, static_cast<int>(ErrorCode::kUnavailable) + 1));
  auto point = decode_point_reply(encode(Result<node::KeyPoint>(Error{code, message})));
  RC_ASSERT(!point.ok());
  RC_ASSERT(point.error().code == code);
  RC_ASSERT(point.error().message == message);
  auto entries = decode_entries_reply(encode(Result<std::vector<std::string>>(Error{code, message})));
  RC_ASSERT(!entries.ok());
  RC_ASSERT(entries.error().code == code);
  RC_ASSERT(entries.error().message == message);
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
