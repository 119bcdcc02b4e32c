// The control folder through which `perennial priority` reaches a running coordinator: requests
// in order, answers taken once, and files that are no request answered rather than crashed on.

#include "test_support.hpp"

#include <perennial/coordinator/control_requests.hpp>

#include <gtest/gtest.h>

#include <fstream>

using namespace perennial;

namespace {

HandRequest pause_of(const std::string& stage) { return HandRequest{stage, HandAction::pause, {}, 1.0, "cli"}; }

void write(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

}  // namespace

TEST(ControlRequests, TwoRequestsArePendingInTheOrderTheyWereMadeAndEachAnswerIsTakenOnce) {
  const auto dir = perennial::testing::fresh_directory("control", "order");
  ControlRequests control(dir);
  EXPECT_TRUE(control.pending().empty()) << "no control folder yet: nothing pending";
  const std::string first = control.submit(pause_of("ssp126"));
  const std::string second = control.submit(HandRequest{"ssp245", HandAction::priority, 4, 2.0, "cli"});
  auto pending = control.pending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, first);
  EXPECT_EQ(pending[1].id, second);
  ASSERT_TRUE(pending[0].request);
  EXPECT_EQ(pending[0].request->stage, "ssp126");
  ASSERT_TRUE(pending[1].request);
  EXPECT_EQ(pending[1].request->value, 4);

  EXPECT_FALSE(control.take_answer(first)) << "not answered yet";
  control.answer(first, {true, "ssp126: paused by hand"});
  pending = control.pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, second);
  const auto answer = control.take_answer(first);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->accepted);
  EXPECT_EQ(answer->message, "ssp126: paused by hand");
  EXPECT_FALSE(control.take_answer(first)) << "an answer is taken once";

  control.answer(second, {false, "ssp245 is completed: its priority no longer matters"});
  EXPECT_TRUE(control.pending().empty());
  const auto refused = control.take_answer(second);
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->accepted);
  EXPECT_TRUE(std::filesystem::is_empty(control.dir())) << "nothing left behind";

  // An answer nobody took (the command gave up waiting) goes once it is old.
  const std::string abandoned = control.submit(pause_of("ssp126"));
  control.answer(abandoned, {true, "ssp126: already paused by hand"});
  EXPECT_EQ(control.drop_answers_older_than(std::chrono::seconds(600)), 0u);
  std::filesystem::last_write_time(control.dir() / (abandoned + ".answer.json"),
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
  EXPECT_EQ(control.drop_answers_older_than(std::chrono::seconds(600)), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(control.dir()));
}

// A file that is no request (not JSON, a field missing, an unknown action) comes out pending
// with its problem, to be answered with an error; temporaries and other files are not requests.
TEST(ControlRequests, AMalformedRequestIsPendingWithItsProblemAndIsAnswered) {
  const auto dir = perennial::testing::fresh_directory("control", "malformed");
  ControlRequests control(dir);
  std::filesystem::create_directories(control.dir());
  write(control.dir() / "00000000000000000001-1-0.request.json", "{not json");
  write(control.dir() / "00000000000000000002-1-0.request.json", R"({"type":"hand","action":"pause"})");
  write(control.dir() / "00000000000000000003-1-0.request.json", R"({"type":"hand","stage":"a","action":"promote"})");
  write(control.dir() / ".00000000000000000004-1-0.request.json.tmp", R"({"type":"hand","stage":"a","action":"pause"})");
  write(control.dir() / "notes.txt", "not a request");
  const auto pending = control.pending();
  ASSERT_EQ(pending.size(), 3u);
  for (const auto& p : pending) {
    EXPECT_FALSE(p.request) << p.id;
    EXPECT_NE(p.problem.find(p.id + ".request.json"), std::string::npos) << "the problem names the file: " << p.problem;
  }
  EXPECT_NE(pending[0].problem.find("not JSON"), std::string::npos) << pending[0].problem;
  EXPECT_NE(pending[1].problem.find("field 'stage'"), std::string::npos) << pending[1].problem;
  EXPECT_NE(pending[2].problem.find("field 'action': 'promote'"), std::string::npos) << pending[2].problem;
  for (const auto& p : pending) control.answer(p.id, {false, p.problem});
  EXPECT_TRUE(control.pending().empty());
  const auto answer = control.take_answer(pending[0].id);
  ASSERT_TRUE(answer);
  EXPECT_FALSE(answer->accepted);
}

// The same request twice (the scientist ran the command again): two requests, each answered;
// applied to a run, the second is accepted and changes nothing.
TEST(ControlRequests, ARepeatedRequestIsAnsweredTwiceAndAppliedOnce) {
  const auto dir = perennial::testing::fresh_directory("control", "repeated");
  ControlRequests control(dir);
  const std::string first = control.submit(pause_of("b"));
  const std::string second = control.submit(pause_of("b"));
  EXPECT_NE(first, second);
  const auto checked = perennial::testing::check_campaign(R"(
campaign: repeated
stages:
  - {name: a, kernel: any, ranks: 1, steps: 10}
  - {name: b, kernel: any, ranks: 1, steps: 10}
)");
  ASSERT_TRUE(checked.graph);
  Machine m;
  m.add_worker(m.add_node({"node", 1, 0, 0, 0}), 0, 1);
  CampaignRun run(*checked.graph, SchedulingPolicy(std::move(m), PolicyConfig{}), {});
  run.begin(0);
  std::vector<std::string> messages;
  for (const auto& p : control.pending()) {
    ASSERT_TRUE(p.request);
    const auto outcome = apply_hand(run, *p.request, 1);
    EXPECT_TRUE(outcome.accepted) << outcome.message;
    messages.push_back(outcome.message);
    control.answer(p.id, {outcome.accepted, outcome.message});
  }
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], "b: paused by hand: taken out of the queue");
  EXPECT_EQ(messages[1], "b: already paused by hand");
  EXPECT_TRUE(control.take_answer(first));
  EXPECT_TRUE(control.take_answer(second));
  EXPECT_EQ(run.progress().state(*checked.graph->find("b")), StageState::paused);
}
