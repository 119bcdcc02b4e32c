#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/json_line.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

namespace perennial {

RunStatus RunStatus::of(const CampaignRun& run, double now, double unix_now) {
  const auto& graph = run.graph();
  const auto& progress = run.progress();
  const auto& policy = run.policy();
  RunStatus s;
  s.campaign = graph.campaign().name;
  s.written_at_unix = unix_now;
  s.elapsed_seconds = now;
  s.finished = progress.finished() || run.stopping();
  s.stages = graph.size();
  s.completed = progress.count(StageState::completed);
  s.failed = progress.count(StageState::failed);
  for (const auto& w : policy.waiting_report(now)) {
    Waiting out{w.name, std::string(reason_name(w.reason)), w.detail, w.priority_score, std::nullopt};
    if (std::isfinite(w.expected_start)) out.expected_start_in_seconds = w.expected_start - now;
    s.waiting.push_back(std::move(out));
  }
  for (const auto& [id, r] : run.running()) {
    Running out{graph.stage(id).name, r.workers, now - r.started, r.told_to_stop.has_value(), r.last_step,
                graph.stage(id).steps, std::nullopt, std::nullopt, std::nullopt};
    if (r.queued_behind) {
      out.running_seconds = 0.0;
      out.queued_behind = graph.stage(*r.queued_behind).name;
      s.running.push_back(std::move(out));
      continue;
    }
    // Once it reported twice, its rate between the reports (start-up left out); before, since
    // its start.
    const bool stepping = r.first_progress && r.last_progress && r.last_progress->second > r.first_progress->second &&
                          r.last_progress->first > r.first_progress->first;
    if (stepping || (r.last_step > r.start_step && now > r.started)) {
      const double rate = stepping ? static_cast<double>(r.last_progress->second - r.first_progress->second) /
                                         (r.last_progress->first - r.first_progress->first)
                                   : static_cast<double>(r.last_step - r.start_step) / (now - r.started);
      out.steps_per_second = rate;
      if (out.steps > out.step) out.eta_seconds = static_cast<double>(out.steps - out.step) / rate;
    }
    s.running.push_back(std::move(out));
  }
  for (StageId id = 0; id < graph.size(); ++id) {
    // Paused ones too: their reason says so ("paused at step 40: ...").
    const StageState state = progress.state(id);
    if (state == StageState::suspended || state == StageState::paused) s.suspended.push_back({graph.stage(id).name, progress.reason(id)});
  }
  for (StageId id = 0; id < graph.size(); ++id) {
    std::string what;
    const auto hold = run.hand_hold(id);
    if (hold && progress.state(id) != StageState::completed) what = hold == CampaignRun::Hold::stopped ? "stopped by hand" : "paused by hand";
    if (run.priority_of(id) != graph.stage(id).priority) {
      what += fmt::format("{}priority {} (campaign file: {})", what.empty() ? "" : "; ", run.priority_of(id),
                          graph.stage(id).priority);
    }
    if (!what.empty()) s.by_hand.push_back({graph.stage(id).name, std::move(what)});
  }
  for (StageId id = 0; id < graph.size(); ++id) {
    if (progress.state(id) != StageState::waiting) continue;
    OnDependencies d{graph.stage(id).name, {}};
    for (StageId u : graph.upstream(id)) {
      if (progress.state(u) != StageState::completed) d.waits_for.push_back(graph.stage(u).name);
    }
    s.waiting_on_dependencies.push_back(std::move(d));
  }
  for (const auto& [project, seconds] : policy.core_seconds_by_project()) {
    s.core_hours_by_project[project.empty() ? "(none)" : project] = seconds / 3600.0;
  }
  const PolicyCounters& c = policy.counters();
  s.preemptions = c.preemptions;
  s.protected_interruptions = c.protected_interruptions;
  s.backfilled = c.backfilled;
  s.worker_ranks = policy.machine().live_workers();
  s.free_worker_ranks = policy.machine().free_workers();
  return s;
}

namespace {

// A list of objects, one to a line: `[\n{...},\n{...}\n]`.
class ObjectList {
 public:
  void add(const JsonLine& item) {
    text_ += text_.size() == 1 ? "\n" : ",\n";
    text_ += item.str();
  }
  std::string str() const { return text_.size() == 1 ? "[]" : text_ + "\n]"; }

 private:
  std::string text_ = "[";
};

double or_null(const std::optional<double>& v) { return v ? *v : std::numeric_limits<double>::quiet_NaN(); }

}  // namespace

// Written straight as text (JsonLine), not through an nlohmann tree: a status lists every
// waiting stage, and the tree built and dumped for 10,000 of them cost rank 0 about 10,000
// instructions a stage a write (callgrind), a tenth of a 10,000-stage run's time at its first
// write. from_json reads it back (the unit test run_status holds the two together).
std::string RunStatus::json_text() const {
  ObjectList running_list;
  for (const auto& r : running) {
    JsonLine item;
    item.text("stage", r.stage).wholes("ranks", r.ranks).number("running_seconds", r.running_seconds)
        .flag("stopping", r.stopping).count("step", r.step).count("steps", r.steps)
        .number("steps_per_second", or_null(r.steps_per_second)).number("eta_seconds", or_null(r.eta_seconds));
    if (r.queued_behind) item.text("queued_behind", *r.queued_behind);
    running_list.add(item);
  }
  ObjectList waiting_list;
  for (const auto& w : waiting) {
    waiting_list.add(JsonLine()
                         .text("stage", w.stage)
                         .text("reason", w.reason)
                         .text("detail", w.detail)
                         .number("priority_score", w.priority_score)
                         .number("expected_start_in_seconds", or_null(w.expected_start_in_seconds)));
  }
  ObjectList dependencies;
  for (const auto& d : waiting_on_dependencies) {
    dependencies.add(JsonLine().text("stage", d.stage).text("reason", "dependencies").texts("waits_for", d.waits_for));
  }
  ObjectList suspended_list;
  for (const auto& x : suspended) suspended_list.add(JsonLine().text("stage", x.stage).text("reason", x.reason));
  ObjectList hand_list;
  for (const auto& h : by_hand) hand_list.add(JsonLine().text("stage", h.stage).text("what", h.what));
  JsonLine project_hours;
  for (const auto& [project, hours] : core_hours_by_project) project_hours.number(project, hours);
  return JsonLine()
      .text("campaign", campaign)
      .number("written_at_unix", written_at_unix)
      .number("elapsed_seconds", elapsed_seconds)
      .flag("finished", finished)
      .count("stages", stages)
      .count("completed", completed)
      .count("failed", failed)
      .count("preemptions", preemptions)
      .count("protected_interruptions", protected_interruptions)
      .count("backfilled", backfilled)
      .count("worker_ranks", worker_ranks)
      .count("free_worker_ranks", free_worker_ranks)
      .raw("core_hours_by_project", project_hours.str())
      .raw("running", running_list.str())
      .raw("suspended", suspended_list.str())
      .raw("by_hand", hand_list.str())
      .raw("waiting", waiting_list.str())
      .raw("waiting_on_dependencies", dependencies.str())
      .str();
}

nlohmann::json RunStatus::to_json() const { return nlohmann::json::parse(json_text()); }

namespace {

template <class T>
T field(const nlohmann::json& j, const char* name, const std::string& where) {
  if (!j.contains(name)) throw Error(fmt::format("{}: no field '{}'", where, name));
  try {
    return j.at(name).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: field '{}': {}", where, name, e.what()));
  }
}

}  // namespace

RunStatus RunStatus::from_json(const nlohmann::json& j) {
  const std::string where = "status";
  RunStatus s;
  s.campaign = field<std::string>(j, "campaign", where);
  s.written_at_unix = field<double>(j, "written_at_unix", where);
  s.elapsed_seconds = field<double>(j, "elapsed_seconds", where);
  s.finished = field<bool>(j, "finished", where);
  s.stages = field<std::size_t>(j, "stages", where);
  s.completed = field<std::size_t>(j, "completed", where);
  s.failed = field<std::size_t>(j, "failed", where);
  // Fields added later are optional: a status written by an older perennial still reads.
  auto optional_number = [](const nlohmann::json& o, const char* name) -> std::optional<double> {
    if (o.contains(name) && o[name].is_number()) return o[name].get<double>();
    return std::nullopt;
  };
  for (const auto& r : field<nlohmann::json>(j, "running", where)) {
    Running out{field<std::string>(r, "stage", "running"), field<std::vector<int>>(r, "ranks", "running"),
                field<double>(r, "running_seconds", "running"), field<bool>(r, "stopping", "running"), 0, 0,
                optional_number(r, "steps_per_second"), optional_number(r, "eta_seconds"), std::nullopt};
    if (r.contains("queued_behind") && r["queued_behind"].is_string()) out.queued_behind = r["queued_behind"].get<std::string>();
    out.step = static_cast<std::uint64_t>(optional_number(r, "step").value_or(0));
    out.steps = static_cast<std::uint64_t>(optional_number(r, "steps").value_or(0));
    s.running.push_back(std::move(out));
  }
  if (j.contains("suspended") && j["suspended"].is_array()) {
    for (const auto& x : j["suspended"]) {
      s.suspended.push_back({field<std::string>(x, "stage", "suspended"), field<std::string>(x, "reason", "suspended")});
    }
  }
  if (j.contains("by_hand") && j["by_hand"].is_array()) {
    for (const auto& h : j["by_hand"]) {
      s.by_hand.push_back({field<std::string>(h, "stage", "by_hand"), field<std::string>(h, "what", "by_hand")});
    }
  }
  for (const auto& w : field<nlohmann::json>(j, "waiting", where)) {
    Waiting out{field<std::string>(w, "stage", "waiting"), field<std::string>(w, "reason", "waiting"),
                field<std::string>(w, "detail", "waiting"), field<double>(w, "priority_score", "waiting"), std::nullopt};
    if (w.contains("expected_start_in_seconds") && w["expected_start_in_seconds"].is_number()) {
      out.expected_start_in_seconds = w["expected_start_in_seconds"].get<double>();
    }
    s.waiting.push_back(std::move(out));
  }
  for (const auto& d : field<nlohmann::json>(j, "waiting_on_dependencies", where)) {
    s.waiting_on_dependencies.push_back({field<std::string>(d, "stage", "waiting_on_dependencies"),
                                         field<std::vector<std::string>>(d, "waits_for", "waiting_on_dependencies")});
  }
  s.core_hours_by_project = field<std::map<std::string, double>>(j, "core_hours_by_project", where);
  s.preemptions = field<std::uint64_t>(j, "preemptions", where);
  s.protected_interruptions = field<std::uint64_t>(j, "protected_interruptions", where);
  s.backfilled = field<std::uint64_t>(j, "backfilled", where);
  s.worker_ranks = field<std::size_t>(j, "worker_ranks", where);
  s.free_worker_ranks = field<std::size_t>(j, "free_worker_ranks", where);
  return s;
}

void RunStatus::write(const std::filesystem::path& file) const {
  const auto partial = file.string() + ".partial";
  {
    std::ofstream out(partial);
    out << json_text() << '\n';
  }
  std::error_code ec;
  std::filesystem::rename(partial, file, ec);  // readers never see half a file
}

RunStatus RunStatus::read(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(fmt::format("cannot read {}", file.string()));
  try {
    return from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{} is not readable JSON: {}", file.string(), e.what()));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", file.string(), e.what()));
  }
}

std::string RunStatus::to_text(double unix_now) const {
  auto when = [](const std::optional<double>& t) -> std::string {
    if (!t) return "unknown";
    if (*t < 120) return fmt::format("in {:.0f} s", *t);
    if (*t < 7200) return fmt::format("in {:.0f} min", *t / 60);
    return fmt::format("in {:.1f} h", *t / 3600);
  };
  const auto queued = static_cast<std::size_t>(
      std::count_if(running.begin(), running.end(), [](const Running& r) { return r.queued_behind.has_value(); }));
  std::string out = fmt::format(
      "campaign {}: {} of {} stages completed, {} failed; {} running{}, {} waiting, {} waiting on other stages{}\n",
      campaign, completed, stages, failed, running.size() - queued,
      queued ? fmt::format(" ({} more queued on their workers)", queued) : std::string(), waiting.size(),
      waiting_on_dependencies.size(),
      finished ? " (run ended)" : fmt::format(" (as of {:.0f} s ago)", unix_now - written_at_unix));
  out += fmt::format("worker ranks {} ({} free); preemptions {}; protected interruptions {}; backfilled starts {}\n",
                     worker_ranks, free_worker_ranks, preemptions, protected_interruptions, backfilled);
  for (const auto& r : running) {
    if (r.queued_behind) {
      out += fmt::format("  queued   {:<28} ranks {:<16} begins when {} ends there\n", r.stage, nlohmann::json(r.ranks).dump(),
                         *r.queued_behind);
      continue;
    }
    std::string where = r.steps > 0 ? fmt::format("step {} of {}", r.step, r.steps) : std::string();
    if (r.steps_per_second) where += fmt::format(", {:.3g} steps/s", *r.steps_per_second);
    if (r.eta_seconds) where += fmt::format(", ends {}", when(r.eta_seconds));
    out += fmt::format("  running  {:<28} ranks {:<16} for {:.0f} s{}{}\n", r.stage, nlohmann::json(r.ranks).dump(),
                       r.running_seconds, where.empty() ? "" : "; " + where, r.stopping ? " (checkpointing to stop)" : "");
  }
  for (const auto& x : suspended) out += fmt::format("  stopped  {:<28} {}\n", x.stage, x.reason);
  for (const auto& h : by_hand) out += fmt::format("  by hand  {:<28} {}\n", h.stage, h.what);
  for (const auto& w : waiting) {
    out += fmt::format("  waiting  {:<28} {:<18} start {:<12} {}\n", w.stage, w.reason, when(w.expected_start_in_seconds),
                       w.detail);
  }
  for (const auto& d : waiting_on_dependencies) {
    out += fmt::format("  waiting  {:<28} {:<18} on {}\n", d.stage, "dependencies", nlohmann::json(d.waits_for).dump());
  }
  if (!core_hours_by_project.empty()) {
    out += "core-hours charged by the scheduler in this run:";
    for (const auto& [project, hours] : core_hours_by_project) out += fmt::format(" {} {:.2f} core-h;", project, hours);
    out += "\n";
  }
  return out;
}

}  // namespace perennial
