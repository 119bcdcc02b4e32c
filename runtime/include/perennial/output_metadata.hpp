#pragma once
// What the campaign file says about its files beyond the data: the CF description of stage
// outputs (Conventions, global attributes, time coordinate, scenario attributes) and the
// MPI-IO hints every checkpoint and output is opened with.

#include <perennial/serialization.hpp>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perennial {

struct Campaign;
struct StageSpec;

/// `mpi_io: {hints: {striping_factor: 8, cb_nodes: 4}}`: MPI_Info key/value pairs, passed to
/// MPI_File_open through HDF5. MPI ignores a hint it does not know, so none is checked here.
using MpiIoHints = std::map<std::string, std::string>;

/// The campaign-level CF fields: `conventions:`, `title:`, `institution:`, `source:`,
/// `references:`, `comment:` and `start_date:`.
struct OutputConventions {
  std::string conventions;  ///< "" until the loader decides (see docs/campaign-file.md)
  std::vector<std::pair<std::string, std::string>> attributes;  ///< title, institution, ... as written
  std::string start_date;   ///< the time coordinate's reference; "" for kDefaultStartDate
};

/// The reference date a stage's time counts from when the campaign gives no `start_date:`.
inline constexpr std::string_view kDefaultStartDate = "0001-01-01 00:00:00";
/// What `Conventions` says when the campaign does not set `conventions:`.
inline constexpr std::string_view kDefaultConventions = "CF-1.8";

/// What one stage's output file says about itself; sent to the workers in msg::AssignStage.
/// Every value is the same on every run and every rank count: outputs stay byte-identical.
struct OutputMetadata {
  std::vector<std::pair<std::string, std::string>> global;    ///< Conventions, title, ... (root attributes)
  std::vector<std::pair<std::string, std::string>> scenario;  ///< for_each values: numbers stored as numbers
  std::string time_units;  ///< "seconds since 0001-01-01 00:00:00"; "" writes no time coordinate
  std::string calendar;    ///< the campaign's calendar, as CF names it
  double time = 0.0;       ///< the coordinate's one value (the worker sets it: StageContext::time())

  template <class Archive> void serialize(Archive& ar, unsigned) { ar & global & scenario & time_units & calendar & time; }
};

/// "" when `name` has the form of a CF standard name (lowercase letters, digits and
/// underscores, starting with a letter), else what is wrong. The CF table is not consulted.
std::string standard_name_problem(std::string_view name);
/// "" when `date` is `YYYY-MM-DD` optionally followed by ` hh:mm:ss` (or `Thh:mm:ss`) with a
/// month, day and time that exist in `calendar` (CF names), else what is wrong.
std::string start_date_problem(std::string_view date, std::string_view calendar);
/// The metadata of `stage`'s output file: the campaign's Conventions (default
/// kDefaultConventions) and global attributes, the stage's for_each values, and its time
/// coordinate's units (from the stage's `start_date:`, else the campaign's, else
/// kDefaultStartDate) and calendar. The time value is left 0 for the worker to set.
OutputMetadata output_metadata_for(const Campaign& campaign, const StageSpec& stage);
/// `key=value` for each hint asked for, followed by what MPI-IO reported for it when the file
/// was open (`(MPI-IO: 1048576)`, or `(not reported)` when it dropped or does not know it).
std::string describe_hints(const MpiIoHints& asked, const MpiIoHints& reported);
/// `date` as CF writes it after "since": `YYYY-MM-DD hh:mm:ss`.
std::string normalized_start_date(std::string_view date);

}  // namespace perennial

PERENNIAL_MESSAGE_SERIALIZATION(perennial::OutputMetadata)
