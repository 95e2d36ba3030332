# plugvisor_add_python_plugin(ID MODULE MODULE_FILE DIR DIR [DATA FILE...]):
# a Python plugin assembled into a plugin directory, with no install step:
#
#   DIR/ID                                   the launcher (executable)
#   DIR/.lib/python/plugvisor_sdk/           the Python SDK (copied)
#   DIR/.lib/python/MODULE.py, DATA files    the plugin's module and its data
#
# Discovery skips entries starting with '.', so .lib is never taken for a
# plugin. The launcher's #! line names the interpreter CMake found, resolved
# to the real binary (not a pyenv shim, which costs ~60 ms a launch); the
# modules are byte-compiled here so that no launch compiles them.
# PLUGVISOR_PYTHON is that interpreter alone, for other uses.
find_package(Python3 3.11 COMPONENTS Interpreter REQUIRED)

execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import sys; print(sys.executable)"
  OUTPUT_VARIABLE plugvisor_python_real
  OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE plugvisor_python_result)
if(plugvisor_python_result EQUAL 0 AND IS_ABSOLUTE "${plugvisor_python_real}")
  # -I: isolated (no PYTHON* variables, no user site, no script directory on sys.path).
  set(PLUGVISOR_PYTHON_SHEBANG "${plugvisor_python_real} -I")
  # The interpreter itself, for whatever else runs Python (the tests' fixtures).
  set(PLUGVISOR_PYTHON "${plugvisor_python_real}")
else()
  set(PLUGVISOR_PYTHON_SHEBANG "/usr/bin/env python3")
  set(PLUGVISOR_PYTHON "${Python3_EXECUTABLE}")
endif()
set(plugvisor_python_launcher_in ${CMAKE_CURRENT_LIST_DIR}/python_launcher.py.in)

# The Python SDK copied into LIB_DIR once, by one target (its name in
# OUT_VAR), however many plugins share that directory: each plugin's target
# depends on it, so that a parallel build never has two copies racing.
function(plugvisor_python_sdk_target lib_dir out_var)
  string(MD5 key "${lib_dir}")
  string(SUBSTRING "${key}" 0 12 key)
  set(target plugvisor-python-sdk-${key})
  set(${out_var} ${target} PARENT_SCOPE)
  if(TARGET ${target})
    return()
  endif()
  file(GLOB sdk_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/sdk-python/src/plugvisor_sdk/*.py)
  set(sdk_typed ${PROJECT_SOURCE_DIR}/sdk-python/src/plugvisor_sdk/py.typed)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${target}.stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${lib_dir}/plugvisor_sdk
    COMMAND ${CMAKE_COMMAND} -E make_directory ${lib_dir}/plugvisor_sdk
    COMMAND ${CMAKE_COMMAND} -E copy ${sdk_sources} ${sdk_typed} ${lib_dir}/plugvisor_sdk/
    COMMAND ${Python3_EXECUTABLE} -m compileall -q ${lib_dir}/plugvisor_sdk
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${sdk_sources} ${sdk_typed}
    COMMENT "Copying the Python SDK into ${lib_dir}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${stamp})
endfunction()

function(plugvisor_add_python_plugin PLUGIN_ID)
  cmake_parse_arguments(arg "" "MODULE;MODULE_FILE;DIR" "DATA" ${ARGN})
  set(PLUGIN_MODULE ${arg_MODULE})
  set(lib_dir ${arg_DIR}/.lib/python)
  set(stage_dir ${CMAKE_CURRENT_BINARY_DIR}/${PLUGIN_ID}-stage)
  configure_file(${plugvisor_python_launcher_in} ${stage_dir}/${PLUGIN_ID} @ONLY
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  plugvisor_python_sdk_target(${lib_dir} sdk_target)

  # Only this plugin's own files: the SDK beside them is its target's.
  get_filename_component(module_name ${arg_MODULE_FILE} NAME)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${PLUGIN_ID}.stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${lib_dir}
    COMMAND ${CMAKE_COMMAND} -E copy ${arg_MODULE_FILE} ${arg_DATA} ${lib_dir}/
    COMMAND ${Python3_EXECUTABLE} -m compileall -q ${lib_dir}/${module_name}
    COMMAND ${CMAKE_COMMAND} -E copy ${stage_dir}/${PLUGIN_ID} ${arg_DIR}/${PLUGIN_ID}
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${arg_MODULE_FILE} ${arg_DATA} ${stage_dir}/${PLUGIN_ID}
    COMMENT "Assembling the Python plugin ${PLUGIN_ID} into ${arg_DIR}"
    VERBATIM)
  add_custom_target(${PLUGIN_ID} ALL DEPENDS ${stamp})
  add_dependencies(${PLUGIN_ID} ${sdk_target})
endfunction()
