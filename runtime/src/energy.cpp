#include <perennial/energy.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <system_error>

namespace perennial {

std::string_view to_string(EnergySource source) {
  switch (source) {
    case EnergySource::rapl: return "rapl";
    case EnergySource::model: return "model";
    case EnergySource::unavailable: return "unavailable";
  }
  return "unavailable";
}

std::string EnergyFigure::source_text() const {
  std::string text(to_string(source));
  if (note.empty()) return text;
  if (source == EnergySource::unavailable) {
    text += ": ";
    text += note;
  } else {
    text += " (";
    text += note;
    text += ")";
  }
  return text;
}

EnergyFigure EnergyFigure::unavailable(std::string reason) {
  EnergyFigure figure;
  figure.note = std::move(reason);
  return figure;
}

namespace {

// A sysfs attribute's text, or the errno of the call that failed. open/read rather than a
// stream, so the reason can name the actual error (EACCES, EISDIR, ENOENT, EIO...).
struct FileText {
  std::string text;
  int error = 0;
};

FileText read_attribute(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {{}, errno};
  FileText out;
  char buffer[256];
  while (out.text.size() < 4096) {  // attributes are one short line; never read a huge file whole
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = errno;
      break;
    }
    if (n == 0) break;
    out.text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string cannot_read(const std::filesystem::path& file, int error) {
  std::string reason = fmt::format("cannot read {}: {}", file.string(), std::system_category().message(error));
  if (error == EACCES || error == EPERM) {
    reason += " (RAPL counters are readable by root only since Linux 5.10)";
  }
  return reason;
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  return std::string(text);
}

// Reads a counter attribute (energy_uj, max_energy_range_uj) into `value`; the reason otherwise.
std::optional<std::string> read_microjoules(const std::filesystem::path& file, std::uint64_t& value) {
  const FileText content = read_attribute(file);
  if (content.error != 0) return cannot_read(file, content.error);
  const std::string text = trimmed(content.text);
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (text.empty() || ec != std::errc() || end != last) {
    return fmt::format("{} holds '{}', not a whole number of microjoules", file.string(), text);
  }
  return std::nullopt;
}

}  // namespace

PowercapCounter::PowercapCounter(std::filesystem::path root) : root_(std::move(root)) {
  // /sys/class/powercap lists every zone at its top, subzones included, each a link to the
  // zone's folder, where subzones also appear nested; a root such as
  // /sys/devices/virtual/powercap/intel-rapl has them only nested. Both are looked at, and a
  // zone seen twice is taken once (the map is keyed by zone id, which also sorts them).
  static const std::regex zone_id(R"(intel-rapl:(\d+)(:\d+)?)");
  std::map<std::string, std::filesystem::path> found;
  std::error_code ec;
  std::filesystem::directory_iterator top(root_, ec);
  if (ec) {
    reason_ = fmt::format("no RAPL counter: cannot list {}: {}", root_.string(), ec.message());
    return;
  }
  try {  // the loops' increments throw when a folder cannot be read to its end
    for (const auto& entry : top) {
      const std::string id = entry.path().filename().string();
      std::smatch m;
      if (!std::regex_match(id, m, zone_id)) continue;
      found.emplace(id, entry.path());
      if (m[2].matched) continue;
      std::string parent = id;
      parent += ':';
      std::error_code inner_ec;
      for (const auto& inner : std::filesystem::directory_iterator(entry.path(), inner_ec)) {
        const std::string inner_id = inner.path().filename().string();
        if (std::regex_match(inner_id, zone_id) && inner_id.starts_with(parent)) found.emplace(inner_id, inner.path());
      }
    }
  } catch (const std::filesystem::filesystem_error& e) {
    reason_ = fmt::format("no RAPL counter: cannot list {}: {}", e.path1().string(), e.code().message());
    return;
  }

  for (const auto& [id, folder] : found) {
    const FileText name_file = read_attribute(folder / "name");
    if (name_file.error != 0) {
      reason_ = cannot_read(folder / "name", name_file.error);
      return;
    }
    const std::string name = trimmed(name_file.text);
    const bool subzone = std::count(id.begin(), id.end(), ':') == 2;
    if (name == "dram" || (!subzone && name.starts_with("package"))) {
      zones_.push_back(PowercapZone{id, name, folder, 0, 0, 0});
    } else if (name == "psys") {
      skipped_.push_back(fmt::format("{} (psys): the whole platform, which holds the packages and DRAM", id));
    } else if (subzone) {
      skipped_.push_back(fmt::format("{} ({}): part of its package", id, name));
    } else {
      skipped_.push_back(fmt::format("{} ({}): not a package zone", id, name));
    }
  }
  if (zones_.empty()) {
    reason_ = fmt::format("no RAPL package zone under {}", root_.string());
    if (!skipped_.empty()) reason_ += fmt::format(" (seen and not counted: {})", fmt::join(skipped_, "; "));
    return;
  }

  for (auto& zone : zones_) {
    if (auto problem = read_microjoules(zone.folder / "max_energy_range_uj", zone.max_energy_range_uj)) {
      reason_ = *problem;
      return;
    }
    if (zone.max_energy_range_uj == 0) {
      reason_ = fmt::format("{} is 0: no range to count a wrap with", (zone.folder / "max_energy_range_uj").string());
      return;
    }
    if (auto problem = read_microjoules(zone.folder / "energy_uj", zone.last_uj)) {
      reason_ = *problem;
      return;
    }
    if (zone.last_uj > zone.max_energy_range_uj) {
      reason_ = fmt::format("{} reads {}, beyond its max_energy_range_uj {}", (zone.folder / "energy_uj").string(),
                            zone.last_uj, zone.max_energy_range_uj);
      return;
    }
  }
}

EnergyFigure PowercapCounter::sample() {
  if (!available()) return EnergyFigure::unavailable(reason_);
  // Every zone is read before any is updated: a failure leaves no zone half counted.
  std::vector<std::uint64_t> now(zones_.size());
  for (std::size_t i = 0; i < zones_.size(); ++i) {
    const auto file = zones_[i].folder / "energy_uj";
    if (auto problem = read_microjoules(file, now[i])) {
      reason_ = *problem;
      return EnergyFigure::unavailable(reason_);
    }
    if (now[i] > zones_[i].max_energy_range_uj) {
      reason_ = fmt::format("{} reads {}, beyond its max_energy_range_uj {}", file.string(), now[i],
                            zones_[i].max_energy_range_uj);
      return EnergyFigure::unavailable(reason_);
    }
  }
  std::uint64_t total_uj = 0;
  for (std::size_t i = 0; i < zones_.size(); ++i) {
    PowercapZone& zone = zones_[i];
    // Below the previous value: one wrap, from `last` up to the range's end, one step to 0, then to `now`.
    const std::uint64_t delta = now[i] >= zone.last_uj ? now[i] - zone.last_uj
                                                        : zone.max_energy_range_uj - zone.last_uj + 1 + now[i];
    zone.used_uj += delta;
    zone.last_uj = now[i];
    total_uj += zone.used_uj;
  }
  EnergyFigure figure;
  figure.source = EnergySource::rapl;
  figure.joules = static_cast<double>(total_uj) / 1e6;
  return figure;
}

double PowercapCounter::seconds_per_wrap(double watts) const {
  if (!available() || !(watts > 0.0)) return 0.0;
  std::uint64_t smallest = std::numeric_limits<std::uint64_t>::max();
  for (const auto& zone : zones_) smallest = std::min(smallest, zone.max_energy_range_uj);
  return static_cast<double>(smallest) / 1e6 / watts;
}

EnergyFigure model_energy(const NodePower& power, const NodeUse& use) {
  auto invalid = [](const std::string& what) { return Error(fmt::format("energy model: {}", what)); };
  auto check_watts = [&](double watts, const char* what) {
    if (!std::isfinite(watts) || watts < 0.0) throw invalid(fmt::format("{} must be a finite number of watts, at least 0, not {}", what, watts));
  };
  check_watts(power.idle_watts, "idle power");
  check_watts(power.busy_watts, "full-load power");
  check_watts(power.gpu_watts, "GPU power");
  if (power.busy_watts < power.idle_watts) {
    throw invalid(fmt::format("full-load power {} W is below idle power {} W", power.busy_watts, power.idle_watts));
  }
  if (!std::isfinite(use.wall_seconds) || use.wall_seconds < 0.0) {
    throw invalid(fmt::format("wall time must be finite and at least 0 s, not {}", use.wall_seconds));
  }
  if (use.node_cores < 1) throw invalid(fmt::format("a node has at least 1 core, not {}", use.node_cores));
  if (use.reserved_cores < 0 || use.reserved_cores > use.node_cores) {
    throw invalid(fmt::format("{} cores reserved on a node of {}", use.reserved_cores, use.node_cores));
  }
  if (use.gpus < 0) throw invalid(fmt::format("{} GPUs reserved", use.gpus));
  if (use.cpu_seconds && (!std::isfinite(*use.cpu_seconds) || *use.cpu_seconds < 0.0)) {
    throw invalid(fmt::format("CPU time must be finite and at least 0 s, not {}", *use.cpu_seconds));
  }

  EnergyFigure figure;
  figure.source = EnergySource::model;
  const double cores = use.node_cores;
  double cpu_seconds = 0.0;
  if (use.cpu_seconds) {
    cpu_seconds = *use.cpu_seconds;
    const double most = cores * use.wall_seconds;
    if (cpu_seconds > most) {
      figure.note = fmt::format("CPU use {:g} s is more than the node's {} cores give in {:g} s; counted as {:g} s",
                                cpu_seconds, use.node_cores, use.wall_seconds, most);
      cpu_seconds = most;
    }
  } else {
    cpu_seconds = use.reserved_cores * use.wall_seconds;
    figure.note = fmt::format("CPU use unknown: the {} reserved cores counted busy for all {:g} s",
                              use.reserved_cores, use.wall_seconds);
  }
  const double idle = power.idle_watts * use.reserved_cores / cores * use.wall_seconds;
  const double dynamic = (power.busy_watts - power.idle_watts) / cores * cpu_seconds;
  const double gpus = power.gpu_watts * use.gpus * use.wall_seconds;
  figure.joules = idle + dynamic + gpus;
  return figure;
}

std::optional<double> parse_watts(std::string_view text, std::string* problem) {
  auto fail = [&](std::string why) -> std::optional<double> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  const std::string all = trimmed(text);
  std::string_view rest = all;
  // from_chars reads neither a leading '+' nor "0x"; a sign is the bound check's business.
  const bool plus = rest.starts_with('+');
  if (plus) rest.remove_prefix(1);
  double value = 0.0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (end == rest.data() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    return fail(fmt::format("'{}' is not a power (e.g. 450W, 1.2kW, or a plain number of watts)", all));
  }
  if (ec == std::errc::result_out_of_range) {  // beyond a double: huge, unless a negative exponent
    const std::string_view digits(rest.data(), static_cast<std::size_t>(end - rest.data()));
    const bool tiny = digits.find("e-") != std::string_view::npos || digits.find("E-") != std::string_view::npos;
    value = tiny ? 0.0 : (digits.starts_with('-') ? -1.0 : 1.0) * std::numeric_limits<double>::infinity();
  }
  if (std::isnan(value)) return fail(fmt::format("'{}' is not a power (e.g. 450W, 1.2kW, or a plain number of watts)", all));
  std::string unit = trimmed(std::string_view(end, static_cast<std::size_t>(rest.data() + rest.size() - end)));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (unit.empty() || unit == "w") return value;
  if (unit == "kw") return value * 1000.0;
  return fail(fmt::format("'{}': unknown unit '{}' (W or kW; a plain number is watts)", all,
                          trimmed(std::string_view(end, static_cast<std::size_t>(rest.data() + rest.size() - end)))));
}

std::string format_watts(double watts) {
  if (std::abs(watts) >= 1000.0) return fmt::format("{:g} kW", watts / 1000.0);
  return fmt::format("{:g} W", watts);
}

}  // namespace perennial
