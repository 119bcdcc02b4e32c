#include <perennial/checkpoint/output_file.hpp>

#include "array_file_writer.hpp"
#include "durable_file.hpp"
#include "hdf5_support.hpp"

#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

namespace perennial::checkpoint {

struct OutputFile::State {
  boost::mpi::communicator group;
  std::filesystem::path path;
  std::string file_name;
  std::string stage;
  std::vector<OutputSpec> declared;
  bool closed = false;
  std::set<std::string, std::less<>> coordinates;  ///< dims given values by write_coordinate
  std::optional<detail::ArrayFileWriter> writer;

  const OutputSpec* find(std::string_view name) const {
    auto it = std::find_if(declared.begin(), declared.end(),
                           [&](const OutputSpec& s) { return s.name == name; });
    return it == declared.end() ? nullptr : &*it;
  }
  bool dim_declared(std::string_view dim) const {
    return std::any_of(declared.begin(), declared.end(), [&](const OutputSpec& s) {
      return std::find(s.dims.begin(), s.dims.end(), dim) != s.dims.end();
    });
  }
  std::string problem_with(std::string_view name, const Hyperslab& slab, DType type,
                           std::size_t elements) const;
};

namespace {
/// A for_each value as an attribute: an integer as int64, another number as double, else text
/// (so that `forcing = 4.5` compares and sorts as a number in xarray).
void write_scenario_value(detail::ArrayFileWriter& writer, const std::string& key, const std::string& text) {
  const char* first = text.data();
  const char* last = first + text.size();
  std::int64_t whole = 0;
  if (auto [end, ec] = std::from_chars(first, last, whole); !text.empty() && ec == std::errc() && end == last) {
    writer.root_int64(key, whole);
    return;
  }
  double number = 0.0;
  if (auto [end, ec] = std::from_chars(first, last, number);
      !text.empty() && ec == std::errc() && end == last && std::isfinite(number)) {
    writer.root_double(key, number);
    return;
  }
  writer.root_string(key, text);
}

/// The runtime's own `time` coordinate would clash with a kernel's dim or output of that name.
bool uses_time(const std::vector<OutputSpec>& declared) {
  return std::any_of(declared.begin(), declared.end(), [](const OutputSpec& s) {
    return s.name == "time" || std::find(s.dims.begin(), s.dims.end(), "time") != s.dims.end();
  });
}

std::string declared_names(const std::vector<OutputSpec>& declared) {
  std::vector<std::string> names;
  for (const auto& s : declared) names.push_back(s.name);
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}
}  // namespace

std::string OutputFile::State::problem_with(std::string_view name, const Hyperslab& slab, DType type,
                                            std::size_t elements) const {
  const auto say = [&](const std::string& what) {
    return fmt::format("output '{}' in '{}': {}", name, file_name, what);
  };
  if (closed) return say("the file is already closed");
  const OutputSpec* spec = find(name);
  if (spec == nullptr) return say(fmt::format("not declared (declared: {})", declared_names(declared)));
  if (writer->has_entry(name)) return say("already written");
  if (type != spec->dtype) {
    return say(fmt::format("declared {} but written as {}", dtype_name(spec->dtype), dtype_name(type)));
  }
  if (slab.global_shape.size() != spec->dims.size()) {
    return say(fmt::format("declared with dims [{}] but the block has rank {}",
                           fmt::join(spec->dims, ", "), slab.global_shape.size()));
  }
  if (auto bad = slab.check(); !bad.empty()) return say(bad);
  if (elements != slab.element_count()) {
    return say(fmt::format("the block has {} elements but the data has {}", slab.element_count(), elements));
  }
  if (auto bad = writer->dims_problem(spec->name, spec->dims, slab.global_shape); !bad.empty()) return say(bad);
  return {};
}

OutputFile::OutputFile(const boost::mpi::communicator& group, std::filesystem::path path,
                       std::vector<OutputSpec> declared,
                       std::map<std::string, std::string> file_attributes,
                       const OutputMetadata& metadata, const MpiIoHints& hints)
    : state_(std::make_unique<State>()) {
  ensure_hdf5_quiet();
  State& s = *state_;
  s.group = group;
  s.path = std::move(path);
  s.file_name = s.path.string();
  auto stage = file_attributes.find("stage");
  s.stage = stage != file_attributes.end() ? stage->second : s.file_name;
  s.declared = std::move(declared);

  // Outputs and dims share the root group's namespace (a dim becomes its coordinate dataset).
  std::string problem;
  std::set<std::string> names;
  for (const auto& spec : s.declared) {
    if (!names.insert(spec.name).second) problem = fmt::format("output '{}' is declared twice", spec.name);
  }
  for (const auto& spec : s.declared) {
    if (problem.empty() && s.dim_declared(spec.name)) {
      problem = fmt::format("output '{}' has the name of a dimension; give dims their values "
                            "with write_coordinate", spec.name);
    }
    if (problem.empty()) {
      if (auto bad = detail::entry_name_problem(spec.name); !bad.empty()) {
        problem = fmt::format("output '{}': {}", spec.name, bad);
      }
    }
  }
  if (!problem.empty()) problem = fmt::format("file '{}': {}", s.file_name, problem);
  detail::agree_or_throw(s.group, problem, s.stage);

  s.writer.emplace(s.group, s.path, s.stage, detail::kOutputFormat, detail::BareDimension::index_values, hints);
  for (const auto& [key, value] : file_attributes) s.writer->root_string(key, value);
  for (const auto& [key, value] : metadata.global) {
    if (file_attributes.count(key) == 0) s.writer->root_string(key, value);
  }
  for (const auto& [key, value] : metadata.scenario) {
    if (file_attributes.count(key) == 0) write_scenario_value(*s.writer, key, value);
  }
  if (!metadata.time_units.empty() && !uses_time(s.declared)) {
    // One value, the model time the outputs were written at: a length-1 dimension `time`
    // (a netCDF coordinate variable) that open_mfdataset can concatenate along.
    detail::ArrayFileWriter::Attributes attributes{{"standard_name", "time"}, {"long_name", "time"}};
    if (!metadata.calendar.empty()) attributes.emplace_back("calendar", metadata.calendar);
    attributes.emplace_back("axis", "T");
    s.writer->set_coordinate("time", {metadata.time}, metadata.time_units, std::move(attributes));
  }
}

OutputFile::~OutputFile() {
  if (state_ && !state_->closed) {
    spdlog::debug("output file '{}' released without close(); it is incomplete", state_->file_name);
  }
}

const std::filesystem::path& OutputFile::path() const { return state_->path; }

const MpiIoHints& OutputFile::io_hints() const { return state_->writer->io_hints(); }

void OutputFile::write_raw(std::string_view name, const Hyperslab& slab, DType type, const void* data,
                           std::size_t elements) {
  ensure_hdf5_quiet();
  State& s = *state_;
  std::string problem = s.problem_with(name, slab, type, elements);
  const OutputSpec* spec = s.find(name);
  // The dataset is created collectively with one shape: every rank must agree on it. The
  // dims and units come from the shared declaration, so only the shape can differ.
  static const std::vector<std::string> no_dims;
  problem = s.writer->differs_from_rank0(std::move(problem), fmt::format("output '{}' in '{}'", name, s.file_name),
                                         slab.global_shape, spec != nullptr ? spec->dims : no_dims,
                                         spec != nullptr ? spec->units : std::string());
  detail::agree_or_throw(s.group, problem, s.stage);
  detail::ArrayFileWriter::Attributes attributes;
  if (!spec->long_name.empty()) attributes.emplace_back("long_name", spec->long_name);
  if (!spec->standard_name.empty()) attributes.emplace_back("standard_name", spec->standard_name);
  s.writer->write_array(spec->name, detail::EntryKind::array, slab, type, data, spec->dims, spec->units, attributes);
}

void OutputFile::write_coordinate(std::string_view dim, std::span<const double> values,
                                  std::string_view units) {
  ensure_hdf5_quiet();
  State& s = *state_;
  const auto say = [&](const std::string& what) {
    return fmt::format("coordinate '{}' in '{}': {}", dim, s.file_name, what);
  };
  std::string problem;
  const auto extent = s.writer->extent(dim);
  if (s.closed) {
    problem = say("the file is already closed");
  } else if (!s.dim_declared(dim)) {
    problem = say("not a dimension of any declared output");
  } else if (s.coordinates.find(dim) != s.coordinates.end()) {
    problem = say("already written");
  } else if (extent && *extent != values.size()) {
    problem = say(fmt::format("{} values but the dimension has extent {}", values.size(), *extent));
  }
  detail::agree_or_throw(s.group, problem, s.stage);
  const std::string name(dim);
  s.coordinates.insert(name);
  s.writer->set_coordinate(name, {values.begin(), values.end()}, std::string(units));
}

void OutputFile::close() { finish(/*durable=*/false); }

void OutputFile::commit(const std::filesystem::path& final_path) {
  finish(/*durable=*/true);
  State& s = *state_;
  std::string problem;
  if (s.group.rank() == 0) problem = detail::publish(s.path, final_path);
  detail::agree_or_throw(s.group, problem.empty() ? "" : fmt::format("publishing the outputs: {}", problem), s.stage);
}

void OutputFile::finish(bool durable) {
  ensure_hdf5_quiet();
  State& s = *state_;
  if (s.closed) return;
  s.closed = true;
  s.writer->finish(durable);

  std::vector<std::string> missing;
  for (const auto& spec : s.declared) {
    if (!s.writer->has_entry(spec.name)) missing.push_back(spec.name);
  }
  if (!missing.empty()) {
    throw KernelError(s.stage, fmt::format("file '{}' was closed without declared output(s) {}",
                                           s.file_name, fmt::join(missing, ", ")));
  }
}

}  // namespace perennial::checkpoint
