#!/usr/bin/env python3
"""Random-kill soak (issue 12, point 3); run it through random_kill_soak.sh.

Each trial starts a campaign with `perennial launch` (mpirun --enable-recovery), SIGKILLs one
rank (the coordinator, a worker of a stage group, an idle worker, any rank) at a moment picked
at random and aimed at by watching the run's files:

  validation   before `campaign_started` (MPI start-up, validation, journal read)
  checkpoint   while an `checkpoints/<stage>/epoch-N.h5.partial` exists (a checkpoint write)
  output       while an `outputs/<stage>.h5.partial` exists (a stage writing its outputs)
  stage_end    right after a `stage_completed` event
  respawn      a worker of a running stage is killed first; then, after `spawn_requested`,
               the target (possibly a half-started replacement) while the spawn is under way
  random       any rank at a uniformly random time of the failure-free run's length

then, when the job ends without a completed campaign, resumes it as a user would: the same
command again (at most --max-resumes times). A trial passes when
  1. every run ends within --run-timeout (otherwise: HANG; stacks and logs are saved first),
     and no process of the job outlives it (otherwise: STRAY);
  2. every output file is bit-identical in content to a failure-free reference run made at the
     start with the same executable (WRONG otherwise, or when the campaign never completed);
  3. the journal is consistent (INCONSISTENT otherwise): every record's checksum, no stage
     completed twice in one run, every stage_completed record after a stage_started of that
     stage in the same run and with its output on disk, and the last record a run_ended
     "completed" with every stage of the campaign completed.

How outputs are compared, and why. Whole files are not compared: HDF5 metadata (object
addresses, free-space and allocation order) may legitimately differ between two writes of the
same content. What must be identical is the content:
  - the list of objects, every dataset's type, shape and raw bytes (h5dump -b, compared byte
    for byte: bit-identical, stricter than h5diff's value equality, which treats -0.0 == 0.0);
  - every attribute's type and value (h5dump -A text, with the file addresses inside object
    references removed, so a dimension-scale reference compares by the path it points to);
  - h5diff -r as well (an independent reading of the same).
The one exception is `/perennial_checksums/*`: one row per block each writing rank wrote, so a
stage that legitimately ended on another number of ranks (stage_shrunk) has another table;
that is reported as a note when the row count differs, and as WRONG when it does not.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SKIP = 77
HERE = Path(__file__).resolve().parent
CAMPAIGNS = {"cmip": HERE / "cmip-soak.yaml", "preempt": HERE / "preempt-soak.yaml", "queue": HERE / "queue-soak.yaml"}
MOMENTS = ["validation", "checkpoint", "output", "stage_end", "respawn", "random"]
TARGETS = {  # which ranks a moment may aim at
    "validation": ["coordinator", "any"],
    "checkpoint": ["group", "coordinator", "idle", "any"],
    "output": ["group", "coordinator", "idle", "any"],
    "stage_end": ["freed", "coordinator", "idle", "any"],
    "respawn": ["spawning", "coordinator", "survivor", "any"],
    "random": ["any"],
}
DEFAULT_FLAGS = "--oversubscribe --mca mpi_yield_when_idle 1 --mca btl self,vader,tcp --mca mtl ^ofi"


def say(*a):
    print(*a, flush=True)


# ---- XXH64 (the journal's record checksum), pure Python --------------------------------------

_M = (1 << 64) - 1
_P1, _P2, _P3, _P4, _P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                           9650029242287828579, 2870177450012600261)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc, lane):
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def _merge(h, v):
    return ((h ^ _round(0, v)) * _P1 + _P4) & _M


def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed & _M, (seed - _P1) & _M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for k in range(4):
            h = _merge(h, v[k])
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ ((struct.unpack_from("<I", data, i)[0] * _P1) & _M), 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h = (_rotl(h ^ ((data[i] * _P5) & _M), 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


# ---- processes ---------------------------------------------------------------------------------

def tagged_processes(tag):
    """{pid: (cmdline, OMPI_COMM_WORLD_RANK or None)} of live processes carrying our tag."""
    want = ("PERENNIAL_SOAK_TAG=" + tag).encode()
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = open(f"/proc/{d}/environ", "rb").read().split(b"\0")
            if want not in env:
                continue
            with open(f"/proc/{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rank = None
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                rank = int(e.split(b"=", 1)[1])
        found[int(d)] = (cmd, rank)
    return found


def rank_processes(tag):
    """Processes of perennial ranks only: (rank 0 pid or None, [worker pids of the first world],
    [spawned worker pids])."""
    coordinator, workers, spawned = None, [], []
    for pid, (cmd, rank) in tagged_processes(tag).items():
        if rank is None:
            continue
        words = cmd.split()
        if len(words) > 1 and words[1] == "worker":
            spawned.append(pid)
        elif "run" in words[1:3] or "run" in words:
            if rank == 0:
                coordinator = pid
            else:
                workers.append(pid)
    return coordinator, sorted(workers), sorted(spawned)


def threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- the run's events ----------------------------------------------------------------------------

class Events:
    """Follows <out>/log/events.jsonl from an offset (the file is appended to by every run)."""

    def __init__(self, out, offset):
        self.path = Path(out) / "log" / "events.jsonl"
        self.pos = offset
        self.buf = b""
        self.all = []
        self.started = False
        self.coordinator_pid = None
        self.pids = {}          # worker id -> pid
        self.live = set()       # worker ids alive as far as rank 0 knows
        self.running = {}       # stage -> [worker ids]
        self.completed = []     # (stage, ranks) in order
        self.spawn_requests = 0
        self.spawned = 0
        self.metric_step = {}

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                chunk = f.read()
        except OSError:
            return
        self.pos += len(chunk)
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            self.all.append(e)
            self._apply(e)

    def _apply(self, e):
        kind = e.get("event")
        if kind == "campaign_started":
            self.started = True
            self.coordinator_pid = e.get("coordinator_pid")
        elif kind == "workers":
            for w in e["workers"]:
                self.pids[w["rank"]] = w["pid"]
                self.live.add(w["rank"])
        elif kind == "ranks_spawned":
            self.spawned += 1
            for rank, pid in zip(e.get("ranks", []), e.get("pids", [])):
                self.pids[rank] = pid
                self.live.add(rank)
        elif kind in ("rank_dead", "rank_ended"):
            self.live.discard(e.get("rank"))
        elif kind == "stage_started":
            self.running[e["stage"]] = list(e.get("ranks", []))
        elif kind in ("stage_completed", "stage_failed", "stage_yielded", "stage_suspended", "stage_lost",
                      "stage_recovering"):
            ranks = self.running.pop(e.get("stage"), [])
            if kind == "stage_completed":
                self.completed.append((e["stage"], e.get("ranks", ranks)))
        elif kind == "spawn_requested":
            self.spawn_requests += 1
        elif kind == "metric":
            self.metric_step[e.get("stage")] = e.get("step", 0)

    def idle(self):
        busy = {r for ranks in self.running.values() for r in ranks}
        return sorted(self.live - busy)

    def count(self, kind):
        return sum(1 for e in self.all if e.get("event") == kind)


def partial_files(out):
    """(checkpoint .partial files as (stage, name), output .partial files as stage names)."""
    ckpt, outs = [], []
    try:
        for d in os.scandir(Path(out) / "checkpoints"):
            if d.is_dir():
                for f in os.scandir(d.path):
                    if f.name.endswith(".h5.partial"):
                        ckpt.append((d.name, f.name))
    except OSError:
        pass
    try:
        for f in os.scandir(Path(out) / "outputs"):
            if f.name.endswith(".h5.partial"):
                outs.append(f.name[: -len(".h5.partial")])
    except OSError:
        pass
    return ckpt, outs


# ---- one run of the campaign -----------------------------------------------------------------------

class Run:
    def __init__(self, soak, campaign, out, log_path, tag):
        self.soak, self.out, self.tag, self.log_path = soak, Path(out), tag, log_path
        events = self.out / "log" / "events.jsonl"
        self.events = Events(out, events.stat().st_size if events.exists() else 0)
        env = dict(os.environ, PERENNIAL_SOAK_TAG=tag)
        # The bound is ours (stacks are taken before anything is killed); timeout(1) is a backstop
        # should this script itself be stopped.
        cmd = ["timeout", "--kill-after=10", str(int(soak.run_timeout + 60))] + soak.command(campaign, out)
        self.log = open(log_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.rc = None
        self.hung = False
        self.kills = []

    def elapsed(self):
        return time.monotonic() - self.t0

    def poll(self):
        self.events.poll()
        if self.rc is None:
            self.rc = self.proc.poll()
        if self.rc is None and self.elapsed() > self.soak.run_timeout:
            self.hung = True
        return self.rc is not None or self.hung

    def kill(self, pid, who, moment, detail=""):
        """SIGKILL one process; returns a description of what was done."""
        t = self.elapsed()
        existed = alive(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            ok = existed
        except OSError:
            ok = False
        k = {"t": round(t, 3), "pid": pid, "who": who, "moment": moment, "detail": detail, "was_alive": ok,
             "campaign_started": self.events.started}
        self.kills.append(k)
        return k

    def finish(self, trial_dir, index):
        """Waits for the end (or declares a hang: evidence first, then the kill); checks strays."""
        while not self.poll():
            time.sleep(0.05)
        hang_file = None
        if self.hung:
            hang_file = Path(trial_dir) / f"hang-run{index}.txt"
            collect_hang_evidence(self, hang_file)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.rc = self.proc.returncode if not self.hung else "HANG"
        self.seconds = self.elapsed()
        self.log.close()
        self.events.poll()
        # Whatever belongs to this job must be gone once launch has returned.
        strays = {}
        for _ in range(20):
            strays = tagged_processes(self.tag)
            if not strays:
                break
            time.sleep(0.25)
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.strays = strays
        return hang_file


def notable_lines(log_path):
    """Lines of a launch log that say something went wrong inside (PMIX noise left out)."""
    pattern = re.compile(r"coordinator error|MPI_ABORT was invoked|terminate called|Segmentation|Aborted|"
                         r"failed|stuck|perennial launch: (the job|campaign (?!completed))")
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return []
    return list(dict.fromkeys(re.sub(r"\x1b\[[0-9;]*m", "", l).strip() for l in text.splitlines()
                              if pattern.search(l) and "PMIX" not in l))[:6]


def collect_hang_evidence(run, path):
    """ps, the stacks of every perennial rank (gdb), the last events and log lines."""
    lines = [f"run exceeded {run.soak.run_timeout:.0f} s (elapsed {run.elapsed():.1f} s); evidence taken before the kill",
             "", "processes of the job:"]
    procs = tagged_processes(run.tag)
    for pid, (cmd, rank) in sorted(procs.items()):
        try:
            wchan = open(f"/proc/{pid}/wchan").read()
        except OSError:
            wchan = "?"
        lines.append(f"  pid {pid} rank {rank} wchan {wchan}: {cmd}")
    lines += ["", "last events:"]
    lines += ["  " + json.dumps(e) for e in run.events.all[-15:] if e.get("event") != "metric"]
    coord = run.out / "log" / "coordinator.log"
    if coord.exists():
        lines += ["", "coordinator.log (last 25 lines):"] + ["  " + l for l in coord.read_text(errors="replace").splitlines()[-25:]]
    if Path(run.log_path).exists():
        text = Path(run.log_path).read_text(errors="replace").splitlines()
        lines += ["", "launch output (last 15 lines, PMIX noise left out):"]
        lines += ["  " + l for l in [l for l in text if "PMIX ERROR" not in l][-15:]]
    ranked = [(rank, pid) for pid, (cmd, rank) in procs.items() if rank is not None]
    for rank, pid in sorted(ranked)[:6]:
        lines += ["", f"gdb stacks of pid {pid} (OMPI rank {rank}, {procs[pid][0]}):"]
        try:
            r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "set pagination off", "-ex", "thread apply all bt 25"],
                               capture_output=True, text=True, timeout=60)
            lines += ["  " + l for l in r.stdout.splitlines() if l.startswith(("#", "Thread"))]
        except (OSError, subprocess.TimeoutExpired) as e:
            lines.append(f"  gdb failed: {e}")
    Path(path).write_text("\n".join(lines) + "\n")


# ---- the kill plan of a trial -------------------------------------------------------------------

def pick_target(rng, run, cls, moment_stage=None, avoid=()):
    """(pid, description) for a target class, from what the run's events say now."""
    ev = run.events
    coordinator = ev.coordinator_pid
    live = [w for w in sorted(ev.live) if w not in avoid and w in ev.pids]
    if cls == "coordinator" and coordinator:
        return coordinator, "coordinator (rank 0)"
    if cls == "group" and moment_stage and ev.running.get(moment_stage):
        w = rng.choice(ev.running[moment_stage])
        if w in ev.pids:
            return ev.pids[w], f"worker {w} of {moment_stage}'s group"
    if cls == "freed" and ev.completed:
        stage, ranks = ev.completed[-1]
        ranks = [w for w in ranks if w in ev.pids and w in ev.live]
        if ranks:
            w = rng.choice(ranks)
            return ev.pids[w], f"worker {w}, just freed by {stage}"
    if cls == "idle":
        idle = [w for w in ev.idle() if w not in avoid and w in ev.pids]
        if idle:
            w = rng.choice(idle)
            return ev.pids[w], f"idle worker {w}"
    if cls == "survivor" and live:
        w = rng.choice(live)
        return ev.pids[w], f"surviving worker {w}"
    if cls == "spawning":
        known = set(ev.pids.values())
        _, _, spawned = rank_processes(run.tag)
        fresh = [p for p in spawned if p not in known]
        if fresh:
            return rng.choice(fresh), "half-started replacement worker (not yet connected)"
    # "any", or the class had nobody to offer right now: any rank, rank 0 included.
    pool = [(coordinator, "coordinator (rank 0)")] if coordinator else []
    pool += [(ev.pids[w], f"worker {w}") for w in live]
    if not pool:
        return None, "nobody"
    pid, what = rng.choice(pool)
    return pid, what if cls == "any" else f"{what} (no {cls} rank at that moment)"


def drive_first_run(rng, run, moment, cls, reference_seconds, try_number=0):
    """Watches the first run and kills according to the trial's plan; returns when the run ends."""
    tick = 0.002
    deadline_missed = reference_seconds * 1.5 + 10  # a moment that never comes: give up aiming

    def wait(cond):
        while not run.poll():
            if cond():
                return True
            if run.elapsed() > deadline_missed:
                return False
            time.sleep(tick)
        return False

    def fallback(why):
        pid, what = pick_target(rng, run, cls)
        if pid:
            run.kill(pid, what, moment, f"MISSED ({why}); killed at once instead")

    if moment == "validation":
        # Two windows before campaign_started: inside MPI start-up (the ranks exist, MPI_Init and
        # the hello exchange are under way), and after it (the workers' heartbeat threads run:
        # rank 0 is validating, reading the journal, not yet beating).
        window = rng.choice(["mpi_init", "after_mpi_init"])
        delay = rng.uniform(0.0, 0.25) if window == "mpi_init" else 0.0
        if not wait(lambda: rank_processes(run.tag)[0] is not None):
            return
        if window == "after_mpi_init":
            def serving():
                _, workers, _ = rank_processes(run.tag)
                return any(threads(p) >= 4 for p in workers) or run.events.started
            if not wait(serving):
                return
        time.sleep(delay)
        coordinator, workers, _ = rank_processes(run.tag)
        if cls == "coordinator" or not workers:
            pid, what = coordinator, "coordinator (rank 0)"
        else:
            pid = rng.choice([coordinator] + workers)
            what = "coordinator (rank 0)" if pid == coordinator else "a worker rank"
        run.events.poll()
        run.kill(pid, what, moment, f"{window}: " + (f"{delay:.2f} s after rank 0 appeared" if window == "mpi_init"
                                                     else "as the first worker heartbeat thread appeared"))
    elif moment in ("checkpoint", "output"):
        # Not always the first write, but never more than surely come (polling can miss a short one).
        skip = rng.randint(0, 4) if moment == "checkpoint" else rng.randint(0, 1)
        seen = set()
        while True:
            found = []

            def hit():
                ckpt, outs = partial_files(run.out)
                items = [f"{s}/{n}" for s, n in ckpt] if moment == "checkpoint" else outs
                found[:] = [i for i in items if i not in seen]
                return bool(found)

            if not wait(hit):
                if not run.poll():
                    fallback(f"no {moment} write seen")
                return
            what_file = found[0]
            stage = what_file.split("/")[0]
            if len(seen) >= skip:
                run.events.poll()
                pid, what = pick_target(rng, run, cls, moment_stage=stage)
                if pid:
                    run.kill(pid, what, moment, f"while checkpoints/{what_file} existed" if moment == "checkpoint"
                             else f"while outputs/{what_file}.h5.partial existed")
                return
            seen.update(found)
    elif moment == "stage_end":
        nth = rng.randint(1, 3)
        if not wait(lambda: len(run.events.completed) >= nth):
            if not run.poll():
                fallback(f"stage_completed #{nth} not seen")
            return
        pid, what = pick_target(rng, run, cls)
        if pid:
            run.kill(pid, what, moment, f"right after stage_completed #{nth} ({run.events.completed[nth - 1][0]})")
    elif moment == "respawn":
        if not wait(lambda: run.events.count("checkpoint_committed") >= 1 and run.events.running):
            if not run.poll():
                fallback("no stage running with a checkpoint")
            return
        time.sleep(rng.uniform(0.0, 0.5))
        run.events.poll()
        stages = sorted(s for s, r in run.events.running.items() if r)
        if not stages:
            fallback("no running stage to make a respawn")
            return
        stage = rng.choice(stages)
        w = rng.choice(run.events.running[stage])
        run.kill(run.events.pids[w], f"worker {w} of {stage}'s group", "respawn(first)", "to cause a respawn")
        before = run.events.spawn_requests
        if not wait(lambda: run.events.spawn_requests > before):
            if not run.poll():
                fallback("no spawn_requested after the first kill")
            return
        delay = rng.uniform(0.0, 0.6)
        time.sleep(delay)
        run.events.poll()
        pid, what = pick_target(rng, run, cls, avoid=(w,))
        if pid:
            run.kill(pid, what, moment, f"{delay:.2f} s after spawn_requested")
    elif moment == "random":
        # A retry (the run ended before the moment came: runs vary) aims earlier each time.
        at = rng.uniform(0.3, max(0.5, reference_seconds * 0.9 * 0.5 ** try_number))
        if wait(lambda: run.elapsed() >= at):
            run.events.poll()
            pid, what = pick_target(rng, run, "any")
            if pid:
                run.kill(pid, what, moment, f"at {at:.2f} s")
    while not run.poll():
        time.sleep(0.05)


# ---- checks ------------------------------------------------------------------------------------------

def read_journal(path):
    """(records, problems, notes): every line's checksum checked like Journal::read does."""
    records, problems, notes = [], [], []
    data = Path(path).read_bytes() if Path(path).exists() else b""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
        torn_last = False
    else:
        torn_last = bool(lines)
    for i, line in enumerate(lines, 1):
        body, tab, checksum = line.rpartition(b"\t")
        ok = bool(tab) and f"{xxh64(body):016x}".encode() == checksum
        if ok:
            try:
                records.append(json.loads(body))
                continue
            except ValueError:
                ok = False
        if i == len(lines) and torn_last:
            notes.append(f"journal line {i}: torn last record (tolerated)")
        else:
            problems.append(f"journal line {i}: checksum mismatch or unreadable record: {line[:120]!r}")
        break
    return records, problems, notes


def check_journal(out, expected_stages, final):
    """Problems and notes of <out>/journal.jsonl; `final`: the campaign must be complete."""
    records, problems, notes = read_journal(Path(out) / "journal.jsonl")
    runs = []
    for r in records:
        if r.get("type") == "run_started" or not runs:
            runs.append([])
        runs[-1].append(r)
    ever_completed = set()
    for n, recs in enumerate(runs, 1):
        started, completed = {}, set()
        for r in recs:
            t, stage = r.get("type"), r.get("stage")
            if t == "stage_started":
                started[stage] = r.get("definition")
            elif t == "stage_completed":
                if stage in completed:
                    problems.append(f"run {n}: stage {stage} completed twice in one run")
                completed.add(stage)
                if stage not in started:
                    problems.append(f"run {n}: stage_completed of {stage} without a stage_started in that run")
                elif started[stage] != r.get("definition"):
                    problems.append(f"run {n}: stage {stage} completed with another definition than it started with")
                output = r.get("output")
                if output and not (Path(out) / output).exists():
                    problems.append(f"run {n}: stage_completed of {stage} names {output}, which is not on disk")
                if stage in ever_completed:
                    notes.append(f"run {n}: {stage} was completed in an earlier run and computed again")
        ever_completed |= completed
    if final:
        last = records[-1] if records else {}
        if last.get("type") != "run_ended" or last.get("status") != "completed":
            problems.append(f"the journal's last record is not run_ended 'completed': {json.dumps(last)}")
        missing = sorted(set(expected_stages) - ever_completed)
        if missing:
            problems.append(f"stages never journaled as completed: {', '.join(missing)}")
    return problems, notes, len(runs)


def h5(*args):
    return subprocess.run(args, capture_output=True, timeout=120)


def h5_objects(path):
    """{'/name': ('Dataset', '{128, 256}') or ('Group', '')} from h5ls -r."""
    r = h5("h5ls", "-r", str(path))
    objs = {}
    for line in r.stdout.decode(errors="replace").splitlines():
        m = re.match(r"^(\S+)\s+(Group|Dataset)\s*(.*)$", line)
        if m:
            objs[m.group(1)] = (m.group(2), m.group(3).strip())
    return objs, r.returncode


def strip_group(text, name):
    """h5dump text without the block of GROUP "name" (the checksum table, compared apart)."""
    out, skipping, indent = [], False, None
    for line in text.splitlines():
        if not skipping and re.match(rf'^(\s*)GROUP "{re.escape(name)}" {{$', line):
            skipping, indent = True, re.match(r"^(\s*)", line).group(1)
            continue
        if skipping:
            if line == indent + "}":
                skipping = False
            continue
        out.append(line)
    return "\n".join(out)


def header_and_attributes(path):
    r = h5("h5dump", "-A", str(path))
    text = r.stdout.decode(errors="replace").split("\n", 1)[-1]  # the first line names the file
    # Object references print as `DATASET 1441 "/lat"`: the address is metadata layout.
    text = re.sub(r'\b(DATASET|GROUP|DATATYPE) \d+ "', r'\1 "', text)
    return strip_group(text, "perennial_checksums"), r.returncode


def dataset_bytes(path, name, scratch):
    target = Path(scratch) / "dump.bin"
    if target.exists():
        target.unlink()
    r = h5("h5dump", "-d", name, "-b", "LE", "-o", str(target), str(path))
    if r.returncode != 0 or not target.exists():
        return None
    return target.read_bytes()


class Reference:
    """The failure-free run's outputs, read once."""

    def __init__(self, out, scratch):
        self.out = Path(out)
        self.files = {}
        for f in sorted((self.out / "outputs").glob("*.h5")):
            objs, _ = h5_objects(f)
            header, _ = header_and_attributes(f)
            data = {n: dataset_bytes(f, n, scratch) for n, (kind, _) in objs.items() if kind == "Dataset"}
            self.files[f.name] = (objs, header, data)


def compare_outputs(ref, out, scratch):
    problems, notes = [], []
    outputs = Path(out) / "outputs"
    have = {f.name for f in outputs.glob("*.h5")} if outputs.exists() else set()
    for name in sorted(set(ref.files) - have):
        problems.append(f"outputs/{name} is missing")
    for name in sorted(have - set(ref.files)):
        problems.append(f"outputs/{name} is not in the reference run")
    partials = sorted(f.name for f in outputs.glob("*.partial")) if outputs.exists() else []
    if partials:
        notes.append(f"left-over partial outputs: {', '.join(partials)}")
    for name in sorted(set(ref.files) & have):
        f = outputs / name
        ref_objs, ref_header, ref_data = ref.files[name]
        objs, rc = h5_objects(f)
        if rc != 0:
            problems.append(f"outputs/{name}: h5ls cannot read it")
            continue
        if set(objs) != set(ref_objs):
            problems.append(f"outputs/{name}: objects differ: {sorted(set(objs) ^ set(ref_objs))}")
            continue
        header, _ = header_and_attributes(f)
        if header != ref_header:
            diff = [l for l in header.splitlines() if l not in ref_header.splitlines()][:4]
            problems.append(f"outputs/{name}: header or attributes differ, e.g. {diff}")
        r = h5("h5diff", "-r", "--exclude-path", "/perennial_checksums", str(ref.out / "outputs" / name), str(f))
        if r.returncode != 0:
            found = [l for l in r.stdout.decode(errors="replace").splitlines() if "differences found" in l and not l.startswith("0 ")]
            problems.append(f"outputs/{name}: h5diff exit {r.returncode}: {found[:3] or r.stderr.decode(errors='replace')[:200]}")
        for obj, (kind, shape) in sorted(objs.items()):
            if kind != "Dataset":
                continue
            data = dataset_bytes(f, obj, scratch)
            if data == ref_data[obj] and data is not None:
                continue
            if obj.startswith("/perennial_checksums/") and shape != ref_objs[obj][1]:
                notes.append(f"outputs/{name}:{obj}: checksum table {shape} vs {ref_objs[obj][1]} in the reference "
                             "(written by another number of ranks)")
                continue
            problems.append(f"outputs/{name}:{obj} {shape}: not bit-identical to the reference")
    return problems, notes


# ---- the soak ----------------------------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.args = args
        self.perennial = args.perennial
        self.flags = args.mpiexec_flags
        self.run_timeout = args.run_timeout

    def command(self, campaign, out):
        return [self.perennial, "launch", "-n", str(self.args.ranks), "--mpirun", self.args.mpiexec,
                "--mpirun-args", self.flags, str(campaign), "--quiet", "--heartbeat-timeout", "1",
                "--spawn-timeout", "20", "--coordinator-timeout", "3", "--startup-timeout", "20",
                "--output-dir", str(out)]


def run_trial(soak, refs, index, seed, work):
    """One trial; a first run that ended before its kill came (the moment never showed, and nothing
    went wrong) is tried again, twice at most: a trial that killed nothing tested nothing."""
    rng = random.Random(seed * 1000003 + index)
    name = soak.args.campaigns[index % len(soak.args.campaigns)]
    moment = rng.choice(soak.args.moments)
    cls = rng.choice(TARGETS[moment])
    for attempt in range(3):
        result = trial_once(soak, refs, index, rng, name, moment, cls, work, attempt)
        if result["kills"] or result["verdict"] != ["OK"]:
            break
    if not result["kills"] and result["verdict"] == ["OK"]:
        result["verdict"] = ["NOT-EXERCISED"]
        say(f"      ! no kill landed in 3 tries: this trial tested nothing; kept: {result['folder']}")
    return result


def trial_once(soak, refs, index, rng, name, moment, cls, work, try_number):
    tdir = Path(work) / f"trial-{index:03d}-{name}-{moment}-{cls}"
    shutil.rmtree(tdir, ignore_errors=True)
    tdir.mkdir(parents=True)
    out = tdir / "run"
    ref = refs[name]
    t_start = time.monotonic()
    runs, hangs, strays, kills, rcs = [], [], [], [], []
    journal_problems, journal_notes, remarks = [], [], []
    completed = False
    for attempt in range(soak.args.max_resumes + 1):
        run = Run(soak, CAMPAIGNS[name], out, tdir / f"launch-run{attempt}.log", f"{os.getpid()}-{index}-{attempt}")
        if attempt == 0:
            drive_first_run(rng, run, moment, cls, ref.seconds, try_number)
        hang_file = run.finish(tdir, attempt)
        runs.append(run)
        rcs.append(run.rc)
        kills += run.kills
        if run.hung:
            hangs.append(f"run {attempt} (hang evidence: {hang_file})")
        if run.strays:
            strays.append(f"run {attempt}: " + "; ".join(f"{p} {c[:60]}" for p, (c, _) in run.strays.items()))
        outcome = {}
        try:
            outcome = json.loads((out / "log" / "outcome.json").read_text())
        except (OSError, ValueError):
            pass
        completed = run.rc == 0 and outcome.get("status") == "completed"
        for line in notable_lines(run.log_path):
            remarks.append(f"run {attempt}: {line}")
        if run.hung:
            last = [e for e in run.events.all if e.get("event") != "metric"][-1:]
            remarks.append(f"run {attempt} hung; its last event: {json.dumps(last[0]) if last else 'none (before campaign_started)'}")
        # The journal after every run (a crashed one included) must name only outputs on disk.
        p, _, _ = check_journal(out, ref.stages, final=False)
        journal_problems += [f"after run {attempt}: {x}" for x in p if not any(x in y for y in journal_problems)]
        if completed or run.rc == 2:
            break
        if run.hung and attempt >= 1:
            break  # a second hang in a row: the folder is kept, resuming further says little
    seconds = time.monotonic() - t_start
    problems = []
    if completed:
        p, n, nruns = check_journal(out, ref.stages, final=True)
        journal_problems += p
        journal_notes += n
        wrong, notes = compare_outputs(ref.reference, out, tdir)
    else:
        wrong = [f"the campaign did not complete after {len(runs)} run(s) (exit codes {rcs})"]
        notes = []
    journal_problems = list(dict.fromkeys(journal_problems))
    verdict = []
    if hangs:
        verdict.append("HANG")
    if strays:
        verdict.append("STRAY")
    if wrong:
        verdict.append("WRONG")
    if journal_problems:
        verdict.append("INCONSISTENT")
    result = {
        "trial": index, "campaign": name, "moment": moment, "target_class": cls, "kills": kills,
        "exit_codes": rcs, "resumes": len(runs) - 1, "seconds": round(seconds, 2), "completed": completed,
        "hangs": hangs, "strays": strays, "wrong": wrong, "journal": journal_problems,
        "notes": remarks + notes + journal_notes, "verdict": verdict or ["OK"], "folder": str(tdir),
    }
    (tdir / "trial.json").write_text(json.dumps(result, indent=2) + "\n")
    kill_text = "; ".join(f"{k['moment']}: {k['who']} pid {k['pid']} at {k['t']:.2f}s {k['detail']}"
                          + ("" if k["was_alive"] else " [already gone]")
                          + (" [landed after campaign_started]" if k["moment"] == "validation" and k["campaign_started"] else "")
                          for k in kills) or "no kill"
    if not kills and not verdict:
        say(f"trial {index:3d} {name:7s} the run ended before the kill's moment came ({moment}); "
            f"{'trying again' if try_number < 2 else 'giving up'}")
        result["folder"] = str(tdir)
        return result
    say(f"trial {index:3d} {name:7s} {'/'.join(result['verdict']):18s} runs {len(runs)} exits {rcs} "
        f"{seconds:6.1f}s  kill: {kill_text}")
    for line in hangs + strays + wrong + journal_problems:
        say(f"      ! {line}")
    for line in result["notes"]:
        say(f"      . {line}")
    if verdict:
        say(f"      kept: {tdir}")
    elif not soak.args.keep_all:
        shutil.rmtree(tdir, ignore_errors=True)
    return result


def make_reference(soak, name, work):
    out = Path(work) / f"reference-{name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    run = Run(soak, CAMPAIGNS[name], out / "run", out / "launch.log", f"{os.getpid()}-ref-{name}")
    run.finish(out, 0)
    if run.rc != 0 or run.strays:
        say(f"random_kill_soak: the failure-free reference run of {name} failed (exit {run.rc}"
            f"{', hang' if run.hung else ''}{', stray processes' if run.strays else ''}); see {out}")
        sys.stderr.write((out / "launch.log").read_text(errors="replace")[-3000:])
        return None
    p, _, _ = check_journal(out / "run", [], final=True)
    records, _, _ = read_journal(out / "run" / "journal.jsonl")
    stages = sorted({r["stage"] for r in records if r.get("type") == "stage_completed"})
    if p:
        say(f"random_kill_soak: the reference run's own journal fails the checks: {p}")
        return None

    class Ref:
        pass

    ref = Ref()
    ref.seconds = run.seconds
    ref.stages = stages
    ref.reference = Reference(out / "run", out)
    say(f"reference {name}: {len(stages)} stages, {run.seconds:.1f} s, outputs {sorted(ref.reference.files)[:3]}...")
    return ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("perennial", nargs="?", default=os.environ.get("PERENNIAL"),
                    help="the perennial executable (or a build folder holding it); default $PERENNIAL")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    ap.add_argument("--first-trial", type=int, default=0, help="start at this trial number (replay one trial of a seed)")
    ap.add_argument("--campaigns", default="cmip,preempt", help="comma-separated: cmip, preempt, queue (alternated)")
    ap.add_argument("--moments", default=",".join(MOMENTS), help="comma-separated subset of " + ",".join(MOMENTS))
    ap.add_argument("--ranks", type=int, default=5)
    ap.add_argument("--run-timeout", type=float, default=None,
                    help="seconds one run (or resume) may take before it is a HANG; default max(60, 4 x reference + 30)")
    ap.add_argument("--max-resumes", type=int, default=3)
    ap.add_argument("--deadline", type=float, default=None,
                    help="start no trial after this many seconds; trials not run make the soak fail")
    ap.add_argument("--work-dir", default=None, help="default: a new folder under $TMPDIR")
    ap.add_argument("--keep-all", action="store_true", help="keep the folders of passing trials too")
    ap.add_argument("--mpiexec", default=os.environ.get("SOAK_MPIEXEC", "mpiexec"))
    ap.add_argument("--mpiexec-flags", default=os.environ.get("SOAK_MPIEXEC_FLAGS", DEFAULT_FLAGS))
    args = ap.parse_args()
    if not args.perennial:
        say("random_kill_soak: give the perennial executable (argument or $PERENNIAL)")
        return 2
    if os.path.isdir(args.perennial):
        args.perennial = os.path.join(args.perennial, "perennial")
    if not os.access(args.perennial, os.X_OK):
        say(f"random_kill_soak: SKIPPED: no perennial executable at {args.perennial}")
        return SKIP
    missing = [t for t in ("h5dump", "h5diff", "h5ls", "timeout", args.mpiexec) if not shutil.which(t)]
    if missing:
        say(f"random_kill_soak: SKIPPED: missing tools: {', '.join(missing)}")
        return SKIP
    if not os.path.isdir("/proc/self") or not os.access("/proc/1/environ", os.R_OK):
        say("random_kill_soak: SKIPPED: needs /proc with other processes' environment readable (root)")
        return SKIP
    if os.geteuid() == 0 and "--allow-run-as-root" not in args.mpiexec_flags:
        args.mpiexec_flags += " --allow-run-as-root"
    args.perennial = os.path.abspath(args.perennial)
    args.campaigns = [c for c in args.campaigns.split(",") if c]
    args.moments = [m for m in args.moments.split(",") if m]
    for c in args.campaigns:
        if c not in CAMPAIGNS:
            ap.error(f"unknown campaign {c}")
    for m in args.moments:
        if m not in MOMENTS:
            ap.error(f"unknown moment {m}")
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="perennial-soak."))
    work.mkdir(parents=True, exist_ok=True)
    for old in list(work.glob("trial-*")) + list(work.glob("reference-*")):
        shutil.rmtree(old, ignore_errors=True)  # an earlier soak's folders in the same place
    say(f"random-kill soak: {args.trials} trials, seed {seed}, {args.ranks} ranks, executable {args.perennial}")
    say(f"work folder {work}; replay one trial with: --seed {seed} --first-trial K --trials 1")
    t_soak = time.monotonic()
    soak = Soak(args)
    soak.run_timeout = args.run_timeout or 600  # the reference runs get a generous bound
    refs = {}
    for name in args.campaigns:
        ref = make_reference(soak, name, work)
        if ref is None:
            return 1
        refs[name] = ref
    if args.run_timeout is None:
        soak.run_timeout = max(60.0, 4 * max(r.seconds for r in refs.values()) + 30)
    say(f"run bound (a run or resume taking longer is a HANG): {soak.run_timeout:.0f} s")
    results = []
    not_run = 0
    for i in range(args.first_trial, args.first_trial + args.trials):
        if args.deadline and time.monotonic() - t_soak > args.deadline:
            not_run = args.first_trial + args.trials - i
            say(f"deadline of {args.deadline:.0f} s reached: {not_run} trial(s) not run")
            break
        results.append(run_trial(soak, refs, i, seed, work))
    hung = [r for r in results if r["hangs"]]
    stray = [r for r in results if r["strays"]]
    wrong = [r for r in results if r["wrong"]]
    inconsistent = [r for r in results if r["journal"]]
    resumes = sum(r["resumes"] for r in results)
    needing = sum(1 for r in results if r["resumes"] > 0)
    clean = [r["seconds"] for r in results if not r["hangs"] and r["completed"]]
    every = [r["seconds"] for r in results]
    say("")
    say(f"summary: trials {len(results)}, hangs {len(hung)}, wrong results {len(wrong)}, "
        f"journal inconsistencies {len(inconsistent)}, stray processes {len(stray)}, "
        f"resumes needed {resumes} (in {needing} trials)")
    if clean:
        say(f"time to end (trials without a hang that completed, {len(clean)}): median {statistics.median(clean):.1f} s, "
            f"max {max(clean):.1f} s")
    if every:
        say(f"time to end (all trials, a hang counting its bound): median {statistics.median(every):.1f} s, max {max(every):.1f} s")
    unexercised = [r for r in results if r["verdict"] == ["NOT-EXERCISED"]]
    if unexercised:
        say(f"trials in which no kill landed (they tested nothing; the soak fails): {len(unexercised)}")
    failed = [r for r in results if r["verdict"] != ["OK"]]
    for r in failed:
        say(f"failed trial {r['trial']} ({'/'.join(r['verdict'])}): {r['folder']}")
    (work / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    say(f"soak took {time.monotonic() - t_soak:.0f} s; details in {work / 'summary.json'}")
    return 1 if failed or not_run else 0


if __name__ == "__main__":
    sys.exit(main())
