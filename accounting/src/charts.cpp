#include <perennial/accounting/charts.hpp>

#include "chart_canvas.hpp"

#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <set>

namespace perennial::accounting {

namespace {

using namespace detail;

struct Bar {
  std::string label;
  double value = 0.0;
};

// A bar's value, short: 41234 rather than 4.12e+04.
std::string bar_value(double v) { return v >= 1000.0 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v); }

Painter bar_chart(std::string title, std::string y_label, std::vector<Bar> bars, ChartSize size, Rgb fill) {
  return [=](cairo_t* cr) {
    Frame f;
    f.width = size.width;
    f.height = size.height;
    double top = 0;
    for (const auto& b : bars) top = std::max(top, b.value);
    const double axis_top = frame(cr, f, title, y_label, top * 1.08);  // room for the value above the tallest bar
    const double slot = (f.x1() - f.x0()) / static_cast<double>(bars.size());
    const double bar = std::min(slot * 0.7, 80.0);
    constexpr double kLine = 14.0;  // the height a label needs beside the next one
    font(cr, 11);
    // Labels across when they fit; else slanted; when even slanted ones would touch, upright
    // and only every `stride`-th one (the bars stay, each keeps its place).
    enum class Labels { across, slanted, upright } mode = Labels::across;
    for (const auto& b : bars) {
      if (text_width(cr, shorten(b.label, 28)) > slot - 4) mode = slot >= kLine * 1.5 ? Labels::slanted : Labels::upright;
    }
    const std::size_t length = mode == Labels::across ? 28 : mode == Labels::slanted ? 20 : 13;
    const auto stride = mode == Labels::upright ? static_cast<std::size_t>(std::ceil(kLine / slot)) : std::size_t{1};
    for (std::size_t i = 0; i < bars.size(); ++i) {
      const double cx = f.x0() + slot * (static_cast<double>(i) + 0.5);
      const double h = (f.y0() - f.y1()) * bars[i].value / axis_top;
      color(cr, fill);
      cairo_rectangle(cr, cx - bar / 2, f.y0() - h, bar, h);
      cairo_fill(cr);
      color(cr, kInk);
      const std::string value = bar_value(bars[i].value);
      if (text_width(cr, value) <= slot - 2) text(cr, cx, f.y0() - h - 4, value, 0.5);
      if (i % stride != 0) continue;
      const std::string label = shorten(bars[i].label, length);
      if (mode == Labels::across) {
        text(cr, cx, f.y0() + 16, label, 0.5);
        continue;
      }
      cairo_save(cr);
      cairo_translate(cr, cx + 4, f.y0() + 8);
      cairo_rotate(cr, mode == Labels::slanted ? -std::numbers::pi / 4 : -std::numbers::pi / 2);
      text(cr, 0, 0, label, 1.0);
      cairo_restore(cr);
    }
  };
}

std::string axis_time(double t, bool with_time) {
  const std::string full = format_utc_time(t);  // 2026-11-25 18:00:00 UTC
  return with_time ? full.substr(5, 11) : full.substr(0, 10);
}

Painter burndown_chart(const GrantReport& g, std::optional<double> as_of, ChartSize size) {
  return [&g, as_of, size](cairo_t* cr) {
    Frame f;
    f.width = size.width;
    f.height = size.height;
    f.bottom = 70;
    const double allocation = g.allocation_core_hours.value_or(0.0);
    const auto curve = g.history.cumulative();
    const double used = g.used_to_date_core_hours;
    const double now = as_of.value_or(curve.empty() ? 0.0 : curve.back().first);
    const double start = curve.empty() ? now - 86400.0 : curve.front().first;
    // Room for the projection: up to its late end, at most ten times the history's length.
    double end = now;
    const auto& x = g.exhaustion;
    if (!x.exhausted && x.date) end = std::max(end, x.latest.value_or(*x.date));
    end = std::min(end, now + 10.0 * std::max(now - start, 3600.0));
    if (end <= start) end = start + 3600.0;
    const double axis_top = frame(cr, f, fmt::format("Allocation burn-down: grant {}", g.name), "core-hours",
                                  std::max(allocation, used) * 1.05);
    auto px = [&](double t) { return f.x0() + (f.x1() - f.x0()) * (t - start) / (end - start); };
    auto py = [&](double v) { return f.y0() - (f.y0() - f.y1()) * v / axis_top; };
    // Time ticks.
    font(cr, 11);
    const bool with_time = end - start < 3 * 86400.0;
    for (int i = 0; i <= 4; ++i) {
      const double t = start + (end - start) * i / 4.0;
      color(cr, kInk);
      cairo_move_to(cr, px(t), f.y0());
      cairo_line_to(cr, px(t), f.y0() + 4);
      cairo_stroke(cr);
      text(cr, px(t), f.y0() + 18, axis_time(t, with_time), i == 0 ? 0.0 : i == 4 ? 1.0 : 0.5);
    }
    text(cr, (f.x0() + f.x1()) / 2, f.y0() + 38, "time (UTC)", 0.5);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0(), f.y1(), f.x1() - f.x0(), f.y0() - f.y1());
    cairo_clip(cr);
    // The forecast band: from today's use to the allocation between the interval's ends.
    if (!x.exhausted && x.date && allocation > 0) {
      color(cr, kBlue, 0.15);
      cairo_move_to(cr, px(now), py(used));
      cairo_line_to(cr, px(x.earliest.value_or(*x.date)), py(allocation));
      cairo_line_to(cr, x.latest ? px(*x.latest) : f.x1() + 10, x.latest ? py(allocation) : py(used));
      cairo_close_path(cr);
      cairo_fill(cr);
      color(cr, kBlue);
      const double dash[] = {6.0, 4.0};
      cairo_set_dash(cr, dash, 2, 0);
      cairo_set_line_width(cr, 1.5);
      cairo_move_to(cr, px(now), py(used));
      cairo_line_to(cr, px(*x.date), py(allocation));
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
    }
    if (allocation > 0) {
      color(cr, kRed);
      cairo_set_line_width(cr, 1.5);
      const double dash[] = {3.0, 3.0};
      cairo_set_dash(cr, dash, 2, 0);
      cairo_move_to(cr, f.x0(), py(allocation));
      cairo_line_to(cr, f.x1(), py(allocation));
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
    }
    color(cr, kBlue);
    cairo_set_line_width(cr, 2.0);
    for (std::size_t i = 0; i < curve.size(); ++i) {
      if (i == 0) {
        cairo_move_to(cr, px(curve[i].first), py(curve[i].second));
      } else {
        cairo_line_to(cr, px(curve[i].first), py(curve[i].second));
      }
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    // Legend.
    font(cr, 11);
    double ly = f.y1() + 14;
    auto legend = [&](Rgb c, double alpha, const std::string& label) {
      color(cr, c, alpha);
      cairo_rectangle(cr, f.x0() + 10, ly - 9, 14, 10);
      cairo_fill(cr);
      color(cr, kInk);
      text(cr, f.x0() + 30, ly, label);
      ly += 16;
    };
    legend(kBlue, 1.0, fmt::format("used: {:.1f} core-h", used));
    if (allocation > 0) legend(kRed, 1.0, fmt::format("allocation: {:.1f} core-h", allocation));
    if (!x.exhausted && x.date) {
      legend(kBlue, 0.3, fmt::format("runs out {} (interval {} to {})", format_utc_date(*x.date),
                                     x.earliest ? format_utc_date(*x.earliest) : std::string("-"),
                                     x.latest ? format_utc_date(*x.latest) : std::string("never")));
    } else if (x.exhausted && x.date) {
      legend(kRed, 0.3, fmt::format("used up {}", format_utc_date(*x.date)));
    }
  };
}

// One scenario group's trajectories: its metric against the step, one line per member. The
// best `kNamedLines` by rank have a colour and a line in the legend (beside the plot, so it
// hides no line); the others are drawn thin and grey, counted in the legend.
constexpr std::size_t kNamedLines = 8;
constexpr Rgb kPalette[kNamedLines] = {{0.16, 0.40, 0.70}, {0.85, 0.37, 0.01}, {0.20, 0.55, 0.30}, {0.80, 0.20, 0.15},
                                       {0.46, 0.33, 0.65}, {0.55, 0.34, 0.29}, {0.85, 0.40, 0.65}, {0.40, 0.40, 0.40}};
constexpr Rgb kOthers{0.75, 0.75, 0.75};

Painter trajectory_chart(const ScenarioGroup& g, ChartSize size) {
  return [&g, size](cairo_t* cr) {
    Frame f;
    f.width = size.width;
    f.height = size.height;
    f.bottom = 60;
    f.right = 180;
    double low = 0, high = 0, first = 0, last = 0;
    bool any = false;
    for (const auto& m : g.members) {
      for (const auto& p : m.trajectory) {
        const auto step = static_cast<double>(p.step);
        low = any ? std::min(low, p.value) : p.value;
        high = any ? std::max(high, p.value) : p.value;
        first = any ? std::min(first, step) : step;
        last = any ? std::max(last, step) : step;
        any = true;
      }
    }
    // A flat line or one point still gets an axis around it.
    const double pad = high > low ? (high - low) * 0.05 : std::max(std::fabs(high) * 0.1, 1.0);
    std::string title = fmt::format("{} by step ({} is better): {}/{}", g.metric, g.maximise ? "higher" : "lower",
                                    g.campaign, g.name);
    const ValueAxis axis = frame(cr, f, shorten(title, 90), g.metric, low - pad, high + pad);
    if (last <= first) {  // one step: in the middle
      first = std::max(0.0, first - 1.0);
      last = first + 2.0;
    }
    // A margin inside the axes, so the first and last values' dots are whole.
    auto px = [&](double step) { return f.x0() + 6 + (f.x1() - f.x0() - 12) * (step - first) / (last - first); };
    font(cr, 11);
    color(cr, kInk);
    const double x_step = std::max(1.0, tick_step(last - first, 6));
    for (double x = std::ceil(first / x_step) * x_step; x <= last + x_step * 1e-9; x += x_step) {
      cairo_move_to(cr, px(x), f.y0());
      cairo_line_to(cr, px(x), f.y0() + 4);
      cairo_stroke(cr);
      text(cr, px(x), f.y0() + 18, tick_label(x, x_step), 0.5);
    }
    text(cr, (f.x0() + f.x1()) / 2, f.y0() + 38, "step", 0.5);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0(), f.y1(), f.x1() - f.x0(), f.y0() - f.y1());
    cairo_clip(cr);
    // The others first, so the named lines are drawn over them.
    for (std::size_t pass = 0; pass < 2; ++pass) {
      for (std::size_t i = 0; i < g.members.size(); ++i) {
        const bool named = i < kNamedLines;
        if (named != (pass == 1)) continue;
        const auto& t = g.members[i].trajectory;
        color(cr, named ? kPalette[i] : kOthers);
        cairo_set_line_width(cr, named ? 2.0 : 1.0);
        for (std::size_t k = 0; k < t.size(); ++k) {
          const double x = px(static_cast<double>(t[k].step));
          const double y = axis.y(f, t[k].value);
          if (k == 0) {
            cairo_move_to(cr, x, y);
          } else {
            cairo_line_to(cr, x, y);
          }
        }
        cairo_stroke(cr);
        if (named && t.size() <= 40) {  // the values themselves, while they do not crowd the line
          for (const auto& p : t) {
            cairo_arc(cr, px(static_cast<double>(p.step)), axis.y(f, p.value), 2.5, 0, 2 * std::numbers::pi);
            cairo_fill(cr);
          }
        }
      }
    }
    cairo_restore(cr);
    // Legend, by rank.
    font(cr, 11);
    double ly = f.y1() + 10;
    const double lx = f.x1() + 12;
    for (std::size_t i = 0; i < g.members.size() && i < kNamedLines; ++i) {
      color(cr, kPalette[i]);
      cairo_rectangle(cr, lx, ly - 9, 14, 10);
      cairo_fill(cr);
      color(cr, kInk);
      text(cr, lx + 20, ly, shorten(fmt::format("{}. {}", g.members[i].rank, g.members[i].stage), 22));
      ly += 16;
    }
    if (g.members.size() > kNamedLines) {
      color(cr, kOthers);
      cairo_rectangle(cr, lx, ly - 9, 14, 10);
      cairo_fill(cr);
      color(cr, kInk);
      text(cr, lx + 20, ly, fmt::format("{} more", g.members.size() - kNamedLines));
    }
  };
}

}  // namespace

std::string file_stem(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
    out += safe ? c : '_';
  }
  return out.empty() ? std::string("_") : out;
}

std::vector<ChartFile> draw_charts(const Report& report, ChartSize size) {
  std::vector<ChartFile> out;
  auto add = [&](std::string name, std::string title, const Painter& paint) {
    ChartFile c;
    c.name = std::move(name);
    c.title = std::move(title);
    c.svg = draw_svg(paint, size, c.name);
    c.png = draw_png(paint, size, c.name);
    out.push_back(std::move(c));
  };
  for (const auto& g : report.grants) {
    if (!g.allocation_core_hours || g.history.intervals.empty()) continue;
    std::string name = "burndown-";
    name += file_stem(g.name);
    add(name, fmt::format("Allocation burn-down of grant {}", g.name), burndown_chart(g, report.as_of, size));
  }
  std::vector<Bar> projects;
  for (const auto& p : report.projects) {
    if (p.core_hours > 0) projects.push_back({p.name, p.core_hours});
  }
  if (!projects.empty()) {
    add("core-hours-by-project", "Core-hours per project",
        bar_chart("Core-hours per project", "core-hours", projects, size, kBlue));
  }
  std::vector<Bar> scenarios;
  std::vector<Bar> sypd;
  for (const auto& s : report.scenarios) {
    if (s.core_hours > 0) scenarios.push_back({s.name, s.core_hours});
    if (s.sypd) sypd.push_back({s.name, *s.sypd});
  }
  if (!scenarios.empty()) {
    add("core-hours-by-scenario", "Core-hours per scenario",
        bar_chart("Core-hours per scenario", "core-hours", scenarios, size, kGreen));
  }
  if (!sypd.empty()) {
    add("sypd-by-scenario", "SYPD per scenario",
        bar_chart("Simulated years per day (SYPD) per scenario", "SYPD", sypd, size, kGreen));
  }
  std::set<std::string> names;
  for (const auto& g : report.rankings) {
    if (std::none_of(g.members.begin(), g.members.end(), [](const auto& m) { return !m.trajectory.empty(); })) continue;
    std::string name = "trajectories-";
    name += file_stem(g.campaign);
    name += '-';
    name += file_stem(g.name);
    // Two groups whose names differ only in characters a file name cannot hold stay two files.
    const std::string stem = name;
    for (int n = 2; !names.insert(name).second; ++n) name = fmt::format("{}-{}", stem, n);
    add(name, fmt::format("{} by step: {}/{}", g.metric, g.campaign, g.name), trajectory_chart(g, size));
  }
  return out;
}

void write_charts(const std::vector<ChartFile>& charts, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw ReportError(fmt::format("{}: cannot create the charts folder: {}", dir.string(), ec.message()));
  for (const auto& c : charts) {
    for (const auto& [extension, bytes] : {std::pair{".svg", &c.svg}, std::pair{".png", &c.png}}) {
      std::string leaf = c.name;
      leaf += extension;
      const auto path = dir / leaf;
      std::ofstream file(path, std::ios::binary | std::ios::trunc);
      file.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
      file.close();
      if (!file) throw ReportError(fmt::format("{}: cannot write the chart", path.string()));
    }
  }
}

}  // namespace perennial::accounting
