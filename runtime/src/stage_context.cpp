#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>
#include <perennial/stage_context.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace perennial {

StageContext::StageContext(std::string stage, std::string kernel, boost::mpi::communicator group,
                           Parameters parameters, std::uint64_t steps,
                           std::map<std::string, std::vector<std::shared_ptr<const InputArray>>> inputs,
                           MetricChannel metrics, std::shared_ptr<spdlog::logger> log, int cores_per_rank)
    : stage_(std::move(stage)), kernel_(std::move(kernel)), group_(std::move(group)),
      parameters_(std::move(parameters)), steps_(steps), inputs_(std::move(inputs)),
      metrics_(std::move(metrics)), log_(log ? std::move(log) : spdlog::default_logger()),
      cores_per_rank_(std::max(1, cores_per_rank)) {
  parameters_.set_stage(stage_);
  // The kernel's declarations, applied here as well as by `perennial validate`: its defaults
  // fill what the stage leaves out, so a kernel states each default and range once, in
  // info(), and reads values with parameter<T>() without checking them again.
  if (const auto& registry = KernelRegistry::instance(); registry.contains(kernel_)) {
    const auto declared = registry.create(kernel_, stage_)->info().parameters;
    parameters_.fill_defaults(declared);
    for (const auto& [name, spec] : declared) {
      if (!parameters_.contains(name)) continue;  // required: parameter<T>() names it when read
      if (auto problem = parameter_problem(spec, parameters_.raw().at(name))) throw ParameterError(stage_, name, *problem);
    }
  }
}

const InputArray& StageContext::input(const std::string& name) const {
  auto it = inputs_.find(name);
  if (it == inputs_.end() || it->second.empty()) {
    throw KernelError(stage_, fmt::format("input '{}' is not bound (declare it under inputs:)", name));
  }
  if (it->second.size() != 1) {
    throw KernelError(stage_, fmt::format("input '{}' is bound to {} datasets; use inputs(\"{}\")",
                                          name, it->second.size(), name));
  }
  return *it->second.front();
}

std::vector<const InputArray*> StageContext::inputs(const std::string& name) const {
  std::vector<const InputArray*> out;
  auto it = inputs_.find(name);
  if (it == inputs_.end()) return out;
  for (const auto& array : it->second) out.push_back(array.get());
  return out;
}

void StageContext::report_metric(const std::string& name, double value) const {
  if (metrics_) metrics_(name, value);
}

}  // namespace perennial
