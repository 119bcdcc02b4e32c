#include <perennial/accounting/charts.hpp>

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <numbers>

namespace perennial::accounting {

namespace {

// ---- cairo handles ---------------------------------------------------------------------------

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Context = std::unique_ptr<cairo_t, ContextDeleter>;

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t status, const std::string& what) {
  if (status != CAIRO_STATUS_SUCCESS) {
    throw ReportError(fmt::format("cairo could not draw {}: {}", what, cairo_status_to_string(status)));
  }
}

using Painter = std::function<void(cairo_t*)>;

// cairo (1.16) names the SVG's root group after the surface's serial number, a counter of
// every surface the process created: `<g id="surface6">` for the same drawing made after
// five others. Nothing refers to that id unless a surface is painted as a pattern (the
// charts never do), so it is set to `surface1`, as a process's first drawing has it: the
// same chart is then the same bytes in whatever order, or process, it is drawn.
std::string without_surface_serial(std::string svg) {
  const std::string open = "<g id=\"surface";
  const auto at = svg.find(open);
  if (at == std::string::npos) return svg;
  const auto digits = at + open.size();
  auto end = digits;
  while (end < svg.size() && svg[end] >= '0' && svg[end] <= '9') ++end;
  if (end == digits || end >= svg.size() || svg[end] != '"') return svg;
  std::string reference = "#surface";
  reference.append(svg.data() + digits, end - digits);
  for (auto ref = svg.find(reference); ref != std::string::npos; ref = svg.find(reference, ref + 1)) {
    const auto after = ref + reference.size();
    if (after >= svg.size() || svg[after] < '0' || svg[after] > '9') return svg;  // referred to: leave it
  }
  std::string out;
  out.reserve(svg.size());
  out.append(svg.data(), digits);
  out += '1';
  out.append(svg.data() + end, svg.size() - end);
  return out;
}

std::string draw_svg(const Painter& paint, ChartSize size, const std::string& what) {
  std::string out;
  Surface surface(cairo_svg_surface_create_for_stream(append, &out, size.width, size.height));
  check(cairo_surface_status(surface.get()), what);
  cairo_svg_surface_restrict_to_version(surface.get(), CAIRO_SVG_VERSION_1_1);
  {
    Context cr(cairo_create(surface.get()));
    paint(cr.get());
    check(cairo_status(cr.get()), what);
  }
  cairo_surface_finish(surface.get());
  check(cairo_surface_status(surface.get()), what);
  return without_surface_serial(std::move(out));
}

std::string draw_png(const Painter& paint, ChartSize size, const std::string& what) {
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, size.width, size.height));
  check(cairo_surface_status(surface.get()), what);
  {
    Context cr(cairo_create(surface.get()));
    paint(cr.get());
    check(cairo_status(cr.get()), what);
  }
  cairo_surface_flush(surface.get());
  std::string out;
  check(cairo_surface_write_to_png_stream(surface.get(), append, &out), what);
  return out;
}

// ---- layout -----------------------------------------------------------------------------------

struct Rgb {
  double r, g, b;
};
constexpr Rgb kInk{0.15, 0.15, 0.15};
constexpr Rgb kGrid{0.85, 0.85, 0.85};
constexpr Rgb kBlue{0.16, 0.40, 0.70};
constexpr Rgb kRed{0.80, 0.20, 0.15};
constexpr Rgb kGreen{0.20, 0.55, 0.30};

void color(cairo_t* cr, Rgb c, double alpha = 1.0) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha); }

void font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, text.c_str(), &e);
  return e.x_advance;
}

// Text at (x, y) (its baseline), aligned left (0), centred (0.5) or right (1).
void text(cairo_t* cr, double x, double y, const std::string& s, double align = 0.0) {
  cairo_move_to(cr, x - align * text_width(cr, s), y);
  cairo_show_text(cr, s.c_str());
}

// Round tick steps: 1, 2 or 5 x 10^k, about `count` of them over [0, top].
double tick_step(double top, int count) {
  if (top <= 0) return 1.0;
  const double raw = top / count;
  const double base = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * base >= raw) return m * base;
  }
  return 10.0 * base;
}

std::string tick_label(double v, double step) {
  if (step >= 1.0 || v == 0.0) return fmt::format("{:.0f}", v);
  const int decimals = std::min(6, static_cast<int>(std::ceil(-std::log10(step))));
  return fmt::format("{:.{}f}", v, decimals);
}

struct Frame {
  double left = 80, right = 24, top = 48, bottom = 90;
  double width = 0, height = 0;  // of the whole chart
  double x0() const { return left; }
  double x1() const { return width - right; }
  double y0() const { return height - bottom; }  // the axis
  double y1() const { return top; }
};

// White page, title, the value axis from 0 to `top` with grid lines; returns the top of the axis.
double frame(cairo_t* cr, const Frame& f, const std::string& title, const std::string& y_label, double top) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  color(cr, kInk);
  font(cr, 15, true);
  text(cr, f.width / 2, 28, title, 0.5);
  const double step = tick_step(top, 5);
  const double axis_top = std::max(step, std::ceil(top / step - 1e-9) * step);
  font(cr, 11);
  cairo_set_line_width(cr, 1.0);
  for (double v = 0; v <= axis_top + step / 2; v += step) {
    const double y = f.y0() - (f.y0() - f.y1()) * v / axis_top;
    color(cr, kGrid);
    cairo_move_to(cr, f.x0(), y);
    cairo_line_to(cr, f.x1(), y);
    cairo_stroke(cr);
    color(cr, kInk);
    text(cr, f.x0() - 6, y + 4, tick_label(v, step), 1.0);
  }
  color(cr, kInk);
  cairo_move_to(cr, f.x0(), f.y1());
  cairo_line_to(cr, f.x0(), f.y0());
  cairo_line_to(cr, f.x1(), f.y0());
  cairo_stroke(cr);
  cairo_save(cr);
  cairo_translate(cr, 18, (f.y0() + f.y1()) / 2);
  cairo_rotate(cr, -std::numbers::pi / 2);
  text(cr, 0, 0, y_label, 0.5);
  cairo_restore(cr);
  return axis_top;
}

std::string shorten(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  std::string out = s.substr(0, n - 1);
  out += '~';
  return out;
}

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
