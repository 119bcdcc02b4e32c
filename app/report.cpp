// `perennial report DIR...`: the accounting report of one or more campaigns' output folders.

#include "commands.hpp"

#include <perennial/accounting/charts.hpp>
#include <perennial/accounting/report.hpp>
#include <perennial/accounting/report_format.hpp>
#include <perennial/campaign_loader.hpp>

#include <fmt/format.h>

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
