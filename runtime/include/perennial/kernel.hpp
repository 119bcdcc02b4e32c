#pragma once
// Kernel: the solver a scientist writes. Derive, implement the five calls, declare what it
// takes in info(), register by name:
//
//   class Heat2D : public perennial::Kernel {
//     void initialize(perennial::StageContext&) override;   // allocate, read inputs
//     void step(perennial::StageContext&) override;         // advance one step
//     void write_outputs(perennial::StageContext&, perennial::OutputSink&) override;
//     void save(perennial::StageContext&, perennial::CheckpointWriter&) override;
//     void restore(perennial::StageContext&, perennial::CheckpointReader&) override;
//     perennial::KernelInfo info() const override {
//       perennial::KernelInfo info;
//       info.parameters["forcing"] = {.type = perennial::ParameterType::number, .default_value = "0.0",
//                                     .units = "W m-2", .description = "radiative forcing"};
//       return info;
//     }
//   };
//   PERENNIAL_REGISTER_KERNEL(Heat2D, "heat2d");
//
// `perennial validate` checks each stage's parameters against info() (names, types, ranges,
// required ones); initialize() reads them with ctx.parameter<double>("forcing"), which
// gives the declared default when the stage sets none.
//
// Every call is collective over the stage group: the runtime calls it on all of the
// group's ranks. A call that throws fails the stage (message and stage name are reported).

#include <perennial/array_io.hpp>
#include <perennial/dtype.hpp>
#include <perennial/parameters.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace perennial {

class StageContext;

/// What a kernel expects of an array it reads or writes; unset fields accept anything.
struct ArraySchema {
  std::optional<DType> dtype;
  std::optional<std::vector<std::string>> dims;
  std::optional<std::string> units;
};

/// What `perennial validate` knows of a kernel before running it.
/// A result metric a kernel reports (StageContext::report_metric): what a scenario's promise
/// is judged by.
struct MetricSpec {
  std::string units;        ///< e.g. `K`, `1`
  std::string description;  ///< what it measures
};

struct KernelInfo {
  std::string version = "1";                   ///< recorded in checkpoints; bump when state changes
  std::map<std::string, ArraySchema> inputs;   ///< inputs it reads (others are an error when non-empty)
  std::map<std::string, ArraySchema> outputs;  ///< outputs it writes (others are an error when non-empty)
  bool inputs_open = true;                     ///< accept input names not listed above
  /// Implements save() and restore(). Without them a stage cannot checkpoint, so it is never
  /// preempted or stopped early: it runs to its end (or reruns from its inputs after a loss).
  bool checkpoints = false;
  std::map<std::string, ParameterSpec> parameters;  ///< parameters it takes (others are an error)
  bool parameters_open = true;  ///< with none declared, accept any; false: the kernel takes none
  /// The metrics it reports; rank 0 refuses others. With none declared it accepts any, unless
  /// metrics_open is false (the kernel reports none).
  std::map<std::string, MetricSpec> metrics;
  bool metrics_open = true;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  /// Called once per stage run, before step() or restore(): set up from parameters and inputs.
  virtual void initialize(StageContext& ctx) = 0;
  virtual void step(StageContext& ctx) = 0;
  virtual void write_outputs(StageContext& ctx, OutputSink& out) = 0;
  /// Checkpoint support (declare it: KernelInfo::checkpoints); the default throws.
  virtual void save(StageContext& ctx, CheckpointWriter& checkpoint);
  virtual void restore(StageContext& ctx, CheckpointReader& checkpoint);
  /// Schema for validation before anything runs; the default declares nothing.
  virtual KernelInfo info() const { return {}; }
};

using KernelFactory = std::function<std::unique_ptr<Kernel>()>;

/// Kernels known to this executable, by name.
class KernelRegistry {
 public:
  static KernelRegistry& instance();
  /// Adds a kernel. A second kernel under a taken name is kept out and remembered in
  /// duplicates(): registration runs during static initialisation, where throwing would
  /// end the program before it could say why.
  void add(std::string name, KernelFactory factory);
  const std::vector<std::string>& duplicates() const { return duplicates_; }
  bool contains(const std::string& name) const { return factories_.count(name) != 0; }
  /// Throws KernelError naming the stage when `name` is unknown.
  std::unique_ptr<Kernel> create(const std::string& name, const std::string& stage) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, KernelFactory> factories_;
  std::vector<std::string> duplicates_;
};

/// Registers a kernel at static-initialisation time; use PERENNIAL_REGISTER_KERNEL.
struct KernelRegistration {
  KernelRegistration(std::string name, KernelFactory factory) {
    KernelRegistry::instance().add(std::move(name), std::move(factory));
  }
};

}  // namespace perennial

#define PERENNIAL_CONCAT_INNER(a, b) a##b
#define PERENNIAL_CONCAT(a, b) PERENNIAL_CONCAT_INNER(a, b)
/// PERENNIAL_REGISTER_KERNEL(Type, "name");  makes Type available as `kernel: name`. A
/// statement (it takes its `;`), usable any number of times in one file.
#define PERENNIAL_REGISTER_KERNEL(Type, name)                                                            \
  static const ::perennial::KernelRegistration PERENNIAL_CONCAT(perennial_kernel_registration_, __COUNTER__) { \
    name, [] { return std::unique_ptr<::perennial::Kernel>(new Type()); }                               \
  }
