#pragma once
// What a GoogleTest binary run by CTest exits with, so that a test that did not run never
// shows as passed: 1 when a test failed, or when no test ran at all (a binary whose tests
// were all filtered or compiled away); 77, which perennial_add_test gives CTest as
// SKIP_RETURN_CODE, when none failed but one was skipped (GTEST_SKIP) or is DISABLED_;
// 0 when every test ran and passed. CTest then reports the whole binary as skipped: its
// output lists which test did not run.

#include <gtest/gtest.h>

#include <cstdio>

namespace perennial::test {

enum class Outcome { passed = 0, skipped = 1, failed = 2 };  ///< ordered: the worst wins

/// `say`: whether to print why (one rank of an MPI run is enough).
inline Outcome outcome(int run_all_tests_result, bool say = true) {
  const auto& unit = *::testing::UnitTest::GetInstance();
  if (run_all_tests_result != 0) return Outcome::failed;
  if (unit.test_to_run_count() == 0) {
    if (say) std::fprintf(stderr, "no test ran: a binary without tests checks nothing\n");
    return Outcome::failed;
  }
  if (unit.skipped_test_count() > 0 || unit.disabled_test_count() > 0) {
    if (say) {
      std::fprintf(stderr, "%d test(s) skipped and %d disabled: reported to CTest as skipped\n",
                   unit.skipped_test_count(), unit.disabled_test_count());
    }
    return Outcome::skipped;
  }
  return Outcome::passed;
}

inline int exit_code(Outcome o) { return o == Outcome::failed ? 1 : o == Outcome::skipped ? 77 : 0; }

}  // namespace perennial::test
