# quorum_mailroom (Quorum::Mailroom): the per-node transport between quorumd
# nodes (DESIGN §6). Moves opaque frames between named nodes over Boost.Asio
# TCP: a handshake with protocol version, node name and topology epoch;
# length-prefixed msgpack bundles of frames, zstd-compressed when large;
# bounded per-peer queues with backpressure; reconnect with jittered backoff.
# Wire format: docs/mailroom.md. Public headers: include/quorum/mailroom/.
find_package(Boost 1.74 REQUIRED)  # Asio: header-only
find_package(Threads REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)  # bundle compression
add_library(quorum_mailroom STATIC
  src/mailroom/codec.cpp
  src/mailroom/mailroom.cpp)
add_library(Quorum::Mailroom ALIAS quorum_mailroom)
target_include_directories(quorum_mailroom PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
# Result<T>, Error and QUORUM_ASSERT come from the host library.
target_link_libraries(quorum_mailroom
  PUBLIC quorum_host Threads::Threads
  PRIVATE Boost::headers msgpackc-cxx PkgConfig::ZSTD spdlog::spdlog)
# Same Asio configuration as quorum_http, quorum_client and quorum_cluster (one binary may link all).
target_compile_definitions(quorum_mailroom PRIVATE BOOST_BEAST_USE_STD_STRING_VIEW BOOST_ASIO_NO_DEPRECATED)
target_compile_features(quorum_mailroom PUBLIC cxx_std_20)
