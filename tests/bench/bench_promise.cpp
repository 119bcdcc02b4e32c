// bench_promise: how long the successive-halving policy takes to decide after a metric value
// arrives, with many scenarios in one group (issue 14, point 3: at most 10 ms with 10,000).
//
// N members (default 10,000) of one group report a noisy value every 100 steps up to 2,700
// (rungs at 100, 300, 900 and 2,700; reduction 3; the bottom paused, promoted when the bar
// falls), in rounds: every member's report at step s before any at s + 100. Each report's
// latency (SuccessiveHalvingGroup::report, moves included) is timed; printed: median, 99th
// percentile and maximum, and the moves. Never fails on the figures. Options: --members N,
// --seed S. The last line, `summary: key=value ...`, is for run-all.sh.
//
// Then the same in a run: PromiseSteering over a CampaignRun of N members (`ranks: {min: 1,
// max: 2}`) on 64 nodes of 32 cores, each value timed from its arrival until the moves it
// implies are carried out on the run (pauses, promotions, moves to more ranks, with their
// guards); stops are modelled as committed at once, and the policy starts what it can after
// each round.
//
// And upper confidence bounds (`policy: ucb`): N members, a quarter of them paused, report in
// five rounds; each report's latency (UcbGroup::report: the trend refit and the scan for the
// lowest running and the highest paused bound, exchanges included).

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/promise_policy.hpp>
#include <perennial/coordinator/promise_steering.hpp>
#include <perennial/coordinator/promise_ucb.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace perennial;

namespace {

class Noop final : public Kernel {
 public:
  void initialize(StageContext&) override {}
  void step(StageContext&) override {}
  void write_outputs(StageContext&, OutputSink&) override {}
  KernelInfo info() const override {
    KernelInfo info;
    info.checkpoints = true;
    return info;
  }
};

struct Latencies {
  std::vector<double> micros;
  std::size_t moves = 0;
  double at(double q) {
    std::sort(micros.begin(), micros.end());
    return micros.empty() ? 0.0 : micros[static_cast<std::size_t>(q * static_cast<double>(micros.size() - 1))];
  }
};

// PromiseSteering on a live CampaignRun: see the header comment.
Latencies in_a_run(int members, std::uint64_t seed) {
  std::string yaml = "campaign: bench\ncluster: {nodes: [{name: \"n[1-64]\", cores: 32}]}\n"
                     "checkpoint: {interval: 100 steps}\nstages:\n  - name: \"ssp-{i}\"\n    for_each: {i: [";
  for (int i = 0; i < members; ++i) yaml += (i ? ", " : "") + std::to_string(i);
  yaml += "]}\n    kernel: noop\n    ranks: {min: 1, max: 2}\n    steps: 3000\n"
          "    promise: {metric: skill, rungs: {first: 100 steps, reduction: 3}}\n";
  auto loaded = load_campaign_text(yaml, "bench.yaml");
  KernelRegistry kernels;
  kernels.add("noop", [] { return std::make_unique<Noop>(); });
  Diagnostics diagnostics;
  const StageGraph graph = StageGraph::build(std::move(*loaded.campaign), &kernels, diagnostics);
  if (!diagnostics.empty()) {
    std::fprintf(stderr, "%s\n", diagnostics.to_string().c_str());
    std::exit(1);
  }
  CampaignRun run(graph, SchedulingPolicy(machine_for(graph.campaign().cluster), policy_config_for(graph.campaign())), {});
  PromiseSteering steering(run);
  run.add_observer(steering);
  run.begin(0);
  run.decide(0);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> truth(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::vector<double> level(static_cast<std::size_t>(members));
  for (auto& l : level) l = truth(rng);
  Latencies out;
  double now = 1.0;
  for (int step = 100; step <= 2700; step += 100) {
    std::vector<StageId> running;
    for (const auto& [id, r] : run.running()) running.push_back(id);
    for (StageId id : running) {
      const ActiveRun* r = run.active(id);
      if (!r || r->told_to_stop) continue;
      run.progressed(id, r->attempt, static_cast<std::uint64_t>(step) - 50, {}, now - 1);
      run.progressed(id, r->attempt, static_cast<std::uint64_t>(step), {}, now);
      const double value = level[id] + noise(rng);
      const auto t0 = std::chrono::steady_clock::now();
      const auto moves = steering.metric(id, static_cast<std::uint64_t>(step) - 1, 0.0, "skill", value, now);
      out.micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      out.moves += moves.size();
      for (const auto& m : moves) {
        if (!m.stop) continue;
        const ActiveRun* stopping = run.active(m.stop->job);
        if (!stopping) continue;
        const auto at = std::max<std::uint64_t>(stopping->last_step, 1);
        run.epoch_committed(m.stop->job, stopping->attempt, {1, at, "x.h5", {}, 0}, 0.1, now, 1);
        run.stage_ended(m.stop->job, RunEnd{RunEnd::Kind::stopped, at, {}}, now);
      }
      now += 0.001;
    }
    run.decide(now);
  }
  return out;
}

Latencies upper_confidence(int members, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> truth(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.1);
  UcbGroup group("skill", PromiseDirection::max, {1.0, 2, 8});
  std::vector<double> level(static_cast<std::size_t>(members));
  std::vector<std::string> names(static_cast<std::size_t>(members));
  for (int i = 0; i < members; ++i) {
    level[static_cast<std::size_t>(i)] = truth(rng);
    names[static_cast<std::size_t>(i)] = fmt::format("ssp-{:05d}", i);
  }
  Latencies out;
  for (int round = 1; round <= 5; ++round) {
    for (int i = 0; i < members; ++i) {
      const auto& name = names[static_cast<std::size_t>(i)];
      if (group.state(name) == SuccessiveHalvingGroup::State::paused) continue;
      // The first three rounds: a quarter of the reports see members waiting untried: the lowest bound gives way.
      const UcbGroup::Room room{round <= 3 && i % 4 == 0 ? 1 : 0, 0};
      const auto t0 = std::chrono::steady_clock::now();
      const auto moves = group.report(name, 100.0 * round, level[static_cast<std::size_t>(i)] + noise(rng), room);
      out.micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      out.moves += moves.size();
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int members = 10000;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--members") members = std::stoi(argv[i + 1]);
    else if (a == "--seed") seed = std::stoull(argv[i + 1]);
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> truth(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::vector<double> level(static_cast<std::size_t>(members));
  std::vector<std::string> names(static_cast<std::size_t>(members));
  for (int i = 0; i < members; ++i) {
    level[static_cast<std::size_t>(i)] = truth(rng);
    names[static_cast<std::size_t>(i)] = fmt::format("ssp-{:05d}", i);
  }
  SuccessiveHalving rules;
  rules.grace = 100;
  rules.reduction = 3;
  SuccessiveHalvingGroup group("skill", PromiseDirection::max, rules);
  std::vector<double> micros;
  std::size_t moves = 0, pauses = 0, promotions = 0;
  for (int step = 100; step <= 2700; step += 100) {
    for (int i = 0; i < members; ++i) {
      const double value = level[static_cast<std::size_t>(i)] + noise(rng);
      const auto t0 = std::chrono::steady_clock::now();
      const auto out = group.report(names[static_cast<std::size_t>(i)], step, value);
      micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      moves += out.size();
      for (const auto& m : out) {
        pauses += m.kind == PromiseMove::Kind::pause;
        promotions += m.kind == PromiseMove::Kind::promote;
      }
    }
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<std::size_t>(q * static_cast<double>(micros.size() - 1))]; };
  fmt::print("{} members, {} reports: latency median {:.2f} us, p99 {:.2f} us, max {:.1f} us; {} moves ({} pauses, {} "
             "promotions)\n",
             members, micros.size(), at(0.5), at(0.99), micros.back(), moves, pauses, promotions);
  Latencies run = in_a_run(members, seed);
  fmt::print("in a run ({} members on 64 x 32 cores, moves carried out): {} values: latency median {:.2f} us, p99 {:.2f} "
             "us, max {:.1f} us; {} moves\n",
             members, run.micros.size(), run.at(0.5), run.at(0.99), run.at(1.0), run.moves);
  Latencies ucb = upper_confidence(members, seed);
  fmt::print("upper confidence bounds ({} members, five rounds): {} values: latency median {:.2f} us, p99 {:.2f} us, max "
             "{:.1f} us; {} moves\n",
             members, ucb.micros.size(), ucb.at(0.5), ucb.at(0.99), ucb.at(1.0), ucb.moves);
  fmt::print("summary: members={} median_us={:.2f} p99_us={:.2f} max_us={:.1f} run_median_us={:.2f} run_p99_us={:.2f} "
             "run_max_us={:.1f} ucb_median_us={:.2f} ucb_p99_us={:.2f} ucb_max_us={:.1f}\n",
             members, at(0.5), at(0.99), micros.back(), run.at(0.5), run.at(0.99), run.at(1.0), ucb.at(0.5), ucb.at(0.99),
             ucb.at(1.0));
  return 0;
}
