#pragma once
// What every report chart is drawn with: a painter run once on an SVG and once on a PNG
// surface (deterministic bytes, see charts.hpp), and the page layout they share (title,
// value axis with grid lines, fonts, colours). Internal to perennial_report.

#include <perennial/accounting/charts.hpp>

#include <cairo.h>

#include <functional>
#include <string>

namespace perennial::accounting::detail {

using Painter = std::function<void(cairo_t*)>;

/// The painter's drawing as an SVG 1.1 document / PNG bytes; throw ReportError naming `what`.
std::string draw_svg(const Painter& paint, ChartSize size, const std::string& what);
std::string draw_png(const Painter& paint, ChartSize size, const std::string& what);

struct Rgb {
  double r, g, b;
};
inline constexpr Rgb kInk{0.15, 0.15, 0.15};
inline constexpr Rgb kGrid{0.85, 0.85, 0.85};
inline constexpr Rgb kBlue{0.16, 0.40, 0.70};
inline constexpr Rgb kRed{0.80, 0.20, 0.15};
inline constexpr Rgb kGreen{0.20, 0.55, 0.30};

void color(cairo_t* cr, Rgb c, double alpha = 1.0);
void font(cairo_t* cr, double size, bool bold = false);
double text_width(cairo_t* cr, const std::string& text);
/// Text at (x, y) (its baseline), aligned left (0), centred (0.5) or right (1).
void text(cairo_t* cr, double x, double y, const std::string& s, double align = 0.0);
/// Round tick steps: 1, 2 or 5 x 10^k, about `count` of them over [0, top].
double tick_step(double top, int count);
std::string tick_label(double v, double step);
/// `s` cut to `n` characters, the last one `~` when cut.
std::string shorten(const std::string& s, std::size_t n);

struct Frame {
  double left = 80, right = 24, top = 48, bottom = 90;
  double width = 0, height = 0;  // of the whole chart
  double x0() const { return left; }
  double x1() const { return width - right; }
  double y0() const { return height - bottom; }  // the axis
  double y1() const { return top; }
};

/// The value axis drawn: from `low` to `high` at round ticks.
struct ValueAxis {
  double low = 0.0;
  double high = 1.0;
  double y(const Frame& f, double v) const { return f.y0() - (f.y0() - f.y1()) * (v - low) / (high - low); }
};

/// White page, title, the value axis over [low, high] (widened to round ticks) with grid lines.
ValueAxis frame(cairo_t* cr, const Frame& f, const std::string& title, const std::string& y_label, double low, double high);
/// The same from 0; returns the top of the axis.
double frame(cairo_t* cr, const Frame& f, const std::string& title, const std::string& y_label, double top);

}  // namespace perennial::accounting::detail
