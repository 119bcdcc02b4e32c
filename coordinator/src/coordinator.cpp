#include <perennial/coordinator/campaign_progress.hpp>
#include <perennial/coordinator/coordinator.hpp>
#include <perennial/coordinator/event_log.hpp>
#include <perennial/coordinator/heartbeat_monitor.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/scheduler.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <map>
#include <set>

namespace perennial {

namespace {

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// How long a journal record may wait for its fdatasync: records are synced in groups so that
// thousands of short stages do not each pay a disk flush.
constexpr std::chrono::milliseconds kJournalSyncAge{20};

std::string rank_list(const std::vector<int>& ranks) { return fmt::format("{}", fmt::join(ranks, ",")); }

// One stage group at work: who is in it and who has reported back.
struct RunningStage {
  std::uint32_t attempt = 0;
  std::vector<int> ranks;
  std::set<int> reported;
  std::vector<std::string> errors;
  double started = 0.0;
  std::optional<double> first_failure;
  std::optional<std::uint64_t> stopped_at;  ///< step at which it checkpointed and stopped on request
};

class CoordinatorLoop {
 public:
  CoordinatorLoop(const StageGraph& graph, const ControlChannel& control, const CoordinatorOptions& options)
      : graph_(graph), control_(control), options_(options),
        outputs_dir_(graph.campaign().output_dir / "outputs"), log_dir_(graph.campaign().output_dir / "log"),
        checkpoints_dir_(graph.campaign().output_dir / "checkpoints"),
        events_(log_dir_, options.quiet), progress_(graph), pool_(worker_ranks(control.size())),
        journal_path_(graph.campaign().output_dir / "journal.jsonl"),
        heartbeats_(worker_ranks(control.size()), 0.0, options.heartbeat_timeout.count()) {
    std::filesystem::create_directories(outputs_dir_);
    auto earlier = Journal::read(journal_path_);
    for (const auto& warning : earlier.warnings) events_.progress("journal: " + warning);
    resumed_run_ = !earlier.records.empty();
    history_ = read_history(graph, earlier);
    journal_.emplace(journal_path_);
  }

  CampaignOutcome run() {
    const double cpu_start = process_cpu_seconds();
    const auto& c = graph_.campaign();
    events_.record({{"event", "campaign_started"}, {"campaign", c.name}, {"stages", graph_.size()},
                    {"worker_ranks", pool_.usable()}});
    events_.progress(fmt::format("campaign {}: {} stages on {} worker ranks; outputs in {}", c.name, graph_.size(),
                                 pool_.usable(), outputs_dir_.string()));
    journal_->append({{"type", "run_started"}, {"campaign", c.name}, {"worker_ranks", pool_.usable()}});
    if (resumed_run_) reuse_earlier_work();
    IdleBackoff backoff(std::chrono::milliseconds(20));
    while (true) {
      if (stop_requested()) request_stop();
      if (!stopping_) dispatch_ready();
      if (stopping_ ? running_.empty() : progress_.finished()) break;
      journal_->sync_if_older_than(kJournalSyncAge);
      if (auto envelope = control_.wait(next_wait(), boost::mpi::any_source, backoff)) handle(*envelope);
      watch_heartbeats();
      expire_failure_grace();
    }
    CampaignOutcome outcome;
    outcome.checkpointed = stopping_ && progress_.count(StageState::failed) == 0 && stuck_.empty();
    outcome.wall_seconds = events_.elapsed();
    outcome.coordinator_cpu_seconds = process_cpu_seconds() - cpu_start;
    outcome.stuck_ranks.assign(stuck_.begin(), stuck_.end());
    outcome.dead_ranks.assign(dead_.begin(), dead_.end());
    outcome.exit_code = progress_.all_completed() || outcome.checkpointed ? 0 : 1;
    outcome.summary = summarize(outcome);
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
  static std::vector<int> worker_ranks(int size) {
    std::vector<int> ranks;
    for (int r = 1; r < size; ++r) ranks.push_back(r);
    return ranks;
  }

  std::filesystem::path output_file(StageId id) const { return outputs_dir_ / (graph_.stage(id).name + ".h5"); }

  // Stages an earlier run completed, with the same definition and an output still on disk,
  // are not run again.
  void reuse_earlier_work() {
    std::size_t reused = 0;
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
      control_.send(r.ranks.front(), msg::kCheckpointRequest, msg::CheckpointRequest{id, r.attempt, true});
    }
  }

  void dispatch_ready() {
    auto decision = schedule(graph_, progress_, pool_);
    for (StageId id : decision.impossible) report_failure(id);
    for (auto& placement : decision.placements) start(placement);
  }

  void start(const Placement& placement) {
    const StageSpec& s = graph_.stage(placement.stage);
    msg::AssignStage assign;
    assign.stage_id = placement.stage;
    assign.attempt = ++attempts_[placement.stage];
    assign.stage = s.name;
    assign.kernel = s.kernel;
    assign.members = placement.ranks;
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
    journal_->append({{"type", "stage_started"}, {"stage", s.name}, {"attempt", assign.attempt},
                      {"definition", stage_definition(graph_, placement.stage)}});
    for (int rank : placement.ranks) control_.send(rank, msg::kAssignStage, assign);

    RunningStage& r = running_[placement.stage];
    r = RunningStage{assign.attempt, placement.ranks, {}, {}, events_.elapsed(), std::nullopt, std::nullopt};
    events_.record({{"event", "stage_started"}, {"stage", s.name}, {"kernel", s.kernel}, {"ranks", placement.ranks},
                    {"attempt", assign.attempt}});
    events_.progress(fmt::format("started   {} on ranks {} ({} x{}, {} steps)", s.name, rank_list(placement.ranks),
                                 s.kernel, s.ranks, s.steps));
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

  void handle(const boost::mpi::status& envelope) {
    switch (envelope.tag()) {
      case msg::kStageDone: on_stage_done(envelope.source(), control_.receive<msg::StageDone>(envelope)); break;
      case msg::kMetric: on_metric(control_.receive<msg::Metric>(envelope)); break;
      case msg::kEpochCommitted: on_epoch(control_.receive<msg::EpochCommitted>(envelope)); break;
      case msg::kStageRestored: on_restored(control_.receive<msg::StageRestored>(envelope)); break;
      default: {
        // Unknown traffic: drain it so it cannot clog the queue, and say so.
        char ignored = 0;
        MPI_Status status;
        MPI_Recv(&ignored, 0, MPI_BYTE, envelope.source(), envelope.tag(), static_cast<MPI_Comm>(control_.comm()), &status);
        events_.log().warn("ignored a message with unknown tag {} from rank {}", envelope.tag(), envelope.source());
      }
    }
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
    events_.record({{"event", "checkpoint_committed"}, {"stage", s.name}, {"epoch", e.epoch}, {"step", e.step},
                    {"file", e.file}, {"seconds", e.seconds}, {"bytes", e.bytes}, {"interval", e.interval}});
    events_.log().info("checkpoint {} epoch {} at step {}: {} bytes in {:.3f} s; next: {}", s.name, e.epoch, e.step,
                       e.bytes, e.seconds, e.interval);
  }

  void on_restored(const msg::StageRestored& r) {
    if (r.stage_id >= graph_.size()) return;
    const StageSpec& s = graph_.stage(r.stage_id);
    for (const auto& problem : r.rejected) events_.progress(fmt::format("rejected  {}: {}", s.name, problem));
    events_.record({{"event", "stage_restored"}, {"stage", s.name}, {"restored", r.restored}, {"file", r.file},
                    {"step", r.step}, {"rejected", r.rejected}});
    if (r.restored) {
      events_.progress(fmt::format("resumed   {} from {} at step {}", s.name, r.file, r.step));
    } else if (!r.rejected.empty()) {
      events_.progress(fmt::format("restart   {}: no valid checkpoint left; starting again from its inputs", s.name));
    }
  }

  void on_stage_done(int rank, const msg::StageDone& done) {
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
    pool_.release(r.ranks);
    const StageSpec& s = graph_.stage(id);
    const double seconds = events_.elapsed() - r.started;
    if (r.errors.empty() && r.stopped_at) {
      progress_.suspend(id, fmt::format("checkpointed at step {} of {}; resumes on the next run", *r.stopped_at, s.steps));
      events_.record({{"event", "stage_suspended"}, {"stage", s.name}, {"step", *r.stopped_at}});
      events_.progress(fmt::format("suspended {} at step {} (checkpointed)", s.name, *r.stopped_at));
      return;
    }
    if (r.errors.empty()) {
      auto now_ready = progress_.complete(id);
      journal_->append(journal_stage_completed(graph_, id, output_file(id).lexically_relative(graph_.campaign().output_dir).string()));
      events_.record({{"event", "stage_completed"}, {"stage", s.name}, {"seconds", seconds}, {"ranks", r.ranks}});
      events_.progress(fmt::format("completed {} in {:.2f} s", s.name, seconds));
      return;
    }
    progress_.fail(id, r.errors.front());
    journal_->append({{"type", "stage_failed"}, {"stage", s.name}, {"error", r.errors.front()}});
    report_failure(id, fmt::format("{}", fmt::join(r.errors, "; ")));
  }

  void report_failure(StageId id, std::string detail = {}) {
    const StageSpec& s = graph_.stage(id);
    if (detail.empty()) detail = progress_.reason(id);
    events_.record({{"event", "stage_failed"}, {"stage", s.name}, {"error", detail}});
    events_.progress(fmt::format("FAILED    {}: {}", s.name, detail));
    for (StageId d = 0; d < graph_.size(); ++d) {
      if (progress_.state(d) == StageState::blocked && !announced_blocked_.count(d)) {
        announced_blocked_.insert(d);
        events_.record({{"event", "stage_blocked"}, {"stage", graph_.stage(d).name}, {"reason", progress_.reason(d)}});
        events_.progress(fmt::format("blocked   {}: {}", graph_.stage(d).name, progress_.reason(d)));
      }
    }
  }

  // Heartbeats arrive on their own communicator; a rank silent past the timeout is dead.
  void watch_heartbeats() {
    // Beats come every 0.25 s and the timeout is seconds: looking 20 times a second is plenty,
    // and keeps probes off the dispatch path when thousands of short stages go by.
    const double now = events_.elapsed();
    if (now - last_heartbeat_check_ < 0.05) return;
    last_heartbeat_check_ = now;
    const MPI_Comm comm = static_cast<MPI_Comm>(control_.heartbeat());
    while (true) {
      int arrived = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, msg::kHeartbeat, comm, &arrived, &status);
      if (!arrived) break;
      int rank = -1;
      MPI_Recv(&rank, 1, MPI_INT, status.MPI_SOURCE, msg::kHeartbeat, comm, MPI_STATUS_IGNORE);
      heartbeats_.beat(status.MPI_SOURCE, events_.elapsed());
    }
    for (int rank : heartbeats_.newly_silent(events_.elapsed())) declare_dead(rank);
  }

  void declare_dead(int rank) {
    dead_.insert(rank);
    pool_.retire(rank);
    events_.record({{"event", "rank_dead"}, {"rank", rank}, {"silence_seconds", heartbeats_.timeout()}});
    events_.progress(fmt::format("rank {} sent no heartbeat for {:.1f} s: declared dead", rank, heartbeats_.timeout()));
    std::optional<StageId> lost_stage;  // finished after the loop: finish() erases from running_
    for (auto& [id, r] : running_) {
      if (std::find(r.ranks.begin(), r.ranks.end(), rank) == r.ranks.end()) continue;
      r.errors.push_back(fmt::format("rank {} died (no heartbeat for {:.1f} s)", rank, heartbeats_.timeout()));
      r.reported.insert(rank);
      // Group-mates still at work may wait for the dead rank in a collective forever: their
      // heartbeat threads end them. They are lost to the job, like the dead rank.
      for (int mate : r.ranks) {
        if (mate == rank || r.reported.count(mate)) continue;
        int stage = static_cast<int>(id);
        MPI_Request request;
        MPI_Isend(&stage, 1, MPI_INT, mate, msg::kAbortStage, static_cast<MPI_Comm>(control_.heartbeat()), &request);
        MPI_Request_free(&request);
        heartbeats_.forget(mate);
        dead_.insert(mate);
        pool_.retire(mate);
        r.reported.insert(mate);
        r.errors.push_back(fmt::format("rank {} ended by its watchdog (its group lost rank {})", mate, rank));
        events_.record({{"event", "rank_ended"}, {"rank", mate}, {"reason", fmt::format("group-mate {} died", rank)}});
      }
      std::vector<int> alive;
      for (int member : r.ranks) {
        if (!dead_.count(member)) alive.push_back(member);
      }
      r.ranks = alive;
      lost_stage = id;
      break;
    }
    if (lost_stage) finish(*lost_stage);
  }

  // Members that never report after a groupmate failed are stuck (typically in a collective
  // with it). They are retired; the fault-tolerance work ends such processes and respawns.
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
        pool_.retire(rank);
        stuck_.insert(rank);
        r.reported.insert(rank);
        r.errors.push_back(fmt::format("rank {} did not report within {:.0f} s of the failure (stuck; retired)", rank,
                                       options_.failure_grace.count()));
      }
      std::vector<int> answered;
      for (int rank : r.ranks) {
        if (!stuck_.count(rank)) answered.push_back(rank);
      }
      r.ranks = answered;
      finish(id);
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
      out += fmt::format("  lost worker ranks: {} (run the same command again to resume from the checkpoints)\n",
                         rank_list(outcome.dead_ranks));
    }
    if (outcome.checkpointed) out += "checkpointed, resumable: run the same command again to continue\n";
    out += fmt::format("outputs: {}\nlogs: {}\n", outputs_dir_.string(), log_dir_.string());
    return out;
  }

  const StageGraph& graph_;
  const ControlChannel& control_;
  CoordinatorOptions options_;
  std::filesystem::path outputs_dir_;
  std::filesystem::path log_dir_;
  std::filesystem::path checkpoints_dir_;
  EventLog events_;
  CampaignProgress progress_;
  RankPool pool_;
  std::map<StageId, RunningStage> running_;
  std::map<StageId, std::uint32_t> attempts_;
  std::set<StageId> announced_blocked_;
  std::set<int> stuck_;
  std::filesystem::path journal_path_;
  std::optional<Journal> journal_;
  std::vector<StageHistory> history_;
  bool resumed_run_ = false;
  bool stopping_ = false;
  HeartbeatMonitor heartbeats_;
  std::set<int> dead_;
  double last_heartbeat_check_ = 0.0;
};

}  // namespace

CampaignOutcome run_campaign(const StageGraph& graph, const ControlChannel& control, const CoordinatorOptions& options) {
  return CoordinatorLoop(graph, control, options).run();
}

}  // namespace perennial
