#include <perennial/checkpoint/verify.hpp>

#include "hdf5_support.hpp"
#include "integrity.hpp"

#include <boost/mpi/collectives.hpp>
#include <perennial/serialization.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace perennial::checkpoint {

using detail::check_id;
using detail::check_status;
using detail::superblock_problem;
using detail::Where;

namespace {

/// What a file must be to pass: its kind and the root attributes it must carry.
struct Expectation {
  std::string noun;  ///< "checkpoint" or "output file", as messages say it
  std::string_view format;
  std::vector<std::pair<std::string, std::string>> attributes;  ///< name, expected value
};

/// One block some writer recorded: read it back and compare its hash.
struct SlabTask {
  std::uint32_t entry = 0;  ///< index into Plan::entries
  std::vector<std::uint64_t> offset;
  std::vector<std::uint64_t> count;
  std::uint64_t hash = 0;
  std::uint64_t bytes = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & entry & offset & count & hash & bytes;
  }
};

/// What rank 0 learns from the file's metadata: a problem, or the blocks to check.
struct Plan {
  std::string problem;
  std::vector<std::string> entries;
  std::vector<SlabTask> tasks;  ///< in file order: manifest order, then table row order

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & problem & entries & tasks;
  }
};

/// Pieces read at once while hashing a block: bounds a verifier's memory whatever the
/// size of the blocks the writers held.
constexpr std::uint64_t kPieceBytes = 16u << 20;

/// Opens `name` read-only with HDF5's default (POSIX) driver: every verifying rank opens the
/// file by itself and no HDF5 call is collective, so a rank that fails cannot stall others.
FileHandle open_serial(const std::string& name) {
  return FileHandle{check_id(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), Where{name, "/"}, "open file")};
}

bool exists(hid_t location, const std::string& path, const Where& where) {
  return check_status(H5Lexists(location, path.c_str(), H5P_DEFAULT), where, "look up") > 0;
}

/// Empty when the block lies inside `shape` (without overflowing), else what is wrong.
std::string block_problem(const std::vector<std::uint64_t>& offset, const std::vector<std::uint64_t>& count,
                          const std::vector<std::uint64_t>& shape) {
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (offset[d] > shape[d] || count[d] > shape[d] - offset[d]) {
      return fmt::format("block offset [{}] count [{}] lies outside the shape [{}]", fmt::join(offset, ", "),
                         fmt::join(count, ", "), fmt::join(shape, ", "));
    }
  }
  return {};
}

/// Reads the checksum table of `name` and adds its rows as tasks; "" or what is wrong.
std::string plan_entry(hid_t file, const std::string& file_name, const std::string& name, std::uint32_t index,
                       Plan& plan) {
  Where where{file_name, name};
  const auto say = [&](const std::string& what) { return fmt::format("dataset '{}': {}", name, what); };
  if (!exists(file, name, where)) return say("listed in the manifest but missing from the file");
  DatasetHandle dataset{check_id(H5Dopen2(file, name.c_str(), H5P_DEFAULT), where, "open dataset")};
  DatatypeHandle type{check_id(H5Dget_type(dataset.get()), where, "read the type of dataset")};
  DataspaceHandle space{check_id(H5Dget_space(dataset.get()), where, "read the shape of dataset")};
  const std::size_t element_size = H5Tget_size(type.get());
  const std::vector<std::uint64_t> shape = detail::extent_of(space.get(), where);

  const std::string table_path = fmt::format("{}/{}", detail::kChecksumGroup, name);
  where.object = table_path;
  if (!exists(file, detail::kChecksumGroup, where) || !exists(file, table_path, where)) {
    return say(fmt::format("has no checksum table ('{}' is missing)", table_path));
  }
  DatasetHandle table{check_id(H5Dopen2(file, table_path.c_str(), H5P_DEFAULT), where, "open checksum table")};
  DataspaceHandle table_space{check_id(H5Dget_space(table.get()), where, "read the shape of checksum table")};
  const std::vector<std::uint64_t> table_shape = detail::extent_of(table_space.get(), where);
  const std::uint64_t columns = detail::checksum_columns(shape.size());
  if (table_shape.size() != 2 || table_shape[1] != columns) {
    return say(fmt::format("its checksum table has shape [{}], expected [rows, {}]", fmt::join(table_shape, ", "),
                           columns));
  }
  std::vector<std::uint64_t> rows(table_shape[0] * columns);
  if (!rows.empty()) {
    check_status(H5Dread(table.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), where,
                 "read checksum table");
  }
  const std::size_t rank = shape.size();
  for (std::uint64_t r = 0; r < table_shape[0]; ++r) {
    const auto row = rows.begin() + static_cast<std::ptrdiff_t>(r * columns);
    SlabTask task;
    task.entry = index;
    task.offset.assign(row, row + static_cast<std::ptrdiff_t>(rank));
    task.count.assign(row + static_cast<std::ptrdiff_t>(rank), row + static_cast<std::ptrdiff_t>(2 * rank));
    task.hash = row[static_cast<std::ptrdiff_t>(2 * rank)];
    if (auto bad = block_problem(task.offset, task.count, shape); !bad.empty()) {
      return say(fmt::format("checksum table row {}: {}", r, bad));
    }
    task.bytes = element_size;
    for (auto c : task.count) task.bytes *= c;
    plan.tasks.push_back(std::move(task));
  }
  return {};
}

/// Rank 0's part: everything but the data. Never throws.
Plan make_plan(const std::filesystem::path& path, const Expectation& expect) {
  Plan plan;
  const std::string file_name = path.string();
  const auto say = [&](const std::string& what) { return fmt::format("{} '{}': {}", expect.noun, file_name, what); };
  try {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      plan.problem = say("does not exist (or is not a regular file)");
      return plan;
    }
    if (const auto bad = superblock_problem(file_name, std::filesystem::file_size(path, error)); !bad.empty()) {
      plan.problem = say(fmt::format("unreadable (truncated, or not HDF5): {}", bad));
      return plan;
    }
    FileHandle file;
    try {
      file = open_serial(file_name);
    } catch (const Hdf5Error& e) {
      plan.problem = say(fmt::format("unreadable (truncated, or not HDF5): {}", e.detail()));
      return plan;
    }
    const Where root{file_name, "/"};
    const std::string format = detail::read_string_attribute(file.get(), detail::kFormatAttribute, root);
    if (format != expect.format) {
      plan.problem = say(format.empty() ? fmt::format("not a Perennial {} (no {} attribute)", expect.noun,
                                                      detail::kFormatAttribute)
                                        : fmt::format("is a '{}' file, not a Perennial {}", format, expect.noun));
      return plan;
    }
    for (const auto& [attribute, expected] : expect.attributes) {
      const std::string found = detail::read_string_attribute(file.get(), attribute.c_str(), root);
      if (found != expected) {
        plan.problem = say(fmt::format("identity mismatch: {} is '{}' in the file but '{}' was expected", attribute,
                                       found, expected));
        return plan;
      }
    }
    const std::string manifest = detail::read_string_attribute(file.get(), detail::kManifestAttribute, root);
    if (manifest.empty()) {
      plan.problem = say(fmt::format("no manifest ({} attribute): the file was never committed",
                                     detail::kManifestAttribute));
      return plan;
    }
    std::string problem;
    const auto entries = detail::parse_manifest(manifest, problem);
    if (!entries) {
      plan.problem = say(problem);
      return plan;
    }
    for (const auto& entry : *entries) {
      const auto index = static_cast<std::uint32_t>(plan.entries.size());
      plan.entries.push_back(entry.name);
      if (auto bad = plan_entry(file.get(), file_name, entry.name, index, plan); !bad.empty()) {
        plan.problem = say(bad);
        return plan;
      }
    }
  } catch (const std::exception& e) {
    // Hdf5Error names the file and object already; the prefix says which check was running.
    plan.problem = say(fmt::format("unreadable: {}", e.what()));
  }
  return plan;
}

/// Which rank checks each task: largest first, each to the least loaded rank (the lowest on a
/// tie). Every rank computes the same answer from the same plan.
std::vector<int> assign(const std::vector<SlabTask>& tasks, int ranks) {
  std::vector<std::size_t> order(tasks.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return tasks[a].bytes > tasks[b].bytes; });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> owner(tasks.size(), 0);
  for (std::size_t t : order) {
    const auto least = std::min_element(load.begin(), load.end()) - load.begin();
    owner[t] = static_cast<int>(least);
    load[static_cast<std::size_t>(least)] += tasks[t].bytes + 1;  // +1: spreads empty blocks too
  }
  return owner;
}

/// Hashes one block as stored, reading it in pieces along its first axis.
std::uint64_t hash_block(hid_t dataset, const SlabTask& task, const Where& where) {
  DatatypeHandle type{check_id(H5Dget_type(dataset), where, "read the type of dataset")};
  const std::size_t element_size = H5Tget_size(type.get());
  detail::StreamHash hash;
  if (task.offset.empty()) {
    // A scalar. The memory type is the stored type: the raw bytes, as the writer hashed them.
    std::vector<unsigned char> value(element_size);
    check_status(H5Dread(dataset, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()), where, "read dataset");
    hash.add(value.data(), value.size());
    return hash.digest();
  }
  if (task.bytes == 0) return hash.digest();
  const std::uint64_t row_bytes = task.bytes / task.count[0];
  const std::uint64_t rows_per_piece = std::max<std::uint64_t>(1, kPieceBytes / row_bytes);
  DataspaceHandle file_space{check_id(H5Dget_space(dataset), where, "read the shape of dataset")};
  std::vector<unsigned char> buffer(static_cast<std::size_t>(std::min(task.count[0], rows_per_piece) * row_bytes));
  for (std::uint64_t first = 0; first < task.count[0]; first += rows_per_piece) {
    std::vector<hsize_t> offset = detail::to_hsize(task.offset), count = detail::to_hsize(task.count);
    offset[0] += first;
    count[0] = std::min(rows_per_piece, task.count[0] - first);
    check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr),
                 where, "select a block of");
    DataspaceHandle memory{check_id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), where,
                                    "create a dataspace for")};
    check_status(H5Dread(dataset, type.get(), memory.get(), file_space.get(), H5P_DEFAULT, buffer.data()), where,
                 "read dataset");
    hash.add(buffer.data(), static_cast<std::size_t>(count[0] * row_bytes));
  }
  return hash.digest();
}

/// This rank's part: checks its tasks in file order; the index of the first bad one (or
/// max) and what is wrong with it. Never throws.
std::pair<std::uint64_t, std::string> check_tasks(const std::string& file_name, const Plan& plan,
                                                  const std::vector<std::size_t>& mine, const std::string& noun) {
  std::size_t current = mine.empty() ? 0 : mine.front();
  const auto say = [&](const std::string& what) {
    return fmt::format("{} '{}': dataset '{}': {}", noun, file_name, plan.entries[plan.tasks[current].entry], what);
  };
  try {
    if (mine.empty()) return {std::numeric_limits<std::uint64_t>::max(), {}};
    FileHandle file = open_serial(file_name);
    std::map<std::uint32_t, DatasetHandle> open;
    for (std::size_t t : mine) {
      current = t;
      const SlabTask& task = plan.tasks[t];
      const std::string& name = plan.entries[task.entry];
      const Where where{file_name, name};
      auto it = open.find(task.entry);
      if (it == open.end()) {
        it = open.emplace(task.entry, DatasetHandle{check_id(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), where,
                                                             "open dataset")})
                 .first;
      }
      const std::uint64_t found = hash_block(it->second.get(), task, where);
      if (found != task.hash) {
        return {t, say(fmt::format("checksum mismatch in the block at offset [{}] count [{}]: recorded {:#018x}, "
                                   "the stored data hashes to {:#018x}",
                                   fmt::join(task.offset, ", "), fmt::join(task.count, ", "), task.hash, found))};
      }
    }
  } catch (const std::exception& e) {
    return {current, say(fmt::format("unreadable: {}", e.what()))};
  }
  return {std::numeric_limits<std::uint64_t>::max(), {}};
}

/// Whether HDF5 itself dies walking the file's metadata as make_plan does, tried in a child
/// process: HDF5 1.10 crashes (SIGSEGV in H5Lexists -> H5B2_open -> H5F__accum_read; h5ls and
/// h5dump die the same way) on some damaged metadata, which ci/fuzz.sh (fuzz_checkpoint_read)
/// found in a 47 KB epoch; in-process that killed the verifying rank, and the restore never
/// reached the older epochs. A child killed by a signal makes the file refused with that
/// reason; otherwise (or when the child cannot be made or does not end within its bound) rank 0
/// walks the file itself, as before: the same calls, so the same answer. The child calls no
/// MPI and leaves with _exit.
std::string hdf5_dies_reading(const std::filesystem::path& file, const Expectation& expect) {
  // A file make_plan refuses before HDF5 sees it (missing, or its superblock) needs no child.
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (error || !superblock_problem(file.string(), size).empty()) return {};
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) return {};
  if (child == 0) {
    // The default actions, so that a crash ends the child by its signal (not a handler of the
    // parent's: a stack dumper, a sanitizer's report).
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
      struct sigaction action = {};
      action.sa_handler = SIG_DFL;
      ::sigaction(sig, &action, nullptr);
    }
    try {
      (void)make_plan(file, expect);
    } catch (...) {
    }
    ::_exit(0);
  }
  // Bounded: a metadata walk takes milliseconds; a child stuck past this is ended and the
  // walk done in-process (which a hang inside HDF5 would then hold up, as before).
  constexpr auto kBound = std::chrono::seconds(60);
  const auto until = std::chrono::steady_clock::now() + kBound;
  auto pause = std::chrono::microseconds(200);
  int status = 0;
  // Woken the moment the child ends (a pidfd becomes readable then), else by polling.
  if (const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0)); pidfd >= 0) {
    pollfd ready{pidfd, POLLIN, 0};
    while (::poll(&ready, 1, static_cast<int>(std::chrono::milliseconds(kBound).count())) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
  }
  while (true) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return {};
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      return {};
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
  // Only a crash's signals: a child killed from outside (the OOM killer's SIGKILL) says nothing
  // of the file, and rank 0 walks it itself.
  const auto crashed = [](int sig) {
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT;
  };
  if (WIFSIGNALED(status) && crashed(WTERMSIG(status))) {
    return fmt::format("{} '{}': damaged: HDF5 itself crashes reading its metadata (signal {}, {})", expect.noun,
                       file.string(), WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {  // the child leaves with 0 unless it died
    return fmt::format("{} '{}': damaged: HDF5 itself fails reading its metadata (exit status {})", expect.noun,
                       file.string(), WEXITSTATUS(status));
  }
  return {};
}

VerifyResult verify(const boost::mpi::communicator& group, const std::filesystem::path& file,
                    const Expectation& expect, FileOrigin origin = FileOrigin::at_rest) {
  ensure_hdf5_quiet();
  Plan plan;
  if (group.rank() == 0) {
    if (origin == FileOrigin::at_rest) plan.problem = hdf5_dies_reading(file, expect);
    if (plan.problem.empty()) plan = make_plan(file, expect);
  }
  // The others wait here while rank 0 forks the walk and plans: without spinning.
  detail::polite_barrier(group);
  boost::mpi::broadcast(group, plan, 0);
  if (!plan.problem.empty()) return {false, plan.problem};

  const std::vector<int> owner = assign(plan.tasks, group.size());
  std::vector<std::size_t> mine;
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    if (owner[t] == group.rank()) mine.push_back(t);
  }
  auto [bad, problem] = check_tasks(file.string(), plan, mine, expect.noun);
  // The first bad block in file order wins, so the answer does not depend on the group size.
  const std::uint64_t first = detail::all_reduce_u64(group, bad, MPI_MIN);
  if (first == std::numeric_limits<std::uint64_t>::max()) return {true, {}};
  boost::mpi::broadcast(group, problem, owner[static_cast<std::size_t>(first)]);
  return {false, problem};
}

}  // namespace

VerifyResult verify_checkpoint(const boost::mpi::communicator& group, const std::filesystem::path& file,
                               const CheckpointIdentity& expected, FileOrigin origin) {
  Expectation expect{"checkpoint", detail::kCheckpointFormat,
                     {{"campaign", expected.campaign},
                      {"stage", expected.stage},
                      {"kernel", expected.kernel},
                      {"kernel_version", expected.kernel_version},
                      {"definition", expected.definition}}};
  return verify(group, file, expect, origin);
}

VerifyResult verify_output(const boost::mpi::communicator& group, const std::filesystem::path& file,
                           const std::map<std::string, std::string>& expected_attributes) {
  Expectation expect{"output file", detail::kOutputFormat, {expected_attributes.begin(), expected_attributes.end()}};
  return verify(group, file, expect);
}

}  // namespace perennial::checkpoint
