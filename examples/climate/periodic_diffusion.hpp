#pragma once
// PeriodicDiffusionSolver: one backward-Euler step of diffusion along a periodic row of cells.

#include <cstddef>
#include <span>
#include <vector>

namespace perennial::examples {

/// Backward Euler for zonal diffusion along one periodic row: solves
/// (1 + 2r) x_i - r x_{i-1} - r x_{i+1} = b_i with indices modulo n (n >= 3).
/// The two corner entries are split off with the Sherman-Morrison formula, leaving a
/// tridiagonal system for the Thomas algorithm. The factorisation depends only on r, so it is
/// computed once per row and every step repeats exactly the same operations.
class PeriodicDiffusionSolver {
 public:
  PeriodicDiffusionSolver(double r, std::size_t n) : r_(r), inv_pivot_(n), upper_(n), z_(n) {
    // The matrix is T + u v^T with u = (gamma, 0.., 0, -r), v = (1, 0.., 0, -r / gamma) and T
    // tridiagonal, its first and last diagonal entries adjusted. gamma = -diag keeps T's first
    // pivot away from cancellation.
    const double diag = 1.0 + 2.0 * r;
    const double gamma = -diag;
    v_last_ = -r / gamma;
    for (std::size_t i = 0; i < n; ++i) {
      double pivot = diag;
      if (i == 0) pivot -= gamma;
      if (i == n - 1) pivot -= (-r) * v_last_;
      if (i > 0) pivot += r * upper_[i - 1];
      inv_pivot_[i] = 1.0 / pivot;
      upper_[i] = -r * inv_pivot_[i];
    }
    z_[0] = gamma;
    z_[n - 1] = -r;
    thomas(z_);
    inv_denominator_ = 1.0 / (1.0 + z_[0] + v_last_ * z_[n - 1]);
  }

  void solve(std::span<double> b) const {
    thomas(b);
    const double scale = (b[0] + v_last_ * b[b.size() - 1]) * inv_denominator_;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] -= scale * z_[i];
  }

 private:
  void thomas(std::span<double> x) const {
    x[0] *= inv_pivot_[0];
    for (std::size_t i = 1; i < x.size(); ++i) x[i] = (x[i] + r_ * x[i - 1]) * inv_pivot_[i];
    for (std::size_t i = x.size() - 1; i-- > 0;) x[i] -= upper_[i] * x[i + 1];
  }

  double r_;
  std::vector<double> inv_pivot_;  // 1 / pivot of the modified tridiagonal matrix
  std::vector<double> upper_;      // its eliminated super-diagonal
  std::vector<double> z_;          // its inverse applied to u
  double v_last_ = 0.0;
  double inv_denominator_ = 1.0;   // 1 / (1 + v.z)
};

}  // namespace perennial::examples
