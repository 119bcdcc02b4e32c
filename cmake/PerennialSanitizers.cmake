# PERENNIAL_SANITIZE (an option of the top-level CMakeLists.txt): a comma-separated list of
# GCC/Clang sanitizers, e.g. "address,undefined" or "thread", compiled and linked into every
# target the project defines after this file is included. Empty (the default) adds nothing.
#
# UBSan findings stop the process (-fno-sanitize-recover), so undefined behaviour fails its test
# instead of scrolling past. ci/test.sh --sanitize and --tsan turn this on in their own build
# directories; docs/sanitizers.md says how to run them and which suppressions exist and why.
# Third-party libraries (Open MPI, HDF5, Boost, GoogleTest) come from Debian and are not
# instrumented: ASan still sees their heap through its malloc, TSan does not see their atomics.
set(PERENNIAL_SANITIZE "" CACHE STRING
    "Sanitizers for the project's targets: address,undefined | thread | empty for none")

if(PERENNIAL_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "PERENNIAL_SANITIZE needs GCC or Clang (got ${CMAKE_CXX_COMPILER_ID})")
  endif()
  string(REPLACE "," ";" _perennial_sanitizers "${PERENNIAL_SANITIZE}")
  foreach(_s IN LISTS _perennial_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "PERENNIAL_SANITIZE: unknown sanitizer '${_s}' (address, undefined, thread, leak)")
    endif()
  endforeach()
  if("thread" IN_LIST _perennial_sanitizers AND
     ("address" IN_LIST _perennial_sanitizers OR "leak" IN_LIST _perennial_sanitizers))
    message(FATAL_ERROR "PERENNIAL_SANITIZE: thread cannot be combined with address or leak")
  endif()
  if(PERENNIAL_COVERAGE)
    message(FATAL_ERROR "PERENNIAL_SANITIZE and PERENNIAL_COVERAGE are separate builds")
  endif()
  set(_perennial_sanitize_flags -fsanitize=${PERENNIAL_SANITIZE} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _perennial_sanitizers)
    list(APPEND _perennial_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${_perennial_sanitize_flags})
  add_link_options(-fsanitize=${PERENNIAL_SANITIZE})
  message(STATUS "Perennial: sanitizers on (${_perennial_sanitize_flags})")
endif()

# perennial_sanitizer_environment(<test>...): the sanitizer options a test's processes need.
# CTest sets them on the test; every process the test starts inherits them: mpiexec passes its
# environment to the ranks it starts on this node, and so does MPI_Comm_spawn (the respawned
# workers) and `perennial launch` (its mpirun). Each process writes what it finds to
# <build>/sanitizer-reports/<test>.<sanitizer>.<pid> (ranks' stderr is often lost when mpirun
# takes a job down), and ci/test.sh fails when that folder is not empty afterwards.
# Options in the environment ctest runs under are appended, so they win (ASAN_OPTIONS=... ctest).
function(perennial_sanitizer_environment)
  if(NOT PERENNIAL_SANITIZE)
    return()
  endif()
  set(supp ${PROJECT_SOURCE_DIR}/ci/sanitizers)
  set(reports ${PROJECT_BINARY_DIR}/sanitizer-reports)
  file(MAKE_DIRECTORY ${reports})
  foreach(test IN LISTS ARGN)
    string(REGEX REPLACE "[^A-Za-z0-9_.-]" "_" name "${test}")
    set(log "${reports}/${name}")
    # fast_unwind_on_malloc=0: Open MPI is built without frame pointers, so the fast unwinder
    # stops at its first frame and the suppressions (by library) cannot match its leaks.
    set(asan "detect_leaks=1:fast_unwind_on_malloc=0:log_path=${log}.asan")
    set(lsan "suppressions=${supp}/lsan.supp:print_suppressions=0")
    # log_path is ignored by UBSan linked with ASan (it writes to stderr): ci/test.sh also
    # searches the tests' output for "runtime error:". It is honoured under TSan builds.
    set(ubsan "print_stacktrace=1:halt_on_error=1:log_path=${log}.ubsan")
    # ignore_noninstrumented_modules: see ci/sanitizers/tsan.supp.
    set(tsan "ignore_noninstrumented_modules=1:second_deadlock_stack=1:suppressions=${supp}/tsan.supp:log_path=${log}.tsan")
    set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT_MODIFICATION
                 "ASAN_OPTIONS=string_prepend:${asan}:" "LSAN_OPTIONS=string_prepend:${lsan}:"
                 "UBSAN_OPTIONS=string_prepend:${ubsan}:" "TSAN_OPTIONS=string_prepend:${tsan}:")
  endforeach()
endfunction()
