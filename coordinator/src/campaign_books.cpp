#include <perennial/coordinator/campaign_books.hpp>

#include <perennial/accounting/summary.hpp>
#include <perennial/coordinator/clock.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>

namespace perennial {

CampaignBooks::CampaignBooks(CampaignRun& run, EventLog& events, int ranks) : run_(run), events_(events) {
  open(ranks);
}

void CampaignBooks::open(int ranks) {
  const Campaign& c = run_.graph().campaign();
  try {
    store_.emplace(c.output_dir / "accounting.db");
    accounting::RunRecord r;
    r.campaign = c.name;
    r.mode = "real";
    r.started = unix_time_seconds();
    r.ranks = ranks;
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    r.host = host;
    r.calendar = c.calendar.name;
    r.days_per_year = c.calendar.days_per_year;
    run_id_ = store_->begin_run(r);
    std::vector<accounting::AllocationRow> allocations;
    for (const auto& p : c.projects) allocations.push_back({p.name, p.grant, p.allocation_core_hours});
    store_->set_allocations(allocations);
    apply_allocations();
    recorder_.emplace(*store_, run_, run_id_, unix_time_seconds() - events_.elapsed());
    recorder_->set_error_sink([this](const std::string& what) { failed(what); });
    recorder_->set_slurm_job(accounting::SlurmJob::from_environment());
    run_.add_observer(*recorder_);
  } catch (const accounting::AccountingError& e) {
    store_.reset();
    failed(e.what());
    // Without the books, a hard cap counts this run's use alone.
    for (const auto& p : c.projects) {
      if (p.hard_cap) run_.policy().set_cap(p.name, p.allocation_core_hours * 3600.0);
    }
  }
}

// Every earlier run's use against each project's allocation: said when it is over, and a
// `hard_cap:` project may use only what is left in this run.
void CampaignBooks::apply_allocations() {
  const auto use = accounting::use_by_project(store_->segments(), store_->allocations());
  for (const auto& p : run_.graph().campaign().projects) {
    double used = 0.0;
    for (const auto& u : use) {
      if (u.project == p.name) used = u.core_hours;
    }
    if (p.allocation_core_hours > 0 && used >= p.allocation_core_hours) {
      events_.record({{"event", "allocation_used"}, {"project", p.name}, {"grant", p.grant}, {"core_hours", used},
                      {"allocation_core_hours", p.allocation_core_hours}});
      events_.progress(fmt::format("ALLOCATION project {} (grant {}) has used {:.2f} of its {:.2f} core-hours{}", p.name,
                                   p.grant, used, p.allocation_core_hours,
                                   p.hard_cap ? "; hard_cap: its stages start no more" : ""));
    }
    if (p.hard_cap) run_.policy().set_cap(p.name, std::max(0.0, p.allocation_core_hours - used) * 3600.0);
  }
}

void CampaignBooks::failed(const std::string& what) {
  if (errors_++ == 0) {
    events_.record({{"event", "accounting_error"}, {"error", what}});
    events_.progress(fmt::format("ACCOUNTING {}; the campaign goes on, but its books are incomplete", what));
  } else {
    events_.log().error("accounting: {}", what);
  }
}

std::vector<accounting::MetricRow> CampaignBooks::earlier_metrics() const {
  if (!store_) return {};
  try {
    return store_->metrics("");
  } catch (const std::exception& e) {
    // Without them the groups start empty: the campaign goes on, judged afresh.
    events_.progress(fmt::format("warning: the books' metric values could not be read ({}): scenario groups start afresh",
                                 e.what()));
    return {};
  }
}

void CampaignBooks::metric(StageId id, std::uint64_t step, const std::string& name, double value, double now,
                           std::optional<double> simulated) {
  if (recorder_) recorder_->metric(id, step, name, value, now, simulated);
}

void CampaignBooks::tick(double now) {
  if (recorder_) recorder_->tick(now);
}

void CampaignBooks::commit_if_older_than(std::chrono::duration<double> age) {
  if (!store_) return;
  try {
    // Rows that waited `age` for their group are committed with it, not a group later.
    if (recorder_ && recorder_->write_new_segments(age)) {
      store_->commit();
    } else {
      store_->commit_if_older_than(age);
    }
  } catch (const accounting::AccountingError& e) {
    failed(e.what());
  }
}

void CampaignBooks::close() {
  if (!store_) return;
  try {
    if (recorder_) recorder_->write_new_segments(std::chrono::seconds(0));
    store_->end_run(run_id_, unix_time_seconds());  // commits what is left
  } catch (const accounting::AccountingError& e) {
    failed(e.what());
  }
}

}  // namespace perennial
