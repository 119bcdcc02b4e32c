# `cmake --install`: the headers, the libraries, the `perennial` command and a CMake package,
# so that a scientist builds their own `perennial` with their kernels outside this tree:
#
#   find_package(Perennial REQUIRED)
#   perennial_add_executable(my-perennial kernels.cpp)
#
# The libraries are static; their third-party dependencies are found again by
# PerennialConfig.cmake (all Debian 12 packages, the same ones ci/install-deps.sh installs).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_perennial_libraries perennial_runtime perennial_checkpoint perennial_accounting perennial_report
    perennial_coordinator perennial_worker perennial_cli perennial_hdf5 perennial_xxhash)
foreach(lib IN LISTS _perennial_libraries)
  string(REPLACE "perennial_" "" name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${name})
  # Whoever links a Perennial library compiles as C++20: the headers use std::span and concepts.
  get_target_property(type ${lib} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    target_compile_features(${lib} PUBLIC cxx_std_20)
  endif()
endforeach()

install(TARGETS ${_perennial_libraries} EXPORT PerennialTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS perennial RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(part runtime checkpoint accounting coordinator worker)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${part}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
# The command line's entry point, compiled into each scientist's executable with their kernels.
install(FILES ${PROJECT_SOURCE_DIR}/app/cli.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/perennial/app)
install(FILES ${PROJECT_SOURCE_DIR}/app/main.cpp DESTINATION ${CMAKE_INSTALL_DATADIR}/perennial)

set(_perennial_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Perennial)
install(EXPORT PerennialTargets NAMESPACE Perennial:: DESTINATION ${_perennial_cmake_dir})
# main.cpp's place relative to the prefix, whatever prefix the tree is installed (or moved) to.
file(RELATIVE_PATH PERENNIAL_DATADIR_RELATIVE ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_FULL_DATADIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/PerennialConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/PerennialConfig.cmake
                              INSTALL_DESTINATION ${_perennial_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/PerennialConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/PerennialConfig.cmake ${PROJECT_BINARY_DIR}/PerennialConfigVersion.cmake
        DESTINATION ${_perennial_cmake_dir})

# `cpack -G DEB` in the build folder: a .deb of the same tree (prefix /usr) that apt installs
# with its dependencies: the Debian 12 packages Perennial builds and runs with, development
# ones included, since its users compile their own kernels against it.
set(CPACK_PACKAGE_NAME perennial)
set(CPACK_PACKAGE_VENDOR "Perennial")
set(CPACK_PACKAGE_CONTACT "Perennial developers <perennial@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "openmpi-bin, libopenmpi-dev, libhdf5-openmpi-dev (>= 1.10), libboost-mpi-dev (>= 1.74), libboost-serialization-dev (>= 1.74), libyaml-dev, libcli11-dev, libspdlog-dev, libfmt-dev, nlohmann-json3-dev, libxxhash-dev, libsqlite3-dev, libsqlitecpp-dev, libcairo2-dev, libgoogle-perftools-dev, cmake (>= 3.25), g++")
include(CPack)
