#include <perennial/errors.hpp>
#include <perennial/worker/fault_injection.hpp>

#include <fmt/format.h>

#include <regex>
#include <sstream>

namespace perennial {

FaultPlan FaultPlan::parse(const std::string& text) {
  FaultPlan plan;
  static const std::regex kill(R"(\s*kill\s*:\s*rank\s*=\s*(\d+)\s*,\s*step\s*=\s*(\d+)\s*)");
  std::stringstream parts(text);
  for (std::string part; std::getline(parts, part, ';');) {
    if (part.find_first_not_of(" \t") == std::string::npos) continue;
    std::smatch m;
    if (!std::regex_match(part, m, kill)) {
      throw Error(fmt::format("--inject: cannot read '{}' (expected kill:rank=N,step=S)", part));
    }
    const int rank = std::stoi(m[1]);
    if (rank == 0) throw Error("--inject: rank 0 is the coordinator; kill a worker rank (1 or more)");
    plan.kills.push_back({rank, std::stoull(m[2])});
  }
  return plan;
}

bool FaultPlan::kill_now(int rank, std::uint64_t step) const {
  for (const auto& k : kills) {
    if (k.rank == rank && k.step == step) return true;
  }
  return false;
}

}  // namespace perennial
