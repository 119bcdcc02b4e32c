#pragma once
// The report as the renderers see it before it is Markdown or HTML: sections of paragraphs, a
// table and bullets; and the number formats every renderer shares, so a figure prints the
// same in each section. Internal to perennial_report (report_format.cpp, report_rankings.cpp).

#include <perennial/accounting/report.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace perennial::accounting::detail {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Section {
  std::string title;
  std::vector<std::string> before;  // paragraphs
  Table table;
  std::vector<std::string> bullets;
  std::vector<std::string> after;
};

// To 6 significant digits: figures from sums of floats, printed the same however they were
// summed to the last bit, and short.
inline double significant(double x) {
  if (x == 0.0 || !std::isfinite(x)) return x;
  const double scale = std::pow(10.0, 5 - static_cast<int>(std::floor(std::log10(std::fabs(x)))));
  return std::round(x * scale) / scale;
}
inline nlohmann::json number(double x) { return significant(x); }
inline nlohmann::json number(const std::optional<double>& x) {
  return x ? nlohmann::json(significant(*x)) : nlohmann::json(nullptr);
}
inline std::string hours(double x) { return fmt::format("{:.2f}", x); }
inline std::string hours(const std::optional<double>& x) { return x ? hours(*x) : std::string("-"); }
inline std::string sig(const std::optional<double>& x, int digits = 4) {
  return x ? fmt::format("{:.{}g}", *x, digits) : std::string("-");
}
inline std::string csv_number(double x) { return fmt::format("{:.6g}", x); }
inline std::string csv_number(const std::optional<double>& x) { return x ? csv_number(*x) : std::string(); }

/// The scenario rankings (Report::rankings): one section per scenario group, none without.
std::vector<Section> ranking_sections(const Report& r);
/// Their CSV rows: section, grant, project, name, metric, value.
std::vector<std::array<std::string, 6>> ranking_csv_rows(const Report& r);
/// Their JSON: an array of groups, empty without.
nlohmann::json ranking_json(const Report& r);

}  // namespace perennial::accounting::detail
