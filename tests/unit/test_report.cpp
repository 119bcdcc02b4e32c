// The accounting report: stores built by hand (AccountingStore::begin_run, write(Segment),
// add_checkpoint) with figures worked out by hand: totals, the window's clipping, two folders
// merged, burn rate and exhaustion, recommendations; output byte-identical twice; JSON and
// CSV that parse; SVG and PNG charts cairo can read back; `perennial report`'s bad input.

#include "commands.hpp"
#include "test_support.hpp"

#include <perennial/accounting/burn.hpp>
#include <perennial/accounting/charts.hpp>
#include <perennial/accounting/report.hpp>
#include <perennial/accounting/report_format.hpp>
#include <perennial/accounting/store.hpp>

#include <cairo.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

using namespace perennial::accounting;
namespace fs = std::filesystem;

namespace {

constexpr double kT0 = 1767225600.0;  // 2026-01-01 00:00:00 UTC
constexpr double kHour = 3600.0;
constexpr double kDay = 86400.0;
constexpr double kYear = 365.0 * kDay;

fs::path fresh_dir(const std::string& name) { return perennial::testing::fresh_directory("report", name); }

Segment segment(const std::string& project, const std::string& grant, const std::string& scenario,
                const std::string& stage, std::int64_t cores, int nodes, double start, double end) {
  Segment s;
  s.project = project;
  s.grant = grant;
  s.scenario = scenario;
  s.stage = stage;
  s.ranks = static_cast<int>(cores);
  s.nodes = nodes;
  s.cores = cores;
  s.wall_start = start;
  s.wall_end = end;
  s.outcome = Outcome::completed;
  return s;
}

// One output folder's books, written through the store's own API.
struct Folder {
  Folder(const std::string& name, const std::string& campaign, double started, std::vector<AllocationRow> allocations)
      : dir(fresh_dir(name)), store(std::make_unique<AccountingStore>(dir / "accounting.db")) {
    run = store->begin_run({0, campaign, "real", started, {}, 9, "test", "365_day", 365.0});
    store->set_allocations(allocations);
  }
  std::int64_t add(Segment s) {
    s.run_id = run;
    store->write(s);
    return s.id;
  }
  void checkpoint(std::int64_t segment_id, const std::string& stage, std::uint64_t epoch, double wall, double seconds) {
    store->add_checkpoint({segment_id, stage, epoch, epoch * 10, wall, seconds, 1024});
  }
  Books close() {
    store.reset();
    return read_books(dir);
  }
  fs::path dir;
  std::unique_ptr<AccountingStore> store;
  std::int64_t run = 0;
};

// Folder A (campaign alpha): ocean and land under NSF-1. Folder B (campaign beta, its run
// newer): ocean again, and atmos under ERC-7. Worked out by hand in the tests below.
std::vector<Books> two_campaigns() {
  Folder a("alpha", "alpha", kT0 - kHour, {{"land", "NSF-1", 500}, {"ocean", "NSF-1", 1000}});
  {
    auto s = segment("ocean", "NSF-1", "{}", "spin", 4, 1, kT0, kT0 + kHour);  // 4 core-h
    s.cpu_seconds = 7200;                                                         // 2 CPU-h: half
    s.checkpoint_seconds = 36;
    s.queue_wait_seconds = 600;
    s.simulated_start = 0;
    s.simulated_end = kYear;  // 1 year in 1 h: SYPD 24, CHSY 4
    s.energy_joules = 7.2e6;
    s.energy_source = "rapl";
    a.add(s);
  }
  {
    auto s = segment("ocean", "NSF-1", R"({"f":"2.6"})", "ssp-2.6", 8, 2, kT0 + kHour, kT0 + 3 * kHour);  // 16 core-h
    s.gpus = 2;  // 4 GPU-h
    s.cpu_seconds = 51840;  // 14.4 CPU-h: 90%
    s.simulated_start = 0;
    s.simulated_end = kYear / 2;  // half a year in 2 h: SYPD 6, CHSY 32
    s.lost_core_hours = 2;
    s.lost_steps = 10;
    s.energy_joules = 3.6e6;
    s.energy_source = "rapl";
    a.add(s);
  }
  a.add(segment("land", "NSF-1", "{}", "lnd", 2, 1, kT0, kT0 + 5 * kHour));  // 10 core-h, no CPU figure
  Folder b("beta", "beta", kT0 + kDay - kHour, {{"atmos", "ERC-7", 200}, {"ocean", "NSF-1", 1000}});
  {
    auto s = segment("ocean", "NSF-1", "{}", "spin", 4, 1, kT0 + kDay, kT0 + kDay + 2 * kHour);  // 8 core-h
    s.cpu_seconds = 28800;
    s.simulated_start = kYear;
    s.simulated_end = 2 * kYear;  // SYPD 12, CHSY 8
    b.add(s);
  }
  {
    auto s = segment("atmos", "ERC-7", R"({"f":"2.6"})", "atm", 10, 1, kT0, kT0 + 10 * kHour);  // 100 core-h
    s.simulated_start = 0;
    s.simulated_end = kYear;  // SYPD 2.4, CHSY 100
    b.add(s);
  }
  return {a.close(), b.close()};
}

const ProjectReport& project(const Report& r, const std::string& name) {
  const auto it = std::find_if(r.projects.begin(), r.projects.end(), [&](const auto& p) { return p.name == name; });
  EXPECT_NE(it, r.projects.end()) << name;
  return *it;
}

const GrantReport& grant(const Report& r, const std::string& name) {
  const auto it = std::find_if(r.grants.begin(), r.grants.end(), [&](const auto& g) { return g.name == name; });
  EXPECT_NE(it, r.grants.end()) << name;
  return *it;
}

const StageReport& stage(const Report& r, const std::string& campaign, const std::string& name) {
  const auto it = std::find_if(r.stages.begin(), r.stages.end(),
                               [&](const auto& s) { return s.campaign == campaign && s.name == name; });
  EXPECT_NE(it, r.stages.end()) << campaign << "/" << name;
  return *it;
}

// RFC 4180: quoted fields may hold commas, quotes (doubled) and new lines.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field += c;
    }
  }
  EXPECT_FALSE(quoted) << "an open quote at the end";
  EXPECT_TRUE(row.empty() && field.empty()) << "the last line has no new line";
  return rows;
}

struct PngReader {
  const std::string* bytes;
  std::size_t at = 0;
};

cairo_status_t read_png(void* closure, unsigned char* data, unsigned int length) {
  auto* r = static_cast<PngReader*>(closure);
  if (r->at + length > r->bytes->size()) return CAIRO_STATUS_READ_ERROR;
  std::copy_n(r->bytes->data() + r->at, length, data);
  r->at += length;
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

TEST(Report, TotalsPerGrantProjectScenarioAndStageAreTheSegmentsSums) {
  const Report r = build_report(two_campaigns(), {});
  ASSERT_EQ(r.sources.size(), 2u);
  EXPECT_EQ(r.sources[0].campaign, "alpha");
  EXPECT_EQ(r.sources[1].campaign, "beta");
  ASSERT_TRUE(r.as_of);
  EXPECT_DOUBLE_EQ(*r.as_of, kT0 + kDay + 2 * kHour);  // the newest segment end
  ASSERT_EQ(r.projects.size(), 3u);  // by name
  EXPECT_EQ(r.projects[0].name, "atmos");
  EXPECT_EQ(r.projects[1].name, "land");
  EXPECT_EQ(r.projects[2].name, "ocean");

  const auto& ocean = project(r, "ocean");
  EXPECT_EQ(ocean.grant, "NSF-1");
  EXPECT_DOUBLE_EQ(*ocean.allocation_core_hours, 1000.0);  // declared in both folders: once, not twice
  EXPECT_NEAR(ocean.core_hours, 4 + 16 + 8, 1e-9);
  EXPECT_NEAR(ocean.used_to_date_core_hours, 28, 1e-9);
  EXPECT_NEAR(ocean.node_hours, 1 + 4 + 2, 1e-9);
  EXPECT_NEAR(ocean.gpu_hours, 4, 1e-9);
  EXPECT_NEAR(project(r, "land").core_hours, 10, 1e-9);
  EXPECT_NEAR(project(r, "atmos").core_hours, 100, 1e-9);

  ASSERT_EQ(r.grants.size(), 2u);
  EXPECT_EQ(r.grants[0].name, "ERC-7");
  EXPECT_EQ(r.grants[1].name, "NSF-1");
  EXPECT_NEAR(grant(r, "NSF-1").core_hours, 38, 1e-9);
  EXPECT_DOUBLE_EQ(*grant(r, "NSF-1").allocation_core_hours, 1500.0);  // ocean's 1000 and land's 500
  EXPECT_EQ(grant(r, "NSF-1").projects, (std::vector<std::string>{"land", "ocean"}));
  EXPECT_NEAR(grant(r, "ERC-7").core_hours, 100, 1e-9);

  // Efficiency of ocean: 2 + 14.4 + 8 CPU-h of 28 core-h; 36 s of 4 cores in checkpoints; 2
  // core-h recomputed; energy unknown for beta's segment, so unavailable, not a partial sum.
  const auto& e = ocean.efficiency;
  EXPECT_NEAR(*e.reserved_use, 24.4 / 28.0, 1e-9);
  EXPECT_NEAR(e.checkpoint_core_hours, 0.04, 1e-12);
  EXPECT_NEAR(e.lost_core_hours, 2, 1e-12);
  EXPECT_EQ(e.lost_steps, 10u);
  EXPECT_NEAR(e.queue_wait_hours, 600.0 / 3600.0, 1e-12);
  EXPECT_FALSE(e.energy_joules);
  EXPECT_EQ(e.energy_unknown_segments, 1);
  EXPECT_EQ(e.energy_sources, (std::vector<std::pair<std::string, int>>{{"rapl", 2}, {"unavailable: not measured", 1}}));
  EXPECT_EQ(r.total.segments, 5);
  EXPECT_NEAR(r.total.core_hours, 138, 1e-9);
  EXPECT_EQ(r.total.cpu_unknown_segments, 2);  // lnd and atm

  // Stages: the same name in two campaigns stays two stages; by campaign, then first start.
  ASSERT_EQ(r.stages.size(), 5u);
  EXPECT_EQ(r.stages[0].name, "spin");
  EXPECT_EQ(r.stages[1].name, "lnd");
  EXPECT_EQ(r.stages[2].name, "ssp-2.6");
  EXPECT_EQ(r.stages[3].name, "atm");
  EXPECT_EQ(r.stages[4].name, "spin");
  EXPECT_EQ(r.stages[4].campaign, "beta");
  const auto& spin_a = stage(r, "alpha", "spin");
  EXPECT_NEAR(spin_a.figures.core_hours, 4, 1e-9);
  EXPECT_NEAR(*spin_a.figures.sypd, 24, 1e-9);
  EXPECT_NEAR(*spin_a.figures.chsy, 4, 1e-9);
  EXPECT_NEAR(*stage(r, "alpha", "ssp-2.6").figures.sypd, 6, 1e-9);
  EXPECT_NEAR(*stage(r, "alpha", "ssp-2.6").figures.chsy, 32, 1e-9);
  EXPECT_NEAR(*stage(r, "beta", "spin").figures.sypd, 12, 1e-9);
  EXPECT_NEAR(*stage(r, "beta", "atm").figures.chsy, 100, 1e-9);
  EXPECT_FALSE(stage(r, "alpha", "lnd").figures.sypd);  // advances no model time: unknown, not 0
  EXPECT_FALSE(stage(r, "alpha", "lnd").reserved_use);

  // Scenarios: {"f":"2.6"} is ssp-2.6 (16 core-h, half a year in 2 h) and atm (100 core-h, a
  // year in 10 h): 1.5 years in 12 h is SYPD 3, CHSY 116 / 1.5.
  ASSERT_EQ(r.scenarios.size(), 2u);
  EXPECT_EQ(r.scenarios[0].name, "(none)");
  EXPECT_NEAR(r.scenarios[0].core_hours, 22, 1e-9);
  EXPECT_EQ(r.scenarios[1].name, R"({"f":"2.6"})");
  EXPECT_NEAR(r.scenarios[1].core_hours, 116, 1e-9);
  EXPECT_NEAR(r.scenarios[1].simulated_years, 1.5, 1e-9);
  EXPECT_NEAR(*r.scenarios[1].sypd, 3, 1e-9);
  EXPECT_NEAR(*r.scenarios[1].chsy, 116 / 1.5, 1e-9);
}

TEST(Report, TheWindowClipsSegmentsInProportionToTheirWallTime) {
  ReportOptions o;
  o.window = {kT0 + 1800, kT0 + 2 * kHour};
  const Report r = build_report(two_campaigns(), o);
  ASSERT_TRUE(r.as_of);
  EXPECT_DOUBLE_EQ(*r.as_of, kT0 + 2 * kHour);
  EXPECT_DOUBLE_EQ(*r.first_use, kT0 + 1800);
  // ocean: the second half of spin (2 core-h) and the first half of ssp-2.6 (8 core-h); beta's
  // spin lies after the window. Against the allocation counts everything up to the window's
  // end: all of spin (4) and half of ssp-2.6 (8).
  const auto& ocean = project(r, "ocean");
  EXPECT_NEAR(ocean.core_hours, 10, 1e-9);
  EXPECT_NEAR(ocean.used_to_date_core_hours, 12, 1e-9);
  EXPECT_NEAR(ocean.gpu_hours, 2, 1e-9);
  EXPECT_NEAR(project(r, "land").core_hours, 3, 1e-9);
  EXPECT_NEAR(project(r, "land").used_to_date_core_hours, 4, 1e-9);
  EXPECT_NEAR(project(r, "atmos").core_hours, 15, 1e-9);
  // Scaled with the share kept: CPU, checkpoint time, lost work, energy, model time.
  EXPECT_NEAR(*ocean.efficiency.reserved_use, (1.0 + 7.2) / 10.0, 1e-9);
  EXPECT_NEAR(ocean.efficiency.checkpoint_core_hours, 0.02, 1e-12);
  EXPECT_NEAR(ocean.efficiency.lost_core_hours, 1, 1e-12);
  EXPECT_NEAR(*ocean.efficiency.energy_joules, 3.6e6 + 1.8e6, 1e-3);  // both segments measured
  EXPECT_NEAR(ocean.efficiency.queue_wait_hours, 0, 1e-12);  // spin waited before the window
  EXPECT_NEAR(stage(r, "alpha", "spin").figures.simulated_years, 0.5, 1e-9);
  EXPECT_NEAR(*stage(r, "alpha", "spin").figures.sypd, 24, 1e-9);
  EXPECT_NEAR(stage(r, "alpha", "ssp-2.6").figures.simulated_years, 0.25, 1e-9);
  EXPECT_EQ(r.stages.size(), 4u);  // beta's spin is outside

  // clip_to_window on its own: steps and queue wait.
  auto s = segment("p", "g", "{}", "s", 2, 1, 1000, 2000);
  s.first_step = 100;
  s.last_step = 200;
  s.queue_wait_seconds = 300;  // queued from 700
  const auto c = clip_to_window(s, {900.0, 1500.0});
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->wall_start, 1000);
  EXPECT_DOUBLE_EQ(c->wall_end, 1500);
  EXPECT_EQ(c->first_step, 100u);
  EXPECT_EQ(c->last_step, 150u);
  EXPECT_DOUBLE_EQ(c->queue_wait_seconds, 100);  // 900 to 1000
  EXPECT_FALSE(clip_to_window(s, {2000.0, 3000.0}));
  EXPECT_FALSE(clip_to_window(s, {0.0, 1000.0}));
}

TEST(Report, FiltersByProjectAndGrantAndRefusesUnknownOnesByName) {
  auto books = two_campaigns();
  ReportOptions o;
  o.grant = "NSF-1";
  Report r = build_report(books, o);
  ASSERT_EQ(r.projects.size(), 2u);
  EXPECT_EQ(r.grants.size(), 1u);
  EXPECT_NEAR(r.total.core_hours, 38, 1e-9);
  o = {};
  o.project = "land";
  r = build_report(books, o);
  ASSERT_EQ(r.projects.size(), 1u);
  EXPECT_EQ(r.stages.size(), 1u);

  o = {};
  o.project = "ocaen";
  try {
    build_report(books, o);
    FAIL() << "an unknown project was accepted";
  } catch (const ReportError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown project 'ocaen' (did you mean 'ocean'?)"), std::string::npos) << e.what();
  }
  o = {};
  o.grant = "NSF-2";
  EXPECT_THROW(build_report(books, o), ReportError);
  o = {};
  o.project = "atmos";
  o.grant = "NSF-1";
  EXPECT_THROW(build_report(books, o), ReportError);
  o = {};
  o.window = {kT0 + 10, kT0};
  EXPECT_THROW(build_report(books, o), ReportError);

  const auto empty = fresh_dir("no-books");
  try {
    read_books(empty);
    FAIL() << "a folder without accounting.db was accepted";
  } catch (const ReportError& e) {
    EXPECT_NE(std::string(e.what()).find(empty.string() + ": no accounting.db"), std::string::npos) << e.what();
  }
}

TEST(Report, DatesAreUnixTimesOrIsoDatesInUtcAndNothingElse) {
  EXPECT_EQ(parse_report_time("1764000000"), 1764000000.0);
  EXPECT_EQ(parse_report_time("2026-11-25"), 1795564800.0);
  EXPECT_EQ(parse_report_time("2026-11-25T18:00:00"), 1795564800.0 + 18 * 3600);
  EXPECT_EQ(parse_report_time("2026-11-25T18:00:00Z"), 1795564800.0 + 18 * 3600);
  EXPECT_FALSE(parse_report_time("2026-13-01"));
  EXPECT_FALSE(parse_report_time("2026-02-31"));
  EXPECT_FALSE(parse_report_time("25/11/2026"));
  EXPECT_FALSE(parse_report_time("yesterday"));
  EXPECT_FALSE(parse_report_time("2026-11-25T18:00"));
  EXPECT_EQ(format_utc_date(1795564800.0 + 18 * 3600), "2026-11-25");
  EXPECT_EQ(format_utc_time(1795564800.0 + 18 * 3600), "2026-11-25 18:00:00 UTC");
}

// Four full days of 24, 48, 72 and 96 core-h: as of the fourth day's end, 60 core-h a day over
// the last 7 days (4 of them), daily use percentiles 42 and 78 (linear, numpy's default).
Books four_days(const std::string& name, double allocation) {
  Folder f(name, name, kT0, {{"x", "G", allocation}});
  for (int d = 0; d < 4; ++d) f.add(segment("x", "G", "{}", "model", d + 1, 1, kT0 + d * kDay, kT0 + (d + 1) * kDay));
  return f.close();
}

TEST(Burn, CumulativeUseRatesAndPercentilesByHand) {
  // Two intervals of 10 core-h, [0, 10) and [5, 15): 1 core-h/s each.
  UsageHistory h;
  h.intervals = {{0, 10, 10}, {5, 15, 10}};
  EXPECT_EQ(h.cumulative(), (std::vector<std::pair<double, double>>{{0, 0}, {5, 5}, {10, 15}, {15, 20}}));
  EXPECT_DOUBLE_EQ(h.used_between(4, 6), 3);  // 2 of the first, 1 of the second
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.5), 2.5);

  // Younger than a day: one bin, the whole use (10 core-h in an hour is 240 a day).
  UsageHistory young;
  young.intervals = {{0, kHour, 10}};
  BurnRate b = burn_rate(young, kHour);
  EXPECT_DOUBLE_EQ(*b.last_7_days, 240);
  EXPECT_DOUBLE_EQ(*b.overall, 240);
  EXPECT_EQ(b.days, 1);
  EXPECT_DOUBLE_EQ(b.last_7_days_span_days, 1.0 / 24);

  // 36 h of 2 cores then 1: the recent rate is over the whole last day only, like the bins.
  UsageHistory h36;
  h36.intervals = {{0, 12 * kHour, 24}, {12 * kHour, 36 * kHour, 24}};
  b = burn_rate(h36, 36 * kHour);
  EXPECT_DOUBLE_EQ(*b.last_7_days, 24);
  EXPECT_DOUBLE_EQ(b.last_7_days_span_days, 1);
  EXPECT_DOUBLE_EQ(*b.overall, 48 / 1.5);
  EXPECT_EQ(b.days, 1);
}

TEST(Report, BurnRateAndExhaustionDateWithItsInterval) {
  const Report r = build_report({four_days("burn", 1000)}, {});
  const auto& g = grant(r, "G");
  ASSERT_TRUE(g.burn.last_7_days);
  EXPECT_NEAR(*g.burn.last_7_days, 60, 1e-9);
  EXPECT_NEAR(g.burn.last_7_days_span_days, 4, 1e-12);
  EXPECT_NEAR(*g.burn.overall, 60, 1e-9);
  EXPECT_EQ(g.burn.days, 4);
  EXPECT_NEAR(*g.burn.daily_p25, 42, 1e-9);
  EXPECT_NEAR(*g.burn.daily_p75, 78, 1e-9);
  // 760 core-h left: at 60 a day 12.67 days, at 78 a day 9.74, at 42 a day 18.1.
  const double as_of = kT0 + 4 * kDay;
  ASSERT_TRUE(g.exhaustion.date);
  EXPECT_FALSE(g.exhaustion.exhausted);
  EXPECT_NEAR(*g.exhaustion.date, as_of + 760.0 / 60.0 * kDay, 1e-3);
  EXPECT_NEAR(*g.exhaustion.earliest, as_of + 760.0 / 78.0 * kDay, 1e-3);
  EXPECT_NEAR(*g.exhaustion.latest, as_of + 760.0 / 42.0 * kDay, 1e-3);
  EXPECT_NEAR(g.exhaustion.remaining_core_hours, 760, 1e-9);
  ASSERT_FALSE(r.recommendations.empty());
  EXPECT_EQ(r.recommendations[0].kind, "allocation");
  EXPECT_EQ(r.recommendations[0].text,
            "grant G runs out on 2026-01-17 (between 2026-01-14 and 2026-01-23 at the 75th and 25th percentile of its "
            "use per day over 4 days): 760 core-h left of 1000 core-h at 60 core-h/day over the last 4 day(s)");

  // 200 core-h ran out on the fourth day: 144 by its start, then 96 a day: 56 more in 14 h.
  const Report used_up = build_report({four_days("used-up", 200)}, {});
  const auto& x = grant(used_up, "G").exhaustion;
  EXPECT_TRUE(x.exhausted);
  ASSERT_TRUE(x.date);
  EXPECT_NEAR(*x.date, kT0 + 3 * kDay + 14 * kHour, 1e-3);
  EXPECT_NE(used_up.recommendations.at(0).text.find("used its allocation up on 2026-01-04"), std::string::npos);

  // A better forecast plugs in where the burn rate's does.
  ReportOptions o;
  o.forecaster = [](const AllocationSubject&, const UsageHistory&, double, double as_of_) {
    ExhaustionForecast f;
    f.date = as_of_ + kDay;
    f.method = "stub";
    return f;
  };
  EXPECT_NEAR(*grant(build_report({four_days("plugged", 1000)}, o), "G").exhaustion.date, as_of + kDay, 1e-6);
}

TEST(Report, ACheckpointIntervalFourTimesTooShortIsRecommendedAgainstAndARightOneIsNot) {
  Folder f("checkpoints", "ck", kT0, {});
  // One node, 0.4 s per commit, node MTBF 24 h: Young/Daly's optimum is 262.6 s.
  const auto often = f.add(segment("p", "G", "{}", "often", 2, 1, kT0, kT0 + 1800));
  for (int k = 1; k <= 5; ++k) f.checkpoint(often, "often", static_cast<std::uint64_t>(k), kT0 + 60.0 * k, 0.4);
  const auto right = f.add(segment("p", "G", "{}", "right", 2, 1, kT0, kT0 + 1800));
  for (int k = 1; k <= 5; ++k) f.checkpoint(right, "right", static_cast<std::uint64_t>(k), kT0 + 263.0 * k, 0.4);
  // Two gaps only: too few to judge.
  const auto few = f.add(segment("p", "G", "{}", "few", 2, 1, kT0, kT0 + 1800));
  for (int k = 1; k <= 3; ++k) f.checkpoint(few, "few", static_cast<std::uint64_t>(k), kT0 + 30.0 * k, 0.4);
  const Report r = build_report({f.close()}, {});
  EXPECT_NEAR(*stage(r, "ck", "often").checkpoint_interval_seconds, 60, 1e-9);
  EXPECT_EQ(stage(r, "ck", "often").checkpoint_gaps, 4);
  EXPECT_NEAR(*stage(r, "ck", "often").checkpoint_cost_seconds, 0.4, 1e-12);
  EXPECT_NEAR(*stage(r, "ck", "right").checkpoint_interval_seconds, 263, 1e-9);
  std::vector<Recommendation> advice;
  for (const auto& rec : r.recommendations) {
    if (rec.kind == "checkpoint-interval") advice.push_back(rec);
  }
  ASSERT_EQ(advice.size(), 1u);
  EXPECT_EQ(advice[0].subject, "ck/often");
  // Waste C/T + T/2M: 0.70% at 60 s, 0.30% at 262.6 s: 0.40% of its 1 core-h back.
  EXPECT_EQ(advice[0].text, "stage ck/often checkpoints every 60 s; for its measured cost (0.4 s) and the MTBF (24 h "
                            "per node) the optimum is 4.4 min: 0.4% of its time back (0.004 core-h over this report's "
                            "period)");
  ASSERT_TRUE(advice[0].core_hours_back);
  const double m = kDay;
  const double optimum = 262.6;
  EXPECT_NEAR(*advice[0].core_hours_back, (0.4 / 60 + 60 / (2 * m) - 0.4 / optimum - optimum / (2 * m)) * 1.0, 1e-5);

  // With an MTBF of a year per node the optimum (capped by max_lost_work at 15 min) is far
  // from 263 s too, and the advice says so.
  ReportOptions o;
  o.node_mtbf_seconds = kYear;
  Folder again("checkpoints-mtbf", "ck", kT0, {});
  const auto id = again.add(segment("p", "G", "{}", "right", 2, 1, kT0, kT0 + 1800));
  for (int k = 1; k <= 5; ++k) again.checkpoint(id, "right", static_cast<std::uint64_t>(k), kT0 + 263.0 * k, 0.4);
  const Report long_mtbf = build_report({again.close()}, o);
  ASSERT_EQ(long_mtbf.recommendations.size(), 1u);
  EXPECT_NE(long_mtbf.recommendations[0].text.find("the optimum is 15 min (max_lost_work's default caps it"),
            std::string::npos)
      << long_mtbf.recommendations[0].text;
}

TEST(Report, OnlyWhatTheDataCarriesIsRecommended) {
  Folder f("thin", "thin", kT0, {{"x", "G", 1000}});
  // 20 min of 4 cores at a quarter of their CPU time: pointed out. 5 min: start-up, not.
  auto idle = segment("x", "G", "{}", "idle", 4, 1, kT0, kT0 + 1200);
  idle.cpu_seconds = 1200;
  f.add(idle);
  auto brief = segment("x", "G", "{}", "brief", 4, 1, kT0, kT0 + 300);
  brief.cpu_seconds = 300;
  f.add(brief);
  const Report r = build_report({f.close()}, {});
  // Under a day of use: the table has a date, but no advice rests on 20 minutes.
  EXPECT_TRUE(grant(r, "G").exhaustion.date);
  ASSERT_EQ(r.recommendations.size(), 1u);
  EXPECT_EQ(r.recommendations[0].kind, "reserved-use");
  EXPECT_EQ(r.recommendations[0].text, "stage thin/idle used 25% of the CPU time of the 4 core(s) it reserved (1.00 core-h "
                                       "of 1.33 core-h idle): its ranks wait (I/O, communication, imbalance) or it "
                                       "reserves cores they do not use (cores_per_rank)");
}

// A segment of `ranks` ranks (`cores_per_rank` cores each) that computed steps first to last
// in `computing` seconds, and spent 150 s more in checkpoints and 50 s writing outputs.
Segment stepped(const std::string& stage, const std::string& scenario, int ranks, double start, std::uint64_t first,
                std::uint64_t last, double computing, int cores_per_rank = 1) {
  auto s = segment("p", "G", scenario, stage, std::int64_t{ranks} * cores_per_rank, 1, start, start + computing + 200);
  s.ranks = ranks;
  s.first_step = first;
  s.last_step = last;
  s.checkpoint_seconds = 150;
  s.output_seconds = 50;
  return s;
}

std::string numbered(const char* prefix, int m) {
  std::string out = prefix;
  out += std::to_string(m);
  return out;
}

// A `for_each` member's scenario, `{"m":"3"}`, as the coordinator writes it.
std::string member_scenario(int m) { return nlohmann::json{{"m", std::to_string(m)}}.dump(); }

std::vector<Recommendation> of_kind(const Report& r, const std::string& kind) {
  std::vector<Recommendation> out;
  for (const auto& rec : r.recommendations) {
    if (rec.kind == kind) out.push_back(rec);
  }
  return out;
}

TEST(Report, MoreRanksThatCostMorePerStepAreRecommendedAgainstWithTheirNumbers) {
  Folder f("efficiency", "pe", kT0, {});
  // ocean, by hand: on 32 ranks 1000 steps in 3600 s of computing (checkpoints and outputs
  // left out): 115.2 core-s per step. On 64 ranks 1000 steps in 3000 s (192 core-s per step)
  // and 500 in 1600 s (204.8): the median is 198.4. Efficiency 115.2 / 198.4 = 58%; the 1500
  // steps on 64 ranks at 32 ranks' cost: 1500 x (198.4 - 115.2) / 3600 = 34.67 core-h back.
  f.add(stepped("ocean", "{}", 32, kT0, 0, 1000, 3600));
  f.add(stepped("ocean", "{}", 64, kT0 + kDay, 1000, 2000, 3000));
  f.add(stepped("ocean", "{}", 64, kT0 + 2 * kDay, 2000, 2500, 1600));
  // Too thin to count: 9 steps on 16 ranks, a failed segment on 8 (it ends when the failure
  // is noticed), 40 s of computing on 4. Otherwise each would be ocean's smallest count.
  f.add(stepped("ocean", "{}", 16, kT0 + 3 * kDay, 2500, 2509, 3600));
  auto failed = stepped("ocean", "{}", 8, kT0 + 4 * kDay, 2500, 2600, 3600);
  failed.outcome = Outcome::failed;
  f.add(failed);
  f.add(stepped("ocean", "{}", 4, kT0 + 5 * kDay, 2500, 2600, 40));
  // land scales fine: 100 core-s per step on 32 ranks, 110 on 64 (91%): nothing to say.
  f.add(stepped("land", "{}", 32, kT0, 0, 100, 312.5));
  f.add(stepped("land", "{}", 64, kT0 + kDay, 100, 200, 171.875));
  // ice ran on 64 ranks only: nothing to compare with.
  f.add(stepped("ice", "{}", 64, kT0, 0, 100, 600));
  // atmos: 2 cores per rank. 16 ranks (32 cores) at 3.6 s per step against 8 ranks (16
  // cores) at 4 s: 115.2 against 64 core-s per step, 56%; 200 steps: 2.84 core-h back.
  f.add(stepped("atmos", "{}", 8, kT0, 0, 200, 800, 2));
  f.add(stepped("atmos", "{}", 16, kT0 + kDay, 200, 400, 720, 2));
  const auto books = f.close();
  const Report r = build_report({books}, {});
  const auto advice = of_kind(r, "parallel-efficiency");
  ASSERT_EQ(advice.size(), 2u);  // the most time back first
  EXPECT_EQ(advice[0].subject, "pe/ocean");
  EXPECT_EQ(advice[0].stages, (std::vector<std::string>{"pe/ocean"}));
  EXPECT_EQ(advice[0].text, "stage pe/ocean runs at 58% parallel efficiency on 64 ranks (against 32 ranks): on 32 ranks "
                            "the 1500 steps it ran on 64 ranks would have used 42% fewer core-hours (34.67 core-h "
                            "back)");
  ASSERT_TRUE(advice[0].core_hours_back);
  EXPECT_NEAR(*advice[0].core_hours_back, 1500 * (198.4 - 115.2) / 3600, 1e-9);
  EXPECT_EQ(advice[1].subject, "pe/atmos");
  EXPECT_EQ(advice[1].text, "stage pe/atmos runs at 56% parallel efficiency on 16 ranks (32 cores) (against 8 ranks "
                            "(16 cores)): on 8 ranks (16 cores) the 200 steps it ran on 16 ranks (32 cores) would have "
                            "used 44% fewer core-hours (2.84 core-h back)");
  EXPECT_NEAR(*advice[1].core_hours_back, 200 * (115.2 - 64) / 3600, 1e-9);

  // The same books, the same bytes; and the advice in every format.
  const Report again = build_report({books}, {});
  EXPECT_EQ(render_json(r), render_json(again));
  EXPECT_EQ(render_markdown(r), render_markdown(again));
  EXPECT_NE(render_markdown(r).find(advice[0].text), std::string::npos);
  EXPECT_NE(render_html(r, {}).find("58% parallel efficiency"), std::string::npos);
  const auto j = nlohmann::json::parse(render_json(r));
  bool in_json = false;
  for (const auto& rec : j["recommendations"]) {
    if (rec["kind"] == "parallel-efficiency" && rec["subject"] == "pe/ocean") {
      in_json = true;
      EXPECT_NEAR(rec["core_hours_back"].get<double>(), 34.6667, 1e-3);
      EXPECT_EQ(rec["stages"], nlohmann::json::array({"pe/ocean"}));
    }
  }
  EXPECT_TRUE(in_json);
  bool in_csv = false;
  for (const auto& row : parse_csv(render_csv(r))) {
    in_csv = in_csv || (row[0] == "recommendation" && row[4] == "parallel-efficiency" && row[3] == "pe/ocean");
  }
  EXPECT_TRUE(in_csv);

  // Under 20% more per step is not worth a line: 32 ranks at 100, 64 at 119 core-s per step.
  Folder close("efficiency-close", "pe", kT0, {});
  close.add(stepped("ocean", "{}", 32, kT0, 0, 100, 312.5));
  close.add(stepped("ocean", "{}", 64, kT0 + kDay, 100, 200, 185.9375));
  EXPECT_TRUE(of_kind(build_report({close.close()}, {}), "parallel-efficiency").empty());
}

TEST(Report, TheMembersOfOneTemplateAreComparedTogetherWhenTheyDoTheSameWork) {
  Folder f("efficiency-ensemble", "ens", kT0, {});
  // ens-{m}: members 1 to 3 ran on 32 ranks (100, 100 and 104 core-s per step), then the
  // campaign file said 64 and members 4 and 5 ran on it (150 and 160). Pooled: 100 against
  // 155, 65%; 2 x 100 steps at 55 core-s more: 3.06 core-h back.
  const std::vector<double> costs = {100, 100, 104, 150, 160};
  for (int m = 1; m <= 5; ++m) {
    const int ranks = m <= 3 ? 32 : 64;
    const double computing = costs[static_cast<std::size_t>(m - 1)] * 100 / ranks;
    f.add(stepped(numbered("ens-", m), member_scenario(m), ranks, kT0 + m * kHour, 0, 100, computing));
  }
  // res-{r}: r=1 and r=2 on 32 ranks cost 100 and 400 per step: not the same work, so not
  // pooled (r=1 would look 10x cheaper than r=2 on 64). r=2 on its own: 400 against 1000, 40%;
  // 100 steps at 600 core-s more: 16.67 core-h back.
  f.add(stepped("res-1", R"({"r":"1"})", 32, kT0, 0, 100, 312.5));
  f.add(stepped("res-2", R"({"r":"2"})", 32, kT0, 0, 100, 1250));
  f.add(stepped("res-2", R"({"r":"2"})", 64, kT0 + kDay, 100, 200, 1562.5));
  const Report r = build_report({f.close()}, {});
  const auto advice = of_kind(r, "parallel-efficiency");
  ASSERT_EQ(advice.size(), 2u);
  EXPECT_EQ(advice[0].subject, "ens/res-2");
  EXPECT_EQ(advice[0].text, "stage ens/res-2 runs at 40% parallel efficiency on 64 ranks (against 32 ranks): on 32 ranks "
                            "the 100 steps it ran on 64 ranks would have used 60% fewer core-hours (16.67 core-h back)");
  EXPECT_EQ(advice[1].subject, "ens/ens-{m}");
  EXPECT_EQ(advice[1].stages, (std::vector<std::string>{"ens/ens-1", "ens/ens-2", "ens/ens-3", "ens/ens-4", "ens/ens-5"}));
  EXPECT_EQ(advice[1].text, "the 5 stages of template ens/ens-{m} (ens/ens-1, ens/ens-2, ens/ens-3 and 2 more) run at "
                            "65% parallel efficiency on 64 ranks (against 32 ranks): on 32 ranks the 200 steps they ran "
                            "on 64 ranks would have used 35% fewer core-hours (3.06 core-h back in all)");
  EXPECT_NEAR(*advice[1].core_hours_back, 200 * (155.0 - 100.0) / 3600, 1e-9);
}

TEST(Report, IdenticalAdviceAboutSeveralStagesIsSaidOnceWithItsSums) {
  Folder f("identical", "ck", kT0, {});
  // Six members that all checkpoint every 60 s for 0.4 s on one node (as in the test above:
  // 0.4% of their time, 0.0040 core-h each), and one that checkpoints every 30 s.
  for (int m = 1; m <= 6; ++m) {
    const std::string name = numbered("m", m);
    auto s = segment("p", "G", member_scenario(m), name, 2, 1, kT0, kT0 + 1800);
    s.cpu_seconds = 900;  // a quarter of 2 cores x 1800 s
    const auto id = f.add(s);
    for (int k = 1; k <= 5; ++k) f.checkpoint(id, name, static_cast<std::uint64_t>(k), kT0 + 60.0 * k, 0.4);
  }
  const auto odd = f.add(segment("p", "G", "{}", "odd", 2, 1, kT0, kT0 + 1800));
  for (int k = 1; k <= 5; ++k) f.checkpoint(odd, "odd", static_cast<std::uint64_t>(k), kT0 + 30.0 * k, 0.4);
  const Report r = build_report({f.close()}, {});

  const auto checkpoints = of_kind(r, "checkpoint-interval");
  ASSERT_EQ(checkpoints.size(), 2u);
  const auto& six = checkpoints[0].stages.size() == 6 ? checkpoints[0] : checkpoints[1];
  const auto& one = checkpoints[0].stages.size() == 6 ? checkpoints[1] : checkpoints[0];
  EXPECT_EQ(six.stages, (std::vector<std::string>{"ck/m1", "ck/m2", "ck/m3", "ck/m4", "ck/m5", "ck/m6"}));
  EXPECT_EQ(six.subject, "ck/m1, ck/m2, ck/m3, ck/m4, ck/m5, ck/m6");
  const double m = kDay;
  const double optimum = 262.6;
  const double each = 0.4 / 60 + 60 / (2 * m) - 0.4 / optimum - optimum / (2 * m);  // of 1 core-h
  ASSERT_TRUE(six.core_hours_back);
  EXPECT_NEAR(*six.core_hours_back, 6 * each, 6e-5);
  EXPECT_EQ(six.text, "6 stages (ck/m1, ck/m2, ck/m3 and 3 more) checkpoint every 60 s; for their measured cost "
                      "(0.4 s) and the MTBF (24 h per node) the optimum is 4.4 min: 0.4% of their time back (0.02 "
                      "core-h over this report's period, in all)");
  EXPECT_EQ(one.stages, (std::vector<std::string>{"ck/odd"}));
  EXPECT_EQ(one.text.rfind("stage ck/odd checkpoints every 30 s;", 0), 0u) << one.text;

  // The six also used a quarter of their reserved CPU time: one line, its core-hours summed.
  const auto reserved = of_kind(r, "reserved-use");
  ASSERT_EQ(reserved.size(), 1u);
  EXPECT_EQ(reserved[0].stages.size(), 6u);
  EXPECT_EQ(reserved[0].text, "6 stages (ck/m1, ck/m2, ck/m3 and 3 more) used 25% of the CPU time of the 2 core(s) each "
                              "reserved (4.50 core-h of 6.00 core-h idle in all): their ranks wait (I/O, communication, "
                              "imbalance) or they reserve cores they do not use (cores_per_rank)");
  const auto j = nlohmann::json::parse(render_json(r));
  int merged = 0;
  for (const auto& rec : j["recommendations"]) merged += rec["stages"].size() == 6 ? 1 : 0;
  EXPECT_EQ(merged, 2);
}

TEST(Report, EveryFormatIsByteIdenticalForTheSameInputs) {
  auto render_all = [] {
    const Report r = build_report(two_campaigns(), {});
    const auto charts = draw_charts(r);
    std::vector<std::string> out = {render_markdown(r), render_csv(r), render_json(r), render_html(r, charts)};
    for (const auto& c : charts) {
      out.push_back(c.svg);
      out.push_back(c.png);
    }
    return out;
  };
  const auto first = render_all();
  const auto second = render_all();
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(first[i] == second[i]) << "output " << i << " differs";
}

TEST(Report, JsonParsesWithTheRequiredFieldsAndNullWhereUnknown) {
  const auto j = nlohmann::json::parse(render_json(build_report(two_campaigns(), {})));
  ASSERT_TRUE(j["projects"].is_array());
  ASSERT_EQ(j["projects"].size(), 3u);
  for (const auto& p : j["projects"]) {
    for (const char* key : {"name", "grant", "allocation_core_hours", "core_hours"}) EXPECT_TRUE(p.contains(key)) << key;
  }
  EXPECT_EQ(j["projects"][2]["name"], "ocean");
  EXPECT_EQ(j["projects"][2]["grant"], "NSF-1");
  EXPECT_DOUBLE_EQ(j["projects"][2]["allocation_core_hours"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(j["projects"][2]["core_hours"].get<double>(), 28.0);
  EXPECT_TRUE(j["projects"][2]["efficiency"]["energy_joules"].is_null());
  ASSERT_EQ(j["stages"].size(), 5u);
  for (const auto& s : j["stages"]) {
    for (const char* key : {"name", "core_hours", "segments", "sypd", "chsy"}) EXPECT_TRUE(s.contains(key)) << key;
  }
  EXPECT_EQ(j["stages"][0]["name"], "spin");
  EXPECT_DOUBLE_EQ(j["stages"][0]["sypd"].get<double>(), 24.0);
  EXPECT_EQ(j["stages"][0]["segments"], 1);
  EXPECT_EQ(j["stages"][1]["name"], "lnd");
  EXPECT_TRUE(j["stages"][1]["sypd"].is_null());
  EXPECT_TRUE(j["stages"][1]["chsy"].is_null());
  EXPECT_EQ(j["as_of"], "2026-01-02 02:00:00 UTC");
}

TEST(Report, CsvParsesWithTheSameColumnsOnEveryRow) {
  const auto rows = parse_csv(render_csv(build_report(two_campaigns(), {})));
  ASSERT_GT(rows.size(), 50u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"section", "grant", "project", "name", "metric", "value"}));
  bool found = false;
  bool quoted_scenario = false;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 6u);
    if (row[0] == "project" && row[2] == "ocean" && row[4] == "core_hours") {
      EXPECT_EQ(row[5], "28");
      found = true;
    }
    if (row[0] == "scenario" && row[3] == R"({"f":"2.6"})") quoted_scenario = true;
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(quoted_scenario);
}

TEST(Report, ChartsAreSvgAndPngOfTheDeclaredSize) {
  const Report r = build_report(two_campaigns(), {});
  const auto charts = draw_charts(r, {640, 400});
  std::vector<std::string> names;
  for (const auto& c : charts) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"burndown-ERC-7", "burndown-NSF-1", "core-hours-by-project",
                                             "core-hours-by-scenario", "sypd-by-scenario"}));
  for (const auto& c : charts) {
    EXPECT_EQ(c.svg.rfind("<?xml", 0), 0u) << c.name;
    EXPECT_NE(c.svg.find("<svg"), std::string::npos) << c.name;
    EXPECT_NE(c.svg.find("</svg>"), std::string::npos) << c.name;
    ASSERT_GE(c.png.size(), 8u);
    EXPECT_EQ(c.png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << c.name;
    PngReader reader{&c.png};
    cairo_surface_t* image = cairo_image_surface_create_from_png_stream(read_png, &reader);
    ASSERT_EQ(cairo_surface_status(image), CAIRO_STATUS_SUCCESS) << c.name;
    EXPECT_EQ(cairo_image_surface_get_width(image), 640) << c.name;
    EXPECT_EQ(cairo_image_surface_get_height(image), 400) << c.name;
    cairo_surface_destroy(image);
  }
  const auto dir = fresh_dir("charts") / "out";
  write_charts(charts, dir);
  EXPECT_TRUE(fs::exists(dir / "burndown-NSF-1.svg"));
  EXPECT_TRUE(fs::exists(dir / "sypd-by-scenario.png"));
  EXPECT_EQ(file_stem("a b/c"), "a_b_c");
}

TEST(ReportCommand, BadInputIsNamedAndExitsTwo) {
  const auto books = two_campaigns();
  perennial::ReportSettings o;
  o.folders = {books[0].folder.string()};
  o.format = "json";
  o.output = (fresh_dir("cli") / "report.json").string();
  EXPECT_EQ(perennial::command_report(o), 0);
  EXPECT_TRUE(fs::exists(o.output));
  auto bad = [&](auto change) {
    perennial::ReportSettings x = o;
    change(x);
    return perennial::command_report(x);
  };
  EXPECT_EQ(bad([](auto& x) { x.folders.push_back(fresh_dir("cli-empty").string()); }), perennial::kExitBadInput);
  EXPECT_EQ(bad([](auto& x) { x.folders.push_back(x.folders[0]); }), perennial::kExitBadInput);
  EXPECT_EQ(bad([](auto& x) { x.project = "nobody"; }), perennial::kExitBadInput);
  EXPECT_EQ(bad([](auto& x) { x.grant = "nobody"; }), perennial::kExitBadInput);
  EXPECT_EQ(bad([](auto& x) { x.from = "2026-02-31"; }), perennial::kExitBadInput);
  EXPECT_EQ(bad([](auto& x) { x.format = "xml"; }), perennial::kExitBadInput);
  EXPECT_EQ(bad([](auto& x) { x.mtbf = "often"; }), perennial::kExitBadInput);
}
