# The `sdk` test: install the SDK component of a Quorum build into a scratch
# prefix, build sdk/examples/ballot_counter against it out of tree with
# find_package(QuorumSDK), and load the plugin into the host.
# Run by ctest as:  cmake -DQUORUM_BUILD_DIR=... -DEXAMPLE_SOURCE_DIR=... -DWORK_DIR=...
#                         -DGENERATOR=Ninja -DMAKE_PROGRAM=... -DCXX_COMPILER=...
#                         -DTEST_EXECUTABLE=... -P sdk_example_test.cmake
foreach(variable QUORUM_BUILD_DIR EXAMPLE_SOURCE_DIR WORK_DIR TEST_EXECUTABLE)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "sdk_example_test.cmake needs -D${variable}=...")
  endif()
endforeach()

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  message(STATUS "[${step}] ${output}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${step} failed (${result})")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)

run(install ${CMAKE_COMMAND} --install ${QUORUM_BUILD_DIR} --component sdk --prefix ${prefix})

set(configure_args -S ${EXAMPLE_SOURCE_DIR} -B ${build} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
if(GENERATOR)
  list(APPEND configure_args -G ${GENERATOR})
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
run(configure ${CMAKE_COMMAND} ${configure_args})
run(build ${CMAKE_COMMAND} --build ${build})

file(GLOB_RECURSE plugins ${build}/ballot_counter.so)
list(LENGTH plugins count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "expected one ballot_counter.so under ${build}, found: ${plugins}")
endif()
run(load ${TEST_EXECUTABLE} ${plugins})
