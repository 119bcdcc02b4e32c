#include <perennial/checkpoint/input_file.hpp>
#include <perennial/checkpoint/output_file.hpp>
#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>
#include <perennial/worker/stage_runner.hpp>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <chrono>
#include <filesystem>

namespace perennial {

namespace {

double thread_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The worker's log file, opened on the first stage (the log folder arrives with it).
std::shared_ptr<spdlog::logger> worker_log(const std::string& log_dir, int world_rank) {
  static std::shared_ptr<spdlog::logger> log;
  static std::string opened_for;
  if (!log || opened_for != log_dir) {
    std::filesystem::create_directories(log_dir);
    auto path = std::filesystem::path(log_dir) / fmt::format("worker-{}.log", world_rank);
    log = std::make_shared<spdlog::logger>(fmt::format("worker-{}", world_rank),
                                           std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string()));
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    log->flush_on(spdlog::level::warn);
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

}  // namespace

boost::mpi::communicator make_group_communicator(const boost::mpi::communicator& parent,
                                                 const std::vector<int>& members, int tag) {
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
                         const ControlChannel& control) {
  msg::StageDone done;
  done.stage_id = a.stage_id;
  done.attempt = a.attempt;
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  auto log = worker_log(a.log_dir, control.rank());
  std::uint64_t step = 0;
  try {
    auto group = make_group_communicator(parent, a.members, static_cast<int>(a.stage_id % 32000));
    log->info("stage {} (attempt {}): rank {} of {} in group [{}]", a.stage, a.attempt, group.rank(), group.size(),
              fmt::join(a.members, ","));
    auto kernel = KernelRegistry::instance().create(a.kernel, a.stage);

    std::map<std::string, std::vector<std::shared_ptr<const InputArray>>> inputs;
    for (const auto& [name, files] : a.inputs) {
      for (const auto& f : files) inputs[name].push_back(checkpoint::open_input(group, f.path, f.stage, f.output));
    }
    const std::uint32_t stage_id = a.stage_id;
    auto metrics = [&control, &step, stage_id](const std::string& name, double value) {
      control.send(0, msg::kMetric, msg::Metric{stage_id, step, name, value});
    };
    StageContext ctx(a.stage, a.kernel, group, a.parameters, a.steps, std::move(inputs), metrics, log);

    kernel->initialize(ctx);
    for (step = 0; step < a.steps; ++step) {
      ctx.set_step(step);
      kernel->step(ctx);
    }
    ctx.set_step(a.steps);

    if (a.outputs.empty()) {
      NoOutputs none(a.stage);
      kernel->write_outputs(ctx, none);
    } else {
      // Written under a temporary name and renamed once complete, so a file under the final
      // name is always a whole one.
      const std::filesystem::path final_path = a.output_file;
      const std::filesystem::path partial = final_path.string() + ".partial";
      checkpoint::OutputFile out(group, partial, a.outputs, {{"stage", a.stage}, {"kernel", a.kernel}});
      kernel->write_outputs(ctx, out);
      out.close();
      if (group.rank() == 0) std::filesystem::rename(partial, final_path);
    }
    done.ok = true;
    done.steps_done = a.steps;
  } catch (const std::exception& e) {
    done.ok = false;
    done.steps_done = step;
    done.error = e.what();
    log->error("stage {} failed at step {}: {}", a.stage, step, e.what());
  }
  done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  done.cpu_seconds = thread_cpu_seconds() - cpu_start;
  log->info("stage {} {} after {} steps, {:.3f} s", a.stage, done.ok ? "completed" : "failed", done.steps_done, done.seconds);
  log->flush();
  return done;
}

}  // namespace perennial
