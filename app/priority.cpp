// `perennial priority DIR STAGE (VALUE | --pause | --resume | --stop)`: the scientist's hand on
// one stage of a campaign, running or not. A running campaign (its coordinator holds the output
// folder's lock) gets a request file and answers within a second; a stopped one gets a `hand`
// record in its journal, which the next run applies before it starts anything.

#include "commands.hpp"
#include "forecast.hpp"

#include <perennial/campaign_loader.hpp>
#include <perennial/coordinator/clock.hpp>
#include <perennial/coordinator/control_requests.hpp>
#include <perennial/coordinator/hand.hpp>
#include <perennial/coordinator/journal.hpp>
#include <perennial/coordinator/output_folder.hpp>
#include <perennial/coordinator/resume.hpp>
#include <perennial/errors.hpp>

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>
#include <unistd.h>

namespace perennial {

namespace {

// The request the command line asks for, or BadOption naming what is wrong with it.
HandRequest request_from(const PrioritySettings& s) {
  const int actions = (s.value.empty() ? 0 : 1) + (s.pause ? 1 : 0) + (s.resume ? 1 : 0) + (s.stop ? 1 : 0);
  if (actions != 1) {
    throw BadOption(actions == 0 ? "give one of VALUE (a new priority), --pause, --resume or --stop"
                                 : "give only one of VALUE, --pause, --resume and --stop");
  }
  HandRequest r;
  r.stage = s.stage;
  r.unix = unix_time_seconds();
  r.source = "cli";
  if (s.pause) r.action = HandAction::pause;
  if (s.resume) r.action = HandAction::resume;
  if (s.stop) r.action = HandAction::stop;
  if (!s.value.empty()) {
    r.action = HandAction::priority;
    long long v = 0;
    const char* end = s.value.data() + s.value.size();
    const auto [at, ec] = std::from_chars(s.value.data(), end, v);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && at == end && (v < -limits::kPriority || v > limits::kPriority))) {
      throw BadOption(fmt::format("VALUE {}: a priority is within -{} .. {}", s.value, limits::kPriority, limits::kPriority));
    }
    if (ec != std::errc() || at != end) throw BadOption(fmt::format("VALUE '{}': not an integer priority", s.value));
    r.value = static_cast<int>(v);
  }
  return r;
}

// What the journal already says of the stage, for a campaign that is not running: done stages
// take no hand, and only a stage held by hand can be resumed.
std::string offline_problem(const CampaignFolder& cf, const HandRequest& r) {
  const StageGraph& graph = *cf.graph;
  const StageId id = *graph.find(r.stage);
  if (r.action != HandAction::resume && read_history(graph, cf.journal)[id].completed) {
    return fmt::format("{} completed in an earlier run: nothing to {}", r.stage,
                       r.action == HandAction::priority ? "reprioritise" : hand_action_name(r.action));
  }
  if (r.action != HandAction::resume) return {};
  bool held = false;
  for (const auto& record : cf.journal.records) {
    if (record.value("type", "") != "hand" || record.value("stage", "") != r.stage) continue;
    const std::string action = record.value("action", "");
    if (action == "pause" || action == "stop") held = true;
    if (action == "resume") held = false;
  }
  return held ? std::string() : fmt::format("{} is not held by hand: nothing to resume", r.stage);
}

}  // namespace

int command_priority(const PrioritySettings& settings) {
  HandRequest request;
  std::optional<CampaignFolder> folder;
  try {
    request = request_from(settings);
    folder.emplace(open_campaign_folder(settings.folder));
  } catch (const BadOption& e) {
    std::fprintf(stderr, "perennial priority: %s\n", e.what());
    return kExitBadInput;
  } catch (const Error& e) {
    std::fprintf(stderr, "perennial priority: %s\n", e.what());
    return kExitBadInput;
  }
  const CampaignFolder& cf = *folder;
  const std::string where = cf.folder.string();
  if (const auto problem = hand_request_problem(*cf.graph, request); !problem.empty()) {
    std::fprintf(stderr, "perennial priority: %s (campaign file %s): %s\n", where.c_str(), cf.campaign_file.c_str(),
                 problem.c_str());
    return kExitBadInput;
  }

  // No coordinator holds the folder: the journal takes the record, and the next run applies it.
  // The lock is held meanwhile so that no run starts halfway through the append.
  if (auto lock = OutputFolderLock::try_take(cf.folder, fmt::format("perennial priority, pid {}", ::getpid()))) {
    if (const auto problem = offline_problem(cf, request); !problem.empty()) {
      std::fprintf(stderr, "perennial priority: %s: %s\n", where.c_str(), problem.c_str());
      return kExitIncomplete;
    }
    Journal journal(cf.folder / "journal.jsonl");
    journal.append(request.to_json());
    journal.sync();
    std::string what(hand_action_name(request.action));
    if (request.value) what += fmt::format(" {}", *request.value);
    fmt::print("{}: {} journaled in {}; the campaign is not running: it takes effect when the campaign runs again\n",
               request.stage, what, where);
    return 0;
  }

  // A coordinator runs: it answers within about half a second.
  ControlRequests control(cf.folder);
  const std::string id = control.submit(request);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(settings.wait_seconds);
  while (true) {
    if (const auto answer = control.take_answer(id)) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (answer->accepted) {
        fmt::print("accepted: {} (answered in {:.2f} s)\n", answer->message, seconds);
        return 0;
      }
      std::fprintf(stderr, "perennial priority: refused: %s\n", answer->message.c_str());
      return kExitIncomplete;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr,
               "perennial priority: the running coordinator of %s did not answer within %.0f s; the request stays "
               "queued (%s): it takes it when it can, or the next run does\n",
               where.c_str(), settings.wait_seconds, (control.dir() / (id + ".request.json")).c_str());
  return kExitNoAnswer;
}

}  // namespace perennial
