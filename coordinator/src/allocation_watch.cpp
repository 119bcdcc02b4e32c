#include <perennial/coordinator/allocation_watch.hpp>

#include <perennial/accounting/store.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/resources.hpp>

#include <fmt/format.h>

#include <chrono>

namespace perennial {

namespace {
// Enough for a warning: the log wants "will this grant run out", not a tight interval.
constexpr int kDraws = 20;
}  // namespace

AllocationWatch::AllocationWatch(const CampaignRun& run, EventLog& events, std::filesystem::path books, double interval)
    : run_(run), events_(events), books_(std::move(books)), interval_(interval) {}

AllocationWatch::~AllocationWatch() {
  if (pending_.valid()) pending_.wait();
}

void AllocationWatch::poll(double now) {
  if (pending_.valid()) {
    if (pending_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    report(pending_.get());
  }
  const bool due = !last_start_ || now - *last_start_ >= interval_;
  if (due && changed_) start(now);
}

void AllocationWatch::start(double now) {
  last_start_ = now;
  changed_ = false;
  const StageGraph& graph = run_.graph();
  const Campaign& campaign = graph.campaign();
  if (std::none_of(campaign.projects.begin(), campaign.projects.end(),
                   [](const ProjectSpec& p) { return p.allocation_core_hours > 0; })) {
    return;  // no allocation to overrun
  }
  // Copies of what the forecast needs, taken here on the loop's thread: the run goes on
  // changing while the forecast runs.
  std::vector<StageHistory> history;
  history.reserve(graph.size());
  for (StageId id = 0; id < graph.size(); ++id) {
    history.push_back(run_.history(id));
    if (run_.progress().state(id) == StageState::completed) history.back().completed = true;
  }
  // The running stages as the run knows them now (the books are up to 30 s behind).
  struct Live {
    StageId id;
    std::uint64_t step;
    std::optional<double> step_seconds;
  };
  std::vector<Live> live;
  for (const auto& [id, r] : run_.running()) {
    const double step_seconds = run_.measured(id).step_seconds;
    live.push_back({id, r.last_step, step_seconds > 0 ? std::optional<double>(step_seconds) : std::nullopt});
  }
  std::vector<NodeSpec> nodes;
  for (NodeIndex n = 0; n < run_.policy().machine().node_count(); ++n) nodes.push_back(run_.policy().machine().node(n));
  const PolicyConfig config = run_.policy().config();
  const double now_unix = unix_time_seconds();
  pending_ = std::async(std::launch::async, [&graph, books = books_, history = std::move(history), live = std::move(live),
                                             nodes = std::move(nodes), config, now_unix]() mutable {
    Outcome out;
    try {
      std::vector<accounting::Segment> segments;
      std::vector<accounting::CheckpointRow> checkpoints;
      if (std::filesystem::exists(books)) {
        const accounting::AccountingStore store(books, accounting::AccountingStore::Mode::read_only);
        segments = store.segments();
        checkpoints = store.checkpoints();
      }
      CampaignState state = campaign_state(graph, std::move(history), segments, checkpoints, now_unix);
      for (const auto& l : live) note_running(state, l.id, l.step, l.step_seconds);
      ForecastOptions options;
      options.draws = kDraws;
      options.node_mtbf_seconds = graph.campaign().checkpoint.node_mtbf_seconds;
      const Forecast f = forecast_campaign(graph, forecast_machine(graph.campaign(), nodes), config, state, options);
      for (const bool grants : {false, true}) {
        for (const auto& o : allocation_outlooks(graph.campaign(), f, state, grants)) {
          for (auto& w : overrun_warnings({o}, now_unix)) {
            const bool over = o.total() > o.allocation_core_hours.value_or(0.0);
            out.keys.push_back(fmt::format("{}:{}:{}", grants ? "grant" : "project", o.name, over ? "over" : "may"));
            out.warnings.push_back(std::move(w));
          }
        }
      }
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    return out;
  });
}

void AllocationWatch::report(Outcome outcome) {
  if (!outcome.error.empty()) {
    if (!said_error_) events_.progress(fmt::format("warning: no allocation forecast: {}", outcome.error));
    said_error_ = true;
    return;
  }
  for (std::size_t i = 0; i < outcome.warnings.size(); ++i) {
    const std::string& key = outcome.keys[i];
    const std::string who = key.substr(0, key.rfind(':'));
    const std::string level = key.substr(key.rfind(':') + 1);
    const auto it = said_.find(who);
    // Once per run, and again only when it gets worse.
    if (it != said_.end() && (it->second == level || it->second == "over")) continue;
    said_[who] = level;
    events_.record({{"event", "allocation_overrun_projected"}, {"subject", who}, {"certain", level == "over"},
                    {"detail", outcome.warnings[i]}});
    events_.progress("warning: " + outcome.warnings[i]);
  }
}

}  // namespace perennial
