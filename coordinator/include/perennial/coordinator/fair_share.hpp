#pragma once
// Fair share and the multifactor priority, after Slurm's priority/multifactor plugin (the
// classic fair-share formula). Plain C++ over a Clock's seconds, no MPI.
//
// Each project has a share (a weight). Its usage (core-seconds) decays with a half-life, so
// that last month counts less than today. The fair-share factor is 2^(-U/S), with U the
// project's share of all decayed usage and S its share of all shares: 1 for a project that
// used nothing, 0.5 for one that used exactly its share, towards 0 for one far over it. A
// waiting stage's priority mixes its own priority, its project's fair-share factor and how
// long it has waited, with weights from the campaign file.

#include <map>
#include <string>

namespace perennial {

class FairShare {
 public:
  explicit FairShare(double usage_half_life_seconds);

  /// Declares a project and its share (> 0); undeclared projects get share 1 when charged.
  void set_share(const std::string& project, double share);
  /// Adds `core_seconds` of use by `project` at time `now`.
  void charge(const std::string& project, double core_seconds, double now);
  /// The project's usage decayed to `now`, in core-seconds.
  double usage(const std::string& project, double now) const;
  /// 2^(-U/S) in [0, 1]; 1 when nobody has used anything yet.
  double factor(const std::string& project, double now) const;
  double half_life() const { return half_life_; }

 private:
  struct Account {
    double share = 1.0;
    double usage = 0.0;   ///< decayed to `as_of`
    double as_of = 0.0;
  };
  double decayed(const Account& a, double now) const;

  double half_life_;
  std::map<std::string, Account> accounts_;
};

struct PriorityWeights {
  double priority = 1000.0;    ///< the stage's own `priority:`, normalised over the campaign
  double fairshare = 10000.0;  ///< the project's fair-share factor
  double age = 1000.0;         ///< waiting time, full weight at `max_age_seconds`
  double max_age_seconds = 7 * 86400.0;
};

/// Slurm-style multifactor priority: a weighted sum of factors in [0, 1].
/// `priority_factor` is the stage priority normalised to [0, 1] by the caller.
double multifactor_priority(const PriorityWeights& w, double priority_factor, double fairshare_factor,
                            double waited_seconds);

}  // namespace perennial
