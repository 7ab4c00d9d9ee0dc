# quorum_client (Quorum::Client): the HTTP client of a quorumd node
# (docs/api.md), used by quorumctl and the API tests. Public headers:
# include/quorum/client/.
find_package(Boost 1.74 REQUIRED)  # Beast and Asio: header-only
find_package(Threads REQUIRED)
add_library(quorum_client STATIC src/client/http_client.cpp)
add_library(Quorum::Client ALIAS quorum_client)
target_include_directories(quorum_client PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(quorum_client
  PUBLIC quorum_host
  PRIVATE Boost::headers nlohmann_json::nlohmann_json Threads::Threads)
# Same Beast/Asio configuration as quorum_http (one binary may link both).
target_compile_definitions(quorum_client PRIVATE BOOST_BEAST_USE_STD_STRING_VIEW BOOST_ASIO_NO_DEPRECATED)
target_compile_features(quorum_client PUBLIC cxx_std_20)
