#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <mpi.h>

namespace perennial {

ConfigError::ConfigError(std::string file, int line, int column, std::string field, std::string message)
    : Error(fmt::format("{}:{}:{}: {}: {}", file, line, column, field, message)),
      file_(std::move(file)), line_(line), column_(column), field_(std::move(field)),
      detail_(std::move(message)) {}

ParameterError::ParameterError(const std::string& stage, const std::string& parameter,
                               const std::string& what)
    : Error(fmt::format("stage '{}': parameter '{}' {}", stage, parameter, what)) {}

KernelError::KernelError(const std::string& stage, const std::string& what)
    : Error(fmt::format("stage '{}': {}", stage, what)) {}

namespace {
std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "unknown MPI error";
  return std::string(text, static_cast<std::size_t>(length));
}
}  // namespace

MpiError::MpiError(const std::string& call, int code)
    : Error(fmt::format("{} failed: {} (MPI error {})", call, mpi_error_text(code), code)), code_(code) {}

void check_mpi(int code, const char* call) {
  if (code != MPI_SUCCESS) throw MpiError(call, code);
}

}  // namespace perennial
