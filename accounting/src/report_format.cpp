#include <perennial/accounting/report_format.hpp>

#include "report_document.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace perennial::accounting {

namespace {

using namespace detail;
using Json = nlohmann::json;

// ---- numbers ---------------------------------------------------------------------------

Json unix_time(const std::optional<double>& t) { return t ? Json(std::round(*t * 1000.0) / 1000.0) : Json(nullptr); }
Json text_or_null(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

std::string share(double x) {
  const double p = 100.0 * x;
  return p > 0.0 && p < 1.0 ? fmt::format("{:.2g}%", p) : fmt::format("{:.1f}%", p);
}
std::string share(const std::optional<double>& x) { return x ? share(*x) : std::string("-"); }
std::string date(const std::optional<double>& t) { return t ? format_utc_date(*t) : std::string("-"); }
std::string kwh(const std::optional<double>& joules) {
  return joules ? fmt::format("{:.3f} kWh", *joules / 3.6e6) : std::string("unavailable");
}

std::string interval_text(const AllocationUse& u) {
  const auto& x = u.exhaustion;
  if (x.exhausted || !x.date) return "-";
  if (u.burn.days < 2 && !x.projected_core_hours) return "under 2 days of use";
  return fmt::format("{} to {}", date(x.earliest), x.latest ? format_utc_date(*x.latest) : std::string("never"));
}

std::string runs_out_text(const AllocationUse& u) {
  if (!u.allocation_core_hours) return "no allocation";
  if (u.exhaustion.exhausted) return fmt::format("used up {}", date(u.exhaustion.date));
  return date(u.exhaustion.date);
}

std::string energy_text(const Efficiency& e) {
  if (e.segments == 0) return "-";
  if (e.energy_joules) return kwh(e.energy_joules);
  return fmt::format("unavailable ({} of {} segment(s) unmeasured)", e.energy_unknown_segments, e.segments);
}

std::string sources_text(const Efficiency& e) {
  std::string out;
  for (const auto& [source, count] : e.energy_sources) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: {}", source, count);
  }
  return out.empty() ? std::string("-") : out;
}

std::string window_text(const ReportWindow& w) {
  if (!w.from && !w.to) return "everything recorded";
  return fmt::format("from {} to {}", w.from ? format_utc_time(*w.from) : std::string("the first record"),
                     w.to ? format_utc_time(*w.to) : std::string("the last"));
}

std::string stage_name(const StageReport& st) {
  if (st.campaign.empty()) return st.name;
  std::string out = st.campaign;
  out += '/';
  out += st.name;
  return out;
}

// ---- one document, rendered as Markdown or HTML ---------------------------------------------

// How the exhaustion dates were found: each grant's method, once when they agree.
std::string exhaustion_method(const Report& r) {
  std::vector<std::pair<std::string, std::string>> methods;  // grant, method
  for (const auto& g : r.grants) {
    if (g.exhaustion.date && !g.exhaustion.method.empty()) methods.emplace_back(g.name, g.exhaustion.method);
  }
  if (methods.empty()) return "no grant has an allocation and use to project from";
  const bool same = std::all_of(methods.begin(), methods.end(), [&](const auto& m) { return m.second == methods[0].second; });
  if (same) return methods[0].second;
  std::string out;
  for (const auto& [grant, method] : methods) {
    if (!out.empty()) out += "; ";
    out += grant;
    out += ": ";
    out += method;
  }
  return out;
}

std::vector<Section> document(const Report& r) {
  std::vector<Section> out;
  {
    Section s;
    s.title = "Accounting report";
    s.before.push_back(fmt::format("As of {} (the newest segment end). Window: {}.",
                                   r.as_of ? format_utc_time(*r.as_of) : std::string("- (no use recorded)"),
                                   window_text(r.options.window)));
    std::string filters;
    if (r.options.project) filters += fmt::format("project {}", *r.options.project);
    if (r.options.grant) filters += fmt::format("{}grant {}", filters.empty() ? "" : ", ", *r.options.grant);
    s.before.push_back(fmt::format("Projects: {}. Calendar: {} ({} days a year). Node MTBF for the checkpoint advice: {}.",
                                   filters.empty() ? std::string("all") : filters, r.calendar, r.days_per_year,
                                   format_duration(r.options.node_mtbf_seconds)));
    s.table.header = {"folder", "campaign", "runs", "segments"};
    for (const auto& src : r.sources) {
      s.table.rows.push_back({src.folder, src.campaign, std::to_string(src.runs), std::to_string(src.segments)});
    }
    out.push_back(std::move(s));
  }
  auto use_row = [](const AllocationUse& u) {
    return std::vector<std::string>{hours(u.allocation_core_hours),
                                    hours(u.used_to_date_core_hours),
                                    u.allocation_core_hours ? share(u.used_to_date_core_hours / *u.allocation_core_hours)
                                                            : std::string("-"),
                                    hours(u.core_hours),
                                    hours(u.node_hours),
                                    hours(u.gpu_hours),
                                    sig(u.burn.last_7_days),
                                    sig(u.burn.overall),
                                    runs_out_text(u),
                                    interval_text(u)};
  };
  const std::vector<std::string> use_header = {"allocation (core-h)", "used to date (core-h)", "used", "core-h",
                                               "node-h", "GPU-h", "core-h/day, last 7 d", "core-h/day, all",
                                               "runs out", "interval"};
  {
    Section s;
    s.title = "Grants";
    s.before.push_back(fmt::format("Core-hours are allocated ones (wall time x reserved cores), in the window; \"used to "
                                   "date\" counts everything up to its end against the allocation. A grant's allocation "
                                   "is the sum of its projects'. Runs out: {}.",
                                   exhaustion_method(r)));
    s.table.header = {"grant", "projects"};
    s.table.header.insert(s.table.header.end(), use_header.begin(), use_header.end());
    for (const auto& g : r.grants) {
      std::string projects;
      for (const auto& p : g.projects) {
        if (!projects.empty()) projects += ", ";
        projects += p;
      }
      std::vector<std::string> row = {g.name, projects};
      const auto rest = use_row(g);
      row.insert(row.end(), rest.begin(), rest.end());
      s.table.rows.push_back(std::move(row));
    }
    out.push_back(std::move(s));
  }
  {
    Section s;
    s.title = "Projects";
    s.table.header = {"project", "grant"};
    s.table.header.insert(s.table.header.end(), use_header.begin(), use_header.end());
    for (const auto& p : r.projects) {
      std::vector<std::string> row = {p.name, p.grant};
      const auto rest = use_row(p);
      row.insert(row.end(), rest.begin(), rest.end());
      s.table.rows.push_back(std::move(row));
    }
    out.push_back(std::move(s));
  }
  {
    Section s;
    s.title = "Scenarios";
    s.before.push_back("CPMIP figures: SYPD simulated years per day of running, ASYPD the same over the whole time "
                       "from first submission (queue waits and recovery included), CHSY core-hours per simulated "
                       "year, JPSY joules per simulated year. \"-\": the kernels do not advance model time, or the "
                       "figure is unknown.");
    s.table.header = {"scenario", "core-h", "simulated years", "SYPD", "ASYPD", "CHSY", "JPSY", "segments"};
    for (const auto& f : r.scenarios) {
      s.table.rows.push_back({f.name, hours(f.core_hours), sig(f.simulated_years), sig(f.sypd), sig(f.asypd),
                              sig(f.chsy), sig(f.jpsy), std::to_string(f.segments)});
    }
    out.push_back(std::move(s));
  }
  for (auto& s : ranking_sections(r)) out.push_back(std::move(s));
  {
    Section s;
    s.title = "Stages";
    s.before.push_back("Checkpoint every: the median gap between consecutive commits of one segment; cost: the "
                       "median commit time.");
    s.table.header = {"stage", "project", "scenario", "core-h", "segments", "SYPD", "CHSY", "reserved use",
                      "checkpoint share", "checkpoint every", "checkpoint cost"};
    for (const auto& st : r.stages) {
      s.table.rows.push_back({stage_name(st), st.project, st.scenario, hours(st.figures.core_hours),
                              std::to_string(st.figures.segments), sig(st.figures.sypd), sig(st.figures.chsy),
                              share(st.reserved_use), share(st.figures.checkpoint_share),
                              st.checkpoint_interval_seconds ? format_duration(*st.checkpoint_interval_seconds) : "-",
                              st.checkpoint_cost_seconds ? format_duration(*st.checkpoint_cost_seconds) : "-"});
    }
    out.push_back(std::move(s));
  }
  {
    Section s;
    s.title = "Efficiency";
    s.before.push_back("Reserved use: CPU-hours / core-hours over the segments whose CPU use is known. Checkpoints: "
                       "share of core-hours spent writing checkpoints. Recomputed: core-hours of steps computed again "
                       "after a failure, a lost epoch or a preemption. Energy: known only when every segment's is.");
    s.table.header = {"project", "core-h", "reserved use", "checkpoints", "recomputed (core-h)", "recomputed",
                      "queue wait (h)", "longest wait", "energy", "energy sources (segments)"};
    auto row = [](const std::string& name, const Efficiency& e) {
      return std::vector<std::string>{name,
                                      hours(e.core_hours),
                                      share(e.reserved_use),
                                      share(e.checkpoint_share),
                                      hours(e.lost_core_hours),
                                      share(e.lost_share),
                                      hours(e.queue_wait_hours),
                                      format_duration(e.max_queue_wait_seconds),
                                      energy_text(e),
                                      sources_text(e)};
    };
    for (const auto& p : r.projects) s.table.rows.push_back(row(p.name, p.efficiency));
    s.table.rows.push_back(row("(all)", r.total));
    out.push_back(std::move(s));
  }
  {
    Section s;
    s.title = "Recommendations";
    for (const auto& rec : r.recommendations) s.bullets.push_back(rec.text);
    if (s.bullets.empty()) s.before.push_back("None: nothing in the data calls for a change.");
    out.push_back(std::move(s));
  }
  if (!r.notes.empty()) {
    Section s;
    s.title = "Notes";
    s.bullets = r.notes;
    out.push_back(std::move(s));
  }
  return out;
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// <tag>text</tag>, escaped, then a new line when `line`.
void element(std::string& out, const char* tag, const std::string& text, bool line = true) {
  out += '<';
  out += tag;
  out += '>';
  out += html_escape(text);
  out += "</";
  out += tag;
  out += '>';
  if (line) out += '\n';
}

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += digits[v >> 18 & 63];
    out += digits[v >> 12 & 63];
    out += digits[v >> 6 & 63];
    out += digits[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += digits[v >> 18 & 63];
    out += digits[v >> 12 & 63];
    out += i + 1 < bytes.size() ? digits[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// ---- CSV -----------------------------------------------------------------------------------

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

struct Csv {
  std::string text = "section,grant,project,name,metric,value\n";
  void row(const std::string& section, const std::string& grant, const std::string& project, const std::string& name,
           const std::string& metric, const std::string& value) {
    for (const auto* field : {&section, &grant, &project, &name, &metric}) {
      text += csv_field(*field);
      text += ',';
    }
    text += csv_field(value);
    text += '\n';
  }
};

std::string csv_time(const std::optional<double>& t) { return t ? fmt::format("{:.0f}", *t) : std::string(); }

void csv_use(Csv& csv, const std::string& section, const std::string& grant, const std::string& project,
             const AllocationUse& u) {
  auto put = [&](const char* metric, const std::string& value) { csv.row(section, grant, project, u.name, metric, value); };
  put("allocation_core_hours", csv_number(u.allocation_core_hours));
  put("core_hours", csv_number(u.core_hours));
  put("used_to_date_core_hours", csv_number(u.used_to_date_core_hours));
  put("node_hours", csv_number(u.node_hours));
  put("gpu_hours", csv_number(u.gpu_hours));
  put("burn_core_hours_per_day_last_7_days", csv_number(u.burn.last_7_days));
  put("burn_core_hours_per_day_overall", csv_number(u.burn.overall));
  put("daily_use_p25", csv_number(u.burn.daily_p25));
  put("daily_use_p75", csv_number(u.burn.daily_p75));
  put("exhausted", u.exhaustion.exhausted ? "true" : "false");
  put("exhaustion_unix", csv_time(u.exhaustion.date));
  put("exhaustion_earliest_unix", csv_time(u.exhaustion.earliest));
  put("exhaustion_latest_unix", csv_time(u.exhaustion.latest));
}

void csv_efficiency(Csv& csv, const std::string& grant, const std::string& project, const Efficiency& e) {
  auto put = [&](const char* metric, const std::string& value) {
    csv.row("efficiency", grant, project, project.empty() ? "(all)" : project, metric, value);
  };
  put("core_hours", csv_number(e.core_hours));
  put("reserved_use", csv_number(e.reserved_use));
  put("checkpoint_share", csv_number(e.checkpoint_share));
  put("lost_core_hours", csv_number(e.lost_core_hours));
  put("lost_share", csv_number(e.lost_share));
  put("queue_wait_hours", csv_number(e.queue_wait_hours));
  put("energy_joules", csv_number(e.energy_joules));
  put("energy_unknown_segments", std::to_string(e.energy_unknown_segments));
}

// ---- JSON ----------------------------------------------------------------------------------

Json burn_json(const BurnRate& b) {
  return {{"last_7_days_core_hours_per_day", number(b.last_7_days)},
          {"last_7_days_span_days", number(b.last_7_days_span_days)},
          {"overall_core_hours_per_day", number(b.overall)},
          {"daily_p25_core_hours", number(b.daily_p25)},
          {"daily_p75_core_hours", number(b.daily_p75)},
          {"days", b.days}};
}

Json exhaustion_json(const ExhaustionForecast& x) {
  return {{"date_unix", unix_time(x.date)},
          {"date", x.date ? Json(format_utc_date(*x.date)) : Json(nullptr)},
          {"interval_unix", Json::array({unix_time(x.earliest), unix_time(x.latest)})},
          {"exhausted", x.exhausted},
          {"remaining_core_hours", number(x.remaining_core_hours)},
          {"method", x.method},
          {"projected_core_hours", number(x.projected_core_hours)},
          {"projected_interval", Json::array({number(x.projected_low), number(x.projected_high)})},
          {"campaign_end_unix", unix_time(x.campaign_end)}};
}

Json use_json(const AllocationUse& u) {
  return {{"name", u.name},
          {"grant", u.grant},
          {"allocation_core_hours", number(u.allocation_core_hours)},
          {"core_hours", number(u.core_hours)},
          {"used_to_date_core_hours", number(u.used_to_date_core_hours)},
          {"node_hours", number(u.node_hours)},
          {"gpu_hours", number(u.gpu_hours)},
          {"burn_rate", burn_json(u.burn)},
          {"exhaustion", u.allocation_core_hours ? exhaustion_json(u.exhaustion) : Json(nullptr)}};
}

Json efficiency_json(const Efficiency& e) {
  Json sources = Json::object();
  for (const auto& [source, count] : e.energy_sources) sources[source] = count;
  return {{"segments", e.segments},
          {"core_hours", number(e.core_hours)},
          {"reserved_use", number(e.reserved_use)},
          {"cpu_unknown_segments", e.cpu_unknown_segments},
          {"checkpoint_core_hours", number(e.checkpoint_core_hours)},
          {"checkpoint_share", number(e.checkpoint_share)},
          {"lost_core_hours", number(e.lost_core_hours)},
          {"lost_steps", e.lost_steps},
          {"lost_share", number(e.lost_share)},
          {"queue_wait_hours", number(e.queue_wait_hours)},
          {"max_queue_wait_seconds", number(e.max_queue_wait_seconds)},
          {"energy_joules", number(e.energy_joules)},
          {"energy_unknown_segments", e.energy_unknown_segments},
          {"energy_sources", sources}};
}

Json figures_json(const ClimateFigures& f) {
  return {{"name", f.name},
          {"core_hours", number(f.core_hours)},
          {"segments", f.segments},
          {"simulated_years", number(f.simulated_years)},
          {"sypd", number(f.sypd)},
          {"asypd", number(f.asypd)},
          {"chsy", number(f.chsy)},
          {"jpsy", number(f.jpsy)},
          {"energy_joules", number(f.energy_joules)},
          {"max_cores", f.max_cores},
          {"checkpoint_share", number(f.checkpoint_share)},
          {"output_share", number(f.output_share)},
          {"running_seconds", number(f.running_seconds)},
          {"elapsed_seconds", number(f.elapsed_seconds)}};
}

}  // namespace

std::optional<ReportFormat> parse_report_format(const std::string& text) {
  if (text == "md" || text == "markdown") return ReportFormat::markdown;
  if (text == "csv") return ReportFormat::csv;
  if (text == "json") return ReportFormat::json;
  if (text == "html") return ReportFormat::html;
  return std::nullopt;
}

std::string render_markdown(const Report& report, const std::vector<ChartLink>& chart_links) {
  std::string out;
  bool first = true;
  for (const auto& s : document(report)) {
    out += first ? "# " : "\n## ";
    first = false;
    out += s.title;
    out += "\n\n";
    for (const auto& p : s.before) {
      out += p;
      out += "\n\n";
    }
    if (!s.table.header.empty() && s.table.rows.empty()) {
      out += "None in this report.\n";
    } else if (!s.table.header.empty()) {
      auto line = [&](const std::vector<std::string>& cells) {
        out += '|';
        for (const auto& c : cells) {
          out += ' ';
          out += markdown_cell(c);
          out += " |";
        }
        out += '\n';
      };
      line(s.table.header);
      out += '|';
      for (std::size_t i = 0; i < s.table.header.size(); ++i) out += "---|";
      out += '\n';
      for (const auto& row : s.table.rows) line(row);
    }
    for (const auto& b : s.bullets) {
      out += "- ";
      out += b;
      out += '\n';
    }
    for (const auto& p : s.after) {
      out += '\n';
      out += p;
      out += '\n';
    }
  }
  if (!chart_links.empty()) {
    out += "\n## Charts\n\n";
    for (const auto& c : chart_links) {
      out += fmt::format("![{}]({}) ([PNG]({}))\n\n", c.title, c.svg_path, c.png_path);
    }
  }
  return out;
}

std::string render_html(const Report& report, const std::vector<ChartFile>& charts) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Accounting report</title>\n"
                    "<style>\nbody{font-family:sans-serif;margin:2em;max-width:80em}\n"
                    "table{border-collapse:collapse;margin:0.5em 0 1em}\n"
                    "th,td{border:1px solid #bbb;padding:0.2em 0.5em;text-align:left}\n"
                    "th{background:#eee}\nimg{max-width:100%}\n</style>\n</head>\n<body>\n";
  bool first = true;
  for (const auto& s : document(report)) {
    out += first ? "<h1>" : "<h2>";
    out += html_escape(s.title);
    out += first ? "</h1>\n" : "</h2>\n";
    first = false;
    for (const auto& p : s.before) element(out, "p", p);
    if (!s.table.header.empty() && s.table.rows.empty()) {
      element(out, "p", "None in this report.");
    } else if (!s.table.header.empty()) {
      out += "<table>\n<tr>";
      for (const auto& h : s.table.header) element(out, "th", h, false);
      out += "</tr>\n";
      for (const auto& row : s.table.rows) {
        out += "<tr>";
        for (const auto& c : row) element(out, "td", c, false);
        out += "</tr>\n";
      }
      out += "</table>\n";
    }
    if (!s.bullets.empty()) {
      out += "<ul>\n";
      for (const auto& b : s.bullets) element(out, "li", b);
      out += "</ul>\n";
    }
    for (const auto& p : s.after) element(out, "p", p);
  }
  if (!charts.empty()) {
    // As data URIs: each SVG stays its own document, so cairo's glyph and clip ids (the same
    // in every chart) cannot collide as they would inline.
    out += "<h2>Charts</h2>\n";
    for (const auto& c : charts) {
      out += "<figure><img alt=\"";
      out += html_escape(c.title);
      out += "\" src=\"data:image/svg+xml;base64,";
      out += base64(c.svg);
      out += "\">";
      element(out, "figcaption", c.title, false);
      out += "</figure>\n";
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

std::string render_csv(const Report& r) {
  Csv csv;
  csv.row("report", "", "", "", "as_of_unix", csv_time(r.as_of));
  csv.row("report", "", "", "", "as_of", r.as_of ? format_utc_time(*r.as_of) : std::string());
  csv.row("report", "", "", "", "window_from_unix", csv_time(r.options.window.from));
  csv.row("report", "", "", "", "window_to_unix", csv_time(r.options.window.to));
  csv.row("report", "", "", "", "project_filter", r.options.project.value_or(""));
  csv.row("report", "", "", "", "grant_filter", r.options.grant.value_or(""));
  csv.row("report", "", "", "", "calendar", r.calendar);
  csv.row("report", "", "", "", "days_per_year", csv_number(r.days_per_year));
  csv.row("report", "", "", "", "node_mtbf_seconds", csv_number(r.options.node_mtbf_seconds));
  for (const auto& s : r.sources) {
    csv.row("source", "", "", s.folder, "campaign", s.campaign);
    csv.row("source", "", "", s.folder, "runs", std::to_string(s.runs));
    csv.row("source", "", "", s.folder, "segments", std::to_string(s.segments));
  }
  for (const auto& g : r.grants) csv_use(csv, "grant", g.name, "", g);
  for (const auto& p : r.projects) csv_use(csv, "project", p.grant, p.name, p);
  for (const auto& f : r.scenarios) {
    auto put = [&](const char* metric, const std::string& value) { csv.row("scenario", "", "", f.name, metric, value); };
    put("core_hours", csv_number(f.core_hours));
    put("segments", std::to_string(f.segments));
    put("simulated_years", csv_number(f.simulated_years));
    put("sypd", csv_number(f.sypd));
    put("asypd", csv_number(f.asypd));
    put("chsy", csv_number(f.chsy));
    put("jpsy", csv_number(f.jpsy));
  }
  for (const auto& row : ranking_csv_rows(r)) csv.row(row[0], row[1], row[2], row[3], row[4], row[5]);
  for (const auto& st : r.stages) {
    auto put = [&](const char* metric, const std::string& value) {
      csv.row("stage", st.grant, st.project, stage_name(st), metric, value);
    };
    put("scenario", st.scenario);
    put("core_hours", csv_number(st.figures.core_hours));
    put("segments", std::to_string(st.figures.segments));
    put("simulated_years", csv_number(st.figures.simulated_years));
    put("sypd", csv_number(st.figures.sypd));
    put("asypd", csv_number(st.figures.asypd));
    put("chsy", csv_number(st.figures.chsy));
    put("jpsy", csv_number(st.figures.jpsy));
    put("reserved_use", csv_number(st.reserved_use));
    put("checkpoint_share", csv_number(st.figures.checkpoint_share));
    put("checkpoint_interval_seconds", csv_number(st.checkpoint_interval_seconds));
    put("checkpoint_cost_seconds", csv_number(st.checkpoint_cost_seconds));
    put("lost_core_hours", csv_number(st.lost_core_hours));
  }
  for (const auto& p : r.projects) csv_efficiency(csv, p.grant, p.name, p.efficiency);
  csv_efficiency(csv, "", "", r.total);
  for (const auto& rec : r.recommendations) {
    csv.row("recommendation", "", "", rec.subject, rec.kind, rec.text);
  }
  for (const auto& n : r.notes) csv.row("note", "", "", "", "note", n);
  return csv.text;
}

std::string render_json(const Report& r) {
  Json j;
  j["format_version"] = 1;
  j["as_of_unix"] = unix_time(r.as_of);
  j["as_of"] = r.as_of ? Json(format_utc_time(*r.as_of)) : Json(nullptr);
  j["first_use_unix"] = unix_time(r.first_use);
  j["window"] = {{"from_unix", unix_time(r.options.window.from)}, {"to_unix", unix_time(r.options.window.to)}};
  j["filters"] = {{"project", text_or_null(r.options.project)}, {"grant", text_or_null(r.options.grant)}};
  j["calendar"] = r.calendar;
  j["days_per_year"] = number(r.days_per_year);
  j["node_mtbf_seconds"] = number(r.options.node_mtbf_seconds);
  j["sources"] = Json::array();
  for (const auto& s : r.sources) {
    j["sources"].push_back({{"folder", s.folder}, {"campaign", s.campaign}, {"runs", s.runs}, {"segments", s.segments}});
  }
  j["grants"] = Json::array();
  for (const auto& g : r.grants) {
    Json x = use_json(g);
    x["projects"] = g.projects;
    j["grants"].push_back(std::move(x));
  }
  j["projects"] = Json::array();
  for (const auto& p : r.projects) {
    Json x = use_json(p);
    x["efficiency"] = efficiency_json(p.efficiency);
    j["projects"].push_back(std::move(x));
  }
  j["scenarios"] = Json::array();
  for (const auto& f : r.scenarios) j["scenarios"].push_back(figures_json(f));
  j["scenario_rankings"] = ranking_json(r);
  j["stages"] = Json::array();
  for (const auto& st : r.stages) {
    Json x = figures_json(st.figures);
    x["campaign"] = st.campaign;
    x["project"] = st.project;
    x["grant"] = st.grant;
    x["scenario"] = st.scenario;
    x["node_hours"] = number(st.node_hours);
    x["nodes"] = st.nodes;
    x["reserved_use"] = number(st.reserved_use);
    x["lost_core_hours"] = number(st.lost_core_hours);
    x["checkpoint_interval_seconds"] = number(st.checkpoint_interval_seconds);
    x["checkpoint_cost_seconds"] = number(st.checkpoint_cost_seconds);
    x["checkpoint_gaps"] = st.checkpoint_gaps;
    j["stages"].push_back(std::move(x));
  }
  j["efficiency"] = efficiency_json(r.total);
  j["recommendations"] = Json::array();
  for (const auto& rec : r.recommendations) {
    j["recommendations"].push_back({{"kind", rec.kind},
                                    {"subject", rec.subject},
                                    {"text", rec.text},
                                    {"core_hours_back", number(rec.core_hours_back)},
                                    {"stages", rec.stages}});
  }
  j["notes"] = r.notes;
  return j.dump(2) + "\n";
}

}  // namespace perennial::accounting
