// Parallel-HDF5 output files and inputs under mpiexec (4 ranks): round trips across
// decompositions, metadata, every misuse, what ncdump/h5dump see, and no HDF5-DIAG text.

#include "run_command.hpp"
#include "scratch_directory.hpp"
#include "stderr_capture.hpp"

#include <perennial/checkpoint/hdf5_error.hpp>
#include <perennial/checkpoint/input_file.hpp>
#include <perennial/checkpoint/output_file.hpp>
#include <perennial/errors.hpp>
#include <perennial/hyperslab.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/serialization/string.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace mpi = boost::mpi;
using perennial::DType;
using perennial::Hyperslab;
using perennial::OutputSpec;
using perennial::checkpoint::open_input;
using perennial::checkpoint::OutputFile;

namespace {

OutputSpec spec(std::string name, DType dtype, std::vector<std::string> dims, std::string units) {
  OutputSpec s;
  s.name = std::move(name);
  s.dtype = dtype;
  s.dims = std::move(dims);
  s.units = std::move(units);
  return s;
}

/// Element k of the test arrays: a few special doubles (signed zero, NaN with a payload,
/// subnormal, infinity) and then scrambled bit patterns, so equality is bit for bit.
double value_at(std::uint64_t k) {
  switch (k) {
    case 0: return -0.0;
    case 1: return std::bit_cast<double>(0x7ff8'0000'dead'beefULL);
    case 2: return std::numeric_limits<double>::denorm_min() * 3;
    case 3: return -std::numeric_limits<double>::infinity();
    default: return std::bit_cast<double>(0x3ff0'0000'0000'0000ULL ^ ((k * 0x9E37'79B9'7F4A'7C15ULL) >> 12));
  }
}

/// Rows [first, first+n) of a rows x cols array of value_at.
std::vector<double> rows_of(std::uint64_t cols, perennial::BlockRange r) {
  std::vector<double> block(r.count * cols);
  for (std::uint64_t i = 0; i < block.size(); ++i) block[i] = value_at(r.first * cols + i);
  return block;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

/// Runs `call`, expecting exception E whose message contains every one of `parts`.
template <class E>
void expect_error(const std::function<void()>& call, std::initializer_list<std::string> parts) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one mentioning " << *parts.begin();
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& part : parts) EXPECT_NE(what.find(part), std::string::npos) << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}


}  // namespace

class OutputInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = perennial::testing::make_scratch_directory("perennial-test"); }
  static void TearDownTestSuite() { perennial::testing::remove_scratch_directory(dir_); }
  static fs::path file(const std::string& name) { return dir_ / name; }

  /// Writes temperature(lat, lon) of rows x cols by row blocks plus a lat coordinate.
  void write_temperature(const fs::path& path, std::uint64_t rows, std::uint64_t cols) {
    OutputFile out(world, path, {spec("temperature", DType::float64, {"lat", "lon"}, "K")},
                   {{"stage", "spinup"}, {"kernel", "heat2d"}, {"campaign", "test"}});
    const auto mine = perennial::even_split(rows, world.size(), world.rank());
    const auto block = rows_of(cols, mine);
    out.write<double>("temperature", perennial::row_block(rows, cols, mine.first, mine.count), block);
    std::vector<double> lat(rows);
    for (std::uint64_t i = 0; i < rows; ++i) lat[i] = -90.0 + 180.0 * static_cast<double>(i) / static_cast<double>(rows);
    out.write_coordinate("lat", lat, "degrees_north");
    out.close();
  }

  mpi::communicator world;
  static inline fs::path dir_;
};

TEST_F(OutputInput, RowBlocksReadBackBitForBitOnAnotherDecomposition) {
  const std::uint64_t rows = 10, cols = 7;
  const auto path = file("rows.h5");
  write_temperature(path, rows, cols);

  auto input = open_input(world, path, "spinup", "temperature");
  // Reversed order over three parts; the fourth rank reads nothing but takes part.
  const int readers = 3, part = world.size() - 1 - world.rank();
  const perennial::BlockRange r = part < readers ? perennial::even_split(rows, readers, part)
                                                 : perennial::BlockRange{0, 0};
  std::vector<double> block(r.count * cols, 1.5);
  input->read<double>(perennial::row_block(rows, cols, r.first, r.count), block);
  EXPECT_TRUE(same_bits(block, rows_of(cols, r))) << "rank " << world.rank();
}

TEST_F(OutputInput, ThreeRowsOverFourRanksLeavesOneRankEmpty) {
  const std::uint64_t rows = 3, cols = 5;
  const auto path = file("three_rows.h5");
  if (world.size() == 4) {
    ASSERT_EQ(perennial::even_split(rows, 4, 3).count, 0u);
  }
  write_temperature(path, rows, cols);

  auto input = open_input(world, path, "spinup", "temperature");
  std::vector<double> all(rows * cols);
  input->read<double>(Hyperslab::whole({rows, cols}), all);
  EXPECT_TRUE(same_bits(all, rows_of(cols, {0, rows})));
}

TEST_F(OutputInput, DtypeShapeDimsAndUnitsRoundTrip) {
  const auto path = file("metadata.h5");
  const std::uint64_t nlat = 4, nlon = 6, ntime = 5;
  {
    OutputFile out(world, path,
                   {spec("temperature", DType::float64, {"lat", "lon"}, "K"),
                    spec("mask", DType::int32, {"lat", "lon"}, "1"),
                    spec("pressure", DType::float32, {"lat"}, "hPa"),
                    spec("steps", DType::int64, {"time"}, "")},
                   {{"stage", "meta"}});
    const auto r = perennial::even_split(nlat, world.size(), world.rank());
    const auto slab = perennial::row_block(nlat, nlon, r.first, r.count);
    out.write<double>("temperature", slab, rows_of(nlon, r));
    std::vector<std::int32_t> mask(r.count * nlon);
    std::iota(mask.begin(), mask.end(), static_cast<std::int32_t>(r.first * nlon) - 7);
    out.write<std::int32_t>("mask", slab, mask);
    std::vector<float> pressure(r.count);
    for (std::uint64_t i = 0; i < r.count; ++i) pressure[i] = 1000.0f - 10.0f * static_cast<float>(r.first + i);
    out.write<float>("pressure", Hyperslab{{nlat}, {r.first}, {r.count}}, pressure);
    // A small array held by rank 0 alone; the other ranks write empty blocks.
    const bool first = world.rank() == 0;
    std::vector<std::int64_t> steps(first ? ntime : 0);
    std::iota(steps.begin(), steps.end(), std::int64_t{1} << 40);
    out.write<std::int64_t>("steps", Hyperslab{{ntime}, {0}, {first ? ntime : 0}}, steps);
    out.write_coordinate("lat", std::vector<double>{-60, -20, 20, 60}, "degrees_north");
    out.close();
  }

  auto temperature = open_input(world, path, "meta", "temperature");
  EXPECT_EQ(temperature->stage(), "meta");
  EXPECT_EQ(temperature->output(), "temperature");
  EXPECT_EQ(temperature->dtype(), DType::float64);
  EXPECT_EQ(temperature->shape(), (std::vector<std::uint64_t>{nlat, nlon}));
  EXPECT_EQ(temperature->dims(), (std::vector<std::string>{"lat", "lon"}));
  EXPECT_EQ(temperature->units(), "K");

  auto mask = open_input(world, path, "meta", "mask");
  EXPECT_EQ(mask->dtype(), DType::int32);
  EXPECT_EQ(mask->dims(), (std::vector<std::string>{"lat", "lon"}));
  EXPECT_EQ(mask->units(), "1");
  std::vector<std::int32_t> all_mask(nlat * nlon);
  mask->read<std::int32_t>(Hyperslab::whole({nlat, nlon}), all_mask);
  for (std::size_t i = 0; i < all_mask.size(); ++i) EXPECT_EQ(all_mask[i], static_cast<std::int32_t>(i) - 7);

  auto pressure = open_input(world, path, "meta", "pressure");
  EXPECT_EQ(pressure->dtype(), DType::float32);
  EXPECT_EQ(pressure->dims(), (std::vector<std::string>{"lat"}));
  EXPECT_EQ(pressure->units(), "hPa");
  std::vector<float> all_pressure(nlat);
  pressure->read<float>(Hyperslab::whole({nlat}), all_pressure);
  EXPECT_EQ(all_pressure, (std::vector<float>{1000.0f, 990.0f, 980.0f, 970.0f}));

  auto steps = open_input(world, path, "meta", "steps");
  EXPECT_EQ(steps->dtype(), DType::int64);
  EXPECT_EQ(steps->shape(), (std::vector<std::uint64_t>{ntime}));
  EXPECT_EQ(steps->dims(), (std::vector<std::string>{"time"}));
  EXPECT_EQ(steps->units(), "");
  std::vector<std::int64_t> all_steps(ntime);
  steps->read<std::int64_t>(Hyperslab::whole({ntime}), all_steps);
  EXPECT_EQ(all_steps[4], (std::int64_t{1} << 40) + 4);

  // The dims are datasets too: given coordinates with their units, or 0..n-1.
  auto lat = open_input(world, path, "meta", "lat");
  EXPECT_EQ(lat->dims(), (std::vector<std::string>{"lat"}));
  EXPECT_EQ(lat->units(), "degrees_north");
  std::vector<double> lat_values(nlat);
  lat->read<double>(Hyperslab::whole({nlat}), lat_values);
  EXPECT_EQ(lat_values, (std::vector<double>{-60, -20, 20, 60}));
  auto lon = open_input(world, path, "meta", "lon");
  EXPECT_EQ(lon->units(), "");
  std::vector<double> lon_values(nlon);
  lon->read<double>(Hyperslab::whole({nlon}), lon_values);
  EXPECT_EQ(lon_values, (std::vector<double>{0, 1, 2, 3, 4, 5}));
}

TEST_F(OutputInput, ScalarOutputIsWrittenOnceAndReadEverywhere) {
  const auto path = file("scalar.h5");
  {
    OutputFile out(world, path, {spec("energy", DType::float64, {}, "J")}, {{"stage", "scalar"}});
    // Every rank passes the value; rank 0's is stored.
    out.write<double>("energy", Hyperslab{}, std::vector<double>{42.5});
    out.close();
  }
  auto energy = open_input(world, path, "scalar", "energy");
  EXPECT_TRUE(energy->shape().empty());
  EXPECT_TRUE(energy->dims().empty());
  EXPECT_EQ(energy->units(), "J");
  std::vector<double> value(1);
  energy->read<double>(Hyperslab{}, value);
  EXPECT_EQ(value[0], 42.5);
}

TEST_F(OutputInput, DestructorWithoutCloseReleasesTheFile) {
  const auto path = file("abandoned.h5");
  try {
    OutputFile out(world, path, {spec("t", DType::float64, {"y", "x"}, "K")}, {});
    const auto r = perennial::even_split(4, world.size(), world.rank());
    out.write<double>("t", perennial::row_block(4, 2, r.first, r.count), rows_of(2, r));
    throw std::runtime_error("kernel failed mid-write");
  } catch (const std::runtime_error&) {
  }
  // HDF5 refuses to truncate a file this process still has open: the create proves the close.
  OutputFile again(world, path, {}, {});
  again.close();
}

TEST_F(OutputInput, EveryWriteMisuseThrowsKernelErrorNamingFileAndOutput) {
  const auto path = file("misuse.h5");
  const std::string name = path.string();
  OutputFile out(world, path,
                 {spec("a", DType::float64, {"y", "x"}, "m"), spec("b", DType::float64, {"y"}, "m"),
                  spec("never", DType::int32, {"x"}, "")},
                 {{"stage", "misuse"}});
  const auto r = perennial::even_split(4, world.size(), world.rank());
  const auto slab = perennial::row_block(4, 3, r.first, r.count);
  const auto block = rows_of(3, r);
  using perennial::KernelError;

  expect_error<KernelError>([&] { out.write<double>("undeclared", slab, block); },
                            {"misuse", "undeclared", name, "not declared"});
  expect_error<KernelError>(
      [&] { out.write<float>("a", slab, std::vector<float>(block.size())); },
      {"'a'", name, "float64", "float32"});
  expect_error<KernelError>(
      [&] { out.write<double>("a", Hyperslab{{4, 3, 1}, {r.first, 0, 0}, {r.count, 3, 1}}, block); },
      {"'a'", name, "rank 3"});
  expect_error<KernelError>(
      [&] { out.write<double>("a", Hyperslab{{4, 3}, {r.first, 1}, {r.count, 3}}, block); },
      {"'a'", name, "outside"});
  expect_error<KernelError>(
      [&] { out.write<double>("a", slab, std::vector<double>(block.size() + 1)); },
      {"'a'", name, "elements"});
  if (world.size() > 1) {
    // A mistake on one rank only: every rank throws, none is left inside a collective call.
    const int odd = world.size() - 1;
    expect_error<KernelError>(
        [&] {
          std::vector<double> data = block;
          if (world.rank() == odd) data.push_back(0.0);
          out.write<double>("a", slab, data);
        },
        {"'a'", name, "rank " + std::to_string(odd)});
    expect_error<KernelError>(
        [&] {
          auto other = slab;
          if (world.rank() == odd) other.global_shape = {5, 3};
          out.write<double>("a", other, block);
        },
        {"'a'", name, "rank 0's"});
  }

  out.write<double>("a", slab, block);
  expect_error<KernelError>([&] { out.write<double>("a", slab, block); }, {"'a'", name, "already written"});
  // b shares dim y with a, which has extent 4.
  expect_error<KernelError>(
      [&] { out.write<double>("b", Hyperslab{{5}, {0}, {world.rank() == 0 ? 5u : 0u}}, std::vector<double>(world.rank() == 0 ? 5 : 0)); },
      {"'b'", name, "'y'", "extent"});
  expect_error<KernelError>([&] { out.write_coordinate("z", std::vector<double>{1, 2}, "m"); },
                            {"'z'", name, "not a dimension"});
  expect_error<KernelError>([&] { out.write_coordinate("y", std::vector<double>{1, 2}, "m"); },
                            {"'y'", name, "extent 4"});
  // Closing reports the output never written, after finishing the file.
  expect_error<KernelError>([&] { out.close(); }, {"misuse", name, "never"});
  expect_error<KernelError>([&] { out.write<double>("b", slab, block); }, {name, "closed"});
  auto a = open_input(world, path, "misuse", "a");
  EXPECT_EQ(a->dims(), (std::vector<std::string>{"y", "x"}));
}

TEST_F(OutputInput, OutputNamedLikeADimensionIsRefused) {
  expect_error<perennial::KernelError>(
      [&] {
        OutputFile out(world, file("clash.h5"), {spec("lat", DType::float64, {"lat"}, "degrees_north")}, {});
      },
      {"'lat'", "dimension"});
}

TEST_F(OutputInput, EveryReadMisuseThrows) {
  const auto path = file("read_misuse.h5");
  const std::string name = path.string();
  write_temperature(path, 4, 3);
  auto input = open_input(world, path, "spinup", "temperature");
  const auto r = perennial::even_split(4, world.size(), world.rank());
  std::vector<double> block(r.count * 3);
  using perennial::KernelError;

  expect_error<KernelError>(
      [&] {
        std::vector<float> wrong(block.size());
        input->read<float>(perennial::row_block(4, 3, r.first, r.count), wrong);
      },
      {"spinup", "temperature", name, "float64", "float32"});
  expect_error<KernelError>(
      [&] { input->read<double>(Hyperslab{{4, 3}, {r.first + 1, 0}, {r.count, 3}}, block); },
      {"temperature", name, "outside"});
  expect_error<KernelError>(
      [&] { input->read<double>(perennial::row_block(5, 3, r.first, r.count), block); },
      {"temperature", name, "shape"});
  expect_error<KernelError>(
      [&] { input->read<double>(perennial::row_block(4, 3, r.first, r.count), std::span<double>(block.data(), 0)); },
      {"temperature", name, "elements"});

  const std::string missing = file("no_such_stage.h5").string();
  try {
    open_input(world, missing, "ghost", "temperature");
    ADD_FAILURE() << "opening a missing file did not throw";
  } catch (const perennial::Hdf5Error& e) {
    EXPECT_EQ(e.file(), missing);
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("open file"), std::string::npos) << e.what();
    EXPECT_FALSE(e.detail().empty());
  }
  try {
    open_input(world, path, "spinup", "salinity");
    ADD_FAILURE() << "opening a missing dataset did not throw";
  } catch (const perennial::Hdf5Error& e) {
    EXPECT_EQ(e.file(), name);
    EXPECT_EQ(e.object(), "salinity");
    EXPECT_NE(std::string(e.what()).find("salinity"), std::string::npos) << e.what();
  }
}

TEST_F(OutputInput, NcdumpAndH5dumpShowDimsAndUnits) {
  const auto path = file("tools.h5");
  write_temperature(path, 4, 3);
  if (world.rank() == 0) {
    int status = 0;
    const std::string nc = perennial::testing::run_command("ncdump -h " + path.string(), status);
    EXPECT_EQ(status, 0) << nc;
    for (const char* expected : {"lat = 4 ;", "lon = 3 ;", "double temperature(lat, lon) ;",
                                 "temperature:units = \"K\" ;", "double lat(lat) ;",
                                 "lat:units = \"degrees_north\" ;", ":stage = \"spinup\" ;",
                                 ":kernel = \"heat2d\" ;"}) {
      EXPECT_NE(nc.find(expected), std::string::npos) << "missing '" << expected << "' in\n" << nc;
    }
    const std::string h5 = perennial::testing::run_command("h5dump -H " + path.string(), status);
    EXPECT_EQ(status, 0) << h5;
    for (const char* expected : {"DATASET \"temperature\"", "DIMENSION_LIST", "ATTRIBUTE \"units\"",
                                 "REFERENCE_LIST", "H5T_IEEE_F64LE", "( 4, 3 )"}) {
      EXPECT_NE(h5.find(expected), std::string::npos) << "missing '" << expected << "' in\n" << h5;
    }
    // -H leaves out attribute values; -A shows them.
    const std::string values = perennial::testing::run_command("h5dump -A " + path.string(), status);
    EXPECT_EQ(status, 0) << values;
    for (const char* expected : {"\"DIMENSION_SCALE\"", "\"degrees_north\"", "\"spinup\""}) {
      EXPECT_NE(values.find(expected), std::string::npos) << "missing '" << expected << "' in\n" << values;
    }
  }
  world.barrier();
}

TEST_F(OutputInput, FailingCallsPrintNoHdf5Diagnostics) {
  const std::string capture_file = file("stderr-rank" + std::to_string(world.rank()) + ".txt").string();
  perennial::test::StderrCapture capture(capture_file);
  std::fputs("capture works\n", stderr);
  EXPECT_THROW(open_input(world, file("missing.h5"), "ghost", "t"), perennial::Hdf5Error);
  EXPECT_THROW(OutputFile(world, file("no/such/dir/out.h5"), {}, {}), perennial::Hdf5Error);
  const std::string err = capture.finish();
  EXPECT_NE(err.find("capture works"), std::string::npos);
  EXPECT_EQ(err.find("HDF5-DIAG"), std::string::npos) << err;
}
