// The report's scenario rankings: a campaign folder as a run leaves it, written by hand (the
// campaign file, the journal's run_started naming it, the books with metric rows, the events
// log), reported by `perennial report`: the table ranks by the newest value of the promise
// metric, the chart of the trajectories is a real SVG and PNG, and a campaign without
// `promise:` gets no ranking at all.

#include "commands.hpp"
#include "test_support.hpp"

#include <perennial/accounting/store.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/worker/worker.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace perennial::accounting;
namespace fs = std::filesystem;

namespace {

constexpr double kT0 = 1767225600.0;  // 2026-01-01 00:00:00 UTC
constexpr double kHour = 3600.0;

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

// Campaign `ranked`: ensemble m-100, m-200, m-300 (the kernel's bad_step, past its steps)
// judged by `score`, lower better (when `promise`), and `spin`, whose kernel reports `score`
// too but has no promise of its own. m-100: 5, 4, 3 at steps 10, 20, 30 (and an `other`
// metric, not its group's); m-200: 6 then 1 at steps 10, 20, its 1 recorded after kT0 + 2 h;
// m-300: none, paused.
fs::path campaign_folder(const std::string& name, bool promise) {
  static const bool registered = [] {
    perennial::register_builtin_kernels();  // the campaign file is validated against them
    return true;
  }();
  (void)registered;
  const fs::path dir = perennial::testing::fresh_directory("report-rankings", name);
  const fs::path out = dir / "run";
  const fs::path campaign = dir / "campaign.yaml";
  write(campaign, std::string("campaign: ranked\n"
                              "projects:\n"
                              "  - {name: ocean, grant: NSF-1, allocation_core_hours: 1000}\n"
                              "stages:\n"
                              "  - {name: spin, kernel: report-score, project: ocean, ranks: 1, steps: 30}\n"
                              "  - {name: \"m-{bad_step}\", for_each: {bad_step: [100, 200, 300]}, kernel: report-score, project: ocean,\n"
                              "     ranks: 1, steps: 30") +
                      (promise ? ", promise: {metric: score, direction: min}}\n" : "}\n"));
  fs::create_directories(out);
  write(out / "journal.jsonl",
        perennial::journal_line({{"type", "run_started"}, {"campaign", "ranked"}, {"campaign_file", campaign.string()}}) + "\n");
  {
    AccountingStore store(out / "accounting.db");
    const auto run = store.begin_run({0, "ranked", "real", kT0 - kHour, {}, 9, "test", "365_day", 365.0});
    store.set_allocations({{"ocean", "NSF-1", 1000}});
    auto segment = [&](const std::string& stage, double hours) {
      Segment s;
      s.run_id = run;
      s.project = "ocean";
      s.grant = "NSF-1";
      s.scenario = "{}";
      s.stage = stage;
      s.ranks = 2;
      s.nodes = 1;
      s.cores = 2;
      s.wall_start = kT0;
      s.wall_end = kT0 + hours * kHour;
      s.outcome = Outcome::completed;
      store.write(s);
      return s.id;
    };
    const auto spin = segment("spin", 1);     // 2 core-h
    const auto m1 = segment("m-100", 3);        // 6 core-h
    const auto m2 = segment("m-200", 2);        // 4 core-h
    segment("m-300", 0.5);                      // 1 core-h
    auto metric = [&](std::int64_t id, const std::string& stage, const std::string& metric_name, std::uint64_t step,
                      double value, double wall) {
      store.add_metric({id, stage, metric_name, step, std::nullopt, value, wall});
    };
    metric(spin, "spin", "score", 30, 9, kT0 + 0.5 * kHour);
    metric(m1, "m-100", "score", 10, 5, kT0 + 0.5 * kHour);
    metric(m1, "m-100", "other", 10, -100, kT0 + 0.5 * kHour);
    metric(m1, "m-100", "score", 20, 4, kT0 + 1.0 * kHour);
    metric(m1, "m-100", "score", 30, 3, kT0 + 1.5 * kHour);
    metric(m2, "m-200", "score", 10, 6, kT0 + 0.5 * kHour);
    metric(m2, "m-200", "score", 20, 1, kT0 + 2.5 * kHour);
  }
  auto event = [](const std::string& kind, const std::string& stage, double wall, const std::string& reason = {}) {
    nlohmann::json e = {{"event", kind}, {"stage", stage}, {"wall", wall}};
    if (!reason.empty()) e["reason"] = reason;
    return e.dump() + "\n";
  };
  write(out / "log" / "events.jsonl",
        event("stage_started", "m-100", kT0) + event("stage_completed", "m-100", kT0 + 3 * kHour) +
            event("stage_started", "m-300", kT0) + event("stage_paused", "m-300", kT0 + 0.5 * kHour, "rung 1: bottom third") +
            "{\"event\": \"stage_sta");  // a torn last line, as a run writing it leaves it
  return out;
}

perennial::ReportSettings settings(const fs::path& folder, const std::string& format) {
  perennial::ReportSettings o;
  o.folders = {folder.string()};
  o.format = format;
  o.output = (folder.parent_path() / ("report." + format)).string();
  return o;
}

}  // namespace

TEST(ReportRankings, ScenariosRankByTheNewestValueOfThePromiseMetricWithTheirTrajectories) {
  const fs::path folder = campaign_folder("promise", true);
  auto o = settings(folder, "json");
  ASSERT_EQ(perennial::command_report(o), 0);
  const auto j = nlohmann::json::parse(slurp(o.output));
  const auto& rankings = j.at("scenario_rankings");
  // The ensemble by its promise; spin alone, by the first metric it reported: the same groups
  // `perennial scenarios` shows.
  ASSERT_EQ(rankings.size(), 2u) << rankings.dump();
  EXPECT_EQ(rankings[0].at("group"), "spin");
  EXPECT_EQ(rankings[0].at("by_promise"), false);
  const auto& g = rankings[1];
  EXPECT_EQ(g.at("campaign"), "ranked");
  EXPECT_EQ(g.at("group"), "m-{bad_step}");
  EXPECT_EQ(g.at("metric"), "score");
  EXPECT_EQ(g.at("direction"), "min");
  EXPECT_EQ(g.at("by_promise"), true);
  const auto& s = g.at("scenarios");
  ASSERT_EQ(s.size(), 3u);
  // Lower is better: m-200 (1) before m-100 (3); m-300 without a value last.
  EXPECT_EQ(s[0].at("stage"), "m-200");
  EXPECT_EQ(s[0].at("rank"), 1);
  EXPECT_EQ(s[0].at("value").get<double>(), 1.0);
  EXPECT_EQ(s[0].at("core_hours").get<double>(), 4.0);
  EXPECT_EQ(s[0].at("state"), "waiting");
  EXPECT_EQ(s[1].at("stage"), "m-100");
  EXPECT_EQ(s[1].at("value").get<double>(), 3.0);
  ASSERT_EQ(s[1].at("trajectory").size(), 3u);  // not its `other` metric
  EXPECT_EQ(s[1].at("trajectory")[0].at("step"), 10);
  EXPECT_EQ(s[1].at("trajectory")[0].at("value").get<double>(), 5.0);
  EXPECT_EQ(s[1].at("trajectory")[2].at("step"), 30);
  EXPECT_EQ(s[1].at("state"), "completed");
  EXPECT_EQ(s[1].at("core_hours").get<double>(), 6.0);
  EXPECT_EQ(s[2].at("stage"), "m-300");
  EXPECT_EQ(s[2].at("rank"), 3);
  EXPECT_TRUE(s[2].at("value").is_null());
  EXPECT_EQ(s[2].at("state"), "paused");
  EXPECT_EQ(s[2].at("last_move"), "paused: rung 1: bottom third");

  // As of a window's end, the values recorded later do not count: m-200's newest is then 6.
  auto early = settings(folder, "json");
  early.to = std::to_string(static_cast<long long>(kT0 + 2 * kHour));
  ASSERT_EQ(perennial::command_report(early), 0);
  const auto e = nlohmann::json::parse(slurp(early.output)).at("scenario_rankings").at(1).at("scenarios");
  EXPECT_EQ(e[0].at("stage"), "m-100");
  EXPECT_EQ(e[1].at("stage"), "m-200");
  EXPECT_EQ(e[1].at("value").get<double>(), 6.0);

  // CSV: the same ranking in long form, and every trajectory value.
  auto csv = settings(folder, "csv");
  ASSERT_EQ(perennial::command_report(csv), 0);
  const std::string c = slurp(csv.output);
  EXPECT_NE(c.find("scenario_ranking,NSF-1,ocean,ranked/m-200,rank,1\n"), std::string::npos) << c;
  EXPECT_NE(c.find("scenario_trajectory,NSF-1,ocean,ranked/m-100,score@20,4\n"), std::string::npos) << c;
}

TEST(ReportRankings, MarkdownLinksAndHtmlEmbedsTheTrajectoryChartTheSameBytesTwice) {
  const fs::path folder = campaign_folder("chart", true);
  auto md = settings(folder, "md");
  md.charts = (folder.parent_path() / "charts").string();
  ASSERT_EQ(perennial::command_report(md), 0);
  const std::string text = slurp(md.output);
  const auto section = text.find("## Scenario ranking: ranked/m-{bad_step}");
  ASSERT_NE(section, std::string::npos) << text;
  // The rows in rank order, with their values, steps, counts, core-hours, state and move.
  const auto first = text.find("| 1 | m-200 | ocean | 1 | 20 | 2 | 4.00 | waiting | - |", section);
  const auto second = text.find("| 2 | m-100 | ocean | 3 | 30 | 3 | 6.00 | completed | - |", section);
  const auto third = text.find("| 3 | m-300 | ocean | - | - | 0 | 1.00 | paused | paused: rung 1: bottom third |", section);
  EXPECT_NE(first, std::string::npos) << text;
  EXPECT_LT(first, second) << text;
  EXPECT_LT(second, third) << text;
  EXPECT_NE(third, std::string::npos) << text;
  // The chart, as the other charts: both files, linked from the text.
  const fs::path svg = fs::path(md.charts) / "trajectories-ranked-m-_bad_step_.svg";
  const fs::path png = fs::path(md.charts) / "trajectories-ranked-m-_bad_step_.png";
  ASSERT_TRUE(fs::exists(svg));
  ASSERT_TRUE(fs::exists(png));
  const std::string svg_bytes = slurp(svg);
  const std::string png_bytes = slurp(png);
  EXPECT_EQ(svg_bytes.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg_bytes.find("</svg>"), std::string::npos);
  ASSERT_GT(png_bytes.size(), 8u);
  EXPECT_EQ(png_bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_NE(text.find("(charts/trajectories-ranked-m-_bad_step_.svg) ([PNG](charts/trajectories-ranked-m-_bad_step_.png))"),
            std::string::npos)
      << text;

  // Same books, same bytes: the text and the chart.
  ASSERT_EQ(perennial::command_report(md), 0);
  EXPECT_TRUE(slurp(md.output) == text);
  EXPECT_TRUE(slurp(svg) == svg_bytes);
  EXPECT_TRUE(slurp(png) == png_bytes);

  auto html = settings(folder, "html");
  ASSERT_EQ(perennial::command_report(html), 0);
  const std::string page = slurp(html.output);
  EXPECT_NE(page.find("<h2>Scenario ranking: ranked/m-{bad_step}</h2>"), std::string::npos);
  EXPECT_NE(page.find("<figcaption>score by step: ranked/m-{bad_step}</figcaption>"), std::string::npos);
}

TEST(ReportRankings, ACampaignWithoutPromiseGetsNoRankingAndNoChart) {
  const fs::path folder = campaign_folder("no-promise", false);
  auto md = settings(folder, "md");
  md.charts = (folder.parent_path() / "charts").string();
  ASSERT_EQ(perennial::command_report(md), 0);
  const std::string text = slurp(md.output);
  EXPECT_EQ(text.find("Scenario ranking"), std::string::npos) << text;
  EXPECT_EQ(text.find("trajectories"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(fs::path(md.charts) / "trajectories-ranked-spin.svg"));
  auto json = settings(folder, "json");
  ASSERT_EQ(perennial::command_report(json), 0);
  EXPECT_TRUE(nlohmann::json::parse(slurp(json.output)).at("scenario_rankings").empty());
}
