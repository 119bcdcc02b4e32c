#include <perennial/errors.hpp>
#include <perennial/fault_plan.hpp>

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <map>
#include <sstream>

namespace perennial {

namespace {

struct KindRule {
  FaultKind kind;
  std::string_view name;
  std::string_view required;  // what the kind needs, for the error message
};

constexpr std::array<KindRule, 7> kKinds{{
    {FaultKind::kill, "kill", "rank=N and step=S or time=SECONDS"},
    {FaultKind::kill_node, "kill-node", "node=N and step=S"},
    {FaultKind::kill_in_checkpoint, "kill-in-checkpoint", "rank=N and epoch=E"},
    {FaultKind::corrupt_checkpoint, "corrupt-checkpoint", "stage=NAME and step=S"},
    {FaultKind::truncate_checkpoint, "truncate-checkpoint", "stage=NAME and step=S"},
    {FaultKind::silence, "silence", "rank=N and step=S or time=SECONDS"},
    {FaultKind::fill_disk, "fill-disk", "stage=NAME and epoch=E"},
}};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\n") - first + 1);
}

template <class T>
std::optional<T> number(const std::string& text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Fault parse_one(const std::string& item, const std::string& origin) {
  auto fail = [&](const std::string& why) { return Error(fmt::format("{}: '{}': {}", origin, item, why)); };
  const auto colon = item.find(':');
  const std::string kind_name = trim(item.substr(0, colon));
  const KindRule* rule = nullptr;
  for (const auto& k : kKinds) {
    if (k.name == kind_name) rule = &k;
  }
  if (!rule) {
    std::string known;
    for (const auto& k : kKinds) known += (known.empty() ? "" : ", ") + std::string(k.name);
    throw fail(fmt::format("unknown fault '{}' (known: {})", kind_name, known));
  }
  Fault f;
  f.kind = rule->kind;
  f.text = trim(item);
  std::stringstream fields(colon == std::string::npos ? std::string() : item.substr(colon + 1));
  for (std::string field; std::getline(fields, field, ',');) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) throw fail(fmt::format("'{}' is not key=value", trim(field)));
    const std::string key = trim(field.substr(0, eq)), value = trim(field.substr(eq + 1));
    auto whole = [&](const char* what) {
      auto v = number<std::uint64_t>(value);
      if (!v) throw fail(fmt::format("{} must be a whole number, not '{}'", what, value));
      return *v;
    };
    if (key == "rank") f.rank = static_cast<int>(whole("rank"));
    else if (key == "node") f.node = static_cast<int>(whole("node"));
    else if (key == "step") f.step = whole("step");
    else if (key == "epoch") f.epoch = whole("epoch");
    else if (key == "stage") f.stage = value;
    else if (key == "time") {
      std::string seconds = value;
      if (!seconds.empty() && seconds.back() == 's') seconds.pop_back();
      auto v = number<double>(seconds);
      if (!v || *v < 0) throw fail(fmt::format("time must be seconds, not '{}'", value));
      f.time = *v;
    } else {
      throw fail(fmt::format("unknown key '{}' (a {} fault takes {})", key, rule->name, rule->required));
    }
  }
  const bool has_rank = f.rank >= 0, has_trigger = f.step || f.time;
  bool ok = false;
  switch (f.kind) {
    case FaultKind::kill:
    case FaultKind::silence: ok = has_rank && has_trigger; break;
    case FaultKind::kill_node: ok = f.node >= 0 && f.step.has_value(); break;
    case FaultKind::kill_in_checkpoint: ok = has_rank && f.epoch.has_value(); break;
    case FaultKind::corrupt_checkpoint:
    case FaultKind::truncate_checkpoint: ok = !f.stage.empty() && f.step.has_value(); break;
    case FaultKind::fill_disk: ok = !f.stage.empty() && f.epoch.has_value(); break;
  }
  if (!ok) throw fail(fmt::format("a {} fault needs {}", rule->name, rule->required));
  if (f.rank == 0 && !(f.kind == FaultKind::kill && f.time)) {
    throw fail("rank 0 is the coordinator: only 'kill:rank=0,time=SECONDS' applies to it");
  }
  return f;
}

}  // namespace

std::string_view fault_kind_name(FaultKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

FaultPlan FaultPlan::parse(const std::string& text, const std::string& origin) {
  FaultPlan plan;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ';');) {
    if (trim(item).empty()) continue;
    plan.faults.push_back(parse_one(item, origin));
  }
  return plan;
}

std::string FaultPlan::to_string() const {
  std::string out;
  for (const auto& f : faults) out += (out.empty() ? "" : ";") + f.text;
  return out;
}

void FaultPlan::append(const FaultPlan& other) { faults.insert(faults.end(), other.faults.begin(), other.faults.end()); }

}  // namespace perennial
