#include <perennial/accounting/burn.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace perennial::accounting {

namespace {
constexpr double kDay = 86400.0;
}

double UsageHistory::used_between(double from, double to) const {
  double sum = 0.0;
  for (const auto& i : intervals) {
    if (i.end > i.start) {
      const double overlap = std::min(i.end, to) - std::max(i.start, from);
      if (overlap > 0) sum += i.core_hours * overlap / (i.end - i.start);
    } else if (i.start >= from && i.start < to) {
      sum += i.core_hours;
    }
  }
  return sum;
}

double UsageHistory::total() const {
  double sum = 0.0;
  for (const auto& i : intervals) sum += i.core_hours;
  return sum;
}

std::optional<double> UsageHistory::first_start() const {
  std::optional<double> first;
  for (const auto& i : intervals) first = std::min(first.value_or(i.start), i.start);
  return first;
}

std::vector<std::pair<double, double>> UsageHistory::cumulative() const {
  // Sweep: the spending rate (core-hours per second) changes only where an interval starts or
  // ends; between two such corners the cumulative use is a straight line.
  std::map<double, double> rate_change;
  std::map<double, double> jump;  // zero-length intervals spend at one instant
  for (const auto& i : intervals) {
    if (i.end > i.start) {
      const double rate = i.core_hours / (i.end - i.start);
      rate_change[i.start] += rate;
      rate_change[i.end] -= rate;
    } else {
      jump[i.start] += i.core_hours;
      rate_change.emplace(i.start, 0.0);
    }
  }
  std::vector<std::pair<double, double>> out;
  double rate = 0.0;
  double sum = 0.0;
  double last = 0.0;
  for (const auto& [t, change] : rate_change) {
    if (!out.empty()) sum += rate * (t - last);
    if (auto j = jump.find(t); j != jump.end()) {
      out.emplace_back(t, sum);
      sum += j->second;
    }
    out.emplace_back(t, sum);
    rate += change;
    last = t;
  }
  return out;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (values[above] - values[below]) * (position - static_cast<double>(below));
}

BurnRate burn_rate(const UsageHistory& use, double as_of) {
  BurnRate b;
  const auto first = use.first_start();
  if (!first || as_of <= *first) return b;
  const double span = as_of - *first;
  b.overall = use.used_between(*first, as_of) / (span / kDay);
  const auto full_days = static_cast<int>(std::floor(span / kDay));
  std::vector<double> daily;
  if (full_days == 0) {
    // Younger than a day: one bin, the whole use.
    daily.push_back(*b.overall);
    b.last_7_days = b.overall;
    b.last_7_days_span_days = span / kDay;
  } else {
    // Whole 24-hour bins back from as_of; the oldest, partial one is left out of both the
    // recent rate and the percentiles, so the two describe the same days.
    for (int d = 0; d < full_days; ++d) {
      const double end = as_of - d * kDay;
      daily.push_back(use.used_between(end - kDay, end));
    }
    const int recent = std::min(full_days, 7);
    double sum = 0.0;
    for (int d = 0; d < recent; ++d) sum += daily[static_cast<std::size_t>(d)];
    b.last_7_days = sum / recent;
    b.last_7_days_span_days = recent;
  }
  b.days = static_cast<int>(daily.size());
  b.daily_p25 = percentile(daily, 0.25);
  b.daily_p75 = percentile(daily, 0.75);
  return b;
}

ExhaustionForecast burn_rate_forecast(const UsageHistory& use, double allocation, double as_of) {
  ExhaustionForecast f;
  const double used = use.used_between(-INFINITY, as_of);
  f.remaining_core_hours = allocation - used;
  if (allocation <= 0) return f;
  if (used >= allocation) {
    // The moment the cumulative use crossed the allocation, between two corners of the curve.
    f.exhausted = true;
    const auto curve = use.cumulative();
    for (std::size_t i = 0; i < curve.size(); ++i) {
      if (curve[i].second < allocation) continue;
      if (i == 0 || curve[i].second == curve[i - 1].second) {
        f.date = curve[i].first;
      } else {
        const auto& [t0, c0] = curve[i - 1];
        const auto& [t1, c1] = curve[i];
        f.date = t0 + (t1 - t0) * (allocation - c0) / (c1 - c0);
      }
      break;
    }
    f.method = "used up: the moment the cumulative use crossed the allocation";
    return f;
  }
  const BurnRate b = burn_rate(use, as_of);
  if (!b.last_7_days || *b.last_7_days <= 0) {
    f.method = "no use to extrapolate";
    return f;
  }
  const double remaining = allocation - used;
  f.date = as_of + remaining / *b.last_7_days * kDay;
  if (b.daily_p75 && *b.daily_p75 > 0) f.earliest = as_of + remaining / *b.daily_p75 * kDay;
  if (b.daily_p25 && *b.daily_p25 > 0) f.latest = as_of + remaining / *b.daily_p25 * kDay;
  if (b.last_7_days_span_days < 1.0) {
    f.method = fmt::format("the burn rate of its whole use ({:.3g} h, under a day); no interval (under 2 days of use)",
                           b.last_7_days_span_days * 24.0);
  } else if (b.days < 2) {
    f.method = "the burn rate of the last whole day; no interval (under 2 days of use)";
  } else {
    f.method = fmt::format("the burn rate of the last {:.0f} whole day(s); interval: at the 75th and 25th percentile of "
                           "the use per day over {} days",
                           b.last_7_days_span_days, b.days);
  }
  return f;
}

}  // namespace perennial::accounting
