#pragma once
// How fast an allocation is spent and when it runs out: the burn rate of a project's or a
// grant's core-hours, and the projected exhaustion date with an interval. The projection is
// one function behind ExhaustionForecaster, so the campaign forecast (issue 13, point 4) can
// replace the burn-rate extrapolation without touching the report.
// Plain C++; times are unix seconds, UTC.

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace perennial::accounting {

/// Core-hours spent evenly from `start` to `end` (one run segment).
struct UsageInterval {
  double start = 0.0;
  double end = 0.0;
  double core_hours = 0.0;
};

/// Core-hours spent over time: the segments of a project or grant.
struct UsageHistory {
  std::vector<UsageInterval> intervals;

  /// Core-hours spent in [from, to): each interval's share by wall time.
  double used_between(double from, double to) const;
  double total() const;
  /// The earliest start; absent when there is no use.
  std::optional<double> first_start() const;
  /// The cumulative core-hours as (time, core-hours) corners of a piecewise linear curve,
  /// from the first start to the last end: exact, so a burn-down chart draws straight lines
  /// between them.
  std::vector<std::pair<double, double>> cumulative() const;
};

/// Core-hours per day, measured up to `as_of`.
struct BurnRate {
  std::optional<double> last_7_days;  ///< over the last 7 whole days up to as_of (fewer when the use is younger)
  double last_7_days_span_days = 0.0; ///< the days that rate covers: 7, fewer, or a fraction under a day
  std::optional<double> overall;      ///< from the first use to as_of
  std::optional<double> daily_p25;    ///< 25th percentile of the use per 24 h (see days)
  std::optional<double> daily_p75;    ///< 75th percentile
  int days = 0;  ///< the 24-hour bins (ending at as_of) the percentiles come from; 1 partial
                 ///< bin when the use is younger than a day
};

/// The burn rates of `use` as of `as_of`. The 24-hour bins end at as_of and go back to the
/// first use; the oldest, partial bin is left out (of the recent rate too, so the rate and
/// the percentiles describe the same days) unless it is the only one. Percentiles
/// interpolate linearly between order statistics (numpy's default).
BurnRate burn_rate(const UsageHistory& use, double as_of);

/// When an allocation runs out.
struct ExhaustionForecast {
  std::optional<double> date;      ///< unix seconds; absent: nothing to extrapolate (no use, no allocation)
  std::optional<double> earliest;  ///< the interval's early end
  std::optional<double> latest;    ///< its late end; absent when at that rate it never runs out
  bool exhausted = false;          ///< already used up: `date` is when it happened
  double remaining_core_hours = 0.0;
  std::string method;  ///< one line: which rate gives the date, and what the interval is
  /// From the campaign forecast: the use expected once the campaign(s) it pays for end, with
  /// its 80% interval, and when they are expected to end. Absent from the burn-rate projection.
  std::optional<double> projected_core_hours;
  std::optional<double> projected_low;
  std::optional<double> projected_high;
  std::optional<double> campaign_end;
};

/// What a projection is about: a project, or a grant.
struct AllocationSubject {
  std::string name;
  bool grant = false;
};

/// The pluggable projection: from the use so far, the allocation and the report's time.
using ExhaustionForecaster = std::function<ExhaustionForecast(const AllocationSubject& subject, const UsageHistory& use,
                                                              double allocation_core_hours, double as_of)>;

/// The burn-rate projection: the remaining core-hours at the last 7 days' rate from as_of;
/// the interval at the 75th (earliest) and 25th (latest) percentile of daily use. An
/// allocation already used up gives the moment the cumulative use crossed it.
ExhaustionForecast burn_rate_forecast(const UsageHistory& use, double allocation_core_hours, double as_of);

/// Linear interpolation between order statistics (numpy's default); `q` in [0, 1].
double percentile(std::vector<double> values, double q);

}  // namespace perennial::accounting
