#pragma once
// Perennial's error families. Each carries the context a user needs to act on it.

#include <stdexcept>
#include <string>

namespace perennial {

/// Root of every error the runtime throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A campaign file problem, located by file, line, column (1-based) and field path.
class ConfigError : public Error {
 public:
  ConfigError(std::string file, int line, int column, std::string field, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& field() const { return field_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string file_;
  int line_;
  int column_;
  std::string field_;
  std::string detail_;
};

/// A stage parameter that is missing or of the wrong type.
class ParameterError : public Error {
 public:
  ParameterError(const std::string& stage, const std::string& parameter, const std::string& what);
};

/// A kernel used wrongly (unknown name, undeclared output, dtype or shape mismatch).
class KernelError : public Error {
 public:
  KernelError(const std::string& stage, const std::string& what);
};

/// An MPI call that returned an error code (communicators use MPI_ERRORS_RETURN).
class MpiError : public Error {
 public:
  MpiError(const std::string& call, int code);
  int code() const { return code_; }

 private:
  int code_;
};

/// Throws MpiError when `code` is not MPI_SUCCESS.
void check_mpi(int code, const char* call);

}  // namespace perennial
