# perennial_add_test(): the one way a test is registered.
#
#   perennial_add_test(NAME name SOURCES a.cpp ... [LIBS targets...]
#                      [RANKS n] [LABELS unit|mpi|fault ...] [TIMEOUT seconds] [ARGS ...])
#
# RANKS > 0 runs the GoogleTest binary under mpiexec with that many ranks (oversubscribed:
# CI machines have 2 cores) and marks it RUN_SERIAL with PROCESSORS n, so `ctest -j`
# never stacks two MPI jobs on the same cores. RANKS 0 (default) runs it directly.
# Either way the binary's main (tests/support) exits 77 when a test was skipped or disabled and
# none failed, which CTest shows as SKIPPED (SKIP_RETURN_CODE), and fails when no test ran:
# a test that did not run never shows as passed.

find_package(GTest REQUIRED)

# Test code is compiled at -O1 in an optimised build: what the tests exercise (the libraries,
# `perennial`, the kernels) keeps the build type's -O3 or -O2; the tests' own code gains
# nothing from it and took about 40% longer to compile (test_scheduling_policy.cpp: 13.5 s
# against 9.5 s), on a build that is half of CI's time. Debug builds (sanitizers, coverage) keep
# their -O0.
function(perennial_test_optimization target)
  if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
    target_compile_options(${target} PRIVATE -O1)
  endif()
endfunction()

# One machine: shared memory and TCP only. The libfabric (ofi) transports add nothing here and
# were seen polling inside the MPI_Init of spawned workers that never finished.
set(PERENNIAL_MPIEXEC_FLAGS --oversubscribe --mca mpi_yield_when_idle 1 --mca btl self,vader,tcp --mca mtl ^ofi
    CACHE STRING "Flags every mpiexec of the test suite gets")
execute_process(COMMAND id -u OUTPUT_VARIABLE _perennial_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_perennial_uid STREQUAL "0")
  list(APPEND PERENNIAL_MPIEXEC_FLAGS --allow-run-as-root)
endif()

function(perennial_add_test)
  cmake_parse_arguments(T "" "NAME;RANKS;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  if(NOT T_RANKS)
    set(T_RANKS 0)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT TARGET ${T_NAME})
    add_executable(${T_NAME} ${T_SOURCES})
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock)
    if(T_RANKS GREATER 0)
      target_link_libraries(${T_NAME} PRIVATE perennial_test_mpi_main)
    else()
      target_link_libraries(${T_NAME} PRIVATE perennial_test_main)
    endif()
    perennial_set_warnings(${T_NAME})
    perennial_test_optimization(${T_NAME})
  endif()
  if(T_RANKS GREATER 0)
    add_test(NAME ${T_NAME}
             COMMAND ${MPIEXEC_EXECUTABLE} ${PERENNIAL_MPIEXEC_FLAGS} ${MPIEXEC_NUMPROC_FLAG} ${T_RANKS}
                     $<TARGET_FILE:${T_NAME}> ${T_ARGS})
    set_tests_properties(${T_NAME} PROPERTIES PROCESSORS ${T_RANKS} RUN_SERIAL TRUE)
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77)
  perennial_sanitizer_environment(${T_NAME})
endfunction()
