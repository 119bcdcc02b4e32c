// bench_forecast_accuracy: how close the campaign forecast (coordinator/forecast.hpp) comes
// to the truth, on accelerated campaigns whose true rates it does not know.
//
// Each trial draws a campaign: two ensembles (two projects) of members that each run a
// chain of chunks and a post-processing stage, and a final analysis, on a machine of 16-core
// nodes. Every stage declares a step_time; the *true* step time differs from it in ways the
// forecaster is not told:
//   - the whole campaign's declarations are off by a common factor (lognormal, 30%);
//   - each stage is off by its own factor (lognormal, 10%);
//   - rates drift along the chain: chunk k of K runs (1 + drift x (k-1)/(K-1)) slower, with
//     drift uniform in [-15%, +15%] per campaign (the later chunks have not run at 20%);
//   - checkpoint costs vary per stage (lognormal, 20%), and nodes fail (MTBF 30 days per node,
//     back after 1 h) on the truth's own seed.
// The truth is the accelerated mode run to the end with the true rates. When a share of the
// campaign's steps is computed (20% for the summary) the campaign's state is taken from the
// truth (completed stages,
// checkpointed and computed steps, the rates measured of the stages that ran, the core-hours
// used), and forecast_campaign predicts the rest without the true rates of stages that have
// not run, without the drift, and with failure draws of its own.
//
// Printed per progress point: the median and 90th-percentile absolute error of the completion
// time (as a share of the true makespan, and of the time that was still left) and of the
// campaign's total core-hours, and how often the 80% intervals held the truth. Two baselines
// measured in the same run: the declared rates simulated (what `perennial simulate` said
// before the campaign), and linear extrapolation of the steps done so far (Autosubmit-style
// ETA: time per step so far x steps left). Never fails on the figures: a benchmark, not a
// test. The last line, `summary: key=value ...`, is read by run-all.sh.
//
// Options: --trials N (default 100), --draws N (forecast draws, default 40), --seed S,
// --at F[,F...] progress fractions (default 0.1,0.2,0.5; the summary is for 0.2), --progress
// steps|time (progress as the share of steps computed, the default, or of the true makespan).
// Ablations (what each unseen thing costs): --no-failures, --drift D (0.15), --stage-noise S (0.10),
// --bias B (0.30), --mtbf-days D (30, per node). --correlation R sets the forecast's
// unmeasured_correlation (default its own, 0.5). --per-trial prints each forecast on stderr.

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/forecast.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/simulator.hpp>
#include <perennial/coordinator/stage_graph.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace perennial;

namespace {

class Noop final : public Kernel {
 public:
  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
};

struct Options {
  int trials = 100;
  int draws = 40;
  std::uint64_t seed = 1;
  std::vector<double> at = {0.1, 0.2, 0.5};
  // Ablations: what each thing the forecaster cannot see costs it.
  bool failures = true;
  double mtbf_days = 30.0;  ///< per node
  double drift = 0.15;       ///< the drift along a chain is uniform in [-drift, +drift]
  double stage_noise = 0.10;
  double bias = 0.30;
  bool progress_by_steps = true;  ///< --progress steps|time
  bool per_trial = false;         ///< --per-trial: one line per forecast on stderr
  std::optional<double> correlation;  ///< --correlation R: the forecast's unmeasured_correlation
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "bench_forecast_accuracy: %s\nusage: bench_forecast_accuracy [--trials N] [--draws N] [--seed S] [--at F,F...]\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--trials") o.trials = std::stoi(value());
    else if (a == "--draws") o.draws = std::stoi(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--no-failures") o.failures = false;
    else if (a == "--per-trial") o.per_trial = true;
    else if (a == "--correlation") o.correlation = std::stod(value());
    else if (a == "--mtbf-days") o.mtbf_days = std::stod(value());
    else if (a == "--drift") o.drift = std::stod(value());
    else if (a == "--stage-noise") o.stage_noise = std::stod(value());
    else if (a == "--bias") o.bias = std::stod(value());
    else if (a == "--progress") {
      const std::string by = value();
      if (by != "steps" && by != "time") usage("--progress steps or time");
      o.progress_by_steps = by == "steps";
    }
    else if (a == "--at") {
      o.at.clear();
      std::stringstream in(value());
      for (std::string f; std::getline(in, f, ',');) o.at.push_back(std::stod(f));
    } else usage("unknown option " + a);
  }
  if (o.trials < 1 || o.draws < 1 || o.at.empty()) usage("trials, draws >= 1 and at least one --at");
  return o;
}

// One drawn campaign: its YAML, and each stage's true step time and checkpoint cost.
struct Drawn {
  std::string yaml;
  std::map<std::string, double> truth_factor;  // stage name -> true / declared step time
};

Drawn draw_campaign(std::mt19937_64& rng, int trial, const Options& o) {
  std::uniform_int_distribution<int> nodes_d(6, 16), members_d(6, 20), chunks_d(3, 6), steps_d(300, 1200);
  std::uniform_real_distribution<double> step_d(20.0, 90.0), drift_d(-o.drift, o.drift);
  std::lognormal_distribution<double> campaign_bias(0.0, o.bias), stage_noise(0.0, o.stage_noise);
  const int nodes = nodes_d(rng);
  const double bias = campaign_bias(rng);
  const double drift = drift_d(rng);
  Drawn d;
  std::string& y = d.yaml;
  y += fmt::format("campaign: trial{}\n", trial);
  y += "projects:\n  - {name: ocean, grant: G1, allocation_core_hours: 1000000}\n"
       "  - {name: land, grant: G2, allocation_core_hours: 1000000}\n";
  y += fmt::format("cluster: {{nodes: [{{name: \"n[1-{}]\", cores: 16}}]}}\n", nodes);
  y += fmt::format("checkpoint: {{mtbf: {}d}}\nstages:\n", o.mtbf_days);
  const std::vector<std::pair<std::string, int>> ensembles = {{"ocean", 8}, {"land", 4}};
  std::string all_posts;
  for (const auto& [project, ranks] : ensembles) {
    const int members = members_d(rng);
    const int chunks = chunks_d(rng);
    std::string list;
    for (int m = 1; m <= members; ++m) list += fmt::format("{}{}", m > 1 ? ", " : "", m);
    for (int k = 1; k <= chunks; ++k) {
      const double declared = step_d(rng);
      const int steps = steps_d(rng);
      y += fmt::format("  - {{name: \"{}{}-{{member}}\", for_each: {{member: [{}]}}, kernel: noop, project: {}, ranks: {}, "
                       "steps: {}, step_time: {:.2f}s{}}}\n",
                       project, k, list, project, ranks, steps, declared,
                       k > 1 ? fmt::format(", after: [\"{}{}-{{member}}\"]", project, k - 1) : std::string());
      const double along = chunks > 1 ? static_cast<double>(k - 1) / (chunks - 1) : 0.0;
      for (int m = 1; m <= members; ++m) {
        d.truth_factor[fmt::format("{}{}-{}", project, k, m)] = bias * stage_noise(rng) * (1.0 + drift * along);
      }
    }
    y += fmt::format("  - {{name: \"{}-post-{{member}}\", for_each: {{member: [{}]}}, kernel: noop, project: {}, ranks: 1, "
                     "steps: 100, step_time: 6s, after: [\"{}{}-{{member}}\"]}}\n",
                     project, list, project, project, chunks);
    for (int m = 1; m <= members; ++m) d.truth_factor[fmt::format("{}-post-{}", project, m)] = bias * stage_noise(rng);
    all_posts += fmt::format("{}\"{}-post-*\"", all_posts.empty() ? "" : ", ", project);
  }
  y += fmt::format("  - {{name: analysis, kernel: noop, project: ocean, ranks: 4, steps: 200, step_time: 9s, after: [{}]}}\n", all_posts);
  d.truth_factor["analysis"] = bias * stage_noise(rng);
  return d;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
double p90(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(v.size())) - 1))];
}

double total_core_hours(const SimulationReport& r) {
  double h = 0.0;
  for (const auto& run : r.runs) h += run.core_hours();
  return h;
}

struct Errors {
  std::vector<double> end_of_total, end_of_left, core_hours;
  std::vector<double> end_signed, core_signed;  // forecast minus truth: is it biased?
  std::vector<double> end_width;                // the end's 80% interval, as a share of the makespan
  int end_held = 0, core_held = 0, n = 0;
  int end_held_strict = 0, core_held_strict = 0;
  std::vector<double> declared_end, linear_end, declared_core;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  KernelRegistry kernels;
  kernels.add("noop", [] { return std::make_unique<Noop>(); });
  std::mt19937_64 rng(o.seed);
  std::map<double, Errors> errors;
  int skipped = 0;
  double forecast_seconds = 0.0;
  int forecasts = 0;

  for (int trial = 0; trial < o.trials; ++trial) {
    const Drawn drawn = draw_campaign(rng, trial, o);
    auto loaded = load_campaign_text(drawn.yaml, fmt::format("trial{}.yaml", trial));
    if (!loaded.campaign) {
      std::fprintf(stderr, "trial %d: bad campaign:\n%s\n%s\n", trial, loaded.diagnostics.to_string().c_str(), drawn.yaml.c_str());
      return 1;
    }
    Diagnostics diagnostics;
    const StageGraph graph = StageGraph::build(std::move(*loaded.campaign), &kernels, diagnostics);
    if (!diagnostics.empty()) {
      std::fprintf(stderr, "trial %d: %s\n", trial, diagnostics.to_string().c_str());
      return 1;
    }
    const Campaign& c = graph.campaign();
    const Machine machine = machine_for(c.cluster);
    const PolicyConfig config = policy_config_for(c);
    const std::size_t n = graph.size();

    // The truth: true rates and checkpoint costs, failures on the trial's own seed.
    SimulationOptions truth;
    if (o.failures) truth.node_mtbf_seconds = c.checkpoint.node_mtbf_seconds;
    truth.repair_seconds = 3600.0;
    truth.seed = o.seed * 7919 + static_cast<std::uint64_t>(trial);
    truth.step_seconds.resize(n);
    truth.stage_checkpoint_cost.resize(n);
    std::lognormal_distribution<double> cost_noise(0.0, 0.20);
    for (StageId id = 0; id < n; ++id) {
      const StageSpec& s = graph.stage(id);
      truth.step_seconds[id] = *s.step_seconds * drawn.truth_factor.at(s.name);
      truth.stage_checkpoint_cost[id] = 60.0 * cost_noise(rng);
    }
    const SimulationReport whole = simulate_campaign(graph, machine, config, truth);
    if (whole.completed < n) {
      ++skipped;
      continue;
    }
    const double T = whole.makespan_seconds;
    const double C = total_core_hours(whole);

    // Baseline 1: the declared rates, simulated before the campaign.
    SimulationOptions declared;
    declared.node_mtbf_seconds = truth.node_mtbf_seconds;
    declared.repair_seconds = truth.repair_seconds;
    const SimulationReport before = simulate_campaign(graph, machine, config, declared);

    std::uint64_t all_steps = 0;
    for (StageId id = 0; id < n; ++id) all_steps += graph.stage(id).steps;
    // The truth stopped at `t`, and the share of the campaign's steps computed by then.
    auto truth_at = [&](double t) {
      SimulationOptions cut_options = truth;
      cut_options.stop_at = t;
      return simulate_campaign(graph, machine, config, cut_options);
    };
    auto steps_share = [&](const SimulationReport& r) {
      std::uint64_t done = 0;
      for (const auto& st : r.stage_states) done += st.computed_step;
      return static_cast<double>(done) / static_cast<double>(all_steps);
    };
    for (double at : o.at) {
      // "At 20% progress" is when 20% of the steps are computed, which the campaign's status
      // shows at that moment. (A fraction of the true makespan would pick the moment with
      // hindsight of the failures still to come; --progress time measures that instead.)
      double t = at * T;
      if (o.progress_by_steps && at > 0) {
        double lo = 0.0, hi = T;
        for (int i = 0; i < 30; ++i) {
          const double mid = (lo + hi) / 2;
          (steps_share(truth_at(mid)) < at ? lo : hi) = mid;
        }
        t = hi;
      }
      const SimulationReport cut = truth_at(t);
      const double now = cut.makespan_seconds;
      // The campaign's state at the cut, as its journal and books would hold it.
      CampaignState state;
      state.history.resize(n);
      state.measured.resize(n);
      std::vector<bool> ran(n, false);
      for (const auto& r : cut.runs) ran[r.stage] = true;
      std::uint64_t steps_done = 0;
      for (StageId id = 0; id < n; ++id) {
        const SimulatedStage& st = cut.stage_states[id];
        steps_done += st.computed_step;
        if (st.completed) {
          state.history[id].completed = true;
          continue;
        }
        if (st.checkpointed_step > 0) {
          state.history[id].epochs.push_back(EpochRecord{1, st.checkpointed_step, {}, std::nullopt, 0});
          state.history[id].last_epoch = 1;
        }
        if (ran[id]) {
          state.measured[id].step_seconds = st.step_seconds;
          state.measured[id].checkpoint_seconds = st.checkpoint_cost;
          if (st.running) {
            state.measured[id].steps_done = st.computed_step;
            state.measured[id].running = true;
          }
        }
      }
      for (StageId id = 0; id < n; ++id) {
        if (state.history[id].completed && ran[id]) {
          state.measured[id].step_seconds = cut.stage_states[id].step_seconds;
          state.measured[id].checkpoint_seconds = cut.stage_states[id].checkpoint_cost;
        }
      }
      const double used = total_core_hours(cut);
      ForecastOptions fo;
      fo.draws = o.draws;
      fo.seed = o.seed + static_cast<std::uint64_t>(trial) * 101;
      fo.node_mtbf_seconds = o.failures ? c.checkpoint.node_mtbf_seconds : 0.0;
      fo.repair_seconds = truth.repair_seconds;
      if (o.correlation) fo.unmeasured_correlation = *o.correlation;
      const auto t0 = std::chrono::steady_clock::now();
      const Forecast f = forecast_campaign(graph, machine, config, state, fo);
      forecast_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++forecasts;

      Errors& e = errors[at];
      ++e.n;
      const double predicted_end = now + f.seconds_to_finish.expected;
      e.end_of_total.push_back(std::abs(predicted_end - T) / T);
      e.end_signed.push_back((predicted_end - T) / T);
      e.end_width.push_back((f.seconds_to_finish.high - f.seconds_to_finish.low) / T);
      e.end_of_left.push_back(std::abs(predicted_end - T) / std::max(1.0, T - now));
      const double predicted_core = used + f.core_hours_to_finish.expected;
      e.core_hours.push_back(std::abs(predicted_core - C) / C);
      e.core_signed.push_back((predicted_core - C) / C);
      // Held: inside the interval, give or take 0.1% of the makespan. Often no failure touches
      // the rest of the campaign, and the forecast's lower bound is then that schedule, a few
      // seconds late: it restarts a running stage's checkpoint cycle, whose phase it does not
      // know. The strict count is printed beside it.
      const double slack = 0.001 * T;
      if (T >= now + f.seconds_to_finish.low && T <= now + f.seconds_to_finish.high) ++e.end_held_strict;
      if (C >= used + f.core_hours_to_finish.low && C <= used + f.core_hours_to_finish.high) ++e.core_held_strict;
      if (T >= now + f.seconds_to_finish.low - slack && T <= now + f.seconds_to_finish.high + slack) ++e.end_held;
      if (o.per_trial) {
        ForecastOptions calm = fo;
        calm.node_mtbf_seconds = 0;
        calm.draws = 1;
        const Forecast g = forecast_campaign(graph, machine, config, state, calm);
        int down = 0;
        fmt::print(stderr, "trial {} at {}: T {:.0f} now {:.0f} low {:.0f} exp {:.0f} high {:.0f}; no failures {:.0f}; failures before {} after {}\n", trial, at, T, now,
                   now + f.seconds_to_finish.low, now + f.seconds_to_finish.expected, now + f.seconds_to_finish.high,
                   now + g.seconds_to_finish.expected, cut.node_failures, whole.node_failures - cut.node_failures + down);
      }
      const double core_slack = 0.001 * C;
      if (C >= used + f.core_hours_to_finish.low - core_slack && C <= used + f.core_hours_to_finish.high + core_slack) ++e.core_held;
      e.declared_end.push_back(std::abs(before.makespan_seconds - T) / T);
      e.declared_core.push_back(std::abs(total_core_hours(before) - C) / C);
      if (steps_done > 0) {
        const double linear = now * static_cast<double>(all_steps) / static_cast<double>(steps_done);
        e.linear_end.push_back(std::abs(linear - T) / T);
      }
    }
  }

  fmt::print("forecast accuracy over {} accelerated campaigns ({} skipped: did not finish), {} draws per forecast, seed {}\n",
             o.trials - skipped, skipped, o.draws, o.seed);
  fmt::print("progress = share of {}; unseen: declarations off by {:.0f}% (campaign), {:.0f}% (stage), drift up to {:.0f}%, "
             "failures {}\n",
             o.progress_by_steps ? "the campaign's steps computed" : "the true makespan elapsed", 100 * o.bias,
             100 * o.stage_noise, 100 * o.drift, o.failures ? fmt::format("on (MTBF {} d per node, 1 h repair)", o.mtbf_days) : std::string("off"));
  fmt::print("(abs. errors: median / 90th percentile; coverage: share of truths inside the 80% interval)\n\n");
  fmt::print("{:>9}  {:>21}  {:>21}  {:>21}  {:>10}  {:>10}  {:>15}  {:>15}  {:>15}\n", "progress", "end, % of makespan",
             "end, % of time left", "core-hours, %", "end cov.", "core cov.", "declared: end", "declared: core", "linear: end");
  for (const auto& [at, e] : errors) {
    fmt::print("{:>8.0f}%  {:>10.2f} / {:>8.2f}  {:>10.2f} / {:>8.2f}  {:>10.2f} / {:>8.2f}  {:>9.0f}%  {:>9.0f}%  {:>14.2f}%  {:>14.2f}%  {:>14.2f}%\n",
               100 * at, 100 * median(e.end_of_total), 100 * p90(e.end_of_total), 100 * median(e.end_of_left),
               100 * p90(e.end_of_left), 100 * median(e.core_hours), 100 * p90(e.core_hours), 100.0 * e.end_held / e.n,
               100.0 * e.core_held / e.n, 100 * median(e.declared_end), 100 * median(e.declared_core),
               100 * median(e.linear_end));
  }
  fmt::print("\nstrict coverage (no 0.1% slack): ");
  for (const auto& [at, e] : errors) {
    fmt::print("at {:.0f}%: end {:.0f}%, core-hours {:.0f}%; ", 100 * at, 100.0 * e.end_held_strict / e.n, 100.0 * e.core_held_strict / e.n);
  }
  fmt::print("\nbias (median of forecast minus truth): ");
  for (const auto& [at, e] : errors) {
    fmt::print("at {:.0f}%: end {:+.2f}% of makespan (interval {:.1f}% wide), core-hours {:+.2f}%; ", 100 * at,
               100 * median(e.end_signed), 100 * median(e.end_width), 100 * median(e.core_signed));
  }
  fmt::print("\nforecast cost: {:.3f} s mean per forecast ({} forecasts)\n", forecast_seconds / std::max(1, forecasts),
             forecasts);
  const auto it = errors.find(0.2);
  if (it != errors.end()) {
    const Errors& e = it->second;
    fmt::print("summary: end_error_pct={:.2f} end_error_left_pct={:.2f} core_hours_error_pct={:.2f} end_coverage_pct={:.0f} "
               "core_hours_coverage_pct={:.0f} declared_end_error_pct={:.2f} linear_end_error_pct={:.2f}\n",
               100 * median(e.end_of_total), 100 * median(e.end_of_left), 100 * median(e.core_hours), 100.0 * e.end_held / e.n,
               100.0 * e.core_held / e.n, 100 * median(e.declared_end), 100 * median(e.linear_end));
  }
  return 0;
}
