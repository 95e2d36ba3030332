# plugvisor_target_options(TARGET): warnings and sanitizers, set per target.
function(plugvisor_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(PLUGVISOR_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PLUGVISOR_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${PLUGVISOR_SANITIZE})
  endif()
endfunction()

# plugvisor_add_plugin(TARGET SOURCES...): a plugin executable assembled into
# the plugin directory build/plugins/ under its target name.
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
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${dir}")
endfunction()
