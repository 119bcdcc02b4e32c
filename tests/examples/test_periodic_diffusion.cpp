// The zonal diffusion solve of heat2d checked against the matrix it inverts; no MPI needed.

#include "climate/periodic_diffusion.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using perennial::examples::PeriodicDiffusionSolver;

class PeriodicDiffusion : public ::testing::TestWithParam<std::tuple<double, std::size_t>> {};

TEST_P(PeriodicDiffusion, SolvesThePeriodicSystemAndConservesHeat) {
  const auto [r, n] = GetParam();
  std::mt19937 random(42);
  std::uniform_real_distribution<double> temperature(220.0, 320.0);
  std::vector<double> b(n);
  for (double& v : b) v = temperature(random);

  std::vector<double> x = b;
  PeriodicDiffusionSolver(r, n).solve(x);

  double sum_b = 0.0, sum_x = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double applied = (1.0 + 2.0 * r) * x[i] - r * x[(i + n - 1) % n] - r * x[(i + 1) % n];
    EXPECT_NEAR(applied, b[i], 1e-12 * (1.0 + r) * std::abs(b[i])) << "row " << i;
    sum_b += b[i];
    sum_x += x[i];
  }
  // Diffusion moves heat along the row but neither creates nor destroys it.
  EXPECT_NEAR(sum_x, sum_b, 1e-12 * (1.0 + r) * std::abs(sum_b));
}

INSTANTIATE_TEST_SUITE_P(RowsFromEquatorToPole, PeriodicDiffusion,
                         ::testing::Combine(::testing::Values(0.0, 0.46, 5.0, 800.0),
                                            ::testing::Values(std::size_t{3}, std::size_t{4},
                                                              std::size_t{128})));

TEST(PeriodicDiffusionSolver, ZeroDiffusionLeavesTheRowUnchanged) {
  std::vector<double> x{280.0, 290.5, 300.25};
  PeriodicDiffusionSolver(0.0, 3).solve(x);
  EXPECT_EQ(x, (std::vector<double>{280.0, 290.5, 300.25}));
}

}  // namespace
