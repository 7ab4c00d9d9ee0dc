# quorum_process (Quorum::Process): child processes for quorumctl and the
# tests. ChildProcess (fork/exec with the other descriptors closed, output to
# files, SIGTERM-then-SIGKILL termination, release to leave a daemon running),
# free_loopback_port, wait_for_line (a readiness line in a log file), pid_alive,
# and EtcdServer: a real single-member etcd on loopback (`quorumctl cluster up
# --etcd` and the cluster tests). POSIX only. Public headers:
# include/quorum/process/.
find_package(Threads REQUIRED)
add_library(quorum_process STATIC
  src/process/child_process.cpp
  src/process/etcd_server.cpp)
add_library(Quorum::Process ALIAS quorum_process)
target_include_directories(quorum_process PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
# Result<T>, Error and QUORUM_ASSERT come from the host library; the etcd
# health check uses the HTTP client.
target_link_libraries(quorum_process
  PUBLIC quorum_host
  PRIVATE quorum_client nlohmann_json::nlohmann_json Threads::Threads)
target_compile_features(quorum_process PUBLIC cxx_std_20)
