// `perennial report DIR...`: the accounting report of one or more campaigns' output folders.

#include "commands.hpp"
#include "forecast.hpp"

#include <perennial/accounting/charts.hpp>
#include <perennial/accounting/report.hpp>
#include <perennial/accounting/report_format.hpp>
#include <perennial/campaign_loader.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

namespace perennial {

namespace {

namespace acc = accounting;

int bad_input(const std::string& message) {
  std::fprintf(stderr, "perennial report: %s\n", message.c_str());
  return kExitBadInput;
}

// Where the text should link a chart: relative to the report file's folder when the report
// goes to a file, as given otherwise.
std::string link_path(const std::filesystem::path& chart, const std::string& output) {
  if (output.empty()) return chart.generic_string();
  const auto base = std::filesystem::path(output).parent_path();
  return chart.lexically_relative(base.empty() ? std::filesystem::path(".") : base).generic_string();
}

// The moment a use of `used` core-hours now, growing as each campaign spends its `to_finish`
// evenly from its `from` to its `until`, reaches `allocation`; nullopt if it never does.
struct Spending {
  double from, until, core_hours;
};
std::optional<double> crossing(double used, const std::vector<Spending>& spending, double allocation) {
  std::vector<double> times;
  for (const auto& s : spending) times.insert(times.end(), {s.from, s.until});
  std::sort(times.begin(), times.end());
  auto use_at = [&](double t) {
    double u = used;
    for (const auto& s : spending) {
      const double span = s.until - s.from;
      u += span <= 0 ? (t >= s.until ? s.core_hours : 0.0) : s.core_hours * std::clamp((t - s.from) / span, 0.0, 1.0);
    }
    return u;
  };
  double t0 = times.empty() ? 0.0 : times.front();
  for (double t1 : times) {
    const double u0 = use_at(t0), u1 = use_at(t1);
    if (u1 >= allocation && u1 > u0) return t0 + (t1 - t0) * (allocation - u0) / (u1 - u0);
    t0 = t1;
  }
  return std::nullopt;
}

// The report's exhaustion projection from the campaign forecasts of its folders: the use
// still to come of each campaign that spends the project's or grant's core-hours, against
// what is left; the burn rate where no folder could be forecast.
acc::ExhaustionForecaster forecast_based(const std::vector<FolderForecast>& forecasts) {
  return [&forecasts](const acc::AllocationSubject& subject, const acc::UsageHistory& use, double allocation, double as_of) {
    std::vector<std::pair<const FolderForecast*, const AllocationOutlook*>> hits;
    for (const auto& f : forecasts) {
      for (const auto& o : subject.grant ? f.grants : f.projects) {
        if (o.name == subject.name) hits.emplace_back(&f, &o);
      }
    }
    acc::ExhaustionForecast x = acc::burn_rate_forecast(use, allocation, as_of);
    if (hits.empty()) return x;
    const double used = use.total();
    double expected = 0.0, low = 0.0, high = 0.0, end = 0.0;
    std::vector<Spending> spend, spend_fast, spend_slow;
    for (const auto& [f, o] : hits) {
      expected += o->to_finish.expected;
      low += o->to_finish.low;
      high += o->to_finish.high;
      const Spread& s = f->forecast.seconds_to_finish;
      end = std::max(end, f->as_of_unix + s.expected);
      spend.push_back({f->as_of_unix, f->as_of_unix + s.expected, o->to_finish.expected});
      spend_fast.push_back({f->as_of_unix, f->as_of_unix + s.low, o->to_finish.high});
      spend_slow.push_back({f->as_of_unix, f->as_of_unix + s.high, o->to_finish.low});
    }
    x.projected_core_hours = used + expected;
    x.projected_low = used + low;
    x.projected_high = used + high;
    x.campaign_end = end;
    x.method = fmt::format("campaign forecast of {} folder(s) (measured step rates, the DAG, checkpoint costs, node failures "
                           "at the campaign's MTBF; {} draws, 80% intervals{})",
                           hits.size(), hits.front().first->forecast.draws,
                           hits.size() > 1 ? "; several campaigns' intervals added, so wider than their joint one" : "");
    if (x.exhausted) return x;
    x.date.reset();
    x.earliest.reset();
    x.latest.reset();
    const auto& [f, o] = hits.front();
    if (hits.size() == 1 && o->exhaustion && o->exhaustion->share_of_draws >= 0.5) {
      // One campaign: the draws' own moments of running out.
      x.date = f->as_of_unix + o->exhaustion->seconds.expected;
      x.earliest = f->as_of_unix + o->exhaustion->seconds.low;
      x.latest = f->as_of_unix + o->exhaustion->seconds.high;
    } else if (hits.size() > 1) {
      x.date = crossing(used, spend, allocation);
      if (x.date) {
        x.earliest = crossing(used, spend_fast, allocation);
        x.latest = crossing(used, spend_slow, allocation);
      }
    }
    return x;
  };
}

}  // namespace

int command_report(const ReportSettings& o) {
  const auto format = acc::parse_report_format(o.format);
  if (!format) return bad_input(fmt::format("--format '{}': give md, csv, json or html", o.format));
  acc::ReportOptions options;
  if (!o.project.empty()) options.project = o.project;
  if (!o.grant.empty()) options.grant = o.grant;
  for (const auto& [option, text, target] : {std::tuple{"--from", &o.from, &options.window.from},
                                             std::tuple{"--to", &o.to, &options.window.to}}) {
    if (text->empty()) continue;
    *target = acc::parse_report_time(*text);
    if (!*target) {
      return bad_input(fmt::format("{} '{}': give a unix time, a date (2026-11-25) or a date-time "
                                   "(2026-11-25T18:00:00), UTC",
                                   option, *text));
    }
  }
  const auto mtbf = parse_duration_seconds(o.mtbf);
  if (!mtbf || !std::isfinite(*mtbf) || *mtbf <= 0) {
    return bad_input(fmt::format("--mtbf '{}': not a positive duration (e.g. 24h, 5w)", o.mtbf));
  }
  options.node_mtbf_seconds = *mtbf;

  std::vector<acc::Books> books;
  std::set<std::filesystem::path> seen;
  try {
    for (const auto& dir : o.folders) {
      // The same folder twice would count its use twice.
      std::error_code ec;
      const auto canonical = std::filesystem::weakly_canonical(dir, ec);
      if (!seen.insert(ec ? std::filesystem::path(dir) : canonical).second) {
        return bad_input(fmt::format("{}: given twice", dir));
      }
      books.push_back(acc::read_books(dir));
    }
  } catch (const acc::ReportError& e) {
    return bad_input(e.what());
  } catch (const acc::AccountingError& e) {
    return bad_input(e.what());
  }

  // Each folder's scenarios, when its campaign judges them by a metric: what the campaign file
  // of its newest run declares, and the events log's moves. A folder whose campaign file
  // cannot be read has no ranking (the forecast below says why in the notes).
  for (auto& b : books) {
    try {
      const CampaignFolder cf = open_campaign_folder(b.folder.string());
      auto stages = scenario_stages(*cf.graph);
      if (std::none_of(stages.begin(), stages.end(), [](const auto& s) { return s.promise_metric.has_value(); })) continue;
      b.stages = std::move(stages);
      b.events = acc::read_stage_events(b.folder / "log" / "events.jsonl");
    } catch (const std::exception&) {
    }
  }

  // Each folder's campaign forecast, as of its newest use (the same books give the same
  // report), for the projected exhaustion and the campaigns' ends.
  std::vector<FolderForecast> forecasts;
  for (const auto& b : books) {
    double newest = 0.0;
    for (const auto& s : b.segments) newest = std::max(newest, s.wall_end);
    if (b.segments.empty()) continue;
    ForecastSettings settings;
    settings.target = b.folder.string();
    settings.as_of_unix = newest;
    try {
      forecasts.push_back(forecast_folder(settings));
    } catch (const std::exception& e) {
      options.notes.push_back(fmt::format("no campaign forecast for {}: {}; its allocations are projected from their burn "
                                          "rate",
                                          b.folder.string(), e.what()));
    }
  }
  if (!forecasts.empty()) options.forecaster = forecast_based(forecasts);

  std::string text;
  try {
    const acc::Report report = acc::build_report(books, options);
    std::vector<acc::ChartFile> charts;
    if (!o.charts.empty() || *format == acc::ReportFormat::html) charts = acc::draw_charts(report);
    std::vector<acc::ChartLink> links;
    if (!o.charts.empty()) {
      acc::write_charts(charts, o.charts);
      for (const auto& c : charts) {
        const auto stem = std::filesystem::path(o.charts) / c.name;
        std::string svg = stem.string();
        svg += ".svg";
        std::string png = stem.string();
        png += ".png";
        links.push_back({c.title, link_path(svg, o.output), link_path(png, o.output)});
      }
    }
    switch (*format) {
      case acc::ReportFormat::markdown: text = acc::render_markdown(report, links); break;
      case acc::ReportFormat::csv: text = acc::render_csv(report); break;
      case acc::ReportFormat::json: text = acc::render_json(report); break;
      case acc::ReportFormat::html: text = acc::render_html(report, charts); break;
    }
  } catch (const acc::ReportError& e) {
    return bad_input(e.what());
  }

  if (o.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : kExitIncomplete;
  }
  std::ofstream file(o.output, std::ios::binary | std::ios::trunc);
  file.write(text.data(), static_cast<std::streamsize>(text.size()));
  file.close();
  if (!file) {
    std::fprintf(stderr, "perennial report: %s: cannot write the report\n", o.output.c_str());
    return kExitIncomplete;
  }
  return 0;
}

}  // namespace perennial
