#include <perennial/coordinator/simulator.hpp>

#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/promise_steering.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/errors.hpp>
#include <perennial/resource_usage.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>
#include <fstream>
#include <queue>
#include <random>
#include <set>
#include <sstream>

namespace perennial {

namespace {

// A stage's run, modelled: `work` seconds of computing in all, `done` of them safe in a
// checkpoint; while running it alternates `interval` seconds of work and `cost` seconds of
// writing a checkpoint.
struct SimStage {
  double work = 0.0;
  double done = 0.0;
  double step = 1.0;
  double interval = 0.0;  // 0: no checkpoints
  double cost = 0.0;
  double speed = 1.0;            // work seconds per wall second: its ranks over its declared ranks (ideal scaling)
  std::uint32_t generation = 0;  // events of an earlier run of the stage are stale
  double metric_rung = 0.0;      // the rung (steps) its pending metric report is for
  double started = 0.0;
  std::size_t run = 0;           // index in the report's runs
  std::uint64_t epochs = 0;      // epochs committed so far (stops report theirs)
  bool running = false;

  // Work done by `t` (computing only), and the part of it a checkpoint holds.
  std::pair<double, double> progress_at(double t) const {
    const double e = std::max(0.0, t - started);
    if (interval <= 0) return {std::min(work, done + e * speed), done};
    const double cycle = interval + cost;
    const double k = std::floor(e / cycle);
    const double in_cycle = e - k * cycle;
    return {std::min(work, done + (k * interval + std::min(in_cycle, interval)) * speed),
            std::min(work, done + k * interval * speed)};
  }
  // When the checkpoint it writes next (on its schedule) is written; nothing without checkpoints.
  std::optional<double> next_checkpoint_end(double t) const {
    if (interval <= 0) return std::nullopt;
    const double cycle = interval + cost;
    const double k = std::floor(std::max(0.0, t - started) / cycle);
    return started + k * cycle + cycle;
  }
  double wall_to_finish() const {
    const double remaining = (work - done) / speed;
    const double checkpoints = interval > 0 ? std::max(0.0, std::ceil(remaining / interval - 1e-9) - 1.0) : 0.0;
    return remaining + checkpoints * cost;
  }
  double finish_time() const { return started + wall_to_finish(); }
};

enum class EventKind { finish, stopped, node_failure, node_repaired, wake, metric };

struct Event {
  double time;
  std::uint64_t sequence;
  EventKind kind;
  std::uint32_t subject;     // stage or node
  std::uint32_t generation;  // for stage events
  StopOrder::Why why = StopOrder::Why::preempted;
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : sequence > o.sequence; }
};

// Drives a CampaignRun on a virtual clock: the same lifecycle and policy as a real run, with
// workers modelled (SimStage) instead of messaged. As its observer it keeps the trace and
// the report.
class Simulation final : public CampaignObserver {
 public:
  Simulation(const StageGraph& graph, Machine machine, const PolicyConfig& config, const SimulationOptions& options)
      : graph_(graph), options_(options),
        run_(graph, SchedulingPolicy(std::move(machine), config), simulated_recovery(), options.history),
        stages_(graph.size()), rng_(options.seed), steering_(run_) {
    run_.add_observer(*this);
    // A hard-capped project may use what is left of its allocation.
    for (const auto& p : graph.campaign().projects) {
      if (!p.hard_cap) continue;
      const auto used = options.used_core_hours_by_project.find(p.name);
      const double left = p.allocation_core_hours - (used == options.used_core_hours_by_project.end() ? 0.0 : used->second);
      run_.policy().set_cap(p.name, std::max(0.0, left) * 3600.0);
    }
    // The simulator knows each stage's true run time and checkpoint cost: the policy sees
    // them from the start, as a real run's policy sees measured figures.
    run_.set_estimator([this](StageId id, JobSpec& job) {
      const SimStage& st = stages_[id];
      job.remaining_seconds = st.wall_to_finish();  // computing plus the checkpoints on the way
      job.step_seconds = st.step;
      job.checkpoint_cost = st.cost;
      job.checkpoint_interval = st.interval;
    });
    run_.add_observer(steering_);
    if (!options.trace_csv.empty()) {
      if (options.trace_csv.has_parent_path()) std::filesystem::create_directories(options.trace_csv.parent_path());
      trace_.open(options.trace_csv);
      if (!trace_) throw Error(fmt::format("cannot write the trace {}", options.trace_csv.string()));
      trace_ << "hours,event,stage,project,ranks,nodes,detail\n";
    }
  }

  SimulationReport run() {
    const double cpu_start = process_cpu_seconds();
    report_.stages = graph_.size();
    for (StageId id = 0; id < graph_.size(); ++id) prepare(id);
    if (!options_.history.empty()) run_.reuse_earlier_work();
    if (!options_.running_at_start.empty()) {
      // Running stages hold their ranks: placed before anything waiting is considered.
      const std::set<StageId> running(options_.running_at_start.begin(), options_.running_at_start.end());
      run_.begin(0.0, [&](StageId id) { return running.count(id) != 0; });
      run_.decide(0.0);
    }
    run_.begin(0.0);
    if (options_.node_mtbf_seconds && run_.machine().node_count() > 0) schedule_failure(0.0);
    // The policy's time is a virtual clock that jumps from one event to the next.
    bool changed = true;
    while (true) {
      const double now = clock_.now();
      if (changed) {
        const Decision d = run_.decide(now);
        const double deadline = run_.policy().next_deadline();
        if (std::isfinite(deadline) && deadline > now) push(deadline, EventKind::wake, 0, 0);
        changed = false;
        // Waiting work that nothing will ever let start (past the allocation's end): stop
        // here rather than simulate failures of an idle machine forever.
        if (d.starts.empty() && run_.running().empty() && repairs_pending_ == 0) break;
      }
      if (run_.progress().finished() || events_.empty()) break;
      const Event e = events_.top();
      if (options_.stop_at && e.time > *options_.stop_at) {
        clock_.advance_to(*options_.stop_at);
        break;
      }
      events_.pop();
      clock_.advance_to(e.time);
      changed = handle(e, clock_.now()) || changed;
      record_moves(steering_.take_moves_made_meanwhile(), clock_.now());
      // Everything that happens at this instant is handled before the policy decides again,
      // as a real run's pass sees every completion that has arrived: otherwise a stage
      // ending now could be chosen to yield to a stage its own end makes room for.
      while (!events_.empty() && events_.top().time <= clock_.now()) {
        const Event same = events_.top();
        events_.pop();
        changed = handle(same, clock_.now()) || changed;
        record_moves(steering_.take_moves_made_meanwhile(), clock_.now());
      }
    }
    run_.policy().charge_until(clock_.now());
    finish_report(clock_.now());
    report_.cpu_seconds = process_cpu_seconds() - cpu_start;
    report_.peak_rss_bytes = peak_rss_bytes();
    return std::move(report_);
  }

 private:
  // Lost work is what a simulation measures: a stage restarts from its last checkpoint after
  // every node failure, however many (a real run's --max-restarts bounds one job, and a
  // months-long campaign is many jobs).
  static CampaignRunOptions simulated_recovery() {
    CampaignRunOptions o;
    o.max_restarts = std::numeric_limits<int>::max();
    return o;
  }

  void prepare(StageId id) {
    const StageSpec& s = graph_.stage(id);
    SimStage& st = stages_[id];
    const double expected = expected_seconds(s);
    const auto steps = static_cast<double>(std::max<std::uint64_t>(1, s.steps));
    if (id < options_.step_seconds.size() && options_.step_seconds[id]) {
      st.step = *options_.step_seconds[id];
      st.work = st.step * steps;
    } else {
      st.work = std::isfinite(expected) ? expected : options_.default_step_seconds * static_cast<double>(s.steps);
      st.step = st.work / steps;
    }
    st.cost = !s.checkpoint.enabled ? 0.0
              : id < options_.stage_checkpoint_cost.size() && options_.stage_checkpoint_cost[id]
                  ? *options_.stage_checkpoint_cost[id]
                  : options_.checkpoint_cost_seconds;
    st.interval = expected_checkpoint_interval(s, st.cost, 1, st.step);  // until placed
    // A stage resuming from a checkpoint has only the rest of its steps to compute.
    if (id < options_.history.size() && !options_.history[id].epochs.empty()) {
      const std::uint64_t from = std::min(options_.history[id].epochs.back().step, s.steps);
      st.done = st.step * static_cast<double>(from);
      st.epochs = options_.history[id].last_epoch;
    }
  }

  void push(double t, EventKind kind, std::uint32_t subject, std::uint32_t generation,
            StopOrder::Why why = StopOrder::Why::preempted) {
    events_.push({t, sequence_++, kind, subject, generation, why});
  }

  void schedule_failure(double now) {
    std::exponential_distribution<double> gap(static_cast<double>(run_.machine().node_count()) / *options_.node_mtbf_seconds);
    std::uniform_int_distribution<std::uint32_t> node(0, static_cast<std::uint32_t>(run_.machine().node_count() - 1));
    const double t = now + gap(rng_);
    push(t, EventKind::node_failure, node(rng_), 0);
  }

  void trace(double t, std::string_view event, std::optional<StageId> stage, std::string_view nodes = {},
             std::string_view detail = {}) {
    if (!trace_.is_open()) return;
    trace_ << fmt::format("{:.4f},{},", t / 3600.0, event);
    if (stage) {
      const StageSpec& s = graph_.stage(*stage);
      trace_ << s.name << ',' << s.project << ',' << s.ranks << ',';
    } else {
      trace_ << ",,,";
    }
    trace_ << nodes << ",\"" << detail << "\"\n";
  }

  std::string node_names(const Allocation& a) const {
    std::string out;
    for (const auto& [n, count] : a.ranks_on) {
      if (!out.empty()) out += ' ';
      out += run_.policy().machine().node(n).name;
    }
    return out;
  }

  // ---- the lifecycle's transitions, as the simulation models and records them ---------------

  void stage_started(StageId id, const ActiveRun& r, bool backfilled) override {
    const double now = clock_.now();
    SimStage& st = stages_[id];
    st.running = true;
    st.started = now;
    // Ideal scaling on another rank count than declared (a promise move).
    int ranks = 0;
    for (const auto& [n, count] : r.allocation.ranks_on) ranks += count;
    st.speed = ranks > 0 ? static_cast<double>(ranks) / static_cast<double>(std::max(1, graph_.stage(id).ranks)) : 1.0;
    ++st.generation;
    st.run = report_.runs.size();
    // The group checkpoints as its workers would: the MTBF is per node, so a group on more
    // nodes fails more often and checkpoints more often.
    st.interval = expected_checkpoint_interval(graph_.stage(id), st.cost, static_cast<int>(r.allocation.ranks_on.size()),
                                               st.step / st.speed);
    run_.policy().update_checkpointing(id, st.step, st.cost, st.interval);
    if (st.done > 0) run_.restored(id, r.attempt, step_of(st, st.done));
    run_.progressed(id, r.attempt, step_of(st, st.done), std::nullopt, now);
    SimulatedRun sim{id, now, 0.0, {}, "running", backfilled, r.allocation.cores()};
    for (const auto& [n, count] : r.allocation.ranks_on) sim.nodes.push_back(run_.policy().machine().node(n).name);
    report_.runs.push_back(std::move(sim));
    report_.peak_running = std::max<std::uint64_t>(report_.peak_running, run_.running().size());
    push(st.finish_time(), EventKind::finish, id, st.generation);
    schedule_metric(id, now);
    trace(now, backfilled ? "start_backfilled" : "start", id, node_names(r.allocation),
          st.interval > 0 ? fmt::format("checkpoints every {:.0f} s", st.interval) : std::string("no checkpoints"));
  }

  void stage_told_to_stop(StageId id, const StopOrder& stop) override {
    const double now = clock_.now();
    SimStage& st = stages_[id];
    // It stops at its next step boundary, then writes one checkpoint; a move to another rank
    // count waits for the checkpoint it writes anyway.
    const auto [work, safe] = st.progress_at(now);
    const double boundary = std::min(st.work, std::ceil(work / st.step - 1e-9) * st.step);
    const double at = stop.why == StopOrder::Why::resized ? st.next_checkpoint_end(now).value_or(st.finish_time())
                                                          : now + (boundary - work) / st.speed + st.cost;
    if (at >= st.finish_time()) return;  // it ends first anyway
    push(at, EventKind::stopped, id, st.generation, stop.why);
    trace(now, stop.why == StopOrder::Why::preempted ? "preempt"
               : stop.why == StopOrder::Why::paused  ? "pause"
               : stop.why == StopOrder::Why::resized ? "resize"
                                                     : "stop_for_end",
          id, {}, stop.reason);
  }

  void stage_completed(StageId id, const ActiveRun&, double now) override {
    end_run(stages_[id], now, "completed");
    trace(now, "complete", id);
  }

  void stage_yielded(StageId id, const ActiveRun&, std::uint64_t, double now) override {
    const SimStage& st = stages_[id];
    end_run(st, now, "preempted");
    trace(now, "yielded", id, {}, fmt::format("checkpointed at {:.1f} of {:.1f} h", st.done / 3600, st.work / 3600));
  }

  void stage_paused(StageId id, std::optional<std::uint64_t> step, const std::string& reason, double now) override {
    if (step) end_run(stages_[id], now, "paused");
    trace(now, "paused", id, {}, reason);
  }

  void stage_resumed(StageId id, const std::string& reason, double now) override { trace(now, "resumed", id, {}, reason); }

  void stage_resized(StageId id, const ActiveRun&, std::uint64_t, int ranks, const std::string&, double now) override {
    end_run(stages_[id], now, "resized");
    trace(now, "resized", id, {}, fmt::format("restarts on {} ranks", ranks));
  }

  void stage_suspended(StageId id, const ActiveRun&, std::uint64_t, double now) override {
    end_run(stages_[id], now, "end_of_allocation");
    trace(now, "suspended", id, {}, "checkpointed before the allocation's end");
  }

  void stage_lost(StageId id, const ActiveRun&, int, double now) override {
    const SimStage& st = stages_[id];
    end_run(st, now, "failed");
    trace(now, "lost", id, {}, fmt::format("restarts from {:.1f} h of work", st.done / 3600));
  }

  void stage_failed(StageId id, const std::string& why, const std::vector<StageId>& blocked) override {
    trace(clock_.now(), "impossible", id, {}, why);
    for (StageId b : blocked) trace(clock_.now(), "blocked", b, {}, run_.progress().reason(b));
  }

  // ---- the modelled workers ---------------------------------------------------------------

  // Returns whether the policy has something new to decide on.
  bool handle(const Event& e, double now) {
    switch (e.kind) {
      case EventKind::finish: {
        SimStage& st = stages_[e.subject];
        if (!st.running || st.generation != e.generation) return false;
        st.running = false;
        st.done = st.work;
        run_.stage_ended(e.subject, RunEnd{RunEnd::Kind::completed, 0, {}}, now);
        return true;
      }
      case EventKind::stopped: {
        SimStage& st = stages_[e.subject];
        if (!st.running || st.generation != e.generation) return false;
        const auto [work, safe] = st.progress_at(now - st.cost);
        st.running = false;
        st.done = std::min(st.work, std::ceil(work / st.step - 1e-9) * st.step);
        // The stop's checkpoint is an epoch like any other: the lifecycle sees it committed
        // before the stage's end, as a real run does.
        const auto step = static_cast<std::uint64_t>(std::llround(st.done / st.step));
        const ActiveRun* r = run_.active(e.subject);
        run_.epoch_committed(e.subject, r->attempt, EpochRecord{++st.epochs, step, {}, std::nullopt, 0}, st.cost, now,
                             static_cast<int>(r->allocation.ranks_on.size()));
        run_.stage_ended(e.subject, RunEnd{RunEnd::Kind::stopped, step, {}}, now);
        return true;
      }
      case EventKind::node_failure: {
        ++report_.node_failures;
        Machine& m = run_.machine();
        const NodeIndex node = e.subject;
        const bool was_up = m.is_up(node);
        trace(now, "node_failure", std::nullopt, m.node(node).name);
        if (was_up) {
          // Every stage with a rank there loses what it did since its last checkpoint.
          std::vector<StageId> hit;
          for (const auto& [id, r] : run_.running()) {
            if (std::any_of(r.allocation.ranks_on.begin(), r.allocation.ranks_on.end(),
                            [node](const auto& on) { return on.first == node; })) {
              hit.push_back(id);
            }
          }
          for (StageId id : hit) {
            SimStage& st = stages_[id];
            const Allocation& a = run_.active(id)->allocation;
            const auto [work, safe] = st.progress_at(now);
            const double interval_cycle = st.interval > 0 ? st.interval + st.cost : 0.0;
            const double elapsed = now - st.started;
            const double lost_wall = interval_cycle > 0 ? elapsed - std::floor(elapsed / interval_cycle) * interval_cycle : elapsed;
            report_.lost_core_hours += lost_wall * a.cores() / 3600.0;
            ++report_.stage_failures;
            st.running = false;
            st.done = safe;
            run_.stage_lost(id, now);
          }
          m.set_down(node);
          ++repairs_pending_;
          push(now + options_.repair_seconds, EventKind::node_repaired, node, 0);
        }
        if (!run_.progress().finished()) schedule_failure(now);
        return was_up;
      }
      case EventKind::node_repaired:
        --repairs_pending_;
        run_.machine().set_up(e.subject);
        trace(now, "node_repaired", std::nullopt, run_.machine().node(e.subject).name);
        return true;
      case EventKind::wake:
        return true;
      case EventKind::metric:
        return report_metric(e.subject, e.generation, now);
    }
    return false;
  }

  // ---- promise: metric values at each rung, and the moves they imply ----------------------

  // Only stages whose promise metric the campaign's `simulate:` block models report values.
  bool reports_promise(StageId id) const {
    const StageSpec& s = graph_.stage(id);
    return s.promise && s.simulated_metrics.count(s.promise->metric);
  }

  // A rung's position in steps. Rungs in simulated years: the simulator models no model time,
  // so the first rung falls at a tenth of the steps and model time runs evenly from there.
  double rung_steps(const StageSpec& s, int k) const {
    const SuccessiveHalving rules = halving_rules(s);
    const double first = s.promise->rungs_in_years ? std::max(1.0, static_cast<double>(s.steps) / 10.0) : rules.grace;
    return first * std::pow(rules.reduction, k);
  }

  // The stage's next metric report: at its next checkpoint, or its next rung if that comes
  // first (each tenth of its steps without checkpoints). From where it is now, not from where
  // this run started.
  void schedule_metric(StageId id, double now) {
    if (!reports_promise(id)) return;
    const StageSpec& s = graph_.stage(id);
    SimStage& st = stages_[id];
    const double work = st.progress_at(now).first;
    const double done_steps = work / st.step;
    const double every = st.interval > 0 ? std::max(1.0, std::floor(st.interval * st.speed / st.step))
                                         : std::max(1.0, static_cast<double>(s.steps) / 10.0);
    double target = (std::floor(done_steps / every + 1e-9) + 1.0) * every;
    if (!s.promise->ucb) {
      int k = 0;
      while (rung_steps(s, k) <= done_steps + 1e-9) ++k;
      target = std::min(target, rung_steps(s, k));
    }
    if (target > static_cast<double>(s.steps)) return;
    const double compute = (target * st.step - work) / st.speed;
    const double checkpoints = st.interval > 0 ? std::floor(compute / st.interval) : 0.0;
    st.metric_rung = target;
    push(now + compute + checkpoints * st.cost, EventKind::metric, id, st.generation);
  }

  bool report_metric(StageId id, std::uint32_t generation, double now) {
    SimStage& st = stages_[id];
    if (!st.running || st.generation != generation) return false;
    const StageSpec& s = graph_.stage(id);
    const SimulatedMetric& m = s.simulated_metrics.at(s.promise->metric);
    // Seeded by the stage and the rung alone: the same value whatever else happened first.
    std::mt19937_64 draw(options_.seed * 0x9E3779B97F4A7C15ULL ^ (std::uint64_t{id} << 20) ^
                         static_cast<std::uint64_t>(st.metric_rung));
    const double value = m.value + m.noise * std::normal_distribution<double>(0.0, 1.0)(draw);
    const double steps_done = st.metric_rung;
    const double years = s.promise->rungs_in_years && s.promise->first_rung
                             ? steps_done / rung_steps(s, 0) * *s.promise->first_rung * (1.0 + 1e-12)
                             : 0.0;
    bool changed = false;
    // The group tells how far it is, as a real one does about once a second: its rate, for the
    // steering's guards.
    if (const ActiveRun* r = run_.active(id)) {
      run_.progressed(id, r->attempt, static_cast<std::uint64_t>(std::llround(steps_done)), std::nullopt, now);
    }
    // The step that reports: the rung's step, or the first past it when the rung falls between steps.
    const auto step = static_cast<std::uint64_t>(std::max(0.0, std::ceil(steps_done - 1e-9) - 1.0));
    changed = record_moves(steering_.metric(id, step, years * graph_.campaign().calendar.seconds_per_year(),
                                            s.promise->metric, value, now),
                           now);
    if (st.running && !run_.active(id)->told_to_stop) schedule_metric(id, now);
    return changed;
  }

  // Each move in the stage's list and the trace; whether any was made.
  bool record_moves(const std::vector<SteeringMove>& moves, double now) {
    bool made = false;
    for (const SteeringMove& move : moves) {
      std::string detail = move.why.reason;
      if (!move.made) detail += "; not done: " + move.not_made;
      made = made || move.made;
      moves_[move.stage].push_back(fmt::format("{}: {}", move.kind, detail));
      trace(now, move.kind, move.stage, {}, detail);
    }
    return made;
  }

  static std::uint64_t step_of(const SimStage& st, double work) {
    return static_cast<std::uint64_t>(std::llround(work / st.step));
  }

  void end_run(const SimStage& st, double now, const char* how) {
    report_.runs[st.run].end = now;
    report_.runs[st.run].ended = how;
  }

  void finish_report(double now) {
    const auto& policy = run_.policy();
    const PolicyCounters& c = policy.counters();
    report_.makespan_seconds = now;
    report_.completed = run_.progress().count(StageState::completed);
    report_.preemptions = c.preemptions;
    report_.protected_interruptions = c.protected_interruptions;
    report_.backfilled = c.backfilled;
    report_.end_of_allocation_stops = c.end_of_allocation_stops;
    double used = 0.0;
    for (const auto& [project, seconds] : policy.core_seconds_by_project()) {
      report_.core_hours_by_project[project] = seconds / 3600.0;
      used += seconds;
    }
    const double capacity = static_cast<double>(policy.machine().total_cores()) * now;
    report_.utilisation = capacity > 0 ? used / capacity : 0.0;
    report_.first_reserved_start = policy.first_reservations();
    for (auto& r : report_.runs) {
      if (r.ended == "running") r.end = now;
    }
    report_.stage_outcomes.resize(graph_.size());
    for (const auto& r : report_.runs) report_.stage_outcomes[r.stage].core_hours += r.core_hours();
    for (StageId id = 0; id < graph_.size(); ++id) {
      report_.stage_outcomes[id].name = graph_.stage(id).name;
      report_.stage_outcomes[id].final_state = std::string(state_name(run_.progress().state(id)));
      if (const auto it = moves_.find(id); it != moves_.end()) report_.stage_outcomes[id].moves = it->second;
    }
    report_.stage_states.resize(graph_.size());
    for (StageId id = 0; id < graph_.size(); ++id) {
      const SimStage& st = stages_[id];
      SimulatedStage& out = report_.stage_states[id];
      out.completed = run_.progress().state(id) == StageState::completed;
      out.running = st.running;
      const auto [work, safe] = st.running ? st.progress_at(now) : std::pair{st.done, st.done};
      out.checkpointed_step = out.completed ? graph_.stage(id).steps : step_of(st, safe);
      out.computed_step = out.completed ? graph_.stage(id).steps : static_cast<std::uint64_t>(std::floor(work / st.step + 1e-9));
      out.step_seconds = st.step;
      out.checkpoint_cost = st.cost;
    }
  }

  const StageGraph& graph_;
  const SimulationOptions& options_;
  VirtualClock clock_;
  CampaignRun run_;
  std::vector<SimStage> stages_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t sequence_ = 0;
  int repairs_pending_ = 0;
  std::mt19937_64 rng_;
  std::ofstream trace_;
  SimulationReport report_;
  PromiseSteering steering_;
  std::map<StageId, std::vector<std::string>> moves_;
};

}  // namespace

SimulationReport simulate_campaign(const StageGraph& graph, Machine machine, const PolicyConfig& config,
                                   const SimulationOptions& options) {
  return Simulation(graph, std::move(machine), config, options).run();
}

nlohmann::json SimulationReport::to_json() const {
  return {{"makespan_hours", makespan_seconds / 3600.0},
          {"utilisation", utilisation},
          {"stage_count", stages},
          {"completed", completed},
          {"preemptions", preemptions},
          {"protected_interruptions", protected_interruptions},
          {"backfilled", backfilled},
          {"node_failures", node_failures},
          {"stage_failures", stage_failures},
          {"end_of_allocation_stops", end_of_allocation_stops},
          {"peak_running", peak_running},
          {"lost_core_hours", lost_core_hours},
          {"core_hours_by_project", core_hours_by_project},
          {"stages", [&] {
             nlohmann::json j = nlohmann::json::object();
             for (const auto& o : stage_outcomes) {
               j[o.name] = {{"core_hours", o.core_hours}, {"final_state", o.final_state}, {"moves", o.moves}};
             }
             return j;
           }()},
          {"simulation_cpu_seconds", cpu_seconds},
          {"simulation_peak_rss_mib", static_cast<double>(peak_rss_bytes) / (1024.0 * 1024.0)}};
}

std::string SimulationReport::to_text() const {
  std::ostringstream o;
  o << fmt::format("makespan                 {:.1f} h ({:.1f} days)\n", makespan_seconds / 3600, makespan_seconds / 86400);
  o << fmt::format("stages completed         {} of {}\n", completed, stages);
  o << fmt::format("peak concurrent stages   {}\n", peak_running);
  o << fmt::format("utilisation              {:.1f} %\n", 100 * utilisation);
  o << fmt::format("preemptions              {}\n", preemptions);
  o << fmt::format("protected interruptions  {}\n", protected_interruptions);
  o << fmt::format("backfilled starts        {}\n", backfilled);
  o << fmt::format("node failures            {} ({} stage runs lost work)\n", node_failures, stage_failures);
  o << fmt::format("stops before the end     {}\n", end_of_allocation_stops);
  o << fmt::format("lost work                {:.1f} core-hours\n", lost_core_hours);
  o << "core-hours by project\n";
  for (const auto& [project, hours] : core_hours_by_project) {
    o << fmt::format("  {:<22} {:.1f}\n", project.empty() ? "(none)" : project, hours);
  }
  o << fmt::format("simulation took          {:.2f} s CPU, {:.0f} MiB peak memory\n", cpu_seconds,
                   static_cast<double>(peak_rss_bytes) / (1024.0 * 1024.0));
  return o.str();
}

}  // namespace perennial
