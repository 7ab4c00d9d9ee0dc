# The node's front end.
#
# quorum_command_codec: request bodies (JSON, msgpack, NDJSON) -> validated
#   node::Command values, and node answers -> JSON. Pure functions; the fuzz
#   targets of tests/fuzz/ link it.
# quorum_http (Quorum::Http): the HTTP/1.1 API of docs/api.md on Boost.Beast
#   over a NodeService (headers: include/quorum/http/).
# quorumd: one node (LocalNode + Server), built once the node library exists.
find_package(Threads REQUIRED)

add_library(quorum_command_codec STATIC
  src/node/command_codec.cpp
  src/node/command_fields.cpp
  src/node/command_json_reader.cpp
  src/node/json_text_writer.cpp)
add_library(Quorum::CommandCodec ALIAS quorum_command_codec)
target_include_directories(quorum_command_codec PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_command_codec PUBLIC quorum_host msgpackc-cxx nlohmann_json::nlohmann_json)
target_compile_features(quorum_command_codec PUBLIC cxx_std_20)

# The live results page (GET /) is embedded from results_page.html at build
# time (a raw string literal; re-generated when the HTML changes).
file(READ ${CMAKE_CURRENT_SOURCE_DIR}/src/http/results_page.html QUORUM_RESULTS_PAGE_HTML)
string(FIND "${QUORUM_RESULTS_PAGE_HTML}" ")QUORUM_PAGE\"" quorum_page_delimiter)
if(NOT quorum_page_delimiter EQUAL -1)
  message(FATAL_ERROR "results_page.html must not contain the raw-string delimiter )QUORUM_PAGE\"")
endif()
configure_file(src/http/results_page.cpp.in ${CMAKE_CURRENT_BINARY_DIR}/generated/results_page.cpp @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/http/results_page.html)

add_library(quorum_http STATIC src/http/api.cpp src/http/server.cpp src/http/results_service.cpp
            ${CMAKE_CURRENT_BINARY_DIR}/generated/results_page.cpp)
add_library(Quorum::Http ALIAS quorum_http)
target_include_directories(quorum_http PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_http PUBLIC quorum_command_codec quorum_host quorum_election_results Boost::headers
                      Threads::Threads)
target_compile_definitions(quorum_http PUBLIC BOOST_BEAST_USE_STD_STRING_VIEW BOOST_ASIO_NO_DEPRECATED)
target_compile_features(quorum_http PUBLIC cxx_std_20)

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include/quorum/node/local_node.hpp AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/src/node/local_node.cpp)
  add_executable(quorumd quorumd/main.cpp)
  target_link_libraries(quorumd PRIVATE quorum_http quorum_node CLI11::CLI11 spdlog::spdlog)
  # jemalloc for the node process (plugins included: they use the process's
  # malloc): the command path allocates many short-lived strings from several
  # threads, where glibc's allocator spent about a quarter of the node's CPU
  # (docs/benchmarks.md). Not with the sanitizers, which bring their own.
  if(NOT QUORUM_SANITIZE)
    find_library(QUORUM_JEMALLOC NAMES jemalloc)
    if(QUORUM_JEMALLOC)
      target_link_libraries(quorumd PRIVATE ${QUORUM_JEMALLOC})
    else()
      message(WARNING "jemalloc not found (Debian: libjemalloc-dev): quorumd uses glibc malloc")
    endif()
  endif()
  target_compile_definitions(quorumd PRIVATE
    QUORUM_BUILD_PLUGIN_DIR="${CMAKE_BINARY_DIR}/plugins"
    QUORUM_INSTALL_PLUGIN_DIR="${CMAKE_INSTALL_FULL_LIBDIR}/quorum/plugins")
  # quorumd starts with the shipped plugins of this build active.
  add_dependencies(quorumd quorum_plugins)
  install(TARGETS quorumd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT node)
endif()
