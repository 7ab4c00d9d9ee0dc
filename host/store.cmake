# quorum_store (Quorum::Store): the node's durable, hash-chained event store.
# Actor log entries (format and hash chain: docs/formats.md), replica meta,
# projection snapshots, idempotency and outbox records behind the EventStore
# interface, with a LevelDB implementation (production) and an in-memory one
# that can lose unsynced writes (the deterministic simulator), plus recovery
# and full-log verification. Public headers: include/quorum/store/.
find_package(leveldb REQUIRED)

add_library(quorum_store STATIC
  src/store/background_env.cpp
  src/store/canonical_msgpack.cpp
  src/store/chain.cpp
  src/store/entry.cpp
  src/store/kv_event_store.cpp
  src/store/layout.cpp
  src/store/leveldb_store.cpp
  src/store/memory_store.cpp
  src/store/recovery.cpp
  src/store/sha256.cpp
  src/store/write_batch.cpp)
add_library(Quorum::Store ALIAS quorum_store)
target_include_directories(quorum_store PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
# Result<T>, Error and QUORUM_ASSERT come from the host library.
target_link_libraries(quorum_store
  PUBLIC quorum_host
  PRIVATE leveldb::leveldb PkgConfig::SODIUM)
target_compile_features(quorum_store PUBLIC cxx_std_20)

