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

# plugvisor_add_plugin(TARGET SOURCES...): a plugin executable assembled into
# the plugin directory build/plugins/ under its target name, with libstdc++
# and libgcc linked statically (set PLUGVISOR_PLUGIN_SHARED_RUNTIME to keep
# them shared).
# A project that adds plugvisor with add_subdirectory gets ${CMAKE_BINARY_DIR}/plugins
# unless it sets PLUGVISOR_PLUGIN_DIR itself.
function(plugvisor_add_plugin target)
  set(dir "${PLUGVISOR_PLUGIN_DIR}")
  if(NOT dir)
    set(dir "${CMAKE_BINARY_DIR}/plugins")
  endif()
  add_executable(${target} ${ARGN})
  target_link_libraries(${target} PRIVATE plugvisor::sdk)
  plugvisor_target_options(${target})
  # A plugin starts on demand: linking the C++ runtime statically saves the
  # dynamic loader about 0.6 ms of CPU per launch (libstdc++ and libgcc_s
  # relocations). Not with sanitizers, whose runtimes expect the shared ones.
  if(NOT PLUGVISOR_SANITIZE AND NOT PLUGVISOR_PLUGIN_SHARED_RUNTIME)
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${dir}")
endfunction()
