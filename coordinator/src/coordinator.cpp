#include <perennial/coordinator/allocation_watch.hpp>
#include <perennial/coordinator/campaign_books.hpp>
#include <perennial/coordinator/metric_gate.hpp>
#include <perennial/coordinator/promise_steering.hpp>
#include <perennial/coordinator/campaign_run.hpp>
#include <perennial/coordinator/hand_desk.hpp>
#include <perennial/coordinator/coordinator.hpp>
#include <perennial/coordinator/death_watch.hpp>
#include <perennial/coordinator/spare_pool.hpp>
#include <perennial/coordinator/event_log.hpp>
#include <perennial/coordinator/hand.hpp>
#include <perennial/coordinator/heartbeat_monitor.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/loop_watchdog.hpp>
#include <perennial/coordinator/rank_replacement.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/coordinator/run_records.hpp>
#include <perennial/coordinator/run_status.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/errors.hpp>
#include <perennial/resource_usage.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

namespace perennial {

namespace {

// How long a journal record may wait for its fdatasync, and an accounting row for its commit:
// both are written in groups so that thousands of short stages do not each pay a disk flush
// or an SQLite transaction.
constexpr std::chrono::milliseconds kGroupCommitAge{20};
// At most this many messages are taken in one loop pass, so heartbeats, stops and spawns are
// still looked at between batches.
constexpr int kMessagesPerPass = 64;

// How often rank 0 looks for silent ranks and for worker processes that ended (DeathWatch:
// one poll() over pidfds). A SIGKILLed worker is declared dead at most this long after it died.
constexpr double kDeathCheckSeconds = 0.05;
constexpr double kStatusEvery = 1.0;  // seconds between writes of log/status.json, at least
constexpr std::size_t kSendsRetiredTogether = 16;


// The MPI side of a run: turns workers' messages into CampaignRun calls and CampaignRun's
// decisions into messages; watches heartbeats; ends and replaces lost ranks. The stages'
// state lives in CampaignRun alone.
// The campaign's policy, with what only a real run does: the next short stage queued on a
// busy worker (PolicyConfig::queue_behind_short_runs). A simulation has no workers to queue on.
PolicyConfig real_run_policy(const Campaign& campaign) {
  PolicyConfig config = policy_config_for(campaign);
  config.queue_behind_short_runs = true;
  return config;
}

class CoordinatorLoop {
 public:
  CoordinatorLoop(const StageGraph& graph, WorkerPools& workers, const CoordinatorOptions& options)
      : graph_(graph), workers_(workers), options_(options), log_dir_(graph.campaign().output_dir / "log"),
        checkpoints_dir_(graph.campaign().output_dir / "checkpoints"), events_(log_dir_, options.quiet, clock_),
        earlier_(Journal::read(graph.campaign().output_dir / "journal.jsonl")),
        run_(graph, SchedulingPolicy(Machine{}, real_run_policy(graph.campaign())),
             CampaignRunOptions{options.max_restarts, options.recovery}, read_history(graph, earlier_)),
        event_recorder_(events_, run_), heartbeats_(workers.live_workers(), 0.0, options.heartbeat_timeout.count()),
        replacement_(workers, options.respawner, options.spawn_timeout.count()), faults_text_(options.faults.to_string()),
        hand_(graph.campaign().output_dir, run_, events_) {
    std::filesystem::create_directories(graph.campaign().output_dir / "outputs");
    for (const auto& warning : earlier_.warnings) events_.progress("journal: " + warning);
    journal_.emplace(graph.campaign().output_dir / "journal.jsonl");
    journal_recorder_.emplace(*journal_, run_);
    run_.add_observer(*journal_recorder_);
    run_.add_observer(event_recorder_);
    books_.emplace(run_, events_, static_cast<int>(workers.live_workers().size()) + 1);
    allocation_watch_.emplace(run_, events_, graph.campaign().output_dir / "accounting.db");
    run_.add_observer(*allocation_watch_);
    run_.add_observer(steering_);
    add_workers(workers.live_workers(), 0);
    for (int id : workers.live_workers()) watch_process(id);  // recovery: deaths seen at once
    if (options.end_epoch_seconds) {
      const double from_now = *options.end_epoch_seconds - unix_time_seconds();
      run_.policy().set_end_time(events_.elapsed() + from_now);
      events_.record({{"event", "allocation_end"}, {"in_seconds", from_now}});
    }
  }

  CampaignOutcome run() {
    const double cpu_start = process_cpu_seconds();
    const auto& c = graph_.campaign();
    const std::size_t worker_ranks = run_.machine().live_workers();
    nlohmann::json started{{"event", "campaign_started"}, {"campaign", c.name}, {"stages", graph_.size()},
                           {"worker_ranks", worker_ranks}, {"coordinator_pid", ::getpid()}};
    // The PML replacement ranks are told to use (Respawner): "" when they choose for themselves.
    if (options_.respawner) started["respawn_pml"] = options_.respawner->pml();
    events_.record(started);
    events_.progress(fmt::format("campaign {}: {} stages on {} worker ranks; outputs in {}", c.name, graph_.size(),
                                 worker_ranks, (c.output_dir / "outputs").string()));
    record_mpi_io_hints();
    // The campaign file and the machine this run has, for `perennial forecast DIR`.
    nlohmann::json nodes = nlohmann::json::array();
    for (NodeIndex n = 0; n < run_.machine().node_count(); ++n) {
      const NodeSpec& node = run_.machine().node(n);
      nodes.push_back({{"name", node.name}, {"cores", node.cores}, {"gpus", node.gpus}, {"memory_bytes", node.memory_bytes}});
    }
    journal_->append({{"type", "run_started"}, {"campaign", c.name}, {"worker_ranks", worker_ranks},
                      {"campaign_file", std::filesystem::absolute(c.file).string()}, {"nodes", nodes}});
    record_workers();
    // Now rather than at the first loop pass: verifying earlier outputs may take a while, and
    // drills and tests look for rank 0's pid in campaign_started.
    commit_groups(std::chrono::milliseconds(0));
    if (!earlier_.records.empty()) {
      reuse_earlier_work();
      replay_promise();
    }
    apply_earlier_hand();
    run_.begin(events_.elapsed());
    fill_spares();  // recovery: spares spawned in the background while the first stages run
    if (options_.startup_beats) options_.startup_beats->stop();  // the loop beats from here on
    IdleBackoff backoff(std::chrono::milliseconds(20));
    // A respawn may legitimately take up to the spawn timeout; nothing else in the loop blocks.
    LoopWatchdog stall(options_.spawn_timeout + std::chrono::seconds(10));
    while (true) {
      stall.alive();
      retire_sends();
      if (stop_requested()) stop_everything();
      take_hand_requests();
      if (!run_.stopping()) dispatch();
      // Here, not in dispatch(): a pass that something changed moves the next timed pass a
      // second on, and status.json then went up to two seconds stale.
      write_status(events_.elapsed());
      // Ranks being spawned must be connected (and then shut down) before the end: left
      // alone they would wait for rank 0 inside MPI forever.
      if (run_.finished() && replacement_.idle()) break;
      commit_groups(kGroupCommitAge);
      allocation_watch_->poll(events_.elapsed());
      if (auto envelope = workers_.wait(next_wait(), backoff)) {
        handle(*envelope);
        // What else has already arrived is taken before the next policy pass: with many short
        // stages, one pass then serves a batch of reports instead of one pass per report.
        for (int more = 1; more < kMessagesPerPass; ++more) {
          auto next = workers_.poll();
          if (!next) break;
          handle(*next);
        }
      }
      record_moves(steering_.take_moves_made_meanwhile());  // a ucb group filling a completed member's place
      watch_heartbeats();
      expire_failure_grace();
      collect_spawns();
    }
    shutdown_workers();
    const auto& progress = run_.progress();
    CampaignOutcome outcome;
    outcome.checkpointed = run_.stopping() && progress.count(StageState::failed) == 0 && stuck_.empty();
    outcome.wall_seconds = events_.elapsed();
    outcome.coordinator_cpu_seconds = process_cpu_seconds() - cpu_start;
    outcome.stuck_ranks.assign(stuck_.begin(), stuck_.end());
    outcome.dead_ranks.assign(dead_.begin(), dead_.end());
    // Stages left paused (by promise or by hand) are the campaign's choice, not a failure: the
    // run is done with what it was to do; the summary says how to resume them.
    const bool only_paused_left = progress.count(StageState::paused) > 0 && progress.count(StageState::failed) == 0 &&
                                  progress.count(StageState::blocked) == 0 && stuck_.empty() && !run_.stopping();
    outcome.exit_code = progress.all_completed() || outcome.checkpointed || only_paused_left ? 0 : 1;
    outcome.summary = summarize(outcome);
    write_status(events_.elapsed(), true);
    books_->close();
    journal_->append({{"type", "run_ended"},
                      {"status", progress.all_completed()  ? "completed"
                                 : outcome.checkpointed    ? "checkpointed"
                                 : only_paused_left        ? "paused"
                                                           : "incomplete"}});
    journal_->sync();
    events_.record({{"event", "campaign_finished"},
                    {"completed", progress.count(StageState::completed)},
                    {"failed", progress.count(StageState::failed)},
                    {"never_started", progress.count(StageState::blocked)},
                    {"wall_seconds", outcome.wall_seconds},
                    {"coordinator_cpu_seconds", outcome.coordinator_cpu_seconds},
                    {"stuck_ranks", outcome.stuck_ranks}});
    events_.flush();
    events_.log().info("{}", outcome.summary);
    return outcome;
  }

 private:
  // Stages an earlier run completed, with the same definition and an output on disk that
  // verifies (checksums, stage name), are not run again. A missing or damaged output (a
  // crash, a disk that lost it) makes the stage run again, and its readers after it, rather
  // than fail later on "damaged input".
  void reuse_earlier_work() {
    for (StageId id = 0; id < graph_.size(); ++id) {
      if (const auto& note = run_.history(id).note; !note.empty()) {
        events_.progress(fmt::format("resume    {}: {}", graph_.stage(id).name, note));
      }
    }
    const boost::mpi::communicator self(MPI_COMM_SELF, boost::mpi::comm_attach);
    const std::size_t reused = run_.reuse_earlier_work([&](StageId id) -> std::string {
      const auto file = output_file(graph_, id);
      if (!std::filesystem::exists(file)) return fmt::format("{} is missing", file.string());
      const auto verdict = checkpoint::verify_output(self, file, {{"stage", graph_.stage(id).name}});
      return verdict.ok ? std::string() : verdict.problem;
    });
    events_.progress(fmt::format("resuming: {} of {} stages completed in an earlier run are kept", reused, graph_.size()));
  }

  // The scenario groups as earlier runs left them: the books' values replayed in arrival order
  // (the policy is deterministic), so a member paused below a rung stays paused across a resume
  // and is promoted only as it would have been.
  void replay_promise() {
    std::vector<PromiseSteering::EarlierValue> earlier;
    for (const auto& row : books_->earlier_metrics()) {
      earlier.push_back({row.stage, row.name, row.step, row.simulated.value_or(0.0), row.value});
    }
    for (StageId id : steering_.replay(earlier, events_.elapsed())) {
      events_.progress(fmt::format("resume    {}: stays paused by promise (below its rung's bar in an earlier run)",
                                   graph_.stage(id).name));
    }
  }

  // The journal's `hand` records (`perennial priority` on a stopped campaign, and those applied
  // live by earlier runs), in order, before anything is submitted: a stage paused by hand stays
  // paused and a priority stays changed, run after run.
  void apply_earlier_hand() { hand_.replay(earlier_, events_.elapsed()); }

  void take_hand_requests() {
    for (const StopOrder& stop : hand_.take_requests(*journal_, events_.elapsed())) ask_to_stop(stop.job);
  }

  bool stop_requested() const { return options_.stop_signal && options_.stop_signal->load() != 0 && !run_.stopping(); }

  // Every running stage checkpoints at its next step boundary and stops; nothing new starts.
  void stop_everything() {
    const auto running = run_.stop_everything();
    events_.progress(fmt::format("signal {} received: checkpointing {} running stage(s), then stopping",
                                 options_.stop_signal->load(), running.size()));
    events_.record({{"event", "stop_requested"}, {"signal", options_.stop_signal->load()}});
    for (StageId id : running) ask_to_stop(id);
  }

  // A move to another rank count stops at the stage's next scheduled epoch; any other stop
  // checkpoints at the next step.
  void ask_to_stop(StageId id) {
    const ActiveRun& r = *run_.active(id);
    const bool at_epoch = r.told_to_stop == StopOrder::Why::resized;
    workers_.send(r.workers.front(), msg::kCheckpointRequest, msg::CheckpointRequest{id, r.attempt, true, at_epoch});
  }

  // Once a loop pass: the records kept since the last pass, written in groups. The books'
  // batch is committed and the journal synced once their oldest record is `age` old. The
  // events go out only when the books hold no uncommitted row: an event is never in
  // events.jsonl before the rows it follows are in the books, so a reader that sees
  // stage_completed or checkpoint_committed finds its row, also after a SIGKILL of rank 0
  // (which loses both, or neither). The journal's records are written just before the events,
  // for the same reason, and otherwise by their sync: one write for a group of short stages
  // rather than one each loop pass (a write call per pass was 7% of rank 0's time per stage in
  // a burst of one-step stages). What a SIGKILL of rank 0 can lose is unchanged: records that
  // no file yet shows, which only cost re-running work.
  void commit_groups(std::chrono::milliseconds age) {
    books_->commit_if_older_than(age);
    if (!books_->uncommitted()) {
      journal_->write_pending();  // before the events: an event never precedes its record
      events_.flush();
    }
    journal_->sync_if_older_than(age);
  }

  // One pass of the scheduling policy, when something it looks at changed (and at least once
  // a second: fair share, aging, the allocation's end).
  void dispatch() {
    const double now = events_.elapsed();
    if (!run_.changed() && now < next_policy_pass_) return;
    next_policy_pass_ = now + 1.0;
    // The assignments leave before the starts are recorded (CampaignRun::StartNotices).
    const Decision decision = run_.decide(now, CampaignRun::StartNotices::after_sends);
    for (const auto& stop : decision.stops) ask_to_stop(stop.job);
    for (const auto& start : decision.starts) assign(start.job);
    run_.announce_starts();
    if (run_.stop_if_nothing_can_start(decision)) {
      bool capped = false;
      for (const auto& w : run_.policy().waiting_report(now)) capped = capped || w.reason == WaitReason::allocation_used;
      events_.progress(capped ? "every stage that could start belongs to a project at its hard cap: stopping; raise its "
                                "allocation_core_hours (or lift hard_cap) and run the same command again to continue"
                              : "the allocation ends before any waiting stage could reach a checkpoint: stopping");
    }
  }

  // Once per run, when the campaign sets any: the MPI-IO hints its files are opened with, and
  // each stage whose own differ. What MPI made of them is in each worker's log.
  void record_mpi_io_hints() {
    const auto& c = graph_.campaign();
    nlohmann::json stages = nlohmann::json::object();
    bool any = !c.mpi_io_hints.empty();
    for (StageId id = 0; id < graph_.size(); ++id) {
      const StageSpec& s = graph_.stage(id);
      any = any || !s.mpi_io_hints.empty();
      if (s.mpi_io_hints != c.mpi_io_hints) stages[s.name] = s.mpi_io_hints;
    }
    if (!any) return;
    events_.record({{"event", "mpi_io_hints"}, {"hints", c.mpi_io_hints}, {"stages", stages}});
    std::vector<std::string> pairs;
    for (const auto& [key, value] : c.mpi_io_hints) pairs.push_back(key + "=" + value);
    events_.progress(fmt::format("MPI-IO hints for every checkpoint and output: {}{}",
                                 pairs.empty() ? "none" : fmt::format("{}", fmt::join(pairs, " ")),
                                 stages.empty() ? "" : fmt::format(" ({} {} their own)", stages.size(),
                                                                    stages.size() == 1 ? "stage sets" : "stages set")));
  }

  // Sends the stage to every member of its group (CampaignRun has made it a running stage).
  void assign(StageId id) {
    const StageSpec& s = graph_.stage(id);
    const ActiveRun& r = *run_.active(id);
    msg::AssignStage a;
    a.stage_id = id;
    a.attempt = r.attempt;
    a.stage = s.name;
    a.kernel = s.what_runs();
    // Group order follows the worker ids; members are named by their rank in the pool's
    // communicators, which is what MPI_Comm_create_group needs.
    for (int worker : r.workers) a.members.push_back(workers_.worker(worker).rank);
    a.steps = s.steps;
    a.parameters = s.parameters;
    a.outputs = s.outputs;
    for (const auto& input : graph_.inputs(id)) {
      auto& files = a.inputs[input.name];
      for (const auto& [upstream, output] : input.sources) {
        files.push_back({graph_.stage(upstream).name, output, output_file_text(graph_, upstream),
                         *graph_.stage(upstream).find_output(output)});
      }
    }
    a.output_file = output_file_text(graph_, id);
    a.log_dir = log_dir_.string();
    a.campaign = graph_.campaign().name;
    a.definition = run_.definition(id);
    a.checkpoint = s.checkpoint;
    a.checkpoint_dir = (checkpoints_dir_ / s.name).string();
    const StageHistory& h = run_.history(id);
    for (auto it = h.epochs.rbegin(); it != h.epochs.rend(); ++it) {
      a.restore_from.push_back((graph_.campaign().output_dir / it->file).lexically_normal().string());
    }
    a.next_epoch = h.last_epoch + 1;
    a.faults = faults_text_;
    a.cores_per_rank = std::max(1, s.cores_per_rank);
    if (s.command) {
      a.command = s.command;
      a.command->run_dir = (graph_.campaign().output_dir / "model-runs" / s.name).string();
    }
    a.output_metadata = output_metadata_for(graph_.campaign(), s);
    a.mpi_io_hints = s.mpi_io_hints;
    for (int worker : r.workers) workers_.send(worker, msg::kAssignStage, a);
  }

  // Workers joining (at start, or spawned): each on its node, a partition per pool. A node
  // the campaign's cluster: section names gets its declared resources; any other is
  // detected, with as many cores as workers on it.
  void add_workers(const std::vector<int>& ids, int partition) {
    Machine& m = run_.machine();
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
    run_.resources_changed();
  }

  // Testing each send on every pass took about 4% of rank 0's loop with short stages, most of
  // it in yields inside MPI_Test: tested in batches instead, or every 10 ms.
  void retire_sends() {
    const double now = events_.elapsed();
    if (workers_.pending_sends() < kSendsRetiredTogether && now - sends_retired_at_ < 0.01) return;
    workers_.progress_sends();
    sends_retired_at_ = now;
  }

  // `log/status.json`, for `perennial status`: at most once a second, and at the end.
  void write_status(double now, bool force = false) {
    if (!force && now < next_status_) return;
    const auto started = std::chrono::steady_clock::now();
    journal_->write_pending();  // status.json never shows a stage ended that the journal lacks
    RunStatus::of(run_, now, unix_time_seconds()).write(log_dir_ / "status.json");
    // Once a second, or less often when the status is large: it lists every waiting stage,
    // and one write took rank 0 about 35 ms for 10,000 of them (perf), so a third of a second
    // for 100,000. Fifty times the last write's time keeps it near 2% of rank 0's time,
    // whatever the campaign's size.
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    next_status_ = now + std::max(kStatusEvery, 50.0 * took);
  }

  std::chrono::nanoseconds next_wait() const {
    // Wake at the earliest failure-grace deadline, when records wait for their group commit,
    // and at least four times a second.
    const bool waiting = journal_->unsynced() || books_->uncommitted() || events_.unflushed();
    double wait = waiting ? std::chrono::duration<double>(kGroupCommitAge).count() : 0.25;
    if (deaths_.watched() > 0) wait = std::min(wait, kDeathCheckSeconds);  // recovery: look for ended processes
    if (const auto deadline = run_.next_grace_deadline(options_.failure_grace.count())) {
      wait = std::min(wait, std::max(0.0, *deadline - events_.elapsed()));
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
      case msg::kProgress: on_progress(workers_.receive<msg::Progress>(e)); break;
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

  void on_stop_declined(const msg::StopDeclined& d) {
    if (d.stage_id >= graph_.size()) return;
    run_.stop_declined(d.stage_id, d.attempt, d.step, d.reason, events_.elapsed());
  }

  void on_progress(const msg::Progress& p) {
    if (p.stage_id >= graph_.size()) return;
    run_.progressed(p.stage_id, p.attempt, p.step, p.simulated, events_.elapsed());
  }

  void on_metric(const msg::Metric& m) {
    if (m.stage_id >= graph_.size()) return;
    const ActiveRun* r = run_.active(m.stage_id);
    if (auto refused = metric_refusal(graph_, m.stage_id, m.attempt, m.step, m.name, m.value,
                                      r ? std::optional<std::uint32_t>(r->attempt) : std::nullopt)) {
      // Each refusal is an event; the log says it once per stage, metric and reason.
      events_.record({{"event", "metric_refused"}, {"stage", graph_.stage(m.stage_id).name}, {"step", m.step},
                      {"name", m.name}, {"reason", refused->kind}, {"message", refused->message}});
      if (metric_warnings_.insert(fmt::format("{}\x1f{}\x1f{}", m.stage_id, m.name, refused->kind)).second) {
        events_.progress("warning: " + refused->message + " (any more like it are in events.jsonl)");
      }
      return;
    }
    nlohmann::json event = {{"event", "metric"}, {"stage", graph_.stage(m.stage_id).name}, {"step", m.step},
                            {"name", m.name}, {"value", m.value}};
    if (m.simulated > 0) event["simulated_seconds"] = m.simulated;
    events_.record(event);
    books_->metric(m.stage_id, m.step, m.name, m.value, events_.elapsed(),
                   m.simulated > 0 ? std::optional<double>(m.simulated) : std::nullopt);
    steer(m);
  }

  // Scenario promise: the moves a value implies, each an event with its reason.
  void steer(const msg::Metric& m) {
    record_moves(steering_.metric(m.stage_id, m.step, m.simulated, m.name, m.value, events_.elapsed()));
  }

  void record_moves(const std::vector<SteeringMove>& moves) {
    for (const SteeringMove& move : moves) {
      event_recorder_.promise_moved(move);
      if (move.stop) ask_to_stop(move.stop->job);
    }
  }

  // Recorded only now that the group has written, synced, renamed and verified the file.
  void on_epoch(const msg::EpochCommitted& e) {
    if (e.stage_id >= graph_.size()) return;
    const StageSpec& s = graph_.stage(e.stage_id);
    // Paths are journaled relative to the output folder, so a moved or copied folder resumes.
    const EpochRecord record{e.epoch, e.step,
                             std::filesystem::path(e.file).lexically_relative(graph_.campaign().output_dir).string(),
                             e.simulated, e.bytes};
    const ActiveRun* r = run_.active(e.stage_id);
    run_.epoch_committed(e.stage_id, e.attempt, record, e.seconds, events_.elapsed(), r ? node_count(r->workers) : 1);
    events_.record({{"event", "checkpoint_committed"}, {"stage", s.name}, {"epoch", e.epoch}, {"step", e.step},
                    {"file", e.file}, {"seconds", e.seconds}, {"bytes", e.bytes}, {"interval", e.interval}});
    events_.log().info("checkpoint {} epoch {} at step {}: {} bytes in {:.3f} s; next: {}", s.name, e.epoch, e.step,
                       e.bytes, e.seconds, e.interval);
  }

  // Nodes a group spans: its failure rate, in the interval rule.
  int node_count(const std::vector<int>& ranks) const {
    std::set<std::string> nodes;
    for (int id : ranks) nodes.insert(workers_.worker(id).hello.node);
    return static_cast<int>(nodes.size());
  }

  void on_restored(const msg::StageRestored& r) {
    if (r.stage_id >= graph_.size()) return;
    const StageSpec& s = graph_.stage(r.stage_id);
    for (const auto& problem : r.rejected) events_.progress(fmt::format("rejected  {}: {}", s.name, problem));
    if (r.restored) run_.restored(r.stage_id, r.attempt, r.step, r.simulated);
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
    CampaignRun::MemberReport report;
    report.ok = done.ok;
    report.error = done.error;
    if (done.stopped) report.stopped_at = done.steps_done;
    report.steps_done = done.steps_done;
    report.simulated = done.simulated;
    report.cpu_seconds = done.cpu_seconds;
    report.output_seconds = done.output_seconds;
    if (done.energy_measured) report.node_energy_joules = done.node_energy_joules;
    report.energy_note = done.energy_note;
    report.model_lost = done.model_lost;
    if (!run_.member_reported(done.stage_id, done.attempt, rank, report, events_.elapsed())) {
      events_.log().warn("late or repeated report from rank {} for stage id {} attempt {}", rank, done.stage_id,
                         done.attempt);
    }
  }

  // Heartbeats arrive on their own communicators; a rank silent past the timeout is dead.
  void watch_heartbeats() {
    // Beats come every 0.25 s and the timeout is seconds: looking 20 times a second is plenty,
    // and keeps probes off the dispatch path when thousands of short stages go by.
    const double now = events_.elapsed();
    if (now - last_heartbeat_check_ < kDeathCheckSeconds) return;
    last_heartbeat_check_ = now;
    for (int id : workers_.drain_heartbeats()) heartbeats_.beat(id, now);
    if (now - last_coordinator_beat_ >= 0.25) {
      workers_.beat_live_workers();
      last_coordinator_beat_ = now;
    }
    drill_coordinator_kill(now);
    books_->tick(now);
    // recovery: a rank ended as the group-mate of one declared before it in the same pass is
    // not declared again; a local process that exited is declared at once.
    for (int id : heartbeats_.newly_silent(now)) {
      if (!dead_.count(id)) declare_dead(id);
    }
    for (int id : deaths_.ended()) {
      if (!dead_.count(id) && (in_running_stage(id) || is_idle_spare(id))) declare_dead(id, true);
      else if (!dead_.count(id)) ended_while_idle_.insert(id);  // looked at again before the shutdown
      // An idle worker's death costs nothing yet: it is left to its heartbeat, as before (a
      // stage sent to it meanwhile is lost with it and recovers as a group; declared now, its
      // place would be respawned into a pool of its own, where no wider group fits).
    }
  }

  // `kill:rank=0,time=T`: the coordinator's own death, for drills of a resume from the journal.
  void drill_coordinator_kill(double now) {
    for (const Fault& f : options_.faults.faults) {
      if (f.kind == FaultKind::kill && f.rank == 0 && f.time && now >= *f.time) {
        events_.progress(fmt::format("fault drill '{}': SIGKILL of the coordinator", f.text));
        commit_groups(std::chrono::milliseconds(0));
        ::kill(::getpid(), SIGKILL);
      }
    }
  }

  // The rank is gone (or unreachable: silence looks the same). Its group cannot finish: the
  // group-mates may wait for it in a collective forever, so their heartbeat threads end them,
  // and the stage resumes from its last verified epoch on other or respawned ranks.
  // `process_ended`: seen by DeathWatch (its process on this host exited), not by silence.
  void declare_dead(int id, bool process_ended = false) {
    const double silence = process_ended ? heartbeats_.silence(id, events_.elapsed()) : heartbeats_.timeout();
    mark_gone(id);
    events_.record({{"event", "rank_dead"}, {"rank", id}, {"pid", workers_.worker(id).hello.pid},
                    {"node", workers_.worker(id).hello.node}, {"silence_seconds", silence},
                    {"detected_by", process_ended ? "process_exit" : "heartbeat"}});
    const std::string why = process_ended ? fmt::format("rank {} died (its process ended)", id)
                                          : fmt::format("rank {} died (no heartbeat for {:.1f} s)", id, silence);
    events_.progress(process_ended ? fmt::format("rank {} ended (its process exited): declared dead", id)
                                   : fmt::format("rank {} sent no heartbeat for {:.1f} s: declared dead", id, silence));
    // A silent rank may still be alive (a hung node, a drill): fence it off like the others.
    if (options_.recovery) workers_.send_abort(id, -1);
    if (spares_.lost_idle(id)) {  // recovery: an idle spare died; spawn its successor
      events_.record({{"event", "spare_lost"}, {"rank", id}});
      replacement_.replace({id}, events_.elapsed());  // the loop's collect_spawns sends it
      return;
    }
    const auto lost = run_.rank_lost(id, why, events_.elapsed());
    std::vector<int> gone{id};
    if (lost) {
      for (int mate : lost->mates) {
        end_rank(mate, static_cast<int>(lost->stage), fmt::format("group-mate {} died", id));
        gone.push_back(mate);
      }
    }
    if (lost && run_.progress().state(lost->stage) == StageState::ready) replace_ranks(gone);
  }

  // Ends a live worker on purpose through its heartbeat thread (it may be stuck in a
  // collective). Only under mpirun --enable-recovery: otherwise its exit ends the job.
  void end_rank(int id, int stage, const std::string& reason) {
    workers_.send_abort(id, stage);
    mark_gone(id);
    events_.record({{"event", "rank_ended"}, {"rank", id}, {"reason", reason}});
  }

  void mark_gone(int id) {
    dead_.insert(id);
    heartbeats_.forget(id);
    deaths_.forget(id);
    workers_.mark_dead(id);
  }

  void replace_ranks(const std::vector<int>& lost) {
    if (lost.empty()) return;
    if (!replacement_.active()) {
      run_.adapt_to_lost_ranks(events_.elapsed());
      return;
    }
    for (int spare : spares_.take(lost.size())) promote_spare(spare);  // recovery: at once, no spawn
    replacement_.replace(lost, events_.elapsed());
    expect_workers();
    run_.resources_changed();
    // recovery: no collect_spawns() here: the loop's, after every death of this pass was
    // declared, sends one spawn for them all once their processes are reaped.
  }

  // ---- recovery: spares and process deaths (see SparePool, DeathWatch) ----
  void watch_process(int id) {
    if (workers_.worker(id).hello.host == own_host_) deaths_.watch(id, workers_.worker(id).hello.pid);
  }

  // Spawned ranks on their way that are owed as capacity: until they join, no stage is judged
  // too large for the machine. Refills of the spare pool are not capacity.
  void expect_workers() {
    run_.policy().set_expected_workers(std::min(replacement_.expected(), spares_.owed_capacity()));
  }

  void fill_spares() {
    if (spares_.target() == 0) return;
    if (!replacement_.active()) {
      events_.progress(fmt::format("--spares {}: no spares (ranks are not respawned in this run)", spares_.target()));
      return;
    }
    replacement_.add_spares(spares_.fill(), events_.elapsed());
    collect_spawns();
  }

  bool in_running_stage(int id) const {
    for (const auto& [stage, r] : run_.running()) {
      if (std::find(r.workers.begin(), r.workers.end(), id) != r.workers.end()) return true;
    }
    return false;
  }
  bool is_idle_spare(int id) const {
    return std::find(spares_.idle().begin(), spares_.idle().end(), id) != spares_.idle().end();
  }

  // An idle spare becomes capacity: the scheduler places the recovering stage on it.
  void promote_spare(int id) {
    add_workers({id}, static_cast<int>(workers_.worker(id).pool));
    events_.record({{"event", "spare_promoted"}, {"rank", id}, {"spares_left", spares_.idle().size()}});
    events_.progress(fmt::format("spare     rank {} takes a lost rank's place ({} spare(s) left)", id,
                                 spares_.idle().size()));
  }
  // ---- end recovery ----

  void collect_spawns() {
    const auto progress = replacement_.poll(events_.elapsed());
    if (progress.requested) {
      const auto [count, first_id] = *progress.requested;
      events_.record({{"event", "spawn_requested"}, {"ranks", count}, {"first_id", first_id}});
      events_.progress(fmt::format("respawn   {} rank(s) to replace the lost ones (ids from {})", count, first_id));
    }
    for (const auto& [pool, seconds] : progress.joined) {
      const auto ids = workers_.pool_workers(pool);
      const auto to_machine = spares_.joined(ids);  // the others are kept idle as spares
      if (!to_machine.empty()) add_workers(to_machine, static_cast<int>(pool));
      const double now = events_.elapsed();
      std::vector<int> pids;
      std::vector<int> kept;
      for (int id : ids) {
        heartbeats_.watch(id, now);
        watch_process(id);
        pids.push_back(workers_.worker(id).hello.pid);
        if (std::find(to_machine.begin(), to_machine.end(), id) == to_machine.end()) kept.push_back(id);
      }
      events_.record({{"event", "ranks_spawned"}, {"ranks", ids}, {"pids", pids}, {"seconds", seconds},
                      {"spares", kept}});
      events_.progress(fmt::format("spawned   ranks {} in {:.2f} s{}", format_ranks(ids), seconds,
                                   kept.empty() ? "" : fmt::format(" (kept idle as spares: {})", format_ranks(kept))));
    }
    if (progress.failed) {
      events_.record({{"event", "spawn_failed"}, {"error", *progress.failed}});
      events_.progress(fmt::format("respawn failed: {}; lost ranks are not replaced from now on", *progress.failed));
    }
    if (progress.failed) spares_.spawns_failed(replacement_.expected());
    if (progress.requested || !progress.joined.empty() || progress.failed) {
      expect_workers();
      run_.resources_changed();
    }
    // With no replacements coming, recovering stages wait for ranks or go on with fewer.
    if (progress.failed && replacement_.idle()) run_.adapt_to_lost_ranks(events_.elapsed());
  }

  // Members that never report after a groupmate failed are stuck (typically in a collective
  // with it). Under --enable-recovery their heartbeat threads end them now; otherwise they are
  // retired and the job is aborted at the end (ending them would end the job at once).
  void expire_failure_grace() {
    const auto silent = run_.expire_failure_grace(events_.elapsed(), options_.failure_grace.count());
    for (int rank : silent) {
      if (options_.recovery) {
        end_rank(rank, -1, "stuck after its group failed");
      } else {
        stuck_.insert(rank);
      }
    }
    if (options_.recovery) replace_ranks(silent);
  }

  void record_workers() {
    nlohmann::json list = nlohmann::json::array();
    for (int id : workers_.live_workers()) {
      const auto& w = workers_.worker(id);
      list.push_back({{"rank", id}, {"pid", w.hello.pid}, {"host", w.hello.host}, {"node", w.hello.node}});
    }
    events_.record({{"event", "workers"}, {"workers", list}});
  }

  // An idle worker's death is left to its heartbeat (watch_heartbeats), and the campaign can
  // end before the timeout: the soak killed one 0.2 s before the last stage ended. Told
  // nothing, the other workers then waited in MPI_Finalize for it for ever (its final fence
  // counts every rank), and mpirun and launch with them. A last look at the processes of
  // this host before the shutdown: one that has ended is declared dead, so that the shutdown
  // tells every worker to leave without MPI_Finalize. (A death on another host within the
  // heartbeat timeout of the end is left to the bound on MPI_Finalize, app/finalize_bound.hpp.)
  void declare_ended_before_shutdown() {
    const auto live = workers_.live_workers();
    std::set<int> ended = ended_while_idle_;
    for (int id : deaths_.ended()) ended.insert(id);
    for (int id : live) {
      const auto& hello = workers_.worker(id).hello;
      if (hello.host == own_host_ && !process_running(hello.pid)) ended.insert(id);
    }
    for (int id : ended) {
      if (dead_.count(id) || std::find(live.begin(), live.end(), id) == live.end()) continue;
      events_.record({{"event", "rank_dead"}, {"rank", id}, {"pid", workers_.worker(id).hello.pid},
                      {"node", workers_.worker(id).hello.node}, {"silence_seconds", heartbeats_.silence(id, events_.elapsed())},
                      {"detected_by", "process_exit"}, {"at_shutdown", true}});
      events_.progress(fmt::format("rank {} ended (its process exited) while idle: declared dead", id));
      mark_gone(id);
    }
  }

  // Every live worker gets its shutdown; one that has not taken it within the bound is dead
  // or stuck, and the job ends without MPI_Finalize (which would wait for it forever).
  void shutdown_workers() {
    declare_ended_before_shutdown();
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
    const auto& progress = run_.progress();
    const double share = outcome.wall_seconds > 0 ? 100.0 * outcome.coordinator_cpu_seconds / outcome.wall_seconds : 0.0;
    std::string out = fmt::format("campaign {}: {} of {} stages completed in {:.2f} s (coordinator CPU {:.3f} s, {:.2f}% of wall)\n",
                                  graph_.campaign().name, progress.count(StageState::completed), graph_.size(),
                                  outcome.wall_seconds, outcome.coordinator_cpu_seconds, share);
    out += run_.summary();
    if (!outcome.stuck_ranks.empty()) out += fmt::format("  stuck worker ranks: {}\n", format_ranks(outcome.stuck_ranks));
    if (!outcome.dead_ranks.empty()) {
      out += fmt::format("  lost worker ranks: {}{}\n", format_ranks(outcome.dead_ranks),
                         progress.all_completed() ? "" : " (run the same command again to resume from the checkpoints)");
    }
    if (outcome.checkpointed) out += "checkpointed, resumable: run the same command again to continue\n";
    if (const auto paused = progress.count(StageState::paused); paused > 0) {
      out += fmt::format("{} stage(s) paused (by promise or by hand), each at its checkpoint: `perennial priority {} STAGE "
                         "--resume`, then run the same command again, to go on with one\n",
                         paused, graph_.campaign().output_dir.string());
    }
    out += fmt::format("outputs: {}\nlogs: {}\n", (graph_.campaign().output_dir / "outputs").string(), log_dir_.string());
    return out;
  }

  const StageGraph& graph_;
  WorkerPools& workers_;
  CoordinatorOptions options_;
  std::filesystem::path log_dir_;
  std::filesystem::path checkpoints_dir_;
  WallClock clock_;  // the policy's time in a real run (events_.elapsed() reads it)
  EventLog events_;
  JournalContents earlier_;
  CampaignRun run_;
  EventRecorder event_recorder_;
  std::optional<Journal> journal_;
  std::optional<JournalRecorder> journal_recorder_;
  std::optional<CampaignBooks> books_;  ///< the accounting (set up once the recorders are)
  std::optional<AllocationWatch> allocation_watch_;  ///< logs projected allocation overruns
  std::set<std::string> metric_warnings_;            ///< refusals already in the log
  PromiseSteering steering_{run_};                   ///< scenario promise: metrics move stages
  HeartbeatMonitor heartbeats_;
  RankReplacement replacement_;
  DeathWatch deaths_;  ///< recovery: this host's worker processes, seen to end at once
  SparePool spares_{options_.spares};  ///< recovery: idle ranks that replace lost ones at once
  std::string own_host_ = boost::mpi::environment::processor_name();
  std::string faults_text_;
  std::map<NodeIndex, std::size_t> workers_on_detected_node_;  ///< nodes no cluster: entry names
  std::set<int> dead_;   ///< declared dead, ended on purpose, or unreachable at the end
  std::set<int> ended_while_idle_;  ///< recovery: their process ended while idle, not declared yet
  std::set<int> stuck_;  ///< never reported after a failure, without recovery: retired
  HandDesk hand_;                ///< `perennial priority` on this run
  double next_policy_pass_ = 0.0;
  // The first at a second, like the rest: at the start it would only list every stage as
  // waiting, and a run that ends sooner writes its final status anyway.
  double next_status_ = kStatusEvery;
  double sends_retired_at_ = 0.0;
  double last_heartbeat_check_ = 0.0;
  double last_coordinator_beat_ = -1.0;
};

}  // namespace

CampaignOutcome run_campaign(const StageGraph& graph, WorkerPools& workers, const CoordinatorOptions& options) {
  return CoordinatorLoop(graph, workers, options).run();
}

}  // namespace perennial
