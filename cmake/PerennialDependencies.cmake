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

# The `perennial` executable's malloc: gperftools' tcmalloc (Debian: libgoogle-perftools-dev),
# unless PERENNIAL_ALLOCATOR is `system`. Rank 0's loop allocates for every stage it starts and
# ends (records, messages, paths): glibc's malloc and free were about a tenth of its samples
# with short stages, and tcmalloc's per-thread caches took 5-10% off a stage transition
# (bench_dispatch, alternating runs). Sanitizer and fuzz builds keep glibc's, which their
# runtimes replace themselves. Only the executable links it: a scientist's own executable built
# on perennial_cli chooses its own malloc.
set(PERENNIAL_ALLOCATOR "tcmalloc" CACHE STRING "malloc of the perennial executable: tcmalloc or system")
set_property(CACHE PERENNIAL_ALLOCATOR PROPERTY STRINGS tcmalloc system)
add_library(perennial_allocator INTERFACE)
if(PERENNIAL_ALLOCATOR STREQUAL "tcmalloc" AND NOT PERENNIAL_SANITIZE AND NOT PERENNIAL_FUZZ)
  pkg_check_modules(tcmalloc IMPORTED_TARGET GLOBAL libtcmalloc_minimal)
  if(tcmalloc_FOUND)
    # --no-as-needed: nothing names a tcmalloc symbol, it only interposes malloc and free.
    target_link_libraries(perennial_allocator INTERFACE "-Wl,--push-state,--no-as-needed" PkgConfig::tcmalloc
                                                        "-Wl,--pop-state")
    message(STATUS "perennial executable: tcmalloc_minimal ${tcmalloc_VERSION}")
  else()
    message(WARNING "PERENNIAL_ALLOCATOR=tcmalloc but libtcmalloc_minimal was not found "
                    "(Debian: libgoogle-perftools-dev): the perennial executable uses glibc's malloc")
  endif()
elseif(NOT PERENNIAL_ALLOCATOR STREQUAL "system" AND NOT PERENNIAL_ALLOCATOR STREQUAL "tcmalloc")
  message(FATAL_ERROR "PERENNIAL_ALLOCATOR must be tcmalloc or system, not '${PERENNIAL_ALLOCATOR}'")
endif()
