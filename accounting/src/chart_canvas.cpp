#include "chart_canvas.hpp"

#include <cairo-svg.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>

namespace perennial::accounting::detail {

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

}  // namespace

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

void color(cairo_t* cr, Rgb c, double alpha) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha); }

void font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, text.c_str(), &e);
  return e.x_advance;
}

void text(cairo_t* cr, double x, double y, const std::string& s, double align) {
  cairo_move_to(cr, x - align * text_width(cr, s), y);
  cairo_show_text(cr, s.c_str());
}

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

ValueAxis frame(cairo_t* cr, const Frame& f, const std::string& title, const std::string& y_label, double low, double high) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  color(cr, kInk);
  font(cr, 15, true);
  text(cr, f.width / 2, 28, title, 0.5);
  const double step = tick_step(high - low, 5);
  ValueAxis axis;
  axis.low = std::floor(low / step + 1e-9) * step;
  axis.high = std::max(axis.low + step, std::ceil(high / step - 1e-9) * step);
  font(cr, 11);
  cairo_set_line_width(cr, 1.0);
  const auto ticks = static_cast<int>(std::lround((axis.high - axis.low) / step));
  for (int i = 0; i <= ticks; ++i) {
    double v = axis.low + step * i;
    if (std::fabs(v) < step * 1e-9) v = 0.0;  // not -0 after rounding
    const double y = axis.y(f, v);
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
  return axis;
}

double frame(cairo_t* cr, const Frame& f, const std::string& title, const std::string& y_label, double top) {
  return frame(cr, f, title, y_label, 0.0, top).high;
}

std::string shorten(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  std::string out = s.substr(0, n - 1);
  out += '~';
  return out;
}

}  // namespace perennial::accounting::detail
