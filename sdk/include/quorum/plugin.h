/* Quorum plugin ABI, version 1.
 *
 * This one C header is the whole contract between the Quorum host (quorumd)
 * and an event-handler plugin. A plugin is a shared library that exports one
 * symbol, QUORUM_PLUGIN_ENTRY_SYMBOL, returning a pointer to a constant
 * descriptor. Everything that crosses the boundary is either a plain C scalar
 * or msgpack bytes; no C++ types, exceptions or allocators cross it.
 *
 * Ownership, in one sentence each:
 * - quorum_bytes passed INTO the plugin are borrowed: valid only for the
 *   duration of the call, never freed or kept by the plugin.
 * - quorum_buffer returned BY the plugin is owned by the plugin: the host
 *   reads it and then hands it back through descriptor->free, exactly once.
 * - the descriptor and its strings are static in the plugin and live as long
 *   as the library is loaded.
 *
 * Purity: handle() must be a deterministic function of its arguments. The ABI
 * gives it no clock, randomness, I/O or host callbacks other than the
 * read-only history cursor; time arrives inside the message. Every replica
 * and every citizen re-running the plugin over the published log must get the
 * same bytes.
 *
 * Versioning: a plugin built for ABI major M loads only into a host speaking
 * major M. Minor versions only append fields to the end of the descriptor;
 * struct_size tells the host which fields exist, so an older plugin runs in a
 * newer host and a newer plugin in an older host (the host ignores fields it
 * does not know).
 */
#ifndef QUORUM_PLUGIN_H
#define QUORUM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QUORUM_ABI_MAJOR 1
#define QUORUM_ABI_MINOR 0

/* The one symbol a plugin exports. */
#define QUORUM_PLUGIN_ENTRY_SYMBOL "quorum_plugin_entry"

#if defined(__GNUC__)
#define QUORUM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define QUORUM_PLUGIN_EXPORT
#endif

/* Return codes of handle/handle_batch/init/migrate. */
#define QUORUM_STATUS_OK 0       /* accepted: out holds {ok: true, ...} */
#define QUORUM_STATUS_REJECTED 1 /* the handler refused the message: out holds {ok: false, error} */
#define QUORUM_STATUS_FAILED 2   /* the handler broke (exception, bad input): out holds {ok: false, error} */

/* Capability flags: what optional entry points and behaviours a plugin has. */
#define QUORUM_CAP_INIT 0x1u         /* init is set */
#define QUORUM_CAP_MIGRATE 0x2u      /* migrate is set */
#define QUORUM_CAP_HANDLE_BATCH 0x4u /* handle_batch is set */
#define QUORUM_CAP_READS_HISTORY 0x8u /* handle reads the history cursor */
#define QUORUM_CAP_KNOWN_MASK 0xFu

/* A borrowed, read-only view of bytes (msgpack unless said otherwise). */
typedef struct quorum_bytes {
  const uint8_t* data;
  size_t size;
} quorum_bytes;

/* Bytes the plugin allocated; returned to it through descriptor->free.
 * opaque is the plugin's own bookkeeping (for example its allocation). */
typedef struct quorum_buffer {
  uint8_t* data;
  size_t size;
  void* opaque;
} quorum_buffer;

/* A read-only cursor over the actor's earlier messages (the event log
 * before the message being handled), owned by the host. It is a cursor, not
 * a copy: read() returns a view that stays valid until the next read() on
 * the same cursor or until the call that received the cursor returns. */
typedef struct quorum_history {
  void* context;   /* host-owned; pass back unchanged */
  uint64_t length; /* number of earlier messages, indices 0 .. length-1 */
  /* Sets *out to the message (same msgpack envelope as handle's message) at
   * index; returns 0 on success, non-zero if index >= length or the host
   * cannot read it. */
  int32_t (*read)(void* context, uint64_t index, quorum_bytes* out);
} quorum_history;

/* handle: fold one message into the projection.
 *   key         the actor key (UTF-8, not NUL-terminated)
 *   projection  this handler's current projection (msgpack; empty = none yet)
 *   message     msgpack map {"id": str, "type": str, "time": int (unix ms), "data": any}
 *   history     earlier messages of this actor (may have length 0)
 *   out         on any return, a msgpack map:
 *               OK:               {"ok": true, "projection": bin, "effects": [effect...]}
 *               REJECTED/FAILED:  {"ok": false, "error": str}
 *               effect = {"to": str (actor key), "type": str, "data": any}
 * Returns a QUORUM_STATUS_* code. Must not throw, must not keep pointers. */
typedef int32_t (*quorum_handle_fn)(quorum_bytes key, quorum_bytes projection, quorum_bytes message,
                                    const quorum_history* history, quorum_buffer* out);

/* free: release a buffer this plugin returned. Must accept a zeroed buffer. */
typedef void (*quorum_free_fn)(quorum_buffer* buffer);

/* init (optional, QUORUM_CAP_INIT): the empty projection for a new actor,
 * from the handler's configuration (msgpack; empty = no configuration).
 * out: {"ok": true, "projection": bin} or {"ok": false, "error": str}. */
typedef int32_t (*quorum_init_fn)(quorum_bytes config, quorum_buffer* out);

/* migrate (optional, QUORUM_CAP_MIGRATE): convert a projection written by an
 * earlier version whose projection_schema was from_schema into this
 * version's schema. out as for init. Without migrate, the host rebuilds the
 * projection by replaying the history through handle(). */
typedef int32_t (*quorum_migrate_fn)(uint32_t from_schema, quorum_bytes old_projection, quorum_buffer* out);

/* handle_batch (optional, QUORUM_CAP_HANDLE_BATCH): the same as calling
 * handle() once per message in order, where a rejected message leaves the
 * projection unchanged. messages is a msgpack array of message maps. The
 * history is the actor's log before the FIRST message of the batch (it does
 * not grow within the batch), so the host uses handle_batch only for plugins
 * without QUORUM_CAP_READS_HISTORY.
 * out: {"ok": true, "projection": bin, "results": [result...]} with
 * result = {"ok": true, "effects": [...]} | {"ok": false, "error": str}. */
typedef int32_t (*quorum_handle_batch_fn)(quorum_bytes key, quorum_bytes projection, quorum_bytes messages,
                                          const quorum_history* history, quorum_buffer* out);

/* The descriptor a plugin returns. Layout is pinned below; never reorder,
 * only append (with a minor version bump). */
typedef struct quorum_plugin_descriptor {
  uint32_t struct_size;       /* sizeof(quorum_plugin_descriptor) as the plugin compiled it */
  uint16_t abi_major;         /* QUORUM_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor;         /* QUORUM_ABI_MINOR the plugin was built with */
  const char* name;           /* handler name: [a-z0-9_-], 1..64 characters */
  const char* semver;         /* the plugin's version, "MAJOR.MINOR.PATCH" */
  uint32_t projection_schema; /* version of the projection's shape; equal = compatible */
  uint32_t capabilities;      /* QUORUM_CAP_* */
  quorum_handle_fn handle;    /* required */
  quorum_free_fn free;        /* required */
  /* Optional (NULL when absent); present in every 1.0 descriptor. */
  quorum_init_fn init;
  quorum_migrate_fn migrate;
  quorum_handle_batch_fn handle_batch;
} quorum_plugin_descriptor;

/* The smallest descriptor a 1.x host accepts: up to and including free. */
#define QUORUM_DESCRIPTOR_MIN_SIZE (offsetof(quorum_plugin_descriptor, free) + sizeof(quorum_free_fn))

typedef const quorum_plugin_descriptor* (*quorum_plugin_entry_fn)(void);

#if defined(__cplusplus)
#define QUORUM_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define QUORUM_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Pin the layout: a change here is an ABI break. (LP64, the only target.) */
QUORUM_STATIC_ASSERT(sizeof(void*) == 8, "Quorum ABI v1 is defined for LP64 targets");
QUORUM_STATIC_ASSERT(sizeof(quorum_bytes) == 16, "quorum_bytes layout");
QUORUM_STATIC_ASSERT(sizeof(quorum_buffer) == 24, "quorum_buffer layout");
QUORUM_STATIC_ASSERT(sizeof(quorum_history) == 24, "quorum_history layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, struct_size) == 0, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, abi_major) == 4, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, abi_minor) == 6, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, name) == 8, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, semver) == 16, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, projection_schema) == 24, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, capabilities) == 28, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, handle) == 32, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, free) == 40, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, init) == 48, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, migrate) == 56, "descriptor layout");
QUORUM_STATIC_ASSERT(offsetof(quorum_plugin_descriptor, handle_batch) == 64, "descriptor layout");
QUORUM_STATIC_ASSERT(sizeof(quorum_plugin_descriptor) == 72, "descriptor layout (v1.0)");
QUORUM_STATIC_ASSERT(QUORUM_DESCRIPTOR_MIN_SIZE == 48, "minimum descriptor size (v1.0)");

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QUORUM_PLUGIN_H */
