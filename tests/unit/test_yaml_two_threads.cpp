// A long campaign file is read by two threads (runtime/src/yaml_document.hpp): the second
// parses from a stage-list entry near the middle while the first parses up to it. What is read
// must not depend on it: for every text here, split at every line, the document is the same
// as one thread reads it, node for node and position for position, and a malformed text fails
// with the same message at the same line and column. The split must also really happen where
// it can (a test that never split would prove nothing).

#include "yaml_document.hpp"

#include <perennial/campaign_loader.hpp>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using perennial::yaml::Document;
using perennial::yaml::ParseError;
using perennial::yaml::ReadOptions;

constexpr ReadOptions kOneThread{std::numeric_limits<std::size_t>::max(), 0};

struct Outcome {
  std::size_t splits = 0;     // line starts tried
  std::size_t two_threads = 0;  // of them, read by two threads
};

// Reads `text` by one thread, then split at every line start; every reading must agree.
Outcome expect_same_at_every_split(const std::string& text, const std::string& what) {
  std::optional<Document> alone;
  std::optional<ParseError> alone_error;
  try {
    alone.emplace(text, kOneThread);
  } catch (const ParseError& e) {
    alone_error = e;
  }
  EXPECT_FALSE(alone && alone->read_by_two_threads()) << what;
  Outcome outcome;
  for (std::size_t at = 1; at < text.size(); ++at) {
    if (text[at - 1] != '\n') continue;
    ++outcome.splits;
    try {
      const Document split(text, ReadOptions{0, at});
      outcome.two_threads += split.read_by_two_threads() ? 1 : 0;
      if (alone_error) {
        ADD_FAILURE() << what << ", split at byte " << at << ": read, but one thread failed with '"
                      << alone_error->what() << "'";
        continue;
      }
      EXPECT_TRUE(split.same_nodes(*alone)) << what << ", split at byte " << at
                                            << (split.read_by_two_threads() ? " (two threads)" : " (one thread)");
    } catch (const ParseError& e) {
      if (!alone_error) {
        ADD_FAILURE() << what << ", split at byte " << at << ": failed with '" << e.what() << "', one thread read it";
        continue;
      }
      EXPECT_EQ(std::string(e.what()), alone_error->what()) << what << ", split at byte " << at;
      EXPECT_EQ(e.mark.line, alone_error->mark.line) << what << ", split at byte " << at;
      EXPECT_EQ(e.mark.column, alone_error->mark.column) << what << ", split at byte " << at;
    }
  }
  return outcome;
}

// A campaign written out stage by stage, with what makes a split point tricky: lists inside
// stages, block scalars holding lines that look like entries, an empty value ending an entry,
// flow maps, comments, quoted text over two lines, anchors and aliases (with `alias_header`,
// some naming an anchor before the list: a second thread cannot resolve those).
std::string stage_list(int stages, const std::string& after_list = "", bool alias_header = false) {
  std::string y = "campaign: split\n# a comment\ndefaults: &common {ranks: 1, steps: 10}\nstages:\n";
  for (int i = 0; i < stages; ++i) {
    y += fmt::format("  - name: s{:03}\n    kernel: noop\n", i);
    switch (i % 7) {
      case 0: y += "    after:\n      - s000\n      - {name: x, y: [1, 2]}\n"; break;
      case 1: y += "    note: |\n      - not an entry\n        - nor this\n    steps: 3\n"; break;
      case 2: y += "    parameters: {a: 1, b: [x, y], c: }\n    last:\n"; break;
      case 3: y += "    text: \"two\n      lines\"  # quoted over a line break\n"; break;
      case 4: y += fmt::format("    anchored: &a{} [1, 2]\n    again: *a{}\n", i, i); break;
      case 5:
        y += alias_header ? "    <<: *common\n" : "    <<: {ranks: 2}\n";
        y += "    list:\n    - indentless\n    - entries\n";
        break;
      default: y += "    -key: dash-led key\n    empty:\n"; break;
    }
  }
  return y + after_list;
}

TEST(YamlTwoThreads, AStageListReadByTwoThreadsIsTheSameAsReadByOneAtEverySplit) {
  const auto outcome = expect_same_at_every_split(stage_list(40), "a stage list");
  // Every entry of the stage list is a place to split; the reader took most of them.
  EXPECT_GE(outcome.two_threads, 30u) << "of " << outcome.splits << " line starts";
}

TEST(YamlTwoThreads, AliasesOfAnchorsBeforeTheSplitAreReadTheSame) {
  const auto outcome = expect_same_at_every_split(stage_list(21, "", true), "aliases of the header's anchor");
  // After the last entry that names it, the second part resolves its own aliases.
  EXPECT_GT(outcome.two_threads, 0u);
}

TEST(YamlTwoThreads, TextAfterTheListIsReadByOneThreadAndStaysTheSame) {
  for (const std::string tail : {"output_dir: later\n", "  - last\nmore: 1\n", "...\nignored: [\n", "---\nsecond: doc\n",
                                 "# only a comment\n", "\n\n", " : one column in\n", "%YAML 1.1\n---\nx: 1\n",
                                 "- at column 0\n",
                                 // A complex key after the list, holding lists: libyaml gives
                                 // it a null value when its lists close, which a part merged
                                 // from a split inside them would not.
                                 "?   kernel: noop\n    after:\n      - s000\n      - {name: x}\n"}) {
    const auto outcome = expect_same_at_every_split(stage_list(12, tail), "a stage list then '" + tail + "'");
    EXPECT_GT(outcome.splits, 0u);
  }
}

TEST(YamlTwoThreads, MalformedTextFailsTheSameWayWhereverItIsSplit) {
  const std::vector<std::pair<std::string, std::string>> breaks = {
      {"    kernel: noop\n", "    kernel: noop\n   bad: indent\n"},
      {"    kernel: noop\n", "    kernel: noop\n    kernel: twice\n"},
      {"      - s000\n", "      - *nowhere\n"},
      {"    steps: 3\n", "    steps: [3\n"},
      {"    kernel: noop\n", "    kernel: noop\n\tsteps: 1\n"},
      {"    last:\n", "    last: 'open\n"},
      {"  - name: s", "  - name: s}"},
  };
  for (const auto& [find, replace] : breaks) {
    std::string text = stage_list(14);
    // Break the last occurrence: in the part the second thread reads.
    const auto at = text.rfind(find);
    ASSERT_NE(at, std::string::npos) << find;
    text.replace(at, find.size(), replace);
    expect_same_at_every_split(text, "broken by '" + replace + "'");
  }
}

// libyaml counts `\r`, NEL, LS and PS as line breaks and characters rather than bytes; the
// second thread's first line and the first thread's stop must count the same way.
TEST(YamlTwoThreads, LineBreaksOtherThanNewlineAndMultibyteTextReadTheSame) {
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"# a comment\n", "# a comment\r\r\r\n"},                                    // bare carriage returns
      {"campaign: split\n", "campaign: \"sp\xC2\x85lit\"\n"},                       // NEL in a quoted scalar
      {"campaign: split\n", "campaign: \"sp\xE2\x80\xA8l\xE2\x80\xA9it\"\n"},  // LS and PS
      {"campaign: split\n", "campaign: \xC3\xA9t\xC3\xA9 \xE2\x98\x83\n"},       // two- and three-byte characters
      {"campaign: split\n", "\xEF\xBB\xBF" "campaign: split\n"},                       // a UTF-8 byte-order mark
  };
  for (const auto& [find, replace] : changes) {
    std::string text = stage_list(12);
    text.replace(text.find(find), find.size(), replace);
    const auto outcome = expect_same_at_every_split(text, "with '" + replace + "'");
    EXPECT_GT(outcome.two_threads, 0u) << replace;
  }
  // Every line ended by `\r\n`.
  std::string crlf;
  for (const char c : stage_list(12)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_GT(expect_same_at_every_split(crlf, "CRLF line ends").two_threads, 0u);
}

TEST(YamlTwoThreads, TheFuzzersFindingsReadTheSame) {
  const std::filesystem::path folder = std::filesystem::path(PERENNIAL_SOURCE_DIR) / "tests/fuzz/findings/fuzz_yaml_two_threads";
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    expect_same_at_every_split(text, entry.path().filename().string());
    ++files;
  }
  EXPECT_GT(files, 0u) << folder;
}

TEST(YamlTwoThreads, DeepNestingInTheSecondPartIsRefusedAsByOneThread) {
  std::string text = "stages:\n  - a\n  - b\n  - ";
  text += std::string(999, '[');
  text += std::string(999, ']');
  text += "\n";
  expect_same_at_every_split(text, "999 nested lists in the second part");
}

TEST(YamlTwoThreads, RandomlyDamagedStageListsReadTheSame) {
  const std::string base = stage_list(10);
  std::mt19937 random(16);
  const std::string alphabet = " -:\n\t[]{},#&*|'\"?x";
  for (int trial = 0; trial < 60; ++trial) {
    std::string text = base;
    for (int edit = 0; edit < 3; ++edit) {
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(random);
      const char c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(random)];
      switch (random() % 3) {
        case 0: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        case 1: text.erase(at, 1); break;
        default: text[at] = c; break;
      }
    }
    expect_same_at_every_split(text, fmt::format("damaged copy {}", trial));
  }
}

// Through the loader, with the size at which it uses two threads by itself: the stages read
// and an error's position in the second half are what they are when read by one.
TEST(YamlTwoThreads, ALongCampaignFileLoadsItsStagesAndNamesAnErrorInItsSecondHalf) {
  const int stages = 30000;
  std::string text = "campaign: long\nstages:\n";
  for (int i = 0; i < stages; ++i) {
    text += fmt::format("  - name: run-{:06}\n    kernel: noop\n    ranks: 1\n    steps: {}\n    parameters:\n"
                        "      label: \"a label long enough to make the file long enough\"\n",
                        i, 10 + i % 7);
  }
  ASSERT_GE(text.size(), ReadOptions{}.two_threads_from) << "the file must be long enough for two threads";
  {
    const Document two(text);
    EXPECT_TRUE(two.read_by_two_threads());
    EXPECT_TRUE(two.same_nodes(Document(text, kOneThread)));
  }
  const auto loaded = perennial::load_campaign_text(text, "long.yaml");
  EXPECT_EQ(loaded.yaml_threads, 2);
  EXPECT_EQ(loaded.stage_threads, 2);
  ASSERT_TRUE(loaded.diagnostics.empty()) << loaded.diagnostics.to_string();
  ASSERT_TRUE(loaded.campaign);
  EXPECT_EQ(loaded.campaign->stages.size(), static_cast<std::size_t>(stages));

  // The same file with one stage's steps made text, in its last third.
  const std::string marker = "  - name: run-022000\n    kernel: noop\n    ranks: 1\n    steps: ";
  const auto at = text.find(marker);
  ASSERT_NE(at, std::string::npos);
  text.insert(at + marker.size(), "many");
  const std::size_t line = 2 + 6 * 22000 + 4;  // the campaign and stages lines, 6 per stage, then its 4th
  const auto broken = perennial::load_campaign_text(text, "long.yaml");
  const std::string report = broken.diagnostics.to_string();
  EXPECT_EQ(broken.diagnostics.size(), 1u) << report;
  EXPECT_NE(report.find(fmt::format("long.yaml:{}:12", line)), std::string::npos) << report;
  EXPECT_NE(report.find("steps"), std::string::npos) << report;
}

// The loader reads the stages of a long file by two threads too, each half of the list into
// its own part of the campaign. The stages read, and the diagnostics with their order, must
// be what one thread gives, with errors in either half, and when a stage that is not plain
// (a for_each template, a stage refused whole) sends the loader back to one thread.
std::string long_campaign(int stages, const std::function<std::string(int)>& extra = {}) {
  std::string text = "campaign: long\nstages:\n";
  for (int i = 0; i < stages; ++i) {
    text += fmt::format("  - name: run-{:05}\n    kernel: noop\n    ranks: {}\n    steps: {}\n", i, 1 + i % 3, 10 + i % 7);
    if (i % 5 == 1) text += fmt::format("    after: [run-{:05}]\n", i - 1);
    if (i % 4 == 0) text += "    parameters: {alpha: 0.5, tags: [a, b]}\n";
    if (i % 9 == 0) text += "    outputs: {t: {dtype: float64, dims: [x], units: K}}\n";
    if (extra) text += extra(i);
  }
  return text;
}

// Returns how many threads read the stages the second time.
int expect_same_campaign(const std::string& text, const std::string& what) {
  using perennial::LoadOptions;
  const auto one = perennial::load_campaign_text(text, "long.yaml", LoadOptions{std::numeric_limits<std::size_t>::max()});
  const auto two = perennial::load_campaign_text(text, "long.yaml", LoadOptions{0});
  EXPECT_EQ(one.stage_threads, 1) << what;
  EXPECT_EQ(one.yaml_threads, 1) << what;
  EXPECT_EQ(one.diagnostics.size(), two.diagnostics.size()) << what << "\n" << one.diagnostics.to_string() << "--\n"
                                                            << two.diagnostics.to_string();
  for (std::size_t i = 0; i < one.diagnostics.size(); ++i) {
    EXPECT_EQ(one.diagnostics.items()[i].to_string(), two.diagnostics.items()[i].to_string()) << what << ", #" << i;
  }
  if (one.diagnostics.size() != two.diagnostics.size()) return two.stage_threads;
  EXPECT_EQ(one.campaign.has_value(), two.campaign.has_value()) << what;
  if (!one.campaign || !two.campaign) return two.stage_threads;
  const auto& a = one.campaign->stages;
  const auto& b = two.campaign->stages;
  EXPECT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const auto at = [](const perennial::SourceLocation& w) { return fmt::format("{}:{}:{}", w.file.str(), w.line, w.column); };
    EXPECT_EQ(a[i].name, b[i].name) << what << ", stage " << i;
    EXPECT_EQ(a[i].kernel, b[i].kernel) << what << ", stage " << i;
    EXPECT_EQ(a[i].ranks, b[i].ranks) << what << ", stage " << i;
    EXPECT_EQ(a[i].steps, b[i].steps) << what << ", stage " << i;
    EXPECT_EQ(a[i].parameters.raw(), b[i].parameters.raw()) << what << ", stage " << i;
    EXPECT_EQ(a[i].outputs.size(), b[i].outputs.size()) << what << ", stage " << i;
    EXPECT_EQ(a[i].after.size(), b[i].after.size()) << what << ", stage " << i;
    EXPECT_EQ(at(a[i].where), at(b[i].where)) << what << ", stage " << i;
    for (const char* field : {"steps", "ranks", "kernel", "parameters", "parameters.alpha", "after", "outputs"}) {
      EXPECT_EQ(at(a[i].location_of(field)), at(b[i].location_of(field))) << what << ", stage " << i << ", " << field;
    }
  }
  return two.stage_threads;
}

TEST(LoaderTwoThreads, PlainStagesReadByTwoThreadsAreTheStagesOneThreadReads) {
  EXPECT_EQ(expect_same_campaign(long_campaign(3001), "3001 plain stages"), 2);
}

TEST(LoaderTwoThreads, ErrorsInBothHalvesAreReportedAsOneThreadReportsThem) {
  const auto errors = [](int i) -> std::string {
                         if (i == 10 || i == 1500) return "    stpes: 3\n";           // a typo'd field
                         if (i == 700 || i == 1999) return "    priority: high\n";     // not a number
                         if (i == 1200) return "    cores_per_rank: -1\n";           // out of range
                         return "";
  };
  const std::string text = long_campaign(2000, errors);
  EXPECT_EQ(expect_same_campaign(text, "errors in both halves"), 2) << "errors in stages that are still read leave them plain";
  EXPECT_EQ(perennial::load_campaign_text(text, "long.yaml", perennial::LoadOptions{0}).diagnostics.size(), 5u);
}

TEST(LoaderTwoThreads, AStageThatIsNotPlainSendsTheLoaderBackToOneThreadWithTheSameResult) {
  // A for_each template in the second half, then a stage that is not a map in the first.
  EXPECT_EQ(expect_same_campaign(long_campaign(2000, [](int i) -> std::string {
                         return i == 1700 ? "  - {name: \"m-{k}\", kernel: noop, for_each: {k: [1, 2, 3]}}\n" : "";
                       }),
                       "a for_each template"), 1);
  EXPECT_EQ(expect_same_campaign(long_campaign(2000, [](int i) -> std::string { return i == 300 ? "  - just text\n" : ""; }),
                                 "a stage that is not a map"), 1);
}

}  // namespace
