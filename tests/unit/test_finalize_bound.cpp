// FinalizeBound (app/finalize_bound.hpp): MPI_Finalize in a job where a rank has died waits
// for ever under Open MPI 4.1, so every rank bounds it. Here the wait is a sleep standing in
// for the hung fence: the process must end by itself, with the code it was to return.

#include "finalize_bound.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

TEST(FinalizeBound, AHungFinalizeEndsTheProcessWithItsOwnExitCode) {
  EXPECT_EXIT(
      {
        perennial::FinalizeBound bound(0.2s);
        bound.arm(3);
        std::this_thread::sleep_for(30s);  // MPI_Finalize waiting for a dead rank
      },
      testing::ExitedWithCode(3), "MPI_Finalize has not ended");
}

TEST(FinalizeBound, AFinalizeThatReturnsInTimeLeavesTheProcessAlone) {
  const auto start = std::chrono::steady_clock::now();
  {
    perennial::FinalizeBound bound(30s);
    bound.arm(3);
    std::this_thread::sleep_for(10ms);  // MPI_Finalize returning normally
  }  // the destructor ends the clock at once, not at the bound
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
}

TEST(FinalizeBound, NeverArmedItNeverEndsTheProcess) {
  perennial::FinalizeBound bound(0.01s);
  std::this_thread::sleep_for(50ms);
  SUCCEED();
}
