// `perennial scenarios DIR [--json]`: the campaign's scenarios ranked by promise (issue 14,
// point 6): per scenario group (a `for_each` template with `promise:`), each member's rank by
// its newest value of the group's metric, its trajectory (every value the books hold, with
// its step and model time), core-hours spent, state now, ranks now and the last move made on
// it with its reason. Stages without `promise:` whose kernels report metrics are listed too,
// grouped by their template, by the first metric they reported (higher first).

#include "commands.hpp"
#include "forecast.hpp"

#include <perennial/accounting/store.hpp>
#include <perennial/accounting/summary.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

namespace perennial {

namespace {

namespace acc = accounting;

struct Scenario {
  std::string stage;
  std::vector<acc::MetricRow> trajectory;  // of the group's metric, by step
  std::optional<double> latest;
  double core_hours = 0.0;
  std::string state = "waiting";
  int ranks = 0;
  std::string last_move;  // `paused: <reason>`, ...
  int rank = 0;           // 1: the most promising
};

struct Group {
  std::string name;
  std::string metric;
  bool maximise = true;
  std::vector<Scenario> members;
};

// The state and the last move of every stage, from the events log.
void read_events(const std::filesystem::path& file, std::map<std::string, Scenario*>& by_stage) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object()) continue;  // a torn last line
    const auto it = by_stage.find(e.value("stage", ""));
    if (it == by_stage.end()) continue;
    Scenario& s = *it->second;
    const std::string event = e.value("event", "");
    if (event == "stage_started") s.state = "running";
    else if (event == "stage_completed") s.state = "completed";
    else if (event == "stage_failed") s.state = "failed";
    else if (event == "stage_suspended") s.state = "suspended";
    else if (event == "stage_yielded") s.state = "waiting";
    else if (event == "stage_paused") {
      s.state = "paused";
      s.last_move = "paused: " + e.value("reason", "");
    } else if (event == "stage_resumed") {
      s.state = "waiting";
      s.last_move = "resumed: " + e.value("reason", "");
    }
  }
}

}  // namespace

int command_scenarios(const std::string& dir, bool json) {
  try {
    const CampaignFolder cf = open_campaign_folder(dir);
    const StageGraph& graph = *cf.graph;
    std::vector<acc::Segment> segments;
    std::vector<acc::MetricRow> metrics;
    const auto books = cf.folder / "accounting.db";
    if (std::filesystem::exists(books)) {
      const acc::AccountingStore store(books, acc::AccountingStore::Mode::read_only);
      segments = store.segments();
      metrics = store.metrics();
    }
    // The groups: a template with promise judged by its metric; other stages whose books hold
    // metrics, each alone, by the first metric name they reported.
    std::map<std::string, Group> groups;
    std::vector<std::string> order;
    for (StageId id = 0; id < graph.size(); ++id) {
      const StageSpec& s = graph.stage(id);
      std::string metric;
      bool maximise = true;
      const std::string& key = s.template_name;
      if (s.promise) {
        metric = s.promise->metric;
        maximise = s.promise->maximise;
      } else if (const auto g = groups.find(key); g != groups.end()) {
        metric = g->second.metric;  // its template's, as its first member reported
      } else {
        const auto first = std::find_if(metrics.begin(), metrics.end(), [&](const acc::MetricRow& m) { return m.stage == s.name; });
        if (first == metrics.end()) continue;
        metric = first->name;
      }
      auto [it, fresh] = groups.try_emplace(key);
      if (fresh) order.push_back(key);
      it->second.name = key;
      it->second.metric = metric;
      it->second.maximise = maximise;
      Scenario sc;
      sc.stage = s.name;
      it->second.members.push_back(sc);
    }
    std::map<std::string, Scenario*> by_stage;
    std::map<std::string, std::string> metric_of;
    for (auto& [key, g] : groups) {
      for (auto& m : g.members) {
        by_stage[m.stage] = &m;
        metric_of[m.stage] = g.metric;
      }
    }
    for (const auto& row : metrics) {
      const auto it = by_stage.find(row.stage);
      if (it == by_stage.end() || row.name != metric_of[row.stage]) continue;
      it->second->trajectory.push_back(row);
    }
    for (const auto& seg : segments) {
      if (const auto it = by_stage.find(seg.stage); it != by_stage.end()) it->second->core_hours += seg.core_hours();
    }
    read_events(cf.folder / "log" / "events.jsonl", by_stage);
    // Ranks now: a run going on says so in its status (written within the last few seconds).
    const auto status_file = cf.folder / "log" / "status.json";
    if (std::filesystem::exists(status_file)) {
      try {
        const RunStatus status = RunStatus::read(status_file);
        if (!status.finished && unix_time_seconds() - status.written_at_unix < 10.0) {
          for (const auto& r : status.running) {
            if (const auto it = by_stage.find(r.stage); it != by_stage.end()) it->second->ranks = static_cast<int>(r.ranks.size());
          }
        }
      } catch (const Error&) {
      }
    }
    for (auto& [key, g] : groups) {
      for (auto& m : g.members) {
        std::stable_sort(m.trajectory.begin(), m.trajectory.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
        if (!m.trajectory.empty()) m.latest = m.trajectory.back().value;
      }
      // Ranked by the newest value (best first; none last), ties by name.
      std::stable_sort(g.members.begin(), g.members.end(), [&](const Scenario& a, const Scenario& b) {
        if (a.latest.has_value() != b.latest.has_value()) return a.latest.has_value();
        if (a.latest && *a.latest != *b.latest) return g.maximise ? *a.latest > *b.latest : *a.latest < *b.latest;
        return a.stage < b.stage;
      });
      for (std::size_t i = 0; i < g.members.size(); ++i) g.members[i].rank = static_cast<int>(i) + 1;
    }

    if (json) {
      nlohmann::json out = {{"campaign", graph.campaign().name}, {"groups", nlohmann::json::array()}};
      for (const auto& key : order) {
        const Group& g = groups.at(key);
        nlohmann::json members = nlohmann::json::array();
        for (const auto& m : g.members) {
          nlohmann::json trajectory = nlohmann::json::array();
          for (const auto& row : m.trajectory) {
            trajectory.push_back({{"step", row.step}, {"value", row.value},
                                  {"simulated_seconds", row.simulated ? nlohmann::json(*row.simulated) : nlohmann::json(nullptr)}});
          }
          members.push_back({{"stage", m.stage}, {"rank", m.rank},
                             {"value", m.latest ? nlohmann::json(*m.latest) : nlohmann::json(nullptr)},
                             {"trajectory", trajectory}, {"core_hours", m.core_hours}, {"state", m.state},
                             {"ranks", m.ranks}, {"last_move", m.last_move}});
        }
        out["groups"].push_back({{"group", g.name}, {"metric", g.metric}, {"direction", g.maximise ? "max" : "min"},
                                 {"scenarios", members}});
      }
      fmt::print("{}\n", out.dump());
      return 0;
    }
    if (groups.empty()) {
      fmt::print("campaign {}: no scenarios to rank (no stage has promise:, and the books hold no metrics)\n",
                 graph.campaign().name);
      return 0;
    }
    for (const auto& key : order) {
      const Group& g = groups.at(key);
      fmt::print("{}: by {} ({})\n", g.name, g.metric, g.maximise ? "higher is better" : "lower is better");
      for (const auto& m : g.members) {
        fmt::print("  {:>3}. {:<28} {:>12} {:>4} value(s) {:>12} {:<10} {:>3} rank(s){}\n", m.rank, m.stage,
                   m.latest ? fmt::format("{:.6g}", *m.latest) : std::string("-"), m.trajectory.size(),
                   acc::format_core_hours(m.core_hours), m.state, m.ranks,
                   m.last_move.empty() ? std::string() : "  " + m.last_move);
      }
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "perennial scenarios: %s\n", e.what());
    return kExitBadInput;
  } catch (const acc::AccountingError& e) {
    std::fprintf(stderr, "perennial scenarios: %s\n", e.what());
    return kExitBadInput;
  }
}

}  // namespace perennial
