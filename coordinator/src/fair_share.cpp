#include <perennial/coordinator/fair_share.hpp>

#include <algorithm>
#include <cmath>

namespace perennial {

FairShare::FairShare(double usage_half_life_seconds) : half_life_(std::max(usage_half_life_seconds, 1e-9)) {}

void FairShare::set_share(const std::string& project, double share) { accounts_[project].share = std::max(share, 1e-12); }

double FairShare::decayed(const Account& a, double now) const {
  return a.usage * std::exp2(-std::max(0.0, now - a.as_of) / half_life_);
}

void FairShare::charge(const std::string& project, double core_seconds, double now) {
  Account& a = accounts_[project];
  a.usage = decayed(a, now) + core_seconds;
  a.as_of = std::max(a.as_of, now);
}

double FairShare::usage(const std::string& project, double now) const {
  auto it = accounts_.find(project);
  return it == accounts_.end() ? 0.0 : decayed(it->second, now);
}

double FairShare::factor(const std::string& project, double now) const {
  double all_usage = 0.0, all_shares = 0.0;
  for (const auto& [name, a] : accounts_) {
    all_usage += decayed(a, now);
    all_shares += a.share;
  }
  auto it = accounts_.find(project);
  const double share = it == accounts_.end() ? 1.0 : it->second.share;
  if (all_usage <= 0.0) return 1.0;
  if (it == accounts_.end()) all_shares += share;
  const double u = usage(project, now) / all_usage;
  const double s = share / all_shares;
  return std::exp2(-u / s);
}

double multifactor_priority(const PriorityWeights& w, double priority_factor, double fairshare_factor,
                            double waited_seconds) {
  const double age = w.max_age_seconds > 0 ? std::clamp(waited_seconds / w.max_age_seconds, 0.0, 1.0) : 1.0;
  return w.priority * std::clamp(priority_factor, 0.0, 1.0) + w.fairshare * std::clamp(fairshare_factor, 0.0, 1.0) +
         w.age * age;
}

}  // namespace perennial
