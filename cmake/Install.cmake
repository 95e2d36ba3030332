# Installs the libraries, their headers, the CLI and a CMake package, so that
# a host or plugin project can use find_package(plugvisor) (examples/installed/
# is built against an installed tree by a test).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(plugvisor_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/plugvisor)

# Three export sets, so that the package loads each with only its own
# dependencies (plugvisorConfig.cmake.in): the core a plugin needs, the
# manager (spdlog), the daemon (cpp-httplib).
foreach(set_and_targets
        "plugvisorTargets;plugvisor_contracts;plugvisor_registry;plugvisor_sdk;plugvisor_contracts_http;plugvisor_contracts_mock"
        "plugvisorManagerTargets;plugvisor_manager"
        "plugvisorDaemonTargets;plugvisor_daemon")
  list(POP_FRONT set_and_targets export_set)
  install(TARGETS ${set_and_targets}
    EXPORT ${export_set}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT ${export_set} NAMESPACE plugvisor:: DESTINATION ${plugvisor_cmake_dir})
endforeach()
install(TARGETS plugvisor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir contracts contracts/http contracts/mock registry sdk-cpp manager manager/daemon)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/plugvisorConfig.cmake.in
  ${PROJECT_BINARY_DIR}/plugvisorConfig.cmake INSTALL_DESTINATION ${plugvisor_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/plugvisorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/plugvisorConfig.cmake ${PROJECT_BINARY_DIR}/plugvisorConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/PlugvisorTarget.cmake
  DESTINATION ${plugvisor_cmake_dir})
