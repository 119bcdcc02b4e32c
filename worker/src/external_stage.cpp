#include "external_stage.hpp"

#include "model_process.hpp"
#include "restart_set_kernel.hpp"
#include "stage_checkpoints.hpp"

#include <perennial/checkpoint/model_file.hpp>
#include <perennial/checkpoint/output_file.hpp>
#include <perennial/errors.hpp>
#include <perennial/external_model.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>

#include <boost/mpi/collectives.hpp>
#include <perennial/serialization.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

namespace perennial {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// What the first rank saw since the last tick; every member acts on the same copy.
struct Tick {
  std::uint64_t model_step = 0;
  double model_time = 0.0;
  std::uint64_t new_set_step = 0;
  double new_set_time = 0.0;  ///< the model time of that set, from the progress lines
  int has_new_set = 0;
  int exited = 0;
  int exit_status = 0;
  int request_timed_out = 0;
};

// The first rank's tick to every member. The others wait without spinning: the model needs
// the cores they hold, and a tick comes only every ~0.1 s. Bounded like every group wait: a
// dead first rank gets the group fenced (ended) by rank 0's heartbeat monitor.
void share_tick(const boost::mpi::communicator& group, Tick& tick) {
  if (group.size() == 1) return;
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibcast(&tick, sizeof(Tick), MPI_BYTE, 0, static_cast<MPI_Comm>(group), &request), "MPI_Ibcast");
  int finished = 0;
  while (true) {
    check_mpi(MPI_Test(&request, &finished, MPI_STATUS_IGNORE), "MPI_Test");
    if (finished) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A file the model writes its progress to, appended to or rewritten: each line is read once
// (what was appended since the last look), and a rewritten file (shorter, or the same size
// with a new modification time) is read again from its start.
class ProgressFile {
 public:
  explicit ProgressFile(fs::path path) : path_(std::move(path)) {}
  void read_new_lines(const std::function<void(const std::string&)>& on_line) {
    std::error_code ec;
    const auto size = fs::file_size(path_, ec);
    if (ec) return;
    const auto modified = fs::last_write_time(path_, ec);
    if (ec) return;
    if (size < offset_ || (size == offset_ && modified != modified_)) offset_ = 0;
    modified_ = modified;
    if (size == offset_) return;
    std::ifstream in(path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string text(size - offset_, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    const auto last = text.rfind('\n');
    if (last == std::string::npos) return;  // a line still being written
    offset_ += last + 1;
    std::istringstream lines(text.substr(0, last + 1));
    for (std::string line; std::getline(lines, line);) on_line(line);
  }

 private:
  fs::path path_;
  std::uintmax_t offset_ = 0;
  fs::file_time_type modified_{};
};

std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) out.push_back(fs::relative(it->path(), dir, ec).string());
  }
  return out;
}

// Values for the templates and the command line: the stage's parameters (a list joined with
// ", ", as a Fortran namelist writes arrays), its inputs' files, and the built-ins.
std::map<std::string, std::string> template_values(const msg::AssignStage& a, int ranks, std::uint64_t restart_step) {
  std::map<std::string, std::string> values;
  for (const auto& [name, items] : a.parameters.raw()) values[name] = fmt::format("{}", fmt::join(items, ", "));
  for (const auto& [name, files] : a.inputs) {
    std::vector<std::string> paths;
    for (const auto& f : files) paths.push_back(f.path);
    values["inputs." + name] = fmt::format("{}", fmt::join(paths, ","));
  }
  values["stage"] = a.stage;
  values["ranks"] = std::to_string(ranks);
  values["steps"] = std::to_string(a.steps);
  values["restart_step"] = std::to_string(restart_step);
  values["checkpoint_steps"] = std::to_string(a.checkpoint.interval_steps.value_or(0));
  values["run_dir"] = a.command->run_dir;
  return values;
}

// Writes a file whole or not at all: a model never reads half a namelist.
void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  const fs::path partial = path.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << text;
    if (!out.flush()) throw Error(fmt::format("cannot write {}", path.string()));
  }
  fs::rename(partial, path);
}

// Reads each declared output from the model's files into the stage's output file. Collective.
// The file carries the same CF attributes, time coordinate and MPI-IO hints as a kernel's.
void import_outputs(const msg::AssignStage& a, const boost::mpi::communicator& group, double model_time) {
  const ExternalModelSpec& spec = *a.command;
  const fs::path final_path = a.output_file;
  const fs::path partial = final_path.string() + ".partial";
  OutputMetadata metadata = a.output_metadata;
  metadata.time = model_time;
  checkpoint::OutputFile out(group, partial, a.outputs, {{"stage", a.stage}, {"kernel", a.kernel}}, metadata,
                             a.mpi_io_hints);
  for (const auto& o : a.outputs) {
    std::string problem;
    checkpoint::ModelDataset data;
    const ModelOutputSource* source = nullptr;
    for (const auto& s : spec.outputs) {
      if (s.output == o.name) source = &s;
    }
    if (group.rank() == 0) {
      try {
        if (!source) throw Error("no file declared for it");
        data = checkpoint::read_model_dataset(fs::path(spec.run_dir) / source->file, source->dataset);
        if (data.dtype != o.dtype || data.shape.size() != o.dims.size()) {
          throw Error(fmt::format("{}:{} holds {} of shape [{}], but the stage declares {} [{}]", source->file,
                                  source->dataset, dtype_name(data.dtype), fmt::join(data.shape, ", "), dtype_name(o.dtype),
                                  fmt::join(o.dims, ", ")));
        }
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    boost::mpi::broadcast(group, problem, 0);
    if (!problem.empty()) throw KernelError(a.stage, fmt::format("output '{}': {}", o.name, problem));
    boost::mpi::broadcast(group, data.shape, 0);
    Hyperslab slab{data.shape, std::vector<std::uint64_t>(data.shape.size(), 0), data.shape};
    if (group.rank() != 0) slab.count.assign(data.shape.size(), 0);
    const std::size_t n = slab.element_count();
    const void* p = data.data.data();
    switch (o.dtype) {
      case DType::float32: out.write<float>(o.name, slab, {static_cast<const float*>(p), n}); break;
      case DType::float64: out.write<double>(o.name, slab, {static_cast<const double*>(p), n}); break;
      case DType::int32: out.write<std::int32_t>(o.name, slab, {static_cast<const std::int32_t*>(p), n}); break;
      case DType::int64: out.write<std::int64_t>(o.name, slab, {static_cast<const std::int64_t*>(p), n}); break;
    }
  }
  out.commit(final_path);
}

}  // namespace

void run_external_stage(const msg::AssignStage& a, const boost::mpi::communicator& group, const ControlChannel& control,
                        const std::shared_ptr<spdlog::logger>& log, msg::StageDone& done, std::uint64_t& step) {
  const ExternalModelSpec& spec = *a.command;
  const bool leader = group.rank() == 0;
  const fs::path run_dir = spec.run_dir;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::vector<std::string> hosts;
  boost::mpi::gather(group, std::string(host), hosts, 0);

  const std::uint32_t stage_id = a.stage_id, attempt = a.attempt;
  auto metrics = [&control, &step, stage_id, attempt](const std::string& name, double value) {
    control.send(0, msg::kMetric, msg::Metric{stage_id, attempt, step, name, value, 0.0});
  };
  StageContext ctx(a.stage, a.kernel, group, a.parameters, a.steps, {}, metrics, log, a.cores_per_rank);
  RestartSetKernel restart_files(run_dir, group);
  StageCheckpoints checkpoints(a, group, control, restart_files.info(), host, *log);

  // Restart files left in the run folder are either in an epoch already or were never
  // verified (a set being written when the stage was lost): the epoch's copy is used instead.
  std::string problem;
  if (leader) {
    try {
      fs::create_directories(run_dir);
      if (spec.restart) {
        for (const auto& set : find_restart_sets(*spec.restart, files_under(run_dir))) {
          for (const auto& f : set.files) fs::remove(run_dir / f);
          if (!set.marker_file.empty()) fs::remove(run_dir / set.marker_file);
        }
      }
    } catch (const std::exception& e) {
      problem = fmt::format("cannot prepare the run folder {}: {}", run_dir.string(), e.what());
    }
  }
  boost::mpi::broadcast(group, problem, 0);
  if (!problem.empty()) throw KernelError(a.stage, problem);

  const std::uint64_t first = spec.restart ? checkpoints.restore(restart_files, ctx) : 0;
  step = first;
  std::unique_ptr<ModelProcess> model;
  std::vector<std::string> line;
  if (leader) {
    try {
      const auto values = template_values(a, group.size(), first);
      for (const auto& t : spec.templates) {
        try {
          write_file(run_dir / t.target, fill_template(t.text, values));
        } catch (const Error& e) {
          throw Error(fmt::format("template {} for {}: {}", t.source, t.target, e.what()));
        }
      }
      std::vector<std::string> argv;
      for (const auto& item : spec.command) argv.push_back(fill_template(item, values));
      line = launch_line(spec, argv, hosts, std::getenv("SLURM_JOB_ID") != nullptr, ::geteuid() == 0);
      {
        std::ofstream header(run_dir / "model.log", std::ios::app);
        header << fmt::format("=== perennial: stage {} attempt {}, from step {}: {}\n", a.stage, a.attempt, first,
                              fmt::join(line, " "));
      }
      model = std::make_unique<ModelProcess>(line, run_dir);
      log->info("stage {}: started the model (pid {}) from step {}: {}", a.stage, model->pid(), first, fmt::join(line, " "));
      log->flush();  // an operator (or a drill) looking for the model's process finds it now
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  boost::mpi::broadcast(group, problem, 0);
  if (!problem.empty()) throw KernelError(a.stage, problem);

  ModelOutputReader reader(spec);
  std::map<std::uint64_t, double> time_at_step;
  std::uint64_t model_step = first;
  double model_time = ctx.time();
  std::uint64_t last_set = first;
  std::optional<std::uint64_t> refused_set;  // a set whose epoch failed: not tried again
  // When a set was asked for by signal and not yet seen (seconds on `clock`), else negative.
  const auto clock_start = Clock::now();
  const auto clock = [clock_start] { return std::chrono::duration<double>(Clock::now() - clock_start).count(); };
  double asked_at = -1.0;
  bool stop_pending = false;
  auto last_progress = Clock::now();
  ProgressFile progress_file(run_dir / (spec.progress_file.empty() ? std::string("-") : spec.progress_file));
  const auto on_line = [&](const std::string& text) {
    const auto seen = reader.line(text);
    if (seen.step) model_step = std::max(model_step, *seen.step);
    if (seen.time) model_time = *seen.time;
    if (seen.step) time_at_step[*seen.step] = model_time;
    step = model_step;
    for (const auto& [name, value] : seen.metrics) {
      control.send(0, msg::kMetric, msg::Metric{a.stage_id, a.attempt, model_step, name, value, model_time});
    }
  };

  Tick tick;
  while (true) {
    if (leader) {
      model->read_output(std::chrono::milliseconds(100), on_line);
      if (!spec.progress_file.empty()) progress_file.read_new_lines(on_line);
      const auto status = model->exited();
      tick = Tick{};
      tick.model_step = model_step;
      tick.model_time = model_time;
      if (spec.restart) {
        const auto sets = find_restart_sets(*spec.restart, files_under(run_dir));
        const auto whole = newest_whole_set(*spec.restart, sets, group.size(), status.has_value());
        if (whole && whole->step > last_set && whole->step != refused_set) {
          tick.has_new_set = 1;
          tick.new_set_step = whole->step;
          auto t = time_at_step.find(whole->step);
          tick.new_set_time = t != time_at_step.end() ? t->second : model_time;
          restart_files.pending = *whole;
        }
      }
      if (status) {
        tick.exited = 1;
        tick.exit_status = *status;
      }
      tick.request_timed_out = asked_at >= 0 && spec.restart && clock() - asked_at > spec.restart->timeout_seconds;
      if (Clock::now() - last_progress >= std::chrono::seconds(1)) {
        control.send(0, msg::kProgress, msg::Progress{a.stage_id, a.attempt, std::min(model_step, a.steps), model_time});
        last_progress = Clock::now();
      }
    }
    share_tick(group, tick);
    step = tick.model_step;

    if (tick.has_new_set) {
      const std::uint64_t now_step = tick.model_step;
      ctx.set_step(tick.new_set_step);
      ctx.set_time(tick.new_set_time);
      const bool committed = checkpoints.write(restart_files, ctx);
      ctx.set_step(now_step);
      if (committed) {
        last_set = tick.new_set_step;
        asked_at = -1.0;
        if (stop_pending && !tick.exited) {
          if (leader) {
            log->info("stage {}: restart set of step {} saved; ending the model as the coordinator asked", a.stage, last_set);
            model->terminate();
          }
          done.ok = true;
          done.stopped = true;
          done.steps_done = last_set;
          done.simulated = ctx.time();
          step = last_set;
          return;
        }
      } else if (leader) {
        refused_set = tick.new_set_step;
      }
    }
    if (tick.exited) break;
    if (tick.request_timed_out) {
      asked_at = -1.0;
      if (leader) log->warn("stage {}: no whole restart set within {} s of asking for one", a.stage, spec.restart->timeout_seconds);
      if (stop_pending) {
        stop_pending = false;
        checkpoints.decline_stop(tick.model_step, "the model wrote no restart set in time after being asked");
      }
    }
    const auto boundary = checkpoints.at_boundary(tick.model_step);
    const bool by_signal = spec.restart && spec.restart->signal != 0;
    if (boundary.stop && !stop_pending) {
      if (!spec.restart) {
        checkpoints.decline_stop(tick.model_step, "this stage's model writes no restart files");
        continue;
      }
      stop_pending = true;
    }
    // Waiting for the model's own next set before a stop is bounded by the same timeout.
    if (stop_pending && !by_signal && asked_at < 0) asked_at = clock();
    if ((boundary.checkpoint || stop_pending) && by_signal && asked_at < 0) {
      asked_at = clock();
      if (leader) {
        log->info("stage {}: asking the model for a restart set (signal {}) at step {}", a.stage, spec.restart->signal,
                  tick.model_step);
        model->signal(spec.restart->signal);
      }
    }
  }

  // The model has ended on its own.
  std::string how;
  if (leader) {
    model->read_output(std::chrono::milliseconds(0), on_line);
    how = model->how_it_ended();
    if (tick.exit_status != 0) {
      how += "; its last lines:\n  " + fmt::format("{}", fmt::join(model->last_lines(), "\n  "));
    }
  }
  boost::mpi::broadcast(group, how, 0);
  // Killed by a signal no one here sent (the OOM killer, a lost node under srun, an
  // operator): with restart files kept the stage resumes from them, as after lost ranks.
  // mpirun and srun report a rank's death by signal N as status 128 + N.
  if (tick.exit_status > 128 && spec.restart) {
    done.ok = true;
    done.model_lost = fmt::format("the model ({}) was lost: {}", fs::path(spec.command.at(0)).filename().string(),
                                  how.substr(0, how.find(';')));
    done.steps_done = last_set;
    step = last_set;
    if (leader) log->warn("stage {}: {}; it resumes from its restart files", a.stage, done.model_lost);
    return;
  }
  if (tick.exit_status != 0) {
    throw KernelError(a.stage, fmt::format("the model ({}) ended with {} (its output: {}/model.log)",
                                           spec.command.empty() ? "" : spec.command[0], how, spec.run_dir));
  }
  ctx.set_step(a.steps);
  ctx.set_time(tick.model_time);
  const auto outputs_start = Clock::now();
  if (!a.outputs.empty()) import_outputs(a, group, tick.model_time);
  done.output_seconds = std::chrono::duration<double>(Clock::now() - outputs_start).count();
  done.ok = true;
  done.steps_done = a.steps;
  done.simulated = tick.model_time;
  step = a.steps;
}

}  // namespace perennial
