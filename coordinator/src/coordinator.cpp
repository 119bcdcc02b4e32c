#include <perennial/coordinator/campaign_progress.hpp>
#include <perennial/coordinator/coordinator.hpp>
#include <perennial/coordinator/event_log.hpp>
#include <perennial/coordinator/heartbeat_monitor.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/scheduling_policy.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/checkpoint_interval.hpp>
#include <perennial/resource_usage.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <set>

namespace perennial {

namespace {

// How long a journal record may wait for its fdatasync: records are synced in groups so that
// thousands of short stages do not each pay a disk flush.
constexpr std::chrono::milliseconds kJournalSyncAge{20};

std::string rank_list(const std::vector<int>& ranks) { return fmt::format("{}", fmt::join(ranks, ",")); }

// Where the policy put a stage: the workers of its group.
struct Placement {
  StageId stage;
  std::vector<int> ranks;
};

// One stage group at work: who is in it and who has reported back.
struct RunningStage {
  std::uint32_t attempt = 0;
  std::vector<int> ranks;
  std::set<int> reported;
  std::vector<std::string> errors;
  double started = 0.0;
  std::optional<double> first_failure;
  std::optional<std::uint64_t> stopped_at;  ///< step at which it checkpointed and stopped on request
  std::optional<StopOrder::Why> yielding;   ///< the policy told it to checkpoint and stop
  std::uint64_t start_step = 0;             ///< the step it resumed from
  std::vector<int> lost;                    ///< ranks that died or were ended on purpose
};

class CoordinatorLoop {
 public:
  CoordinatorLoop(const StageGraph& graph, WorkerPools& workers, const CoordinatorOptions& options)
      : graph_(graph), workers_(workers), options_(options),
        outputs_dir_(graph.campaign().output_dir / "outputs"), log_dir_(graph.campaign().output_dir / "log"),
        checkpoints_dir_(graph.campaign().output_dir / "checkpoints"),
        events_(log_dir_, options.quiet, clock_), progress_(graph), policy_(Machine{}, policy_config_for(graph.campaign())),
        journal_path_(graph.campaign().output_dir / "journal.jsonl"),
        heartbeats_(workers.live_workers(), 0.0, options.heartbeat_timeout.count()),
        faults_text_(options.faults.to_string()) {
    std::filesystem::create_directories(outputs_dir_);
    auto earlier = Journal::read(journal_path_);
    for (const auto& warning : earlier.warnings) events_.progress("journal: " + warning);
    resumed_run_ = !earlier.records.empty();
    history_ = read_history(graph, earlier);
    journal_.emplace(journal_path_);
    for (const auto& p : graph.campaign().projects) policy_.set_share(p.name, p.share);
    add_workers(workers.live_workers(), 0);
    if (options.end_epoch_seconds) {
      const double from_now = *options.end_epoch_seconds - unix_time_seconds();
      policy_.set_end_time(events_.elapsed() + from_now);
      events_.record({{"event", "allocation_end"}, {"in_seconds", from_now}});
    }
  }

  CampaignOutcome run() {
    const double cpu_start = process_cpu_seconds();
    const auto& c = graph_.campaign();
    events_.record({{"event", "campaign_started"}, {"campaign", c.name}, {"stages", graph_.size()},
                    {"worker_ranks", policy_.machine().live_workers()}, {"coordinator_pid", ::getpid()}});
    events_.progress(fmt::format("campaign {}: {} stages on {} worker ranks; outputs in {}", c.name, graph_.size(),
                                 policy_.machine().live_workers(), outputs_dir_.string()));
    journal_->append({{"type", "run_started"}, {"campaign", c.name}, {"worker_ranks", policy_.machine().live_workers()}});
    record_workers();
    if (resumed_run_) reuse_earlier_work();
    for (StageId id : progress_.ready()) submit(id);
    if (options_.startup_beats) options_.startup_beats->stop();  // the loop beats from here on
    IdleBackoff backoff(std::chrono::milliseconds(20));
    while (true) {
      workers_.progress_sends();
      if (stop_requested()) request_stop();
      if (!stopping_) dispatch_ready();
      // Ranks being spawned must be connected (and then shut down) before the end: left
      // alone they would wait for rank 0 inside MPI forever.
      if ((stopping_ ? running_.empty() : progress_.finished()) && spawning_.empty() && deferred_.empty()) break;
      journal_->sync_if_older_than(kJournalSyncAge);
      if (auto envelope = workers_.wait(next_wait(), backoff)) handle(*envelope);
      watch_heartbeats();
      expire_failure_grace();
      collect_spawns();
    }
    shutdown_workers();
    CampaignOutcome outcome;
    outcome.checkpointed = stopping_ && progress_.count(StageState::failed) == 0 && stuck_.empty();
    outcome.wall_seconds = events_.elapsed();
    outcome.coordinator_cpu_seconds = process_cpu_seconds() - cpu_start;
    outcome.stuck_ranks.assign(stuck_.begin(), stuck_.end());
    outcome.dead_ranks.assign(dead_.begin(), dead_.end());
    outcome.exit_code = progress_.all_completed() || outcome.checkpointed ? 0 : 1;
    outcome.summary = summarize(outcome);
    write_status(events_.elapsed(), true);
    journal_->append({{"type", "run_ended"},
                      {"status", progress_.all_completed() ? "completed" : outcome.checkpointed ? "checkpointed" : "incomplete"}});
    journal_->sync();
    events_.record({{"event", "campaign_finished"},
                    {"completed", progress_.count(StageState::completed)},
                    {"failed", progress_.count(StageState::failed)},
                    {"never_started", progress_.count(StageState::blocked)},
                    {"wall_seconds", outcome.wall_seconds},
                    {"coordinator_cpu_seconds", outcome.coordinator_cpu_seconds},
                    {"stuck_ranks", outcome.stuck_ranks}});
    events_.log().info("{}", outcome.summary);
    return outcome;
  }

 private:
  std::filesystem::path output_file(StageId id) const { return outputs_dir_ / (graph_.stage(id).name + ".h5"); }

  // Stages an earlier run completed, with the same definition and an output still on disk
  // that verifies (checksums, stage name), are not run again. A damaged or missing output
  // (a crash, a disk that lost it) makes the stage run again, and its downstream stages
  // after it, rather than fail later reading "damaged input".
  void reuse_earlier_work() {
    std::size_t reused = 0;
    const boost::mpi::communicator self(MPI_COMM_SELF, boost::mpi::comm_attach);
    for (StageId id : graph_.topological_order()) {
      const StageSpec& s = graph_.stage(id);
      StageHistory& h = history_[id];
      if (!h.note.empty()) events_.progress(fmt::format("resume    {}: {}", s.name, h.note));
      if (!h.completed) continue;
      if (!s.outputs.empty() && !std::filesystem::exists(output_file(id))) {
        events_.progress(fmt::format("resume    {}: completed earlier but {} is missing: running it again", s.name,
                                     output_file(id).string()));
        continue;
      }
      if (!s.outputs.empty()) {
        const auto verdict = checkpoint::verify_output(self, output_file(id), {{"stage", s.name}});
        if (!verdict.ok) {
          events_.record({{"event", "output_rejected"}, {"stage", s.name}, {"problem", verdict.problem}});
          events_.progress(fmt::format("resume    {}: completed earlier but its output does not verify ({}): running it again",
                                       s.name, verdict.problem));
          continue;
        }
      }
      bool upstream_done = true;
      for (StageId u : graph_.upstream(id)) upstream_done = upstream_done && progress_.state(u) == StageState::completed;
      if (!upstream_done) continue;
      progress_.reuse(id);
      ++reused;
      events_.record({{"event", "stage_reused"}, {"stage", s.name}});
    }
    events_.progress(fmt::format("resuming: {} of {} stages completed in an earlier run are kept", reused, graph_.size()));
  }

  bool stop_requested() const { return options_.stop_signal && options_.stop_signal->load() != 0 && !stopping_; }

  // Every running stage checkpoints at its next step boundary and stops; nothing new starts.
  void request_stop() {
    stopping_ = true;
    events_.progress(fmt::format("signal {} received: checkpointing {} running stage(s), then stopping",
                                 options_.stop_signal->load(), running_.size()));
    events_.record({{"event", "stop_requested"}, {"signal", options_.stop_signal->load()}});
    for (const auto& [id, r] : running_) {
      workers_.send(r.ranks.front(), msg::kCheckpointRequest, msg::CheckpointRequest{id, r.attempt, true});
    }
  }

  // One pass of the scheduling policy: what starts where, what yields, what never fits.
  void dispatch_ready() {
    const double now = events_.elapsed();
    // Most loop turns follow a message that changed nothing the policy looks at.
    if (!policy_dirty_ && now < next_policy_pass_) return;
    policy_dirty_ = false;
    next_policy_pass_ = now + 1.0;  // at least once a second: fair share, aging, the end time
    Decision decision = policy_.decide(now);
    for (const auto& [id, why] : decision.impossible) {
      const auto blocked = progress_.fail(id, why);
      report_failure(id, why, blocked);
    }
    for (const auto& stop : decision.stops) {
      RunningStage& r = running_.at(stop.job);
      r.yielding = stop.why;
      workers_.send(r.ranks.front(), msg::kCheckpointRequest, msg::CheckpointRequest{stop.job, r.attempt, true});
      const bool preempted = stop.why == StopOrder::Why::preempted;
      events_.record({{"event", preempted ? "stage_preempted" : "stage_stopping_for_end"}, {"stage", graph_.stage(stop.job).name},
                      {"reason", stop.reason}});
      events_.progress(fmt::format("{} {}: {}; it checkpoints at its next step", preempted ? "preempt  " : "stopping ",
                                   graph_.stage(stop.job).name, stop.reason));
    }
    for (auto& s : decision.starts) {
      progress_.start(s.job);
      start(Placement{s.job, s.allocation.workers}, s.backfilled);
    }
    // Past the point where anything could still start before the allocation ends: stop
    // once the running stages have checkpointed.
    if (policy_.config().end_time && decision.starts.empty() && running_.empty() && policy_.waiting_count() > 0 &&
        !stopping_) {
      stopping_ = true;
      events_.progress("the allocation ends before any waiting stage could reach a checkpoint: stopping");
    }
    write_status(now);
  }

  void submit(StageId id) {
    const StageSpec& s = graph_.stage(id);
    const int ranks = overrides_.count(id) ? overrides_.at(id) : s.ranks;
    const auto m = measured_.find(id);
    const bool measured = m != measured_.end() && m->second.step_seconds > 0;
    // Until its first checkpoint is measured, its cost is assumed as the workers assume it.
    JobSpec job = job_for(s, id, policy_.machine(), ranks,
                          measured ? m->second.checkpoint_cost : kFirstCheckpointCostGuessSeconds);
    if (measured) {
      job.step_seconds = m->second.step_seconds;
      job.remaining_seconds = m->second.step_seconds * static_cast<double>(s.steps);
      job.checkpoint_interval = expected_checkpoint_interval(s, job.checkpoint_cost, 1, job.step_seconds);
    }
    job.queued_since = ready_since_.emplace(id, events_.elapsed()).first->second;
    const StageHistory& h = history_[id];
    // A stage resuming from a checkpoint has only the rest of its steps to go.
    if (!h.epochs.empty() && std::isfinite(job.remaining_seconds) && s.steps > 0) {
      job.remaining_seconds *= 1.0 - static_cast<double>(std::min<std::uint64_t>(h.epochs.back().step, s.steps)) /
                                         static_cast<double>(s.steps);
    }
    policy_.submit(job);
    policy_dirty_ = true;
  }

  // Nodes a group spans: its failure rate, in the interval rule.
  int node_count(const std::vector<int>& ranks) const {
    std::set<std::string> nodes;
    for (int id : ranks) nodes.insert(workers_.worker(id).hello.node);
    return static_cast<int>(nodes.size());
  }

  // Workers joining (at start, or spawned): each on its node, a partition per pool. A node
  // the campaign's cluster: section names gets its declared resources; any other is
  // detected, with as many cores as workers on it.
  void add_workers(const std::vector<int>& ids, int partition) {
    Machine& m = policy_.machine();
    const ClusterSpec& cluster = graph_.campaign().cluster;
    for (int id : ids) {
      const std::string& node = workers_.worker(id).hello.node;
      auto n = m.find_node(node);
      if (!n) {
        NodeSpec spec{node, 0, 0, 0, 0};
        for (const auto& k : cluster.classes) {
          if (std::find(k.names.begin(), k.names.end(), node) == k.names.end()) continue;
          spec = NodeSpec{node, k.cores, k.gpus, k.memory_bytes, m.feature_mask(k.features)};
        }
        n = m.add_node(spec);
        if (spec.cores == 0) workers_on_detected_node_[*n] = 0;
      }
      m.add_worker(*n, partition, id);
      if (auto d = workers_on_detected_node_.find(*n); d != workers_on_detected_node_.end()) {
        m.grow_cores(*n, static_cast<int>(++d->second));
      }
    }
    policy_dirty_ = true;
  }

  // `log/status.json`, for `perennial status`: at most once a second, and at the end.
  void write_status(double now, bool force = false) {
    if (!force && now < next_status_) return;
    next_status_ = now + 1.0;
    nlohmann::json waiting = nlohmann::json::array();
    for (const auto& w : policy_.waiting_report(now)) {
      waiting.push_back({{"stage", w.name}, {"reason", reason_name(w.reason)}, {"detail", w.detail},
                         {"priority_score", w.priority_score},
                         {"expected_start_in_seconds", std::isfinite(w.expected_start) ? nlohmann::json(w.expected_start - now) : nlohmann::json()}});
    }
    nlohmann::json running = nlohmann::json::array();
    for (const auto& [id, r] : running_) {
      running.push_back({{"stage", graph_.stage(id).name}, {"ranks", r.ranks}, {"running_seconds", now - r.started},
                         {"stopping", r.yielding.has_value()}});
    }
    nlohmann::json blocked = nlohmann::json::array();
    for (StageId id = 0; id < graph_.size(); ++id) {
      const auto st = progress_.state(id);
      if (st == StageState::waiting) {
        std::vector<std::string> on;
        for (StageId u : graph_.upstream(id)) {
          if (progress_.state(u) != StageState::completed) on.push_back(graph_.stage(u).name);
        }
        blocked.push_back({{"stage", graph_.stage(id).name}, {"reason", "dependencies"}, {"waits_for", on}});
      }
    }
    nlohmann::json usage;
    for (const auto& [project, seconds] : policy_.core_seconds_by_project()) usage[project.empty() ? "(none)" : project] = seconds / 3600.0;
    const PolicyCounters& c = policy_.counters();
    nlohmann::json status = {{"campaign", graph_.campaign().name}, {"written_at_unix", unix_time_seconds()},
                             {"elapsed_seconds", now}, {"finished", progress_.finished() || stopping_},
                             {"stages", graph_.size()}, {"completed", progress_.count(StageState::completed)},
                             {"failed", progress_.count(StageState::failed)}, {"running", running},
                             {"waiting", waiting}, {"waiting_on_dependencies", blocked},
                             {"core_hours_by_project", usage}, {"preemptions", c.preemptions},
                             {"protected_interruptions", c.protected_interruptions}, {"backfilled", c.backfilled},
                             {"worker_ranks", policy_.machine().live_workers()}, {"free_worker_ranks", policy_.machine().free_workers()}};
    const auto path = log_dir_ / "status.json";
    const auto partial = log_dir_ / "status.json.partial";
    {
      std::ofstream out(partial);
      out << status.dump(1) << '\n';
    }
    std::error_code ec;
    std::filesystem::rename(partial, path, ec);  // readers never see half a file
  }

  void start(const Placement& placement, bool backfilled) {
    const StageSpec& s = graph_.stage(placement.stage);
    msg::AssignStage assign;
    assign.stage_id = placement.stage;
    assign.attempt = ++attempts_[placement.stage];
    assign.stage = s.name;
    assign.kernel = s.kernel;
    // Group order follows the worker ids; members are named by their rank in the pool's
    // communicators, which is what MPI_Comm_create_group needs.
    for (int id : placement.ranks) assign.members.push_back(workers_.worker(id).rank);
    assign.steps = s.steps;
    assign.parameters = s.parameters;
    assign.outputs = s.outputs;
    for (const auto& input : graph_.inputs(placement.stage)) {
      auto& files = assign.inputs[input.name];
      for (const auto& [upstream, output] : input.sources) {
        files.push_back({graph_.stage(upstream).name, output, output_file(upstream).string(),
                         *graph_.stage(upstream).find_output(output)});
      }
    }
    assign.output_file = output_file(placement.stage).string();
    assign.log_dir = log_dir_.string();
    assign.campaign = graph_.campaign().name;
    assign.definition = stage_definition(graph_, placement.stage);
    assign.checkpoint = s.checkpoint;
    assign.checkpoint_dir = (checkpoints_dir_ / s.name).string();
    const StageHistory& h = history_[placement.stage];
    for (auto it = h.epochs.rbegin(); it != h.epochs.rend(); ++it) {
      assign.restore_from.push_back((graph_.campaign().output_dir / it->file).lexically_normal().string());
    }
    assign.next_epoch = h.last_epoch + 1;
    assign.faults = faults_text_;
    assign.cores_per_rank = std::max(1, s.cores_per_rank);
    journal_->append({{"type", "stage_started"}, {"stage", s.name}, {"attempt", assign.attempt},
                      {"definition", assign.definition}});
    for (int id : placement.ranks) workers_.send(id, msg::kAssignStage, assign);

    RunningStage& r = running_[placement.stage];
    r = RunningStage{};
    r.attempt = assign.attempt;
    r.ranks = placement.ranks;
    r.started = events_.elapsed();
    std::vector<std::string> nodes;
    for (int id : placement.ranks) {
      const std::string& node = workers_.worker(id).hello.node;
      if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(node);
    }
    events_.record({{"event", "stage_started"}, {"stage", s.name}, {"kernel", s.kernel}, {"ranks", placement.ranks},
                    {"nodes", nodes}, {"attempt", assign.attempt}, {"backfilled", backfilled}});
    events_.progress(fmt::format("started   {} on ranks {} ({} x{}, {} steps)", s.name, rank_list(placement.ranks),
                                 s.kernel, placement.ranks.size(), s.steps));
  }

  std::chrono::nanoseconds next_wait() const {
    // Wake at the earliest failure-grace deadline, and at least once a second.
    double wait = journal_->unsynced() ? std::chrono::duration<double>(kJournalSyncAge).count() : 0.25;
    for (const auto& [id, r] : running_) {
      if (r.first_failure) {
        wait = std::min(wait, std::max(0.0, *r.first_failure + options_.failure_grace.count() - events_.elapsed()));
      }
    }
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(wait));
  }

  void handle(const WorkerPools::Envelope& e) {
    switch (e.status.tag()) {
      case msg::kStageDone: on_stage_done(e.worker, workers_.receive<msg::StageDone>(e)); break;
      case msg::kMetric: on_metric(workers_.receive<msg::Metric>(e)); break;
      case msg::kEpochCommitted: on_epoch(workers_.receive<msg::EpochCommitted>(e)); break;
      case msg::kStageRestored: on_restored(workers_.receive<msg::StageRestored>(e)); break;
      case msg::kCheckpointFailed: on_checkpoint_failed(workers_.receive<msg::CheckpointFailed>(e)); break;
      case msg::kStopDeclined: on_stop_declined(workers_.receive<msg::StopDeclined>(e)); break;
      default:
        // Unknown traffic: drain it so it cannot clog the queue, and say so.
        workers_.discard(e);
        events_.log().warn("ignored a message with unknown tag {} from worker {}", e.status.tag(), e.worker);
    }
  }

  void on_checkpoint_failed(const msg::CheckpointFailed& f) {
    if (f.stage_id >= graph_.size()) return;
    const StageSpec& s = graph_.stage(f.stage_id);
    events_.record({{"event", "checkpoint_failed"}, {"stage", s.name}, {"epoch", f.epoch}, {"step", f.step},
                    {"error", f.error}});
    events_.progress(fmt::format("checkpoint {} epoch {} at step {} not written ({}); the stage goes on", s.name,
                                 f.epoch, f.step, f.error));
  }

  // The stage could not stop at a committed epoch: it keeps running, and the policy takes
  // the order back (the stage it was to yield to looks elsewhere or waits).
  void on_stop_declined(const msg::StopDeclined& d) {
    auto it = running_.find(d.stage_id);
    if (it == running_.end() || it->second.attempt != d.attempt) return;
    it->second.yielding.reset();
    policy_.stop_declined(d.stage_id, events_.elapsed());
    policy_dirty_ = true;
    const StageSpec& s = graph_.stage(d.stage_id);
    events_.record({{"event", "stage_stop_declined"}, {"stage", s.name}, {"step", d.step}, {"reason", d.reason}});
    events_.progress(fmt::format("continue  {}: asked to stop at step {}, but {}; it keeps running", s.name, d.step, d.reason));
  }

  void on_metric(const msg::Metric& m) {
    if (m.stage_id >= graph_.size()) return;
    events_.record({{"event", "metric"}, {"stage", graph_.stage(m.stage_id).name}, {"step", m.step},
                    {"name", m.name}, {"value", m.value}});
  }

  // Recorded only now that the group has written, synced, renamed and verified the file.
  void on_epoch(const msg::EpochCommitted& e) {
    if (e.stage_id >= graph_.size()) return;
    const StageSpec& s = graph_.stage(e.stage_id);
    // Paths are journaled relative to the output folder, so a moved or copied folder resumes.
    EpochRecord record{e.epoch, e.step, std::filesystem::path(e.file).lexically_relative(graph_.campaign().output_dir).string()};
    journal_->append(journal_epoch_committed(graph_, e.stage_id, record));
    StageHistory& h = history_[e.stage_id];
    h.epochs.push_back(record);
    h.last_epoch = std::max(h.last_epoch, e.epoch);
    if (auto r = running_.find(e.stage_id); r != running_.end()) {
      // Measured figures replace the guesses: the step rate gives the remaining time, and the
      // checkpoint's cost the interval the group keeps now (the workers' rule, on its nodes)
      // and how early a stop before the allocation's end must come.
      const double ran = events_.elapsed() - r->second.started;
      Measured& m = measured_[e.stage_id];
      m.checkpoint_cost = e.seconds;
      if (e.step > r->second.start_step && ran > 0) m.step_seconds = ran / static_cast<double>(e.step - r->second.start_step);
      if (m.step_seconds > 0) {
        policy_.update_remaining(e.stage_id, m.step_seconds * static_cast<double>(s.steps - std::min(s.steps, e.step)),
                                 events_.elapsed());
        policy_.update_checkpointing(e.stage_id, m.step_seconds, m.checkpoint_cost,
                                     expected_checkpoint_interval(s, m.checkpoint_cost, node_count(r->second.ranks), m.step_seconds));
      }
    }
    events_.record({{"event", "checkpoint_committed"}, {"stage", s.name}, {"epoch", e.epoch}, {"step", e.step},
                    {"file", e.file}, {"seconds", e.seconds}, {"bytes", e.bytes}, {"interval", e.interval}});
    events_.log().info("checkpoint {} epoch {} at step {}: {} bytes in {:.3f} s; next: {}", s.name, e.epoch, e.step,
                       e.bytes, e.seconds, e.interval);
  }

  void on_restored(const msg::StageRestored& r) {
    if (r.stage_id >= graph_.size()) return;
    const StageSpec& s = graph_.stage(r.stage_id);
    for (const auto& problem : r.rejected) events_.progress(fmt::format("rejected  {}: {}", s.name, problem));
    if (auto it = running_.find(r.stage_id); it != running_.end() && r.restored) it->second.start_step = r.step;
    events_.record({{"event", "stage_restored"}, {"stage", s.name}, {"restored", r.restored}, {"file", r.file},
                    {"step", r.step}, {"rejected", r.rejected}});
    if (r.restored) {
      events_.progress(fmt::format("resumed   {} from {} at step {}", s.name, r.file, r.step));
    } else if (!r.rejected.empty()) {
      events_.progress(fmt::format("restart   {}: no valid checkpoint left; starting again from its inputs", s.name));
    }
  }

  void on_stage_done(int rank, const msg::StageDone& done) {
    if (dead_.count(rank)) return;  // a rank ended on purpose may have reported on its way out
    auto it = running_.find(done.stage_id);
    if (it == running_.end() || it->second.attempt != done.attempt) {
      events_.log().warn("late report from rank {} for stage id {} attempt {}", rank, done.stage_id, done.attempt);
      return;
    }
    RunningStage& r = it->second;
    r.reported.insert(rank);
    if (!done.ok) {
      r.errors.push_back(fmt::format("rank {}: {}", rank, done.error));
      if (!r.first_failure) r.first_failure = events_.elapsed();
    }
    if (done.stopped) r.stopped_at = done.steps_done;
    if (r.reported.size() == r.ranks.size()) finish(done.stage_id);
  }

  void finish(StageId id) {
    RunningStage r = std::move(running_.at(id));
    running_.erase(id);
    // Dead and stuck ranks were retired: they stay out.
    policy_.finished(id, events_.elapsed(), r.errors.empty() && r.stopped_at.has_value());
    policy_dirty_ = true;
    recovering_.erase(id);
    const StageSpec& s = graph_.stage(id);
    const double seconds = events_.elapsed() - r.started;
    if (r.errors.empty() && r.stopped_at) {
      // Workers stop only after committing an epoch at that step, and that epoch's record
      // arrives first (same sender, same communicator): say so if it ever did not.
      const auto& epochs = history_[id].epochs;
      if (epochs.empty() || epochs.back().step != *r.stopped_at) {
        events_.log().error("stage {} stopped at step {} without a committed epoch there; it resumes from {}", s.name,
                            *r.stopped_at, epochs.empty() ? std::string("its inputs") : fmt::format("step {}", epochs.back().step));
      }
    }
    if (r.errors.empty() && r.stopped_at && r.yielding == StopOrder::Why::preempted && !stopping_) {
      // Preempted: checkpointed at a step boundary; it waits and resumes from that step.
      progress_.requeue(id, fmt::format("preempted; resumes from step {}", *r.stopped_at));
      events_.record({{"event", "stage_yielded"}, {"stage", s.name}, {"step", *r.stopped_at}, {"ranks", r.ranks}});
      events_.progress(fmt::format("yielded   {} at step {} (checkpointed); it resumes when ranks are free", s.name,
                                   *r.stopped_at));
      submit(id);
      return;
    }
    if (r.errors.empty() && r.stopped_at) {
      progress_.suspend(id, fmt::format("checkpointed at step {} of {}; resumes on the next run", *r.stopped_at, s.steps));
      events_.record({{"event", "stage_suspended"}, {"stage", s.name}, {"step", *r.stopped_at}});
      events_.progress(fmt::format("suspended {} at step {} (checkpointed)", s.name, *r.stopped_at));
      return;
    }
    if (r.errors.empty()) {
      auto now_ready = progress_.complete(id);
      for (StageId next : now_ready) submit(next);
      journal_->append(journal_stage_completed(graph_, id, output_file(id).lexically_relative(graph_.campaign().output_dir).string()));
      events_.record({{"event", "stage_completed"}, {"stage", s.name}, {"seconds", seconds}, {"ranks", r.ranks}});
      events_.progress(fmt::format("completed {} in {:.2f} s", s.name, seconds));
      return;
    }
    const auto blocked = progress_.fail(id, r.errors.front());
    journal_->append({{"type", "stage_failed"}, {"stage", s.name}, {"error", r.errors.front()}});
    report_failure(id, fmt::format("{}", fmt::join(r.errors, "; ")), blocked);
  }

  // `blocked`: the stages the failure left unable to start (CampaignProgress::fail's answer),
  // each announced once.
  void report_failure(StageId id, const std::string& detail, const std::vector<StageId>& blocked) {
    const StageSpec& s = graph_.stage(id);
    events_.record({{"event", "stage_failed"}, {"stage", s.name}, {"error", detail}});
    events_.progress(fmt::format("FAILED    {}: {}", s.name, detail));
    announce_blocked(blocked);
  }

  void announce_blocked(const std::vector<StageId>& blocked) {
    for (StageId d : blocked) {
      events_.record({{"event", "stage_blocked"}, {"stage", graph_.stage(d).name}, {"reason", progress_.reason(d)}});
      events_.progress(fmt::format("blocked   {}: {}", graph_.stage(d).name, progress_.reason(d)));
    }
  }

  // Heartbeats arrive on their own communicators; a rank silent past the timeout is dead.
  void watch_heartbeats() {
    // Beats come every 0.25 s and the timeout is seconds: looking 20 times a second is plenty,
    // and keeps probes off the dispatch path when thousands of short stages go by.
    const double now = events_.elapsed();
    if (now - last_heartbeat_check_ < 0.05) return;
    last_heartbeat_check_ = now;
    for (int id : workers_.drain_heartbeats()) heartbeats_.beat(id, now);
    if (now - last_coordinator_beat_ >= 0.25) {
      workers_.beat_live_workers();
      last_coordinator_beat_ = now;
    }
    drill_coordinator_kill(now);
    for (int id : heartbeats_.newly_silent(now)) declare_dead(id);
  }

  // `kill:rank=0,time=T`: the coordinator's own death, for drills of a resume from the journal.
  void drill_coordinator_kill(double now) {
    for (const Fault& f : options_.faults.faults) {
      if (f.kind == FaultKind::kill && f.rank == 0 && f.time && now >= *f.time) {
        events_.progress(fmt::format("fault drill '{}': SIGKILL of the coordinator", f.text));
        journal_->sync();
        ::kill(::getpid(), SIGKILL);
      }
    }
  }

  // The rank is gone (or unreachable: silence looks the same). Its group cannot finish: the
  // group-mates may wait for it in a collective forever, so their heartbeat threads end them,
  // and the stage resumes from its last verified epoch on other or respawned ranks.
  void declare_dead(int id) {
    const double silence = heartbeats_.timeout();
    lose_rank(id);
    events_.record({{"event", "rank_dead"}, {"rank", id}, {"pid", workers_.worker(id).hello.pid},
                    {"node", workers_.worker(id).hello.node}, {"silence_seconds", silence}});
    events_.progress(fmt::format("rank {} sent no heartbeat for {:.1f} s: declared dead", id, silence));
    // A silent rank may still be alive (a hung node, a drill): fence it off like the others.
    if (options_.recovery) workers_.send_abort(id, -1);
    std::optional<StageId> lost_stage;
    for (auto& [stage, r] : running_) {
      if (std::find(r.ranks.begin(), r.ranks.end(), id) == r.ranks.end()) continue;
      r.lost.push_back(id);
      r.errors.push_back(fmt::format("rank {} died (no heartbeat for {:.1f} s)", id, silence));
      for (int mate : r.ranks) {
        if (mate == id || dead_.count(mate)) continue;
        end_rank(mate, static_cast<int>(stage), fmt::format("group-mate {} died", id));
        r.lost.push_back(mate);
      }
      lost_stage = stage;
      break;
    }
    if (lost_stage) lose_stage(*lost_stage);
  }

  // Ends a live worker on purpose through its heartbeat thread (it may be stuck in a
  // collective). Only under mpirun --enable-recovery: otherwise its exit ends the job.
  void end_rank(int id, int stage, const std::string& reason) {
    workers_.send_abort(id, stage);
    lose_rank(id);
    events_.record({{"event", "rank_ended"}, {"rank", id}, {"reason", reason}});
  }

  void lose_rank(int id) {
    dead_.insert(id);
    heartbeats_.forget(id);
    policy_.machine().retire_worker(id);
    policy_dirty_ = true;
    workers_.mark_dead(id);
  }

  // A stage whose group lost ranks: resumed from its last verified epoch, up to max_restarts
  // times, on free ranks or on ranks spawned to replace the lost ones.
  void lose_stage(StageId id) {
    RunningStage r = std::move(running_.at(id));
    running_.erase(id);
    policy_.finished(id, events_.elapsed());
    policy_dirty_ = true;
    const StageSpec& s = graph_.stage(id);
    const int restarts = ++restarts_[id];
    events_.record({{"event", "stage_lost"}, {"stage", s.name}, {"attempt", r.attempt}, {"lost_ranks", r.lost},
                    {"restart", restarts}, {"max_restarts", options_.max_restarts}});
    if (restarts > options_.max_restarts || !options_.recovery) {
      const std::string why = options_.recovery
                                  ? fmt::format("lost ranks {} times (--max-restarts {})", restarts, options_.max_restarts)
                                  : fmt::format("{}", fmt::join(r.errors, "; "));
      const auto blocked = progress_.fail(id, why);
      journal_->append({{"type", "stage_failed"}, {"stage", s.name}, {"error", why}});
      report_failure(id, why, blocked);
      return;
    }
    const auto& h = history_[id];
    const std::string from = h.epochs.empty() ? std::string("its inputs")
                                              : fmt::format("epoch {} (step {})", h.epochs.back().epoch, h.epochs.back().step);
    progress_.requeue(id, fmt::format("lost ranks {}; resuming from {}", rank_list(r.lost), from));
    submit(id);
    recovering_.insert(id);
    events_.record({{"event", "stage_recovering"}, {"stage", s.name}, {"from", from}, {"restart", restarts}});
    events_.progress(fmt::format("recover   {}: lost ranks {}; it resumes from {} (restart {} of {})", s.name,
                                 rank_list(r.lost), from, restarts, options_.max_restarts));
    replace_ranks(r.lost);
  }

  // Spawns as many fresh workers as were lost, unless spawning is off or already failed. The
  // spawn waits until the lost processes on this host have exited, and a moment more:
  // Open MPI 4.1 was seen (about one time in three) to hang a new job's MPI_Init when it was
  // launched while the last process of an earlier spawned job was still exiting.
  void replace_ranks(const std::vector<int>& lost) {
    if (lost.empty()) return;
    if (!options_.respawner || spawn_broken_) {
      adapt_to_lost_ranks();
      return;
    }
    DeferredSpawn d;
    d.count = lost.size();
    d.asked_at = events_.elapsed();
    for (int id : lost) {
      if (workers_.worker(id).hello.host == own_host_) d.pids.push_back(workers_.worker(id).hello.pid);
    }
    expect_workers(static_cast<std::ptrdiff_t>(d.count));
    deferred_.push_back(std::move(d));
    start_deferred_spawns();
  }

  // State and parent of a local process, from /proc/<pid>/stat (after the command name,
  // which may hold spaces and parentheses); nullopt when the process no longer exists.
  struct ProcessStat {
    char state = 'Z';
    long parent = 0;
  };
  static std::optional<ProcessStat> process_stat(const std::filesystem::path& proc_dir) {
    std::ifstream stat(proc_dir / "stat");
    std::string line;
    if (!stat || !std::getline(stat, line)) return std::nullopt;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return ProcessStat{};
    std::istringstream rest(line.substr(close + 1));
    ProcessStat s;
    rest >> s.state >> s.parent;
    return s;
  }

  static bool process_gone(int pid) {
    const auto s = process_stat("/proc/" + std::to_string(pid));
    return !s || s->state == 'Z' || s->state == 'X';  // a zombie waits only for mpirun to reap it
  }

  // Replacements ready to be spawned go out together in one MPI_Comm_spawn (a node's worth of
  // lost groups makes one pool), one spawn at a time, at least a second after the previous
  // one finished: back-to-back spawns were seen to hang the second one (Open MPI 4.1.4).
  void start_deferred_spawns() {
    constexpr double kSettleSeconds = 1.0, kWaitForExitSeconds = 5.0, kSpawnGapSeconds = 1.0;
    const double now = events_.elapsed();
    std::size_t count = 0;
    for (auto& d : deferred_) {
      if (!d.gone_at) {
        const bool all_gone = std::all_of(d.pids.begin(), d.pids.end(), process_gone);
        if (all_gone || now - d.asked_at > kWaitForExitSeconds) d.gone_at = now;
      }
      if (d.gone_at && now - *d.gone_at >= kSettleSeconds) count += d.count;
    }
    if (count == 0 || !spawning_.empty() || (last_spawn_done_ && now - *last_spawn_done_ < kSpawnGapSeconds)) return;
    std::erase_if(deferred_, [&](const DeferredSpawn& d) { return d.gone_at && now - *d.gone_at >= kSettleSeconds; });
    const int first_id = std::max(workers_.next_id(), next_spawn_id_);
    next_spawn_id_ = first_id + static_cast<int>(count);
    const auto ticket = options_.respawner->request(static_cast<int>(count), first_id);
    spawning_[ticket] = count;
    events_.record({{"event", "spawn_requested"}, {"ranks", count}, {"first_id", first_id}});
    events_.progress(fmt::format("respawn   {} rank(s) to replace the lost ones (ids from {})", count, first_id));
  }

  void collect_spawns() {
    if (!deferred_.empty()) start_deferred_spawns();
    if (!options_.respawner || spawning_.empty()) return;
    while (auto result = options_.respawner->poll()) {
      const std::size_t expected = spawning_.at(result->ticket);
      spawning_.erase(result->ticket);
      last_spawn_done_ = events_.elapsed();
      expect_workers(-static_cast<std::ptrdiff_t>(expected));
      if (!result->channel) {
        spawn_failed(result->error);
        continue;
      }
      const std::size_t pool_index = workers_.add(std::move(result->channel), result->hellos);
      const auto ids = workers_.pool_workers(pool_index);
      add_workers(ids, static_cast<int>(pool_index));
      const double now = events_.elapsed();
      std::vector<int> pids;
      for (int id : ids) {
        heartbeats_.watch(id, now);
        pids.push_back(workers_.worker(id).hello.pid);
      }
      events_.record({{"event", "ranks_spawned"}, {"ranks", ids}, {"pids", pids}, {"seconds", result->seconds}});
      events_.progress(fmt::format("spawned   ranks {} in {:.2f} s", rank_list(ids), result->seconds));
    }
    if (!spawning_.empty() && options_.respawner->oldest_pending_seconds() > options_.spawn_timeout.count()) {
      // The thread is stuck inside MPI_Comm_spawn and cannot be interrupted. Its new workers
      // (seen stuck inside MPI_Init) would keep the job alive forever: end those on this host.
      for (const auto& [ticket, count] : spawning_) expect_workers(-static_cast<std::ptrdiff_t>(count));
      spawning_.clear();
      const auto killed = kill_unconnected_workers();
      spawn_failed(fmt::format("no answer from MPI_Comm_spawn within {:.0f} s (ended {} half-started worker(s))",
                               options_.spawn_timeout.count(), killed));
    }
  }

  // Spawned workers that never connected: this job's processes on this host (same parent,
  // the local mpirun or orted) running `perennial worker` with an id not connected yet.
  std::size_t kill_unconnected_workers() {
    std::size_t killed = 0;
    const long parent = ::getppid();
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const auto stat = process_stat(entry.path());
      if (!stat || stat->parent != parent) continue;
      std::ifstream cmdline_file(entry.path() / "cmdline");
      std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), std::istreambuf_iterator<char>());
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      const auto at = cmdline.find(" worker ");
      const auto id_at = cmdline.find("--first-id ");
      if (at == std::string::npos || id_at == std::string::npos) continue;
      const int first_id = std::atoi(cmdline.c_str() + id_at + 11);
      if (workers_.known(first_id)) continue;  // connected: a live worker, not a stuck one
      ::kill(std::stoi(name), SIGKILL);
      ++killed;
    }
    return killed;
  }

  void spawn_failed(const std::string& error) {
    spawn_broken_ = true;
    for (const auto& d : deferred_) expect_workers(-static_cast<std::ptrdiff_t>(d.count));
    deferred_.clear();
    events_.record({{"event", "spawn_failed"}, {"error", error}});
    events_.progress(fmt::format("respawn failed: {}; lost ranks are not replaced from now on", error));
    adapt_to_lost_ranks();
  }

  // With no replacements coming, a recovering stage either waits for ranks that will free up
  // or, when no pool can ever give it its size again, continues on fewer ranks (checkpoints
  // restore on any rank count). Each says which.
  void adapt_to_lost_ranks() {
    if (!spawning_.empty() || !deferred_.empty()) return;
    for (StageId id : recovering_) {
      if (progress_.state(id) != StageState::ready) continue;
      const StageSpec& s = graph_.stage(id);
      const auto largest = static_cast<int>(policy_.machine().capacity(request_for(s, policy_.machine(), 1).per_rank));
      const int want = overrides_.count(id) ? overrides_.at(id) : s.ranks;
      if (want <= largest) {
        events_.record({{"event", "stage_waits_for_ranks"}, {"stage", s.name}, {"ranks", want}});
        events_.progress(fmt::format("waiting   {}: needs {} ranks; waits until that many are free", s.name, want));
      } else if (largest >= 1) {
        overrides_[id] = largest;
        policy_.withdraw(id);
        submit(id);
        events_.record({{"event", "stage_shrunk"}, {"stage", s.name}, {"ranks", largest}, {"declared_ranks", s.ranks}});
        events_.progress(fmt::format("shrink    {}: continues on {} ranks instead of {} (no more can work together)",
                                     s.name, largest, s.ranks));
      }
    }
  }

  // Members that never report after a groupmate failed are stuck (typically in a collective
  // with it). Under --enable-recovery their heartbeat threads end them now; otherwise they are
  // retired and the job is aborted at the end (ending them would end the job at once).
  void expire_failure_grace() {
    std::vector<StageId> expired;
    for (const auto& [id, r] : running_) {
      if (r.first_failure && events_.elapsed() - *r.first_failure >= options_.failure_grace.count()) expired.push_back(id);
    }
    for (StageId id : expired) {
      RunningStage& r = running_.at(id);
      std::vector<int> missing;
      for (int rank : r.ranks) {
        if (!r.reported.count(rank)) missing.push_back(rank);
      }
      for (int rank : missing) {
        r.reported.insert(rank);
        r.errors.push_back(fmt::format("rank {} did not report within {:.0f} s of the failure (stuck)", rank,
                                       options_.failure_grace.count()));
        if (options_.recovery) {
          end_rank(rank, static_cast<int>(id), "stuck after its group failed");
        } else {
          policy_.machine().retire_worker(rank);
          stuck_.insert(rank);
        }
      }
      finish(id);
      if (options_.recovery) replace_ranks(missing);
    }
  }

  void expect_workers(std::ptrdiff_t change) {
    expected_workers_ = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, static_cast<std::ptrdiff_t>(expected_workers_) + change));
    policy_.set_expected_workers(expected_workers_);
    policy_dirty_ = true;
  }

  void record_workers() {
    nlohmann::json list = nlohmann::json::array();
    for (int id : workers_.live_workers()) {
      const auto& w = workers_.worker(id);
      list.push_back({{"rank", id}, {"pid", w.hello.pid}, {"host", w.hello.host}, {"node", w.hello.node}});
    }
    events_.record({{"event", "workers"}, {"workers", list}});
  }

  // Every live worker gets its shutdown; one that has not taken it within the bound is dead
  // or stuck, and the job ends without MPI_Finalize (which would wait for it forever).
  void shutdown_workers() {
    const bool lost_any = !dead_.empty() || !stuck_.empty();
    for (int id : workers_.live_workers()) {
      if (stuck_.count(id)) continue;
      workers_.send(id, msg::kShutdown, msg::Shutdown{0, lost_any});
    }
    for (int id : workers_.flush_sends(options_.shutdown_timeout)) {
      events_.record({{"event", "rank_unreachable"}, {"rank", id}, {"seconds", options_.shutdown_timeout.count()}});
      events_.progress(fmt::format("rank {} did not take its shutdown within {:.0f} s: taken for dead", id,
                                   options_.shutdown_timeout.count()));
      dead_.insert(id);
      workers_.mark_dead(id);
    }
  }

  std::string summarize(const CampaignOutcome& outcome) const {
    const double share = outcome.wall_seconds > 0 ? 100.0 * outcome.coordinator_cpu_seconds / outcome.wall_seconds : 0.0;
    std::string out = fmt::format("campaign {}: {} of {} stages completed in {:.2f} s (coordinator CPU {:.3f} s, {:.2f}% of wall)\n",
                                  graph_.campaign().name, progress_.count(StageState::completed), graph_.size(),
                                  outcome.wall_seconds, outcome.coordinator_cpu_seconds, share);
    for (StageId id = 0; id < graph_.size(); ++id) {
      const auto st = progress_.state(id);
      if (st != StageState::completed && st != StageState::running) {
        out += fmt::format("  {:<13} {}: {}\n", state_name(st), graph_.stage(id).name, progress_.reason(id));
      }
    }
    if (!outcome.stuck_ranks.empty()) out += fmt::format("  stuck worker ranks: {}\n", rank_list(outcome.stuck_ranks));
    if (!outcome.dead_ranks.empty()) {
      out += fmt::format("  lost worker ranks: {}{}\n", rank_list(outcome.dead_ranks),
                         progress_.all_completed() ? "" : " (run the same command again to resume from the checkpoints)");
    }
    if (outcome.checkpointed) out += "checkpointed, resumable: run the same command again to continue\n";
    out += fmt::format("outputs: {}\nlogs: {}\n", outputs_dir_.string(), log_dir_.string());
    return out;
  }

  const StageGraph& graph_;
  WorkerPools& workers_;
  CoordinatorOptions options_;
  std::filesystem::path outputs_dir_;
  std::filesystem::path log_dir_;
  std::filesystem::path checkpoints_dir_;
  WallClock clock_;  // the policy's time in a real run (events_.elapsed() reads it)
  EventLog events_;
  CampaignProgress progress_;
  SchedulingPolicy policy_;
  bool policy_dirty_ = true;
  double next_policy_pass_ = 0.0;
  double next_status_ = 0.0;
  std::map<StageId, double> ready_since_;  ///< first time each stage was ready: age counts from there
  std::map<NodeIndex, std::size_t> workers_on_detected_node_;  ///< nodes no cluster: entry names
  std::size_t expected_workers_ = 0;
  std::map<StageId, RunningStage> running_;
  std::map<StageId, std::uint32_t> attempts_;
  std::set<int> stuck_;
  std::filesystem::path journal_path_;
  std::optional<Journal> journal_;
  std::vector<StageHistory> history_;
  bool resumed_run_ = false;
  bool stopping_ = false;
  HeartbeatMonitor heartbeats_;
  std::set<int> dead_;
  double last_heartbeat_check_ = 0.0;
  double last_coordinator_beat_ = -1.0;
  std::string faults_text_;
  std::map<StageId, int> restarts_;
  std::set<StageId> recovering_;
  std::map<StageId, int> overrides_;  ///< ranks a stage runs on when not its declared `ranks` (after losses)
  struct Measured {
    double step_seconds = 0.0;     ///< wall seconds per step, checkpoints included
    double checkpoint_cost = 0.0;  ///< the last epoch's write, sync, rename and verify
  };
  std::map<StageId, Measured> measured_;  ///< from committed epochs; kept across attempts
  std::map<std::uint64_t, std::size_t> spawning_;  ///< respawn ticket -> ranks asked for
  struct DeferredSpawn {
    std::size_t count = 0;
    std::vector<int> pids;  ///< lost processes on this host, to see exit first
    double asked_at = 0.0;
    std::optional<double> gone_at;
  };
  std::vector<DeferredSpawn> deferred_;
  std::optional<double> last_spawn_done_;
  std::string own_host_ = boost::mpi::environment::processor_name();
  bool spawn_broken_ = false;
  int next_spawn_id_ = 0;
};

}  // namespace

CampaignOutcome run_campaign(const StageGraph& graph, WorkerPools& workers, const CoordinatorOptions& options) {
  return CoordinatorLoop(graph, workers, options).run();
}

}  // namespace perennial
