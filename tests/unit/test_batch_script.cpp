// The Slurm batch script `perennial sbatch` writes, as text: its #SBATCH lines, the lead
// from a checkpoint cost, quoting of paths with spaces, and refusal of bad --time values.
// The script's behaviour under a real Slurm is tests/slurm/slurm_requeue.sh's.
#include "batch_script.hpp"
#include "commands.hpp"

#include <gtest/gtest.h>

#include <string>

namespace perennial {
namespace {

BatchScriptSpec spec() {
  BatchScriptSpec s;
  s.job_name = "perennial-cmip lite";
  s.perennial = "/opt/perennial/bin/perennial";
  s.campaign = "/home/ana/my campaigns/cmip.yaml";
  s.output_dir = "/scratch/ana/it's here";
  s.nodes = 2;
  s.ntasks_per_node = 8;
  s.time = "1-00:00:00";
  s.account = "clim42";
  s.partition = "compute";
  s.lead_seconds = signal_lead_seconds(45.0);
  s.lead_reason = "measured";
  s.max_requeues = 7;
  s.launch_args = {"--mpirun-args", "--oversubscribe --bind-to none"};
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(BatchScript, HasTheSbatchLinesForSignalRequeueAndSize) {
  const std::string text = batch_script_text(spec());
  EXPECT_EQ(text.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_TRUE(has_line(text, "#SBATCH --job-name=\"perennial-cmip lite\""));
  EXPECT_TRUE(has_line(text, "#SBATCH --nodes=2"));
  EXPECT_TRUE(has_line(text, "#SBATCH --ntasks-per-node=8"));
  EXPECT_TRUE(has_line(text, "#SBATCH --time=1-00:00:00"));
  EXPECT_TRUE(has_line(text, "#SBATCH --account=\"clim42\""));
  EXPECT_TRUE(has_line(text, "#SBATCH --partition=\"compute\""));
  EXPECT_TRUE(has_line(text, "#SBATCH --signal=B:USR1@150"));
  EXPECT_TRUE(has_line(text, "#SBATCH --requeue"));
  EXPECT_TRUE(has_line(text, "#SBATCH --open-mode=append"));
  EXPECT_TRUE(has_line(text, "#SBATCH --output=\"/scratch/ana/it's here/slurm/perennial-%j.out\"")) << text;
  EXPECT_TRUE(has_line(text, "max_requeues=7"));
  // Every #SBATCH line comes before the first command: sbatch stops reading them there.
  EXPECT_LT(text.rfind("#SBATCH"), text.find("set -u"));
}

TEST(BatchScript, LeavesOutWhatWasNotGiven) {
  BatchScriptSpec s = spec();
  s.time.clear();
  s.account.clear();
  s.partition.clear();
  const std::string text = batch_script_text(s);
  EXPECT_EQ(text.find("--time="), std::string::npos);
  EXPECT_EQ(text.find("--account="), std::string::npos);
  EXPECT_EQ(text.find("--partition="), std::string::npos);
}

TEST(BatchScript, LeadIsTwiceTheCheckpointCostRoundedUpPlusSlurmsSlack) {
  EXPECT_EQ(signal_lead_seconds(45.0), 2 * 45 + 60);
  EXPECT_EQ(signal_lead_seconds(0.2), 1 + 60);
  EXPECT_EQ(signal_lead_seconds(0.0), 60);
  EXPECT_EQ(signal_lead_seconds(kDefaultCheckpointSeconds), 120);
}

TEST(BatchScript, QuotesPathsWithSpacesAndQuotesAsOneShellWord) {
  EXPECT_EQ(shell_quote("/a b/c"), "'/a b/c'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  const std::string text = batch_script_text(spec());
  EXPECT_TRUE(has_line(text, "campaign='/home/ana/my campaigns/cmip.yaml'"));
  EXPECT_TRUE(has_line(text, "output_dir='/scratch/ana/it'\\''s here'"));
  EXPECT_NE(text.find(" '--mpirun-args' '--oversubscribe --bind-to none' &\n"), std::string::npos) << text;
}

TEST(BatchScript, EscapesPercentInTheOutputPathAndRefusesDoubleQuotes) {
  BatchScriptSpec s = spec();
  s.output_dir = "/scratch/100%";
  EXPECT_TRUE(has_line(batch_script_text(s), "#SBATCH --output=\"/scratch/100%%/slurm/perennial-%j.out\""));
  s.output_dir = "/scratch/a\"b";
  try {
    batch_script_text(s);
    FAIL() << "a double quote went into a #SBATCH line";
  } catch (const BadOption& e) {
    EXPECT_NE(std::string(e.what()).find("--output-dir"), std::string::npos) << e.what();
  }
}

TEST(BatchScript, ReadsSlurmsTimeForms) {
  EXPECT_EQ(parse_slurm_time("30"), 30 * 60);
  EXPECT_EQ(parse_slurm_time("2:30"), 2 * 60 + 30);
  EXPECT_EQ(parse_slurm_time("00:02:00"), 120);
  EXPECT_EQ(parse_slurm_time("12:00:00"), 12 * 3600);
  EXPECT_EQ(parse_slurm_time("1-12"), 86400 + 12 * 3600);
  EXPECT_EQ(parse_slurm_time("1-12:30"), 86400 + 12 * 3600 + 30 * 60);
  EXPECT_EQ(parse_slurm_time("2-00:00:10"), 2 * 86400 + 10);
}

TEST(BatchScript, RefusesBadTimesNamingTheOption) {
  for (const char* bad : {"", "abc", "1h", "1:2:3:4", "-5", "1-", "00:00:30", "UNLIMITED", "1.5", "1-2:3:4:5"}) {
    try {
      parse_slurm_time(bad);
      ADD_FAILURE() << "accepted --time '" << bad << "'";
    } catch (const BadOption& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("--time '", 0), 0u) << what;
      EXPECT_NE(what.find("HH:MM:SS"), std::string::npos) << what;
    }
  }
}

TEST(BatchScript, RequeuesOnlyACheckpointedCampaignAndCapsTheRestarts) {
  const std::string text = batch_script_text(spec());
  // The decision reads the outcome rank 0 wrote; a failure is never requeued.
  EXPECT_NE(text.find("log/outcome.json"), std::string::npos);
  EXPECT_NE(text.find("scontrol requeue \"$SLURM_JOB_ID\""), std::string::npos);
  EXPECT_NE(text.find("if [ \"$restart\" -ge \"$max_requeues\" ]"), std::string::npos);
  EXPECT_NE(text.find("squeue -h -j \"$SLURM_JOB_ID\" -o %e"), std::string::npos);
  EXPECT_NE(text.find("trap 'forward USR1' USR1"), std::string::npos);
}

}  // namespace
}  // namespace perennial
