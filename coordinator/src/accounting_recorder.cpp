#include <perennial/coordinator/accounting_recorder.hpp>

#include <perennial/errors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace perennial {

std::string scenario_json(const StageSpec& stage) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, value] : stage.scenario) j[key] = value;
  return j.dump();
}

EnergyFigure model_energy_of(const Machine& machine, const ClusterSpec& cluster, const ActiveRun& run,
                             double wall_seconds, std::optional<double> cpu_seconds) {
  if (run.allocation.ranks_on.empty()) return EnergyFigure::unavailable("the segment ran on no known node");
  const int ranks = std::max(1, run.allocation.ranks());
  EnergyFigure total;
  total.source = EnergySource::model;
  total.joules = 0.0;
  for (const auto& [n, count] : run.allocation.ranks_on) {
    const NodeSpec& node = machine.node(n);
    const NodePower* power = nullptr;
    for (const auto& k : cluster.classes) {
      if (k.power && std::find(k.names.begin(), k.names.end(), node.name) != k.names.end()) power = &*k.power;
    }
    if (!power) {
      return EnergyFigure::unavailable("node " + node.name + " declares no power (cluster.nodes[].power) and no RAPL counter was read");
    }
    NodeUse use;
    use.wall_seconds = wall_seconds;
    use.reserved_cores = count * run.allocation.per_rank.cores;
    use.node_cores = std::max(1, node.cores);
    // The group's CPU use is reported as a sum: shared out by the ranks on each node.
    if (cpu_seconds) use.cpu_seconds = *cpu_seconds * count / ranks;
    use.gpus = count * run.allocation.per_rank.gpus;
    EnergyFigure part;
    try {
      part = model_energy(*power, use);
    } catch (const Error& e) {
      return EnergyFigure::unavailable(e.what());
    }
    if (!part.joules) return part;
    *total.joules += *part.joules;
    if (!part.note.empty() && total.note.find(part.note) == std::string::npos) {
      total.note += total.note.empty() ? part.note : "; " + part.note;
    }
  }
  return total;
}

EnergyFigure rapl_energy_of(const Machine& machine, const ActiveRun& run) {
  if (run.allocation.ranks_on.empty()) return EnergyFigure::unavailable("the segment ran on no known node");
  EnergyFigure total;
  total.source = EnergySource::rapl;
  total.joules = 0.0;
  std::size_t first = 0;  // workers are listed in node order, `count` per node
  for (const auto& [n, count] : run.allocation.ranks_on) {
    std::optional<double> node_joules;
    for (std::size_t k = first; k < first + static_cast<std::size_t>(count) && k < run.workers.size(); ++k) {
      if (auto it = run.node_energy.find(run.workers[k]); it != run.node_energy.end()) {
        node_joules = it->second;
        break;
      }
    }
    first += static_cast<std::size_t>(count);
    const NodeSpec& node = machine.node(n);
    if (!node_joules) {
      return EnergyFigure::unavailable(run.energy_note.empty() ? "no RAPL reading from node " + node.name
                                                               : "RAPL: " + run.energy_note);
    }
    const double share = std::min(1.0, static_cast<double>(count) * run.allocation.per_rank.cores /
                                           static_cast<double>(std::max(1, node.cores)));
    *total.joules += *node_joules * share;
  }
  return total;
}

AccountingRecorder::AccountingRecorder(accounting::AccountingStore& store, const CampaignRun& run, std::int64_t run_id,
                                       double unix_origin)
    : store_(store), run_(run), run_id_(run_id), unix_origin_(unix_origin) {}

void AccountingRecorder::write(accounting::Segment& row) { write_first(row, false); }

void AccountingRecorder::write_first(accounting::Segment& row, bool first) {
  try {
    store_.write(row, first);
  } catch (const accounting::AccountingError& e) {
    if (error_sink_) error_sink_(e.what());
  }
}

void AccountingRecorder::stage_started(StageId id, const ActiveRun& r, bool) {
  const StageSpec& s = run_.graph().stage(id);
  Open open;
  auto& row = open.row;
  row.run_id = run_id_;
  row.project = s.project;
  for (const auto& p : run_.graph().campaign().projects) {
    if (p.name == s.project) row.grant = p.grant;
  }
  row.scenario = scenario_json(s);
  row.stage = s.name;
  row.attempt = static_cast<int>(r.attempt);
  row.ranks = r.allocation.ranks();
  row.nodes = static_cast<int>(r.allocation.ranks_on.size());
  row.cores = r.allocation.cores();
  row.gpus = std::int64_t{row.ranks} * r.allocation.per_rank.gpus;
  row.wall_start = unix(r.started);
  row.queue_wait_seconds = std::max(0.0, r.started - r.queued);
  row.slurm_job_id = slurm_.job_id;
  row.slurm_restart_count = slurm_.restart_count;
  fill(open, r, r.started);
  row.id = store_.reserve_segment_id();
  if (!unwritten_since_) unwritten_since_ = std::chrono::steady_clock::now();
  open_.insert_or_assign(id, std::move(open));
}

void AccountingRecorder::write_open(Open& open) {
  write_first(open.row, !open.stored);
  open.stored = true;
}

bool AccountingRecorder::write_new_segments(std::chrono::duration<double> age) {
  if (!unwritten_since_ || std::chrono::steady_clock::now() - *unwritten_since_ < age) return false;
  unwritten_since_.reset();
  std::vector<accounting::Segment*> fresh;
  for (auto& [id, open] : open_) {
    if (!open.stored) fresh.push_back(&open.row);
    open.stored = true;
  }
  write_ended(std::move(fresh));
  return true;
}

void AccountingRecorder::write_ended(std::vector<accounting::Segment*> fresh) {
  // Rows written before are updated one by one; the others, most of them when short stages go
  // by, are inserted several to a statement.
  for (Open& open : ended_) {
    if (open.stored) {
      write(open.row);
    } else {
      fresh.push_back(&open.row);
      open.stored = true;
    }
  }
  try {
    for (const auto& problem : store_.insert_new(fresh)) {
      if (error_sink_) error_sink_(problem);
    }
  } catch (const accounting::AccountingError& e) {
    if (error_sink_) error_sink_(e.what());
  }
  ended_.clear();
}

// What the group reported so far, into the row.
void AccountingRecorder::fill(Open& open, const ActiveRun& r, double now) {
  auto& row = open.row;
  row.wall_end = std::max(row.wall_start, unix(now));
  row.first_step = r.start_step;
  row.last_step = std::max(r.last_step, r.start_step);
  row.simulated_start = r.start_simulated;
  row.simulated_end = r.last_simulated ? r.last_simulated : r.start_simulated;
  row.checkpoints = r.checkpoints;
  row.checkpoint_seconds = r.checkpoint_seconds;
  row.output_seconds = r.output_seconds;
  open.written = now;
}

void AccountingRecorder::stage_restored(StageId id, std::uint64_t step) {
  auto it = open_.find(id);
  const ActiveRun* r = run_.active(id);
  if (it == open_.end() || !r) return;
  fill(it->second, *r, it->second.written);
  write_open(it->second);
  charge_recomputation(id, step, it->second.row.id);
}

void AccountingRecorder::epoch_committed(StageId id, std::uint32_t attempt, const EpochRecord& epoch, double cost,
                                         double now) {
  auto it = open_.find(id);
  const ActiveRun* r = run_.active(id);
  const bool current = it != open_.end() && r && r->attempt == attempt;
  if (current && !it->second.stored) write_open(it->second);  // its checkpoint rows refer to it
  std::int64_t segment = current ? it->second.row.id : 0;
  if (!current) {
    // A late report of an earlier attempt: its epoch belongs to that attempt's segment.
    write_ended();  // the attempt's segment may be among them
    for (const auto& s : store_.segments_of(run_.graph().stage(id).name)) {
      if (s.run_id == run_id_ && s.attempt == static_cast<int>(attempt)) segment = s.id;
    }
  }
  try {
    store_.add_checkpoint({segment, run_.graph().stage(id).name, epoch.epoch, epoch.step, unix(now), cost, epoch.bytes});
  } catch (const accounting::AccountingError& e) {
    if (error_sink_) error_sink_(e.what());
  }
  if (!current) return;
  it->second.epochs.emplace_back(epoch.step, unix(now));
  fill(it->second, *r, now);
  write_open(it->second);
}

void AccountingRecorder::stage_progressed(StageId id, const ActiveRun& r, double now) {
  auto it = open_.find(id);
  if (it == open_.end()) return;
  const double written = it->second.written;
  fill(it->second, r, now);
  it->second.written = written;  // progress alone is written by tick()
}

void AccountingRecorder::segment_ended(StageId id, const ActiveRun& r, SegmentEnd how, const std::string& why,
                                       double now) {
  auto it = open_.find(id);
  if (it == open_.end()) return;
  Open open = std::move(it->second);
  open_.erase(it);
  fill(open, r, now);
  auto& row = open.row;
  switch (how) {
    case SegmentEnd::completed: row.outcome = accounting::Outcome::completed; break;
    case SegmentEnd::failed: row.outcome = accounting::Outcome::failed; break;
    case SegmentEnd::preempted: row.outcome = accounting::Outcome::preempted; break;
    case SegmentEnd::suspended: row.outcome = accounting::Outcome::suspended; break;
    case SegmentEnd::lost: row.outcome = accounting::Outcome::lost; break;
  }
  row.error = why;
  // Every member's CPU use, or none: a lost member's is unknown, and a partial sum would
  // pass for the whole.
  const bool all_cpu = !r.workers.empty() && r.cpu_reports == static_cast<int>(r.workers.size());
  row.cpu_seconds = all_cpu ? std::optional<double>(r.cpu_seconds) : std::nullopt;
  // Work past the newest epoch of this segment is computed again by whatever resumes it
  // (a later restore from an older epoch charges more: charge_recomputation).
  if (how != SegmentEnd::completed) {
    std::uint64_t base = row.first_step;
    double base_time = row.wall_start;
    for (const auto& [step, when] : open.epochs) {
      if (step >= base && step <= row.last_step) {
        base = step;
        base_time = when;
      }
    }
    row.lost_steps = row.last_step > base ? row.last_step - base : 0;
    row.lost_core_hours = row.lost_steps > 0 ? std::max(0.0, row.wall_end - base_time) * static_cast<double>(row.cores) / 3600.0 : 0.0;
  }
  // Measured where every node could be read, else modelled from declared power, else unknown.
  EnergyFigure e;
  if (energy_) {
    e = energy_(id, r, row.wall_seconds(), row.cpu_seconds);
  } else {
    e = rapl_energy_of(run_.policy().machine(), r);
    if (!e.joules) {
      const std::string why_not_rapl = e.note;
      e = model_energy_of(run_.policy().machine(), run_.graph().campaign().cluster, r, row.wall_seconds(),
                          row.cpu_seconds);
      if (!e.joules) e.note += "; " + why_not_rapl;
    }
  }
  row.energy_joules = e.joules;
  row.energy_source = e.source_text();
  if (!unwritten_since_) unwritten_since_ = std::chrono::steady_clock::now();
  ended_.push_back(std::move(open));
}

void AccountingRecorder::charge_recomputation(StageId id, std::uint64_t from, std::int64_t current_segment) {
  write_ended();  // the segments charged are read back from the store
  try {
    for (auto s : store_.segments_of(run_.graph().stage(id).name)) {
      if (s.id == current_segment || s.last_step <= from || s.outcome == accounting::Outcome::running) continue;
      // Steps from `from` (or the segment's own first step) to its last are done again.
      const std::uint64_t base = std::max(from, s.first_step);
      double base_time = s.wall_start;
      if (base > s.first_step) {
        bool found = false;
        for (const auto& c : store_.checkpoints_of(s.id)) {
          if (c.step == base) {
            base_time = c.wall;
            found = true;
          }
        }
        if (!found && s.last_step > s.first_step) {
          // Not one of its epochs: place it by the segment's average rate.
          base_time = s.wall_start + s.wall_seconds() * static_cast<double>(base - s.first_step) /
                                         static_cast<double>(s.last_step - s.first_step);
        }
      }
      const std::uint64_t steps = s.last_step - base;
      if (steps <= s.lost_steps) continue;  // already charged at least as much
      s.lost_steps = steps;
      s.lost_core_hours = std::max(0.0, s.wall_end - base_time) * static_cast<double>(s.cores) / 3600.0;
      write(s);
    }
  } catch (const accounting::AccountingError& e) {
    if (error_sink_) error_sink_(e.what());
  }
}

void AccountingRecorder::metric(StageId id, std::uint64_t step, const std::string& name, double value, double now,
                                std::optional<double> simulated) {
  auto it = open_.find(id);
  if (it != open_.end() && !it->second.stored) write_open(it->second);  // the metric row refers to it
  accounting::MetricRow m;
  m.segment_id = it == open_.end() ? 0 : it->second.row.id;
  m.stage = run_.graph().stage(id).name;
  m.name = name;
  m.step = step;
  m.simulated = simulated;
  if (const ActiveRun* r = run_.active(id); !m.simulated && r && r->last_step == step) m.simulated = r->last_simulated;
  m.value = value;
  m.wall = unix(now);
  try {
    store_.add_metric(m);
  } catch (const accounting::AccountingError& e) {
    if (error_sink_) error_sink_(e.what());
  }
}

void AccountingRecorder::tick(double now, double every) {
  if (now - last_tick_ < every) return;
  last_tick_ = now;
  for (auto& [id, open] : open_) {
    if (now - open.written < every) continue;
    open.row.wall_end = std::max(open.row.wall_start, unix(now));
    open.written = now;
    write_open(open);
  }
}

}  // namespace perennial
