#pragma once
// The accounting report's charts, drawn with cairo as SVG and PNG: the allocation burn-down of
// each grant with an allocation (cumulative core-hours against the allocation line, with the
// projected exhaustion and its interval as a band), core-hours per project and per scenario,
// SYPD per scenario, and each ranked scenario group's metric against the step. Deterministic: the same Report gives the same bytes (cairo writes no
// time; the one id it numbers per process, the SVG's root group, is normalised; glyphs are
// drawn as paths from the fonts installed, DejaVu Sans when present, so another machine's
// fonts give other bytes).

#include <perennial/accounting/report.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace perennial::accounting {

/// One chart, drawn both ways.
struct ChartFile {
  std::string name;   ///< file stem: `burndown-NSF-1`, `core-hours-by-project`, `trajectories-CAMPAIGN-GROUP`...
  std::string title;
  std::string svg;    ///< an SVG 1.1 document
  std::string png;    ///< a PNG file's bytes
};

/// Where a chart's files are, for a text that links them.
struct ChartLink {
  std::string title;
  std::string svg_path;
  std::string png_path;
};

struct ChartSize {
  int width = 800;   ///< pixels (PNG) and points (SVG)
  int height = 450;
};

/// The charts the report has data for (a bar chart without bars is left out).
std::vector<ChartFile> draw_charts(const Report& report, ChartSize size = {});

/// Writes `<dir>/<name>.svg` and `.png` of each chart, creating `dir`; throws ReportError
/// naming a file it cannot write.
void write_charts(const std::vector<ChartFile>& charts, const std::filesystem::path& dir);

/// `name` made safe for a file name: letters, digits, `.`, `_`, `-`; others become `_`.
std::string file_stem(const std::string& name);

}  // namespace perennial::accounting
