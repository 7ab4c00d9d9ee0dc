# quorum_add_plugin(<target> SOURCES ... [OUTPUT_NAME name] [DEFINITIONS ...])
# Builds one event-handler plugin as a shared library against the SDK only,
# with the flags that make hot-swap unloading real: hidden visibility (only
# the entry point is exported) and -fno-gnu-unique (GCC's unique symbols
# would turn dlclose into a no-op).
function(quorum_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_NAME" "SOURCES;DEFINITIONS" ${ARGN})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Quorum::SDK)
  target_compile_definitions(${target} PRIVATE ${ARG_DEFINITIONS})
  target_compile_options(${target} PRIVATE -fvisibility=hidden -fvisibility-inlines-hidden
                         $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  target_link_options(${target} PRIVATE -Wl,--no-undefined -Wl,-z,defs)
  set_target_properties(${target} PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/plugins")
  if(ARG_OUTPUT_NAME)
    set_target_properties(${target} PROPERTIES OUTPUT_NAME ${ARG_OUTPUT_NAME})
  endif()
endfunction()

# quorum_install_plugin(<target>): install into <prefix>/lib/quorum/plugins
# (component "plugins"), where quorumd looks for plugins by default.
macro(quorum_install_plugin target)
  include(GNUInstallDirs)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/quorum/plugins COMPONENT plugins)
endmacro()
