// GoogleTest main for tests CTest runs directly (perennial_add_test without RANKS): a skipped
// or disabled test shows as skipped, and a binary in which no test ran fails (gtest_outcome.hpp).

#include "gtest_outcome.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  return perennial::test::exit_code(perennial::test::outcome(result));
}
