#include "external_stage.hpp"
#include "fault_drills.hpp"
#include "node_energy.hpp"
#include "stage_checkpoints.hpp"

#include <perennial/checkpoint/input_file.hpp>
#include <perennial/checkpoint/output_file.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/resource_usage.hpp>
#include <perennial/stage_context.hpp>
#include <perennial/worker/stage_runner.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>

namespace perennial {

namespace {

std::shared_ptr<spdlog::logger>& the_worker_log() {
  static std::shared_ptr<spdlog::logger> log;
  return log;
}

// The worker's log file, opened on the first stage (the log folder arrives with it).
std::shared_ptr<spdlog::logger> worker_log(const std::string& log_dir, const WorkerIdentity& me) {
  auto& log = the_worker_log();
  static std::string opened_for;
  if (!log || opened_for != log_dir) {
    std::filesystem::create_directories(log_dir);
    auto path = std::filesystem::path(log_dir) / fmt::format("worker-{}.log", me.id);
    log = std::make_shared<spdlog::logger>(fmt::format("worker-{}", me.id),
                                           std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string()));
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    log->flush_on(spdlog::level::warn);
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    // The pid and host let an operator (or a failure drill) find this very process.
    log->info("worker rank {} pid {} on {} (node {})", me.id, getpid(), host, me.node);
    log->flush();
    opened_for = log_dir;
  }
  return log;
}

// An output sink for stages that declare no outputs: any write is a mistake worth naming.
class NoOutputs final : public OutputSink {
 public:
  explicit NoOutputs(std::string stage) : stage_(std::move(stage)) {}
  void write_coordinate(std::string_view, std::span<const double>, std::string_view) override {}

 protected:
  void write_raw(std::string_view name, const Hyperslab&, DType, const void*, std::size_t) override {
    throw KernelError(stage_, fmt::format("wrote output '{}' but the stage declares no outputs", name));
  }

 private:
  std::string stage_;
};

// Opens every input after checking that its file is whole (checksums) and holds what the
// upstream stage declared: a mismatch names both stages before any computing starts.
std::map<std::string, std::vector<std::shared_ptr<const InputArray>>> open_inputs(const msg::AssignStage& a,
                                                                                 const boost::mpi::communicator& group) {
  std::map<std::string, std::vector<std::shared_ptr<const InputArray>>> inputs;
  for (const auto& [name, files] : a.inputs) {
    for (const auto& f : files) {
      auto verdict = checkpoint::verify_output(group, f.path, {{"stage", f.stage}});
      if (!verdict.ok) {
        throw KernelError(a.stage, fmt::format("input '{}' from stage '{}' is damaged: {}", name, f.stage, verdict.problem));
      }
      auto array = checkpoint::open_input(group, f.path, f.stage, f.output);
      const auto& d = f.declared;
      if (array->dtype() != d.dtype || array->dims() != d.dims || array->units() != d.units) {
        throw KernelError(a.stage, fmt::format(
            "input '{}' reads {}.{} from {}, which holds {} [{}] in '{}', but stage '{}' declares {} [{}] in '{}'",
            name, f.stage, f.output, f.path, dtype_name(array->dtype()), fmt::join(array->dims(), ", "), array->units(),
            f.stage, dtype_name(d.dtype), fmt::join(d.dims, ", "), d.units));
      }
      inputs[name].push_back(std::move(array));
    }
  }
  return inputs;
}

msg::StageDone finish(msg::StageDone& done, std::chrono::steady_clock::time_point wall_start, double cpu_start,
                      const EnergyFigure& energy_start, spdlog::logger& log, const std::string& stage) {
  done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  done.cpu_seconds = thread_cpu_seconds() - cpu_start;
  const EnergyFigure energy_end = NodeEnergy::instance().sample();
  if (energy_start.joules && energy_end.joules) {
    done.energy_measured = true;
    done.node_energy_joules = *energy_end.joules - *energy_start.joules;
  } else {
    done.energy_note = energy_end.joules ? energy_start.note : energy_end.note;
  }
  log.info("stage {} {} after {} steps, {:.3f} s", stage,
           !done.ok ? "failed" : done.stopped ? "stopped" : "completed", done.steps_done, done.seconds);
  // Not flushed here: a write per stage was a sixth of a short stage's cost. Errors flush at
  // once (flush_on(warn)), and the worker loop flushes as soon as it has nothing to do
  // (flush_stage_log), so a log is whole whenever its worker is idle.
  return done;
}

}  // namespace

void flush_stage_log() {
  if (auto& log = the_worker_log()) log->flush();
}

boost::mpi::communicator make_group_communicator(const boost::mpi::communicator& parent,
                                                 const std::vector<int>& members, int tag) {
  if (members.size() == 1) {
    // A one-rank group is this rank alone: one duplicate of MPI_COMM_SELF serves every such
    // stage, which saves most of a short stage's cost (a new context id per stage). Only
    // one-rank groups are cached: for larger ones every member would have to make the same
    // cache decision, or one would wait in MPI_Comm_create_group for the others forever.
    static const boost::mpi::communicator self = [] {
      MPI_Comm dup = MPI_COMM_NULL;
      check_mpi(MPI_Comm_dup(MPI_COMM_SELF, &dup), "MPI_Comm_dup");
      check_mpi(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
      return boost::mpi::communicator(dup, boost::mpi::comm_take_ownership);
    }();
    return self;
  }
  MPI_Group parent_group = MPI_GROUP_NULL, group = MPI_GROUP_NULL;
  check_mpi(MPI_Comm_group(static_cast<MPI_Comm>(parent), &parent_group), "MPI_Comm_group");
  int code = MPI_Group_incl(parent_group, static_cast<int>(members.size()), members.data(), &group);
  MPI_Group_free(&parent_group);
  check_mpi(code, "MPI_Group_incl");
  MPI_Comm comm = MPI_COMM_NULL;
  code = MPI_Comm_create_group(static_cast<MPI_Comm>(parent), group, tag, &comm);
  MPI_Group_free(&group);
  check_mpi(code, "MPI_Comm_create_group");
  check_mpi(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return boost::mpi::communicator(comm, boost::mpi::comm_take_ownership);
}

msg::StageDone run_stage(const msg::AssignStage& a, const boost::mpi::communicator& parent,
                         const ControlChannel& control, const WorkerIdentity& me) {
  msg::StageDone done;
  done.stage_id = a.stage_id;
  done.attempt = a.attempt;
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  const EnergyFigure energy_start = NodeEnergy::instance().sample();
  auto log = worker_log(a.log_dir, me);
  auto& drills = FaultDrills::instance();
  std::uint64_t step = 0;
  try {
    drills.set_plan(a.faults);
    auto group = make_group_communicator(parent, a.members, static_cast<int>(a.stage_id % 32000));
    log->info("stage {} (attempt {}): rank {} of {} in group [{}]", a.stage, a.attempt, group.rank(), group.size(),
              fmt::join(a.members, ","));
    if (a.command) {
      run_external_stage(a, group, control, log, done, step);
      return finish(done, wall_start, cpu_start, energy_start, *log, a.stage);
    }
    auto kernel = KernelRegistry::instance().create(a.kernel, a.stage);

    auto inputs = open_inputs(a, group);
    const std::uint32_t stage_id = a.stage_id;
    const std::uint32_t attempt = a.attempt;
    const StageContext* context = nullptr;  // set once ctx exists: the metric carries its model time
    auto metrics = [&control, &step, &context, stage_id, attempt](const std::string& name, double value) {
      control.send(0, msg::kMetric, msg::Metric{stage_id, attempt, step, name, value, context ? context->time() : 0.0});
    };
    StageContext ctx(a.stage, a.kernel, group, a.parameters, a.steps, std::move(inputs), metrics, log, a.cores_per_rank);

    context = &ctx;
    StageCheckpoints checkpoints(a, group, control, kernel->info(), me.node, *log);
    kernel->initialize(ctx);
    const std::uint64_t first = checkpoints.restore(*kernel, ctx);
    // The group's first rank tells rank 0 how far it is, at most once a second: cheap for
    // thousands of short steps, and enough for the books and an ETA.
    auto last_progress = std::chrono::steady_clock::now();
    for (step = first; step < a.steps; ++step) {
      ctx.set_step(step);
      kernel->step(ctx);
      ctx.set_step(step + 1);
      if (group.rank() == 0) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_progress >= std::chrono::seconds(1)) {
          control.send(0, msg::kProgress, msg::Progress{a.stage_id, a.attempt, step + 1, ctx.time()});
          last_progress = now;
        }
      }
      drills.after_step(a.stage, a.attempt, step + 1, group.rank(), a.checkpoint_dir, *log);
      const auto boundary = checkpoints.at_boundary(step + 1);
      // A stop waits for its epoch (and for the one in flight before it); any other epoch is
      // written in the background while the stage steps on with `checkpoint: {async: true}`.
      const bool committed =
          boundary.checkpoint && (boundary.stop ? checkpoints.write(*kernel, ctx) : checkpoints.write_async(*kernel, ctx));
      if (boundary.stop && !committed) {
        // Stopping without a committed epoch would throw away every step since the last one.
        checkpoints.decline_stop(step + 1, boundary.checkpoint ? "its checkpoint was not written (" + checkpoints.why_not() + ")"
                                                               : "this stage writes no checkpoints");
      } else if (boundary.stop) {
        log->info("stage {}: stopping after step {} as the coordinator asked", a.stage, step + 1);
        done.ok = true;
        done.stopped = true;
        done.steps_done = step + 1;
        done.simulated = ctx.time();
        return finish(done, wall_start, cpu_start, energy_start, *log, a.stage);
      }
    }
    ctx.set_step(a.steps);
    // The epoch in flight is reported before the stage's outputs and its completion.
    checkpoints.settle();

    const auto outputs_start = std::chrono::steady_clock::now();
    if (a.outputs.empty()) {
      NoOutputs none(a.stage);
      kernel->write_outputs(ctx, none);
    } else {
      // Written under a temporary name, flushed, renamed and synced once complete: a file
      // under the final name is always a whole one, and it is on disk before the stage is
      // reported (and journaled) as completed.
      const std::filesystem::path final_path = a.output_file;
      const std::filesystem::path partial = final_path.string() + ".partial";
      OutputMetadata metadata = a.output_metadata;
      metadata.time = ctx.time();  // the model time the outputs hold: their one `time` value
      checkpoint::OutputFile out(group, partial, a.outputs, {{"stage", a.stage}, {"kernel", a.kernel}}, metadata,
                                 a.mpi_io_hints);
      if (!a.mpi_io_hints.empty() && group.rank() == 0) {
        log->info("stage {}: output file opened with MPI-IO hints {}", a.stage, describe_hints(a.mpi_io_hints, out.io_hints()));
      }
      kernel->write_outputs(ctx, out);
      out.commit(final_path);
    }
    done.output_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - outputs_start).count();
    done.ok = true;
    done.steps_done = a.steps;
    done.simulated = ctx.time();
  } catch (const std::exception& e) {
    done.ok = false;
    done.steps_done = step;
    done.error = e.what();
    log->error("stage {} failed at step {}: {}", a.stage, step, e.what());
  }
  return finish(done, wall_start, cpu_start, energy_start, *log, a.stage);
}

}  // namespace perennial
