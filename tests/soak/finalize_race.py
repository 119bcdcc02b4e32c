#!/usr/bin/env python3
"""finalize_race.py PERENNIAL [--runs N] [--work-dir D] [--mpiexec M] [--mpiexec-flags F]

The end of a job when a worker dies in its last moments (issue 16's soak hang, 86080b6's CI).
Each run is a one-stage campaign on 4 ranks (half a second of work on one worker); the moment
the stage's completion is in events.jsonl, an idle worker is SIGKILLed. That is the instant
rank 0 sends every worker its shutdown and the ranks go into MPI_Finalize, whose fence counts
every rank under Open MPI 4.1. Before the fix, about one run in ten stayed open for ever (6 of
60 measured: the surviving ranks inside MPI_Finalize, mpirun and launch waiting for them).

Checks, per run: the job ends within a bound (20 s: the campaign takes 0.5 s, MPI_Finalize's
own bound is max(5 s, --coordinator-timeout)), launch exits 0, the outcome says completed, and
no process of the run outlives it. Prints one line a run, how many runs ended through the
bound on MPI_Finalize (a rank's stderr says so) and in how many the death is in outcome.json. Exit 1 on any failed run, 77 when it cannot run.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_kill_soak import tagged_processes  # noqa: E402  (the soak's finder: by environment tag)

CAMPAIGN = ("campaign: finalize-race\n"
            "stages:\n"
            "  - {name: only, kernel: burn-cpu, ranks: 1, steps: 10, parameters: {seconds_per_step: 0.05}}\n")
RUN_BOUND = 20.0


def kill_idle_worker_when_done(events_path, deadline):
    """SIGKILLs an idle worker as soon as the stage's completion is logged; returns its rank or None."""
    pids, busy = {}, None
    while time.time() < deadline:
        try:
            with open(events_path) as f:
                lines = f.read().splitlines()
        except OSError:
            time.sleep(0.005)
            continue
        for line in lines:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line being written
            if e.get("event") == "workers":
                pids = {w["rank"]: w["pid"] for w in e["workers"]}
            elif e.get("event") == "stage_started":
                busy = e["ranks"][0]
            elif e.get("event") == "stage_completed" and pids:
                idle = min(r for r in pids if r != busy)
                try:
                    os.kill(pids[idle], signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return idle
        time.sleep(0.002)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("perennial")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--work-dir", default="/tmp/perennial-finalize-race")
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--mpiexec-flags", default="--oversubscribe")
    a = p.parse_args()
    if not os.access(a.perennial, os.X_OK) or shutil.which(a.mpiexec) is None:
        print(f"finalize_race: SKIPPED: no executable {a.perennial} or no {a.mpiexec}", file=sys.stderr)
        return 77
    if not os.access("/proc/1/environ", os.R_OK):
        print("finalize_race: SKIPPED: needs other processes' environment readable in /proc (root)", file=sys.stderr)
        return 77
    work = os.path.abspath(a.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    campaign = os.path.join(work, "race.yaml")
    with open(campaign, "w") as f:
        f.write(CAMPAIGN)
    base_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    failed, bounded, recorded, times = [], 0, 0, []
    for i in range(a.runs):
        out_dir = os.path.join(work, f"run-{i:03d}")
        cmd = [a.perennial, "launch", "-n", "4", "--mpirun", a.mpiexec, "--mpirun-args", a.mpiexec_flags, campaign,
               "--quiet", "--heartbeat-timeout", "120", "--coordinator-timeout", "3", "--output-dir", out_dir]
        log_path = os.path.join(work, f"run-{i:03d}.log")
        # Every process of the run inherits the tag, respawned workers included.
        tag = f"finalize-race-{os.getpid()}-{i}"
        env = dict(base_env, PERENNIAL_SOAK_TAG=tag)
        start = time.time()
        with open(log_path, "w") as log:
            launch = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        killed = kill_idle_worker_when_done(os.path.join(out_dir, "log", "events.jsonl"), start + 15)
        try:
            code = launch.wait(timeout=max(0.1, start + RUN_BOUND - time.time()))
            verdict = "ended"
        except subprocess.TimeoutExpired:
            verdict, code = "HANG", None
            os.killpg(launch.pid, signal.SIGKILL)
            launch.wait()
        seconds = time.time() - start
        time.sleep(0.5)  # mpirun's last children are reaped
        strays = tagged_processes(tag)
        for pid in strays:
            os.kill(pid, signal.SIGKILL)
        with open(log_path) as f:
            text = f.read()
        bound_ranks = text.count("MPI_Finalize has not ended")
        bounded += bound_ranks > 0
        try:
            with open(os.path.join(out_dir, "log", "outcome.json")) as f:
                outcome = json.load(f)
            status, lost = outcome.get("status"), outcome.get("lost_ranks", [])
        except (OSError, ValueError):
            status, lost = None, []
        # Not a check: a worker that dies after rank 0 has closed its records cannot be in them.
        recorded += killed in lost
        problems = []
        if verdict == "HANG":
            problems.append(f"still running after {RUN_BOUND:.0f} s")
        elif code != 0:
            problems.append(f"launch exit {code}")
        if status != "completed":
            problems.append(f"outcome {status}")
        if killed is None:
            problems.append("no idle worker was killed (the stage never completed?)")
        if strays:
            problems.append(f"{len(strays)} stray process(es)")
        times.append(seconds)
        print(f"run {i:3d} {verdict:5s} {seconds:5.1f}s  killed worker {killed}  ranks ending through the finalize "
              f"bound: {bound_ranks}  death on record: {'yes' if killed in lost else 'no'}  "
              f"{'; '.join(problems) if problems else 'OK'}", flush=True)
        if problems:
            failed.append((i, problems, log_path))
    times.sort()
    print(f"summary: runs {a.runs}, failed {len(failed)}, hangs {sum('still running' in ' '.join(p) for _, p, _ in failed)}, "
          f"runs ended through the finalize bound {bounded}, the death in outcome.json's lost_ranks in {recorded}, time to end median {times[len(times) // 2]:.1f} s, "
          f"max {times[-1]:.1f} s")
    for i, problems, log_path in failed:
        print(f"  run {i}: {'; '.join(problems)} (log {log_path})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
