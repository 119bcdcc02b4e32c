# Every third-party library Perennial uses, all from Debian 12 packages
# (ci/install-deps.sh installs them).

find_package(MPI 3.1 REQUIRED COMPONENTS C CXX)
find_package(Boost 1.74 REQUIRED COMPONENTS mpi serialization)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)
find_package(SQLiteCpp REQUIRED)  # Debian: libsqlitecpp-dev (and libsqlite3-dev)

# cairo draws the report's charts (SVG and PNG); Debian's libcairo2-dev ships no CMake package.
find_package(PkgConfig REQUIRED)
pkg_check_modules(cairo REQUIRED IMPORTED_TARGET GLOBAL cairo)
# libyaml reads campaign files (runtime/src/yaml_document.cpp): its event parser, not a tree.
pkg_check_modules(yaml REQUIRED IMPORTED_TARGET GLOBAL yaml-0.1>=0.2)

# Parallel HDF5: the openmpi flavour of libhdf5, found through its h5pcc wrapper.
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 1.10 REQUIRED COMPONENTS C HL)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "Perennial needs parallel HDF5 (Debian: libhdf5-openmpi-dev); found a serial build at ${HDF5_INCLUDE_DIRS}")
endif()
add_library(perennial_hdf5 INTERFACE)
target_include_directories(perennial_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(perennial_hdf5 INTERFACE ${HDF5_HL_LIBRARIES} ${HDF5_LIBRARIES} MPI::MPI_C)
target_compile_definitions(perennial_hdf5 INTERFACE ${HDF5_DEFINITIONS} H5_USE_110_API)

# xxHash has no CMake package in Debian 12; its header and library are plain.
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
add_library(perennial_xxhash INTERFACE)
target_include_directories(perennial_xxhash SYSTEM INTERFACE ${XXHASH_INCLUDE_DIR})
target_link_libraries(perennial_xxhash INTERFACE ${XXHASH_LIBRARY})
