# plugvisor_target_options(TARGET): warnings and sanitizers, set per target.
function(plugvisor_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(PLUGVISOR_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PLUGVISOR_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${PLUGVISOR_SANITIZE})
    get_target_property(type ${target} TYPE)
    set(suppressions "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/tsan_suppressions.cpp")
    if(PLUGVISOR_SANITIZE MATCHES "thread" AND type STREQUAL "EXECUTABLE" AND EXISTS "${suppressions}")
      target_sources(${target} PRIVATE "${suppressions}")
    endif()
  endif()
endfunction()

# plugvisor_add_plugin(TARGET [STATIC] SOURCES...): a plugin executable
# assembled into the plugin directory build/plugins/ under its target name,
# with libstdc++ and libgcc linked statically (set
# PLUGVISOR_PLUGIN_SHARED_RUNTIME to keep them shared). STATIC links the C
# library too (-static-pie): no dynamic loader at all at start-up, for a
# plugin that uses none of glibc's functions that load shared objects at run
# time (getpwnam, getaddrinfo of a name, iconv, dlopen: the linker warns).
# A project that adds plugvisor with add_subdirectory gets ${CMAKE_BINARY_DIR}/plugins
# unless it sets PLUGVISOR_PLUGIN_DIR itself.
function(plugvisor_add_plugin target)
  cmake_parse_arguments(arg "STATIC" "" "" ${ARGN})
  set(dir "${PLUGVISOR_PLUGIN_DIR}")
  if(NOT dir)
    set(dir "${CMAKE_BINARY_DIR}/plugins")
  endif()
  add_executable(${target} ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(${target} PRIVATE plugvisor::sdk)
  plugvisor_target_options(${target})
  # A plugin starts on demand: linking the C++ runtime statically saves the
  # dynamic loader about 0.6 ms of CPU per launch (libstdc++ and libgcc_s
  # relocations), and the C library another 0.2 ms. Not with sanitizers,
  # whose runtimes expect the shared ones.
  if(NOT PLUGVISOR_SANITIZE AND NOT PLUGVISOR_PLUGIN_SHARED_RUNTIME)
    if(arg_STATIC)
      set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
      target_link_options(${target} PRIVATE -static-pie)
    else()
      target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
    endif()
  endif()
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${dir}")
endfunction()
