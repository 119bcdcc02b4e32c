#pragma once
// The accounting report as text: Markdown, CSV, JSON or HTML, byte for byte the same for the
// same Report (fixed number formats, fixed order, no current time). docs/reports.md says
// what each section means and how the CSV is laid out.

#include <perennial/accounting/charts.hpp>
#include <perennial/accounting/report.hpp>

#include <optional>
#include <string>
#include <vector>

namespace perennial::accounting {

enum class ReportFormat { markdown, csv, json, html };

/// `md` (or `markdown`), `csv`, `json`, `html`; absent for anything else.
std::optional<ReportFormat> parse_report_format(const std::string& text);

/// Markdown. `chart_links`: where the charts' files are, as the text should link them.
std::string render_markdown(const Report& report, const std::vector<ChartLink>& chart_links = {});
/// CSV in long form: one header `section,grant,project,name,metric,value` and one row per
/// figure (RFC 4180 quoting); an unknown figure has an empty value.
std::string render_csv(const Report& report);
/// JSON (keys sorted, numbers to 6 significant digits, unix times to the millisecond, null
/// where unknown): `projects`, `grants`, `scenarios`, `scenario_rankings`, `stages`, `efficiency`,
/// `recommendations`, `notes` and the report's `as_of`, window and sources.
std::string render_json(const Report& report);
/// One self-contained HTML page; `charts` are embedded as SVG images.
std::string render_html(const Report& report, const std::vector<ChartFile>& charts);

}  // namespace perennial::accounting
