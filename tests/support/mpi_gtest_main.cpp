// GoogleTest main for tests run under mpiexec: every rank runs every test; only rank 0
// prints, and the exit code is the same on all ranks: any rank's failure fails all, and a
// test skipped on any rank makes the run skipped (gtest_outcome.hpp).

#include "gtest_outcome.hpp"

#include <mpi.h>

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int result = RUN_ALL_TESTS();
  const int mine = static_cast<int>(perennial::test::outcome(result, rank == 0));
  int worst = 0;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && worst > mine) {
    std::fprintf(stderr, "a test %s on another rank (its output is suppressed)\n",
                 worst == static_cast<int>(perennial::test::Outcome::failed) ? "failed" : "was skipped");
  }
  MPI_Finalize();
  return perennial::test::exit_code(static_cast<perennial::test::Outcome>(worst));
}
