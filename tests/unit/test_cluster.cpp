// The cluster a campaign declares (issue 6, first step): host lists, memory amounts, the
// `cluster:` section and per-rank resources, and the validation that refuses a request no
// node set can ever satisfy, naming the stage and the resource.

#include "test_support.hpp"

#include <perennial/cluster.hpp>
#include <perennial/coordinator/resources.hpp>
#include <perennial/errors.hpp>

#include <cstdint>
#include <limits>

using namespace perennial;
using namespace perennial::testing;

namespace {

TEST(HostList, ExpandsRangesListsAndPadding) {
  EXPECT_EQ(expand_hostlist("login1"), std::vector<std::string>{"login1"});
  EXPECT_EQ(expand_hostlist("cpu[0001-0003]"), (std::vector<std::string>{"cpu0001", "cpu0002", "cpu0003"}));
  EXPECT_EQ(expand_hostlist("gpu[1-2,7]"), (std::vector<std::string>{"gpu1", "gpu2", "gpu7"}));
  EXPECT_EQ(expand_hostlist("r[1-2]-n[01-02]"), (std::vector<std::string>{"r1-n01", "r1-n02", "r2-n01", "r2-n02"}));
  EXPECT_EQ(expand_hostlist("cpu[0001-0900]").size(), 900u);
}

TEST(HostList, MalformedListsAreErrorsNamingThePattern) {
  EXPECT_THROW(expand_hostlist("cpu[10-2]"), Error);
  EXPECT_THROW(expand_hostlist("cpu[1-x]"), Error);
  EXPECT_THROW(expand_hostlist("cpu[1-2"), Error);
  EXPECT_THROW(expand_hostlist("n[1-5000000]"), Error);
  try {
    expand_hostlist("cpu[10-2]");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'cpu[10-2]'"), std::string::npos) << e.what();
  }
}

TEST(Bytes, DecimalAndBinaryUnits) {
  EXPECT_EQ(parse_bytes("256GB"), 256'000'000'000ull);
  EXPECT_EQ(parse_bytes("512GiB"), 512ull << 30);
  EXPECT_EQ(parse_bytes("800 MB"), 800'000'000ull);
  EXPECT_EQ(parse_bytes("1.5TB"), 1'500'000'000'000ull);
  EXPECT_EQ(parse_bytes("4096"), 4096ull);
  EXPECT_FALSE(parse_bytes("lots"));
  EXPECT_FALSE(parse_bytes("12 parsecs"));
  EXPECT_EQ(format_bytes(512ull << 30), "512 GiB");
}

const char* kCluster = R"(campaign: c
cluster:
  nodes:
    - {name: "cpu[0001-0900]", cores: 128, memory: 256GB}
    - {name: "gpu[001-100]", cores: 64, memory: 512GB, gpus: 4, features: [a100]}
stages:
)";

TEST(Cluster, TheSectionIsReadWithEveryNode) {
  auto c = check_campaign(std::string(kCluster) + "  - {name: s, kernel: any, ranks: 4, cores_per_rank: 32}\n");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& cluster = c.graph->campaign().cluster;
  ASSERT_EQ(cluster.classes.size(), 2u);
  EXPECT_EQ(cluster.node_count(), 1000u);
  EXPECT_EQ(cluster.classes[1].gpus, 4);
  EXPECT_EQ(cluster.classes[1].memory_bytes, 512'000'000'000ull);
  EXPECT_EQ(cluster.classes[1].features, std::vector<std::string>{"a100"});
  EXPECT_EQ(c.graph->stage(0).cores_per_rank, 32);
}

TEST(Cluster, AGpuStageFitsOnlyTheGpuNodes) {
  auto c = check_campaign(std::string(kCluster) +
                          "  - {name: g, kernel: any, ranks: 8, gpus_per_rank: 1, features: [a100]}\n");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& s = c.graph->stage(0);
  const auto& cluster = c.graph->campaign().cluster;
  EXPECT_EQ(ranks_per_node(s, cluster.classes[0]), 0u);  // no GPUs, no a100
  EXPECT_EQ(ranks_per_node(s, cluster.classes[1]), 4u);  // 4 GPUs of one each
  EXPECT_EQ(cluster_rank_capacity(s, cluster), 400u);
}

TEST(Cluster, ImpossibleRequestsNameTheStageAndTheResource) {
  auto c = check_campaign(std::string(kCluster) +
                          "  - {name: many-gpus, kernel: any, gpus_per_rank: 8}\n"             // line 7
                          "  - {name: wide, kernel: any, cores_per_rank: 256}\n"               // line 8
                          "  - {name: big, kernel: any, memory_per_rank: 1TB}\n"               // line 9
                          "  - {name: h100, kernel: any, features: [h100]}\n"                  // line 10
                          "  - {name: huge, kernel: any, ranks: 500, gpus_per_rank: 1}\n"      // line 11
                          "  - {name: mixed, kernel: any, cores_per_rank: 100, gpus_per_rank: 1}\n");  // line 12
  EXPECT_TRUE(c.has(7, "stages.many-gpus.gpus_per_rank: asks 8 GPUs per rank, but the most any node has is 4 (gpu[001-100])"))
      << c.text();
  EXPECT_TRUE(c.has(8, "stages.wide.cores_per_rank: asks 256 cores per rank, but the largest node has 128")) << c.text();
  EXPECT_TRUE(c.has(9, "stages.big.memory_per_rank: asks 931 GiB per rank, but the largest node has 477 GiB")) << c.text();
  EXPECT_TRUE(c.has(10, "stages.h100.features: needs node feature 'h100', which no node of the cluster has")) << c.text();
  EXPECT_TRUE(c.has(11, "stages.huge.ranks: asks 500 ranks, but the whole cluster can hold at most 400")) << c.text();
  EXPECT_TRUE(c.has(12, "stages.mixed: no node has everything one rank asks for at once (100 cores, 1 GPUs)")) << c.text();
}

TEST(Cluster, BadNodeEntriesAreErrorsWithTheirLine) {
  auto c = check_campaign(R"(campaign: c
cluster:
  nodes:
    - {name: "cpu[1-x]", cores: 8}
    - {name: "n[1-2]", memory: lots}
    - {name: "n2", cores: 4}
stages:
  - {name: s, kernel: any}
)");
  EXPECT_TRUE(c.has(4, "cluster.nodes[0].name: host list 'cpu[1-x]'")) << c.text();
  EXPECT_TRUE(c.has(5, "cluster.nodes[1].memory: 'lots' is not an amount of memory")) << c.text();
  EXPECT_TRUE(c.has(5, "missing required field 'cores'")) << c.text();
  EXPECT_TRUE(c.has(6, "host 'n2' is already listed")) << c.text();
}

// Issue 12: a node declared with 2^31 - 1 cores summed to "-2 cores" and a stage that never ran.
TEST(Cluster, NodeCountsHaveBoundsWithTheirLine) {
  auto c = check_campaign(R"(campaign: c
cluster:
  nodes:
    - {name: "n[1-2]", cores: 2147483647}
    - {name: m1, cores: 64, gpus: 1000001, memory: 2PiB}
    - {name: "h[1-99999999999999999999999]", cores: 1}
stages:
  - {name: s, kernel: any}
)");
  EXPECT_TRUE(c.has(4, "cluster.nodes[0].cores: must be at most 1000000, not 2147483647")) << c.text();
  EXPECT_TRUE(c.has(5, "cluster.nodes[1].gpus: must be at most 1000000, not 1000001")) << c.text();
  EXPECT_TRUE(c.has(5, "cluster.nodes[1].memory: must be at most 1 PiB, not '2PiB'")) << c.text();
  EXPECT_TRUE(c.has(6, "cluster.nodes[2].name: host list 'h[1-99999999999999999999999]'")) << c.text();
}

TEST(Cluster, ClusterTotalsMustBeCountable) {
  auto c = check_campaign(R"(campaign: c
cluster:
  nodes:
    - {name: "a[0001-2000]", cores: 1000000}
    - {name: "b[0001-0200]", cores: 1000000}
stages:
  - {name: s, kernel: any}
)");
  EXPECT_TRUE(c.has(5, "cluster.nodes[1].cores: the cluster's nodes hold 2200000000 cores in all")) << c.text();
  EXPECT_EQ(c.diagnostics.size(), 1u) << c.text();
}

TEST(Machine, CoreTotalsAreCountedIn64Bits) {
  Machine m;
  const int most = std::numeric_limits<int>::max();
  m.add_node({"a", most, 0, 0, 0});
  m.add_node({"b", most, 0, 0, 0});
  EXPECT_EQ(m.total_cores(), 2 * std::int64_t{most});
  EXPECT_EQ(m.free_cores(), 2 * std::int64_t{most});
  ResourceRequest r;
  r.ranks = 1'000'000;
  r.per_rank.cores = 1'000'000;
  EXPECT_EQ(r.cores(), std::int64_t{1'000'000'000'000});
}

TEST(Cluster, ProjectsCarryAShare) {
  auto c = check_campaign(R"(campaign: c
projects:
  - {name: a, share: 3}
  - {name: b}
stages:
  - {name: s, kernel: any, project: a}
)");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  EXPECT_EQ(c.graph->campaign().projects[0].share, 3.0);
  EXPECT_EQ(c.graph->campaign().projects[1].share, 1.0);
}


// Issue 13: a node's power draw, for the energy model where RAPL cannot be read.
TEST(Cluster, NodesMayDeclareTheirPower) {
  auto c = check_campaign(R"(campaign: c
cluster:
  nodes:
    - {name: "cpu[1-4]", cores: 64, power: {idle: 120W, busy: 0.45kW}}
    - {name: "gpu[1-2]", cores: 32, gpus: 4, power: {idle: 200, busy: 600 W, gpu: 300W}}
    - {name: plain, cores: 8}
stages:
  - {name: s, kernel: any}
)");
  ASSERT_TRUE(c.diagnostics.empty()) << c.text();
  const auto& classes = c.graph->campaign().cluster.classes;
  ASSERT_TRUE(classes[0].power);
  EXPECT_DOUBLE_EQ(classes[0].power->idle_watts, 120.0);
  EXPECT_DOUBLE_EQ(classes[0].power->busy_watts, 450.0);
  EXPECT_DOUBLE_EQ(classes[0].power->gpu_watts, 0.0);
  ASSERT_TRUE(classes[1].power);
  EXPECT_DOUBLE_EQ(classes[1].power->idle_watts, 200.0);
  EXPECT_DOUBLE_EQ(classes[1].power->busy_watts, 600.0);
  EXPECT_DOUBLE_EQ(classes[1].power->gpu_watts, 300.0);
  EXPECT_FALSE(classes[2].power);
}

TEST(Cluster, BadPowerIsAnErrorWithItsFieldAndLine) {
  auto c = check_campaign(R"(campaign: c
cluster:
  nodes:
    - {name: a, cores: 8, power: {idle: -5W, busy: 100W}}
    - {name: b, cores: 8, power: {idle: lots, busy: 100W}}
    - {name: c, cores: 8, power: {idle: 100W, busy: 450hp}}
    - {name: d, cores: 8, power: {idle: 100W, busy: 450W, peak: 500W}}
    - {name: e, cores: 8, power: {idle: 200W, busy: 150W}}
    - {name: f, cores: 8, power: {idle: 100W}}
    - {name: g, cores: 8, gpus: 2, power: {idle: 100W, busy: 400W}}
    - {name: h, cores: 8, power: 450W}
    - {name: i, cores: 8, power: {idle: 100W, busy: 2000kW}}
    - {name: j, cores: 8, power: {idle: [1, 2], busy: 400W}}
stages:
  - {name: s, kernel: any}
)");
  EXPECT_NE(c.text().find("/campaigns/test.yaml:4:"), std::string::npos) << c.text();
  EXPECT_TRUE(c.has(4, "cluster.nodes[0].power.idle: must be at least 0 W, not '-5W'")) << c.text();
  EXPECT_TRUE(c.has(5, "cluster.nodes[1].power.idle: 'lots' is not a power (e.g. 450W, 1.2kW, or a plain number of watts)"))
      << c.text();
  EXPECT_TRUE(c.has(6, "cluster.nodes[2].power.busy: '450hp': unknown unit 'hp' (W or kW; a plain number is watts)"))
      << c.text();
  EXPECT_TRUE(c.has(7, "cluster.nodes[3].power.peak: unknown field 'peak'")) << c.text();
  EXPECT_TRUE(c.has(8, "cluster.nodes[4].power.busy: must be at least the idle power (200 W), not '150W'")) << c.text();
  EXPECT_TRUE(c.has(9, "cluster.nodes[5].power: missing required field 'busy'")) << c.text();
  EXPECT_TRUE(c.has(10, "cluster.nodes[6].power: missing required field 'gpu' (the watts each of the node's 2 GPUs adds"))
      << c.text();
  EXPECT_TRUE(c.has(11, "cluster.nodes[7].power: must be a mapping")) << c.text();
  EXPECT_TRUE(c.has(12, "cluster.nodes[8].power.busy: must be at most 1 MW, not '2000kW'")) << c.text();
  EXPECT_TRUE(c.has(13, "cluster.nodes[9].power.idle: must be a single value")) << c.text();
  EXPECT_EQ(c.diagnostics.size(), 10u) << c.text();
}

}  // namespace
