#include <perennial/accounting/report.hpp>

#include "recommendations.hpp"

#include <perennial/text.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <set>

namespace perennial::accounting {

using detail::EfficiencyStage;
using detail::join;
using detail::median;
using detail::qualified_name;
using detail::step_cost;
using detail::template_of;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// A segment with the folder it came from: ids and stage names are only unique within one
// store, and a grant's report merges several.
struct Tagged {
  std::size_t folder = 0;
  std::string campaign;
  Segment segment;
};

// The key figures_by_stage groups by: unique across folders, and in folder order.
std::string stage_key(std::size_t folder, const std::string& stage) {
  std::string key = fmt::format("{:06d}", folder);
  key += '\x1f';
  key += stage;
  return key;
}


Efficiency efficiency_of(const std::vector<const Segment*>& segments) {
  Efficiency e;
  double cpu_hours = 0.0;
  double cpu_core_hours = 0.0;
  double energy = 0.0;
  std::map<std::string, int> sources;
  for (const Segment* s : segments) {
    ++e.segments;
    const double core_hours = s->core_hours();
    e.core_hours += core_hours;
    if (s->cpu_seconds) {
      cpu_hours += *s->cpu_seconds / 3600.0;
      cpu_core_hours += core_hours;
    } else {
      ++e.cpu_unknown_segments;
    }
    e.checkpoint_core_hours += s->checkpoint_seconds * static_cast<double>(s->cores) / 3600.0;
    e.lost_core_hours += s->lost_core_hours;
    e.lost_steps += s->lost_steps;
    e.queue_wait_hours += s->queue_wait_seconds / 3600.0;
    e.max_queue_wait_seconds = std::max(e.max_queue_wait_seconds, s->queue_wait_seconds);
    if (s->energy_joules) {
      energy += *s->energy_joules;
    } else {
      ++e.energy_unknown_segments;
    }
    ++sources[s->energy_source];
  }
  if (cpu_core_hours > 0) e.reserved_use = cpu_hours / cpu_core_hours;
  if (e.core_hours > 0) {
    e.checkpoint_share = e.checkpoint_core_hours / e.core_hours;
    e.lost_share = e.lost_core_hours / e.core_hours;
  }
  if (e.segments > 0 && e.energy_unknown_segments == 0) e.energy_joules = energy;
  e.energy_sources.assign(sources.begin(), sources.end());
  return e;
}

UsageHistory history_of(const std::vector<const Segment*>& segments) {
  UsageHistory h;
  for (const Segment* s : segments) h.intervals.push_back({s->wall_start, s->wall_end, s->core_hours()});
  return h;
}

// Fills what a project and a grant share: use in the window, use to date, burn and exhaustion.
void fill_use(AllocationUse& use, bool grant, const std::vector<const Segment*>& window,
              const std::vector<const Segment*>& to_date, const std::optional<double>& as_of,
              const ExhaustionForecaster& forecaster) {
  for (const Segment* s : window) {
    use.core_hours += s->core_hours();
    use.node_hours += s->node_hours();
    use.gpu_hours += s->gpu_hours();
  }
  use.history = history_of(to_date);
  use.used_to_date_core_hours = use.history.total();
  if (!as_of) return;
  use.burn = burn_rate(use.history, *as_of);
  if (use.allocation_core_hours) {
    use.exhaustion = forecaster ? forecaster({use.name, grant}, use.history, *use.allocation_core_hours, *as_of)
                                : burn_rate_forecast(use.history, *use.allocation_core_hours, *as_of);
  }
}

}  // namespace

Books read_books(const std::filesystem::path& folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    throw ReportError(fmt::format("{}: no such folder: give a campaign's output folder", folder.string()));
  }
  const auto path = folder / "accounting.db";
  if (!std::filesystem::exists(path, ec)) {
    throw ReportError(fmt::format("{}: no accounting.db in it: give a campaign's output folder (its store appears "
                                  "when a run starts)",
                                  folder.string()));
  }
  const AccountingStore store(path, AccountingStore::Mode::read_only);
  Books b;
  b.folder = folder;
  b.runs = store.runs();
  b.segments = store.segments();
  b.checkpoints = store.checkpoints();
  b.allocations = store.allocations();
  b.metrics = store.metrics();
  return b;
}

std::optional<double> parse_report_time(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(value)) return value;
    return std::nullopt;
  }
  std::string value = text;
  if (!value.empty() && (value.back() == 'Z' || value.back() == 'z')) value.pop_back();
  std::tm tm{};
  const char* end = ::strptime(value.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || *end != '\0') {
    tm = std::tm{};
    end = ::strptime(value.c_str(), "%Y-%m-%d", &tm);
    if (!end || *end != '\0' || value.size() != 10) return std::nullopt;
  }
  // strptime accepts 2026-02-31; timegm would roll it into March: refuse what does not round-trip.
  const int year = tm.tm_year;
  const int month = tm.tm_mon;
  const int day = tm.tm_mday;
  const std::time_t t = ::timegm(&tm);
  if (tm.tm_year != year || tm.tm_mon != month || tm.tm_mday != day) return std::nullopt;
  return static_cast<double>(t);
}

std::string format_utc_date(double unix_seconds) {
  const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string format_utc_time(double unix_seconds) {
  const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d} UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_duration(double seconds) {
  auto amount = [](double v, const char* unit) {
    return v < 9.95 ? fmt::format("{:.2g} {}", v, unit) : fmt::format("{:.0f} {}", v, unit);
  };
  if (seconds < 90.0) return amount(seconds, "s");
  if (seconds < 90.0 * 60.0) return amount(seconds / 60.0, "min");
  if (seconds < 48.0 * 3600.0) return amount(seconds / 3600.0, "h");
  return amount(seconds / 86400.0, "d");
}

std::optional<Segment> clip_to_window(const Segment& s, const ReportWindow& window) {
  const double from = window.from.value_or(-kInfinity);
  const double to = window.to.value_or(kInfinity);
  const double wall = s.wall_seconds();
  Segment c = s;
  // The queue wait precedes the start: the part of [start - wait, start) in the window.
  c.queue_wait_seconds = std::max(0.0, std::min(s.wall_start, to) - std::max(s.wall_start - s.queue_wait_seconds, from));
  if (wall <= 0) {
    if (s.wall_start < from || s.wall_start >= to) return std::nullopt;
    return c;
  }
  const double start = std::max(s.wall_start, from);
  const double end = std::min(s.wall_end, to);
  if (end <= start) return std::nullopt;
  if (start == s.wall_start && end == s.wall_end) return c;
  const double share = (end - start) / wall;
  const double head = (start - s.wall_start) / wall;  // share of the segment before the window
  const double tail = (end - s.wall_start) / wall;    // share up to the window's end
  c.wall_start = start;
  c.wall_end = end;
  if (c.cpu_seconds) *c.cpu_seconds *= share;
  c.checkpoint_seconds *= share;
  c.checkpoints = static_cast<int>(std::lround(c.checkpoints * share));
  c.output_seconds *= share;
  c.lost_core_hours *= share;
  c.lost_steps = static_cast<std::uint64_t>(std::llround(static_cast<double>(s.lost_steps) * share));
  if (c.energy_joules) *c.energy_joules *= share;
  const double steps = static_cast<double>(s.last_step) - static_cast<double>(s.first_step);
  c.first_step = s.first_step + static_cast<std::uint64_t>(std::llround(std::max(0.0, steps * head)));
  c.last_step = s.first_step + static_cast<std::uint64_t>(std::llround(std::max(0.0, steps * tail)));
  if (s.simulated_start && s.simulated_end) {
    const double model = *s.simulated_end - *s.simulated_start;
    c.simulated_start = *s.simulated_start + model * head;
    c.simulated_end = *s.simulated_start + model * tail;
  }
  return c;
}

Report build_report(const std::vector<Books>& books, const ReportOptions& options) {
  Report report;
  report.options = options;
  report.options.forecaster = nullptr;
  const auto& window = options.window;
  if (window.from && window.to && !(*window.to > *window.from)) {
    throw ReportError(fmt::format("--to ({}) is not after --from ({})", format_utc_time(*window.to),
                                  format_utc_time(*window.from)));
  }

  // ---- what the folders hold -------------------------------------------------------------
  std::set<std::string> known_projects;
  std::set<std::string> known_grants;
  std::map<std::string, std::set<std::string>> grants_of_project;
  std::optional<std::pair<double, std::size_t>> newest_run;  // started, folder
  std::set<std::string> calendars;
  for (std::size_t f = 0; f < books.size(); ++f) {
    const Books& b = books[f];
    ReportSource source;
    source.folder = b.folder.string();
    source.runs = static_cast<int>(b.runs.size());
    source.segments = static_cast<int>(b.segments.size());
    if (!b.runs.empty()) {
      source.campaign = b.runs.back().campaign;
      calendars.insert(fmt::format("{} ({} days)", b.runs.back().calendar, b.runs.back().days_per_year));
      if (!newest_run || b.runs.back().started > newest_run->first) newest_run = {{b.runs.back().started, f}};
    }
    report.sources.push_back(source);
    for (const auto& s : b.segments) {
      known_projects.insert(s.project);
      known_grants.insert(s.grant);
      grants_of_project[s.project].insert(s.grant);
    }
    for (const auto& a : b.allocations) {
      known_projects.insert(a.project);
      known_grants.insert(a.grant);
      grants_of_project[a.project].insert(a.grant);
    }
  }
  if (newest_run) {
    const auto& run = books[newest_run->second].runs.back();
    report.calendar = run.calendar;
    report.days_per_year = run.days_per_year;
  }
  report.notes.insert(report.notes.end(), options.notes.begin(), options.notes.end());
  if (calendars.size() > 1) {
    report.notes.push_back(fmt::format("the folders use different calendars ({}); simulated years are counted in the "
                                       "newest run's, {}",
                                       join({calendars.begin(), calendars.end()}, ", "), report.calendar));
  }
  auto unknown = [](const char* what, const std::string& name, const std::set<std::string>& known) {
    const std::vector<std::string> names(known.begin(), known.end());
    std::string message = fmt::format("unknown {} '{}'", what, name);
    if (const auto near = nearest_name(name, names); !near.empty()) message += fmt::format(" (did you mean '{}'?)", near);
    message += names.empty() ? std::string(": the folders record none") : fmt::format("; known: {}", join(names, ", "));
    return ReportError(message);
  };
  if (options.project && !known_projects.count(*options.project)) throw unknown("project", *options.project, known_projects);
  if (options.grant && !known_grants.count(*options.grant)) throw unknown("grant", *options.grant, known_grants);
  if (options.project && options.grant && !grants_of_project[*options.project].count(*options.grant)) {
    const auto& grants = grants_of_project[*options.project];
    throw ReportError(fmt::format("project '{}' is not under grant '{}' (its grant: {})", *options.project,
                                  *options.grant, join({grants.begin(), grants.end()}, ", ")));
  }

  // ---- allocations: per project, as the folder with the newest run declares them ---------------
  std::map<std::string, AllocationRow> allocation;
  std::map<std::string, double> allocation_run;
  for (std::size_t f = 0; f < books.size(); ++f) {
    const double started = books[f].runs.empty() ? -kInfinity : books[f].runs.back().started;
    for (const auto& a : books[f].allocations) {
      auto it = allocation.find(a.project);
      if (it == allocation.end()) {
        allocation[a.project] = a;
        allocation_run[a.project] = started;
        continue;
      }
      if (it->second.grant != a.grant || it->second.allocation_core_hours != a.allocation_core_hours) {
        const bool newer = started > allocation_run[a.project];
        const AllocationRow& kept = newer ? a : it->second;
        report.notes.push_back(fmt::format("project {} is declared with different allocations in the folders ({} "
                                           "core-h under {} and {} core-h under {}); the newest run's is used: {} "
                                           "core-h under {}",
                                           a.project, it->second.allocation_core_hours, it->second.grant,
                                           a.allocation_core_hours, a.grant, kept.allocation_core_hours, kept.grant));
        if (newer) {
          it->second = a;
          allocation_run[a.project] = started;
        }
      }
    }
  }
  auto grant_of = [&](const std::string& project, const std::string& fallback) {
    auto it = allocation.find(project);
    return it != allocation.end() ? it->second.grant : fallback;
  };
  auto selected = [&](const std::string& project, const std::string& grant) {
    return (!options.project || project == *options.project) && (!options.grant || grant == *options.grant);
  };

  // ---- the segments, filtered and clipped ----------------------------------------------
  const ReportWindow to_date_window{std::nullopt, window.to};
  std::vector<Tagged> in_window;
  std::vector<Tagged> to_date;
  int running = 0;
  for (std::size_t f = 0; f < books.size(); ++f) {
    std::map<std::int64_t, std::string> campaign_of_run;
    for (const auto& r : books[f].runs) campaign_of_run[r.id] = r.campaign;
    for (const auto& s : books[f].segments) {
      if (!selected(s.project, grant_of(s.project, s.grant))) continue;
      const std::string campaign = campaign_of_run.count(s.run_id) ? campaign_of_run[s.run_id] : std::string();
      if (auto c = clip_to_window(s, to_date_window)) to_date.push_back({f, campaign, std::move(*c)});
      if (auto c = clip_to_window(s, window)) {
        if (c->outcome == Outcome::running) ++running;
        in_window.push_back({f, campaign, std::move(*c)});
      }
    }
  }
  auto by_start = [](const Tagged& a, const Tagged& b) {
    return std::tie(a.segment.wall_start, a.folder, a.segment.id) < std::tie(b.segment.wall_start, b.folder, b.segment.id);
  };
  std::sort(in_window.begin(), in_window.end(), by_start);
  std::sort(to_date.begin(), to_date.end(), by_start);
  for (const auto& t : to_date) report.as_of = std::max(report.as_of.value_or(t.segment.wall_end), t.segment.wall_end);
  for (const auto& t : in_window) {
    report.first_use = std::min(report.first_use.value_or(t.segment.wall_start), t.segment.wall_start);
  }
  if (running > 0) {
    report.notes.push_back(fmt::format("{} segment(s) were still running: counted up to their last update", running));
  }
  if (window.from || window.to) {
    report.notes.push_back("segments crossing the window's edges are clipped to it in proportion to their wall time; "
                           "allocation use, burn rates and exhaustion count everything up to the window's end");
  }

  // ---- projects and grants -------------------------------------------------------------
  std::map<std::string, std::vector<const Segment*>> project_window;
  std::map<std::string, std::vector<const Segment*>> project_to_date;
  std::map<std::string, std::string> project_grant;
  for (const auto& t : in_window) project_window[t.segment.project].push_back(&t.segment);
  for (const auto& t : to_date) {
    project_to_date[t.segment.project].push_back(&t.segment);
    project_grant.emplace(t.segment.project, grant_of(t.segment.project, t.segment.grant));
  }
  for (const auto& [project, a] : allocation) {
    if (selected(project, a.grant)) project_grant[project] = a.grant;
  }
  for (const auto& [project, grants] : grants_of_project) {
    if (grants.size() > 1 && project_grant.count(project)) {
      report.notes.push_back(fmt::format("project {} appears under several grants ({}); it is reported under {}", project,
                                         join({grants.begin(), grants.end()}, ", "), project_grant[project]));
    }
  }
  std::map<std::string, GrantReport> grants;
  std::map<std::string, std::vector<const Segment*>> grant_window;
  std::map<std::string, std::vector<const Segment*>> grant_to_date;
  for (const auto& [project, grant] : project_grant) {
    ProjectReport p;
    p.name = project;
    p.grant = grant;
    if (auto it = allocation.find(project); it != allocation.end() && it->second.allocation_core_hours > 0) {
      p.allocation_core_hours = it->second.allocation_core_hours;
    }
    fill_use(p, false, project_window[project], project_to_date[project], report.as_of, options.forecaster);
    p.efficiency = efficiency_of(project_window[project]);
    auto& g = grants[grant];
    g.name = grant;
    g.grant = grant;
    g.projects.push_back(project);
    if (p.allocation_core_hours) g.allocation_core_hours = g.allocation_core_hours.value_or(0.0) + *p.allocation_core_hours;
    auto& gw = grant_window[grant];
    gw.insert(gw.end(), project_window[project].begin(), project_window[project].end());
    auto& gt = grant_to_date[grant];
    gt.insert(gt.end(), project_to_date[project].begin(), project_to_date[project].end());
    report.projects.push_back(std::move(p));
  }
  for (auto& [name, g] : grants) {
    fill_use(g, true, grant_window[name], grant_to_date[name], report.as_of, options.forecaster);
    report.grants.push_back(std::move(g));
  }

  // ---- stages and scenarios --------------------------------------------------------------
  std::vector<Segment> keyed;
  std::vector<const Segment*> all;
  std::map<std::string, const Tagged*> first_of_stage;
  std::map<std::string, std::vector<const Segment*>> stage_segments;
  keyed.reserve(in_window.size());
  for (const auto& t : in_window) {
    all.push_back(&t.segment);
    Segment s = t.segment;
    s.stage = stage_key(t.folder, t.segment.stage);
    first_of_stage.emplace(s.stage, &t);
    stage_segments[s.stage].push_back(&t.segment);
    keyed.push_back(std::move(s));
  }
  report.total = efficiency_of(all);
  report.scenarios = figures_by_scenario(keyed, report.days_per_year);

  // Checkpoint commits per stage: gaps between consecutive commits of one segment.
  std::map<std::string, std::vector<double>> gaps;
  std::map<std::string, std::vector<double>> costs;
  for (std::size_t f = 0; f < books.size(); ++f) {
    std::map<std::int64_t, const Segment*> segment_of;
    for (const auto& s : books[f].segments) segment_of[s.id] = &s;
    // The previous commit, when it was of the same segment (ids start at 1).
    std::int64_t previous_segment = 0;
    double previous_wall = 0.0;
    for (const auto& c : books[f].checkpoints) {  // by segment, then time
      const auto it = segment_of.find(c.segment_id);
      const bool inside = it != segment_of.end() && selected(it->second->project, grant_of(it->second->project, it->second->grant)) &&
                          (!window.from || c.wall >= *window.from) && (!window.to || c.wall < *window.to);
      if (!inside) {
        previous_segment = 0;
        continue;
      }
      const std::string key = stage_key(f, it->second->stage);
      costs[key].push_back(c.seconds);
      if (previous_segment == c.segment_id) gaps[key].push_back(c.wall - previous_wall);
      previous_segment = c.segment_id;
      previous_wall = c.wall;
    }
  }

  std::vector<StageReport> stages;
  std::vector<EfficiencyStage> efficiency_stages;  // one per stage, in the same order
  for (auto& figures : figures_by_stage(keyed, report.days_per_year)) {
    const std::string key = figures.name;
    const Tagged& first = *first_of_stage.at(key);
    StageReport st;
    st.campaign = first.campaign;
    st.name = first.segment.stage;
    st.project = first.segment.project;
    st.grant = grant_of(first.segment.project, first.segment.grant);
    st.scenario = first.segment.scenario;
    figures.name = st.name;
    st.figures = std::move(figures);
    double cpu = 0.0;
    bool cpu_known = true;
    for (const Segment* s : stage_segments[key]) {
      st.node_hours += s->node_hours();
      st.nodes = std::max(st.nodes, s->nodes);
      st.lost_core_hours += s->lost_core_hours;
      if (s->cpu_seconds) {
        cpu += *s->cpu_seconds / 3600.0;
      } else {
        cpu_known = false;
      }
    }
    if (cpu_known && st.figures.core_hours > 0) st.reserved_use = cpu / st.figures.core_hours;
    if (auto g = gaps.find(key); g != gaps.end() && !g->second.empty()) {
      st.checkpoint_gaps = static_cast<int>(g->second.size());
      st.checkpoint_interval_seconds = median(g->second);
    }
    if (auto c = costs.find(key); c != costs.end() && !c->second.empty()) st.checkpoint_cost_seconds = median(c->second);

    // Its cost per step at each rank count, and what it is compared with: its template's
    // other members (same folder, project and scenario keys), or itself alone.
    EfficiencyStage e;
    e.qualified = qualified_name(st);
    e.group = key;
    if (const auto t = template_of(st.name, st.scenario)) {
      std::string keys;
      const auto scenario = nlohmann::json::parse(st.scenario);  // held: items() only refers to it
      for (const auto& item : scenario.items()) {
        keys += item.key();
        keys += '\x1f';
      }
      e.group = fmt::format("{:06d}\x1f{}\x1f{}\x1f{}", first.folder, *t, st.project, keys);
      e.template_label = st.campaign.empty() ? *t : fmt::format("{}/{}", st.campaign, *t);
    }
    for (const Segment* s : stage_segments[key]) {
      if (const auto cost = step_cost(*s)) {
        auto& c = e.counts[{s->cores, s->ranks}];
        c.costs.push_back(*cost);
        c.steps += static_cast<double>(s->last_step - s->first_step);
      }
    }
    stages.push_back(std::move(st));
    efficiency_stages.push_back(std::move(e));
  }
  // By campaign (then folder, kept by the stable sort), then first start.
  std::vector<std::size_t> stage_order(stages.size());
  for (std::size_t i = 0; i < stage_order.size(); ++i) stage_order[i] = i;
  std::stable_sort(stage_order.begin(), stage_order.end(),
                   [&](std::size_t a, std::size_t b) { return stages[a].campaign < stages[b].campaign; });
  std::vector<EfficiencyStage> efficiency_in_order;
  for (const std::size_t i : stage_order) {
    report.stages.push_back(std::move(stages[i]));
    efficiency_in_order.push_back(std::move(efficiency_stages[i]));
  }
  for (auto& sc : report.scenarios) {
    if (sc.name == "{}") sc.name = "(none)";
  }

  // ---- scenario rankings: a folder's, when its campaign judges scenarios by a metric ------------
  for (std::size_t f = 0; f < books.size(); ++f) {
    const Books& b = books[f];
    const bool promise = std::any_of(b.stages.begin(), b.stages.end(), [](const auto& s) { return s.promise_metric.has_value(); });
    if (!promise) continue;
    ScenarioInputs in;
    in.campaign = report.sources[f].campaign;
    for (const auto& s : b.stages) {
      const auto known = grants_of_project.find(s.project);  // a stage that never ran: no grant seen
      const std::string seen = known == grants_of_project.end() ? std::string() : *known->second.begin();
      if (selected(s.project, grant_of(s.project, seen))) in.stages.push_back(s);
    }
    for (const auto& t : in_window) {
      if (t.folder == f) in.segments.push_back(t.segment);
    }
    in.metrics = b.metrics;
    in.events = b.events;
    in.until = window.to;
    for (auto& g : scenario_groups(in)) report.rankings.push_back(std::move(g));
  }

  report.recommendations = detail::recommendations(report, efficiency_in_order, options.node_mtbf_seconds);
  return report;
}

}  // namespace perennial::accounting
