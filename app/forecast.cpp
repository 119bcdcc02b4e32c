// `perennial forecast DIR`: see forecast.hpp.

#include "forecast.hpp"

#include "commands.hpp"

#include <perennial/accounting/report.hpp>
#include <perennial/accounting/store.hpp>
#include <perennial/accounting/summary.hpp>
#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

namespace perennial {

namespace {

namespace acc = accounting;

std::optional<double> duration_option(const std::string& option, const std::string& text) {
  if (text.empty()) return std::nullopt;
  const auto seconds = parse_duration_seconds(text);
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0) {
    throw BadOption(fmt::format("{} '{}': not a duration (e.g. 60s, 24h, 5w)", option, text));
  }
  return seconds;
}

// The newest run's record of the campaign file and its machine.
const nlohmann::json* newest_run(const JournalContents& journal) {
  for (auto it = journal.records.rbegin(); it != journal.records.rend(); ++it) {
    if (it->value("type", "") == "run_started" && it->contains("campaign_file")) return &*it;
  }
  return nullptr;
}

std::string date_of(double unix_seconds) { return acc::format_utc_time(unix_seconds); }


std::string interval_text(const Spread& s, double scale = 1.0) {
  return fmt::format("{:.4g} (80%: {:.4g} to {:.4g})", s.expected * scale, s.low * scale, s.high * scale);
}

nlohmann::json spread_json(const Spread& s, double offset = 0.0) {
  return nlohmann::json::array({s.low + offset, s.high + offset});
}

nlohmann::json outlook_json(const AllocationOutlook& o, double as_of) {
  nlohmann::json j = {{"name", o.name},
                      {"grant", o.grant},
                      {"used_core_hours", o.used_core_hours},
                      {"to_finish_core_hours", o.to_finish.expected},
                      {"to_finish_interval", spread_json(o.to_finish)},
                      {"expected_core_hours", o.total()},
                      {"expected_interval", spread_json(o.to_finish, o.used_core_hours)}};
  if (o.allocation_core_hours) {
    j["allocation_core_hours"] = *o.allocation_core_hours;
    j["projected_overrun"] = o.total() > *o.allocation_core_hours;
  }
  if (o.exhaustion) {
    j["runs_out"] = {{"share_of_draws", o.exhaustion->share_of_draws},
                     {"expected_unix", as_of + o.exhaustion->seconds.expected},
                     {"interval_unix", spread_json(o.exhaustion->seconds, as_of)}};
  }
  return j;
}

// The running stages of a run that is going on (its status written within the last few
// seconds): their step now, at their measured rate.
void note_live_progress(const StageGraph& graph, const std::filesystem::path& file, double now, CampaignState& state) {
  if (!std::filesystem::exists(file)) return;
  RunStatus status;
  try {
    status = RunStatus::read(file);
  } catch (const Error&) {
    return;  // being replaced as we read, or damaged: the books will do
  }
  if (status.finished || now - status.written_at_unix > 10.0) return;
  std::map<std::string, StageId> by_name;
  for (StageId id = 0; id < graph.size(); ++id) by_name[graph.stage(id).name] = id;
  for (const auto& r : status.running) {
    const auto it = by_name.find(r.stage);
    if (it == by_name.end()) continue;
    std::optional<double> step_seconds;
    std::uint64_t step = r.step;
    if (r.steps_per_second && *r.steps_per_second > 0) {
      step_seconds = 1.0 / *r.steps_per_second;
      step += static_cast<std::uint64_t>(std::max(0.0, now - status.written_at_unix) * *r.steps_per_second);
    }
    note_running(state, it->second, std::min(step, graph.stage(it->second).steps), step_seconds);
  }
}

}  // namespace

CampaignFolder open_campaign_folder(const std::string& target, const std::string& campaign_override,
                                    const std::string& cluster_file) {
  CampaignFolder out;
  out.folder = target;
  std::string campaign_file = campaign_override;
  // A campaign file names its output folder.
  if (std::filesystem::is_regular_file(out.folder)) {
    campaign_file = out.folder.string();
    auto loaded = load_campaign_file(campaign_file);
    if (!loaded.campaign) throw Error(fmt::format("{}:\n{}", campaign_file, loaded.diagnostics.to_string()));
    out.folder = loaded.campaign->output_dir;
  }
  const auto journal_file = out.folder / "journal.jsonl";
  if (!std::filesystem::exists(journal_file)) {
    throw Error(fmt::format("{}: no journal.jsonl: give a campaign's output folder (it has one once a run started) or its "
                            "campaign file",
                            out.folder.string()));
  }
  out.journal = Journal::read(journal_file);
  if (const nlohmann::json* run = newest_run(out.journal)) out.newest_run = *run;
  if (campaign_file.empty()) {
    if (!out.newest_run) {
      throw Error(fmt::format("{}: its journal does not say which campaign file ran (runs before this version did not "
                              "record it): pass --campaign FILE",
                              journal_file.string()));
    }
    campaign_file = out.newest_run->at("campaign_file").get<std::string>();
    if (!std::filesystem::exists(campaign_file)) {
      throw Error(fmt::format("{}: the campaign file its newest run used, {}, is gone: pass --campaign FILE",
                              out.folder.string(), campaign_file));
    }
  }
  out.campaign_file = campaign_file;
  Validated v = validate_campaign(campaign_file, 0, cluster_file);
  if (!v.diagnostics.empty()) throw Error(fmt::format("{}:\n{}", campaign_file, v.diagnostics.to_string()));
  out.graph.emplace(std::move(*v.graph));
  return out;
}

std::vector<acc::ScenarioStage> scenario_stages(const StageGraph& graph) {
  std::vector<acc::ScenarioStage> out;
  for (StageId id = 0; id < graph.size(); ++id) {
    const StageSpec& s = graph.stage(id);
    acc::ScenarioStage st{s.name, s.template_name, s.project, std::nullopt, true, {}};
    if (s.promise) {
      st.promise_metric = s.promise->metric;
      st.maximise = s.promise->maximise;
      const PromiseSpec& p = *s.promise;
      if (p.ucb) {
        st.promise_rule = fmt::format("upper confidence bounds (exploration {:g}, min_values {}), weight {:g}", p.exploration,
                                      p.min_values, p.weight);
      } else {
        st.promise_rule = fmt::format("successive halving (rungs from {} {}, reduction {:g}, bottom {}), weight {:g}",
                                      p.first_rung ? fmt::format("{:g}", *p.first_rung)
                                                   : fmt::format("{:g}", std::max(1.0, static_cast<double>(s.steps) / 10.0)),
                                      p.rungs_in_years ? "years" : "steps", p.reduction, p.bottom, p.weight);
      }
    }
    out.push_back(std::move(st));
  }
  return out;
}

FolderForecast forecast_folder(const ForecastSettings& settings) {
  FolderForecast out;
  const CampaignFolder cf = open_campaign_folder(settings.target, settings.campaign_file, settings.cluster_file);
  const std::filesystem::path& folder = cf.folder;
  const JournalContents& journal = cf.journal;
  const nlohmann::json* run = cf.newest_run ? &*cf.newest_run : nullptr;
  out.folder = folder;
  out.campaign_file = cf.campaign_file;
  const StageGraph& graph = *cf.graph;
  const Campaign& c = graph.campaign();
  out.campaign = c.name;

  // The machine: the one declared (with its feature tags), else what the newest run had.
  std::vector<NodeSpec> nodes;
  if (run) {
    for (const auto& n : run->value("nodes", nlohmann::json::array())) {
      nodes.push_back({n.value("name", ""), n.value("cores", 1), n.value("gpus", 0), n.value("memory_bytes", std::uint64_t{0}), 0});
    }
  }
  const Machine machine = forecast_machine(c, nodes);

  ForecastOptions options;
  options.draws = settings.draws;
  options.seed = settings.seed;
  options.node_mtbf_seconds = duration_option("--mtbf", settings.mtbf).value_or(c.checkpoint.node_mtbf_seconds);
  options.repair_seconds = duration_option("--repair", settings.repair).value_or(60.0);
  if (options.draws < 1 || options.draws > 10000) throw BadOption(fmt::format("--draws {}: give 1 to 10000", settings.draws));

  std::vector<acc::Segment> segments;
  std::vector<acc::CheckpointRow> checkpoints;
  const auto books = folder / "accounting.db";
  if (std::filesystem::exists(books)) {
    const acc::AccountingStore store(books, acc::AccountingStore::Mode::read_only);
    segments = store.segments();
    checkpoints = store.checkpoints();
  }
  out.as_of_unix = settings.as_of_unix.value_or(unix_time_seconds());
  CampaignState state = campaign_state(graph, read_history(graph, journal), segments, checkpoints, out.as_of_unix);
  // A run going on now says where its stages are once a second (log/status.json), fresher
  // than its books; a report (as_of given) keeps to the books.
  if (!settings.as_of_unix) note_live_progress(graph, folder / "log" / "status.json", out.as_of_unix, state);
  out.finished = std::all_of(state.history.begin(), state.history.end(), [](const StageHistory& h) { return h.completed; });
  if (out.finished) {
    // Done: its end is when its last segment ended, not now.
    out.as_of_unix = 0.0;
    for (const auto& s : segments) out.as_of_unix = std::max(out.as_of_unix, s.wall_end);
    if (segments.empty()) out.as_of_unix = unix_time_seconds();
  }
  out.forecast = forecast_campaign(graph, machine, policy_config_for(c), state, options);

  // Use so far and the forecast, against the campaign file's allocations.
  out.projects = allocation_outlooks(c, out.forecast, state, false);
  out.grants = allocation_outlooks(c, out.forecast, state, true);
  for (const auto& s : segments) out.used_by_scenario[s.scenario] += s.core_hours();
  out.warnings = overrun_warnings(out.projects, out.as_of_unix);
  for (auto& w : overrun_warnings(out.grants, out.as_of_unix)) out.warnings.push_back(std::move(w));
  return out;
}

nlohmann::json FolderForecast::to_json() const {
  const Forecast& f = forecast;
  nlohmann::json by_project = nlohmann::json::object(), projects_detail = nlohmann::json::array();
  for (const auto& p : projects) {
    by_project[p.name] = p.total();
    projects_detail.push_back(outlook_json(p, as_of_unix));
  }
  nlohmann::json grants_detail = nlohmann::json::array();
  for (const auto& g : grants) grants_detail.push_back(outlook_json(g, as_of_unix));
  nlohmann::json scenarios = nlohmann::json::object();
  for (const auto& [k, s] : f.core_hours_to_finish_by_scenario) {
    const auto used = used_by_scenario.find(k);
    scenarios[k] = {{"used_core_hours", used == used_by_scenario.end() ? 0.0 : used->second},
                    {"to_finish_core_hours", s.expected},
                    {"to_finish_interval", spread_json(s)}};
  }
  return {{"campaign", campaign},
          {"folder", folder.string()},
          {"campaign_file", campaign_file.string()},
          {"as_of_unix", as_of_unix},
          {"finished", finished},
          {"expected_end_unix", expected_end_unix()},
          {"expected_end_interval_unix", spread_json(f.seconds_to_finish, as_of_unix)},
          {"seconds_to_finish", f.seconds_to_finish.expected},
          {"core_hours_to_finish", f.core_hours_to_finish.expected},
          {"core_hours_to_finish_interval", spread_json(f.core_hours_to_finish)},
          {"core_hours_by_project", by_project},
          {"projects", projects_detail},
          {"grants", grants_detail},
          {"scenarios", scenarios},
          {"warnings", warnings},
          {"stages_left", f.stages_left},
          {"stages_measured", f.stages_measured},
          {"draws", f.draws},
          {"draws_unfinished", f.draws_unfinished},
          {"notes", f.notes}};
}

std::string FolderForecast::to_text() const {
  const Forecast& f = forecast;
  std::string out;
  if (finished) return fmt::format("forecast: campaign {} has completed every stage\n", campaign);
  out += fmt::format("forecast for campaign {} ({} stage(s) left, {} measured), as of {}:\n", campaign, f.stages_left,
                     f.stages_measured, date_of(as_of_unix));
  out += fmt::format("  expected end     {} (80%: {} to {}), in {}\n", date_of(expected_end_unix()),
                     date_of(as_of_unix + f.seconds_to_finish.low), date_of(as_of_unix + f.seconds_to_finish.high),
                     acc::format_duration(f.seconds_to_finish.expected));
  out += fmt::format("  to finish        {} core-hours\n", interval_text(f.core_hours_to_finish));
  for (const auto& p : projects) {
    out += fmt::format("  project {:<16} {} used + {} to finish", p.name.empty() ? "(none)" : p.name,
                       acc::format_core_hours(p.used_core_hours), interval_text(p.to_finish));
    if (p.allocation_core_hours) {
      out += fmt::format(" = {:.1f}% of {}", 100.0 * p.total() / *p.allocation_core_hours, acc::format_core_hours(*p.allocation_core_hours));
    }
    out += '\n';
  }
  for (const auto& w : warnings) out += fmt::format("  warning: {}\n", w);
  for (const auto& n : f.notes) out += fmt::format("  ({})\n", n);
  return out;
}

int command_forecast(const ForecastSettings& settings) {
  try {
    const FolderForecast f = forecast_folder(settings);
    if (settings.json) {
      fmt::print("{}\n", f.to_json().dump());
    } else {
      std::fputs(f.to_text().c_str(), stdout);
    }
    return 0;
  } catch (const BadOption& e) {
    std::fprintf(stderr, "perennial forecast: %s\n", e.what());
    return kExitBadInput;
  } catch (const Error& e) {
    std::fprintf(stderr, "perennial forecast: %s\n", e.what());
    return kExitBadInput;
  } catch (const acc::AccountingError& e) {
    std::fprintf(stderr, "perennial forecast: %s\n", e.what());
    return kExitBadInput;
  }
}

}  // namespace perennial
