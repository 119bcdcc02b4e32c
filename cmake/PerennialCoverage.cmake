# PERENNIAL_COVERAGE=ON (an option of the top-level CMakeLists.txt): gcov instrumentation,
# --coverage -O0 -g at compile and link time, for every target the project defines after this
# file is included. ci/coverage.sh turns it on in its own build directory; keep it OFF otherwise.
if(PERENNIAL_COVERAGE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "PERENNIAL_COVERAGE needs GCC or Clang (got ${CMAKE_CXX_COMPILER_ID})")
  endif()
  add_compile_options(--coverage -O0 -g)
  add_link_options(--coverage)
  message(STATUS "Perennial: coverage instrumentation on (--coverage -O0 -g)")
endif()
