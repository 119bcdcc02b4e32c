#include <perennial/coordinator/run_records.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace perennial {

std::string output_file_in_campaign(const StageGraph& graph, StageId id) {
  return "outputs/" + graph.stage(id).name + ".h5";
}

std::filesystem::path output_file(const StageGraph& graph, StageId id) { return output_file_text(graph, id); }

std::string output_file_text(const StageGraph& graph, StageId id) {
  // What output_dir / "outputs/<stage>.h5" gives: one separator between the two.
  std::string file = graph.campaign().output_dir.native();
  if (!file.empty() && file.back() != '/') file += '/';
  return file + output_file_in_campaign(graph, id);
}

// ---- events.jsonl and the progress lines ------------------------------------------------------

void EventRecorder::stage_reused(StageId id) { events_.record({{"event", "stage_reused"}, {"stage", name(id)}}); }

void EventRecorder::output_rejected(StageId id, const std::string& problem) {
  events_.record({{"event", "output_rejected"}, {"stage", name(id)}, {"problem", problem}});
  events_.progress(fmt::format("resume    {}: completed earlier but its output does not verify ({}): running it again",
                               name(id), problem));
}

void EventRecorder::stage_started(StageId id, const ActiveRun& r, bool backfilled) {
  const StageSpec& s = run_.graph().stage(id);
  std::vector<std::string> nodes;
  for (const auto& [n, count] : r.allocation.ranks_on) nodes.push_back(run_.policy().machine().node(n).name);
  // Keys in nlohmann's order (sorted), so that the file reads as it always has.
  JsonLine line;
  line.count("attempt", r.attempt)
      .flag("backfilled", backfilled)
      .text("event", "stage_started")
      .text("kernel", s.what_runs())
      .texts("nodes", nodes);
  // Began on its worker the moment the stage it was queued behind ended (issue 16).
  if (r.queued_behind) line.text("queued_behind", name(*r.queued_behind));
  events_.record(line.wholes("ranks", r.workers).text("stage", s.name));
  events_.routine(EventLog::Routine::start, [&] {
    return fmt::format("started   {} on ranks {} ({} x{}, {} steps)", s.name, format_ranks(r.workers), s.what_runs(),
                       r.workers.size(), s.steps);
  });
}

void EventRecorder::stage_told_to_stop(StageId id, const StopOrder& stop) {
  const char* event = stop.why == StopOrder::Why::preempted ? "stage_preempted"
                      : stop.why == StopOrder::Why::paused  ? "stage_pausing"
                      : stop.why == StopOrder::Why::resized ? "stage_resizing"
                                                            : "stage_stopping_for_end";
  const char* verb = stop.why == StopOrder::Why::preempted ? "preempt  "
                     : stop.why == StopOrder::Why::paused  ? "pausing  "
                     : stop.why == StopOrder::Why::resized ? "moving   "
                                                           : "stopping ";
  events_.record({{"event", event}, {"stage", name(id)}, {"reason", stop.reason}});
  events_.progress(fmt::format("{} {}: {}; {}", verb, name(id), stop.reason,
                               stop.why == StopOrder::Why::resized ? "it stops at its next scheduled checkpoint"
                                                                   : "it checkpoints at its next step"));
}

void EventRecorder::stage_paused(StageId id, std::optional<std::uint64_t> step, const std::string& reason, double) {
  if (step) warn_if_no_epoch_at(id, *step);
  nlohmann::json e = {{"event", "stage_paused"}, {"stage", name(id)}, {"reason", reason}};
  if (step) e["step"] = *step;
  events_.record(e);
  events_.progress(step ? fmt::format("paused    {} at step {} (checkpointed): {}", name(id), *step, reason)
                        : fmt::format("paused    {} before it started: {}", name(id), reason));
}

void EventRecorder::stage_resumed(StageId id, const std::string& reason, double) {
  events_.record({{"event", "stage_resumed"}, {"stage", name(id)}, {"reason", reason}});
  events_.progress(fmt::format("resumed   {}: {}", name(id), reason));
}

void EventRecorder::stage_resized(StageId id, const ActiveRun& r, std::uint64_t step, int ranks, const std::string& reason,
                                  double) {
  warn_if_no_epoch_at(id, step);
  events_.record({{"event", "stage_resized"}, {"stage", name(id)}, {"step", step}, {"from_ranks", r.workers.size()},
                  {"ranks", ranks}, {"reason", reason}});
  events_.progress(fmt::format("moved     {} at step {}: {} -> {} ranks; it resumes from that checkpoint", name(id), step,
                               r.workers.size(), ranks));
}

void EventRecorder::promise_moved(const SteeringMove& move) {
  nlohmann::json e = {{"event", "promise_move"}, {"stage", name(move.stage)}, {"move", move.kind},
                      {"metric", move.why.metric}, {"value", move.why.value}, {"rank", move.why.rank},
                      {"of", move.why.of}, {"rule", move.rule}, {"reason", move.why.reason}, {"made", move.made}};
  // A rung's move: which rung (1: the first, as the reason says it) and its bar then.
  if (move.kind != "grow") {
    e["rung"] = move.why.rung + 1;
    e["rung_at"] = move.why.rung_at;
    e["bar"] = move.why.bar;
  }
  if (move.ranks > 0) e["ranks"] = move.ranks;
  if (!move.made) e["not_made"] = move.not_made;
  events_.record(e);
  events_.progress(move.made ? fmt::format("promise   {}", move.why.reason)
                             : fmt::format("promise   {} (not done: {})", move.why.reason, move.not_made));
}

void EventRecorder::stop_declined(StageId id, std::uint64_t step, const std::string& reason) {
  events_.record({{"event", "stage_stop_declined"}, {"stage", name(id)}, {"step", step}, {"reason", reason}});
  events_.progress(fmt::format("continue  {}: asked to stop at step {}, but {}; it keeps running", name(id), step, reason));
}

void EventRecorder::stage_completed(StageId id, const ActiveRun& r, double now) {
  const double seconds = now - r.started;
  events_.record(JsonLine()
                     .text("event", "stage_completed")
                     .wholes("ranks", r.workers)
                     .number("seconds", seconds)
                     .text("stage", name(id)));
  events_.routine(EventLog::Routine::completion, [&] { return fmt::format("completed {} in {:.2f} s", name(id), seconds); });
}

void EventRecorder::stage_yielded(StageId id, const ActiveRun& r, std::uint64_t step, double) {
  warn_if_no_epoch_at(id, step);
  events_.record({{"event", "stage_yielded"}, {"stage", name(id)}, {"step", step}, {"ranks", r.workers}});
  events_.progress(fmt::format("yielded   {} at step {} (checkpointed); it resumes when ranks are free", name(id), step));
}

void EventRecorder::stage_suspended(StageId id, const ActiveRun&, std::uint64_t step, double) {
  warn_if_no_epoch_at(id, step);
  events_.record({{"event", "stage_suspended"}, {"stage", name(id)}, {"step", step}});
  events_.progress(fmt::format("suspended {} at step {} (checkpointed)", name(id), step));
}

// Workers stop only after committing an epoch at that step, and that epoch's record arrives
// first (same sender, same communicator): say so loudly if it ever did not.
void EventRecorder::warn_if_no_epoch_at(StageId id, std::uint64_t step) {
  const auto& epochs = run_.history(id).epochs;
  if (!epochs.empty() && epochs.back().step == step) return;
  events_.log().error("stage {} stopped at step {} without a committed epoch there; it resumes from {}", name(id), step,
                      run_.resume_point(id));
}

void EventRecorder::stage_lost(StageId id, const ActiveRun& r, int restart, double) {
  nlohmann::json event = {{"event", "stage_lost"}, {"stage", name(id)}, {"attempt", r.attempt}, {"lost_ranks", r.lost},
                          {"restart", restart}, {"max_restarts", run_.options().max_restarts}};
  if (!r.model_lost.empty()) event["model_lost"] = r.model_lost;
  events_.record(event);
}

void EventRecorder::stage_requeued(StageId id, int worker, double) {
  events_.record({{"event", "stage_requeued"}, {"stage", name(id)}, {"rank", worker},
                  {"reason", "queued on this rank behind another stage, it had not begun when the rank was lost"}});
}

void EventRecorder::stage_recovering(StageId id, const ActiveRun& lost, const std::string& from, int restart) {
  events_.record({{"event", "stage_recovering"}, {"stage", name(id)}, {"from", from}, {"restart", restart}});
  events_.progress(fmt::format("recover   {}: {}; it resumes from {} (restart {} of {})", name(id),
                               lost.model_lost.empty() ? "lost ranks " + format_ranks(lost.lost) : lost.model_lost, from,
                               restart, run_.options().max_restarts));
}

void EventRecorder::stage_failed(StageId id, const std::string& why, const std::vector<StageId>& blocked) {
  events_.record({{"event", "stage_failed"}, {"stage", name(id)}, {"error", why}});
  events_.progress(fmt::format("FAILED    {}: {}", name(id), why));
  for (StageId d : blocked) {
    const std::string& reason = run_.progress().reason(d);
    events_.record({{"event", "stage_blocked"}, {"stage", name(d)}, {"reason", reason}});
    events_.progress(fmt::format("blocked   {}: {}", name(d), reason));
  }
}

void EventRecorder::stage_waits_for_ranks(StageId id, int ranks) {
  events_.record({{"event", "stage_waits_for_ranks"}, {"stage", name(id)}, {"ranks", ranks}});
  events_.progress(fmt::format("waiting   {}: needs {} ranks; waits until that many are free", name(id), ranks));
}

void EventRecorder::stage_shrunk(StageId id, int ranks) {
  const int declared = run_.graph().stage(id).ranks;
  events_.record({{"event", "stage_shrunk"}, {"stage", name(id)}, {"ranks", ranks}, {"declared_ranks", declared}});
  events_.progress(fmt::format("shrink    {}: continues on {} ranks instead of {} (no more can work together)", name(id),
                               ranks, declared));
}

// ---- journal.jsonl --------------------------------------------------------------------------

void JournalRecorder::stage_started(StageId id, const ActiveRun& r, bool) {
  journal_.append(JsonLine()
                      .count("attempt", r.attempt)
                      .text("definition", run_.definition(id))
                      .text("stage", run_.graph().stage(id).name)
                      .text("type", "stage_started"));
}

void JournalRecorder::epoch_committed(StageId id, std::uint32_t, const EpochRecord& epoch, double, double) {
  journal_.append(journal_epoch_committed(run_.graph(), id, epoch, run_.definition(id)));
}

void JournalRecorder::stage_completed(StageId id, const ActiveRun&, double) {
  const auto& graph = run_.graph();
  journal_.append(journal_stage_completed_line(
      graph, id, output_file_in_campaign(graph, id), run_.definition(id)));
}

void JournalRecorder::stage_failed(StageId id, const std::string& why, const std::vector<StageId>&) {
  journal_.append({{"type", "stage_failed"}, {"stage", run_.graph().stage(id).name}, {"error", why}});
}

}  // namespace perennial
