#pragma once
// End-to-end test support: run the real `perennial` executable under mpiexec with a hard
// timeout, then read what it left on disk (events.jsonl, HDF5 outputs).

#include "hdf5_content.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace perennial::e2e {

struct CommandResult {
  int exit_code = -1;   ///< 124 when the timeout killed it
  std::string output;   ///< stdout and stderr together
};

/// The `perennial` under test: the one built with the tests, or PERENNIAL_TEST_EXECUTABLE
/// (to watch a new test fail on an older build).
std::string perennial_executable();

/// Runs `command` through /bin/sh with `timeout`, capturing its output.
CommandResult run_command(const std::string& command, int timeout_seconds);

/// `perennial launch -n <ranks> <arguments>` over mpiexec with the test flags: mpirun
/// --enable-recovery, and the campaign's own exit code.
CommandResult run_perennial(int ranks, const std::string& arguments, int timeout_seconds = 240);
/// `mpiexec <flags> -n <ranks> perennial run <arguments>`: plain mpirun, as a user might start it.
CommandResult run_mpiexec_perennial(int ranks, const std::string& arguments, int timeout_seconds = 240);
/// `perennial <arguments>` without mpiexec (validate, plan).
CommandResult run_perennial_serial(const std::string& arguments);
/// The mpiexec command line the tests run ranks with (mpiexec and its flags).
std::string mpiexec_command();

/// A `perennial run` started in the background (its own process group), for signal tests.
class BackgroundRun {
 public:
  BackgroundRun(int ranks, const std::string& arguments, const std::string& extra_mpiexec_flags = "");
  /// Any shell command line, e.g. an mpiexec of several programs (MPMD).
  struct Shell {
    std::string command;
  };
  explicit BackgroundRun(const Shell& shell);
  ~BackgroundRun();  ///< kills the whole process group if still running
  /// Sends `signal` to `perennial launch` (which hands it to mpirun as SIGUSR1).
  void signal(int signal) const;
  /// Waits for the end, at most `timeout_seconds` (then kills it and returns 124).
  CommandResult wait(int timeout_seconds);

 private:
  int pid_ = -1;
  std::string log_;
};

/// Waits until events.jsonl holds `count` events of type `event` (any stage when `stage`
/// is empty), at most `timeout_seconds`. Returns whether it happened.
bool wait_for_event(const std::filesystem::path& output_dir, const std::string& event, const std::string& stage,
                    int count, int timeout_seconds);

/// A fresh, empty directory for one test's outputs.
std::filesystem::path fresh_directory(const std::string& name);
std::filesystem::path example_campaign(const std::string& file);   ///< examples/campaigns/<file>
std::filesystem::path test_campaign(const std::string& file);      ///< tests/e2e/campaigns/<file>

std::vector<nlohmann::json> read_events(const std::filesystem::path& output_dir);
/// The events of one type (and of one stage, when given), in order.
std::vector<nlohmann::json> events_of(const std::vector<nlohmann::json>& events, const std::string& type,
                                      const std::string& stage = "");
/// Writes `text` to `dir`/`name` (creating `dir`); returns the file's path.
std::filesystem::path write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text);
/// Every line of every worker log (log/worker-*.log) matching `pattern`, as its captured numbers.
std::vector<std::vector<long>> worker_log_matches(const std::filesystem::path& output_dir, const std::string& pattern);
/// The time of `event` ("stage_started", "stage_completed", ...) of `stage`; throws if absent.
double event_time(const std::vector<nlohmann::json>& events, const std::string& event, const std::string& stage);
bool has_event(const std::vector<nlohmann::json>& events, const std::string& event, const std::string& stage);
/// The stage_restored events of `stage` that restored an epoch, in order.
std::vector<nlohmann::json> restores(const std::vector<nlohmann::json>& events, const std::string& stage);
/// The number captured by group 1 of `pattern` in the first matching line of worker `rank`'s
/// log (`<output_dir>/log/worker-<rank>.log`), or -1.
int number_in_worker_log(const std::filesystem::path& output_dir, int rank, const std::string& pattern);
/// The pid a worker wrote in the first line of its log (`worker rank N pid P`), or -1.
int worker_pid(const std::filesystem::path& output_dir, int rank);

/// The usual outside failure: once `stage` has committed `epochs` checkpoints, SIGKILL worker
/// `rank` (as an operator or the OOM killer would) and wait up to `timeout_seconds` for the job
/// to end, into `result`. Fails, saying which, when the stage never checkpoints, the rank wrote
/// no pid, the signal cannot be sent, or the job hangs (with its output).
testing::AssertionResult kill_worker_after_checkpoints(BackgroundRun& run, const std::filesystem::path& output_dir,
                                                       const std::string& stage, int epochs, int rank,
                                                       CommandResult& result, int timeout_seconds = 240);

/// A stop as the batch system asks for one: once `stage` has committed `epochs` checkpoints,
/// SIGUSR1 to launch (checkpoint every stage, then end), and wait up to `timeout_seconds` for
/// the job's end, into `result`. Fails, saying which, when no checkpoint comes or the job does
/// not end with 0 (with its output).
testing::AssertionResult stop_after_checkpoints(BackgroundRun& run, const std::filesystem::path& output_dir,
                                                const std::string& stage, int epochs, CommandResult& result,
                                                int timeout_seconds = 120);

// read_dataset and same_content (HDF5 files by content) are in hdf5_content.hpp.

}  // namespace perennial::e2e
