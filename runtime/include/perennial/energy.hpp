#pragma once
// Energy figures for the accounting: what a node's CPU packages used, measured by Intel RAPL
// through Linux powercap, or, where that counter cannot be read, modelled from the power the
// campaign declares for the node. Every figure says which; an unreadable counter gives
// "unavailable", never 0 joules. Plain C++, no MPI: the caller picks the rank that reads.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perennial {

/// Where an energy figure came from.
enum class EnergySource { rapl, model, unavailable };

/// `rapl`, `model` or `unavailable`.
std::string_view to_string(EnergySource source);

/// One energy figure and its source. `joules` is set exactly when the source is not
/// `unavailable`, so a figure nobody could measure cannot be summed as 0 by mistake.
struct EnergyFigure {
  EnergySource source = EnergySource::unavailable;
  std::optional<double> joules;
  std::string note;  ///< why it is unavailable, or what the model had to assume; else empty

  /// What the accounting stores next to the figure: `rapl`, `model`, `model (<note>)` or
  /// `unavailable: <reason>`.
  std::string source_text() const;

  static EnergyFigure unavailable(std::string reason);
};

/// One powercap zone a PowercapCounter adds up: a CPU package, or the DRAM attached to one.
struct PowercapZone {
  std::string id;                         ///< `intel-rapl:0`, `intel-rapl:0:2`
  std::string name;                       ///< `package-0`, `dram`, as the zone's `name` file says
  std::filesystem::path folder;
  std::uint64_t max_energy_range_uj = 0;  ///< energy_uj runs from 0 to this, then starts again at 0
  std::uint64_t last_uj = 0;              ///< energy_uj at the latest read
  std::uint64_t used_uj = 0;              ///< microjoules since the counter was made, wraps included
};

/// How often a PowercapCounter must be sampled, at the least. A zone's counter wraps after
/// max_energy_range_uj, and two wraps between samples look like one: the energy of a whole
/// range is lost without a trace. Most Intel packages count in 61 uJ units on 32 bits, a range
/// of 2^32 x 61 uJ = 262 kJ (max_energy_range_uj = 262143328850), which a 300 W package goes
/// through in 15 min; AMD packages and some Intel DRAM domains count in 15.3 uJ units, a range
/// of 65.5 kJ, gone through in 2 min 11 s at 500 W. Once a minute keeps a factor of two on
/// every part we know of; PowercapCounter::seconds_per_wrap gives the figure for this node.
inline constexpr double kPowercapSampleSeconds = 60.0;

/// The energy a node's CPU packages and their DRAM used, from the RAPL counters Linux exposes
/// under /sys/class/powercap. The counters belong to the node, not to a process: one rank per
/// node reads them, and a node shared by several stages must share out the figure itself.
///
/// Zones added up: top-level `intel-rapl:N` zones named `package-*` (one per socket, or per die
/// on multi-die parts), and zones named `dram` (shown as subzones `intel-rapl:N:M` of their
/// package, but not part of its energy: Intel's package domain excludes the memory). Left out,
/// and listed by skipped(): `core` and `uncore` subzones, which the package already holds;
/// `psys` (the whole platform on some client parts), which holds the packages and DRAM both;
/// `intel-rapl-mmio:*`, the same package counter read another way.
///
/// Since Linux 5.10 energy_uj is readable by root only (mode 0400: the PLATYPUS attack read
/// secrets from fine-grained energy readings). A run as an ordinary user finds the counter
/// unavailable, with the file and the system's error text as the reason, and falls back on
/// model_energy. An administrator can grant a group read access (a udev rule or sysfsutils).
class PowercapCounter {
 public:
  static constexpr std::string_view kDefaultRoot = "/sys/class/powercap";

  /// Finds the zones under `root` (a parameter so tests use a fake tree) and reads where each
  /// counter starts. No zone to add up, or any of their files unreadable, leaves the counter
  /// unavailable with the reason; that never throws.
  explicit PowercapCounter(std::filesystem::path root = std::filesystem::path(kDefaultRoot));

  /// Reads every zone and returns the joules used since construction (source `rapl`), or
  /// `unavailable` with the reason. Each zone whose value went down since the last read is
  /// taken to have wrapped once: value + max_energy_range_uj + 1 - previous. (The kernel
  /// documents max_energy_range_uj only as the counter's range; the driver computes it as the
  /// largest raw value times the energy unit, so the exact step past it is one unit, about
  /// 61 uJ: this undercounts a wrap by less than that.) A read that fails makes the counter
  /// unavailable from then on, since energy used during the gap cannot be told apart from a
  /// missed wrap. Samples must come more often than seconds_per_wrap; see
  /// kPowercapSampleSeconds. Nothing can detect a counter reset by writing 0 to energy_uj:
  /// it looks like a wrap.
  EnergyFigure sample();

  bool available() const { return reason_.empty(); }
  /// Why the counter is unavailable, naming the file and the error; empty when available.
  const std::string& unavailable_reason() const { return reason_; }
  const std::vector<PowercapZone>& zones() const { return zones_; }
  /// Zones seen and not added up, each with why: `intel-rapl:0:0 (core): part of its package`.
  const std::vector<std::string>& skipped() const { return skipped_; }
  /// Seconds the zone with the smallest range takes to go once around it at `watts`: the
  /// longest a gap between samples may be when a zone draws that much. 0 when unavailable.
  double seconds_per_wrap(double watts) const;

 private:
  std::filesystem::path root_;
  std::vector<PowercapZone> zones_;
  std::vector<std::string> skipped_;
  std::string reason_;
};

/// What one node draws, as the campaign's `cluster.nodes[].power` declares it:
/// `power: {idle: 120W, busy: 450W, gpu: 300W}`.
struct NodePower {
  double idle_watts = 0.0;  ///< powered on, nothing running (GPUs idle included)
  double busy_watts = 0.0;  ///< every CPU core of the node busy, GPUs idle; at least idle_watts
  double gpu_watts = 0.0;   ///< what each busy GPU adds
};

/// One run segment's use of one node: what model_energy needs.
struct NodeUse {
  double wall_seconds = 0.0;
  int reserved_cores = 0;              ///< the segment's cores on this node
  int node_cores = 1;                  ///< all the node's cores
  std::optional<double> cpu_seconds;   ///< user + system CPU seconds of the segment's ranks here; nullopt: unknown
  int gpus = 0;                        ///< GPUs the segment reserved on this node
};

/// The modelled energy of one segment on one node, in joules (source `model`):
///
///     idle_watts x reserved_cores / node_cores x wall_seconds
///   + (busy_watts - idle_watts) / node_cores x cpu_seconds
///   + gpu_watts x gpus x wall_seconds
///
/// Why: a node's idle draw is the price of having it on, so a segment pays the share of it
/// its reserved cores are of the node, used or not, as Slurm's CPUTimeRAW charges allocated
/// cores; segments that fill a node pay its whole idle draw between them. Above idle, a
/// server's draw grows close to linearly with its CPU use (Fan, Weber and Barroso 2007), so
/// one CPU-second costs 1/node_cores of the node's dynamic power for a second. GPU use is not
/// measured, so each reserved GPU counts busy for the whole wall time: an upper bound when a
/// kernel leaves its GPUs waiting.
///
/// Unknown CPU use counts the reserved cores busy for the whole wall time, and the figure's
/// note says so. CPU use beyond what the whole node can give (node_cores x wall_seconds) is
/// counted as that, and the note says so too. Throws Error for inputs no segment can have:
/// negative or non-finite times or watts, busy below idle, no cores, more reserved cores than
/// the node has.
EnergyFigure model_energy(const NodePower& power, const NodeUse& use);

/// `450W`, `450 W`, `1.2kW` or a plain number of watts (units W and kW, in any case). Bounds
/// are the caller's: `-5W` gives -5, and a number too large for a double gives infinity.
/// nullopt when unreadable, with `problem` (when given) saying what is wrong: an unknown unit
/// or no number at all.
std::optional<double> parse_watts(std::string_view text, std::string* problem = nullptr);

/// `450 W`, `1.2 kW`, for messages.
std::string format_watts(double watts);

}  // namespace perennial
