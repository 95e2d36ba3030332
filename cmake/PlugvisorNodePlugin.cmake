# plugvisor_add_node_plugin(TARGET SCRIPT DIR [ID id]): a plain Node.js plugin
# (no SDK, no npm package) assembled into a plugin directory:
#
#   DIR/ID                        SCRIPT, copied as an executable (ID defaults to TARGET)
#   DIR/.lib/node/protocol.js     the shared wire side, examples/plugin-node-text/protocol.js
#
# The plugin loads `${__dirname}/.lib/node/protocol.js`. Discovery skips
# entries starting with '.', so .lib is never taken for a plugin. There is
# nothing to compile. The script starts with `#!/usr/bin/env node` and the
# manager probes plugins with PATH=/usr/local/bin:/usr/bin:/bin, so node must
# be found there (the caller checks).
set(plugvisor_node_protocol ${CMAKE_CURRENT_LIST_DIR}/../examples/plugin-node-text/protocol.js)
get_filename_component(plugvisor_node_protocol ${plugvisor_node_protocol} ABSOLUTE)

function(plugvisor_add_node_plugin TARGET)
  cmake_parse_arguments(arg "" "SCRIPT;DIR;ID" "" ${ARGN})
  if(NOT arg_ID)
    set(arg_ID ${TARGET})
  endif()
  set(plugin ${arg_DIR}/${arg_ID})
  set(module ${arg_DIR}/.lib/node/protocol.js)
  add_custom_command(
    OUTPUT ${plugin} ${module}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${arg_DIR}/.lib/node
    COMMAND ${CMAKE_COMMAND} -E copy ${plugvisor_node_protocol} ${module}
    COMMAND ${CMAKE_COMMAND} -E copy ${arg_SCRIPT} ${plugin}
    COMMAND chmod 0755 ${plugin}
    DEPENDS ${arg_SCRIPT} ${plugvisor_node_protocol}
    COMMENT "Assembling the Node.js plugin ${arg_ID} into ${arg_DIR}"
    VERBATIM)
  add_custom_target(${TARGET} ALL DEPENDS ${plugin} ${module})
endfunction()
