#include "node_energy.hpp"

#include <cstdlib>

namespace perennial {

namespace {

std::filesystem::path powercap_root() {
  const char* fake = std::getenv("PERENNIAL_POWERCAP_ROOT");
  return fake && *fake ? std::filesystem::path(fake) : std::filesystem::path(PowercapCounter::kDefaultRoot);
}

}  // namespace

NodeEnergy& NodeEnergy::instance() {
  static NodeEnergy energy;
  return energy;
}

NodeEnergy::NodeEnergy() : counter_(powercap_root()), last_(std::chrono::steady_clock::now()) {}

EnergyFigure NodeEnergy::sample() {
  std::lock_guard lock(mutex_);
  last_ = std::chrono::steady_clock::now();
  return counter_.sample();
}

void NodeEnergy::keep_up() {
  std::lock_guard lock(mutex_);
  if (!counter_.available()) return;
  const auto now = std::chrono::steady_clock::now();
  // Once a second: a few sysfs reads, far more often than the once a minute any known part
  // needs (kPowercapSampleSeconds), so even a small range cannot wrap twice unseen.
  if (now - last_ < std::chrono::seconds(1)) return;
  last_ = now;
  counter_.sample();
}

}  // namespace perennial
