// Serial tests of the HDF5 handle owners and of Hdf5Error: no MPI needed.

#include "stderr_capture.hpp"

#include <perennial/checkpoint/hdf5_error.hpp>
#include <perennial/checkpoint/hdf5_handle.hpp>

#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <string>

namespace pc = perennial::checkpoint;

namespace {
std::string scratch(const char* what) {
  return "/tmp/perennial-unit-" + std::to_string(::getpid()) + "-" + what;
}
}  // namespace

TEST(Hdf5Handle, ClosesItsIdOnDestruction) {
  pc::ensure_hdf5_quiet();
  hid_t id = -1;
  {
    pc::PropertyListHandle plist{H5Pcreate(H5P_FILE_ACCESS)};
    ASSERT_TRUE(plist.valid());
    id = plist.get();
    EXPECT_GT(H5Iis_valid(id), 0);
  }
  EXPECT_LE(H5Iis_valid(id), 0);
}

TEST(Hdf5Handle, MoveTransfersOwnership) {
  pc::DataspaceHandle a{H5Screate(H5S_SCALAR)};
  const hid_t id = a.get();
  pc::DataspaceHandle b{std::move(a)};
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(b.get(), id);
  pc::DataspaceHandle c;
  c = std::move(b);
  EXPECT_EQ(c.get(), id);
  EXPECT_GT(H5Iis_valid(id), 0);
  c.reset();
  EXPECT_FALSE(c.valid());
  EXPECT_LE(H5Iis_valid(id), 0);
}

TEST(Hdf5Handle, ReleaseGivesUpOwnership) {
  pc::DatatypeHandle type{H5Tcopy(H5T_NATIVE_DOUBLE)};
  const hid_t id = type.release();
  EXPECT_FALSE(type.valid());
  EXPECT_GT(H5Iis_valid(id), 0);
  EXPECT_GE(H5Tclose(id), 0);
}

TEST(Hdf5Handle, FailedCloseNeitherThrowsNorPrints) {
  pc::ensure_hdf5_quiet();
  const hid_t id = H5Screate(H5S_SCALAR);
  ASSERT_GE(H5Sclose(id), 0);
  perennial::test::StderrCapture capture(scratch("close.err"));
  { pc::DataspaceHandle stale{id}; }  // closing an already closed id fails inside HDF5
  const std::string err = capture.finish();
  EXPECT_EQ(err.find("HDF5-DIAG"), std::string::npos) << err;
}

// The capture does see HDF5's own printing: without ensure_hdf5_quiet() the failed open
// below would have shown up the same way.
TEST(Hdf5Quiet, FailingCallPrintsNothingButTheStackIsThere) {
  pc::ensure_hdf5_quiet();
  perennial::test::StderrCapture capture(scratch("open.err"));
  const hid_t file = H5Fopen("/nonexistent/perennial.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
  const std::string quiet = capture.finish();
  EXPECT_LT(file, 0);
  EXPECT_EQ(quiet.find("HDF5-DIAG"), std::string::npos) << quiet;

  perennial::test::StderrCapture explicit_print(scratch("print.err"));
  H5Eprint2(H5E_DEFAULT, stderr);
  const std::string printed = explicit_print.finish();
  EXPECT_NE(printed.find("HDF5-DIAG"), std::string::npos) << "capture saw nothing: " << printed;
  H5Eclear2(H5E_DEFAULT);
}

TEST(Hdf5Error, NamesFileObjectOperationAndReason) {
  const perennial::Hdf5Error e("/data/spinup.h5", "temperature", "open dataset", "object not found");
  const std::string what = e.what();
  for (const char* part : {"/data/spinup.h5", "temperature", "open dataset", "object not found"}) {
    EXPECT_NE(what.find(part), std::string::npos) << what;
  }
  EXPECT_EQ(e.file(), "/data/spinup.h5");
  EXPECT_EQ(e.object(), "temperature");
  EXPECT_EQ(e.operation(), "open dataset");
  EXPECT_EQ(e.detail(), "object not found");
  const perennial::Error& base = e;
  EXPECT_NE(std::string(base.what()).find("spinup"), std::string::npos);
}
