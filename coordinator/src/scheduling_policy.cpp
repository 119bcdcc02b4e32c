#include <perennial/coordinator/scheduling_policy.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

namespace perennial {

namespace {

std::string format_time(double seconds) {
  if (!std::isfinite(seconds)) return "unknown";
  if (seconds < 120) return fmt::format("{:.1f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  if (seconds < 3 * 86400) return fmt::format("{:.1f} h", seconds / 3600);
  return fmt::format("{:.1f} d", seconds / 86400);
}

// Whether an allocation holds any node a rank of `shape` could use.
bool uses_a_node_for(const Machine& machine, const Allocation& a, const RankShape& shape) {
  return std::any_of(a.ranks_on.begin(), a.ranks_on.end(), [&](const auto& on) { return machine.suits(on.first, shape); });
}

}  // namespace

std::string_view reason_name(WaitReason r) {
  switch (r) {
    case WaitReason::none: return "none";
    case WaitReason::priority: return "priority";
    case WaitReason::resources: return "resources";
    case WaitReason::reservation: return "reservation";
    case WaitReason::preempting: return "preempting";
    case WaitReason::end_of_allocation: return "end_of_allocation";
    case WaitReason::allocation_used: return "allocation_used";
  }
  return "?";
}

SchedulingPolicy::SchedulingPolicy(Machine machine, PolicyConfig config)
    : machine_(std::move(machine)), config_(std::move(config)), fairshare_(config_.fairshare_half_life) {}

void SchedulingPolicy::submit(const JobSpec& job) {
  if (!any_priority_) {
    min_priority_ = max_priority_ = job.priority;
    any_priority_ = true;
  }
  min_priority_ = std::min(min_priority_, job.priority);
  max_priority_ = std::max(max_priority_, job.priority);
  if (auto old = waiting_.find(job.id); old != waiting_.end()) dequeue(old->second.spec);
  waiting_[job.id] = Waiting{job, WaitReason::none, {}};
  enqueue(job);
}

void SchedulingPolicy::withdraw(JobId id) {
  if (auto w = waiting_.find(id); w != waiting_.end()) {
    dequeue(w->second.spec);
    waiting_.erase(w);
  }
  preempting_for_.erase(id);
}

void SchedulingPolicy::set_priority(JobId id, int priority) {
  if (auto w = waiting_.find(id); w != waiting_.end()) {
    dequeue(w->second.spec);
    w->second.spec.priority = priority;
    min_priority_ = std::min(min_priority_, priority);
    max_priority_ = std::max(max_priority_, priority);
    enqueue(w->second.spec);
  } else if (auto r = running_.find(id); r != running_.end()) {
    running_priorities_.erase(running_priorities_.find(r->second.spec.priority));
    r->second.spec.priority = priority;
    running_priorities_.insert(priority);
    min_priority_ = std::min(min_priority_, priority);
    max_priority_ = std::max(max_priority_, priority);
  }
}

void SchedulingPolicy::enqueue(const JobSpec& job) {
  buckets_[{job.project, job.priority}].emplace(job.queued_since, job.id);
}

void SchedulingPolicy::dequeue(const JobSpec& job) {
  buckets_[{job.project, job.priority}].erase({job.queued_since, job.id});
}

const Allocation* SchedulingPolicy::allocation(JobId id) const {
  auto it = running_.find(id);
  return it == running_.end() ? nullptr : &it->second.allocation;
}

double SchedulingPolicy::priority_score(const JobSpec& job, double now) const {
  return multifactor_priority(config_.weights, priority_factor(job.priority), fairshare_.factor(job.project, now),
                              now - job.queued_since);
}

// The stage's `priority:` scaled to [0, 1] over the priorities submitted so far.
double SchedulingPolicy::priority_factor(int priority) const {
  const double span = static_cast<double>(max_priority_ - min_priority_);
  return span > 0 ? (priority - min_priority_) / span : 1.0;
}

void SchedulingPolicy::set_expected_end(JobId id, Running& r, double end) {
  ends_.erase(r.end_entry);
  r.expected_end = end;
  r.end_entry = ends_.emplace(end, id);
}

// Use is charged as it happens, so the fair-share factor of a project with long stages
// running falls during their run and not only when they end.
void SchedulingPolicy::charge(double now) {
  const double dt = now - charged_until_;
  if (dt <= 0) return;
  for (const auto& [project, cores] : cores_in_use_) {
    if (cores <= 0) continue;
    fairshare_.charge(project, cores * dt, now);
    used_[project] += cores * dt;
  }
  charged_until_ = now;
}

bool SchedulingPolicy::preemptible(const Running& r, double now) const {
  if (!can_stop(r) || r.spec.protected_run) return false;
  const auto exempt = r.spec.preempt_exempt_after ? r.spec.preempt_exempt_after : config_.preempt_exempt_after;
  return !(exempt && now - r.started >= *exempt);
}

double SchedulingPolicy::stop_lead(const JobSpec& job) const {
  return job.step_seconds + 2 * job.checkpoint_cost + config_.end_margin;
}

bool SchedulingPolicy::reaches_checkpoint_before_end(const JobSpec& job, double now) const {
  if (!config_.end_time) return true;
  // Its next checkpoint, or its end if that comes first (a stage that writes no
  // checkpoints must finish), and the cost of writing it.
  double until = job.remaining_seconds;
  if (job.checkpoint_interval > 0) until = std::min(until, job.checkpoint_interval);
  if (!std::isfinite(until)) return false;  // no estimate: it cannot be shown to fit
  return now + until + job.checkpoint_cost + config_.end_margin <= *config_.end_time;
}

void SchedulingPolicy::start(JobId id, Allocation allocation, double now, bool backfilled, Decision& decision,
                             const std::function<double(JobId)>& typical) {
  auto w = waiting_.find(id);
  dequeue(w->second.spec);
  JobSpec spec = std::move(w->second.spec);
  if (typical) spec.typical_seconds = typical(id);
  waiting_.erase(w);
  preempting_for_.erase(id);
  begin_running(id, std::move(spec), allocation, now);
  if (backfilled) ++counters_.backfilled;
  decision.starts.push_back({id, std::move(allocation), backfilled, std::nullopt});
}

void SchedulingPolicy::begin_running(JobId id, JobSpec spec, const Allocation& allocation, double now) {
  machine_.take(allocation);
  cores_in_use_[spec.project] += allocation.cores();
  running_priorities_.insert(spec.priority);
  Running r;
  r.started = now;
  r.expected_end = now + spec.remaining_seconds;
  r.spec = std::move(spec);
  r.allocation = allocation;
  auto [it, inserted] = running_.emplace(id, std::move(r));
  it->second.end_entry = ends_.emplace(it->second.expected_end, id);
  ++counters_.starts;
}

// The running one-rank stage of a kind whose runs ended within kQueueBehindSeconds, whose
// worker can take `job` next: the one started first (likely the first to end), with nothing
// queued yet.
std::optional<JobId> SchedulingPolicy::queue_spot(const JobSpec& job) const {
  if (job.request.ranks != 1) return std::nullopt;
  const RankShape& need = job.request.per_rank;
  std::optional<JobId> best;
  double best_started = kUnknown;
  for (const auto& [id, r] : running_) {
    if (r.allocation.workers.size() != 1 || r.allocation.ranks() != 1 || r.stopping || behind_running_.count(id)) continue;
    // Measured runs of its kind, not a declared estimate: a stage wrongly expected to end soon
    // would hold the one queued behind it for as long as it runs.
    if (!(r.spec.typical_seconds <= kQueueBehindSeconds)) continue;
    const RankShape& have = r.allocation.per_rank;
    if (need.cores > have.cores || need.gpus > have.gpus || need.memory_bytes > have.memory_bytes) continue;
    if (!machine_.suits(r.allocation.ranks_on.front().first, need)) continue;
    if (!best || std::tie(r.started, id) < std::tie(best_started, *best)) {
      best = id;
      best_started = r.started;
    }
  }
  return best;
}

void SchedulingPolicy::queue_behind(JobId id, JobId running, Decision& decision,
                                    const std::function<double(JobId)>& typical) {
  auto w = waiting_.find(id);
  dequeue(w->second.spec);
  Queued q{std::move(w->second.spec), running_.at(running).allocation, running};
  if (typical) q.spec.typical_seconds = typical(id);
  waiting_.erase(w);
  preempting_for_.erase(id);
  q.allocation.per_rank = q.spec.request.per_rank;
  decision.starts.push_back({id, q.allocation, false, running});
  queued_.emplace(id, std::move(q));
  behind_running_[running] = id;
}

void SchedulingPolicy::unqueue(JobId id) {
  auto q = queued_.find(id);
  if (q == queued_.end()) return;
  behind_running_.erase(q->second.behind);
  JobSpec spec = std::move(q->second.spec);
  queued_.erase(q);
  submit(spec);
}

// The stop order given to `r` never happened: not counted, and no longer awaited.
void SchedulingPolicy::take_back_stop(JobId id, Running& r) {
  if (!r.stopping) return;
  if (r.yielding_for) {
    --counters_.preemptions;
    if (r.spec.protected_run) --counters_.protected_interruptions;
    auto p = preempting_for_.find(*r.yielding_for);
    if (p != preempting_for_.end()) {
      p->second.erase(id);
      // Nothing yields to it any more: it waits (and may preempt) like any other stage.
      if (p->second.empty()) preempting_for_.erase(p);
    }
  } else {
    --counters_.end_of_allocation_stops;
  }
  r.stopping = false;
  r.yielding_for.reset();
}

std::optional<JobId> SchedulingPolicy::finished(JobId id, double now, bool stopped_as_told) {
  charge(now);
  auto it = running_.find(id);
  if (it == running_.end()) return std::nullopt;
  if (!stopped_as_told) take_back_stop(id, it->second);
  machine_.release(it->second.allocation);
  cores_in_use_[it->second.spec.project] -= it->second.allocation.cores();
  running_priorities_.erase(running_priorities_.find(it->second.spec.priority));
  ends_.erase(it->second.end_entry);
  if (it->second.yielding_for) {
    auto p = preempting_for_.find(*it->second.yielding_for);
    if (p != preempting_for_.end()) p->second.erase(id);
  }
  running_.erase(it);
  // Its worker goes on with the stage queued behind it, on the resources it just freed.
  const auto behind = behind_running_.find(id);
  if (behind == behind_running_.end()) return std::nullopt;
  const JobId next = behind->second;
  behind_running_.erase(behind);
  auto q = queued_.find(next);
  Queued queued = std::move(q->second);
  queued_.erase(q);
  begin_running(next, std::move(queued.spec), queued.allocation, now);
  return next;
}

void SchedulingPolicy::stop_declined(JobId id, double now) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  Running& r = it->second;
  take_back_stop(id, r);
  r.cannot_stop = true;
  set_expected_end(id, r, now + r.spec.remaining_seconds);
}

void SchedulingPolicy::update_checkpointing(JobId id, double step_seconds, double checkpoint_cost,
                                            double checkpoint_interval) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  Running& r = it->second;
  r.spec.step_seconds = step_seconds;
  r.spec.checkpoint_cost = checkpoint_cost;
  r.spec.checkpoint_interval = checkpoint_interval;
  r.cannot_stop = false;
}

void SchedulingPolicy::update_remaining(JobId id, double remaining_seconds, double now) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  Running& r = it->second;
  r.spec.remaining_seconds = remaining_seconds;
  set_expected_end(id, r, now + remaining_seconds);
}

double SchedulingPolicy::next_deadline() const {
  double t = kUnknown;
  if (!config_.end_time) return t;
  for (const auto& [id, r] : running_) {
    if (can_stop(r)) t = std::min(t, *config_.end_time - stop_lead(r.spec));
  }
  return t;
}

// A k-way merge of the buckets, highest score first; ties go to the stage that has waited
// longest, then to file order. Within a bucket the score never rises (only the age term
// differs, and it grows with the wait), so the merge yields the same order as sorting the
// whole queue. The stage just returned may be started (erased from its bucket): the walk
// already holds the iterator after it, which that erase leaves valid.
class SchedulingPolicy::QueueWalk {
 public:
  QueueWalk(const SchedulingPolicy& policy, double now) : policy_(policy), now_(now) {
    std::unordered_map<std::string, double> factor;  // once per project per pass
    for (const auto& [key, bucket] : policy.buckets_) {
      if (bucket.empty()) continue;
      auto f = factor.find(key.first);
      if (f == factor.end()) f = factor.emplace(key.first, policy.fairshare_.factor(key.first, now)).first;
      push(policy.priority_factor(key.second), f->second, bucket, bucket.begin());
    }
  }

  std::optional<JobId> next() {
    if (heap_.empty()) return std::nullopt;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    const Head head = heap_.back();
    heap_.pop_back();
    if (auto after = std::next(head.at); after != head.bucket->end()) push(head.priority_factor, head.fairshare_factor, *head.bucket, after);
    return head.id;
  }

 private:
  struct Head {
    double neg_score;
    double queued_since;
    JobId id;
    double priority_factor;
    double fairshare_factor;
    const Bucket* bucket;
    Bucket::const_iterator at;
    bool operator>(const Head& o) const {
      return std::tie(neg_score, queued_since, id) > std::tie(o.neg_score, o.queued_since, o.id);
    }
  };

  void push(double pf, double ff, const Bucket& bucket, Bucket::const_iterator at) {
    const auto [queued_since, id] = *at;
    heap_.push_back({-multifactor_priority(policy_.config_.weights, pf, ff, now_ - queued_since), queued_since, id, pf, ff,
                     &bucket, at});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  }

  const SchedulingPolicy& policy_;
  double now_;
  std::vector<Head> heap_;
};

std::vector<JobId> SchedulingPolicy::queue_order(double now) const {
  std::vector<JobId> order;
  order.reserve(waiting_.size());
  QueueWalk walk(*this, now);
  while (auto id = walk.next()) order.push_back(*id);
  return order;
}

// The earliest time the stage fits, walking the running stages' expected ends, and the nodes
// it would use then. Stages with no estimate never end in this walk: if the stage only fits
// once one of them has ended, the start is unknown and it reserves every node it could use.
SchedulingPolicy::Reservation SchedulingPolicy::reserve(const JobSpec& job, double now) const {
  Reservation r{job.id, kUnknown, std::vector<bool>(machine_.node_count(), false)};
  Machine future = machine_;
  for (auto it = ends_.begin(); it != ends_.end() && std::isfinite(it->first); ++it) {
    const Allocation& ending = running_.at(it->second).allocation;
    future.release(ending);
    // Only an end that frees a node this stage can use can change the answer.
    if (!uses_a_node_for(machine_, ending, job.request.per_rank) || future.free_cores() < job.request.cores()) continue;
    if (auto a = future.place(job.request)) {
      r.start = std::max(now, it->first);
      for (const auto& [n, count] : a->ranks_on) r.nodes[n] = true;
      return r;
    }
  }
  for (NodeIndex n = 0; n < machine_.node_count(); ++n) r.nodes[n] = machine_.suits(n, job.request.per_rank);
  return r;
}

// What a stage others yield to holds: their nodes, from when the last of them is gone.
SchedulingPolicy::Reservation SchedulingPolicy::yielded_to(JobId job, const std::set<JobId>& yielding, double now) const {
  Reservation r{job, now, std::vector<bool>(machine_.node_count(), false)};
  for (JobId y : yielding) {
    const Running& v = running_.at(y);
    r.start = std::max(r.start, v.expected_end);
    for (const auto& [n, count] : v.allocation.ranks_on) r.nodes[n] = true;
  }
  return r;
}

// Chooses stages that yield so that `job` fits: only preemptible ones of lower priority (any
// unprotected one if `job` is protected), on nodes it can use, lowest priority and most
// recently started first; then drops those it turns out not to need.
bool SchedulingPolicy::try_preempt(const JobSpec& job, double now, Decision& decision) {
  // Most passes have nobody to preempt: skip the walk over every running stage then.
  if (running_priorities_.empty() || (!job.protected_run && *running_priorities_.begin() >= job.priority)) return false;
  std::vector<const Running*> candidates;
  for (const auto& [id, r] : running_) {
    // Never a stage this very pass started: starting and stopping it at once is no decision.
    if (!preemptible(r, now) || r.started >= now) continue;
    if (!job.protected_run && r.spec.priority >= job.priority) continue;
    if (uses_a_node_for(machine_, r.allocation, job.request.per_rank)) candidates.push_back(&r);
  }
  if (candidates.empty()) return false;
  std::sort(candidates.begin(), candidates.end(), [](const Running* a, const Running* b) {
    if (a->spec.priority != b->spec.priority) return a->spec.priority < b->spec.priority;
    if (a->started != b->started) return a->started > b->started;
    return a->spec.id < b->spec.id;
  });
  Machine future = machine_;
  std::vector<const Running*> chosen;
  bool fits = false;
  for (const Running* c : candidates) {
    future.release(c->allocation);
    chosen.push_back(c);
    if (future.free_cores() >= job.request.cores() && future.place(job.request)) {
      fits = true;
      break;
    }
  }
  if (!fits) return false;
  for (std::size_t i = 0; i + 1 < chosen.size();) {
    Machine without = future;
    without.take(chosen[i]->allocation);
    if (without.place(job.request)) {
      future = std::move(without);
      chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  auto& yielding = preempting_for_[job.id];
  for (const Running* c : chosen) {
    Running& r = running_.at(c->spec.id);
    r.stopping = true;
    r.yielding_for = job.id;
    // Expected to be gone after its next step boundary and one checkpoint.
    set_expected_end(r.spec.id, r, now + r.spec.step_seconds + r.spec.checkpoint_cost);
    yielding.insert(r.spec.id);
    ++counters_.preemptions;
    if (r.spec.protected_run) ++counters_.protected_interruptions;
    decision.stops.push_back({r.spec.id, StopOrder::Why::preempted,
                              fmt::format("yields to {} (priority {}{})", job.name, job.priority,
                                          job.protected_run ? ", protected" : "")});
  }
  return true;
}

bool SchedulingPolicy::capped(const std::string& project) const {
  const auto cap = caps_.find(project);
  if (cap == caps_.end()) return false;
  const auto used = used_.find(project);
  return used != used_.end() ? used->second >= cap->second : cap->second <= 0.0;
}

Decision SchedulingPolicy::decide(double now, const std::function<double(JobId)>& typical) {
  Decision decision;
  charge(now);

  // The allocation's end: every running stage checkpoints and stops in time.
  if (config_.end_time) {
    for (auto& [id, r] : running_) {
      // A stage that cannot stop at a checkpoint runs on: a stop would only lose its work.
      if (!can_stop(r) || now < *config_.end_time - stop_lead(r.spec)) continue;
      r.stopping = true;
      ++counters_.end_of_allocation_stops;
      decision.stops.push_back({id, StopOrder::Why::end_of_allocation,
                                fmt::format("the allocation ends in {}", format_time(*config_.end_time - now))});
    }
  }
  if (waiting_.empty()) return decision;

  std::vector<Reservation> reservations;
  // A stage others are yielding to holds their nodes until they are gone.
  for (const auto& [job, yielding] : preempting_for_) {
    if (!waiting_.count(job)) continue;
    reservations.push_back(yielded_to(job, yielding, now));
  }
  auto backfill_allowed = [&](const JobSpec& job, const Allocation& a) -> const Reservation* {
    for (const auto& r : reservations) {
      if (r.job == job.id) continue;
      if (std::isfinite(r.start) && std::isfinite(job.remaining_seconds) && now + job.remaining_seconds <= r.start) continue;
      for (const auto& [n, count] : a.ranks_on) {
        if (r.nodes[n]) return &r;
      }
    }
    return nullptr;
  };

  // The shape of a request without its rank count: within one pass, once n ranks of a shape
  // did not fit, n or more of it will not fit either (placements only take resources).
  std::map<RankShape::Key, int> did_not_fit;
  // A request of this shape and rank count that a reservation blocked, and the shortest
  // estimate blocked: on the same machine, placement gives a longer one the same nodes, so it
  // is blocked too. Whatever starts changes the machine and forgets these.
  std::map<std::pair<RankShape::Key, int>, std::pair<double, std::string>> blocked;
  bool reserved = false;  // EASY: one reservation besides the preemptors'
  std::size_t tried_behind = 0;  // stages tried since the reservation
  // Queueing on busy workers only while nothing more urgent waits for resources: a stage
  // queued behind another must not take what a reservation or a preemption is waiting for.
  bool queueing = config_.queue_behind_short_runs && machine_.has_slots() && reservations.empty();
  QueueWalk walk(*this, now);
  while (const auto next = walk.next()) {
    if (reserved && ++tried_behind > config_.backfill_depth) break;  // the rest keep their reasons
    const JobId id = *next;
    Waiting& w = waiting_.at(id);
    const JobSpec& job = w.spec;
    if (capped(job.project)) {
      w.reason = WaitReason::allocation_used;
      w.detail = fmt::format("project {} has used its allocation (hard_cap: {:.3g} core-hours allowed in this run)", job.project,
                             caps_.at(job.project) / 3600.0);
      continue;
    }
    if (!reaches_checkpoint_before_end(job, now)) {
      w.reason = WaitReason::end_of_allocation;
      w.detail = std::isfinite(job.remaining_seconds) || job.checkpoint_interval > 0
                     ? "cannot reach its next checkpoint before the allocation ends"
                     : "no run-time estimate: cannot be shown to reach a checkpoint before the allocation ends";
      continue;
    }
    if (!machine_.can_ever_fit(job.request)) {
      if (expected_workers_ > 0) {
        w.reason = WaitReason::resources;
        w.detail = fmt::format("needs {} ranks; waits for {} respawned rank(s) to join", job.request.ranks, expected_workers_);
        continue;
      }
      decision.impossible.emplace_back(
          id, fmt::format("needs {} ranks of {} core(s){}, but at most {} such ranks fit in this job at once",
                          job.request.ranks, job.request.per_rank.cores,
                          job.request.per_rank.gpus ? fmt::format(" and {} GPU(s)", job.request.per_rank.gpus) : "",
                          machine_.capacity(job.request.per_rank)));
      continue;
    }
    std::optional<Allocation> a;
    const RankShape::Key key = job.request.per_rank.key();
    if (!preempting_for_.count(id)) {
      if (auto b = blocked.find({key, job.request.ranks}); b != blocked.end() && job.remaining_seconds >= b->second.first) {
        w.reason = WaitReason::reservation;
        w.detail = b->second.second;
        continue;
      }
    }
    auto memo = did_not_fit.find(key);
    if (memo == did_not_fit.end() || job.request.ranks < memo->second) a = machine_.place(job.request);
    if (!a) {
      did_not_fit[key] = memo == did_not_fit.end() ? job.request.ranks : std::min(memo->second, job.request.ranks);
    }
    const bool holds_reservation = preempting_for_.count(id) != 0;
    if (a) {
      const Reservation* blocking = holds_reservation ? nullptr : backfill_allowed(job, *a);
      if (!blocking) {
        // Backfilled: started ahead of a stage that holds a reservation. A stage starting on
        // the ranks others yielded to it starts on its own reservation: not backfill.
        const bool ahead = !holds_reservation && std::any_of(reservations.begin(), reservations.end(),
                                                             [id](const Reservation& r) { return r.job != id; });
        start(id, std::move(*a), now, ahead, decision, typical);
        blocked.clear();
        continue;
      }
      w.reason = WaitReason::reservation;
      w.detail = fmt::format("would delay the stage reserved to start at {}", format_time(blocking->start));
      auto& b = blocked[{key, job.request.ranks}];
      if (b.second.empty() || job.remaining_seconds < b.first) b = {job.remaining_seconds, w.detail};
      continue;
    }
    if (holds_reservation) {
      w.reason = WaitReason::preempting;
      w.detail = fmt::format("{} stage(s) are checkpointing to make room", preempting_for_.at(id).size());
      continue;
    }
    if (queueing && !reserved) {
      if (const auto spot = queue_spot(job)) {
        queue_behind(id, *spot, decision, typical);
        continue;
      }
      queueing = false;
    }
    if (reserved) {
      w.reason = WaitReason::priority;
      w.detail = "stages of higher priority wait first";
      if (!config_.backfill) break;
      if (machine_.free_cores() == 0) break;  // nothing else can start: the rest keep their reasons
      continue;
    }
    // The most urgent stage that cannot start: make room for it, or reserve its start.
    reserved = true;
    if (config_.preemption && try_preempt(job, now, decision)) {
      w.reason = WaitReason::preempting;
      w.detail = fmt::format("{} stage(s) are checkpointing to make room", preempting_for_.at(id).size());
      reservations.push_back(yielded_to(id, preempting_for_.at(id), now));
      continue;
    }
    w.reason = WaitReason::resources;
    const std::size_t fit = machine_.fits_now(job.request.per_rank);
    if (!config_.backfill) {
      w.detail = fmt::format("needs {} ranks; {} fit now", job.request.ranks, fit);
      break;  // strict order: nothing overtakes it
    }
    reservations.push_back(reserve(job, now));
    if (std::isfinite(reservations.back().start)) first_reservation_.emplace(id, reservations.back().start);
    w.detail = fmt::format("needs {} ranks; {} fit now; reserved start in {}", job.request.ranks, fit,
                           format_time(reservations.back().start - now));
  }
  for (const auto& [id, why] : decision.impossible) withdraw(id);
  return decision;
}

std::vector<WaitingStatus> SchedulingPolicy::waiting_report(double now, std::size_t horizon) const {
  std::vector<WaitingStatus> out;
  const auto order = queue_order(now);
  // Expected starts: the queue in order on a copy of the machine, each stage at the first
  // expected end after which it fits, then holding its resources for its estimate. Without
  // backfill this is an upper bound; stages past the horizon are left unknown.
  Machine future = machine_;
  std::multimap<double, const Allocation*> ends;
  std::vector<Allocation> planned;
  planned.reserve(std::min(horizon, order.size()));
  for (const auto& [t, id] : ends_) ends.emplace(t, &running_.at(id).allocation);
  double clock = now;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Waiting& w = waiting_.at(order[i]);
    WaitingStatus s{order[i], w.spec.name, priority_score(w.spec, now), w.reason, w.detail, kUnknown};
    if (s.reason == WaitReason::none) {
      s.reason = WaitReason::priority;
      s.detail = "not reached by the last pass";
    }
    if (i < horizon && s.reason != WaitReason::end_of_allocation) {
      std::optional<Allocation> a = future.place(w.spec.request);
      while (!a && !ends.empty() && std::isfinite(ends.begin()->first)) {
        clock = std::max(clock, ends.begin()->first);
        future.release(*ends.begin()->second);
        ends.erase(ends.begin());
        a = future.place(w.spec.request);
      }
      if (a) {
        s.expected_start = clock;
        future.take(*a);
        planned.push_back(std::move(*a));
        ends.emplace(clock + w.spec.remaining_seconds, &planned.back());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace perennial
