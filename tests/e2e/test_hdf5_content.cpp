// The content comparison the bit-identity checks rely on (same_content), watched failing:
// two real outputs of one heat2d stage written on 1 and on 2 ranks, then copies of them
// damaged one way each. Every difference must be found and named; an unreadable file must
// fail the comparison, never pass it.

#include "e2e_support.hpp"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <hdf5_hl.h>

#include <fstream>
#include <functional>

using namespace perennial::e2e;
namespace fs = std::filesystem;

namespace {

// The same stage twice, on 1 and on 2 ranks, from the same state: the same content apart
// from the `stage` attribute and the checksum tables.
const fs::path& outputs() {
  static const fs::path dir = [] {
    auto d = fresh_directory("hdf5-content");
    const std::string stage =
        "    kernel: heat2d\n    steps: 20\n    parameters: {nx: 16, ny: 12, forcing: 1.0}\n"
        "    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}\n";
    std::ofstream(d / "campaign.yaml") << "campaign: content\nstages:\n  - name: one\n    ranks: 1\n" << stage
                                       << "  - name: two\n    ranks: 2\n" << stage;
    auto run = run_perennial(3, (d / "campaign.yaml").string() + " --quiet --output-dir " + (d / "run").string(), 120);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return d / "run" / "outputs";
  }();
  return dir;
}

// A copy of `file` changed by `change`, which gets the copy opened read-write.
fs::path changed_copy(const fs::path& file, const std::string& name, const std::function<void(hid_t)>& change) {
  const auto copy = outputs().parent_path() / name;
  fs::copy_file(file, copy, fs::copy_options::overwrite_existing);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t f = H5Fopen(copy.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  EXPECT_GE(f, 0) << copy;
  change(f);
  EXPECT_GE(H5Fclose(f), 0) << copy;
  return copy;
}

// Flips one bit of a fixed-size string attribute's value, as a bad disk block would.
void flip_attribute_bit(hid_t object, const char* name) {
  const hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  ASSERT_GE(attribute, 0) << name;
  const hid_t type = H5Aget_type(attribute);
  std::string value(H5Tget_size(type), '\0');
  ASSERT_GE(H5Aread(attribute, type, value.data()), 0);
  value[0] = static_cast<char>(value[0] ^ 0x01);
  ASSERT_GE(H5Awrite(attribute, type, value.data()), 0);
  H5Tclose(type);
  H5Aclose(attribute);
}

// Expects `result` to be a failure whose message contains every one of `parts`.
void expect_named(const ::testing::AssertionResult& result, std::initializer_list<std::string> parts) {
  EXPECT_FALSE(result) << "the difference was not found";
  for (const auto& part : parts) {
    EXPECT_NE(std::string(result.message()).find(part), std::string::npos)
        << "'" << part << "' not in: " << result.message();
  }
}

const ContentRules kOtherRanks{.same_writer_ranks = false, .differing_attributes = {"/@stage"}};

TEST(Hdf5Content, FindsAndNamesEveryKindOfDifference) {
  const auto one = outputs() / "one.h5", two = outputs() / "two.h5";
  ASSERT_TRUE(fs::exists(one) && fs::exists(two));

  EXPECT_TRUE(same_content(one, one));
  EXPECT_TRUE(same_content(one, two, kOtherRanks));
  // The two files differ where they must, and the comparison sees it when not told.
  expect_named(same_content(one, two, {.same_writer_ranks = false, .differing_attributes = {}}),
               {"/@stage: attribute value 'one' vs 'two'"});
  expect_named(same_content(one, two, {.same_writer_ranks = true, .differing_attributes = {"/@stage"}}),
               {"/perennial_checksums/temperature: dataset shape [1, 5] vs [2, 5]"});

  // A flipped bit in an attribute of the root, and in the units of the data.
  expect_named(same_content(one, changed_copy(one, "kernel.h5", [](hid_t f) { flip_attribute_bit(f, "kernel"); })),
               {"/@kernel: attribute value 'heat2d' vs 'ieat2d'"});
  const auto units = changed_copy(one, "units.h5", [](hid_t f) {
    const hid_t d = H5Dopen2(f, "temperature", H5P_DEFAULT);
    flip_attribute_bit(d, "units");
    H5Dclose(d);
  });
  expect_named(same_content(one, units), {"/temperature@units: attribute value 'K' vs 'J'"});
  expect_named(same_content(units, two, kOtherRanks), {"/temperature@units"});

  // A flipped bit in the data, on disk.
  const auto data = outputs().parent_path() / "data.h5";
  fs::copy_file(one, data, fs::copy_options::overwrite_existing);
  {
    const hid_t f = H5Fopen(data.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "temperature", H5P_DEFAULT);
    const haddr_t offset = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    ASSERT_NE(offset, HADDR_UNDEF);
    std::fstream io(data, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(offset + (3 * 16 + 5) * 8);  // element [3, 5], lowest byte
    io.seekg(at);
    char byte = 0;
    io.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x01);
    io.seekp(at);
    io.write(&byte, 1);
  }
  expect_named(same_content(one, data), {"/temperature: data differ in 1 element(s), first at element [3, 5]"});
  expect_named(same_content(data, two, kOtherRanks), {"/temperature: data differ", "element [3, 5]"});

  // A coordinate value, and a dimension scale detached from its axis.
  expect_named(same_content(one, changed_copy(one, "lat.h5", [](hid_t f) {
                 const hid_t d = H5Dopen2(f, "lat", H5P_DEFAULT);
                 const hid_t space = H5Dget_space(d);
                 const hsize_t start = 7, count = 1;
                 H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &count, nullptr);
                 const hid_t memory = H5Screate_simple(1, &count, nullptr);
                 const double value = 1.5;
                 EXPECT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, memory, space, H5P_DEFAULT, &value), 0);
                 H5Sclose(memory);
                 H5Sclose(space);
                 H5Dclose(d);
               })),
               {"/lat: data differ in 1 element(s), first at element [7]"});
  expect_named(same_content(one, changed_copy(one, "detached.h5", [](hid_t f) {
                 const hid_t d = H5Dopen2(f, "temperature", H5P_DEFAULT);
                 const hid_t lon = H5Dopen2(f, "lon", H5P_DEFAULT);
                 EXPECT_GE(H5DSdetach_scale(d, lon, 1), 0);
                 H5Dclose(lon);
                 H5Dclose(d);
               })),
               {"/temperature: dimension scales [/lat] [/lon] vs [/lat] []", "/lon@REFERENCE_LIST"});

  // An attribute or a dataset more.
  expect_named(same_content(one, changed_copy(one, "extra.h5", [](hid_t f) {
                 EXPECT_GE(H5LTset_attribute_string(f, "temperature", "long_name", "surface temperature"), 0);
                 const hsize_t n = 3;
                 const double values[3] = {1, 2, 3};
                 EXPECT_GE(H5LTmake_dataset_double(f, "extra", 1, &n, values), 0);
               })),
               {"/temperature@long_name: attribute only in the second file", "/extra: dataset only in the second file"});

  // A checksum table that no longer describes its data, on another rank count.
  expect_named(same_content(one, changed_copy(two, "table.h5", [](hid_t f) {
                 const hid_t d = H5Dopen2(f, "perennial_checksums/temperature", H5P_DEFAULT);
                 std::uint64_t rows[2][5];
                 EXPECT_GE(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
                 rows[1][4] ^= 1;
                 EXPECT_GE(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
                 H5Dclose(d);
               }), kOtherRanks),
               {"/perennial_checksums/temperature row 1 in", "table.h5: the XXH3 of its block of /temperature"});

  // A file that cannot be read fails the comparison, naming it and the call.
  const auto truncated = outputs().parent_path() / "truncated.h5";
  fs::copy_file(one, truncated, fs::copy_options::overwrite_existing);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  expect_named(same_content(one, truncated), {"cannot compare", truncated.string() + ": /: H5Fopen failed"});
  EXPECT_THROW(read_dataset(truncated, "temperature"), Hdf5ReadError);
  try {
    read_dataset(one, "no-such-dataset");
    ADD_FAILURE() << "read a dataset that does not exist";
  } catch (const Hdf5ReadError& e) {
    EXPECT_NE(std::string(e.what()).find(one.string() + ": no-such-dataset: H5Dopen2 failed"), std::string::npos)
        << e.what();
  }
}

}  // namespace
