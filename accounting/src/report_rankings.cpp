// The report's scenario rankings (Report::rankings) as sections, CSV rows and JSON: the table
// `perennial scenarios` prints, less the ranks running now (a live status is not in the
// books, and the same books must give the same report).

#include "report_document.hpp"

#include <algorithm>

namespace perennial::accounting::detail {

namespace {

std::string qualified(const ScenarioGroup& g, const std::string& name) {
  if (g.campaign.empty()) return name;
  std::string out = g.campaign;
  out += '/';
  out += name;
  return out;
}

std::string direction(const ScenarioGroup& g) { return g.maximise ? "max" : "min"; }

std::optional<std::uint64_t> newest_step(const ScenarioRow& m) {
  if (m.trajectory.empty()) return std::nullopt;
  return m.trajectory.back().step;
}

// A value the kernel reported, as it reported it (not a sum: nothing to round).
std::string value_text(const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : std::string("-"); }

std::string grant_of(const Report& r, const std::string& project) {
  const auto it = std::find_if(r.projects.begin(), r.projects.end(), [&](const auto& p) { return p.name == project; });
  return it == r.projects.end() ? std::string() : it->grant;
}

}  // namespace

std::vector<Section> ranking_sections(const Report& r) {
  std::vector<Section> out;
  for (const auto& g : r.rankings) {
    Section s;
    s.title = fmt::format("Scenario ranking: {}", qualified(g, g.name));
    if (out.empty()) {  // what every ranking means, said once
      s.before.push_back(fmt::format(
          "Each scenario group (a for_each template) ranked as `perennial scenarios` ranks it: by the newest value of "
          "its metric recorded {}, best first, those without a value last, ties by name. Values: how many the books "
          "hold (the trajectory charts plot them against the step). Core-h: in the window. State and last move: from "
          "the events log.",
          r.options.window.to ? "before the window's end" : "so far"));
    }
    s.before.push_back(fmt::format("By {} ({} is better; {}).", g.metric, g.maximise ? "higher" : "lower",
                                   g.by_promise ? "the campaign's promise metric" : "the first metric its members reported"));
    s.table.header = {"rank", "scenario", "project", g.metric, "at step", "values", "core-h", "state", "last move"};
    for (const auto& m : g.members) {
      const auto step = newest_step(m);
      s.table.rows.push_back({std::to_string(m.rank), m.stage, m.project, value_text(m.latest),
                              step ? std::to_string(*step) : std::string("-"), std::to_string(m.trajectory.size()),
                              hours(m.core_hours), m.state, m.last_move.empty() ? std::string("-") : m.last_move});
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::array<std::string, 6>> ranking_csv_rows(const Report& r) {
  std::vector<std::array<std::string, 6>> out;
  for (const auto& g : r.rankings) {
    for (const auto& m : g.members) {
      const std::string grant = grant_of(r, m.project);
      const std::string name = qualified(g, m.stage);
      auto put = [&](const char* section, const std::string& metric, const std::string& value) {
        out.push_back({section, grant, m.project, name, metric, value});
      };
      const auto step = newest_step(m);
      put("scenario_ranking", "group", g.name);
      put("scenario_ranking", "metric", g.metric);
      put("scenario_ranking", "direction", direction(g));
      put("scenario_ranking", "rank", std::to_string(m.rank));
      put("scenario_ranking", "value", m.latest ? csv_number(*m.latest) : std::string());
      put("scenario_ranking", "step", step ? std::to_string(*step) : std::string());
      put("scenario_ranking", "values", std::to_string(m.trajectory.size()));
      put("scenario_ranking", "core_hours", csv_number(m.core_hours));
      put("scenario_ranking", "state", m.state);
      put("scenario_ranking", "last_move", m.last_move);
      // The trajectory, one row per value: `<metric>@<step>`.
      for (const auto& p : m.trajectory) put("scenario_trajectory", fmt::format("{}@{}", g.metric, p.step), csv_number(p.value));
    }
  }
  return out;
}

nlohmann::json ranking_json(const Report& r) {
  using Json = nlohmann::json;
  Json out = Json::array();
  for (const auto& g : r.rankings) {
    Json members = Json::array();
    for (const auto& m : g.members) {
      Json trajectory = Json::array();
      for (const auto& p : m.trajectory) {
        trajectory.push_back({{"step", p.step}, {"value", p.value},
                              {"simulated_seconds", p.simulated ? Json(*p.simulated) : Json(nullptr)}});
      }
      members.push_back({{"stage", m.stage},
                         {"project", m.project},
                         {"rank", m.rank},
                         {"value", m.latest ? Json(*m.latest) : Json(nullptr)},
                         {"trajectory", trajectory},
                         {"core_hours", number(m.core_hours)},
                         {"state", m.state},
                         {"last_move", m.last_move}});
    }
    out.push_back({{"campaign", g.campaign},
                   {"group", g.name},
                   {"metric", g.metric},
                   {"direction", direction(g)},
                   {"by_promise", g.by_promise},
                   {"scenarios", members}});
  }
  return out;
}

}  // namespace perennial::accounting::detail
