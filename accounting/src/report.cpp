#include <perennial/accounting/report.hpp>

#include <perennial/checkpoint_interval.hpp>
#include <perennial/text.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <tuple>

namespace perennial::accounting {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// A segment with the folder it came from: ids and stage names are only unique within one
// store, and a grant's report merges several.
struct Tagged {
  std::size_t folder = 0;
  std::string campaign;
  Segment segment;
};

// The key figures_by_stage groups by: unique across folders, and in folder order.
std::string stage_key(std::size_t folder, const std::string& stage) {
  std::string key = fmt::format("{:06d}", folder);
  key += '\x1f';
  key += stage;
  return key;
}

std::string qualified_name(const StageReport& st) {
  if (st.campaign.empty()) return st.name;
  std::string out = st.campaign;
  out += '/';
  out += st.name;
  return out;
}

double median(std::vector<double> values) { return percentile(std::move(values), 0.5); }

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

Efficiency efficiency_of(const std::vector<const Segment*>& segments) {
  Efficiency e;
  double cpu_hours = 0.0;
  double cpu_core_hours = 0.0;
  double energy = 0.0;
  std::map<std::string, int> sources;
  for (const Segment* s : segments) {
    ++e.segments;
    const double core_hours = s->core_hours();
    e.core_hours += core_hours;
    if (s->cpu_seconds) {
      cpu_hours += *s->cpu_seconds / 3600.0;
      cpu_core_hours += core_hours;
    } else {
      ++e.cpu_unknown_segments;
    }
    e.checkpoint_core_hours += s->checkpoint_seconds * static_cast<double>(s->cores) / 3600.0;
    e.lost_core_hours += s->lost_core_hours;
    e.lost_steps += s->lost_steps;
    e.queue_wait_hours += s->queue_wait_seconds / 3600.0;
    e.max_queue_wait_seconds = std::max(e.max_queue_wait_seconds, s->queue_wait_seconds);
    if (s->energy_joules) {
      energy += *s->energy_joules;
    } else {
      ++e.energy_unknown_segments;
    }
    ++sources[s->energy_source];
  }
  if (cpu_core_hours > 0) e.reserved_use = cpu_hours / cpu_core_hours;
  if (e.core_hours > 0) {
    e.checkpoint_share = e.checkpoint_core_hours / e.core_hours;
    e.lost_share = e.lost_core_hours / e.core_hours;
  }
  if (e.segments > 0 && e.energy_unknown_segments == 0) e.energy_joules = energy;
  e.energy_sources.assign(sources.begin(), sources.end());
  return e;
}

UsageHistory history_of(const std::vector<const Segment*>& segments) {
  UsageHistory h;
  for (const Segment* s : segments) h.intervals.push_back({s->wall_start, s->wall_end, s->core_hours()});
  return h;
}

// Fills what a project and a grant share: use in the window, use to date, burn and exhaustion.
void fill_use(AllocationUse& use, bool grant, const std::vector<const Segment*>& window,
              const std::vector<const Segment*>& to_date, const std::optional<double>& as_of,
              const ExhaustionForecaster& forecaster) {
  for (const Segment* s : window) {
    use.core_hours += s->core_hours();
    use.node_hours += s->node_hours();
    use.gpu_hours += s->gpu_hours();
  }
  use.history = history_of(to_date);
  use.used_to_date_core_hours = use.history.total();
  if (!as_of) return;
  use.burn = burn_rate(use.history, *as_of);
  if (use.allocation_core_hours) {
    use.exhaustion = forecaster ? forecaster({use.name, grant}, use.history, *use.allocation_core_hours, *as_of)
                                : burn_rate_forecast(use.history, *use.allocation_core_hours, *as_of);
  }
}

std::string percent(double share) {
  const double p = 100.0 * share;
  return p != 0.0 && std::fabs(p) < 1.0 ? fmt::format("{:.2g}%", p) : fmt::format("{:.0f}%", p);
}

std::string core_hours_text(double hours) {
  if (hours != 0.0 && std::fabs(hours) < 0.01) return fmt::format("{:.2g} core-h", hours);
  if (std::fabs(hours) < 100) return fmt::format("{:.2f} core-h", hours);
  return fmt::format("{:.0f} core-h", hours);
}

// From the campaign forecast: when it runs out against when its campaigns end.
std::optional<Recommendation> forecast_allocation_advice(const GrantReport& g) {
  const auto& x = g.exhaustion;
  if (!x.projected_core_hours) return std::nullopt;
  const double allocation = *g.allocation_core_hours;
  const double projected = *x.projected_core_hours;
  const std::string use = fmt::format("{} projected by the end of its campaigns (80%: {} to {}) against {} allocated",
                                      core_hours_text(projected), core_hours_text(x.projected_low.value_or(projected)),
                                      core_hours_text(x.projected_high.value_or(projected)), core_hours_text(allocation));
  Recommendation r;
  r.kind = "allocation";
  r.subject = g.name;
  if (x.date && !x.exhausted) {
    std::string before;
    if (x.campaign_end && *x.campaign_end > *x.date) {
      before = fmt::format(", {:.3g} day(s) before its campaigns end ({})", (*x.campaign_end - *x.date) / 86400.0,
                           format_utc_date(*x.campaign_end));
    }
    std::string interval;
    if (x.earliest && x.latest) interval = fmt::format(" (80%: {} to {})", format_utc_date(*x.earliest), format_utc_date(*x.latest));
    r.text = fmt::format("grant {} runs out on {}{}{}: {}; {} more are needed", g.name, format_utc_date(*x.date), interval,
                         before, use, core_hours_text(projected - allocation));
    r.core_hours_back = std::nullopt;
    return r;
  }
  if (x.projected_high && *x.projected_high > allocation) {
    r.text = fmt::format("grant {} may run out: {}", g.name, use);
    return r;
  }
  return std::nullopt;  // within its allocation: nothing to advise
}

Recommendation allocation_advice(const GrantReport& g) {
  Recommendation r;
  r.kind = "allocation";
  r.subject = g.name;
  const auto& x = g.exhaustion;
  const double allocation = *g.allocation_core_hours;
  if (x.exhausted) {
    r.text = fmt::format("grant {} used its allocation up on {}: {} of {} ({})", g.name,
                         x.date ? format_utc_date(*x.date) : std::string("an unknown date"),
                         core_hours_text(g.used_to_date_core_hours), core_hours_text(allocation),
                         percent(g.used_to_date_core_hours / allocation));
    return r;
  }
  std::string interval;
  if (g.burn.days < 2) {
    interval = "no interval yet: less than 2 days of use";
  } else if (x.earliest && x.latest) {
    interval = fmt::format("between {} and {}", format_utc_date(*x.earliest), format_utc_date(*x.latest));
  } else if (x.earliest) {
    interval = fmt::format("not before {}; at the 25th percentile of daily use it never does", format_utc_date(*x.earliest));
  } else {
    interval = "no interval: the daily use is 0 on most days";
  }
  if (g.burn.days >= 2) {
    interval += fmt::format(" at the 75th and 25th percentile of its use per day over {} days", g.burn.days);
  }
  r.text = fmt::format("grant {} runs out on {} ({}): {} left of {} at {:.4g} core-h/day over the last {:.3g} day(s)",
                       g.name, format_utc_date(*x.date), interval, core_hours_text(x.remaining_core_hours),
                       core_hours_text(allocation), g.burn.last_7_days.value_or(0.0), g.burn.last_7_days_span_days);
  return r;
}

// Advice about one stage, or about the stages of one `for_each` template taken together,
// before identical advice is merged. Its sentence is written for any subject: `who` is
// `stage a`, `the 3 stages of template t (a, b and c)` or `20 stages (a, b, c and 17 more)`,
// `many` picks the verb's number and the pronouns, and `amounts` are its additive figures
// (core-hours, steps), summed over the stages when merged. Everything else in the sentence is
// the stage's own rounded figures: advice whose sentences agree on them is said once.
using Sentence = std::function<std::string(const std::string& who, bool many, const std::vector<double>& amounts)>;

struct StageAdvice {
  std::string kind;
  std::string subject;              // `campaign/stage`, or a template's `campaign/member-{m}`
  std::vector<std::string> stages;  // `campaign/stage`: one, or a template's members
  bool of_template = false;
  std::vector<double> amounts;
  std::optional<double> core_hours_back;
  Sentence sentence;
};

// `a`, `a and b`, `a, b, c and d`; beyond four, `a, b, c and 17 more`.
std::string names_text(const std::vector<std::string>& names) {
  const bool cut = names.size() > kStagesNamedInAdvice + 1;
  const std::size_t named = cut ? kStagesNamedInAdvice : names.size();
  std::string out;
  for (std::size_t i = 0; i < named; ++i) {
    if (i > 0) out += (!cut && i + 1 == named) ? " and " : ", ";
    out += names[i];
  }
  if (cut) out += fmt::format(" and {} more", names.size() - named);
  return out;
}

// Advice of one kind whose sentences agree (but for the subject and the summed amounts) said
// once, in the order each first appears; the subject names every stage it covers.
std::vector<Recommendation> merge_identical(const std::vector<StageAdvice>& advice) {
  std::vector<std::vector<const StageAdvice*>> groups;
  std::map<std::string, std::size_t> group_of;
  for (const StageAdvice& a : advice) {
    std::string key = a.kind;
    key += '\x1f';
    key += a.sentence("", false, std::vector<double>(a.amounts.size(), 0.0));
    const auto [it, added] = group_of.emplace(std::move(key), groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(&a);
  }
  std::vector<Recommendation> out;
  for (const auto& group : groups) {
    const StageAdvice& first = *group.front();
    Recommendation r;
    r.kind = first.kind;
    std::vector<std::string> subjects;
    std::vector<double> amounts(first.amounts.size(), 0.0);
    for (const StageAdvice* a : group) {
      subjects.push_back(a->subject);
      r.stages.insert(r.stages.end(), a->stages.begin(), a->stages.end());
      for (std::size_t i = 0; i < amounts.size() && i < a->amounts.size(); ++i) amounts[i] += a->amounts[i];
      if (a->core_hours_back) r.core_hours_back = r.core_hours_back.value_or(0.0) + *a->core_hours_back;
    }
    r.subject = join(subjects, ", ");
    std::string who;
    if (group.size() > 1) {
      who = fmt::format("{} stages ({})", r.stages.size(), names_text(r.stages));
    } else if (first.of_template) {
      who = fmt::format("the {} stages of template {} ({})", r.stages.size(), first.subject, names_text(r.stages));
    } else {
      who = "stage ";
      who += first.subject;
    }
    r.text = first.sentence(who, r.stages.size() > 1, amounts);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<StageAdvice> checkpoint_advice(const StageReport& st, double node_mtbf_seconds) {
  if (st.checkpoint_gaps < kMinCheckpointGaps || !st.checkpoint_interval_seconds || !st.checkpoint_cost_seconds) {
    return std::nullopt;
  }
  const double measured = *st.checkpoint_interval_seconds;
  const double cost = *st.checkpoint_cost_seconds;
  const int nodes = std::max(st.nodes, 1);
  IntervalSettings settings;  // the campaign defaults (max_lost_work 15 min), with the given MTBF
  settings.node_mtbf_seconds = node_mtbf_seconds;
  const IntervalChoice choice = choose_interval(settings, cost, nodes);
  const double optimum = choice.seconds;
  if (optimum <= 0 || measured <= 0) return std::nullopt;
  const double ratio = measured / optimum;
  if (ratio <= kCheckpointIntervalTolerance && ratio >= 1.0 / kCheckpointIntervalTolerance) return std::nullopt;

  const double mtbf = node_mtbf_seconds / nodes;
  const double young_daly = daly_interval(cost, mtbf);
  const bool capped = optimum < young_daly;
  // First-order waste (Young): checkpoint time C/T plus the work a failure loses, T/2 per MTBF.
  auto waste = [&](double t) { return cost / t + t / (2.0 * mtbf); };
  const double back = waste(measured) - waste(optimum);
  StageAdvice a;
  a.kind = "checkpoint-interval";
  a.subject = qualified_name(st);
  a.stages = {a.subject};
  std::string mtbf_text = fmt::format("the MTBF ({} per node", format_duration(node_mtbf_seconds));
  if (nodes > 1) mtbf_text += fmt::format(" / {} nodes", nodes);
  mtbf_text += ")";
  std::string optimum_text = fmt::format("the optimum is {}", format_duration(optimum));
  if (capped) {
    optimum_text += fmt::format(" (max_lost_work's default caps it; Young/Daly alone gives {})", format_duration(young_daly));
  }
  const std::string every = format_duration(measured);
  const std::string cost_text = format_duration(cost);
  if (back > 0) {
    a.core_hours_back = back * st.figures.core_hours;
    a.amounts = {*a.core_hours_back};
    a.sentence = [=, share = percent(back)](const std::string& who, bool many, const std::vector<double>& amounts) {
      return fmt::format("{} {} every {}; for {} measured cost ({}) and {} {}: {} of {} time back ({} over this "
                         "report's period{})",
                         who, many ? "checkpoint" : "checkpoints", every, many ? "their" : "its", cost_text, mtbf_text,
                         optimum_text, share, many ? "their" : "its", core_hours_text(amounts.at(0)),
                         many ? ", in all" : "");
    };
  } else {
    // Only when max_lost_work caps the interval: less frequent checkpoints save time but a
    // failure then loses more work than the default bound allows.
    a.sentence = [=, optimum_at = format_duration(optimum), young_daly_at = format_duration(young_daly)](
                     const std::string& who, bool many, const std::vector<double>&) {
      return fmt::format("{} {} every {}, {:.2g}x the {} that max_lost_work allows by default: a failure can lose up "
                         "to {} of {} work (for {} measured cost ({}) and {}, Young/Daly alone gives {}; ignore this "
                         "if max_lost_work was raised on purpose)",
                         who, many ? "checkpoint" : "checkpoints", every, ratio, optimum_at, every,
                         many ? "their" : "its", many ? "their" : "its", cost_text, mtbf_text, young_daly_at);
    };
  }
  return a;
}

std::optional<StageAdvice> reserved_use_advice(const StageReport& st) {
  if (!st.reserved_use || *st.reserved_use >= kLowReservedUse || st.figures.core_hours <= 0 ||
      st.figures.running_seconds < kMinSecondsForReservedUseAdvice) {
    return std::nullopt;
  }
  StageAdvice a;
  a.kind = "reserved-use";
  a.subject = qualified_name(st);
  a.stages = {a.subject};
  a.amounts = {st.figures.core_hours * (1.0 - *st.reserved_use), st.figures.core_hours};
  a.sentence = [use = percent(*st.reserved_use), cores = st.figures.max_cores](const std::string& who, bool many,
                                                                             const std::vector<double>& amounts) {
    return fmt::format("{} used {} of the CPU time of the {} core(s) {} reserved ({} of {} idle{}): {} ranks wait "
                       "(I/O, communication, imbalance) or {} cores they do not use (cores_per_rank)",
                       who, use, cores, many ? "each" : "it", core_hours_text(amounts.at(0)),
                       core_hours_text(amounts.at(1)), many ? " in all" : "", many ? "their" : "its",
                       many ? "they reserve" : "it reserves");
  };
  return a;
}

// ---- parallel efficiency -----------------------------------------------------------------

// A stage's (or a template's) ranks and reserved cores: the figures compared.
using RankCount = std::pair<std::int64_t, int>;  // cores, ranks: fewest cores first

std::string rank_count_text(const RankCount& count) {
  if (count.first == count.second) return fmt::format("{} ranks", count.second);
  return fmt::format("{} ranks ({} cores)", count.second, count.first);
}

// What the segments at one rank count measured: core-seconds per step, and the steps.
struct StepCosts {
  std::vector<double> costs;  // per segment
  double steps = 0.0;
};
using CostsByCount = std::map<RankCount, StepCosts>;

// Core-seconds per step of a segment, computing only (checkpoints and outputs left out, as the
// campaign forecast measures a stage's step time). Absent for a segment too short to judge, and
// for a failed or lost one: it ends when the failure was noticed, after its last known step.
std::optional<double> step_cost(const Segment& s) {
  if (s.outcome == Outcome::failed || s.outcome == Outcome::lost) return std::nullopt;
  if (s.ranks <= 0 || s.cores <= 0 || s.last_step <= s.first_step) return std::nullopt;
  const std::uint64_t steps = s.last_step - s.first_step;
  if (steps < kMinStepsForEfficiencyAdvice) return std::nullopt;
  const double computing = s.wall_seconds() - s.checkpoint_seconds - s.output_seconds;
  if (!(computing >= kMinSecondsForEfficiencyAdvice)) return std::nullopt;
  return computing * static_cast<double>(s.cores) / static_cast<double>(steps);
}

// The `for_each` template a stage was expanded from, recovered from its name and its scenario
// values (`{key}` in a name is replaced by the key's value): each value, longest first, must
// occur exactly once in what is left of the name, and becomes `{key}`; a value that does not
// occur is a key the name does not use. Absent when there are no values, or a value occurs
// more than once (which one is the placeholder is then a guess): such a stage stands alone.
std::optional<std::string> template_of(const std::string& name, const std::string& scenario) {
  const auto j = nlohmann::json::parse(scenario, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.empty()) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> values;  // key, value
  for (const auto& [key, value] : j.items()) {
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (text.empty()) return std::nullopt;
    values.emplace_back(key, std::move(text));
  }
  std::stable_sort(values.begin(), values.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  std::vector<std::pair<std::string, bool>> parts = {{name, false}};  // text, is a placeholder
  for (const auto& [key, value] : values) {
    std::size_t found_part = 0;
    std::size_t found_at = std::string::npos;
    int count = 0;
    for (std::size_t p = 0; p < parts.size(); ++p) {
      if (parts[p].second) continue;
      for (std::size_t at = parts[p].first.find(value); at != std::string::npos; at = parts[p].first.find(value, at + 1)) {
        ++count;
        found_part = p;
        found_at = at;
      }
    }
    if (count > 1) return std::nullopt;
    if (count == 0) continue;
    const std::string text = parts[found_part].first;
    std::string placeholder = "{";
    placeholder += key;
    placeholder += '}';
    std::vector<std::pair<std::string, bool>> split = {{text.substr(0, found_at), false},
                                                      {std::move(placeholder), true},
                                                      {text.substr(found_at + value.size()), false}};
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(found_part));
    parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(found_part), split.begin(), split.end());
  }
  std::string out;
  for (const auto& part : parts) out += part.first;
  return out;
}

// A stage's qualifying segments, by rank count.
struct EfficiencyStage {
  std::string qualified;  // campaign/stage
  std::string group;      // the template's key, or the stage's own
  std::string template_label;  // campaign/template, when it has one
  CostsByCount counts;
};

// The members of one template are pooled as one work when they are seen to cost the same per
// step: at some rank count two or more ran, and at every count their medians agree within
// kSameWorkSpread.
bool same_work(const std::vector<const EfficiencyStage*>& members) {
  std::map<RankCount, std::vector<double>> medians;
  for (const EfficiencyStage* m : members) {
    for (const auto& [count, c] : m->counts) medians[count].push_back(median(c.costs));
  }
  bool compared = false;
  for (const auto& [count, values] : medians) {
    if (values.size() < 2) continue;
    compared = true;
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    if (*high > *low * kSameWorkSpread) return false;
  }
  return compared;
}

// Advice on the larger rank counts of one stage (or pooled template) that cost at least
// kParallelEfficiencyExtraCost more core-time per step than its smallest.
std::vector<StageAdvice> efficiency_advice(const CostsByCount& counts, const std::string& subject,
                                           const std::vector<std::string>& stages, bool of_template) {
  std::vector<StageAdvice> out;
  if (counts.size() < 2) return out;
  const auto& [small, small_costs] = *counts.begin();
  const double small_cost = median(small_costs.costs);
  if (!(small_cost > 0)) return out;
  for (auto it = std::next(counts.begin()); it != counts.end(); ++it) {
    const auto& [large, large_costs] = *it;
    const double large_cost = median(large_costs.costs);
    if (!(large_cost >= (1.0 + kParallelEfficiencyExtraCost) * small_cost)) continue;
    // Parallel efficiency of the larger count against the smaller: (t_small x r_small) /
    // (t_large x r_large), in core-time per step.
    const double efficiency = small_cost / large_cost;
    StageAdvice a;
    a.kind = "parallel-efficiency";
    a.subject = subject;
    a.stages = stages;
    a.of_template = of_template;
    a.core_hours_back = large_costs.steps * (large_cost - small_cost) / 3600.0;
    a.amounts = {large_costs.steps, *a.core_hours_back};
    a.sentence = [efficiency_text = percent(efficiency), fewer = percent(1.0 - efficiency),
                  small_text = rank_count_text(small), large_text = rank_count_text(large)](
                     const std::string& who, bool many, const std::vector<double>& amounts) {
      return fmt::format("{} {} at {} parallel efficiency on {} (against {}): on {} the {:.0f} steps {} ran on {} "
                         "would have used {} fewer core-hours ({} back{})",
                         who, many ? "run" : "runs", efficiency_text, large_text, small_text, small_text, amounts.at(0),
                         many ? "they" : "it", large_text, fewer, core_hours_text(amounts.at(1)),
                         many ? " in all" : "");
    };
    out.push_back(std::move(a));
  }
  return out;
}

// Parallel-efficiency advice over the report's stages: each stage on its own, or, when the
// members of one `for_each` template do the same work, the template as one.
std::vector<StageAdvice> parallel_efficiency_advice(const std::vector<EfficiencyStage>& stages) {
  std::map<std::string, std::vector<const EfficiencyStage*>> groups;
  std::vector<std::string> order;  // groups in the order of their first stage
  for (const auto& st : stages) {
    auto& g = groups[st.group];
    if (g.empty()) order.push_back(st.group);
    g.push_back(&st);
  }
  std::vector<StageAdvice> out;
  auto add = [&out](std::vector<StageAdvice> advice) {
    out.insert(out.end(), std::make_move_iterator(advice.begin()), std::make_move_iterator(advice.end()));
  };
  for (const auto& key : order) {
    const auto& members = groups.at(key);
    if (members.size() > 1 && same_work(members)) {
      CostsByCount pooled;
      std::vector<std::string> names;
      for (const EfficiencyStage* m : members) {
        names.push_back(m->qualified);
        for (const auto& [count, c] : m->counts) {
          auto& p = pooled[count];
          p.costs.insert(p.costs.end(), c.costs.begin(), c.costs.end());
          p.steps += c.steps;
        }
      }
      add(efficiency_advice(pooled, members.front()->template_label, names, true));
      continue;
    }
    for (const EfficiencyStage* m : members) add(efficiency_advice(m->counts, m->qualified, {m->qualified}, false));
  }
  return out;
}

// The most core-hours back first (advice without a figure last), the order kept otherwise.
void by_time_back(std::vector<Recommendation>& advice) {
  std::stable_sort(advice.begin(), advice.end(), [](const Recommendation& a, const Recommendation& b) {
    return a.core_hours_back.value_or(0.0) > b.core_hours_back.value_or(0.0);
  });
}

}  // namespace

Books read_books(const std::filesystem::path& folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    throw ReportError(fmt::format("{}: no such folder: give a campaign's output folder", folder.string()));
  }
  const auto path = folder / "accounting.db";
  if (!std::filesystem::exists(path, ec)) {
    throw ReportError(fmt::format("{}: no accounting.db in it: give a campaign's output folder (its store appears "
                                  "when a run starts)",
                                  folder.string()));
  }
  const AccountingStore store(path, AccountingStore::Mode::read_only);
  Books b;
  b.folder = folder;
  b.runs = store.runs();
  b.segments = store.segments();
  b.checkpoints = store.checkpoints();
  b.allocations = store.allocations();
  return b;
}

std::optional<double> parse_report_time(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(value)) return value;
    return std::nullopt;
  }
  std::string value = text;
  if (!value.empty() && (value.back() == 'Z' || value.back() == 'z')) value.pop_back();
  std::tm tm{};
  const char* end = ::strptime(value.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || *end != '\0') {
    tm = std::tm{};
    end = ::strptime(value.c_str(), "%Y-%m-%d", &tm);
    if (!end || *end != '\0' || value.size() != 10) return std::nullopt;
  }
  // strptime accepts 2026-02-31; timegm would roll it into March: refuse what does not round-trip.
  const int year = tm.tm_year;
  const int month = tm.tm_mon;
  const int day = tm.tm_mday;
  const std::time_t t = ::timegm(&tm);
  if (tm.tm_year != year || tm.tm_mon != month || tm.tm_mday != day) return std::nullopt;
  return static_cast<double>(t);
}

std::string format_utc_date(double unix_seconds) {
  const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string format_utc_time(double unix_seconds) {
  const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d} UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_duration(double seconds) {
  auto amount = [](double v, const char* unit) {
    return v < 9.95 ? fmt::format("{:.2g} {}", v, unit) : fmt::format("{:.0f} {}", v, unit);
  };
  if (seconds < 90.0) return amount(seconds, "s");
  if (seconds < 90.0 * 60.0) return amount(seconds / 60.0, "min");
  if (seconds < 48.0 * 3600.0) return amount(seconds / 3600.0, "h");
  return amount(seconds / 86400.0, "d");
}

std::optional<Segment> clip_to_window(const Segment& s, const ReportWindow& window) {
  const double from = window.from.value_or(-kInfinity);
  const double to = window.to.value_or(kInfinity);
  const double wall = s.wall_seconds();
  Segment c = s;
  // The queue wait precedes the start: the part of [start - wait, start) in the window.
  c.queue_wait_seconds = std::max(0.0, std::min(s.wall_start, to) - std::max(s.wall_start - s.queue_wait_seconds, from));
  if (wall <= 0) {
    if (s.wall_start < from || s.wall_start >= to) return std::nullopt;
    return c;
  }
  const double start = std::max(s.wall_start, from);
  const double end = std::min(s.wall_end, to);
  if (end <= start) return std::nullopt;
  if (start == s.wall_start && end == s.wall_end) return c;
  const double share = (end - start) / wall;
  const double head = (start - s.wall_start) / wall;  // share of the segment before the window
  const double tail = (end - s.wall_start) / wall;    // share up to the window's end
  c.wall_start = start;
  c.wall_end = end;
  if (c.cpu_seconds) *c.cpu_seconds *= share;
  c.checkpoint_seconds *= share;
  c.checkpoints = static_cast<int>(std::lround(c.checkpoints * share));
  c.output_seconds *= share;
  c.lost_core_hours *= share;
  c.lost_steps = static_cast<std::uint64_t>(std::llround(static_cast<double>(s.lost_steps) * share));
  if (c.energy_joules) *c.energy_joules *= share;
  const double steps = static_cast<double>(s.last_step) - static_cast<double>(s.first_step);
  c.first_step = s.first_step + static_cast<std::uint64_t>(std::llround(std::max(0.0, steps * head)));
  c.last_step = s.first_step + static_cast<std::uint64_t>(std::llround(std::max(0.0, steps * tail)));
  if (s.simulated_start && s.simulated_end) {
    const double model = *s.simulated_end - *s.simulated_start;
    c.simulated_start = *s.simulated_start + model * head;
    c.simulated_end = *s.simulated_start + model * tail;
  }
  return c;
}

Report build_report(const std::vector<Books>& books, const ReportOptions& options) {
  Report report;
  report.options = options;
  report.options.forecaster = nullptr;
  const auto& window = options.window;
  if (window.from && window.to && !(*window.to > *window.from)) {
    throw ReportError(fmt::format("--to ({}) is not after --from ({})", format_utc_time(*window.to),
                                  format_utc_time(*window.from)));
  }

  // ---- what the folders hold -------------------------------------------------------------
  std::set<std::string> known_projects;
  std::set<std::string> known_grants;
  std::map<std::string, std::set<std::string>> grants_of_project;
  std::optional<std::pair<double, std::size_t>> newest_run;  // started, folder
  std::set<std::string> calendars;
  for (std::size_t f = 0; f < books.size(); ++f) {
    const Books& b = books[f];
    ReportSource source;
    source.folder = b.folder.string();
    source.runs = static_cast<int>(b.runs.size());
    source.segments = static_cast<int>(b.segments.size());
    if (!b.runs.empty()) {
      source.campaign = b.runs.back().campaign;
      calendars.insert(fmt::format("{} ({} days)", b.runs.back().calendar, b.runs.back().days_per_year));
      if (!newest_run || b.runs.back().started > newest_run->first) newest_run = {{b.runs.back().started, f}};
    }
    report.sources.push_back(source);
    for (const auto& s : b.segments) {
      known_projects.insert(s.project);
      known_grants.insert(s.grant);
      grants_of_project[s.project].insert(s.grant);
    }
    for (const auto& a : b.allocations) {
      known_projects.insert(a.project);
      known_grants.insert(a.grant);
      grants_of_project[a.project].insert(a.grant);
    }
  }
  if (newest_run) {
    const auto& run = books[newest_run->second].runs.back();
    report.calendar = run.calendar;
    report.days_per_year = run.days_per_year;
  }
  report.notes.insert(report.notes.end(), options.notes.begin(), options.notes.end());
  if (calendars.size() > 1) {
    report.notes.push_back(fmt::format("the folders use different calendars ({}); simulated years are counted in the "
                                       "newest run's, {}",
                                       join({calendars.begin(), calendars.end()}, ", "), report.calendar));
  }
  auto unknown = [](const char* what, const std::string& name, const std::set<std::string>& known) {
    const std::vector<std::string> names(known.begin(), known.end());
    std::string message = fmt::format("unknown {} '{}'", what, name);
    if (const auto near = nearest_name(name, names); !near.empty()) message += fmt::format(" (did you mean '{}'?)", near);
    message += names.empty() ? std::string(": the folders record none") : fmt::format("; known: {}", join(names, ", "));
    return ReportError(message);
  };
  if (options.project && !known_projects.count(*options.project)) throw unknown("project", *options.project, known_projects);
  if (options.grant && !known_grants.count(*options.grant)) throw unknown("grant", *options.grant, known_grants);
  if (options.project && options.grant && !grants_of_project[*options.project].count(*options.grant)) {
    const auto& grants = grants_of_project[*options.project];
    throw ReportError(fmt::format("project '{}' is not under grant '{}' (its grant: {})", *options.project,
                                  *options.grant, join({grants.begin(), grants.end()}, ", ")));
  }

  // ---- allocations: per project, as the folder with the newest run declares them ---------------
  std::map<std::string, AllocationRow> allocation;
  std::map<std::string, double> allocation_run;
  for (std::size_t f = 0; f < books.size(); ++f) {
    const double started = books[f].runs.empty() ? -kInfinity : books[f].runs.back().started;
    for (const auto& a : books[f].allocations) {
      auto it = allocation.find(a.project);
      if (it == allocation.end()) {
        allocation[a.project] = a;
        allocation_run[a.project] = started;
        continue;
      }
      if (it->second.grant != a.grant || it->second.allocation_core_hours != a.allocation_core_hours) {
        const bool newer = started > allocation_run[a.project];
        const AllocationRow& kept = newer ? a : it->second;
        report.notes.push_back(fmt::format("project {} is declared with different allocations in the folders ({} "
                                           "core-h under {} and {} core-h under {}); the newest run's is used: {} "
                                           "core-h under {}",
                                           a.project, it->second.allocation_core_hours, it->second.grant,
                                           a.allocation_core_hours, a.grant, kept.allocation_core_hours, kept.grant));
        if (newer) {
          it->second = a;
          allocation_run[a.project] = started;
        }
      }
    }
  }
  auto grant_of = [&](const std::string& project, const std::string& fallback) {
    auto it = allocation.find(project);
    return it != allocation.end() ? it->second.grant : fallback;
  };
  auto selected = [&](const std::string& project, const std::string& grant) {
    return (!options.project || project == *options.project) && (!options.grant || grant == *options.grant);
  };

  // ---- the segments, filtered and clipped ----------------------------------------------
  const ReportWindow to_date_window{std::nullopt, window.to};
  std::vector<Tagged> in_window;
  std::vector<Tagged> to_date;
  int running = 0;
  for (std::size_t f = 0; f < books.size(); ++f) {
    std::map<std::int64_t, std::string> campaign_of_run;
    for (const auto& r : books[f].runs) campaign_of_run[r.id] = r.campaign;
    for (const auto& s : books[f].segments) {
      if (!selected(s.project, grant_of(s.project, s.grant))) continue;
      const std::string campaign = campaign_of_run.count(s.run_id) ? campaign_of_run[s.run_id] : std::string();
      if (auto c = clip_to_window(s, to_date_window)) to_date.push_back({f, campaign, std::move(*c)});
      if (auto c = clip_to_window(s, window)) {
        if (c->outcome == Outcome::running) ++running;
        in_window.push_back({f, campaign, std::move(*c)});
      }
    }
  }
  auto by_start = [](const Tagged& a, const Tagged& b) {
    return std::tie(a.segment.wall_start, a.folder, a.segment.id) < std::tie(b.segment.wall_start, b.folder, b.segment.id);
  };
  std::sort(in_window.begin(), in_window.end(), by_start);
  std::sort(to_date.begin(), to_date.end(), by_start);
  for (const auto& t : to_date) report.as_of = std::max(report.as_of.value_or(t.segment.wall_end), t.segment.wall_end);
  for (const auto& t : in_window) {
    report.first_use = std::min(report.first_use.value_or(t.segment.wall_start), t.segment.wall_start);
  }
  if (running > 0) {
    report.notes.push_back(fmt::format("{} segment(s) were still running: counted up to their last update", running));
  }
  if (window.from || window.to) {
    report.notes.push_back("segments crossing the window's edges are clipped to it in proportion to their wall time; "
                           "allocation use, burn rates and exhaustion count everything up to the window's end");
  }

  // ---- projects and grants -------------------------------------------------------------
  std::map<std::string, std::vector<const Segment*>> project_window;
  std::map<std::string, std::vector<const Segment*>> project_to_date;
  std::map<std::string, std::string> project_grant;
  for (const auto& t : in_window) project_window[t.segment.project].push_back(&t.segment);
  for (const auto& t : to_date) {
    project_to_date[t.segment.project].push_back(&t.segment);
    project_grant.emplace(t.segment.project, grant_of(t.segment.project, t.segment.grant));
  }
  for (const auto& [project, a] : allocation) {
    if (selected(project, a.grant)) project_grant[project] = a.grant;
  }
  for (const auto& [project, grants] : grants_of_project) {
    if (grants.size() > 1 && project_grant.count(project)) {
      report.notes.push_back(fmt::format("project {} appears under several grants ({}); it is reported under {}", project,
                                         join({grants.begin(), grants.end()}, ", "), project_grant[project]));
    }
  }
  std::map<std::string, GrantReport> grants;
  std::map<std::string, std::vector<const Segment*>> grant_window;
  std::map<std::string, std::vector<const Segment*>> grant_to_date;
  for (const auto& [project, grant] : project_grant) {
    ProjectReport p;
    p.name = project;
    p.grant = grant;
    if (auto it = allocation.find(project); it != allocation.end() && it->second.allocation_core_hours > 0) {
      p.allocation_core_hours = it->second.allocation_core_hours;
    }
    fill_use(p, false, project_window[project], project_to_date[project], report.as_of, options.forecaster);
    p.efficiency = efficiency_of(project_window[project]);
    auto& g = grants[grant];
    g.name = grant;
    g.grant = grant;
    g.projects.push_back(project);
    if (p.allocation_core_hours) g.allocation_core_hours = g.allocation_core_hours.value_or(0.0) + *p.allocation_core_hours;
    auto& gw = grant_window[grant];
    gw.insert(gw.end(), project_window[project].begin(), project_window[project].end());
    auto& gt = grant_to_date[grant];
    gt.insert(gt.end(), project_to_date[project].begin(), project_to_date[project].end());
    report.projects.push_back(std::move(p));
  }
  for (auto& [name, g] : grants) {
    fill_use(g, true, grant_window[name], grant_to_date[name], report.as_of, options.forecaster);
    report.grants.push_back(std::move(g));
  }

  // ---- stages and scenarios --------------------------------------------------------------
  std::vector<Segment> keyed;
  std::vector<const Segment*> all;
  std::map<std::string, const Tagged*> first_of_stage;
  std::map<std::string, std::vector<const Segment*>> stage_segments;
  keyed.reserve(in_window.size());
  for (const auto& t : in_window) {
    all.push_back(&t.segment);
    Segment s = t.segment;
    s.stage = stage_key(t.folder, t.segment.stage);
    first_of_stage.emplace(s.stage, &t);
    stage_segments[s.stage].push_back(&t.segment);
    keyed.push_back(std::move(s));
  }
  report.total = efficiency_of(all);
  report.scenarios = figures_by_scenario(keyed, report.days_per_year);

  // Checkpoint commits per stage: gaps between consecutive commits of one segment.
  std::map<std::string, std::vector<double>> gaps;
  std::map<std::string, std::vector<double>> costs;
  for (std::size_t f = 0; f < books.size(); ++f) {
    std::map<std::int64_t, const Segment*> segment_of;
    for (const auto& s : books[f].segments) segment_of[s.id] = &s;
    // The previous commit, when it was of the same segment (ids start at 1).
    std::int64_t previous_segment = 0;
    double previous_wall = 0.0;
    for (const auto& c : books[f].checkpoints) {  // by segment, then time
      const auto it = segment_of.find(c.segment_id);
      const bool inside = it != segment_of.end() && selected(it->second->project, grant_of(it->second->project, it->second->grant)) &&
                          (!window.from || c.wall >= *window.from) && (!window.to || c.wall < *window.to);
      if (!inside) {
        previous_segment = 0;
        continue;
      }
      const std::string key = stage_key(f, it->second->stage);
      costs[key].push_back(c.seconds);
      if (previous_segment == c.segment_id) gaps[key].push_back(c.wall - previous_wall);
      previous_segment = c.segment_id;
      previous_wall = c.wall;
    }
  }

  std::vector<StageReport> stages;
  std::vector<EfficiencyStage> efficiency_stages;  // one per stage, in the same order
  for (auto& figures : figures_by_stage(keyed, report.days_per_year)) {
    const std::string key = figures.name;
    const Tagged& first = *first_of_stage.at(key);
    StageReport st;
    st.campaign = first.campaign;
    st.name = first.segment.stage;
    st.project = first.segment.project;
    st.grant = grant_of(first.segment.project, first.segment.grant);
    st.scenario = first.segment.scenario;
    figures.name = st.name;
    st.figures = std::move(figures);
    double cpu = 0.0;
    bool cpu_known = true;
    for (const Segment* s : stage_segments[key]) {
      st.node_hours += s->node_hours();
      st.nodes = std::max(st.nodes, s->nodes);
      st.lost_core_hours += s->lost_core_hours;
      if (s->cpu_seconds) {
        cpu += *s->cpu_seconds / 3600.0;
      } else {
        cpu_known = false;
      }
    }
    if (cpu_known && st.figures.core_hours > 0) st.reserved_use = cpu / st.figures.core_hours;
    if (auto g = gaps.find(key); g != gaps.end() && !g->second.empty()) {
      st.checkpoint_gaps = static_cast<int>(g->second.size());
      st.checkpoint_interval_seconds = median(g->second);
    }
    if (auto c = costs.find(key); c != costs.end() && !c->second.empty()) st.checkpoint_cost_seconds = median(c->second);

    // Its cost per step at each rank count, and what it is compared with: its template's
    // other members (same folder, project and scenario keys), or itself alone.
    EfficiencyStage e;
    e.qualified = qualified_name(st);
    e.group = key;
    if (const auto t = template_of(st.name, st.scenario)) {
      std::string keys;
      const auto scenario = nlohmann::json::parse(st.scenario);  // held: items() only refers to it
      for (const auto& item : scenario.items()) {
        keys += item.key();
        keys += '\x1f';
      }
      e.group = fmt::format("{:06d}\x1f{}\x1f{}\x1f{}", first.folder, *t, st.project, keys);
      e.template_label = st.campaign.empty() ? *t : fmt::format("{}/{}", st.campaign, *t);
    }
    for (const Segment* s : stage_segments[key]) {
      if (const auto cost = step_cost(*s)) {
        auto& c = e.counts[{s->cores, s->ranks}];
        c.costs.push_back(*cost);
        c.steps += static_cast<double>(s->last_step - s->first_step);
      }
    }
    stages.push_back(std::move(st));
    efficiency_stages.push_back(std::move(e));
  }
  // By campaign (then folder, kept by the stable sort), then first start.
  std::vector<std::size_t> stage_order(stages.size());
  for (std::size_t i = 0; i < stage_order.size(); ++i) stage_order[i] = i;
  std::stable_sort(stage_order.begin(), stage_order.end(),
                   [&](std::size_t a, std::size_t b) { return stages[a].campaign < stages[b].campaign; });
  std::vector<EfficiencyStage> efficiency_in_order;
  for (const std::size_t i : stage_order) {
    report.stages.push_back(std::move(stages[i]));
    efficiency_in_order.push_back(std::move(efficiency_stages[i]));
  }
  for (auto& sc : report.scenarios) {
    if (sc.name == "{}") sc.name = "(none)";
  }

  // ---- recommendations -----------------------------------------------------------------
  for (const auto& g : report.grants) {
    // A projection from less than a whole day of use says nothing a grant office can act on.
    if (!g.allocation_core_hours) continue;
    if (!g.exhaustion.exhausted && g.exhaustion.projected_core_hours) {
      // The campaign forecast's projection: advice when it overruns, from any amount of use.
      if (auto r = forecast_allocation_advice(g)) report.recommendations.push_back(std::move(*r));
      continue;
    }
    const bool enough = g.exhaustion.exhausted || g.burn.last_7_days_span_days >= kMinDaysForExhaustionAdvice;
    if (g.exhaustion.date && enough) report.recommendations.push_back(allocation_advice(g));
  }
  // Stage advice: identical advice about several stages said once, the most time back first.
  std::vector<StageAdvice> checkpoints;
  std::vector<StageAdvice> reserved;
  for (const auto& st : report.stages) {
    if (auto a = checkpoint_advice(st, options.node_mtbf_seconds)) checkpoints.push_back(std::move(*a));
    if (auto a = reserved_use_advice(st)) reserved.push_back(std::move(*a));
  }
  for (auto advice : {merge_identical(checkpoints), merge_identical(parallel_efficiency_advice(efficiency_in_order)),
                      merge_identical(reserved)}) {
    by_time_back(advice);
    report.recommendations.insert(report.recommendations.end(), std::make_move_iterator(advice.begin()),
                                  std::make_move_iterator(advice.end()));
  }
  return report;
}

}  // namespace perennial::accounting
