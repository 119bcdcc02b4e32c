#include <perennial/checkpoint/checkpoint_file.hpp>

#include "array_file_writer.hpp"
#include "durable_file.hpp"
#include "hdf5_support.hpp"

#include <perennial/errors.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/serialization/string.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace perennial::checkpoint {

namespace {

using Clock = std::chrono::steady_clock;

/// Everything the constructor's arguments say, as one string, to compare with rank 0's.
std::string describe(const std::filesystem::path& path, const CheckpointIdentity& id, const EpochInfo& info) {
  return fmt::format("path '{}', campaign '{}', stage '{}', kernel '{}' version '{}', definition '{}', epoch {}, "
                     "step {}, time {}",
                     path.string(), id.campaign, id.stage, id.kernel, id.kernel_version, id.definition, info.epoch,
                     info.step, info.time);
}

}  // namespace

struct CheckpointFileWriter::State {
  Clock::time_point start = Clock::now();
  std::optional<double> seconds;  ///< set when commit() ends
  boost::mpi::communicator group;
  std::filesystem::path final_path;
  std::filesystem::path partial_path;
  CheckpointIdentity identity;
  EpochInfo info;
  bool commit_started = false;
  bool committed = false;
  std::optional<detail::ArrayFileWriter> writer;

  std::string entry(std::string_view name) const {
    return fmt::format("checkpoint entry '{}' in '{}'", name, partial_path.string());
  }
  std::string say(std::string_view name, const std::string& what) const {
    return fmt::format("{}: {}", entry(name), what);
  }
  /// `problem`, or else whether `name` differs from rank 0's. Collective.
  std::string first_problem(std::string problem, std::string_view name) const {
    std::string differs = detail::name_differs_from_rank0(group, name);
    if (!problem.empty()) return problem;
    return differs.empty() ? differs : fmt::format("checkpoint '{}': {}", partial_path.string(), differs);
  }
  /// Agreed across the group: throws KernelError on every rank when any rank has a problem.
  void agree(const std::string& problem) const { detail::agree_or_throw(group, problem, identity.stage); }
};

CheckpointFileWriter::CheckpointFileWriter(const boost::mpi::communicator& group,
                                           std::filesystem::path final_path, CheckpointIdentity identity,
                                           EpochInfo info, const MpiIoHints& hints)
    : state_(std::make_unique<State>()) {
  ensure_hdf5_quiet();
  State& s = *state_;
  s.group = group;
  s.final_path = std::move(final_path);
  s.partial_path = s.final_path.string() + ".partial";
  s.identity = std::move(identity);
  s.info = info;

  // H5Fcreate is collective: ranks naming different files would wait for each other forever.
  const std::string mine = describe(s.final_path, s.identity, s.info);
  std::string first = mine;
  // An asynchronous epoch's writers start when each member's stage hands over its copy: the
  // first to come waits for the others without spinning.
  detail::polite_barrier(s.group);
  boost::mpi::broadcast(s.group, first, 0);
  std::string problem;
  if (s.final_path.filename().empty()) {
    problem = fmt::format("checkpoint path '{}' names no file", s.final_path.string());
  } else if (mine != first) {
    problem = fmt::format("checkpoint writer opened with {} but rank 0 passed {}", mine, first);
  }
  s.agree(problem);

  s.writer.emplace(s.group, s.partial_path, s.identity.stage, detail::kCheckpointFormat,
                   detail::BareDimension::dimension_only, hints);
  s.writer->root_string("campaign", s.identity.campaign);
  s.writer->root_string("stage", s.identity.stage);
  s.writer->root_string("kernel", s.identity.kernel);
  s.writer->root_string("kernel_version", s.identity.kernel_version);
  s.writer->root_string("definition", s.identity.definition);
  s.writer->root_uint64("epoch", s.info.epoch);
  s.writer->root_uint64("step", s.info.step);
  s.writer->root_double("time", s.info.time);
}

CheckpointFileWriter::~CheckpointFileWriter() {
  if (state_ && !state_->committed) {
    spdlog::debug("checkpoint '{}' released without commit(); left as '{}'", state_->final_path.string(),
                  state_->partial_path.string());
  }
}

const std::filesystem::path& CheckpointFileWriter::final_path() const { return state_->final_path; }
const std::filesystem::path& CheckpointFileWriter::partial_path() const { return state_->partial_path; }

double CheckpointFileWriter::seconds_spent() const {
  if (state_->seconds) return *state_->seconds;
  return std::chrono::duration<double>(Clock::now() - state_->start).count();
}

std::uint64_t CheckpointFileWriter::bytes_written() const { return state_->writer->data_bytes(); }

const MpiIoHints& CheckpointFileWriter::io_hints() const { return state_->writer->io_hints(); }

void CheckpointFileWriter::write_scalar(std::string_view name, double value) {
  ensure_hdf5_quiet();
  State& s = *state_;
  std::string problem;
  if (auto bad = s.writer->name_problem(name); !bad.empty()) problem = s.say(name, bad);
  s.agree(s.first_problem(std::move(problem), name));
  s.writer->write_array(std::string(name), detail::EntryKind::scalar, Hyperslab{}, DType::float64, &value, {}, "");
}

void CheckpointFileWriter::write_bytes(std::string_view name, std::span<const std::byte> bytes) {
  ensure_hdf5_quiet();
  State& s = *state_;
  const std::string dim = fmt::format("{}_bytes", name);
  std::string problem;
  if (auto bad = s.writer->name_problem(name); !bad.empty()) {
    problem = s.say(name, bad);
  } else if (s.writer->has_entry(dim) || s.writer->is_dimension(dim)) {
    // Its length is the dimension `<name>_bytes`, which must be a new name.
    problem = s.say(name, fmt::format("'{}' (the length dimension of the bytes) is already used", dim));
  }
  s.agree(s.first_problem(std::move(problem), name));
  s.writer->write_bytes(std::string(name), bytes, dim);
}

void CheckpointFileWriter::write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                                     std::size_t elements, const std::vector<std::string>& dims,
                                     std::string_view units) {
  ensure_hdf5_quiet();
  State& s = *state_;
  std::string problem;
  if (auto bad = s.writer->name_problem(name); !bad.empty()) {
    problem = s.say(name, bad);
  } else if (auto rank_problem = slab.check(); !rank_problem.empty()) {
    problem = s.say(name, rank_problem);
  } else if (elements != slab.element_count()) {
    problem = s.say(name, fmt::format("the block has {} elements but the data has {}", slab.element_count(), elements));
  } else if (auto dims_bad = s.writer->dims_problem(name, dims, slab.global_shape); !dims_bad.empty()) {
    problem = s.say(name, dims_bad);
  }
  problem = s.first_problem(std::move(problem), name);
  problem = s.writer->differs_from_rank0(std::move(problem), s.entry(name), slab.global_shape, dims, units);
  s.agree(problem);
  // A checkpoint with an unwritten element would restore garbage. The sum cannot see a gap
  // hidden by an overlap, but catches the usual mistake (a rank forgetting its block).
  const std::uint64_t total = detail::all_reduce_u64(s.group, slab.element_count(), MPI_SUM);
  std::uint64_t size = 1;
  for (auto extent : slab.global_shape) size *= extent;
  if (total < size) {
    problem = s.say(name, fmt::format("the blocks of the {} ranks hold {} elements but the array has {}; "
                                      "every element must be written", s.group.size(), total, size));
  }
  s.agree(problem);
  s.writer->write_array(std::string(name), detail::EntryKind::array, slab, type, data, dims, units);
}

void CheckpointFileWriter::commit() {
  ensure_hdf5_quiet();
  State& s = *state_;
  s.agree(s.commit_started ? fmt::format("checkpoint '{}': commit() was already called", s.final_path.string())
                           : "");
  s.commit_started = true;
  s.writer->finish(/*durable=*/true);
  std::string problem;
  if (s.group.rank() == 0) problem = detail::publish(s.partial_path, s.final_path);
  if (!problem.empty()) problem = fmt::format("committing checkpoint '{}': {}", s.final_path.string(), problem);
  s.agree(problem);
  s.committed = true;
  s.seconds = std::chrono::duration<double>(Clock::now() - s.start).count();
}

}  // namespace perennial::checkpoint
