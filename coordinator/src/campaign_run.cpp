#include <perennial/coordinator/campaign_run.hpp>

#include <perennial/checkpoint_interval.hpp>
#include <perennial/coordinator/resources.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>
#include <cmath>

namespace perennial {

namespace {
// Runs of a kind completed before its stages count as short (TypicalRun): a first run is
// often slower (files opened, a worker woken from a long sleep), and one is no pattern.
constexpr std::uint64_t kTypicalAfterRuns = 3;
}  // namespace

std::string format_ranks(const std::vector<int>& ranks) { return fmt::format("{}", fmt::join(ranks, ",")); }

CampaignRun::CampaignRun(const StageGraph& graph, SchedulingPolicy policy, CampaignRunOptions options,
                         std::vector<StageHistory> history)
    : graph_(graph), options_(options), progress_(graph), policy_(std::move(policy)), history_(std::move(history)),
      measured_(graph.size()), attempts_(graph.size(), 0), restarts_(graph.size(), 0), ready_since_(graph.size()),
      queued_at_(graph.size(), 0.0) {
  history_.resize(graph.size());
  for (const auto& p : graph.campaign().projects) policy_.set_share(p.name, p.share);
}

std::size_t CampaignRun::reuse_earlier_work(const std::function<std::string(StageId)>& output_ok) {
  std::size_t reused = 0;
  for (StageId id : graph_.topological_order()) {
    if (!history_[id].completed) continue;
    bool upstream_done = true;
    for (StageId u : graph_.upstream(id)) upstream_done = upstream_done && progress_.state(u) == StageState::completed;
    if (!upstream_done) continue;  // an upstream stage runs again: so must this one
    if (output_ok && !graph_.stage(id).outputs.empty()) {
      if (const std::string problem = output_ok(id); !problem.empty()) {
        tell([&](CampaignObserver& o) { o.output_rejected(id, problem); });
        continue;
      }
    }
    progress_.reuse(id);
    ++reused;
    tell([&](CampaignObserver& o) { o.stage_reused(id); });
  }
  changed_ = true;
  return reused;
}

void CampaignRun::begin(double now, const std::function<bool(StageId)>& only) {
  for (StageId id : progress_.ready()) {
    if (only ? only(id) : !policy_.is_waiting(id) && !policy_.is_running(id)) submit(id, now);
  }
}

int CampaignRun::ranks_of(StageId id) const {
  const auto it = ranks_override_.find(id);
  return it != ranks_override_.end() ? it->second : graph_.stage(id).ranks;
}

std::string CampaignRun::resume_point(StageId id) const {
  const auto& epochs = history_[id].epochs;
  if (epochs.empty()) return "its inputs";
  return fmt::format("epoch {} (step {})", epochs.back().epoch, epochs.back().step);
}

const ActiveRun* CampaignRun::active(StageId id) const {
  const auto it = running_.find(id);
  return it == running_.end() ? nullptr : &it->second;
}

// The policy's view of the stage: declared estimates until the run measured better ones; a
// stage resuming from a checkpoint has only the rest of its steps to go.
void CampaignRun::submit(StageId id, double now) {
  const StageSpec& s = graph_.stage(id);
  const MeasuredStage& m = measured_[id];
  const bool measured = m.step_seconds > 0;
  // Until its first checkpoint is measured, its cost is assumed as the workers assume it.
  JobSpec job = job_for(s, id, policy_.machine(), ranks_of(id), measured ? m.checkpoint_cost : kFirstCheckpointCostGuessSeconds);
  job.priority = priority_of(id);
  if (measured) {
    job.step_seconds = m.step_seconds;
    job.remaining_seconds = m.step_seconds * static_cast<double>(s.steps);
    job.checkpoint_interval = expected_checkpoint_interval(s, job.checkpoint_cost, 1, job.step_seconds);
  }
  if (!ready_since_[id]) ready_since_[id] = now;
  queued_at_[id] = now;
  job.queued_since = *ready_since_[id];
  const StageHistory& h = history_[id];
  if (!h.epochs.empty() && std::isfinite(job.remaining_seconds) && s.steps > 0) {
    job.remaining_seconds *= 1.0 - static_cast<double>(std::min<std::uint64_t>(h.epochs.back().step, s.steps)) /
                                       static_cast<double>(s.steps);
  }
  if (estimator_) estimator_(id, job);
  policy_.submit(job);
  changed_ = true;
}

Decision CampaignRun::decide(double now, StartNotices notices) {
  changed_ = false;
  last_pass_ = now;
  // From the runs of its kind that ended so far: whether a stage ends soon enough for the
  // next one to be queued behind it on its worker. Only asked when the policy queues (real
  // runs): a simulation or a forecast has no use for it.
  std::function<double(JobId)> typical;
  if (policy_.config().queue_behind_short_runs) {
    typical = [this](JobId id) {
      const TypicalRun& t = typical_run(id);
      return t.runs >= kTypicalAfterRuns ? t.longest() : kUnknown;
    };
  }
  Decision decision = policy_.decide(now, typical);
  for (const auto& [id, why] : decision.impossible) fail(id, why);
  for (const auto& stop : decision.stops) {
    // A stage already told to stop for a pause stays paused once it has stopped; a resize
    // gives way to the policy's stop (it would have to checkpoint now, not at its epoch).
    ActiveRun& r = running_.at(stop.job);
    if (r.told_to_stop == StopOrder::Why::resized) resize_to_.erase(stop.job);
    if (r.told_to_stop != StopOrder::Why::paused) r.told_to_stop = stop.why;
    tell([&](CampaignObserver& o) { o.stage_told_to_stop(stop.job, stop); });
  }
  for (const auto& start : decision.starts) {
    progress_.start(start.job);
    ActiveRun run;
    run.attempt = ++attempts_[start.job];
    run.workers = start.allocation.workers;
    run.allocation = start.allocation;
    run.queued = queued_at_[start.job];
    run.start_simulated = 0.0;  // from its inputs, until a restore says otherwise
    run.started = now;
    run.queued_behind = start.behind;
    // A queued stage has not begun: observers hear of it when it does (begin_queued).
    if (!start.behind) kept_starts_.push_back({start.job, run, start.backfilled});
    running_.insert_or_assign(start.job, std::move(run));
  }
  if (notices == StartNotices::at_once) announce_starts();
  return decision;
}

void CampaignRun::announce_starts() {
  if (kept_starts_.empty()) return;
  const std::vector<KeptStart> starts = std::exchange(kept_starts_, {});
  for (const KeptStart& start : starts) {
    for (auto* o : observers_) o->stage_started(start.job, start.run, start.backfilled);
  }
}

bool CampaignRun::stop_if_nothing_can_start(const Decision& last) {
  // Only an allocation's end or a project's hard cap holds stages back for good; otherwise a
  // stage waits for something that will come (ranks being respawned).
  if (stopping_ || !(policy_.config().end_time || policy_.has_caps()) || !last.starts.empty() || !running_.empty() ||
      policy_.waiting_count() == 0) {
    return false;
  }
  stopping_ = true;
  // The stages left say why, in the run's summary and status.
  for (const auto& w : policy_.waiting_report(last_pass_)) {
    if (w.reason == WaitReason::allocation_used || w.reason == WaitReason::end_of_allocation) {
      progress_.hold(w.job, w.detail);
    }
  }
  return true;
}

std::vector<StageId> CampaignRun::stop_everything() {
  stopping_ = true;
  std::vector<StageId> out;
  for (const auto& [id, r] : running_) out.push_back(id);
  return out;
}

bool CampaignRun::restored(StageId id, std::uint32_t attempt, std::uint64_t step, std::optional<double> simulated) {
  auto it = running_.find(id);
  if (it == running_.end() || it->second.attempt != attempt) return false;
  ActiveRun& r = it->second;
  r.start_step = step;
  r.last_step = std::max(r.last_step, step);
  r.start_simulated = simulated;
  if (r.last_step == step) r.last_simulated = simulated;
  tell([&](CampaignObserver& o) { o.stage_restored(id, step); });
  return true;
}

bool CampaignRun::progressed(StageId id, std::uint32_t attempt, std::uint64_t step, std::optional<double> simulated,
                             double now) {
  auto it = running_.find(id);
  if (it == running_.end() || it->second.attempt != attempt) return false;
  ActiveRun& r = it->second;
  if (step < r.last_step) return false;  // overtaken by a newer report
  r.last_step = step;
  if (simulated) r.last_simulated = simulated;
  if (!r.first_progress) r.first_progress = {now, step};
  r.last_progress = {now, step};
  tell([&](CampaignObserver& o) { o.stage_progressed(id, r, now); });
  return true;
}

bool CampaignRun::epoch_committed(StageId id, std::uint32_t attempt, const EpochRecord& epoch, double cost_seconds,
                                  double now, int nodes) {
  // An epoch is durable whatever the attempt: a late report still joins the history.
  StageHistory& h = history_[id];
  h.epochs.push_back(epoch);
  h.last_epoch = std::max(h.last_epoch, epoch.epoch);
  auto it = running_.find(id);
  const bool current = it != running_.end() && it->second.attempt == attempt;
  if (current) {
    ActiveRun& run = it->second;
    ++run.checkpoints;
    run.checkpoint_seconds += cost_seconds;
    if (epoch.step >= run.last_step) {
      run.last_step = epoch.step;
      if (epoch.simulated) run.last_simulated = epoch.simulated;
    }
  }
  tell([&](CampaignObserver& o) { o.epoch_committed(id, attempt, epoch, cost_seconds, now); });
  if (!current) return false;
  // Measured figures replace the guesses: the step rate gives the remaining time, and the
  // checkpoint's cost the interval the group keeps now (the workers' rule, on its nodes)
  // and how early a stop before the allocation's end must come.
  const StageSpec& s = graph_.stage(id);
  const ActiveRun& r = it->second;
  MeasuredStage& m = measured_[id];
  m.checkpoint_cost = cost_seconds;
  const double ran = now - r.started;
  if (epoch.step > r.start_step && ran > 0) m.step_seconds = ran / static_cast<double>(epoch.step - r.start_step);
  if (m.step_seconds > 0) {
    policy_.update_remaining(id, m.step_seconds * static_cast<double>(s.steps - std::min(s.steps, epoch.step)), now);
    policy_.update_checkpointing(id, m.step_seconds, m.checkpoint_cost,
                                 expected_checkpoint_interval(s, m.checkpoint_cost, nodes, m.step_seconds));
    changed_ = true;
  }
  return true;
}

bool CampaignRun::stop_declined(StageId id, std::uint32_t attempt, std::uint64_t step, const std::string& reason,
                                double now) {
  auto it = running_.find(id);
  if (it == running_.end() || it->second.attempt != attempt) return false;
  it->second.told_to_stop.reset();
  resize_to_.erase(id);
  pause_reasons_.erase(id);
  policy_.stop_declined(id, now);
  changed_ = true;
  tell([&](CampaignObserver& o) { o.stop_declined(id, step, reason); });
  return true;
}

bool CampaignRun::member_reported(StageId id, std::uint32_t attempt, int worker, const MemberReport& report, double now) {
  auto it = running_.find(id);
  if (it == running_.end() || it->second.attempt != attempt) return false;
  ActiveRun& r = it->second;
  if (std::find(r.workers.begin(), r.workers.end(), worker) == r.workers.end() || !r.reported.insert(worker).second) {
    return false;  // not a member, or its report came twice
  }
  if (!report.ok) {
    r.errors.push_back(fmt::format("rank {}: {}", worker, report.error));
    if (!r.first_failure) r.first_failure = now;
  }
  if (report.stopped_at) r.stopped_at = report.stopped_at;
  if (!report.model_lost.empty()) r.model_lost = report.model_lost;
  r.output_seconds = std::max(r.output_seconds, report.output_seconds);
  if (report.node_energy_joules) {
    r.node_energy[worker] = *report.node_energy_joules;
  } else if (!report.energy_note.empty()) {
    r.energy_note = report.energy_note;
  }
  if (report.cpu_seconds) {
    r.cpu_seconds += *report.cpu_seconds;
    ++r.cpu_reports;
  }
  if (report.steps_done >= r.last_step) {
    r.last_step = report.steps_done;
    if (report.simulated) r.last_simulated = report.simulated;
  }
  if (r.reported.size() == r.workers.size()) end_run(id, now);
  return true;
}

void CampaignRun::stage_ended(StageId id, const RunEnd& end, double now) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  ActiveRun& r = it->second;
  if (end.kind == RunEnd::Kind::failed) r.errors.push_back(end.error);
  if (end.kind == RunEnd::Kind::stopped) r.stopped_at = end.step;
  r.last_step = std::max(r.last_step, end.kind == RunEnd::Kind::completed ? graph_.stage(id).steps : end.step);
  end_run(id, now);
}

CampaignRun::TypicalRun& CampaignRun::typical_run(StageId id) {
  if (kind_of_.size() <= id) kind_of_.resize(graph_.size(), 0);
  if (kind_of_[id] == 0) {
    const StageSpec& s = graph_.stage(id);
    const auto [kind, added] = kinds_.try_emplace({s.what_runs(), s.steps, s.cores_per_rank},
                                                  static_cast<std::uint32_t>(typical_runs_.size()));
    if (added) typical_runs_.emplace_back();
    kind_of_[id] = kind->second + 1;
  }
  return typical_runs_[kind_of_[id] - 1];
}

// Every member has reported (or was given up on): the run is over. Its worker goes on with a
// stage queued behind it, if any, after the observers heard how this one ended.
void CampaignRun::end_run(StageId id, double now) {
  if (const auto next = finish_run(id, now)) begin_queued(*next, now);
}

void CampaignRun::begin_queued(StageId id, double now) {
  ActiveRun& r = running_.at(id);
  r.started = now;
  if (const Allocation* a = policy_.allocation(id)) r.allocation = *a;
  kept_starts_.push_back({id, r, false});  // still naming the stage it waited behind, for the records
  r.queued_behind.reset();
  announce_starts();
}

void CampaignRun::unqueue_from(int worker, double now) {
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    const ActiveRun& r = it->second;
    if (!r.queued_behind || std::find(r.workers.begin(), r.workers.end(), worker) == r.workers.end()) continue;
    const StageId id = it->first;
    running_.erase(it);
    policy_.unqueue(id);
    progress_.requeue(id, fmt::format("its rank {} was lost before the stage began there; waiting again", worker));
    queued_at_[id] = now;
    changed_ = true;
    tell([&](CampaignObserver& o) { o.stage_requeued(id, worker, now); });
    return;  // one stage at most is queued on a worker
  }
}

std::optional<StageId> CampaignRun::finish_run(StageId id, double now) {
  ActiveRun r = std::move(running_.at(id));
  running_.erase(id);
  // Lost and stuck members were retired from the machine: they stay out.
  const auto queued_next = policy_.finished(id, now, r.errors.empty() && r.stopped_at.has_value());
  changed_ = true;
  recovering_.erase(id);
  if (r.errors.empty() && !r.model_lost.empty()) {
    resume_after_loss(id, std::move(r), now);
    return queued_next;
  }
  const StageSpec& s = graph_.stage(id);
  const bool yielded = r.errors.empty() && r.stopped_at && r.told_to_stop == StopOrder::Why::preempted && !stopping_;
  const bool paused = r.errors.empty() && r.stopped_at && r.told_to_stop == StopOrder::Why::paused && !stopping_;
  const bool resized = r.errors.empty() && r.stopped_at && r.told_to_stop == StopOrder::Why::resized && !stopping_ &&
                       resize_to_.count(id);
  const SegmentEnd how = !r.errors.empty()    ? SegmentEnd::failed
                         : yielded || paused || resized ? SegmentEnd::preempted
                         : r.stopped_at    ? SegmentEnd::suspended
                                           : SegmentEnd::completed;
  if (how == SegmentEnd::completed) r.last_step = std::max(r.last_step, s.steps);
  const std::string why = fmt::format("{}", fmt::join(r.errors, "; "));
  tell([&](CampaignObserver& o) { o.segment_ended(id, r, how, why, now); });
  if (paused) {
    const auto it = pause_reasons_.find(id);
    const std::string reason = it != pause_reasons_.end() ? it->second : std::string("paused");
    if (it != pause_reasons_.end()) pause_reasons_.erase(it);
    progress_.pause(id, fmt::format("paused at step {}: {}", *r.stopped_at, reason));
    tell([&](CampaignObserver& o) { o.stage_paused(id, r.stopped_at, reason, now); });
    // Released by hand while it was checkpointing: the stop order could not be taken back.
    if (resume_when_stopped_.erase(id) != 0) resume(id, "by hand", now);
    return queued_next;
  }
  resume_when_stopped_.erase(id);
  pause_reasons_.erase(id);
  if (resized) {
    // Copies, not a structured binding: the lambda below captures them, which Debian's clang
    // (ci/fuzz.sh) does not allow of a binding.
    const int ranks = resize_to_.at(id).first;
    const std::string reason = resize_to_.at(id).second;
    resize_to_.erase(id);
    ranks_override_[id] = ranks;
    progress_.requeue(id, fmt::format("moving to {} ranks; resumes from step {}", ranks, *r.stopped_at));
    tell([&](CampaignObserver& o) { o.stage_resized(id, r, *r.stopped_at, ranks, reason, now); });
    submit(id, now);
    return queued_next;
  }
  resize_to_.erase(id);
  if (yielded) {
    // Preempted: checkpointed at a step boundary; it waits and resumes from that step.
    progress_.requeue(id, fmt::format("preempted; resumes from step {}", *r.stopped_at));
    tell([&](CampaignObserver& o) { o.stage_yielded(id, r, *r.stopped_at, now); });
    submit(id, now);
    return queued_next;
  }
  if (r.errors.empty() && r.stopped_at) {
    progress_.suspend(id, fmt::format("checkpointed at step {} of {}; resumes on the next run", *r.stopped_at, s.steps));
    tell([&](CampaignObserver& o) { o.stage_suspended(id, r, *r.stopped_at, now); });
    return queued_next;
  }
  if (r.errors.empty()) {
    if (policy_.config().queue_behind_short_runs) typical_run(id).add(now - r.started);
    const auto now_ready = progress_.complete(id);
    tell([&](CampaignObserver& o) { o.stage_completed(id, r, now); });
    for (StageId next : now_ready) submit_unless_held(next, now);
    return queued_next;
  }
  fail(id, why);
  return queued_next;
}

CampaignRun::PauseResult CampaignRun::pause(StageId id, const std::string& reason, double now) {
  const StageSpec& s = graph_.stage(id);
  const StageState state = progress_.state(id);
  if (s.protected_run) return {std::nullopt, fmt::format("{} is protected: never paused", s.name)};
  if (state == StageState::ready) {
    policy_.withdraw(id);
    progress_.pause(id, fmt::format("paused: {}", reason));
    changed_ = true;
    tell([&](CampaignObserver& o) { o.stage_paused(id, std::nullopt, reason, now); });
    return {};
  }
  if (state != StageState::running) {
    return {std::nullopt, fmt::format("{} is {}: only a waiting or running stage is paused", s.name, state_name(state))};
  }
  if (!s.checkpoint.enabled) {
    return {std::nullopt, fmt::format("{} writes no checkpoints: it cannot stop without losing its work", s.name)};
  }
  ActiveRun& r = running_.at(id);
  if (r.told_to_stop == StopOrder::Why::paused) return {};  // asked already
  r.told_to_stop = StopOrder::Why::paused;
  pause_reasons_[id] = reason;
  StopOrder stop{id, StopOrder::Why::paused, reason};
  tell([&](CampaignObserver& o) { o.stage_told_to_stop(id, stop); });
  return {stop, {}};
}

bool CampaignRun::resume(StageId id, const std::string& reason, double now) {
  if (progress_.state(id) != StageState::paused || held_by_hand(id)) return false;
  progress_.resume(id, fmt::format("resumed: {}", reason));
  tell([&](CampaignObserver& o) { o.stage_resumed(id, reason, now); });
  submit(id, now);
  return true;
}

CampaignRun::PauseResult CampaignRun::resize(StageId id, int ranks, const std::string& reason, double now) {
  const StageSpec& s = graph_.stage(id);
  const StageState state = progress_.state(id);
  if (s.protected_run) return {std::nullopt, fmt::format("{} is protected: never moved", s.name)};
  if (ranks < 1 || ranks > s.most_ranks()) {
    return {std::nullopt, fmt::format("{} runs on at most {} ranks, not {}", s.name, s.most_ranks(), ranks)};
  }
  if (ranks == ranks_of(id)) return {std::nullopt, fmt::format("{} is on {} ranks already", s.name, ranks)};
  if (state == StageState::ready) {
    policy_.withdraw(id);
    ranks_override_[id] = ranks;
    submit(id, now);
    return {};
  }
  if (state != StageState::running) {
    return {std::nullopt, fmt::format("{} is {}: only a waiting or running stage is moved", s.name, state_name(state))};
  }
  if (!s.checkpoint.enabled) {
    return {std::nullopt, fmt::format("{} writes no checkpoints: it cannot move without losing its work", s.name)};
  }
  ActiveRun& r = running_.at(id);
  if (r.told_to_stop) return {std::nullopt, fmt::format("{} is stopping already", s.name)};
  r.told_to_stop = StopOrder::Why::resized;
  resize_to_[id] = {ranks, reason};
  StopOrder stop{id, StopOrder::Why::resized, reason};
  tell([&](CampaignObserver& o) { o.stage_told_to_stop(id, stop); });
  return {stop, {}};
}

void CampaignRun::fail(StageId id, const std::string& why) {
  if (progress_.state(id) == StageState::ready) policy_.withdraw(id);
  const auto blocked = progress_.fail(id, why);
  changed_ = true;
  tell([&](CampaignObserver& o) { o.stage_failed(id, why, blocked); });
}

std::optional<CampaignRun::LostGroup> CampaignRun::rank_lost(int rank, const std::string& why, double now) {
  policy_.machine().retire_worker(rank);
  changed_ = true;
  unqueue_from(rank, now);
  for (auto& [id, r] : running_) {
    if (std::find(r.workers.begin(), r.workers.end(), rank) == r.workers.end()) continue;
    LostGroup group{id, {}};
    r.lost.push_back(rank);
    r.errors.push_back(why);
    for (int mate : r.workers) {
      if (mate == rank || std::find(r.lost.begin(), r.lost.end(), mate) != r.lost.end()) continue;
      policy_.machine().retire_worker(mate);
      r.lost.push_back(mate);
      group.mates.push_back(mate);
    }
    stage_lost(id, now);
    return group;
  }
  return std::nullopt;
}

// A stage whose group lost ranks: resumed from its last verified epoch, up to max_restarts
// times, on free ranks or on ranks spawned to replace the lost ones.
void CampaignRun::stage_lost(StageId id, double now) {
  ActiveRun r = std::move(running_.at(id));
  running_.erase(id);
  const auto next = policy_.finished(id, now);
  changed_ = true;
  resume_after_loss(id, std::move(r), now);
  if (next) begin_queued(*next, now);
}

void CampaignRun::resume_after_loss(StageId id, ActiveRun r, double now) {
  const int restarts = ++restarts_[id];
  const std::string what = r.model_lost.empty() ? fmt::format("lost ranks {}", format_ranks(r.lost)) : r.model_lost;
  tell([&](CampaignObserver& o) {
    o.segment_ended(id, r, SegmentEnd::lost, r.model_lost.empty() ? fmt::format("{}", fmt::join(r.errors, "; ")) : what, now);
  });
  tell([&](CampaignObserver& o) { o.stage_lost(id, r, restarts, now); });
  if (restarts > options_.max_restarts || !options_.recover) {
    const std::string times = r.model_lost.empty()
                                  ? fmt::format("lost ranks {} times (--max-restarts {})", restarts, options_.max_restarts)
                                  : fmt::format("{}; lost {} times (--max-restarts {})", what, restarts, options_.max_restarts);
    fail(id, options_.recover ? times : r.model_lost.empty() ? fmt::format("{}", fmt::join(r.errors, "; ")) : what);
    return;
  }
  const std::string from = resume_point(id);
  progress_.requeue(id, fmt::format("{}; resuming from {}", what, from));
  submit(id, now);
  recovering_.insert(id);
  tell([&](CampaignObserver& o) { o.stage_recovering(id, r, from, restarts); });
}

std::vector<int> CampaignRun::expire_failure_grace(double now, double grace) {
  std::vector<StageId> expired;
  for (const auto& [id, r] : running_) {
    if (r.first_failure && now - *r.first_failure >= grace) expired.push_back(id);
  }
  std::vector<int> silent;
  for (StageId id : expired) {
    ActiveRun& r = running_.at(id);
    for (int rank : r.workers) {
      if (r.reported.count(rank)) continue;
      r.reported.insert(rank);
      r.errors.push_back(fmt::format("rank {} did not report within {:.0f} s of the failure (stuck)", rank, grace));
      policy_.machine().retire_worker(rank);
      silent.push_back(rank);
    }
    end_run(id, now);
  }
  return silent;
}

std::optional<double> CampaignRun::next_grace_deadline(double grace) const {
  std::optional<double> next;
  for (const auto& [id, r] : running_) {
    if (r.first_failure) next = std::min(next.value_or(*r.first_failure + grace), *r.first_failure + grace);
  }
  return next;
}

void CampaignRun::adapt_to_lost_ranks(double now) {
  for (StageId id : recovering_) {
    if (progress_.state(id) != StageState::ready) continue;
    const StageSpec& s = graph_.stage(id);
    const auto largest = static_cast<int>(policy_.machine().capacity(request_for(s, policy_.machine(), 1).per_rank));
    const int want = ranks_of(id);
    // A model executable runs on the ranks it was configured for (its decomposition, its
    // restart files one per rank): it waits for them rather than restarting on fewer.
    if (want <= largest || s.command) {
      tell([&](CampaignObserver& o) { o.stage_waits_for_ranks(id, want); });
    } else if (largest >= 1) {
      ranks_override_[id] = largest;
      policy_.withdraw(id);
      submit(id, now);
      tell([&](CampaignObserver& o) { o.stage_shrunk(id, largest); });
    }
  }
}

const std::string& CampaignRun::definition(StageId id) const {
  if (definitions_.empty()) definitions_.resize(graph_.size());
  if (definitions_[id].empty()) definitions_[id] = stage_definition(graph_, id);
  return definitions_[id];
}

std::string CampaignRun::summary() const {
  std::string out;
  for (StageId id = 0; id < graph_.size(); ++id) {
    const auto st = progress_.state(id);
    if (st != StageState::completed && st != StageState::running) {
      out += fmt::format("  {:<13} {}: {}\n", state_name(st), graph_.stage(id).name, progress_.reason(id));
    }
  }
  return out;
}

}  // namespace perennial
