// Energy figures (issue 13, point 2): the RAPL counter on a fake powercap tree (these machines
// expose none), its wraps and its failures, which must read "unavailable" and never 0 joules;
// the node power model on figures worked out by hand; and the `W`/`kW` amounts it is given in.

#include <perennial/energy.hpp>
#include <perennial/errors.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

using namespace perennial;
namespace fs = std::filesystem;

namespace {

// A powercap tree in a fresh temporary folder, laid out as /sys/class/powercap is: every zone
// at the top, `intel-rapl:N` for a package, `intel-rapl:N:M` for its subzones.
class FakePowercap {
 public:
  FakePowercap() {
    std::string pattern = (fs::temp_directory_path() / "perennial-powercap-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = pattern;
    fs::create_directories(root_ / "intel-rapl");  // the control type's own folder: not a zone
    write(root_ / "intel-rapl" / "enabled", "1");
  }
  ~FakePowercap() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakePowercap(const FakePowercap&) = delete;
  FakePowercap& operator=(const FakePowercap&) = delete;

  const fs::path& root() const { return root_; }

  fs::path zone(const std::string& id, const std::string& name, std::uint64_t energy_uj,
                std::uint64_t max_energy_range_uj) {
    const fs::path folder = root_ / id;
    fs::create_directories(folder);
    write(folder / "name", name);
    write(folder / "max_energy_range_uj", std::to_string(max_energy_range_uj));
    set(id, energy_uj);
    return folder;
  }
  void set(const std::string& id, std::uint64_t energy_uj) { write(root_ / id / "energy_uj", std::to_string(energy_uj)); }

  static void write(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::trunc);
    out << text << '\n';  // sysfs attributes end in a newline
  }

 private:
  fs::path root_;
};

// One range most Intel packages report: 2^32 - 1 units of 61.035 uJ.
constexpr std::uint64_t kIntelRange = 262'143'328'850;

TEST(Powercap, TwoPackagesSumAcrossAWrapAndTheSubzoneIsLeftOut) {
  FakePowercap tree;
  tree.zone("intel-rapl:0", "package-0", 900'000, 1'000'000);  // a small range, to wrap soon
  tree.zone("intel-rapl:1", "package-1", 5'000'000, kIntelRange);
  tree.zone("intel-rapl:0:0", "core", 100, kIntelRange);       // inside package 0: must not count
  PowercapCounter counter(tree.root());
  ASSERT_TRUE(counter.available()) << counter.unavailable_reason();
  ASSERT_EQ(counter.zones().size(), 2u);
  EXPECT_EQ(counter.zones()[0].name, "package-0");
  EXPECT_EQ(counter.zones()[1].name, "package-1");
  ASSERT_EQ(counter.skipped().size(), 1u);
  EXPECT_EQ(counter.skipped()[0], "intel-rapl:0:0 (core): part of its package");

  auto first = counter.sample();  // nothing moved yet
  EXPECT_EQ(first.source, EnergySource::rapl);
  ASSERT_TRUE(first.joules);
  EXPECT_EQ(*first.joules, 0.0);
  EXPECT_EQ(first.source_text(), "rapl");

  tree.set("intel-rapl:0", 950'000);    // +50,000 uJ
  tree.set("intel-rapl:1", 6'000'000);  // +1,000,000 uJ
  tree.set("intel-rapl:0:0", 90'000'000);
  auto second = counter.sample();
  ASSERT_TRUE(second.joules) << second.source_text();
  EXPECT_DOUBLE_EQ(*second.joules, 1.05);

  // Package 0 wraps: 950,000 -> 1,000,000 is 50,000 uJ, one more to 0, then 100,000 more.
  tree.set("intel-rapl:0", 100'000);
  tree.set("intel-rapl:1", 6'500'000);  // +500,000 uJ
  auto third = counter.sample();
  ASSERT_TRUE(third.joules) << third.source_text();
  EXPECT_EQ(counter.zones()[0].used_uj, 50'000u + 150'001u);
  EXPECT_EQ(counter.zones()[1].used_uj, 1'500'000u);
  EXPECT_DOUBLE_EQ(*third.joules, 1.700001);
}

TEST(Powercap, DramCountsOnceAndPsysAndMmioNever) {
  FakePowercap tree;
  const fs::path package = tree.zone("intel-rapl:0", "package-0", 1'000, kIntelRange);
  // The package's DRAM domain, nested in its folder and linked at the top as sysfs does.
  fs::create_directories(package / "intel-rapl:0:2");
  FakePowercap::write(package / "intel-rapl:0:2" / "name", "dram");
  FakePowercap::write(package / "intel-rapl:0:2" / "max_energy_range_uj", std::to_string(kIntelRange));
  FakePowercap::write(package / "intel-rapl:0:2" / "energy_uj", "2000");
  fs::create_directory_symlink(package / "intel-rapl:0:2", tree.root() / "intel-rapl:0:2");
  tree.zone("intel-rapl:1", "psys", 7'000, kIntelRange);          // the platform: holds both
  tree.zone("intel-rapl-mmio:0", "package-0", 9'000, kIntelRange);  // package 0 read over MMIO
  PowercapCounter counter(tree.root());
  ASSERT_TRUE(counter.available()) << counter.unavailable_reason();
  ASSERT_EQ(counter.zones().size(), 2u);
  EXPECT_EQ(counter.zones()[0].id, "intel-rapl:0");
  EXPECT_EQ(counter.zones()[1].id, "intel-rapl:0:2");
  EXPECT_EQ(counter.zones()[1].name, "dram");
  ASSERT_EQ(counter.skipped().size(), 1u);
  EXPECT_NE(counter.skipped()[0].find("intel-rapl:1 (psys)"), std::string::npos) << counter.skipped()[0];

  tree.set("intel-rapl:0", 3'001'000);  // +3 J
  FakePowercap::write(package / "intel-rapl:0:2" / "energy_uj", "1002000");  // +1 J
  tree.set("intel-rapl:1", 99'000'000);
  tree.set("intel-rapl-mmio:0", 99'000'000);
  auto figure = counter.sample();
  ASSERT_TRUE(figure.joules) << figure.source_text();
  EXPECT_DOUBLE_EQ(*figure.joules, 4.0);
}

// Tests run as root here, and root reads a file of mode 000 all the same: an unreadable
// energy_uj is made a folder instead (read fails with EISDIR), or left out (ENOENT). The
// reason names the file and the system's error text either way.
TEST(Powercap, AnUnreadableCounterIsUnavailableNeverZero) {
  {
    FakePowercap tree;
    const fs::path folder = tree.zone("intel-rapl:0", "package-0", 10, kIntelRange);
    fs::remove(folder / "energy_uj");
    fs::create_directory(folder / "energy_uj");
    PowercapCounter counter(tree.root());
    EXPECT_FALSE(counter.available());
    auto figure = counter.sample();
    EXPECT_EQ(figure.source, EnergySource::unavailable);
    EXPECT_FALSE(figure.joules);
    std::string expected = "unavailable: cannot read ";  // built with +=: GCC 12 warns on "lit" + string chains
    expected += (folder / "energy_uj").string();
    expected += ": Is a directory";
    EXPECT_EQ(figure.source_text(), expected);
  }
  {
    FakePowercap tree;
    const fs::path folder = tree.zone("intel-rapl:0", "package-0", 10, kIntelRange);
    fs::remove(folder / "max_energy_range_uj");
    PowercapCounter counter(tree.root());
    auto figure = counter.sample();
    EXPECT_FALSE(figure.joules);
    std::string expected = "unavailable: cannot read ";
    expected += (folder / "max_energy_range_uj").string();
    expected += ": No such file or directory";
    EXPECT_EQ(figure.source_text(), expected);
  }
  if (::geteuid() != 0) {  // as an ordinary user, the real case: mode 0400 since Linux 5.10
    FakePowercap tree;
    const fs::path folder = tree.zone("intel-rapl:0", "package-0", 10, kIntelRange);
    fs::permissions(folder / "energy_uj", fs::perms::owner_write);
    PowercapCounter counter(tree.root());
    EXPECT_NE(counter.unavailable_reason().find("Permission denied (RAPL counters are readable by root only since Linux 5.10)"),
              std::string::npos)
        << counter.unavailable_reason();
  }
}

TEST(Powercap, ACounterThatFailsLaterStaysUnavailable) {
  FakePowercap tree;
  const fs::path folder = tree.zone("intel-rapl:0", "package-0", 10, kIntelRange);
  PowercapCounter counter(tree.root());
  ASSERT_TRUE(counter.sample().joules);
  fs::remove(folder / "energy_uj");
  auto gone = counter.sample();
  EXPECT_FALSE(gone.joules);
  EXPECT_NE(gone.note.find("No such file or directory"), std::string::npos) << gone.note;
  // Back again, but whatever was used meanwhile may hide a wrap: still unavailable.
  tree.set("intel-rapl:0", 20);
  EXPECT_FALSE(counter.sample().joules);
  EXPECT_FALSE(counter.available());
}

TEST(Powercap, NoZoneOrNonsenseIsUnavailableWithAReason) {
  {
    PowercapCounter counter("/nonexistent/powercap");
    auto figure = counter.sample();
    EXPECT_FALSE(figure.joules);
    EXPECT_EQ(figure.source_text(),
              "unavailable: no RAPL counter: cannot list /nonexistent/powercap: No such file or directory");
  }
  {
    FakePowercap tree;  // only the control type's folder
    PowercapCounter counter(tree.root());
    EXPECT_FALSE(counter.sample().joules);
    std::string expected = "no RAPL package zone under ";
    expected += tree.root().string();
    EXPECT_EQ(counter.unavailable_reason(), expected);
  }
  {
    FakePowercap tree;
    tree.zone("intel-rapl:0", "psys", 10, kIntelRange);
    PowercapCounter counter(tree.root());
    EXPECT_FALSE(counter.sample().joules);
    EXPECT_NE(counter.unavailable_reason().find("seen and not counted: intel-rapl:0 (psys)"), std::string::npos)
        << counter.unavailable_reason();
  }
  {
    FakePowercap tree;
    const fs::path folder = tree.zone("intel-rapl:0", "package-0", 10, kIntelRange);
    FakePowercap::write(folder / "energy_uj", "lots");
    PowercapCounter counter(tree.root());
    EXPECT_NE(counter.unavailable_reason().find("holds 'lots', not a whole number of microjoules"), std::string::npos)
        << counter.unavailable_reason();
  }
  {
    FakePowercap tree;
    tree.zone("intel-rapl:0", "package-0", 10, 1000);
    PowercapCounter counter(tree.root());
    ASSERT_TRUE(counter.available());
    tree.set("intel-rapl:0", 1001);
    EXPECT_FALSE(counter.sample().joules);
    EXPECT_NE(counter.unavailable_reason().find("reads 1001, beyond its max_energy_range_uj 1000"), std::string::npos)
        << counter.unavailable_reason();
  }
}

TEST(Powercap, TheWrapPeriodFollowsTheSmallestRange) {
  FakePowercap tree;
  tree.zone("intel-rapl:0", "package-0", 0, kIntelRange);
  tree.zone("intel-rapl:1", "package-1", 0, 65'535'999'000);  // 15.3 uJ units, as AMD counts
  PowercapCounter counter(tree.root());
  EXPECT_NEAR(counter.seconds_per_wrap(500.0), 131.07, 0.01);  // more than twice kPowercapSampleSeconds
  EXPECT_GT(counter.seconds_per_wrap(500.0), 2 * kPowercapSampleSeconds);
  FakePowercap only_intel;
  only_intel.zone("intel-rapl:0", "package-0", 0, kIntelRange);
  EXPECT_NEAR(PowercapCounter(only_intel.root()).seconds_per_wrap(300.0), 873.8, 0.1);  // about 15 min
}

// A 64-core node drawing 120 W idle, 450 W with every core busy, 300 W more per busy GPU.
const NodePower kNode{120.0, 450.0, 300.0};

TEST(EnergyModel, IdleShareDynamicPerCpuSecondAndGpus) {
  NodeUse use;
  use.wall_seconds = 3600;
  use.reserved_cores = 16;
  use.node_cores = 64;
  use.cpu_seconds = 36'000;  // 10 cores busy on average
  use.gpus = 2;
  auto figure = model_energy(kNode, use);
  // idle 120 x 16/64 x 3600 = 108,000; dynamic 330/64 x 36,000 = 185,625; GPUs 300 x 2 x 3600 = 2,160,000
  EXPECT_EQ(figure.source, EnergySource::model);
  ASSERT_TRUE(figure.joules);
  EXPECT_DOUBLE_EQ(*figure.joules, 2'453'625.0);
  EXPECT_EQ(figure.source_text(), "model");
}

TEST(EnergyModel, UnknownCpuUseCountsTheReservedCoresBusyAndSaysSo) {
  NodeUse use;
  use.wall_seconds = 3600;
  use.reserved_cores = 16;
  use.node_cores = 64;
  auto figure = model_energy(kNode, use);
  // idle 108,000; dynamic 330/64 x 16 x 3600 = 297,000
  ASSERT_TRUE(figure.joules);
  EXPECT_DOUBLE_EQ(*figure.joules, 405'000.0);
  EXPECT_EQ(figure.source_text(), "model (CPU use unknown: the 16 reserved cores counted busy for all 3600 s)");
}

TEST(EnergyModel, AWholeBusyNodeDrawsItsFullLoadPower) {
  NodeUse use;
  use.wall_seconds = 60;
  use.reserved_cores = 64;
  use.node_cores = 64;
  use.cpu_seconds = 64 * 60;
  EXPECT_DOUBLE_EQ(*model_energy(kNode, use).joules, 450.0 * 60);
  use.cpu_seconds = 0;  // reserved and idle: the whole idle draw
  EXPECT_DOUBLE_EQ(*model_energy(kNode, use).joules, 120.0 * 60);
  use.cpu_seconds = 5000;  // more than 64 cores give in 60 s: counted as 3840
  auto figure = model_energy(kNode, use);
  EXPECT_DOUBLE_EQ(*figure.joules, 450.0 * 60);
  EXPECT_EQ(figure.note, "CPU use 5000 s is more than the node's 64 cores give in 60 s; counted as 3840 s");
}

TEST(EnergyModel, ImpossibleInputsAreErrors) {
  NodeUse use;
  use.wall_seconds = 10;
  use.reserved_cores = 4;
  use.node_cores = 8;
  EXPECT_NO_THROW(model_energy(kNode, use));
  EXPECT_THROW(model_energy(NodePower{200, 100, 0}, use), Error);
  EXPECT_THROW(model_energy(NodePower{-1, 100, 0}, use), Error);
  NodeUse bad = use;
  bad.reserved_cores = 9;
  EXPECT_THROW(model_energy(kNode, bad), Error);
  bad = use;
  bad.wall_seconds = -1;
  EXPECT_THROW(model_energy(kNode, bad), Error);
  bad = use;
  bad.cpu_seconds = -1;
  EXPECT_THROW(model_energy(kNode, bad), Error);
  bad = use;
  bad.node_cores = 0;
  EXPECT_THROW(model_energy(kNode, bad), Error);
}

TEST(Watts, UnitsAndProblems) {
  EXPECT_EQ(parse_watts("120W"), 120.0);
  EXPECT_EQ(parse_watts("120 W"), 120.0);
  EXPECT_EQ(parse_watts("450"), 450.0);
  EXPECT_EQ(parse_watts("1.2kW"), 1200.0);
  EXPECT_EQ(parse_watts("2 KW"), 2000.0);
  EXPECT_EQ(parse_watts("-5W"), -5.0);  // bounds are the caller's
  std::string problem;
  EXPECT_FALSE(parse_watts("lots", &problem));
  EXPECT_EQ(problem, "'lots' is not a power (e.g. 450W, 1.2kW, or a plain number of watts)");
  EXPECT_FALSE(parse_watts("450 hp", &problem));
  EXPECT_EQ(problem, "'450 hp': unknown unit 'hp' (W or kW; a plain number is watts)");
  EXPECT_FALSE(parse_watts("", &problem));
  EXPECT_FALSE(parse_watts("nan", &problem));
  EXPECT_EQ(format_watts(450), "450 W");
  EXPECT_EQ(format_watts(1200), "1.2 kW");
}

}  // namespace
