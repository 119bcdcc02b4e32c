#include <perennial/accounting/climate_figures.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

namespace perennial::accounting {

namespace {

// Running sums of one stage or scenario.
struct Sums {
  explicit Sums(std::string n) : name(std::move(n)) {}
  std::string name;
  double simulated_covered = 0.0;  // every segment's advance, recomputed ones included
  double net_seconds = 0.0;        // set per stage: the model time reached
  double running = 0.0;
  double first_queued = std::numeric_limits<double>::infinity();
  double last_end = -std::numeric_limits<double>::infinity();
  double core_hours = 0.0;
  double energy = 0.0;
  bool energy_known = true;
  std::int64_t max_cores = 0;
  double checkpoint = 0.0;
  double output = 0.0;
  int segments = 0;
  std::optional<double> sim_min;
  std::optional<double> sim_max;

  void add(const Segment& s) {
    ++segments;
    running += s.wall_seconds();
    first_queued = std::min(first_queued, s.wall_start - s.queue_wait_seconds);
    last_end = std::max(last_end, s.wall_end);
    core_hours += s.core_hours();
    if (s.energy_joules) {
      energy += *s.energy_joules;
    } else {
      energy_known = false;
    }
    max_cores = std::max(max_cores, s.cores);
    checkpoint += s.checkpoint_seconds;
    output += s.output_seconds;
    if (s.simulated_start && s.simulated_end && *s.simulated_end > *s.simulated_start) {
      simulated_covered += *s.simulated_end - *s.simulated_start;
    }
    if (s.simulated_start) sim_min = std::min(sim_min.value_or(*s.simulated_start), *s.simulated_start);
    if (s.simulated_end) sim_max = std::max(sim_max.value_or(*s.simulated_end), *s.simulated_end);
  }

  ClimateFigures figures(double seconds_per_year) const {
    ClimateFigures f;
    f.name = name;
    f.simulated_years = net_seconds / seconds_per_year;
    f.running_seconds = running;
    f.elapsed_seconds = segments > 0 ? std::max(0.0, last_end - first_queued) : 0.0;
    f.core_hours = core_hours;
    if (energy_known && segments > 0) f.energy_joules = energy;
    f.max_cores = max_cores;
    f.segments = segments;
    if (running > 0) {
      f.checkpoint_share = checkpoint / running;
      f.output_share = output / running;
    }
    if (f.simulated_years > 0) {
      if (running > 0) f.sypd = (simulated_covered / seconds_per_year) / (running / 86400.0);
      if (f.elapsed_seconds > 0) f.asypd = f.simulated_years / (f.elapsed_seconds / 86400.0);
      f.chsy = core_hours / f.simulated_years;
      if (f.energy_joules) f.jpsy = *f.energy_joules / f.simulated_years;
    }
    return f;
  }
};

std::vector<Sums> by_stage(const std::vector<Segment>& segments) {
  std::vector<Sums> out;
  std::map<std::string, std::size_t> index;
  for (const auto& s : segments) {
    auto [it, added] = index.emplace(s.stage, out.size());
    if (added) out.emplace_back(s.stage);
    out[it->second].add(s);
  }
  // Net model time: from where it first started to the furthest it got. A stage run again
  // from its inputs in a later run starts from the same point, so nothing counts twice.
  for (auto& st : out) {
    if (st.sim_min && st.sim_max && *st.sim_max > *st.sim_min) st.net_seconds = *st.sim_max - *st.sim_min;
  }
  return out;
}

}  // namespace

std::vector<ClimateFigures> figures_by_stage(const std::vector<Segment>& segments, double days_per_year) {
  const double year = days_per_year * 86400.0;
  std::vector<ClimateFigures> out;
  for (const auto& st : by_stage(segments)) out.push_back(st.figures(year));
  return out;
}

std::vector<ClimateFigures> figures_by_scenario(const std::vector<Segment>& segments, double days_per_year) {
  const double year = days_per_year * 86400.0;
  const auto stages = by_stage(segments);
  std::map<std::string, std::string> scenario_of;
  for (const auto& s : segments) scenario_of.emplace(s.stage, s.scenario);
  std::vector<Sums> out;
  std::map<std::string, std::size_t> index;
  for (const auto& st : stages) {
    const std::string& scenario = scenario_of.at(st.name);
    auto [it, added] = index.emplace(scenario, out.size());
    if (added) out.emplace_back(scenario);
    Sums& sc = out[it->second];
    sc.segments += st.segments;
    sc.running += st.running;
    sc.first_queued = std::min(sc.first_queued, st.first_queued);
    sc.last_end = std::max(sc.last_end, st.last_end);
    sc.core_hours += st.core_hours;
    sc.energy += st.energy;
    sc.energy_known = sc.energy_known && st.energy_known;
    sc.max_cores = std::max(sc.max_cores, st.max_cores);
    sc.checkpoint += st.checkpoint;
    sc.output += st.output;
    sc.simulated_covered += st.simulated_covered;
    sc.net_seconds += st.net_seconds;
  }
  std::vector<ClimateFigures> figures;
  for (const auto& sc : out) figures.push_back(sc.figures(year));
  return figures;
}

}  // namespace perennial::accounting
