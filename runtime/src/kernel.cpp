#include <perennial/errors.hpp>
#include <perennial/kernel.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace perennial {

void Kernel::save(StageContext&, CheckpointWriter&) {
  throw Error("this kernel does not implement save(): it cannot be checkpointed");
}

void Kernel::restore(StageContext&, CheckpointReader&) {
  throw Error("this kernel does not implement restore(): it cannot resume from a checkpoint");
}

KernelRegistry& KernelRegistry::instance() {
  static KernelRegistry registry;
  return registry;
}

void KernelRegistry::add(std::string name, KernelFactory factory) {
  if (factories_.count(name)) {
    duplicates_.push_back(std::move(name));
    return;
  }
  factories_.emplace(std::move(name), std::move(factory));
}

std::unique_ptr<Kernel> KernelRegistry::create(const std::string& name, const std::string& stage) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    throw KernelError(stage, fmt::format("unknown kernel '{}' (this executable has: {})", name,
                                         fmt::join(names(), ", ")));
  }
  return it->second();
}

std::vector<std::string> KernelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, factory] : factories_) out.push_back(name);
  return out;
}

}  // namespace perennial
