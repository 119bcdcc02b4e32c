// `perennial scenarios DIR [--json]`: the campaign's scenarios ranked by promise (issue 14,
// point 6): per scenario group (a `for_each` template with `promise:`), each member's rank by
// its newest value of the group's metric, its trajectory (every value the books hold, with
// its step and model time), core-hours spent, state now, ranks now and the last move made on
// it with its reason. Stages without `promise:` whose kernels report metrics are listed too,
// grouped by their template, by the first metric they reported (higher first).

#include "commands.hpp"
#include "forecast.hpp"

#include <perennial/accounting/scenario_table.hpp>
#include <perennial/accounting/store.hpp>
#include <perennial/accounting/summary.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

namespace perennial {

namespace acc = accounting;

int command_scenarios(const std::string& dir, bool json) {
  try {
    const CampaignFolder cf = open_campaign_folder(dir);
    const StageGraph& graph = *cf.graph;
    acc::ScenarioInputs inputs;
    inputs.campaign = graph.campaign().name;
    inputs.stages = scenario_stages(graph);
    const auto books = cf.folder / "accounting.db";
    if (std::filesystem::exists(books)) {
      const acc::AccountingStore store(books, acc::AccountingStore::Mode::read_only);
      inputs.segments = store.segments();
      inputs.metrics = store.metrics();
    }
    inputs.events = acc::read_stage_events(cf.folder / "log" / "events.jsonl");
    std::vector<acc::ScenarioGroup> groups = acc::scenario_groups(inputs);
    // Ranks now: a run going on says so in its status (written within the last few seconds).
    const auto status_file = cf.folder / "log" / "status.json";
    if (std::filesystem::exists(status_file)) {
      try {
        const RunStatus status = RunStatus::read(status_file);
        if (!status.finished && unix_time_seconds() - status.written_at_unix < 10.0) {
          std::map<std::string, int> ranks;
          for (const auto& r : status.running) ranks[r.stage] = static_cast<int>(r.ranks.size());
          for (auto& g : groups) {
            for (auto& m : g.members) {
              if (const auto it = ranks.find(m.stage); it != ranks.end()) m.ranks = it->second;
            }
          }
        }
      } catch (const Error&) {
      }
    }

    if (json) {
      nlohmann::json out = {{"campaign", graph.campaign().name}, {"groups", nlohmann::json::array()}};
      for (const auto& g : groups) {
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
                                 {"promise", g.rule.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.rule)},
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
    for (const auto& g : groups) {
      fmt::print("{}: by {} ({}){}\n", g.name, g.metric, g.maximise ? "higher is better" : "lower is better",
                 g.rule.empty() ? std::string() : "; " + g.rule);
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
