#include <perennial/coordinator/forecast.hpp>

#include <perennial/accounting/store.hpp>
#include <perennial/accounting/summary.hpp>
#include <perennial/coordinator/accounting_recorder.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/simulator.hpp>
#include <perennial/errors.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <set>

namespace perennial {

namespace {

// Linear interpolation between order statistics (numpy's default); `q` in [0, 1].
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Spread spread_of(const std::vector<double>& draws) {
  return {quantile(draws, 0.5), quantile(draws, 0.1), quantile(draws, 0.9)};
}

double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

// The standard deviation of the logs: the relative spread of rates that multiply.
double log_spread(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  double mean = 0.0;
  for (double v : values) mean += std::log(v);
  mean /= static_cast<double>(values.size());
  double ss = 0.0;
  for (double v : values) ss += (std::log(v) - mean) * (std::log(v) - mean);
  return std::sqrt(ss / static_cast<double>(values.size() - 1));
}

// The declared seconds per step, when the campaign file gives any.
std::optional<double> declared_step(const StageSpec& s) {
  const double expected = expected_seconds(s);
  if (!std::isfinite(expected) || expected <= 0) return std::nullopt;
  return expected / static_cast<double>(std::max<std::uint64_t>(1, s.steps));
}

// A median drawn from a resample of `values` (the bootstrap): how uncertain a median of few
// measurements is.
double bootstrap_median(const std::vector<double>& values, std::mt19937_64& rng) {
  if (values.size() == 1) return values.front();
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  std::vector<double> sample(values.size());
  for (double& v : sample) v = values[pick(rng)];
  return median(std::move(sample));
}

// The moment a use that grows as `runs` spend core-hours crosses `budget`; nullopt if never.
std::optional<double> crossing(std::vector<const SimulatedRun*> runs, double budget) {
  if (budget <= 0) return 0.0;
  // Piecewise linear: the rate (cores) changes at every start and end.
  std::vector<std::pair<double, double>> steps;  // (time, change of cores)
  for (const SimulatedRun* r : runs) {
    if (r->end <= r->start) continue;
    steps.emplace_back(r->start, static_cast<double>(r->cores));
    steps.emplace_back(r->end, -static_cast<double>(r->cores));
  }
  std::sort(steps.begin(), steps.end());
  double used = 0.0, cores = 0.0, t = 0.0;
  for (const auto& [at, change] : steps) {
    const double gain = cores * (at - t) / 3600.0;
    if (cores > 0 && used + gain >= budget) return t + (budget - used) * 3600.0 / cores;
    used += gain;
    t = at;
    cores += change;
  }
  return std::nullopt;
}

}  // namespace

CampaignState campaign_state(const StageGraph& graph, std::vector<StageHistory> history,
                             const std::vector<accounting::Segment>& segments,
                             const std::vector<accounting::CheckpointRow>& checkpoint_rows, std::optional<double> now_unix) {
  CampaignState state;
  state.history = std::move(history);
  state.history.resize(graph.size());
  state.measured.resize(graph.size());
  std::map<std::string, StageId> by_name;
  for (StageId id = 0; id < graph.size(); ++id) by_name[graph.stage(id).name] = id;
  std::vector<std::vector<double>> rates(graph.size());
  std::vector<double> checkpoint_seconds(graph.size(), 0.0);
  std::vector<int> checkpoints(graph.size(), 0);
  std::map<std::int64_t, StageId> stage_of_segment;
  std::vector<const accounting::Segment*> live;  // running rows still being updated
  for (const accounting::Segment& s : segments) {
    state.used_core_hours_by_project[s.project] += s.core_hours();
    const auto it = by_name.find(s.stage);
    if (it == by_name.end()) continue;  // a stage the campaign file no longer has
    const StageId id = it->second;
    stage_of_segment[s.id] = id;
    checkpoint_seconds[id] += s.checkpoint_seconds;
    checkpoints[id] += s.checkpoints;
    if (s.last_step > s.first_step) {
      const double computing = s.wall_seconds() - s.checkpoint_seconds - s.output_seconds;
      if (computing > 0) rates[id].push_back(computing / static_cast<double>(s.last_step - s.first_step));
    }
    // A row still `running` that has not been brought up to date for a while belongs to a
    // run that died: its stage will resume from its checkpoint, not from where the row says.
    if (s.outcome == accounting::Outcome::running && (!now_unix || *now_unix - s.wall_end <= kLiveRowAge)) {
      state.measured[id].steps_done = std::max(state.measured[id].steps_done, s.last_step);
      state.measured[id].running = true;
      live.push_back(&s);
    }
  }
  // Between consecutive commits of one segment: how much a stage's rate varies while it runs.
  std::vector<std::vector<double>> intervals(graph.size());
  std::map<std::int64_t, const accounting::CheckpointRow*> previous;
  for (const auto& row : checkpoint_rows) {  // by segment, then commit time
    const auto sid = stage_of_segment.find(row.segment_id);
    if (sid == stage_of_segment.end()) continue;
    const auto prev = previous.find(row.segment_id);
    if (prev != previous.end() && row.step > prev->second->step) {
      const double computing = row.wall - prev->second->wall - row.seconds;
      if (computing > 0) intervals[sid->second].push_back(computing / static_cast<double>(row.step - prev->second->step));
    }
    previous[row.segment_id] = &row;
  }
  for (StageId id = 0; id < graph.size(); ++id) {
    StageMeasurement& m = state.measured[id];
    if (!rates[id].empty()) {
      m.step_seconds = median(rates[id]);
      m.spread = log_spread(rates[id]);
      if (intervals[id].size() >= 3) m.spread = std::max(m.spread, log_spread(intervals[id]));
      m.samples = static_cast<int>(rates[id].size() + intervals[id].size());
    }
    if (checkpoints[id] > 0) m.checkpoint_seconds = checkpoint_seconds[id] / checkpoints[id];
  }
  // A live row is up to kLiveRowAge old: its stage has gone on since, at its rate, and its
  // reserved cores have been charged since.
  for (const accounting::Segment* s : live) {
    if (now_unix && *now_unix > s->wall_end) {
      state.used_core_hours_by_project[s->project] += (*now_unix - s->wall_end) * static_cast<double>(s->cores) / 3600.0;
    }
    StageMeasurement& m = state.measured[by_name.at(s->stage)];
    if (!now_unix || !m.step_seconds || *now_unix <= s->wall_end) continue;
    const auto since = static_cast<std::uint64_t>((*now_unix - s->wall_end) / *m.step_seconds);
    const std::uint64_t steps = graph.stage(by_name.at(s->stage)).steps;
    m.steps_done = std::max(m.steps_done, std::min(s->last_step + since, steps));
  }
  return state;
}

void note_running(CampaignState& state, StageId id, std::uint64_t step, std::optional<double> step_seconds) {
  if (state.measured.size() <= id) state.measured.resize(id + 1);
  StageMeasurement& m = state.measured[id];
  m.running = true;
  m.steps_done = std::max(m.steps_done, step);
  // The books' rate leaves checkpoint and output writing out; a run's own (start-up and
  // checkpoints in) only stands in until the books have one.
  if (step_seconds && *step_seconds > 0 && !m.step_seconds) m.step_seconds = step_seconds;
}

namespace {

// The stage's measurement, when the books hold a step rate for it.
const StageMeasurement* measured_rate(const CampaignState& state, StageId id) {
  if (id >= state.measured.size() || !state.measured[id].step_seconds || *state.measured[id].step_seconds <= 0) return nullptr;
  return &state.measured[id];
}

// What the measured stages say, gathered once for the rates and for the draws: how far each
// was from its declaration (in stage order), and what each template's members and each
// kernel's stages measured.
struct Measurements {
  std::size_t stages = 0;
  std::vector<double> ratios;
  std::map<std::string, std::vector<double>> steps_of, ratios_of, core_seconds_of_kernel;
};

Measurements measurements(const StageGraph& graph, const CampaignState& state) {
  Measurements out;
  for (StageId id = 0; id < graph.size(); ++id) {
    const StageMeasurement* m = measured_rate(state, id);
    if (!m) continue;
    ++out.stages;
    const StageSpec& s = graph.stage(id);
    out.steps_of[s.template_name].push_back(*m->step_seconds);
    out.core_seconds_of_kernel[s.what_runs()].push_back(*m->step_seconds * s.ranks * s.cores_per_rank);
    if (const auto declared = declared_step(s)) {
      out.ratios.push_back(*m->step_seconds / *declared);
      out.ratios_of[s.template_name].push_back(*m->step_seconds / *declared);
    }
  }
  return out;
}

}  // namespace

std::vector<StageRate> stage_rates(const StageGraph& graph, const CampaignState& state, const ForecastOptions& options,
                                   std::optional<double>* correction) {
  const std::size_t n = graph.size();
  auto measured = [&](StageId id) { return measured_rate(state, id); };
  // What each template's members measured, and how far from their declarations.
  const Measurements seen = measurements(graph, state);
  const auto& ratios = seen.ratios;
  const auto& steps_of = seen.steps_of;
  const auto& ratios_of = seen.ratios_of;
  const auto& core_seconds_of_kernel = seen.core_seconds_of_kernel;
  const std::optional<double> corr = ratios.empty() ? std::nullopt : std::optional<double>(median(ratios));
  if (correction) *correction = corr;
  // How far one template's declaration may be off beyond the common correction: the spread of
  // the measured templates' own corrections; and one member beyond its template's.
  std::vector<double> template_ratios, within;
  for (const auto& [t, r] : ratios_of) {
    const double m = median(r);
    template_ratios.push_back(m);
    for (double x : r) within.push_back(x / m);
  }
  // The templates measured so far are the early ones: their spread is no less than the prior.
  const double template_spread =
      std::max(options.unmeasured_spread, template_ratios.size() >= 3 ? log_spread(template_ratios) : 0.0);
  const double member_spread = within.size() >= 3 ? log_spread(within) : options.unmeasured_spread;

  std::vector<StageRate> rates(n);
  for (StageId id = 0; id < n; ++id) {
    const StageSpec& s = graph.stage(id);
    StageRate& r = rates[id];
    if (const StageMeasurement* m = measured(id)) {
      const double own = m->samples >= 3 ? m->spread : std::max(m->spread, options.measured_spread_floor);
      r = {*m->step_seconds, 0.0, own, StageRate::Basis::measured, "measured"};
    } else if (const auto it = steps_of.find(s.template_name); it != steps_of.end() && s.template_name != s.name) {
      // Its ensemble siblings measured: their median, give or take one member's spread.
      const auto& siblings = it->second;
      r = {median(siblings), 0.0, siblings.size() >= 3 ? log_spread(siblings) : member_spread, StageRate::Basis::siblings,
           fmt::format("{} sibling(s) of {}", siblings.size(), s.template_name)};
    } else if (const auto declared = declared_step(s)) {
      r = corr ? StageRate{*declared * *corr, template_spread, member_spread, StageRate::Basis::declared_corrected,
                           fmt::format("declared x {:.3f}", *corr)}
               : StageRate{*declared, options.unmeasured_spread, options.unmeasured_spread, StageRate::Basis::declared, "declared"};
    } else if (const auto k = core_seconds_of_kernel.find(s.what_runs()); k != core_seconds_of_kernel.end()) {
      const double cores = static_cast<double>(s.ranks) * s.cores_per_rank;
      r = {median(k->second) / std::max(1.0, cores), options.same_kernel_spread, member_spread, StageRate::Basis::same_kernel,
           fmt::format("{} stage(s) of kernel {}", k->second.size(), s.what_runs())};
    } else {
      r = {options.default_step_seconds, options.unmeasured_spread, options.unmeasured_spread, StageRate::Basis::fallback,
           fmt::format("{:g} s per step, a default: nothing declared or measured (declare step_time or walltime)",
                       options.default_step_seconds)};
    }
  }
  return rates;
}

Forecast forecast_campaign(const StageGraph& graph, const Machine& machine, const PolicyConfig& config,
                           const CampaignState& state, const ForecastOptions& options) {
  const std::size_t n = graph.size();
  const Campaign& campaign = graph.campaign();
  Forecast f;
  f.draws = std::max(1, options.draws);
  std::optional<double> correction;
  const std::vector<StageRate> base = stage_rates(graph, state, options, &correction);
  f.declared_correction = correction;

  // The draws vary together what is shared: the common correction of the declarations
  // (a resample of the measured ratios) and each template's centre (a resample of its
  // members' measurements, or a draw at the templates' spread).
  const Measurements seen = measurements(graph, state);
  const std::vector<double>& ratios = seen.ratios;
  const auto& by_template = seen.steps_of;
  f.stages_measured = seen.stages;

  // A running stage's progress past its last checkpoint counts as done: the forecast starts
  // it from there (it is running, not lost).
  SimulationOptions sim;
  sim.history = state.history;
  sim.history.resize(n);
  for (StageId id = 0; id < n; ++id) {
    if (sim.history[id].completed) continue;
    ++f.stages_left;
    if (id < state.measured.size() && state.measured[id].running) sim.running_at_start.push_back(id);
    const std::uint64_t done = id < state.measured.size() ? state.measured[id].steps_done : 0;
    auto& epochs = sim.history[id].epochs;
    if (done > 0 && (epochs.empty() || epochs.back().step < done)) {
      epochs.push_back(EpochRecord{++sim.history[id].last_epoch, std::min(done, graph.stage(id).steps), {}, std::nullopt, 0});
    }
  }
  // A checkpoint costs what the stage's own measured, else its siblings', else any stage's
  // of the campaign (they write to the same file system), else the guess.
  sim.stage_checkpoint_cost.resize(n);
  std::map<std::string, std::vector<double>> costs_of;
  std::vector<double> costs;
  for (StageId id = 0; id < n && id < state.measured.size(); ++id) {
    if (const auto& cost = state.measured[id].checkpoint_seconds) {
      costs_of[graph.stage(id).template_name].push_back(*cost);
      costs.push_back(*cost);
    }
  }
  for (StageId id = 0; id < n; ++id) {
    const auto siblings = costs_of.find(graph.stage(id).template_name);
    if (id < state.measured.size() && state.measured[id].checkpoint_seconds) {
      sim.stage_checkpoint_cost[id] = state.measured[id].checkpoint_seconds;
    } else if (siblings != costs_of.end()) {
      sim.stage_checkpoint_cost[id] = median(siblings->second);
    } else if (!costs.empty()) {
      sim.stage_checkpoint_cost[id] = median(costs);
    }
  }
  sim.checkpoint_cost_seconds = options.checkpoint_cost_seconds;
  sim.default_step_seconds = options.default_step_seconds;
  sim.repair_seconds = options.repair_seconds;
  sim.used_core_hours_by_project = state.used_core_hours_by_project;
  if (options.node_mtbf_seconds > 0) sim.node_mtbf_seconds = options.node_mtbf_seconds;

  std::map<std::string, std::string> grant_of;
  std::map<std::string, double> grant_allocation, grant_used;
  for (const auto& p : campaign.projects) {
    grant_of[p.name] = p.grant;
    if (p.allocation_core_hours > 0) grant_allocation[p.grant] += p.allocation_core_hours;
    const auto used = state.used_core_hours_by_project.find(p.name);
    if (used != state.used_core_hours_by_project.end()) grant_used[p.grant] += used->second;
  }
  std::vector<std::string> scenario(n);
  for (StageId id = 0; id < n; ++id) scenario[id] = scenario_json(graph.stage(id));

  std::vector<double> seconds, core_hours;
  std::map<std::string, std::vector<double>> by_project, by_grant, by_scenario;
  std::map<std::string, std::vector<double>> out_project, out_grant;  // seconds until exhausted
  std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ULL + 17);
  std::normal_distribution<double> unit(0.0, 1.0);
  for (int d = 0; d < f.draws; ++d) {
    // This draw's rates: the shared factors first, then each stage's own.
    const double draw_correction = ratios.empty() ? 1.0 : bootstrap_median(ratios, rng) / *correction;
    // What is unknown of the templates not run yet is partly common to them all (one machine,
    // one model): one draw for the campaign, one per template, each template's spread kept.
    const double common = unit(rng);
    const double rho = std::clamp(options.unmeasured_correlation, 0.0, 1.0);
    std::map<std::string, double> template_factor;
    for (const auto& [name, values] : by_template) template_factor[name] = bootstrap_median(values, rng) / median(values);
    sim.step_seconds.assign(n, std::nullopt);
    for (StageId id = 0; id < n; ++id) {
      const StageRate& r = base[id];
      const std::string& t = graph.stage(id).template_name;
      double step = r.step_seconds * std::exp(r.own * unit(rng));
      switch (r.basis) {
        case StageRate::Basis::measured: break;
        case StageRate::Basis::siblings: step *= template_factor[t]; break;
        case StageRate::Basis::declared_corrected:
        case StageRate::Basis::declared:
        case StageRate::Basis::same_kernel:
        case StageRate::Basis::fallback: {
          auto [it, fresh] = template_factor.try_emplace(t, 0.0);
          if (fresh) it->second = std::exp(r.shared * (std::sqrt(rho) * common + std::sqrt(1.0 - rho) * unit(rng)));
          step *= it->second * (r.basis == StageRate::Basis::declared_corrected ? draw_correction : 1.0);
          break;
        }
      }
      sim.step_seconds[id] = step;
    }
    sim.seed = options.seed * 1000003ULL + static_cast<std::uint64_t>(d);
    const SimulationReport report = simulate_campaign(graph, machine, config, sim);
    if (report.completed < n) ++f.draws_unfinished;
    seconds.push_back(report.makespan_seconds);
    double total = 0.0;
    std::map<std::string, double> project, grant, scen;
    std::map<std::string, std::vector<const SimulatedRun*>> runs_of_project, runs_of_grant;
    for (const auto& p : campaign.projects) project[p.name] = 0.0, grant[p.grant] = 0.0;
    for (const SimulatedRun& run : report.runs) {
      const StageSpec& s = graph.stage(run.stage);
      const double h = run.core_hours();
      total += h;
      project[s.project] += h;
      grant[grant_of[s.project]] += h;
      scen[scenario[run.stage]] += h;
      runs_of_project[s.project].push_back(&run);
      runs_of_grant[grant_of[s.project]].push_back(&run);
    }
    core_hours.push_back(total);
    for (const auto& [k, v] : project) by_project[k].push_back(v);
    for (const auto& [k, v] : grant) by_grant[k].push_back(v);
    for (StageId id = 0; id < n; ++id) scen.try_emplace(scenario[id], 0.0);
    for (const auto& [k, v] : scen) by_scenario[k].push_back(v);
    for (const auto& p : campaign.projects) {
      if (p.allocation_core_hours <= 0) continue;
      const auto used = state.used_core_hours_by_project.find(p.name);
      const double left = p.allocation_core_hours - (used == state.used_core_hours_by_project.end() ? 0.0 : used->second);
      if (const auto t = crossing(runs_of_project[p.name], left)) out_project[p.name].push_back(*t);
    }
    for (const auto& [g, allocation] : grant_allocation) {
      if (const auto t = crossing(runs_of_grant[g], allocation - grant_used[g])) out_grant[g].push_back(*t);
    }
  }
  f.seconds_to_finish = spread_of(seconds);
  f.core_hours_to_finish = spread_of(core_hours);
  for (const auto& [k, v] : by_project) f.core_hours_to_finish_by_project[k] = spread_of(v);
  for (const auto& [k, v] : by_grant) f.core_hours_to_finish_by_grant[k] = spread_of(v);
  for (const auto& [k, v] : by_scenario) f.core_hours_to_finish_by_scenario[k] = spread_of(v);
  for (const auto& [k, v] : out_project) f.exhaustion_by_project[k] = {static_cast<double>(v.size()) / f.draws, spread_of(v)};
  for (const auto& [k, v] : out_grant) f.exhaustion_by_grant[k] = {static_cast<double>(v.size()) / f.draws, spread_of(v)};

  std::map<std::string, int> bases;
  for (StageId id = 0; id < n; ++id) {
    if (sim.history[id].completed) continue;
    switch (base[id].basis) {
      case StageRate::Basis::measured: ++bases["their measured rate"]; break;
      case StageRate::Basis::siblings: ++bases["their ensemble siblings' measured rate"]; break;
      case StageRate::Basis::declared_corrected: ++bases["their declared step time x the measured correction"]; break;
      case StageRate::Basis::declared: ++bases["their declared step time (nothing measured yet)"]; break;
      case StageRate::Basis::same_kernel: ++bases["what other stages of their kernel measured per core (nothing declared)"]; break;
      case StageRate::Basis::fallback: ++bases[base[id].text]; break;
    }
  }
  for (const auto& [b, count] : bases) f.notes.push_back(fmt::format("{} stage(s) left at {}", count, b));
  if (correction) {
    f.notes.push_back(fmt::format("measured step times are {:.3f}x the declared ones (median of {} stage(s))", *correction,
                                  ratios.size()));
  }
  if (options.node_mtbf_seconds > 0) {
    f.notes.push_back(fmt::format("node failures drawn at an MTBF of {:.3g} h per node, ranks back after {:.0f} s",
                                  options.node_mtbf_seconds / 3600.0, options.repair_seconds));
  }
  if (f.draws_unfinished > 0) {
    f.notes.push_back(fmt::format("in {} of {} draws the campaign cannot finish (a hard cap, or stages that can never start)",
                                  f.draws_unfinished, f.draws));
  }
  return f;
}

Machine forecast_machine(const Campaign& campaign, const std::vector<NodeSpec>& run_nodes) {
  if (campaign.cluster.declared()) return machine_for(campaign.cluster);
  if (run_nodes.empty()) {
    throw Error(fmt::format("{}: no machine to forecast on: the campaign declares no cluster: and no run recorded its nodes",
                            campaign.file.string()));
  }
  Machine m;
  // Detected nodes carry no feature tags (and a mask means nothing outside its machine).
  for (NodeSpec n : run_nodes) {
    n.features = 0;
    m.add_node(n);
  }
  return m;
}

std::vector<AllocationOutlook> allocation_outlooks(const Campaign& campaign, const Forecast& forecast,
                                                   const CampaignState& state, bool grants) {
  auto used_by = [&](const std::string& project) {
    const auto it = state.used_core_hours_by_project.find(project);
    return it == state.used_core_hours_by_project.end() ? 0.0 : it->second;
  };
  auto find = [](const auto& map, const std::string& key) -> decltype(&map.begin()->second) {
    const auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  };
  std::vector<AllocationOutlook> out;
  if (!grants) {
    for (const auto& p : campaign.projects) {
      AllocationOutlook o;
      o.name = p.name;
      o.grant = p.grant;
      o.used_core_hours = used_by(p.name);
      if (const auto* s = find(forecast.core_hours_to_finish_by_project, p.name)) o.to_finish = *s;
      if (p.allocation_core_hours > 0) o.allocation_core_hours = p.allocation_core_hours;
      if (const auto* x = find(forecast.exhaustion_by_project, p.name)) o.exhaustion = *x;
      out.push_back(o);
    }
    // Stages of no declared project (or of one the file no longer declares) count too.
    std::set<std::string> undeclared;
    for (const auto& [project, used] : state.used_core_hours_by_project) undeclared.insert(project);
    for (const auto& [project, spread] : forecast.core_hours_to_finish_by_project) undeclared.insert(project);
    for (const auto& p : campaign.projects) undeclared.erase(p.name);
    for (const auto& project : undeclared) {
      AllocationOutlook o;
      o.name = project;
      o.used_core_hours = used_by(project);
      if (const auto* s = find(forecast.core_hours_to_finish_by_project, project)) o.to_finish = *s;
      out.push_back(o);
    }
    return out;
  }
  std::map<std::string, AllocationOutlook> by_grant;
  for (const auto& p : campaign.projects) {
    const auto [it, fresh] = by_grant.try_emplace(p.grant);
    AllocationOutlook& g = it->second;
    g.name = g.grant = p.grant;
    g.projects = fresh ? 1 : g.projects + 1;
    g.used_core_hours += used_by(p.name);
    if (p.allocation_core_hours > 0) g.allocation_core_hours = g.allocation_core_hours.value_or(0.0) + p.allocation_core_hours;
  }
  for (auto& [name, g] : by_grant) {
    if (const auto* s = find(forecast.core_hours_to_finish_by_grant, name)) g.to_finish = *s;
    if (const auto* x = find(forecast.exhaustion_by_grant, name)) g.exhaustion = *x;
    out.push_back(g);
  }
  return out;
}

std::vector<std::string> overrun_warnings(const std::vector<AllocationOutlook>& outlooks, double now_unix) {
  using accounting::format_core_hours;
  auto date = [](double t) {
    const auto seconds = static_cast<std::time_t>(t);
    return fmt::format("{:%Y-%m-%d %H:%M} UTC", fmt::gmtime(seconds));
  };
  std::vector<std::string> out;
  for (const auto& o : outlooks) {
    // A grant of one project is that project: warned about once.
    if (!o.allocation_core_hours || (o.name == o.grant && o.projects < 2)) continue;
    const double allocation = *o.allocation_core_hours;
    const bool is_grant = o.name == o.grant;
    const std::string who = is_grant ? fmt::format("grant {}", o.name) : fmt::format("project {} (grant {})", o.name, o.grant);
    const std::string use = fmt::format("{} used + {} to finish = {} (80%: {} to {})", format_core_hours(o.used_core_hours),
                                        format_core_hours(o.to_finish.expected), format_core_hours(o.total()),
                                        format_core_hours(o.used_core_hours + o.to_finish.low),
                                        format_core_hours(o.used_core_hours + o.to_finish.high));
    std::string runs_out;
    if (o.used_core_hours >= allocation) {
      runs_out = "; it is used up already";
    } else if (o.exhaustion && o.exhaustion->share_of_draws >= 0.5) {
      runs_out = fmt::format("; it runs out on {} (80%: {} to {})", date(now_unix + o.exhaustion->seconds.expected),
                             date(now_unix + o.exhaustion->seconds.low), date(now_unix + o.exhaustion->seconds.high));
    }
    if (o.total() > allocation) {
      out.push_back(fmt::format("{} is projected to overrun its allocation of {}: {}, {} over{}", who,
                                format_core_hours(allocation), use, format_core_hours(o.total() - allocation), runs_out));
    } else if (o.used_core_hours + o.to_finish.high > allocation) {
      out.push_back(fmt::format("{} may overrun its allocation of {}: {}", who, format_core_hours(allocation), use));
    }
  }
  return out;
}

nlohmann::json Forecast::to_json() const {
  auto spread = [](const Spread& s) { return nlohmann::json{{"expected", s.expected}, {"low", s.low}, {"high", s.high}}; };
  auto spreads = [&](const std::map<std::string, Spread>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : m) j[k] = spread(v);
    return j;
  };
  auto exhaustion = [&](const std::map<std::string, Exhaustion>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : m) j[k] = {{"share_of_draws", v.share_of_draws}, {"seconds", spread(v.seconds)}};
    return j;
  };
  nlohmann::json j = {{"seconds_to_finish", spread(seconds_to_finish)},
                      {"core_hours_to_finish_detail", spread(core_hours_to_finish)},
                      {"core_hours_to_finish_by_project", spreads(core_hours_to_finish_by_project)},
                      {"core_hours_to_finish_by_grant", spreads(core_hours_to_finish_by_grant)},
                      {"core_hours_to_finish_by_scenario", spreads(core_hours_to_finish_by_scenario)},
                      {"exhaustion_by_project", exhaustion(exhaustion_by_project)},
                      {"exhaustion_by_grant", exhaustion(exhaustion_by_grant)},
                      {"draws", draws},
                      {"draws_unfinished", draws_unfinished},
                      {"stages_left", stages_left},
                      {"stages_measured", stages_measured},
                      {"notes", notes}};
  if (declared_correction) j["declared_correction"] = *declared_correction;
  return j;
}

}  // namespace perennial
