// The Quorum C++ handler layer: write a typed handler class, end the file with
// QUORUM_PLUGIN(MyHandler), and the SDK exports the C entry point of
// <quorum/plugin.h>, (de)serialises the projection with msgpack-cxx and turns
// every exception into an error result at the boundary. Header-only; a
// plugin links nothing but msgpack-cxx.
//
// A handler class looks like this (see sdk/examples/ for a whole plugin):
//
//   struct Counter {
//     static constexpr const char* name = "counter";       // [a-z0-9_-]{1,64}
//     static constexpr const char* version = "1.0.0";      // semver
//     static constexpr uint32_t projection_schema = 1;     // bump when the shape changes
//     struct Projection { uint64_t count = 0; MSGPACK_DEFINE_MAP(count) };
//     quorum::sdk::Outcome handle(const quorum::sdk::Context& context,
//                                 const quorum::sdk::Message& message,
//                                 Projection& projection) const;
//   };
//   QUORUM_PLUGIN(Counter)
//
// Rules (the host and every verifier rely on them):
// - handle() is pure: the same (key, projection, message, history) always
//   gives the same bytes. No clocks, randomness, I/O, globals or statics
//   that change; time comes in message.time_ms.
// - Decide first, then mutate: return Outcome::reject() before changing the
//   projection. (The SDK discards the projection of a rejected message in
//   handle(); handle_batch restores it, so both stay correct either way.)
// - Optional members: `static Projection initial(const msgpack::object* config)`
//   (exports init), `static Projection migrate(uint32_t from_schema,
//   const msgpack::object& old)` (exports migrate), `static constexpr bool
//   reads_history = true`, and custom `static void decode(const msgpack::object&,
//   Projection&)` / `static void encode(msgpack::packer<msgpack::sbuffer>&,
//   const Projection&)` for a hand-tuned projection codec.
// - Opt-in fast paths (no msgpack-c object tree; see msgpack_reader.hpp):
//   `static constexpr bool lazy_message = true` reads the envelope with the
//   lazy reader: handle() then gets `message.data == nullptr` and must read
//   the payload from `message.data_view` (a MsgView). The whole envelope is
//   still validated (one skip over its bytes), so malformed bytes are
//   rejected exactly as before. `static void decode_bytes(std::string_view
//   bytes, Projection&)` decodes the projection straight from its bytes and
//   is used in preference to decode(const msgpack::object&, ...).
//   `static constexpr bool decides_before_mutating = true` promises that
//   handle() leaves the projection untouched whenever it rejects or throws
//   (InvalidMessage, msgpack type errors): handle_batch then skips the copy
//   of the projection it otherwise takes before every message to restore on
//   a rejection (a whole-projection copy per message). Only opt in when every
//   reject/throw path of handle() comes before its first mutation.
#pragma once

#include <quorum/plugin.h>
#include <quorum/sdk/msgpack_reader.hpp>
#include <quorum/sdk/msgpack_view.hpp>

#include <msgpack.hpp>

#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quorum::sdk {

// One message as handle() sees it: the envelope the host wraps around every
// command. `data` points into the message bytes and lives for the call.
// For a handler with `lazy_message = true`, `data` is null and `data_view`
// is the payload (a view of the message bytes; nil if absent); for every
// other handler `data_view` is absent (present() false) and `data` is set.
struct Message {
  std::string_view id;    // idempotency key (a ballot id), may be empty
  std::string_view type;  // command type, e.g. "cvr"
  int64_t time_ms = 0;    // time the host stamped on the command (unix ms)
  const msgpack::object* data = nullptr;  // payload; never null after from_object (nil object if absent)
  MsgView data_view;                      // payload; set only by from_view (lazy_message handlers)

  // Parse an envelope from its bytes with the lazy reader: the same checks
  // and errors as from_object (after msgpack-c's unpack), first match per
  // key, and every byte of the envelope validated. Throws InvalidMessage
  // (MalformedMsgpack for bytes that are not msgpack).
  static Message from_view(const MsgView& envelope) {
    if (!envelope.is_map()) {
      (void)envelope.skip();  // malformed bytes first, as msgpack-c's unpack would
      throw InvalidMessage("message is not a msgpack map");
    }
    static constexpr uint8_t nil_byte[1] = {0xc0};
    Message message;
    bool has_id = false, has_type = false, has_time = false, has_data = false;
    std::optional<std::string_view> type;
    for (const MsgEntry& entry : envelope.items()) {  // visits (so validates) every key and value
      const std::optional<std::string_view> key = entry.key.as_string();
      if (!key) {
        continue;
      }
      if (*key == "id" && !has_id) {
        has_id = true;
        message.id = entry.value.as_string().value_or(std::string_view{});
      } else if (*key == "type" && !has_type) {
        has_type = true;
        type = entry.value.as_string();
      } else if (*key == "time" && !has_time) {
        has_time = true;
        message.time_ms = entry.value.as_int().value_or(0);
      } else if (*key == "data" && !has_data) {
        has_data = true;
        message.data_view = entry.value;
      }
    }
    if (!type) {
      throw InvalidMessage("missing or non-string field 'type'");
    }
    message.type = *type;
    if (!has_data) {
      message.data_view = MsgView(nil_byte, 1, 1);
    }
    message.data = nullptr;
    return message;
  }

  // Parse an envelope object (a msgpack map). Throws InvalidMessage.
  static Message from_object(const msgpack::object& envelope) {
    if (envelope.type != msgpack::type::MAP) {
      throw InvalidMessage("message is not a msgpack map");
    }
    Message message;
    message.id = as_string(find(envelope, "id")).value_or(std::string_view{});
    message.type = require_string(envelope, "type");
    message.time_ms = as_int(find(envelope, "time")).value_or(0);
    const msgpack::object* data = find(envelope, "data");
    static const msgpack::object nil_object{};
    message.data = data != nullptr ? data : &nil_object;
    return message;
  }
};

// A message read from history, owning the zone its objects live in.
class HistoryEntry {
 public:
  HistoryEntry(msgpack::object_handle handle) : handle_(std::move(handle)), message_(Message::from_object(handle_.get())) {}
  const Message& message() const noexcept { return message_; }

 private:
  msgpack::object_handle handle_;
  Message message_;
};

// Read-only cursor over the actor's earlier messages (oldest first).
class History {
 public:
  explicit History(const quorum_history* raw) noexcept : raw_(raw) {}
  uint64_t size() const noexcept { return raw_ == nullptr ? 0 : raw_->length; }

  // The message at `index` (< size()). Throws InvalidMessage if the host
  // cannot produce it. The entry references host memory only until the next
  // read or the end of the call; keep what you need by value.
  HistoryEntry at(uint64_t index) const {
    quorum_bytes bytes{nullptr, 0};
    if (raw_ == nullptr || index >= raw_->length || raw_->read(raw_->context, index, &bytes) != 0) {
      throw InvalidMessage("history entry " + std::to_string(index) + " is not readable");
    }
    return HistoryEntry(msgpack::unpack(reinterpret_cast<const char*>(bytes.data), bytes.size));
  }

 private:
  const quorum_history* raw_;
};

// What handle() knows besides the message and its projection.
struct Context {
  std::string_view key;
  History history;
};

// A side effect: a message for another actor (for example a precinct's tally
// delta for its county), delivered by the host at least once and applied
// exactly once by the receiver.
struct Effect {
  std::string to;
  std::string type;
  std::string data;  // msgpack bytes of the payload

  template <class T>
  static Effect make(std::string to, std::string type, const T& value) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    return Effect{std::move(to), std::move(type), std::string(buffer.data(), buffer.size())};
  }
};

// The result of handle(): accepted (with side effects) or rejected (with a
// reason the client is shown).
class Outcome {
 public:
  static Outcome accept(std::vector<Effect> effects = {}) { return Outcome(true, {}, std::move(effects)); }
  static Outcome reject(std::string reason) { return Outcome(false, std::move(reason), {}); }

  bool accepted() const noexcept { return accepted_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::vector<Effect>& effects() const noexcept { return effects_; }

 private:
  Outcome(bool accepted, std::string reason, std::vector<Effect> effects)
      : accepted_(accepted), reason_(std::move(reason)), effects_(std::move(effects)) {}
  bool accepted_;
  std::string reason_;
  std::vector<Effect> effects_;
};

template <class H>
concept HandlerClass = requires(const H& handler, const Context& context, const Message& message,
                                typename H::Projection& projection) {
  { H::name } -> std::convertible_to<const char*>;
  { H::version } -> std::convertible_to<const char*>;
  { H::projection_schema } -> std::convertible_to<uint32_t>;
  { handler.handle(context, message, projection) } -> std::same_as<Outcome>;
  requires std::default_initializable<typename H::Projection>;
  requires std::copyable<typename H::Projection>;
};

namespace detail {

using Packer = msgpack::packer<msgpack::sbuffer>;

// Unpack without copying strings: the bytes outlive every object we make.
inline bool reference_everything(msgpack::type::object_type, std::size_t, void*) { return true; }

inline msgpack::object_handle unpack_view(const uint8_t* data, size_t size) {
  return msgpack::unpack(reinterpret_cast<const char*>(data), size, &reference_everything);
}


template <class H>
constexpr bool lazy_message = requires { requires H::lazy_message; };

template <class H>
constexpr bool decides_before_mutating = requires { requires H::decides_before_mutating; };

template <class H>
constexpr bool has_decode_bytes = requires(std::string_view b, typename H::Projection& p) { H::decode_bytes(b, p); };

// The message envelope as handle() sees it; `keep` owns the msgpack-c tree
// on the default path (unused by lazy_message handlers).
template <class H>
Message parse_message(const uint8_t* data, size_t size, msgpack::object_handle& keep, SkipMemo& memo) {
  if constexpr (lazy_message<H>) {
    return Message::from_view(MsgView(data, size, 0, &memo));
  } else {
    keep = unpack_view(data, size);
    return Message::from_object(keep.get());
  }
}

template <class H>
void decode_projection(const uint8_t* data, size_t size, typename H::Projection& projection) {
  if (size == 0) {
    if constexpr (requires { H::initial(static_cast<const msgpack::object*>(nullptr)); }) {
      projection = H::initial(nullptr);
    }
    return;
  }
  if constexpr (has_decode_bytes<H>) {
    H::decode_bytes(std::string_view(reinterpret_cast<const char*>(data), size), projection);
  } else {
    msgpack::object_handle handle = unpack_view(data, size);
    if constexpr (requires(const msgpack::object& o, typename H::Projection& p) { H::decode(o, p); }) {
      H::decode(handle.get(), projection);
    } else {
      handle.get().convert(projection);
    }
  }
}

template <class H>
void encode_projection(Packer& packer, const typename H::Projection& projection) {
  if constexpr (requires(Packer& k, const typename H::Projection& p) { H::encode(k, p); }) {
    H::encode(packer, projection);
  } else {
    packer.pack(projection);
  }
}

inline void pack_str(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<uint32_t>(text.size()));
}

// Writes the projection as a msgpack bin whose bytes are the encoded
// projection, encoding in place: a bin32 header is reserved and patched.
template <class H>
void pack_projection_bin(msgpack::sbuffer& buffer, Packer& packer, const typename H::Projection& projection) {
  const char header[5] = {static_cast<char>(0xc6), 0, 0, 0, 0};
  buffer.write(header, sizeof header);
  const size_t start = buffer.size();
  encode_projection<H>(packer, projection);
  const size_t length = buffer.size() - start;
  if (length > 0xffffffffu) {
    throw std::length_error("projection larger than 4 GiB");
  }
  char* patch = buffer.data() + start - 4;
  patch[0] = static_cast<char>((length >> 24) & 0xff);
  patch[1] = static_cast<char>((length >> 16) & 0xff);
  patch[2] = static_cast<char>((length >> 8) & 0xff);
  patch[3] = static_cast<char>(length & 0xff);
}

inline void pack_effects(msgpack::sbuffer& buffer, Packer& packer, const std::vector<Effect>& effects) {
  packer.pack_array(static_cast<uint32_t>(effects.size()));
  for (const Effect& effect : effects) {
    packer.pack_map(3);
    pack_str(packer, "to");
    pack_str(packer, effect.to);
    pack_str(packer, "type");
    pack_str(packer, effect.type);
    pack_str(packer, "data");
    if (effect.data.empty()) {
      packer.pack_nil();
    } else {
      buffer.write(effect.data.data(), effect.data.size());
    }
  }
}

// Hand a finished buffer to the host; the host returns it through free_buffer.
inline void release(msgpack::sbuffer& buffer, quorum_buffer* out) noexcept {
  out->size = buffer.size();
  char* data = buffer.release();
  out->data = reinterpret_cast<uint8_t*>(data);
  out->opaque = data;
}

// {"ok": false, "error": reason}; never throws (falls back to an empty buffer).
inline int32_t write_error(int32_t status, std::string_view reason, quorum_buffer* out) noexcept {
  try {
    msgpack::sbuffer buffer(64 + reason.size());
    Packer packer(buffer);
    packer.pack_map(2);
    pack_str(packer, "ok");
    packer.pack_false();
    pack_str(packer, "error");
    pack_str(packer, reason);
    release(buffer, out);
  } catch (...) {
    *out = quorum_buffer{nullptr, 0, nullptr};
  }
  return status;
}

// Runs `body` and converts any exception into a FAILED (or, for
// InvalidMessage / msgpack type errors, REJECTED) result.
template <class Body>
int32_t guarded(quorum_buffer* out, Body&& body) noexcept {
  if (out == nullptr) {
    return QUORUM_STATUS_FAILED;
  }
  *out = quorum_buffer{nullptr, 0, nullptr};
  try {
    return body();
  } catch (const MalformedMsgpack& error) {  // the lazy reader's unpack errors
    return write_error(QUORUM_STATUS_REJECTED, std::string("invalid msgpack: ") + error.what(), out);
  } catch (const InvalidMessage& error) {
    return write_error(QUORUM_STATUS_REJECTED, std::string("invalid message: ") + error.what(), out);
  } catch (const msgpack::type_error&) {
    return write_error(QUORUM_STATUS_REJECTED, "invalid message: a field has the wrong type", out);
  } catch (const msgpack::unpack_error& error) {
    return write_error(QUORUM_STATUS_REJECTED, std::string("invalid msgpack: ") + error.what(), out);
  } catch (const std::exception& error) {
    return write_error(QUORUM_STATUS_FAILED, std::string("handler threw: ") + error.what(), out);
  } catch (...) {
    return write_error(QUORUM_STATUS_FAILED, "handler threw a non-standard exception", out);
  }
}

template <class H>
int32_t handle(quorum_bytes key, quorum_bytes projection_bytes, quorum_bytes message_bytes,
               const quorum_history* history, quorum_buffer* out) noexcept {
  return guarded(out, [&]() -> int32_t {
    msgpack::object_handle message_handle;
    SkipMemo memo;  // outlives every view of the message (lazy_message)
    const Message message = parse_message<H>(message_bytes.data, message_bytes.size, message_handle, memo);
    typename H::Projection projection{};
    decode_projection<H>(projection_bytes.data, projection_bytes.size, projection);
    const Context context{std::string_view(reinterpret_cast<const char*>(key.data), key.size), History(history)};
    const H handler{};
    Outcome outcome = handler.handle(context, message, projection);
    if (!outcome.accepted()) {
      return write_error(QUORUM_STATUS_REJECTED, outcome.reason(), out);
    }
    msgpack::sbuffer buffer(projection_bytes.size + 256);
    Packer packer(buffer);
    packer.pack_map(3);
    pack_str(packer, "ok");
    packer.pack_true();
    pack_str(packer, "projection");
    pack_projection_bin<H>(buffer, packer, projection);
    pack_str(packer, "effects");
    pack_effects(buffer, packer, outcome.effects());
    release(buffer, out);
    return QUORUM_STATUS_OK;
  });
}

template <class H>
int32_t handle_batch(quorum_bytes key, quorum_bytes projection_bytes, quorum_bytes messages_bytes,
                     const quorum_history* history, quorum_buffer* out) noexcept {
  return guarded(out, [&]() -> int32_t {
    // The messages: a msgpack-c tree, or (lazy_message) views of the bytes,
    // validated in full first so malformed bytes reject the whole call as before.
    msgpack::object_handle messages_handle;
    uint32_t count = 0;
    std::vector<MsgView> views;
    SkipMemo memo;  // outlives every view of the messages (lazy_message)
    if constexpr (lazy_message<H>) {
      const MsgView all(messages_bytes.data, messages_bytes.size, 0, &memo);
      (void)all.skip();
      if (!all.is_array()) {
        throw InvalidMessage("handle_batch expects a msgpack array of messages");
      }
      const MsgView::ArrayRange range = all.elements();
      views.reserve(range.size());
      for (const MsgView& view : range) {
        views.push_back(view);
      }
      count = static_cast<uint32_t>(views.size());
    } else {
      messages_handle = unpack_view(messages_bytes.data, messages_bytes.size);
      const msgpack::object& messages = messages_handle.get();
      if (messages.type != msgpack::type::ARRAY) {
        throw InvalidMessage("handle_batch expects a msgpack array of messages");
      }
      count = messages.via.array.size;
    }
    typename H::Projection projection{};
    decode_projection<H>(projection_bytes.data, projection_bytes.size, projection);
    const Context context{std::string_view(reinterpret_cast<const char*>(key.data), key.size), History(history)};
    const H handler{};
    msgpack::sbuffer results(64 * (count + 1));
    Packer results_packer(results);
    results_packer.pack_array(count);
    for (uint32_t i = 0; i < count; ++i) {
      // The projection to restore on a rejection; not needed (nor copied)
      // when the handler promises to reject before mutating.
      std::optional<typename H::Projection> before;
      if constexpr (!decides_before_mutating<H>) {
        before.emplace(projection);
      }
      auto write_rejection = [&](std::string_view reason) {
        if constexpr (!decides_before_mutating<H>) {
          projection = std::move(*before);
        }
        results_packer.pack_map(2);
        pack_str(results_packer, "ok");
        results_packer.pack_false();
        pack_str(results_packer, "error");
        pack_str(results_packer, reason);
      };
      try {
        Message message;
        if constexpr (lazy_message<H>) {
          message = Message::from_view(views[i]);
        } else {
          message = Message::from_object(messages_handle.get().via.array.ptr[i]);
        }
        Outcome outcome = handler.handle(context, message, projection);
        if (!outcome.accepted()) {
          write_rejection(outcome.reason());
          continue;
        }
        results_packer.pack_map(2);
        pack_str(results_packer, "ok");
        results_packer.pack_true();
        pack_str(results_packer, "effects");
        pack_effects(results, results_packer, outcome.effects());
      } catch (const InvalidMessage& error) {
        write_rejection(std::string("invalid message: ") + error.what());
      } catch (const msgpack::type_error&) {
        write_rejection("invalid message: a field has the wrong type");
      }
    }
    msgpack::sbuffer buffer(results.size() + projection_bytes.size + 256);
    Packer packer(buffer);
    packer.pack_map(3);
    pack_str(packer, "ok");
    packer.pack_true();
    pack_str(packer, "projection");
    pack_projection_bin<H>(buffer, packer, projection);
    pack_str(packer, "results");
    buffer.write(results.data(), results.size());
    release(buffer, out);
    return QUORUM_STATUS_OK;
  });
}

template <class H>
void write_projection_result(const typename H::Projection& projection, quorum_buffer* out) {
  msgpack::sbuffer buffer(256);
  Packer packer(buffer);
  packer.pack_map(2);
  pack_str(packer, "ok");
  packer.pack_true();
  pack_str(packer, "projection");
  pack_projection_bin<H>(buffer, packer, projection);
  release(buffer, out);
}

template <class H>
int32_t init(quorum_bytes config, quorum_buffer* out) noexcept {
  return guarded(out, [&]() -> int32_t {
    if (config.size == 0) {
      write_projection_result<H>(H::initial(nullptr), out);
    } else {
      msgpack::object_handle handle = msgpack::unpack(reinterpret_cast<const char*>(config.data), config.size);
      write_projection_result<H>(H::initial(&handle.get()), out);
    }
    return QUORUM_STATUS_OK;
  });
}

template <class H>
int32_t migrate(uint32_t from_schema, quorum_bytes old_projection, quorum_buffer* out) noexcept {
  return guarded(out, [&]() -> int32_t {
    msgpack::object_handle handle;
    if (old_projection.size > 0) {
      handle = msgpack::unpack(reinterpret_cast<const char*>(old_projection.data), old_projection.size);
    }
    write_projection_result<H>(H::migrate(from_schema, handle.get()), out);
    return QUORUM_STATUS_OK;
  });
}

inline void free_buffer(quorum_buffer* buffer) noexcept {
  if (buffer != nullptr) {
    std::free(buffer->opaque);
    *buffer = quorum_buffer{nullptr, 0, nullptr};
  }
}

template <class H>
constexpr bool has_initial = requires { H::initial(static_cast<const msgpack::object*>(nullptr)); };
template <class H>
constexpr bool has_migrate = requires(const msgpack::object& o) { H::migrate(uint32_t{0}, o); };
template <class H>
constexpr bool reads_history = requires { requires H::reads_history; };

template <class H>
constexpr uint32_t capabilities() {
  uint32_t flags = QUORUM_CAP_HANDLE_BATCH;
  if constexpr (has_initial<H>) {
    flags |= QUORUM_CAP_INIT;
  }
  if constexpr (has_migrate<H>) {
    flags |= QUORUM_CAP_MIGRATE;
  }
  if constexpr (reads_history<H>) {
    flags |= QUORUM_CAP_READS_HISTORY;
  }
  return flags;
}

template <class H>
constexpr quorum_init_fn init_pointer() {
  if constexpr (has_initial<H>) {
    return &init<H>;
  } else {
    return nullptr;
  }
}

template <class H>
constexpr quorum_migrate_fn migrate_pointer() {
  if constexpr (has_migrate<H>) {
    return &migrate<H>;
  } else {
    return nullptr;
  }
}

template <class H>
struct DescriptorFor {
  static constexpr quorum_plugin_descriptor value = {
      sizeof(quorum_plugin_descriptor),
      QUORUM_ABI_MAJOR,
      QUORUM_ABI_MINOR,
      H::name,
      H::version,
      H::projection_schema,
      capabilities<H>(),
      &handle<H>,
      &free_buffer,
      init_pointer<H>(),
      migrate_pointer<H>(),
      &handle_batch<H>,
  };
};

}  // namespace detail

// The descriptor of a handler class, for in-process use (tests, benchmarks).
template <HandlerClass H>
const quorum_plugin_descriptor* descriptor() noexcept {
  return &detail::DescriptorFor<H>::value;
}

}  // namespace quorum::sdk

// Exports the plugin entry point for one handler class. Use once per plugin.
#define QUORUM_PLUGIN(HandlerType)                                                       \
  extern "C" QUORUM_PLUGIN_EXPORT const quorum_plugin_descriptor* quorum_plugin_entry(void) { \
    return ::quorum::sdk::descriptor<HandlerType>();                                     \
  }
