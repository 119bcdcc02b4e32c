// Issue 15, point 4 under mpiexec (2 ranks): what CF readers find in a stage output
// (Conventions, long_name, standard_name, units, a time coordinate with its calendar, the
// scenario's for_each values), checked with ncdump; and the MPI-IO hints a checkpoint and an
// output are created with, read back from the open file (MPI_File_get_info).

#include "run_command.hpp"
#include "scratch_directory.hpp"

#include <perennial/checkpoint/checkpoint_file.hpp>
#include <perennial/checkpoint/input_file.hpp>
#include <perennial/checkpoint/output_file.hpp>
#include <perennial/checkpoint/verify.hpp>
#include <perennial/hyperslab.hpp>
#include <perennial/output_metadata.hpp>

#include <boost/mpi/communicator.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace mpi = boost::mpi;
using perennial::DType;
using perennial::MpiIoHints;
using perennial::OutputMetadata;
using perennial::OutputSpec;
using perennial::checkpoint::CheckpointFileWriter;
using perennial::checkpoint::OutputFile;

namespace {

constexpr std::uint64_t kRows = 6, kCols = 4;

OutputSpec temperature() {
  OutputSpec s;
  s.name = "tas";
  s.dtype = DType::float64;
  s.dims = {"lat", "lon"};
  s.units = "K";
  s.long_name = "Near-Surface Air Temperature";
  s.standard_name = "air_temperature";
  return s;
}

/// What the coordinator sends for `ssp-4.5` of a campaign with title and start_date.
OutputMetadata ssp_metadata() {
  OutputMetadata m;
  m.global = {{"Conventions", "CF-1.8"}, {"title", "cmip-lite test"}, {"institution", "Perennial tests"}};
  m.scenario = {{"forcing", "4.5"}, {"member", "3"}, {"experiment", "ssp245"}};
  m.time_units = "seconds since 2015-01-01 00:00:00";
  m.calendar = "noleap";
  m.time = 86400.0 * 365;
  return m;
}

void write_tas(const mpi::communicator& group, const fs::path& path, const OutputMetadata& metadata,
               const MpiIoHints& hints, MpiIoHints* reported = nullptr) {
  OutputFile out(group, path, {temperature()}, {{"stage", "ssp-4.5"}, {"kernel", "heat2d"}}, metadata, hints);
  const auto mine = perennial::even_split(kRows, group.size(), group.rank());
  std::vector<double> block(mine.count * kCols, 280.0 + group.rank());
  out.write<double>("tas", perennial::row_block(kRows, kCols, mine.first, mine.count), block);
  if (reported != nullptr) *reported = out.io_hints();
  out.commit(path);
}


const MpiIoHints kHints = {{"cb_nodes", "1"}, {"romio_cb_write", "enable"}, {"cb_buffer_size", "1048576"}};

void expect_hints(const MpiIoHints& reported, const std::string& what) {
  for (const auto& [key, value] : kHints) {
    auto it = reported.find(key);
    ASSERT_NE(it, reported.end()) << what << ": MPI-IO does not report hint '" << key << "'";
    EXPECT_EQ(it->second, value) << what << ": hint '" << key << "'";
  }
}

}  // namespace

class CfAndHints : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = perennial::testing::make_scratch_directory("perennial-cf-test"); }
  static void TearDownTestSuite() { perennial::testing::remove_scratch_directory(dir_); }
  mpi::communicator world;
  static inline fs::path dir_;
};

TEST_F(CfAndHints, NcdumpShowsConventionsNamesUnitsTimeAndScenario) {
  const fs::path path = dir_ / "ssp-4.5.h5";
  write_tas(world, path, ssp_metadata(), {});
  if (world.rank() == 0) {
    int status = 0;
    const std::string nc = perennial::testing::run_command("ncdump -h " + path.string(), status);
    ASSERT_EQ(status, 0) << nc;
    for (const char* expected : {
             ":Conventions = \"CF-1.8\" ;", ":title = \"cmip-lite test\" ;", ":institution = \"Perennial tests\" ;",
             ":forcing = 4.5 ;", ":member = 3LL ;", ":experiment = \"ssp245\" ;",  // numbers as numbers
             "time = 1 ;", "double time(time) ;", "time:units = \"seconds since 2015-01-01 00:00:00\" ;",
             "time:calendar = \"noleap\" ;", "time:standard_name = \"time\" ;", "time:axis = \"T\" ;",
             "double tas(lat, lon) ;", "tas:units = \"K\" ;", "tas:long_name = \"Near-Surface Air Temperature\" ;",
             "tas:standard_name = \"air_temperature\" ;", ":stage = \"ssp-4.5\" ;"}) {
      EXPECT_NE(nc.find(expected), std::string::npos) << "missing '" << expected << "' in\n" << nc;
    }
    const std::string values = perennial::testing::run_command("ncdump -v time " + path.string(), status);
    EXPECT_EQ(status, 0) << values;
    EXPECT_NE(values.find("time = 31536000 ;"), std::string::npos) << values;
  }
  // The time coordinate is an entry like any other: the file verifies and reads as an input.
  const auto verdict = perennial::checkpoint::verify_output(world, path, {{"stage", "ssp-4.5"}});
  EXPECT_TRUE(verdict.ok) << verdict.problem;
  const auto input = perennial::checkpoint::open_input(world, path, "ssp-4.5", "tas");
  EXPECT_EQ(input->shape(), (std::vector<std::uint64_t>{kRows, kCols}));
}

TEST_F(CfAndHints, AKernelsOwnTimeDimensionIsLeftAlone) {
  const fs::path path = dir_ / "series.h5";
  OutputSpec series;
  series.name = "global_mean";
  series.dims = {"time"};
  series.units = "K";
  {
    OutputFile out(world, path, {series}, {{"stage", "series"}}, ssp_metadata(), {});
    const auto mine = perennial::even_split(3, world.size(), world.rank());
    perennial::Hyperslab slab = perennial::Hyperslab::whole({3});
    slab.offset = {mine.first};
    slab.count = {mine.count};
    std::vector<double> values(mine.count, 1.0);
    out.write<double>("global_mean", slab, values);
    out.write_coordinate("time", std::vector<double>{0.0, 10.0, 20.0}, "days since 2015-01-01");
    out.commit(path);
  }
  if (world.rank() == 0) {
    int status = 0;
    const std::string nc = perennial::testing::run_command("ncdump -h " + path.string(), status);
    ASSERT_EQ(status, 0) << nc;
    EXPECT_NE(nc.find("time = 3 ;"), std::string::npos) << nc;
    EXPECT_NE(nc.find("time:units = \"days since 2015-01-01\" ;"), std::string::npos) << nc;
  }
}

TEST_F(CfAndHints, HintsReachTheOutputAndTheCheckpointFile) {
  MpiIoHints reported;
  write_tas(world, dir_ / "hinted.h5", ssp_metadata(), kHints, &reported);
  expect_hints(reported, "output file");

  CheckpointFileWriter checkpoint(world, dir_ / "epoch-1.h5", {"cf", "ssp-4.5", "heat2d", "1", "d"}, {1, 10, 1.0},
                                  kHints);
  checkpoint.write_scalar("dt", 0.5);
  expect_hints(checkpoint.io_hints(), "checkpoint file");
  checkpoint.commit();
  EXPECT_TRUE(fs::exists(dir_ / "epoch-1.h5"));
}

TEST(OutputMetadataForm, StandardNamesAndStartDates) {
  EXPECT_EQ(perennial::standard_name_problem("air_temperature"), "");
  EXPECT_EQ(perennial::standard_name_problem("sea_surface_temperature_2"), "");
  EXPECT_NE(perennial::standard_name_problem("Air_Temperature"), "");
  EXPECT_NE(perennial::standard_name_problem("air temperature"), "");
  EXPECT_NE(perennial::standard_name_problem("2m_temperature"), "");
  EXPECT_EQ(perennial::start_date_problem("1850-01-01", "noleap"), "");
  EXPECT_EQ(perennial::start_date_problem("2000-02-30", "360_day"), "");
  EXPECT_NE(perennial::start_date_problem("2000-02-30", "gregorian"), "");
  EXPECT_NE(perennial::start_date_problem("2001-02-29", "365_day"), "");
  EXPECT_EQ(perennial::start_date_problem("2000-02-29", "proleptic_gregorian"), "");
  EXPECT_NE(perennial::start_date_problem("1900-02-29", "proleptic_gregorian"), "");
  EXPECT_NE(perennial::start_date_problem("yesterday", "noleap"), "");
  EXPECT_EQ(perennial::normalized_start_date("1850-1-1"), "1850-01-01 00:00:00");
  EXPECT_EQ(perennial::normalized_start_date("2015-01-01T06:30:00"), "2015-01-01 06:30:00");
}
