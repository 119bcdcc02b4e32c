// The report's recommendations: see recommendations.hpp.

#include "recommendations.hpp"

#include <perennial/checkpoint_interval.hpp>
#include <perennial/text.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

namespace perennial::accounting::detail {

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

namespace {

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


std::string rank_count_text(const RankCount& count) {
  if (count.first == count.second) return fmt::format("{} ranks", count.second);
  return fmt::format("{} ranks ({} cores)", count.second, count.first);
}





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

std::vector<Recommendation> recommendations(const Report& report, const std::vector<EfficiencyStage>& efficiency_in_order,
                                            double node_mtbf_seconds) {
  std::vector<Recommendation> out;
  for (const auto& g : report.grants) {
    // A projection from less than a whole day of use says nothing a grant office can act on.
    if (!g.allocation_core_hours) continue;
    if (!g.exhaustion.exhausted && g.exhaustion.projected_core_hours) {
      // The campaign forecast's projection: advice when it overruns, from any amount of use.
      if (auto r = forecast_allocation_advice(g)) out.push_back(std::move(*r));
      continue;
    }
    const bool enough = g.exhaustion.exhausted || g.burn.last_7_days_span_days >= kMinDaysForExhaustionAdvice;
    if (g.exhaustion.date && enough) out.push_back(allocation_advice(g));
  }
  // Stage advice: identical advice about several stages said once, the most time back first.
  std::vector<StageAdvice> checkpoints;
  std::vector<StageAdvice> reserved;
  for (const auto& st : report.stages) {
    if (auto a = checkpoint_advice(st, node_mtbf_seconds)) checkpoints.push_back(std::move(*a));
    if (auto a = reserved_use_advice(st)) reserved.push_back(std::move(*a));
  }
  for (auto advice : {merge_identical(checkpoints), merge_identical(parallel_efficiency_advice(efficiency_in_order)),
                      merge_identical(reserved)}) {
    by_time_back(advice);
    out.insert(out.end(), std::make_move_iterator(advice.begin()),
                                  std::make_move_iterator(advice.end()));
  }
  return out;
}

}  // namespace perennial::accounting::detail
