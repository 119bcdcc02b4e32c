#!/usr/bin/env bash
# random_kill_soak.sh [PERENNIAL_OR_BUILD_DIR] [--trials N] [--seed S] [options...]
#
# Random-kill soak (issue 12, point 3): each trial runs a campaign (tests/soak/cmip-soak.yaml,
# cmip-lite made short, or tests/soak/preempt-soak.yaml: preemption, a protected stage and many
# short stages; with `--campaigns queue`, tests/soak/queue-soak.yaml: 200 stages of milliseconds,
# queued on busy workers) under `perennial launch`, SIGKILLs one random rank (the coordinator and idle
# workers included) at a moment aimed at from the run's files (during validation, a checkpoint
# write, an output write, a respawn, right after a stage ends, or at random), resumes the
# campaign as a user would (the same command again) until it completes, and checks: no run
# hangs (bounded; stacks saved), no process outlives its job, outputs bit-identical in content
# to a failure-free reference run, and a consistent journal. One line per trial, a summary at
# the end; exit 1 on any hang, wrong result, inconsistency or stray process (failing trials'
# folders are kept and printed), 77 when it cannot run here (CTest shows SKIPPED), 2 on bad use.
#
#   tests/soak/random_kill_soak.sh build --trials 10 --seed 1
#   PERENNIAL=/tmp/soak-bin/perennial nice -n 10 tests/soak/random_kill_soak.sh --trials 30 --seed 7
#
# The logic is in random_kill_soak.py (python3, standard library only); `--help` lists options.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 > /dev/null; then
  echo "random_kill_soak.sh: SKIPPED: no python3" >&2
  exit 77
fi
exec python3 -u "$here/random_kill_soak.py" "$@"
