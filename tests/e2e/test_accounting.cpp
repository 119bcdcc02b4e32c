// The books of a real run: energy read from RAPL counters (a fake powercap tree whose counter
// moves, and wraps, while the stage runs), and `perennial status` summing every run.

#include "e2e_support.hpp"

#include <perennial/accounting/store.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

void write_atomically(const fs::path& file, const std::string& text) {
  const auto partial = file.string() + ".tmp";
  std::ofstream(partial) << text << '\n';
  fs::rename(partial, file);
}

// One package whose counter gains `microjoules_per_tick` every 10 ms (a constant power) and
// wraps at 20 J: at 10 W, every 2 s, so any stage longer than that sees a wrap.
class MovingRapl {
 public:
  MovingRapl(const fs::path& root, std::uint64_t microjoules_per_tick) : zone_(root / "intel-rapl:0"), step_(microjoules_per_tick) {
    fs::create_directories(zone_);
    write_atomically(zone_ / "name", "package-0");
    write_atomically(zone_ / "max_energy_range_uj", std::to_string(kRange));
    write_atomically(zone_ / "energy_uj", std::to_string(value_));
    thread_ = std::thread([this] {
      while (!stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        value_ = (value_ + step_) % (kRange + 1);
        ticks_ += 1;
        write_atomically(zone_ / "energy_uj", std::to_string(value_));
      }
    });
  }
  ~MovingRapl() {
    stop_ = true;
    thread_.join();
  }
  /// The power it actually simulated so far (its sleeps run long on a loaded machine).
  double watts() const {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return static_cast<double>(ticks_.load()) * static_cast<double>(step_) * 1e-6 / seconds;
  }

 private:
  static constexpr std::uint64_t kRange = 20'000'000;  // 20 J
  fs::path zone_;
  std::uint64_t step_;
  std::uint64_t value_ = kRange - 2'000'000;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> ticks_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

}  // namespace

TEST(Accounting, EnergyReadFromRaplCountersThatWrapIsChargedToTheStage) {
  auto dir = fresh_directory("accounting-rapl");
  auto out = dir / "run";
  auto campaign = write_file(dir, "campaign.yaml",
                             "campaign: rapl\n"
                             "projects:\n  - {name: ocean, grant: G-1, allocation_core_hours: 10}\n"
                             "stages:\n"
                             "  - {name: a, kernel: burn-cpu, project: ocean, ranks: 2, steps: 60,\n"
                             "     parameters: {seconds_per_step: 0.05}}\n");
  // 0.1 J every 10 ms: 10 W for the node.
  MovingRapl rapl(dir / "powercap", 100'000);
  ::setenv("PERENNIAL_POWERCAP_ROOT", (dir / "powercap").c_str(), 1);
  auto result = run_perennial(3, campaign.string() + " --quiet --output-dir " + out.string(), 120);
  ::unsetenv("PERENNIAL_POWERCAP_ROOT");
  ASSERT_NE(result.exit_code, 124) << result.output;
  ASSERT_EQ(result.exit_code, 0) << result.output;
  using perennial::accounting::AccountingStore;
  AccountingStore books(out / "accounting.db", AccountingStore::Mode::read_only);
  const auto a = books.segments_of("a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].energy_source, "rapl");
  ASSERT_TRUE(a[0].energy_joules);
  // Both ranks are the detected node's two cores: the whole node's energy is the stage's,
  // about 10 W x its wall time (give or take the ticks around its ends and the time between
  // rank 0's view of the segment and the ranks' own). The stage runs 3 s or more, so the
  // counter wrapped at least once: a missed wrap would lose 20 J of the 30 or more.
  ASSERT_GT(a[0].wall_seconds(), 2.5);
  const double expected = rapl.watts() * a[0].wall_seconds();
  EXPECT_NEAR(*a[0].energy_joules, expected, 0.25 * expected);

  const auto status = run_perennial_serial("status " + out.string());
  EXPECT_NE(status.output.find("project ocean"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("grant G-1"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("kWh"), std::string::npos) << "energy known: " << status.output;
}

// A hard-capped project past its allocation starts nothing more, in this run and the next
// (the books carry its use over), while the run ends resumable instead of waiting.
TEST(Accounting, AHardCappedProjectPastItsAllocationStartsNoMoreStagesAcrossRuns) {
  auto dir = fresh_directory("accounting-hard-cap");
  auto out = dir / "run";
  auto campaign = write_file(dir, "campaign.yaml",
                             "campaign: capped\n"
                             "projects:\n  - {name: tiny, grant: G-9, allocation_core_hours: 0.0001, hard_cap: true}\n"
                             "stages:\n"
                             "  - {name: first, kernel: burn-cpu, project: tiny, ranks: 2, steps: 10,\n"
                             "     parameters: {seconds_per_step: 0.05}}\n"
                             "  - {name: second, kernel: burn-cpu, project: tiny, ranks: 2, steps: 10, after: [first],\n"
                             "     parameters: {seconds_per_step: 0.05}}\n");
  const std::string args = campaign.string() + " --quiet --output-dir " + out.string();
  auto first = run_perennial(3, args, 120);
  ASSERT_NE(first.exit_code, 124) << first.output;
  EXPECT_EQ(first.exit_code, 0) << "stopped resumable\n" << first.output;
  EXPECT_NE(first.output.find("has used its allocation (hard_cap"), std::string::npos) << first.output;
  auto events = read_events(out);
  EXPECT_EQ(events_of(events, "stage_completed", "first").size(), 1u);
  EXPECT_TRUE(events_of(events, "stage_started", "second").empty()) << "started past the cap";

  auto again = run_perennial(3, args, 120);
  ASSERT_NE(again.exit_code, 124) << again.output;
  EXPECT_NE(again.output.find("has used"), std::string::npos) << "the earlier run's use counts\n" << again.output;
  EXPECT_TRUE(events_of(read_events(out), "stage_started", "second").empty()) << "started past the cap on resume";
}

// `perennial forecast DIR` on a campaign interrupted after its first checkpoint: it reads
// the journal (what is done, the campaign file, the machine) and the books (the measured step
// rate, 5x the declared one), forecasts the rest with an interval, and warns of the project
// that will overrun its tiny allocation; `status` shows the same. Resumed to its end, the
// forecast says finished, at the time it finished.
TEST(Forecast, AnInterruptedCampaignIsForecastFromItsJournalAndBooks) {
  auto dir = fresh_directory("forecast-interrupted");
  auto out = dir / "run";
  // Declared 0.01 s per step; every step really takes 0.05 s.
  auto campaign = write_file(dir, "campaign.yaml",
                             "campaign: forecast\n"
                             "projects:\n  - {name: ocean, grant: G-4, allocation_core_hours: 0.004}\n"
                             "checkpoint: {interval: 20 steps}\n"
                             "stages:\n"
                             "  - {name: a, kernel: burn-cpu, project: ocean, ranks: 2, steps: 400, step_time: 0.01s,\n"
                             "     parameters: {seconds_per_step: 0.05}}\n"
                             "  - {name: b, kernel: burn-cpu, project: ocean, ranks: 2, steps: 30, step_time: 0.01s, after: [a],\n"
                             "     parameters: {seconds_per_step: 0.05}}\n"
                             "  - {name: c, kernel: burn-cpu, project: ocean, ranks: 2, steps: 30, step_time: 0.01s, after: [b],\n"
                             "     parameters: {seconds_per_step: 0.05}}\n");
  const std::string args = campaign.string() + " --quiet --output-dir " + out.string();
  {
    BackgroundRun run(3, args);
    ASSERT_TRUE(wait_for_event(out, "checkpoint_committed", "a", 2, 90)) << "no checkpoint";
    run.signal(SIGINT);
    auto stopped = run.wait(120);
    ASSERT_NE(stopped.exit_code, 124) << stopped.output;
    ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  }
  ASSERT_TRUE(has_event(read_events(out), "stage_suspended", "a")) << "stopped before a finished";

  const double before = unix_now();
  auto forecast = run_perennial_serial("forecast " + out.string() + " --json");
  ASSERT_EQ(forecast.exit_code, 0) << forecast.output;
  const auto j = nlohmann::json::parse(forecast.output.substr(forecast.output.find('{')));
  EXPECT_FALSE(j.at("finished").get<bool>());
  const double end = j.at("expected_end_unix").get<double>();
  const auto interval = j.at("expected_end_interval_unix");
  EXPECT_GE(end, before);
  EXPECT_LE(interval.at(0).get<double>(), end);
  EXPECT_GE(interval.at(1).get<double>(), end);
  // b and c alone, at the measured 0.05 s per step, on 2 cores: 6 core-seconds. At the
  // declared rate it would be a fifth of that.
  const double to_finish = j.at("core_hours_to_finish").get<double>();
  EXPECT_GE(to_finish, 0.8 * 2 * 60 * 0.05 / 3600) << forecast.output;
  EXPECT_LE(to_finish, 4.0 * 2 * (400 + 60) * 0.05 / 3600) << forecast.output;
  const double used_plus_expected = j.at("core_hours_by_project").at("ocean").get<double>();
  EXPECT_GT(used_plus_expected, to_finish) << "used so far counts too";
  EXPECT_GE(j.at("stages_measured").get<int>(), 1);
  ASSERT_FALSE(j.at("warnings").empty()) << forecast.output;
  EXPECT_NE(j.at("warnings").at(0).get<std::string>().find("project ocean (grant G-4) is projected to overrun"),
            std::string::npos)
      << forecast.output;

  auto status = run_perennial_serial("status " + out.string());
  EXPECT_NE(status.output.find("forecast for campaign forecast"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("warning: project ocean"), std::string::npos) << status.output;
  // The run itself warned in its log, from its first forecast on.
  EXPECT_FALSE(events_of(read_events(out), "allocation_overrun_projected", "").empty());

  // The report projects the grant from the same forecast, as of the newest use in its books:
  // twice the same bytes.
  auto report = run_perennial_serial("report " + out.string() + " --format json");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  auto again = run_perennial_serial("report " + out.string() + " --format json");
  EXPECT_EQ(report.output, again.output);
  const auto r = nlohmann::json::parse(report.output.substr(report.output.find('{')));
  const auto& x = r.at("grants").at(0).at("exhaustion");
  EXPECT_NE(x.at("method").get<std::string>().find("campaign forecast"), std::string::npos) << x.dump();
  ASSERT_TRUE(x.at("projected_core_hours").is_number()) << x.dump();
  EXPECT_GT(x.at("projected_core_hours").get<double>(), 0.004) << x.dump();
  EXPECT_TRUE(x.at("date_unix").is_number()) << "it runs out before the campaign ends: " << x.dump();
  EXPECT_TRUE(x.at("campaign_end_unix").is_number()) << x.dump();
  bool advised = false;
  for (const auto& rec : r.at("recommendations")) {
    advised = advised || rec.at("text").get<std::string>().find("grant G-4 runs out on") != std::string::npos;
  }
  EXPECT_TRUE(advised) << r.at("recommendations").dump();

  // Not a campaign's folder: named, nothing else.
  auto wrong = run_perennial_serial("forecast " + dir.string());
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("no journal.jsonl"), std::string::npos) << wrong.output;

  auto rest = run_perennial(3, args, 120);
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  auto done = run_perennial_serial("forecast " + out.string() + " --json");
  ASSERT_EQ(done.exit_code, 0) << done.output;
  const auto k = nlohmann::json::parse(done.output.substr(done.output.find('{')));
  EXPECT_TRUE(k.at("finished").get<bool>());
  EXPECT_EQ(k.at("core_hours_to_finish").get<double>(), 0.0);
  EXPECT_LE(k.at("expected_end_unix").get<double>(), unix_now());
  EXPECT_GT(k.at("expected_end_unix").get<double>(), before) << "it ended after the interruption";
}

// A kernel's metric values reach the books only when rank 0 takes them: a NaN, an infinity and
// a name the kernel does not declare are refused, each an event naming stage, metric and step
// and a warning in the log, and the stage goes on to complete.
TEST(Metrics, RefusedValuesAreNamedAndTheStageGoesOn) {
  auto dir = fresh_directory("metrics-refused");
  auto out = dir / "run";
  auto campaign = write_file(dir, "campaign.yaml",
                             "campaign: scores\n"
                             "stages:\n"
                             "  - {name: s, kernel: report-score, ranks: 1, steps: 5, parameters: {bad_step: 2}}\n");
  auto result = run_perennial(2, campaign.string() + " --output-dir " + out.string(), 120);
  ASSERT_NE(result.exit_code, 124) << result.output;
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto events = read_events(out);
  EXPECT_TRUE(has_event(events, "stage_completed", "s"));
  const auto refused = events_of(events, "metric_refused", "s");
  ASSERT_EQ(refused.size(), 3u) << result.output;
  std::multiset<std::string> reasons;
  for (const auto& e : refused) {
    reasons.insert(e.value("reason", ""));
    EXPECT_EQ(e.value("step", -1), 2) << e.dump();
    EXPECT_NE(e.value("message", "").find("stage s: metric '"), std::string::npos) << e.dump();
  }
  EXPECT_EQ(reasons, (std::multiset<std::string>{"not_finite", "not_finite", "undeclared"}));
  EXPECT_NE(result.output.find("metric 'score' at step 2 is NaN, not a finite number: refused"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("metric 'scroe' at step 2 is not a metric kernel 'report-score' declares (it declares: "
                               "score); did you mean 'score'?"),
            std::string::npos)
      << result.output;
  // The books hold the five taken values, every one finite, and nothing of the refused ones.
  const perennial::accounting::AccountingStore books(out / "accounting.db", perennial::accounting::AccountingStore::Mode::read_only);
  const auto rows = books.metrics("s");
  ASSERT_EQ(rows.size(), 5u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].name, "score");
    EXPECT_EQ(rows[i].step, i);
    EXPECT_DOUBLE_EQ(rows[i].value, static_cast<double>(i));
  }
}

// `perennial scenarios DIR`: a group's members ranked by their newest value of the promise
// metric, each with its trajectory from the books, core-hours and state.
TEST(Scenarios, AreRankedByTheirMetricWithTheirTrajectories) {
  auto dir = fresh_directory("scenarios-ranked");
  auto out = dir / "run";
  // `score` is the step: the longer member ends with the higher value.
  auto campaign = write_file(dir, "campaign.yaml",
                             "campaign: ranked\n"
                             "stages:\n"
                             "  - {name: \"m-{bad_step}\", for_each: {bad_step: [100, 200]}, kernel: report-score, ranks: 1,\n"
                             "     steps: 4, promise: {metric: score}}\n"
                             "  - {name: long, kernel: report-score, ranks: 1, steps: 6, promise: {metric: score, direction: min}}\n");
  auto result = run_perennial(2, campaign.string() + " --quiet --output-dir " + out.string(), 120);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto listed = run_perennial_serial("scenarios " + out.string() + " --json");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const auto j = nlohmann::json::parse(listed.output.substr(listed.output.find('{')));
  ASSERT_EQ(j.at("groups").size(), 2u) << j.dump();
  const auto& ensemble = j.at("groups").at(0);
  EXPECT_EQ(ensemble.at("group"), "m-{bad_step}");
  EXPECT_EQ(ensemble.at("metric"), "score");
  EXPECT_NE(ensemble.at("promise").get<std::string>().find("successive halving"), std::string::npos) << ensemble.dump();
  ASSERT_EQ(ensemble.at("scenarios").size(), 2u);
  for (const auto& s : ensemble.at("scenarios")) {
    EXPECT_EQ(s.at("trajectory").size(), 4u) << s.dump();
    EXPECT_EQ(s.at("value").get<double>(), 3.0) << s.dump();
    EXPECT_EQ(s.at("state"), "completed");
    EXPECT_GT(s.at("core_hours").get<double>(), 0.0);
  }
  // Equal values rank by name.
  EXPECT_EQ(ensemble.at("scenarios").at(0).at("stage"), "m-100");
  EXPECT_EQ(ensemble.at("scenarios").at(0).at("rank"), 1);
  const auto& alone = j.at("groups").at(1);
  EXPECT_EQ(alone.at("direction"), "min");
  EXPECT_EQ(alone.at("scenarios").at(0).at("trajectory").size(), 6u);
  auto text = run_perennial_serial("scenarios " + out.string());
  EXPECT_NE(text.output.find("m-{bad_step}: by score (higher is better)"), std::string::npos) << text.output;
  auto wrong = run_perennial_serial("scenarios " + dir.string());
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
}
