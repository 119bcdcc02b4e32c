#include <perennial/campaign_loader.hpp>
#include <perennial/errors.hpp>
#include <perennial/fault_plan.hpp>
#include <perennial/output_metadata.hpp>
#include <perennial/text.hpp>

#include "command_stage_loader.hpp"
#include "yaml_reader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mpi.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <regex>
#include <tuple>
#include <set>
#include <system_error>
#include <thread>
#include <sstream>

namespace perennial {

namespace {

using loader::Reader;
using loader::FieldPath;
using loader::sub;

const std::vector<std::string> kTopFields = {"campaign", "output_dir", "projects",   "checkpoint", "cluster",
                                            "faults",   "stages",     "scheduling", "calendar",
                                            // issue 15: what output files say and how they are opened
                                            "conventions", "title", "institution", "source", "references",
                                            "comment", "start_date", "mpi_io"};
// Campaign fields written verbatim as global attributes of every output file (CF's names).
const std::vector<std::string> kGlobalAttributeFields = {"title", "institution", "source", "references", "comment"};
const std::vector<std::string> kSchedulingFields = {"weights", "max_age", "fairshare_half_life",
                                                    "preempt_exempt_after", "backfill", "preemption",
                                                    "end_margin", "backfill_depth"};
const std::vector<std::string> kWeightFields = {"priority", "fairshare", "age"};
const std::vector<std::string> kClusterFields = {"nodes"};
const std::vector<std::string> kNodeFields = {"name", "cores", "memory", "gpus", "features", "power"};
const std::vector<std::string> kPowerFields = {"idle", "busy", "gpu"};
const std::vector<std::string> kCheckpointFields = {"enabled", "keep", "mtbf", "max_lost_work", "interval", "async"};
const std::vector<std::string> kProjectFields = {"name", "grant", "allocation_core_hours", "share", "hard_cap"};
const std::vector<std::string> kStageFields = {
    "name",     "kernel",   "project",    "ranks",   "steps",  "protected", "priority",
    "walltime", "parameters", "outputs",  "inputs",  "after",  "for_each",  "description", "checkpoint",
    "cores_per_rank", "memory_per_rank", "gpus_per_rank", "features", "step_time", "preempt_exempt_after",
    "promise", "simulate", "mpi_io", "start_date", "command", "templates", "restart", "progress", "metrics",
    "launcher"};
const std::vector<std::string> kPromiseFields = {"metric", "direction", "policy", "rungs", "bottom", "exploration",
                                                 "min_values", "weight"};
const std::vector<std::string> kRungFields = {"first", "reduction"};
const std::vector<std::string> kSimulateFields = {"metrics"};
const std::vector<std::string> kSimulatedMetricFields = {"value", "noise"};
const std::vector<std::string> kOutputFields = {"dtype", "dims", "units", "long_name", "standard_name", "file", "dataset"};
const std::vector<std::string> kInputFields = {"from", "dtype", "dims", "units"};


// The `{name}` placeholders of a stage-name template (innermost braces, as a regex
// `\{([^{}]*)\}` finds them), scanned by hand: it runs for every stage.
std::vector<std::string> placeholders(const std::string& text) {
  std::vector<std::string> out;
  std::size_t open = std::string::npos;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      open = i;
    } else if (text[i] == '}' && open != std::string::npos) {
      out.push_back(text.substr(open + 1, i - open - 1));
      open = std::string::npos;
    }
  }
  return out;
}

std::string substitute(std::string text, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) {
    const std::string token = "{" + key + "}";
    for (std::size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token, pos + value.size())) {
      text.replace(pos, token.size(), value);
    }
  }
  return text;
}

// `[A-Za-z0-9_][A-Za-z0-9_.+-]*`, checked without a regex: it runs for every stage.
bool valid_stage_name(const std::string& name) {
  auto word = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; };
  if (name.empty() || !word(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return word(c) || c == '.' || c == '+' || c == '-'; });
}

ArraySchema read_schema(Reader& r, const yaml::Node& map, const std::string& field, bool require_all) {
  ArraySchema schema;
  if (const auto node = map["dtype"]) {
    if (auto text = r.scalar(node, sub(field, "dtype"))) {
      schema.dtype = parse_dtype(*text);
      if (!schema.dtype) {
        r.error(node, sub(field, "dtype"),
                fmt::format("unknown dtype '{}' (valid: float32, float64, int32, int64)", *text));
      }
    }
  } else if (require_all) {
    r.error(map, field, "missing required field 'dtype'");
  }
  if (const auto node = map["dims"]) {
    schema.dims = r.string_list(node, sub(field, "dims"));
    std::set<std::string> seen;
    for (const auto& d : *schema.dims) {
      if (!seen.insert(d).second) r.error(node, sub(field, "dims"), fmt::format("dimension '{}' appears twice", d));
    }
  } else if (require_all) {
    r.error(map, field, "missing required field 'dims'");
  }
  if (const auto node = map["units"]) {
    schema.units = r.scalar(node, sub(field, "units"));
  } else if (require_all) {
    r.error(map, field, "missing required field 'units' (write `units: 1` for dimensionless data)");
  }
  return schema;
}

// `mpi_io: {hints: {key: value}}`: MPI_Info pairs. Which names an MPI library knows cannot be
// checked (it ignores the others), so only the form is: non-empty single values that fit
// MPI_Info (Open MPI: keys under MPI_MAX_INFO_KEY characters).
MpiIoHints read_mpi_io(Reader& r, const yaml::Node& node, const std::string& field) {
  MpiIoHints hints;
  if (!r.require_map(node, field)) return hints;
  r.check_keys(node, field, {"hints"});
  const yaml::Node map = node["hints"];
  if (!map) return hints;
  if (!r.require_map(map, sub(field, "hints"))) return hints;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.Scalar();
    const std::string hfield = field + ".hints." + key;
    if (key.empty() || key.size() >= MPI_MAX_INFO_KEY || key.find_first_of(" \t\n") != std::string::npos) {
      r.error(it->first, hfield, fmt::format("a hint name must be one word shorter than {} characters", MPI_MAX_INFO_KEY));
      continue;
    }
    if (!it->second.IsScalar()) {
      r.error(it->second, hfield, "a hint's value must be a string or an integer (e.g. cb_nodes: 4, romio_cb_write: enable)");
      continue;
    }
    auto value = r.nonempty_string(it->second, hfield);
    if (!value) continue;
    if (value->size() >= MPI_MAX_INFO_VAL) {
      r.error(it->second, hfield, fmt::format("a hint's value must be shorter than {} characters", MPI_MAX_INFO_VAL));
      continue;
    }
    hints[key] = *value;
  }
  return hints;
}

// `start_date:` of the campaign or a stage: the reference of its outputs' time coordinate.
std::string read_start_date(Reader& r, const yaml::Node& node, const std::string& field, const Calendar& calendar) {
  auto text = r.nonempty_string(node, field);
  if (!text) return {};
  if (auto bad = start_date_problem(*text, calendar.name); !bad.empty()) {
    r.error(node, field, bad);
    return {};
  }
  return normalized_start_date(*text);
}

// Splits `stage.output` at the last dot: stage names may contain dots (`ssp-2.6`), output
// names may not.
bool split_reference(const std::string& text, std::string& stage, std::string& output) {
  auto dot = text.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == text.size()) return false;
  stage = text.substr(0, dot);
  output = text.substr(dot + 1);
  return true;
}

// `key: 15min` under `node`, which must be a positive duration; nullopt when absent or wrong.
std::optional<double> positive_duration(Reader& r, const yaml::Node& node, const char* key, const std::string& field) {
  const auto n = node[key];
  if (!n) return std::nullopt;
  const FieldPath where = sub(field, key);
  auto text = r.scalar(n, where);
  if (!text) return std::nullopt;
  auto seconds = parse_duration_seconds(*text);
  if (!seconds || *seconds <= 0) {
    r.error(n, where, fmt::format("'{}' is not a positive duration (e.g. 90s, 15min, 12h, 2d)", *text));
    return std::nullopt;
  }
  if (*seconds > limits::kSeconds) {
    r.error(n, where, fmt::format("must be at most 100 years, not '{}'", *text));
    return std::nullopt;
  }
  return seconds;
}

SchedulingSpec read_scheduling(Reader& r, const yaml::Node& node) {
  SchedulingSpec spec;
  spec.where = r.at(node);
  if (!r.require_map(node, "scheduling")) return spec;
  r.check_keys(node, "scheduling", kSchedulingFields);
  if (const auto w = node["weights"]) {
    if (r.require_map(w, "scheduling.weights")) {
      r.check_keys(w, "scheduling.weights", kWeightFields);
      if (const auto n = w["priority"]) {
        if (auto v = r.number<double>(n, "scheduling.weights.priority", 0.0, limits::kWeight)) spec.priority_weight = *v;
      }
      if (const auto n = w["fairshare"]) {
        if (auto v = r.number<double>(n, "scheduling.weights.fairshare", 0.0, limits::kWeight)) spec.fairshare_weight = *v;
      }
      if (const auto n = w["age"]) {
        if (auto v = r.number<double>(n, "scheduling.weights.age", 0.0, limits::kWeight)) spec.age_weight = *v;
      }
    }
  }
  if (auto v = positive_duration(r, node, "max_age", "scheduling")) spec.max_age_seconds = *v;
  if (auto v = positive_duration(r, node, "fairshare_half_life", "scheduling")) spec.fairshare_half_life_seconds = *v;
  if (auto v = positive_duration(r, node, "preempt_exempt_after", "scheduling")) spec.preempt_exempt_after_seconds = *v;
  if (auto v = positive_duration(r, node, "end_margin", "scheduling")) spec.end_margin_seconds = *v;
  if (const auto n = node["backfill"]) {
    if (auto v = r.boolean(n, "scheduling.backfill")) spec.backfill = *v;
  }
  if (const auto n = node["backfill_depth"]) {
    if (auto v = r.number<std::size_t>(n, "scheduling.backfill_depth", 1, limits::kBackfillDepth)) spec.backfill_depth = *v;
  }
  if (const auto n = node["preemption"]) {
    if (auto v = r.boolean(n, "scheduling.preemption")) spec.preemption = *v;
  }
  return spec;
}

// `checkpoint:` fields over `base` (the campaign's settings, for a stage).
PromiseSpec read_promise(Reader& r, const yaml::Node& node, const std::string& field) {
  PromiseSpec p;
  p.where = r.at(node);
  if (!r.require_map(node, field)) return p;
  r.check_keys(node, field, kPromiseFields);
  if (const auto n = node["metric"]) {
    if (auto text = r.nonempty_string(n, sub(field, "metric"))) p.metric = *text;
  } else {
    r.error(node, field, "missing required field 'metric' (the metric its scenarios are judged by)");
  }
  if (const auto n = node["direction"]) {
    if (auto text = r.scalar(n, sub(field, "direction"))) {
      if (*text == "max" || *text == "min") {
        p.maximise = *text == "max";
      } else {
        r.error(n, sub(field, "direction"), fmt::format("must be max or min, not '{}'", *text));
      }
    }
  }
  if (const auto rungs = node["rungs"]) {
    if (r.require_map(rungs, sub(field, "rungs"))) {
      r.check_keys(rungs, sub(field, "rungs"), kRungFields);
      if (const auto n = rungs["first"]) {
        static const std::regex amount(R"(\s*([0-9]*\.?[0-9]+)\s*(steps?|years?)\s*)");
        std::smatch m;
        const std::string text = n.IsScalar() ? n.Scalar() : std::string();
        if (std::regex_match(text, m, amount) && std::stod(m[1].str()) > 0) {
          p.first_rung = std::stod(m[1].str());
          p.rungs_in_years = m[2].str().starts_with("year");
        } else {
          r.error(n, sub(field, "rungs.first"), fmt::format("must be a positive number of steps or years (100 steps, 2 years), not '{}'", text));
        }
      }
      if (const auto n = rungs["reduction"]) {
        if (auto v = r.number<double>(n, sub(field, "rungs.reduction"), 1.0, 1000.0)) {
          if (*v <= 1.0) {
            r.error(n, sub(field, "rungs.reduction"), "must be above 1 (the top 1/reduction go on at each rung)");
          } else {
            p.reduction = *v;
          }
        }
      }
    }
  }
  if (const auto n = node["bottom"]) {
    if (auto text = r.scalar(n, sub(field, "bottom"))) {
      if (*text == "pause" || *text == "shrink" || *text == "stop") {
        p.bottom = *text;
      } else {
        r.error(n, sub(field, "bottom"), fmt::format("must be pause, shrink or stop, not '{}'", *text));
      }
    }
  }
  if (const auto n = node["weight"]) {
    if (auto v = r.number<double>(n, sub(field, "weight"), 0.0, limits::kWeight)) p.weight = *v;
  }
  if (const auto n = node["policy"]) {
    if (auto text = r.scalar(n, sub(field, "policy"))) {
      if (*text == "halving" || *text == "ucb") {
        p.ucb = *text == "ucb";
      } else {
        r.error(n, sub(field, "policy"), fmt::format("must be halving or ucb, not '{}'", *text));
      }
    }
  }
  // Each policy's own settings, refused under the other: a setting that would be ignored is a mistake.
  for (const char* key : {"rungs", "bottom"}) {
    if (p.ucb && node[key]) r.error(node[key], field + "." + key, "applies to policy: halving, not ucb");
  }
  for (const char* key : {"exploration", "min_values"}) {
    if (!p.ucb && node[key]) r.error(node[key], field + "." + key, "applies to policy: ucb (add policy: ucb)");
  }
  if (const auto n = node["exploration"]) {
    if (auto v = r.number<double>(n, sub(field, "exploration"), 0.0, 100.0)) p.exploration = *v;
  }
  if (const auto n = node["min_values"]) {
    if (auto v = r.number<int>(n, sub(field, "min_values"), 1, 1000000)) p.min_values = *v;
  }
  return p;
}

// `simulate: {metrics: {NAME: {value: V, noise: S}}}`; values may hold `{key}` placeholders of
// the stage's for_each, so they are kept as text here and read once each member is made.
std::map<std::string, std::pair<std::string, std::string>> read_simulate(Reader& r, const yaml::Node& node,
                                                                         const std::string& field) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  if (!r.require_map(node, field)) return out;
  r.check_keys(node, field, kSimulateFields);
  const auto metrics = node["metrics"];
  if (!metrics || !r.require_map(metrics, sub(field, "metrics"))) return out;
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string mfield = field + ".metrics." + name;
    if (!r.require_map(it->second, mfield)) continue;
    r.check_keys(it->second, mfield, kSimulatedMetricFields);
    std::string value, noise = "0";
    if (const auto v = it->second["value"]) {
      if (auto text = r.scalar(v, sub(mfield, "value"))) value = *text;
    } else {
      r.error(it->second, mfield, "missing required field 'value' (the metric's true level)");
      continue;
    }
    if (const auto n = it->second["noise"]) {
      if (auto text = r.scalar(n, sub(mfield, "noise"))) noise = *text;
    }
    out[name] = {value, noise};
  }
  return out;
}

CheckpointSpec read_checkpoint(Reader& r, const yaml::Node& node, const std::string& field, CheckpointSpec spec) {
  if (!r.require_map(node, field)) return spec;
  r.check_keys(node, field, kCheckpointFields);
  auto duration = [&](const char* key) { return positive_duration(r, node, key, field); };
  if (const auto n = node["enabled"]) {
    if (auto v = r.boolean(n, sub(field, "enabled"))) spec.enabled = *v;
  }
  if (const auto n = node["keep"]) {
    if (auto v = r.number<int>(n, sub(field, "keep"), 1, limits::kKeep)) spec.keep = *v;
  }
  if (const auto n = node["async"]) {
    if (auto v = r.boolean(n, sub(field, "async"))) spec.async = *v;
  }
  if (auto v = duration("mtbf")) spec.node_mtbf_seconds = *v;
  if (auto v = duration("max_lost_work")) spec.max_lost_work_seconds = *v;
  if (const auto n = node["interval"]) {
    static const std::regex steps(R"(\s*([0-9]+)\s*steps?\s*)");
    std::smatch m;
    const std::string text = n.IsScalar() ? n.Scalar() : std::string();
    if (std::regex_match(text, m, steps)) {
      const std::string digits = m[1].str();
      std::uint64_t count = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
      if (ec != std::errc() || count > limits::kSteps) {
        r.error(n, sub(field, "interval"), fmt::format("must be at most {} steps, not '{}'", limits::kSteps, text));
      } else if (count == 0) {
        r.error(n, sub(field, "interval"), "must be at least 1 step (or a duration such as 10min), not 0");
      } else {
        spec.interval_steps = count;
        spec.interval_seconds.reset();
      }
    } else if (auto v = duration("interval")) {
      spec.interval_seconds = *v;
      spec.interval_steps.reset();
    }
  }
  return spec;
}

struct StageTemplate {
  StageSpec spec;                    // with placeholders still in name, inputs and after
  std::vector<std::pair<std::string, std::vector<std::string>>> for_each;
  std::vector<std::vector<SourceLocation>> for_each_value_where;  // each value's position, as for_each
  SourceLocation for_each_where;
  std::set<std::string> rejected_for_each;  // keys whose list was already reported as bad
  std::map<std::string, std::pair<std::string, std::string>> simulate;  // metric -> (value, noise) texts
  SourceLocation simulate_where;
};

// `256GB`, `512GiB`, ... as bytes; 0 (with an error) when unreadable.
std::uint64_t read_bytes(Reader& r, const yaml::Node& node, const std::string& field) {
  auto text = r.scalar(node, field);
  if (!text) return 0;
  auto bytes = parse_bytes(*text);
  if (!bytes || *bytes == 0) {
    r.error(node, field, fmt::format("'{}' is not an amount of memory (e.g. 4GB, 512GiB, 800MB)", *text));
    return 0;
  }
  if (*bytes > limits::kMemoryBytes) {
    r.error(node, field, fmt::format("must be at most 1 PiB, not '{}'", *text));
    return 0;
  }
  return *bytes;
}

// `cluster: {nodes: [{name: "cpu[0001-0900]", cores: 128, memory: 256GB, gpus: 0, features: [...]}]}`
ClusterSpec read_cluster(Reader& r, const yaml::Node& node) {
  ClusterSpec cluster;
  if (!r.require_map(node, "cluster")) return cluster;
  r.check_keys(node, "cluster", kClusterFields);
  const auto nodes = node["nodes"];
  if (!nodes || !nodes.IsSequence() || nodes.size() == 0) {
    r.error(nodes ? nodes : node, "cluster.nodes", "must be a non-empty list of {name, cores, memory, gpus, features}");
    return cluster;
  }
  std::set<std::string> seen;
  std::int64_t total_cores = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const std::string field = fmt::format("cluster.nodes[{}]", i);
    if (!r.require_map(nodes[i], field)) continue;
    r.check_keys(nodes[i], field, kNodeFields);
    NodeClass k;
    k.where = r.at(nodes[i]);
    if (const auto n = nodes[i]["name"]) {
      if (auto text = r.nonempty_string(n, sub(field, "name"))) {
        k.pattern = *text;
        try {
          k.names = expand_hostlist(*text);
        } catch (const Error& e) {
          r.error(n, sub(field, "name"), e.what());
        }
        for (const auto& host : k.names) {
          if (!seen.insert(host).second) {
            r.error(n, sub(field, "name"), fmt::format("host '{}' is already listed by another node entry", host));
            break;
          }
        }
      }
    } else {
      r.error(nodes[i], field, "missing required field 'name' (a host name or list, e.g. cpu[0001-0900])");
    }
    if (const auto n = nodes[i]["cores"]) {
      if (auto v = r.number<int>(n, sub(field, "cores"), 1, limits::kCount)) k.cores = *v;
    } else {
      r.error(nodes[i], field, "missing required field 'cores'");
    }
    if (const auto n = nodes[i]["memory"]) k.memory_bytes = read_bytes(r, n, sub(field, "memory"));
    if (const auto n = nodes[i]["gpus"]) {
      if (auto v = r.number<int>(n, sub(field, "gpus"), 0, limits::kCount)) k.gpus = *v;
    }
    if (const auto n = nodes[i]["power"]) {
      // `{idle: 120W, busy: 450W, gpu: 300W}`, each from 0 to 1 MW: far above any node, and
      // a bound keeps every modelled joule finite. `gpu` is required on a node with GPUs, whose
      // energy would otherwise be modelled without them.
      const std::string pfield = field + ".power";
      if (r.require_map(n, pfield)) {
        r.check_keys(n, pfield, kPowerFields);
        constexpr double kMostWatts = 1e6;
        auto watts = [&](const char* key) -> std::optional<double> {
          const std::string kfield = fmt::format("{}.{}", pfield, key);
          const auto value = n[key];
          const auto text = r.scalar(value, kfield);
          if (!text) return std::nullopt;
          std::string problem;
          const auto w = parse_watts(*text, &problem);
          if (!w) {
            r.error(value, kfield, problem);
          } else if (*w < 0.0) {
            r.error(value, kfield, fmt::format("must be at least 0 W, not '{}'", *text));
          } else if (*w > kMostWatts) {
            r.error(value, kfield, fmt::format("must be at most 1 MW, not '{}'", *text));
          } else {
            return w;
          }
          return std::nullopt;
        };
        auto required = [&](const char* key, const std::string& what) -> std::optional<double> {
          if (n[key]) return watts(key);
          r.error(n, pfield, fmt::format("missing required field '{}' ({})", key, what));
          return std::nullopt;
        };
        const auto idle = required("idle", "the node's watts with nothing running, e.g. idle: 120W");
        const auto busy = required("busy", "the node's watts with every core busy, e.g. busy: 450W");
        std::optional<double> gpu = 0.0;
        if (n["gpu"]) {
          gpu = watts("gpu");
        } else if (k.gpus > 0) {
          gpu = required("gpu", fmt::format("the watts each of the node's {} GPUs adds when busy, e.g. gpu: 300W", k.gpus));
        }
        if (idle && busy && *busy < *idle) {
          r.error(n["busy"], sub(pfield, "busy"),
                  fmt::format("must be at least the idle power ({}), not '{}'", format_watts(*idle), n["busy"].Scalar()));
        } else if (idle && busy && gpu) {
          k.power = NodePower{*idle, *busy, *gpu};
        }
      }
    }
    if (const auto n = nodes[i]["features"]) k.features = r.string_list(n, sub(field, "features"));
    // Reported once, at the entry that carries the sum over the bound (each entry adds at most
    // 10^6 hosts x 10^6 cores, so the sum itself cannot overflow).
    if (total_cores <= limits::kTotalCores) {
      total_cores += static_cast<std::int64_t>(k.names.size()) * k.cores;
      if (total_cores > limits::kTotalCores) {
        r.error(nodes[i]["cores"] ? nodes[i]["cores"] : nodes[i], sub(field, "cores"),
                fmt::format("the cluster's nodes hold {} cores in all (with {} x {} here); at most {} can be scheduled",
                            total_cores, k.names.size(), k.cores, limits::kTotalCores));
      }
    }
    cluster.classes.push_back(std::move(k));
  }
  return cluster;
}

std::optional<StageTemplate> read_stage(Reader& r, const yaml::Node& node, std::size_t index,
                                        const CheckpointSpec& campaign_checkpoint, const std::filesystem::path& campaign_dir) {
  std::string field = fmt::format("stages[{}]", index);
  if (!r.require_map(node, field)) return std::nullopt;
  StageTemplate t;
  StageSpec& s = t.spec;
  s.where = r.at(node);
  if (const auto name = node["name"]) {
    s.where = r.at(name);
    if (auto text = r.nonempty_string(name, sub(field, "name"))) {
      s.name = *text;
      field = "stages." + s.name;
    }
  } else {
    r.error(node, field, "missing required field 'name'");
  }
  s.field_where.reserve(node.size() + node["parameters"].size());
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Where each value is; for `parameters:` the key, where a missing parameter is reported
    // (a block mapping's value only starts on the next line).
    const bool key = it->first.text() == "parameters";
    s.field_where.set(it->first.text(), r.at(key ? it->first : it->second));
  }
  r.check_keys(node, field, kStageFields);
  s.template_name = s.name;

  if (const auto kernel = node["kernel"]) {
    if (auto text = r.nonempty_string(kernel, sub(field, "kernel"))) s.kernel = *text;
    if (node["command"]) r.error(node["command"], sub(field, "command"), "a stage runs a kernel or a command, not both");
  } else if (!node["command"]) {
    r.error(node, field, "missing required field 'kernel' (or `command:`, to run a model executable)");
  }
  if (const auto n = node["project"]) {
    if (auto text = r.nonempty_string(n, sub(field, "project"))) s.project = *text;
  }
  if (const auto n = node["ranks"]) {
    if (n.IsMap()) {
      // A range: the stage starts on `min` ranks and may be given up to `max` (promise,
      // idle ranks); its checkpoints restore on any count in between.
      r.check_keys(n, sub(field, "ranks"), {"min", "max"});
      std::optional<int> low, high;
      if (const auto m = n["min"]) low = r.number<int>(m, sub(field, "ranks.min"), 1, limits::kCount);
      else r.error(n, sub(field, "ranks"), "a range needs 'min' and 'max' (e.g. ranks: {min: 2, max: 8})");
      if (const auto m = n["max"]) high = r.number<int>(m, sub(field, "ranks.max"), 1, limits::kCount);
      else r.error(n, sub(field, "ranks"), "a range needs 'min' and 'max' (e.g. ranks: {min: 2, max: 8})");
      if (low && high && *high < *low) {
        r.error(n["max"], sub(field, "ranks.max"), fmt::format("{} is below min {}", *high, *low));
      } else if (low && high) {
        s.ranks = *low;
        s.max_ranks = *high;
      }
    } else if (auto v = r.number<int>(n, sub(field, "ranks"), 1, limits::kCount)) {
      s.ranks = *v;
      s.max_ranks = *v;
    }
  }
  if (const auto n = node["steps"]) {
    if (auto v = r.number<std::uint64_t>(n, sub(field, "steps"), 1, limits::kSteps)) s.steps = *v;
  }
  if (const auto n = node["cores_per_rank"]) {
    if (auto v = r.number<int>(n, sub(field, "cores_per_rank"), 1, limits::kCount)) s.cores_per_rank = *v;
  }
  if (const auto n = node["gpus_per_rank"]) {
    if (auto v = r.number<int>(n, sub(field, "gpus_per_rank"), 0, limits::kCount)) s.gpus_per_rank = *v;
  }
  // The scheduler counts a stage's cores in all in an int: a total beyond it would wrap.
  if (const std::int64_t cores = std::int64_t{s.max_ranks} * s.cores_per_rank; cores > limits::kTotalCores) {
    r.error(s.location_of("cores_per_rank"), sub(field, "cores_per_rank"),
            fmt::format("{} ranks x {} cores per rank is {} cores; a stage may use at most {} in all", s.max_ranks,
                        s.cores_per_rank, cores, limits::kTotalCores));
  }
  if (const auto n = node["memory_per_rank"]) s.memory_per_rank_bytes = read_bytes(r, n, sub(field, "memory_per_rank"));
  if (const auto n = node["features"]) s.features = r.string_list(n, sub(field, "features"));
  if (const auto n = node["protected"]) {
    if (auto v = r.boolean(n, sub(field, "protected"))) s.protected_run = *v;
  }
  if (const auto n = node["priority"]) {
    if (auto v = r.number<int>(n, sub(field, "priority"), -limits::kPriority, limits::kPriority)) s.priority = *v;
  }
  if (auto v = positive_duration(r, node, "walltime", field)) s.walltime_seconds = *v;
  if (auto v = positive_duration(r, node, "step_time", field)) s.step_seconds = *v;
  if (auto v = positive_duration(r, node, "preempt_exempt_after", field)) s.preempt_exempt_after_seconds = *v;
  if (const auto n = node["description"]) r.scalar(n, sub(field, "description"));
  if (const auto n = node["mpi_io"]) s.mpi_io_hints = read_mpi_io(r, n, sub(field, "mpi_io"));
  if (const auto n = node["start_date"]) {
    s.field_where.set("start_date", r.at(n));
    if (auto text = r.nonempty_string(n, sub(field, "start_date"))) s.start_date = *text;  // checked once the calendar is known
  }
  s.checkpoint = campaign_checkpoint;
  if (const auto n = node["checkpoint"]) s.checkpoint = read_checkpoint(r, n, sub(field, "checkpoint"), campaign_checkpoint);
  if (const auto n = node["promise"]) s.promise = read_promise(r, n, sub(field, "promise"));
  // A `command:` stage's fields (and, on a kernel stage, each of them as an error).
  loader::read_command_stage(r, node, field, campaign_dir, s);
  if (const auto n = node["simulate"]) {
    t.simulate = read_simulate(r, n, sub(field, "simulate"));
    t.simulate_where = r.at(n);
  }

  if (const auto params = node["parameters"]) {
    if (r.require_map(params, sub(field, "parameters"))) {
      for (auto it = params.begin(); it != params.end(); ++it) {
        const std::string key = it->first.Scalar();
        const std::string where_key = "parameters." + key;
        const FieldPath pfield = sub(field, where_key);
        s.field_where.set(where_key, r.at(it->second));
        if (it->second.IsScalar()) {
          s.parameters.set(key, it->second.Scalar());
        } else if (it->second.IsSequence()) {
          std::vector<std::string> items;
          const yaml::Node list = it->second;
          for (const auto& item : list) {
            if (auto text = r.scalar(item, pfield)) items.push_back(*text);
          }
          s.parameters.set_list(key, std::move(items));
        } else {
          r.error(it->second, pfield, "must be a value or a list of values");
        }
      }
    }
  }

  if (const auto outputs = node["outputs"]) {
    if (r.require_map(outputs, sub(field, "outputs"))) {
      for (auto it = outputs.begin(); it != outputs.end(); ++it) {
        OutputSpec o;
        o.name = it->first.Scalar();
        o.where = r.at(it->first);
        const std::string ofield = field + ".outputs." + o.name;
        if (o.name.find('.') != std::string::npos || o.name.empty()) {
          r.error(it->first, ofield, "output names must be non-empty and contain no '.'");
        }
        if (!r.require_map(it->second, ofield)) continue;
        r.check_keys(it->second, ofield, kOutputFields);
        ArraySchema schema = read_schema(r, it->second, ofield, true);
        if (schema.dtype) o.dtype = *schema.dtype;
        if (schema.dims) o.dims = *schema.dims;
        if (schema.units) o.units = *schema.units;
        if (const auto n = it->second["long_name"]) {
          if (auto text = r.nonempty_string(n, sub(ofield, "long_name"))) o.long_name = *text;
        }
        if (const auto n = it->second["standard_name"]) {
          if (auto text = r.nonempty_string(n, sub(ofield, "standard_name"))) {
            if (auto bad = standard_name_problem(*text); !bad.empty()) r.error(n, sub(ofield, "standard_name"), bad);
            else o.standard_name = *text;
          }
        }
        s.outputs.push_back(std::move(o));
      }
    }
  }

  if (const auto inputs = node["inputs"]) {
    if (r.require_map(inputs, sub(field, "inputs"))) {
      for (auto it = inputs.begin(); it != inputs.end(); ++it) {
        InputBinding in;
        in.name = it->first.Scalar();
        const std::string ifield = field + ".inputs." + in.name;
        in.where = r.at(it->second);
        std::optional<std::string> reference;
        if (it->second.IsScalar()) {
          reference = it->second.Scalar();
        } else if (it->second.IsMap()) {
          r.check_keys(it->second, ifield, kInputFields);
          if (const auto from = it->second["from"]) reference = r.scalar(from, sub(ifield, "from"));
          else r.error(it->second, ifield, "missing required field 'from' (e.g. from: spinup.temperature)");
          in.expect = read_schema(r, it->second, ifield, false);
        } else {
          r.error(it->second, ifield, "must be `stage.output` or {from: stage.output, dtype: ..., dims: ..., units: ...}");
        }
        if (!reference) continue;
        if (!split_reference(*reference, in.stage_pattern, in.output)) {
          r.error(it->second, ifield, fmt::format("'{}' is not of the form stage.output", *reference));
          continue;
        }
        s.inputs.push_back(std::move(in));
      }
    }
  }

  if (const auto after = node["after"]) {
    const auto names = r.string_list(after, sub(field, "after"));
    for (const auto& n : names) s.after.emplace_back(n, r.at(after));
  }

  if (const auto for_each = node["for_each"]) {
    t.for_each_where = r.at(for_each);
    if (r.require_map(for_each, sub(field, "for_each"))) {
      for (auto it = for_each.begin(); it != for_each.end(); ++it) {
        const std::string key = it->first.Scalar();
        const std::string ffield = field + ".for_each." + key;
        std::vector<std::string> values;
        std::vector<SourceLocation> where;
        if (!it->second.IsSequence() || it->second.size() == 0) {
          r.error(it->second, ffield, "must be a non-empty list of values");
          t.rejected_for_each.insert(key);
          continue;
        }
        const yaml::Node list = it->second;
        for (const auto& v : list) {
          if (auto text = r.scalar(v, ffield)) {
            values.push_back(*text);
            where.push_back(r.at(v));
          }
        }
        // An item that is not a value was reported; the list must not expand with a gap.
        if (values.size() != it->second.size()) t.rejected_for_each.insert(key);
        t.for_each.emplace_back(key, std::move(values));
        t.for_each_value_where.push_back(std::move(where));
      }
    }
  }
  return t;
}

// One stage per combination of the `for_each` lists (their Cartesian product, in file order).
// The template is used up: its last member takes its spec rather than a copy (a stage
// without for_each is its only member).
void expand(Reader& r, StageTemplate&& t, std::vector<StageSpec>& out) {
  // A bad for_each list is reported where it is; its stages are not made (their names would
  // keep the placeholder and draw errors that only repeat it).
  if (!t.rejected_for_each.empty()) return;
  // Named only for an error: this runs for every stage.
  const auto name_field = [&t] { return "stages." + t.spec.name + ".name"; };
  std::set<std::string> keys;
  for (const auto& [key, values] : t.for_each) keys.insert(key);
  for (const auto& used : placeholders(t.spec.name)) {
    if (!keys.count(used)) {
      r.error(t.spec.where, name_field(),
              fmt::format("placeholder '{{{}}}' has no for_each list of that name", used));
      return;
    }
  }
  if (!t.for_each.empty()) {
    const auto used = placeholders(t.spec.name);
    for (const auto& key : keys) {
      if (std::find(used.begin(), used.end(), key) == used.end()) {
        r.error(t.spec.where, name_field(),
                fmt::format("name must contain '{{{}}}' so that each ensemble member gets its own name", key));
        return;
      }
    }
  }
  const std::string template_name = t.spec.name;
  std::size_t members = 1;
  for (const auto& [key, values] : t.for_each) members *= values.size();
  std::vector<std::size_t> index(t.for_each.size(), 0);
  for (std::size_t member = 0; member < members; ++member) {
    std::vector<std::pair<std::string, std::string>> values;
    for (std::size_t k = 0; k < t.for_each.size(); ++k) {
      values.emplace_back(t.for_each[k].first, t.for_each[k].second[index[k]]);
    }
    // Made in place; the last member takes the template's spec (a plain stage is its only
    // member), the others copy it.
    StageSpec& s = member + 1 == members ? out.emplace_back(std::move(t.spec)) : out.emplace_back(t.spec);
    if (!values.empty()) s.name = substitute(s.name, values);
    s.parameters.set_stage(s.name);
    s.field_where.reserve(s.field_where.size() + values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
      s.parameters.set(values[k].first, values[k].second);
      s.field_where.set("parameters." + values[k].first, t.for_each_value_where[k][index[k]]);
    }
    if (!values.empty()) {
      for (auto& in : s.inputs) {
        in.stage_pattern = substitute(in.stage_pattern, values);
        in.output = substitute(in.output, values);
      }
      for (auto& [pattern, where] : s.after) pattern = substitute(pattern, values);
    }
    // Each member's simulated metrics, with its for_each values filled in.
    for (const auto& [metric, texts] : t.simulate) {
      const std::string mfield = "stages." + substitute(template_name, values) + ".simulate.metrics." + metric;
      SimulatedMetric sm;
      bool ok = true;
      for (const auto& [text, target, what] : {std::tuple{substitute(texts.first, values), &sm.value, "value"},
                                               std::tuple{substitute(texts.second, values), &sm.noise, "noise"}}) {
        double number = 0.0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(number) ||
            (std::string_view(what) == "noise" && number < 0)) {
          r.error(t.simulate_where, mfield + "." + what,
                  fmt::format("'{}' is not a {}number", text, std::string_view(what) == "noise" ? "non-negative " : ""));
          ok = false;
        } else {
          *target = number;
        }
      }
      if (ok) s.simulated_metrics[metric] = sm;
    }
    if (!s.name.empty() && !valid_stage_name(s.name)) {
      r.error(s.where, "stages." + s.name + ".name",
              "stage names may use letters, digits and _ . + - (they become file names)");
    }
    s.scenario = std::move(values);
    // Odometer over the for_each lists.
    for (std::size_t k = t.for_each.size(); k > 0; --k) {
      if (++index[k - 1] < t.for_each[k - 1].second.size()) break;
      index[k - 1] = 0;
    }
  }
}

// The most stages a campaign may expand to: five times the scale validation is measured at
// (tests/bench/bench_validate.cpp), and about 1.5 GB to validate.
constexpr std::size_t kMostStages = 500'000;

// How many stages `stages:` expands to, counted from its for_each lists before any is read,
// so that the campaign's stages are allocated once (a vector that doubles holds both copies
// while it moves them). A guess when lists are malformed; capped, since it only reserves.
std::size_t expected_stages(const yaml::Node& stages) {
  constexpr std::size_t kMost = std::size_t{1} << 22;
  std::size_t total = 0;
  for (const auto& stage : stages) {
    std::size_t members = 1;
    for (const auto& list : stage["for_each"]) {
      members *= std::max<std::size_t>(1, std::min(list.second.size(), kMost));
      if (members > kMost) break;
    }
    total += std::min(members, kMost);
    if (total > kMost) return kMost;
  }
  return total;
}

// Reads stages[first, last) into specs[first, last) if each is a plain stage: read without
// being refused, no for_each list, so one spec each. False at the first that is not (the rest
// unread): the caller then reads them all again the usual way.
bool read_plain_stages(Reader& r, const yaml::Node& stages, std::size_t first, std::size_t last,
                       const CheckpointSpec& checkpoint, const std::filesystem::path& base, std::vector<StageSpec>& specs) {
  std::vector<StageSpec> one;
  for (std::size_t i = first; i < last; ++i) {
    auto t = read_stage(r, stages[i], i, checkpoint, base);
    if (!t || !t->for_each.empty()) return false;
    one.clear();
    expand(r, std::move(*t), one);
    if (one.size() != 1) return false;
    specs[i] = std::move(one.front());
  }
  return true;
}

// A long list of plain stages read by two threads, each half into its own part of the
// campaign's stages, with the diagnostics in the order one thread makes them. Each stage is
// read on its own (the only state shared is the const tree and interned file names), so the
// result is what one thread would give. False, with nothing changed, if a stage is not plain.
bool read_plain_stages_in_two_threads(const std::string& file, const yaml::Node& stages, Campaign& c,
                                      const std::filesystem::path& base, Diagnostics& diagnostics) {
  const std::size_t n = stages.size();
  if (n < 2 || n > kMostStages) return false;
  std::vector<StageSpec> specs(n);
  const std::size_t half = n / 2;
  Diagnostics first_found, second_found;
  bool first_plain = false;
  bool second_plain = false;
  {
    std::jthread second;
    try {
      second = std::jthread([&] {
        try {
          Reader r(file, second_found);
          second_plain = read_plain_stages(r, stages, half, n, c.checkpoint, base, specs);
        } catch (...) {
          // Out of memory, say: one thread reads them again and meets it itself.
        }
      });
    } catch (const std::system_error&) {
      return false;  // no thread to be had (a process limit): one thread reads them all
    }
    Reader r(file, first_found);
    first_plain = read_plain_stages(r, stages, 0, half, c.checkpoint, base, specs);
  }
  if (!first_plain || !second_plain) return false;
  for (const auto* found : {&first_found, &second_found}) {
    for (const auto& d : found->items()) diagnostics.add(d.where, d.field, d.message);
  }
  c.stages = std::move(specs);
  return true;
}

// The campaign-level CF fields (`conventions:`, `title:`, ..., `start_date:`) and `mpi_io:`.
void read_output_conventions(Reader& r, const yaml::Node& root, Campaign& c) {
  if (const auto n = root["conventions"]) {
    if (auto text = r.nonempty_string(n, "conventions")) c.output_conventions.conventions = *text;
  }
  for (const auto& key : kGlobalAttributeFields) {
    if (const auto n = root[key]) {
      if (auto text = r.nonempty_string(n, key)) c.output_conventions.attributes.emplace_back(key, *text);
    }
  }
  if (const auto n = root["start_date"]) c.output_conventions.start_date = read_start_date(r, n, "start_date", c.calendar);
  if (const auto n = root["mpi_io"]) c.mpi_io_hints = read_mpi_io(r, n, "mpi_io");
}

// Once every stage is made: each stage's hints are the campaign's with its own on top, its
// start_date is checked against the calendar, and no for_each key may take the name of an
// attribute the output file already has (it becomes one too).
void finish_output_settings(Reader& r, Campaign& c) {
  std::set<std::string> reserved = {"stage", "kernel", "Conventions"};
  for (const auto& key : kGlobalAttributeFields) reserved.insert(key);
  std::set<std::string> reported;
  for (auto& s : c.stages) {
    MpiIoHints merged = c.mpi_io_hints;
    for (const auto& [key, value] : s.mpi_io_hints) merged[key] = value;
    s.mpi_io_hints = std::move(merged);
    if (!s.start_date.empty()) {
      if (auto bad = start_date_problem(s.start_date, c.calendar.name); !bad.empty()) {
        if (reported.insert(s.template_name + "/start_date").second) {  // once per template
          r.error(s.location_of("start_date"), "stages." + s.template_name + ".start_date", bad);
        }
        s.start_date.clear();
      } else {
        s.start_date = normalized_start_date(s.start_date);
      }
    }
    for (const auto& [key, value] : s.scenario) {
      const bool clash = reserved.count(key) > 0 || key.starts_with("perennial_");
      if (clash && reported.insert(s.template_name + "/" + key).second) {
        r.error(s.location_of("parameters." + key), "stages." + s.template_name + ".for_each." + key,
                fmt::format("'{}' is taken by an attribute of the output files (for_each values become attributes); "
                            "rename it", key));
      }
    }
  }
}

// A whole file in one string, read in one go (a stream copied through a stringstream would
// hold it twice); nullopt when it cannot be read.
std::optional<std::string> read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size > 0) {
    text.resize(static_cast<std::size_t>(size));
    in.read(text.data(), size);
    text.resize(static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return std::nullopt;
  // Not a regular file (a pipe, /dev/stdin): read what it gives.
  if (size <= 0) {
    in.clear();
    std::ostringstream rest;
    rest << in.rdbuf();
    text = rest.str();
  }
  return text;
}

SourceLocation yaml_error_location(const yaml::ParseError& e, const std::filesystem::path& file) {
  if (e.mark.is_null()) return {file.string(), 0, 0};
  return {file.string(), e.mark.line + 1, e.mark.column + 1};
}

LoadedCampaign read_campaign(const yaml::Node& root, const std::filesystem::path& file, bool two_threads) {
  LoadedCampaign result;
  Reader r(file.string(), result.diagnostics);
  if (!root.IsMap()) {
    r.error(SourceLocation{file.string(), 1, 1}, "campaign",
            root.IsNull() ? "the campaign file is empty: it needs campaign: and stages:"
                          : "the campaign file must be a YAML mapping with campaign: and stages:");
    return result;
  }
  r.check_keys(root, "", kTopFields);
  Campaign c;
  c.file = file;
  c.where = r.at(root);
  if (const auto n = root["campaign"]) {
    if (auto text = r.nonempty_string(n, "campaign")) {
      c.name = *text;
      if (!valid_stage_name(c.name)) r.error(n, "campaign", "use letters, digits and _ . + - (it names a folder)");
    }
  } else {
    r.error(root, "campaign", "missing required field 'campaign' (the campaign's name)");
  }
  if (const auto n = root["calendar"]) {
    if (auto text = r.nonempty_string(n, "calendar")) {
      if (auto cal = calendar_named(*text)) {
        c.calendar = *cal;
      } else {
        r.error(n, "calendar", fmt::format("unknown calendar '{}'; use one of {}", *text, fmt::join(calendar_names(), ", ")));
      }
    }
  }
  read_output_conventions(r, root, c);
  const auto base = std::filesystem::absolute(file).parent_path();
  c.output_dir = base / "runs" / c.name;
  if (const auto n = root["output_dir"]) {
    if (auto text = r.nonempty_string(n, "output_dir")) c.output_dir = (base / *text).lexically_normal();
  }

  if (const auto projects = root["projects"]) {
    if (!projects.IsSequence()) {
      r.error(projects, "projects", "must be a list of {name, grant, allocation_core_hours}");
    } else {
      std::set<std::string> names;
      for (std::size_t i = 0; i < projects.size(); ++i) {
        const auto& p = projects[i];
        std::string field = fmt::format("projects[{}]", i);
        if (!r.require_map(p, field)) continue;
        r.check_keys(p, field, kProjectFields);
        ProjectSpec project;
        project.where = r.at(p);
        if (const auto n = p["name"]) {
          if (auto text = r.nonempty_string(n, sub(field, "name"))) project.name = *text;
        } else {
          r.error(p, field, "missing required field 'name'");
        }
        if (const auto n = p["grant"]) {
          if (auto text = r.scalar(n, sub(field, "grant"))) project.grant = *text;
        }
        if (const auto n = p["allocation_core_hours"]) {
          if (auto v = r.number<double>(n, sub(field, "allocation_core_hours"), 0.0, limits::kCoreHours)) project.allocation_core_hours = *v;
        }
        if (const auto n = p["share"]) {
          if (auto v = r.number<double>(n, sub(field, "share"), 0.0, limits::kWeight)) project.share = *v;
        }
        if (const auto n = p["hard_cap"]) {
          if (auto v = r.boolean(n, sub(field, "hard_cap"))) project.hard_cap = *v;
          if (project.hard_cap && project.allocation_core_hours <= 0) {
            r.error(n, sub(field, "hard_cap"), "a hard cap needs the project's allocation_core_hours (above 0)");
          }
        }
        if (!project.name.empty() && !names.insert(project.name).second) {
          r.error(p, sub(field, "name"), fmt::format("duplicate project '{}'", project.name));
        }
        c.projects.push_back(std::move(project));
      }
    }
  }

  if (const auto n = root["checkpoint"]) c.checkpoint = read_checkpoint(r, n, "checkpoint", c.checkpoint);

  if (const auto n = root["cluster"]) c.cluster = read_cluster(r, n);
  if (const auto n = root["scheduling"]) c.scheduling = read_scheduling(r, n);

  // Fault drills: each item is checked here, so a typo is an error before anything runs.
  if (const auto faults = root["faults"]) {
    if (!faults.IsSequence()) {
      r.error(faults, "faults", "must be a list of drills such as 'kill:rank=3,step=120'");
    } else {
      for (std::size_t i = 0; i < faults.size(); ++i) {
        const std::string field = fmt::format("faults[{}]", i);
        auto text = r.nonempty_string(faults[i], field);
        if (!text) continue;
        try {
          FaultPlan::parse(*text, field);
          c.faults.push_back(*text);
        } catch (const Error& e) {
          r.error(faults[i], field, e.what());
        }
      }
    }
  }

  if (const auto stages = root["stages"]) {
    if (!stages.IsSequence() || stages.size() == 0) {
      r.error(stages, "stages", "must be a non-empty list of stages");
    } else {
      const bool read = two_threads && read_plain_stages_in_two_threads(file.string(), stages, c, base, result.diagnostics);
      if (read) {
        result.stage_threads = 2;
      } else {
        c.stages.reserve(expected_stages(stages));
      }
      bool too_many = false;
      for (std::size_t i = 0; !read && i < stages.size(); ++i) {
        auto t = read_stage(r, stages[i], i, c.checkpoint, base);
        if (!t) continue;
        // A few for_each lists multiply into millions of stages (ci/fuzz.sh found a file of
        // 14 KB that asked for 2.3 million and 6 GB): refused, once, where it passes the bound.
        std::size_t members = 1;
        for (const auto& [key, values] : t->for_each) members = std::min(members * std::max<std::size_t>(values.size(), 1), kMostStages + 1);
        if (c.stages.size() + members > kMostStages) {
          if (!too_many) {
            r.error(t->spec.where, "stages." + t->spec.name,
                    fmt::format("the campaign would have more than {} stages (this one {} for {}); split it into "
                                "several campaigns", kMostStages, t->for_each.empty() ? "adds 1" : fmt::format("expands to {}", members > kMostStages ? fmt::format("over {}", kMostStages) : std::to_string(members)),
                                t->spec.name));
          }
          too_many = true;
          continue;
        }
        expand(r, std::move(*t), c.stages);
      }
      loader::check_command_placeholders(r, c.stages);
    }
  } else {
    r.error(root, "stages", "missing required field 'stages'");
  }
  finish_output_settings(r, c);
  result.campaign = std::move(c);
  return result;
}

}  // namespace

std::optional<double> parse_duration_seconds(const std::string& text) {
  static const std::regex duration(R"(\s*([0-9]*\.?[0-9]+)\s*(ms|s|sec|m|min|h|hr|d|day|days|w|week|weeks)?\s*)");
  std::smatch m;
  if (!std::regex_match(text, m, duration)) return std::nullopt;
  // from_chars, not std::stod: a number too long for a double is +infinity, not an exception.
  const std::string digits = m[1].str();
  double value = 0.0;
  if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec == std::errc::result_out_of_range) {
    value = std::numeric_limits<double>::infinity();  // only digits and a point: too large, never too small
  }
  const std::string unit = m[2].str();
  double scale = 1.0;
  if (unit == "ms") scale = 1e-3;
  else if (unit == "m" || unit == "min") scale = 60.0;
  else if (unit == "h" || unit == "hr") scale = 3600.0;
  else if (unit == "d" || unit == "day" || unit == "days") scale = 86400.0;
  else if (unit == "w" || unit == "week" || unit == "weeks") scale = 604800.0;
  return value * scale;
}

namespace {

// Parses `text`, frees `release` (the text itself, when the caller owns it: the tree keeps
// its own copy of every value, and a large file need not be held twice), then reads it.
LoadedCampaign parse_and_read(std::string_view text, const std::filesystem::path& file, std::string* release,
                              const LoadOptions& options) {
  const bool two_threads = text.size() >= options.two_threads_from_bytes;
  std::optional<yaml::Document> document;
  try {
    document.emplace(text, yaml::ReadOptions{options.two_threads_from_bytes, 0});
  } catch (const yaml::ParseError& e) {
    LoadedCampaign result;
    result.diagnostics.add(yaml_error_location(e, file), "yaml", e.what());
    return result;
  }
  if (release) std::string().swap(*release);
  LoadedCampaign result = read_campaign(document->root(), file, two_threads);
  result.yaml_threads = document->read_by_two_threads() ? 2 : 1;
  return result;
}

}  // namespace

LoadedCampaign load_campaign_text(const std::string& yaml, const std::filesystem::path& file, const LoadOptions& options) {
  return parse_and_read(yaml, file, nullptr, options);
}

LoadedCampaign load_campaign_file(const std::filesystem::path& file, const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    LoadedCampaign result;
    result.diagnostics.add({file.string(), 0, 0}, "file", "is a directory, not a campaign file");
    return result;
  }
  auto text = read_text(file);
  if (!text) {
    LoadedCampaign result;
    result.diagnostics.add({file.string(), 0, 0}, "file", "cannot be read (does it exist?)");
    return result;
  }
  return parse_and_read(*text, file, &*text, options);
}

LoadedCluster load_cluster_file(const std::filesystem::path& file) {
  LoadedCluster result;
  std::error_code ec;
  const auto text = std::filesystem::is_directory(file, ec) ? std::nullopt : read_text(file);
  if (!text) {
    result.diagnostics.add({file.string(), 0, 0}, "file", "cannot be read as a cluster file (does it exist?)");
    return result;
  }
  try {
    const yaml::Document document(*text);
    const yaml::Node root = document.root();
    Reader r(file.string(), result.diagnostics);
    // The same form as a campaign's section: `cluster: {nodes: [...]}`, or just `nodes: [...]`.
    if (root.IsMap() && root["cluster"]) {
      r.check_keys(root, "", {"cluster"});
      result.cluster = read_cluster(r, root["cluster"]);
    } else {
      result.cluster = read_cluster(r, root);
    }
  } catch (const yaml::ParseError& e) {
    result.diagnostics.add(yaml_error_location(e, file), "yaml", e.what());
  }
  return result;
}

}  // namespace perennial
