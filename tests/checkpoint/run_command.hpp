#pragma once
// run_command: runs a shell command (h5dump, ncdump) and returns its output, stderr included;
// `status` gets pclose's status (-1 when it could not start).

#include <cstdio>
#include <string>

namespace perennial::testing {

inline std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    status = -1;
    return out;
  }
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

}  // namespace perennial::testing
