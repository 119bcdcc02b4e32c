#pragma once
// StageContext: everything a kernel sees of the running stage: its group communicator,
// parameters, inputs, step counter, simulated time, and a channel for metrics to rank 0.

#include <perennial/array_io.hpp>
#include <perennial/parameters.hpp>

#include <boost/mpi/communicator.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spdlog { class logger; }

namespace perennial {

class StageContext {
 public:
  using MetricChannel = std::function<void(const std::string& name, double value)>;

  /// Fills in the defaults `kernel` declares (when registered) and throws ParameterError for
  /// a value that breaks its declaration.
  StageContext(std::string stage, std::string kernel, boost::mpi::communicator group,
               Parameters parameters, std::uint64_t steps,
               std::map<std::string, std::vector<std::shared_ptr<const InputArray>>> inputs,
               MetricChannel metrics, std::shared_ptr<spdlog::logger> log, int cores_per_rank = 1);

  const std::string& stage() const { return stage_; }
  const std::string& kernel() const { return kernel_; }
  /// The stage group's own communicator (never MPI_COMM_WORLD): rank() and size() within the group.
  const boost::mpi::communicator& comm() const { return group_; }

  /// Typed parameter access: the stage's value, else the default the kernel declares in
  /// KernelInfo::parameters; throws ParameterError naming the stage and parameter.
  template <class T> T parameter(const std::string& name) const { return parameters_.get<T>(name); }
  /// For a parameter without a fixed declared default (the `""` of a derived one).
  template <class T> T parameter_or(const std::string& name, T fallback) const {
    return parameters_.get_or<T>(name, std::move(fallback));
  }
  const Parameters& parameters() const { return parameters_; }

  /// Whether an input of that name is bound (inputs are declared in the campaign file).
  bool has_input(const std::string& name) const { return inputs_.count(name) != 0; }
  /// The single dataset bound to `name`; throws KernelError if absent or bound to several.
  const InputArray& input(const std::string& name) const;
  /// Every dataset bound to `name` (a glob such as `ssp-*.temperature`), in stage-name order.
  std::vector<const InputArray*> inputs(const std::string& name) const;

  /// Cores this rank may use: the stage's `cores_per_rank`, which the scheduler reserved on
  /// this rank's node (like Slurm's SLURM_CPUS_PER_TASK). Size a kernel's thread pool with it.
  int cores_per_rank() const { return cores_per_rank_; }

  /// Steps completed so far; during step() it is the index of the step being computed.
  std::uint64_t step() const { return step_; }
  std::uint64_t steps() const { return steps_; }
  /// Simulated time in seconds since the stage began; kernels advance it.
  double time() const { return time_; }
  void advance_time(double seconds) { time_ += seconds; }

  /// Sends a named result metric (e.g. a skill score) to rank 0. Call it on one rank of the
  /// group, usually rank 0, with a value already reduced over the group. Not collective.
  void report_metric(const std::string& name, double value) const;

  spdlog::logger& log() const { return *log_; }

  // Set by the runtime, not by kernels.
  void set_step(std::uint64_t step) { step_ = step; }
  void set_time(double time) { time_ = time; }

 private:
  std::string stage_;
  std::string kernel_;
  boost::mpi::communicator group_;
  Parameters parameters_;
  std::uint64_t steps_;
  std::uint64_t step_ = 0;
  double time_ = 0.0;
  std::map<std::string, std::vector<std::shared_ptr<const InputArray>>> inputs_;
  MetricChannel metrics_;
  std::shared_ptr<spdlog::logger> log_;
  int cores_per_rank_;
};

}  // namespace perennial
