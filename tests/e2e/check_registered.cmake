# cmake -DBINARY=<e2e_campaigns> -DREGISTERED=<file, one case per line> -P check_registered.cmake
#
# Fails when the e2e binary holds a case that no perennial_e2e_test() registered: CTest would
# never run it, and nothing would say so.
cmake_minimum_required(VERSION 3.25)  # for IN_LIST

execute_process(COMMAND ${BINARY} --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${BINARY} --gtest_list_tests exited ${status}")
endif()
file(STRINGS ${REGISTERED} registered)
string(REPLACE "\n" ";" lines "${listing}")
set(suite "")
set(unregistered "")
set(count 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^([^ #][^ ]*\\.)")          # "Suite." or "Prefix/Suite."
    set(suite "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^  ([^ ]+)")            # "  Case" or "  Case/0  # GetParam() = 1"
    math(EXPR count "${count} + 1")
    if(NOT "${suite}${CMAKE_MATCH_1}" IN_LIST registered)
      list(APPEND unregistered "${suite}${CMAKE_MATCH_1}")
    endif()
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "no case listed by ${BINARY}")
endif()
if(unregistered)
  list(JOIN unregistered "\n  " text)
  message(FATAL_ERROR "e2e cases that CTest never runs (add perennial_e2e_test() lines in tests/e2e/CMakeLists.txt):\n  ${text}")
endif()
message(STATUS "all ${count} e2e cases are registered")
