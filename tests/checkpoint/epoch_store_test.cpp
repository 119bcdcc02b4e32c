// EpochStore without MPI: naming, listing, stale partials and pruning of checkpoint files.

#include <perennial/checkpoint/epoch_store.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using perennial::checkpoint::CommittedEpoch;
using perennial::checkpoint::EpochStore;

namespace {

class EpochStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path("/tmp") / ("perennial-epochs-" + std::to_string(::getpid()) + "-" +
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void touch(const fs::path& path) { std::ofstream(path) << "x"; }

  std::vector<std::uint64_t> epochs(const EpochStore& store) const {
    std::vector<std::uint64_t> out;
    for (const auto& e : store.committed()) out.push_back(e.epoch);
    return out;
  }

  fs::path root_;
};

}  // namespace

TEST_F(EpochStoreTest, PathsAreZeroPaddedAndBothSpellingsParse) {
  const EpochStore store = EpochStore::for_stage(root_, "ocean");
  EXPECT_EQ(store.dir(), root_ / "checkpoints" / "ocean");
  EXPECT_EQ(store.path_for(12), root_ / "checkpoints" / "ocean" / "epoch-000012.h5");
  EXPECT_EQ(store.path_for(1234567).filename(), "epoch-1234567.h5");
  EXPECT_EQ(EpochStore::parse_epoch("epoch-000012.h5"), 12u);
  EXPECT_EQ(EpochStore::parse_epoch("epoch-12.h5"), 12u);
  EXPECT_EQ(EpochStore::parse_epoch("epoch-0.h5"), 0u);
  for (const char* bad : {"epoch-.h5", "epoch-12.h5.partial", "epoch-1x.h5", "epoch--1.h5", "epoch-12.nc",
                          "Epoch-12.h5", "epoch-99999999999999999999999.h5", "notes.txt"}) {
    EXPECT_FALSE(EpochStore::parse_epoch(bad)) << bad;
  }
}

TEST_F(EpochStoreTest, MissingDirectoryHoldsNothing) {
  const EpochStore store(root_ / "nowhere");
  EXPECT_TRUE(store.committed().empty());
  EXPECT_TRUE(store.remove_partials().empty());
  EXPECT_TRUE(store.prune(1, 5).empty());
}

TEST_F(EpochStoreTest, CommittedListsFinalNamesInEpochOrder) {
  const EpochStore store(root_);
  store.create();
  touch(store.path_for(3));
  touch(root_ / "epoch-1.h5");  // unpadded, as an older or foreign writer may name it
  touch(store.path_for(20));
  touch(root_ / "epoch-000007.h5.partial");
  touch(root_ / "notes.txt");
  fs::create_directory(root_ / "epoch-000009.h5");  // a directory is not a checkpoint
  const auto listed = store.committed();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0], (CommittedEpoch{1, root_ / "epoch-1.h5"}));
  EXPECT_EQ(listed[1], (CommittedEpoch{3, store.path_for(3)}));
  EXPECT_EQ(listed[2], (CommittedEpoch{20, store.path_for(20)}));
}

TEST_F(EpochStoreTest, RemovePartialsDeletesOnlyCheckpointPartials) {
  const EpochStore store(root_);
  store.create();
  touch(root_ / "epoch-000004.h5.partial");
  touch(root_ / "epoch-5.h5.partial");
  touch(root_ / "summary.h5.partial");  // not a checkpoint writer's: left alone
  touch(store.path_for(3));
  const auto removed = store.remove_partials();
  EXPECT_EQ(removed, (std::vector<fs::path>{root_ / "epoch-000004.h5.partial", root_ / "epoch-5.h5.partial"}));
  EXPECT_FALSE(fs::exists(root_ / "epoch-000004.h5.partial"));
  EXPECT_TRUE(fs::exists(root_ / "summary.h5.partial"));
  EXPECT_TRUE(fs::exists(store.path_for(3)));
  EXPECT_EQ(epochs(store), (std::vector<std::uint64_t>{3}));
}

TEST_F(EpochStoreTest, PruneKeepsTheNewestAndNeverTheVerifiedOrNewer) {
  const EpochStore store(root_);
  store.create();
  for (std::uint64_t e : {1, 2, 3, 4, 5, 6}) touch(store.path_for(e));

  // Nothing is known good: nothing goes.
  EXPECT_TRUE(store.prune(2, std::nullopt).empty());
  EXPECT_EQ(epochs(store), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6}));

  // 5 and 6 are the newest two, but only 3 verified: 3 and everything after it stay.
  auto removed = store.prune(2, 3);
  EXPECT_EQ(removed, (std::vector<fs::path>{store.path_for(1), store.path_for(2)}));
  EXPECT_EQ(epochs(store), (std::vector<std::uint64_t>{3, 4, 5, 6}));

  // Verified newest: the count rules.
  removed = store.prune(2, 6);
  EXPECT_EQ(removed, (std::vector<fs::path>{store.path_for(3), store.path_for(4)}));
  EXPECT_EQ(epochs(store), (std::vector<std::uint64_t>{5, 6}));

  // keep 0 still keeps the verified one.
  removed = store.prune(0, 6);
  EXPECT_EQ(removed, (std::vector<fs::path>{store.path_for(5)}));
  EXPECT_EQ(epochs(store), (std::vector<std::uint64_t>{6}));

  // Keeping more than there are deletes nothing.
  EXPECT_TRUE(store.prune(10, 6).empty());
}

TEST_F(EpochStoreTest, PruneLeavesPartialsAndForeignFilesAlone) {
  const EpochStore store(root_);
  store.create();
  for (std::uint64_t e : {1, 2, 3}) touch(store.path_for(e));
  touch(root_ / "epoch-000001.h5.partial");
  touch(root_ / "readme.txt");
  store.prune(1, 3);
  EXPECT_EQ(epochs(store), (std::vector<std::uint64_t>{3}));
  EXPECT_TRUE(fs::exists(root_ / "epoch-000001.h5.partial"));
  EXPECT_TRUE(fs::exists(root_ / "readme.txt"));
}
