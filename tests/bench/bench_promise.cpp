// bench_promise: how long the successive-halving policy takes to decide after a metric value
// arrives, with many scenarios in one group (issue 14, point 3: at most 10 ms with 10,000).
//
// N members (default 10,000) of one group report a noisy value every 100 steps up to 2,700
// (rungs at 100, 300, 900 and 2,700; reduction 3; the bottom paused, promoted when the bar
// falls), in rounds: every member's report at step s before any at s + 100. Each report's
// latency (SuccessiveHalvingGroup::report, moves included) is timed; printed: median, 99th
// percentile and maximum, and the moves. Never fails on the figures. Options: --members N,
// --seed S. The last line, `summary: key=value ...`, is for run-all.sh.

#include <perennial/coordinator/promise_policy.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace perennial;

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
  fmt::print("summary: members={} median_us={:.2f} p99_us={:.2f} max_us={:.1f}\n", members, at(0.5), at(0.99), micros.back());
  return 0;
}
