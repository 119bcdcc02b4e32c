#include <perennial/accounting/scenario_table.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>

namespace perennial::accounting {

std::vector<StageEvent> read_stage_events(const std::filesystem::path& events_file) {
  std::vector<StageEvent> out;
  std::ifstream in(events_file);
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object()) continue;  // a torn last line
    const std::string stage = e.value("stage", "");
    const std::string event = e.value("event", "");
    if (stage.empty() || event.rfind("stage_", 0) != 0) continue;
    out.push_back({stage, event, e.value("reason", ""), e.value("wall", 0.0)});
  }
  return out;
}

std::vector<ScenarioGroup> scenario_groups(const ScenarioInputs& in) {
  const auto before_end = [&](double wall) { return !in.until || wall < *in.until; };
  // The groups: a template with promise judged by its metric; other stages whose books hold
  // metrics, by their template, by the first metric name a member reported.
  std::map<std::string, ScenarioGroup> groups;
  std::vector<std::string> order;
  for (const ScenarioStage& s : in.stages) {
    std::string metric;
    bool maximise = true;
    const std::string& key = s.template_name;
    if (s.promise_metric) {
      metric = *s.promise_metric;
      maximise = s.maximise;
    } else if (const auto g = groups.find(key); g != groups.end()) {
      metric = g->second.metric;  // its template's, as its first member reported
      maximise = g->second.maximise;
    } else {
      const auto first = std::find_if(in.metrics.begin(), in.metrics.end(), [&](const MetricRow& m) {
        return m.stage == s.name && before_end(m.wall);
      });
      if (first == in.metrics.end()) continue;
      metric = first->name;
    }
    auto [it, fresh] = groups.try_emplace(key);
    if (fresh) order.push_back(key);
    ScenarioGroup& g = it->second;
    g.campaign = in.campaign;
    g.name = key;
    g.metric = metric;
    g.maximise = maximise;
    g.by_promise = g.by_promise || s.promise_metric.has_value();
    if (g.rule.empty()) g.rule = s.promise_rule;
    ScenarioRow row;
    row.stage = s.name;
    row.project = s.project;
    g.members.push_back(std::move(row));
  }
  // Pointers into the groups' members: no member is added from here on.
  std::map<std::string, ScenarioRow*> by_stage;
  std::map<std::string, const std::string*> metric_of;
  for (auto& [key, g] : groups) {
    for (auto& m : g.members) {
      by_stage[m.stage] = &m;
      metric_of[m.stage] = &g.metric;
    }
  }
  for (const auto& row : in.metrics) {
    const auto it = by_stage.find(row.stage);
    if (it == by_stage.end() || row.name != *metric_of[row.stage] || !before_end(row.wall)) continue;
    it->second->trajectory.push_back(row);
  }
  for (const auto& seg : in.segments) {
    if (const auto it = by_stage.find(seg.stage); it != by_stage.end()) it->second->core_hours += seg.core_hours();
  }
  for (const auto& e : in.events) {
    const auto it = by_stage.find(e.stage);
    if (it == by_stage.end() || !before_end(e.wall)) continue;
    ScenarioRow& s = *it->second;
    if (e.event == "stage_started") s.state = "running";
    else if (e.event == "stage_completed") s.state = "completed";
    else if (e.event == "stage_failed") s.state = "failed";
    else if (e.event == "stage_suspended") s.state = "suspended";
    else if (e.event == "stage_yielded") s.state = "waiting";
    else if (e.event == "stage_paused") {
      s.state = "paused";
      s.last_move = "paused: ";
      s.last_move += e.reason;
    } else if (e.event == "stage_resumed") {
      s.state = "waiting";
      s.last_move = "resumed: ";
      s.last_move += e.reason;
    } else if (e.event == "stage_resized") {
      s.state = "waiting";
      s.last_move = "moved: ";
      s.last_move += e.reason;
    }
  }
  std::vector<ScenarioGroup> out;
  for (const auto& key : order) {
    ScenarioGroup& g = groups.at(key);
    for (auto& m : g.members) {
      std::stable_sort(m.trajectory.begin(), m.trajectory.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
      if (!m.trajectory.empty()) m.latest = m.trajectory.back().value;
    }
    // Ranked by the newest value (best first; none last), ties by name.
    std::stable_sort(g.members.begin(), g.members.end(), [&](const ScenarioRow& a, const ScenarioRow& b) {
      if (a.latest.has_value() != b.latest.has_value()) return a.latest.has_value();
      if (a.latest && *a.latest != *b.latest) return g.maximise ? *a.latest > *b.latest : *a.latest < *b.latest;
      return a.stage < b.stage;
    });
    for (std::size_t i = 0; i < g.members.size(); ++i) g.members[i].rank = static_cast<int>(i) + 1;
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace perennial::accounting
