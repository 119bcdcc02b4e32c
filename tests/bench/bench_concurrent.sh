#!/usr/bin/env bash
# bench_concurrent.sh [BUILD_DIR]: 100 stage groups running at once, for real, under mpiexec.
#
# A generated campaign of BENCH_GROUPS (100) independent one-rank stages of `heat2d` on a
# small grid (32 x 16, BENCH_STEPS steps, an output each) on BENCH_GROUPS + 1 ranks
# (1 coordinator + one worker per stage, oversubscribed: 101 processes on a 2-core machine).
# All stages are ready at campaign start, so every one is dispatched at once; the steps are
# enough for all of them to be running at the same time. Figures, from events.jsonl ("t":
# seconds since the campaign started) and from /proc:
#   peak concurrency   the most stages between stage_started and their end (completed,
#                      failed or lost) at one moment, and the same from the worker logs
#                      ("stage X (attempt N): rank ..." to "stage X completed after ...").
#                      Both are needed: the events' times are when rank 0 dispatched and
#                      noticed, and rank 0 dispatches every ready stage before it reads any
#                      completion, so even 1-step stages all "overlap" in events.jsonl. The
#                      script FAILS when either is below BENCH_GROUPS (nothing was measured);
#   dispatch latency   campaign_started -> each stage_started: median and max; dispatch
#                      cost per stage = (last stage_started - first) / (stages - 1);
#   wall time          the campaign's wall_seconds (campaign_finished) and the whole mpiexec
#                      job (start-up and shutdown of all ranks included);
#   peak memory        VmHWM of rank 0 (campaign_started's coordinator_pid) and the sum of
#                      every rank's VmHWM (the workers event's pids), read from
#                      /proc/<pid>/status every BENCH_SAMPLE_S (0.2) s while they run (a
#                      high-water mark, so only growth in the last interval can be missed);
#                      the VmHWM sum counts the pages the ranks share (libraries, Open MPI's
#                      shared-memory segments) once per rank, so the peak of the sum of
#                      every rank's Pss (smaps_rollup, same samples) is printed beside it.
# Prints a `summary:` line at the end. Asserts nothing about time.
#
# Environment: BENCH_GROUPS (100), BENCH_STEPS (5000), BENCH_SAMPLE_S (0.2),
# BENCH_TIMEOUT (900), BENCH_MPIEXEC_FLAGS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/bench_lib.sh
source "$here/bench_lib.sh"
bench_init "${1:-/work/main/build}"

groups=${BENCH_GROUPS:-100}
steps=${BENCH_STEPS:-5000}
sample_s=${BENCH_SAMPLE_S:-0.2}
ranks=$((groups + 1))
SAMPLER=
# A sampler left behind would spin on /proc for ever; run_campaign's timeout ends the job.
trap '[[ -n $SAMPLER ]] && kill "$SAMPLER" 2>/dev/null; rm -rf "$BENCH_TMP"' EXIT

yaml="$BENCH_TMP/concurrent.yaml"
{
  echo "campaign: concurrent"
  echo "stages:"
  awk -v n="$groups" -v steps="$steps" 'BEGIN {
    for (i = 0; i < n; i++)
      printf "  - {name: s%03d, kernel: heat2d, ranks: 1, steps: %d, parameters: {nx: 32, ny: 16, forcing: %d, metric_every: %d}, outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}\n", i, steps, i % 7, steps
  }'
} > "$yaml"

# Waits for the workers event, then writes "pid VmHWM-KiB" lines, the latest reading of each
# rank (rank 0 first), to OUT.hwm until the coordinator has exited.
sample_memory() {  # sample_memory OUT
  local events="$1/log/events.jsonl" pids=()
  until [[ -f $events ]] && grep -q '"event":"workers"' "$events"; do sleep 0.05; done
  read -r -a pids < <(python3 - "$events" <<'PY'
import json, sys
pids = []
for e in map(json.loads, open(sys.argv[1])):
    if e.get("event") == "campaign_started":
        pids.insert(0, e["coordinator_pid"])
    elif e.get("event") == "workers":
        pids += [w["pid"] for w in e["workers"]]
        break
print(" ".join(map(str, pids)))
PY
)
  local files=() smaps=() pid
  for pid in "${pids[@]}"; do files+=("/proc/$pid/status") smaps+=("/proc/$pid/smaps_rollup"); done
  touch "$1.hwm"
  while [[ -e /proc/${pids[0]} ]]; do
    # Reads what is still there; a rank that has exited keeps its last reading.
    grep -H '^VmHWM:' "${files[@]}" 2>/dev/null | awk '{ split($1, p, "/"); print p[3], $2 }' > "$1.hwm.new" || true
    awk 'NR == FNR { kib[$1] = $2; next } { if (!($1 in kib)) kib[$1] = $2 } END { for (p in kib) print p, kib[p] }' \
      "$1.hwm.new" "$1.hwm" > "$1.hwm.merged"
    mv "$1.hwm.merged" "$1.hwm"
    # The sum of every rank's Pss (shared pages split between the processes that map them).
    grep -h '^Pss:' "${smaps[@]}" 2>/dev/null | awk '{ s += $2 } END { if (NR) print s }' >> "$1.pss" || true
    sleep "$sample_s"
  done
  printf '%s\n' "${pids[@]}" > "$1.pids"
}

echo "bench_concurrent: $groups one-rank heat2d stages (32 x 16, $steps steps) at once on $ranks ranks, $(nproc) cores, ${MPIEXEC[*]}"
out="$BENCH_TMP/run"
sample_memory "$out" &
SAMPLER=$!
start=$(date +%s.%N)
run_campaign "$ranks" "$yaml" "$out"
end=$(date +%s.%N)
job_s=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
wait "$SAMPLER" || true
SAMPLER=

# Figures from the events and the worker logs.
read -r started peak worker_peak median_ms max_ms per_stage_us spread_ms first_end_s t0_wall end_wall < <(python3 - "$out/log" <<'PY'
import datetime, glob, json, re, statistics, sys

def peak_of(changes):  # changes: (time, +1 or -1); at equal times an end counts before a start
    running = peak = 0
    for _, d in sorted(changes):
        running += d
        peak = max(peak, running)
    return peak

events = [json.loads(line) for line in open(sys.argv[1] + "/events.jsonl")]
t0 = next(e["t"] for e in events if e["event"] == "campaign_started")
starts = sorted(e["t"] for e in events if e["event"] == "stage_started")
changes = ([(e["t"], 1) for e in events if e["event"] == "stage_started"] +
           [(e["t"], -1) for e in events if e["event"] in ("stage_completed", "stage_failed", "stage_lost")])
peak = peak_of(changes)
# The same from the workers' own logs: "stage X (attempt N): rank ..." when it starts running,
# "stage X completed after ..." when it is done (millisecond timestamps, one clock).
worker_changes = []
for path in glob.glob(sys.argv[1] + "/worker-*.log"):
    for line in open(path):
        m = re.match(r"(\S+) \S+ stage \S+ (\(attempt \d+\): rank|completed after)", line)
        if m:
            when = datetime.datetime.fromisoformat(m.group(1)).timestamp()
            worker_changes.append((when, 1 if m.group(2).startswith("(") else -1))
worker_peak = peak_of(worker_changes)
latency = [t - t0 for t in starts]
spread = starts[-1] - starts[0]
first_end = min(t for t, d in changes if d < 0)  # as the coordinator saw it
wall0 = next(e["wall"] for e in events if e["event"] == "campaign_started")
print(len(starts), peak, worker_peak, 1e3 * statistics.median(latency), 1e3 * max(latency),
      1e6 * spread / max(len(starts) - 1, 1), 1e3 * spread, first_end - t0, wall0, events[-1]["wall"])
PY
)
wall=$(finished_field "$out" wall_seconds)
cpu=$(finished_field "$out" coordinator_cpu_seconds)
# nan when the run was over before the first reading (a handful of stages).
touch "$out.hwm" "$out.pss" "$out.pids"
rank0_mib=$(awk -v p="$(head -n 1 "$out.pids")" '$1 == p { r = sprintf("%.1f", $2 / 1024) } END { print r == "" ? "nan" : r }' "$out.hwm")
sum_mib=$(awk '{ s += $2 } END { print NR ? sprintf("%.1f", s / 1024) : "nan" }' "$out.hwm")
measured=$(wc -l < "$out.hwm")
pss_mib=$(sort -g "$out.pss" | tail -n 1 | awk '{ r = sprintf("%.1f", $1 / 1024) } END { print r == "" ? "nan" : r }')

printf '  peak concurrency     %d stages running at once in events.jsonl, %d in the worker logs (%d started; goal >= %d)\n' \
  "$peak" "$worker_peak" "$started" "$groups"
printf '  overlap              last stage_started at %.2f s, first stage_completed at %.2f s (as rank 0 saw them)\n' "$(awk -v m="$max_ms" 'BEGIN { print m / 1e3 }')" "$first_end_s"
printf '  dispatch latency     campaign start -> stage_started: median %.2f ms, max %.2f ms\n' "$median_ms" "$max_ms"
printf '  dispatch cost        %.1f us/stage (first -> last stage_started: %.2f ms)\n' "$per_stage_us" "$spread_ms"
printf '  wall time            campaign %.2f s (coordinator CPU %.3f s); mpiexec job %.2f s: %.2f s to campaign_started, %.2f s after campaign_finished\n' \
  "$wall" "$cpu" "$job_s" "$(awk -v a="$t0_wall" -v s="$start" 'BEGIN { print a - s }')" "$(awk -v a="$end_wall" -v e="$end" 'BEGIN { print e - a }')"
printf '  peak memory          rank 0 %s MiB (VmHWM); all %d ranks: sum of VmHWM %s MiB, peak sum of Pss %s MiB\n' \
  "$rank0_mib" "$measured" "$sum_mib" "$pss_mib"
if ((peak < groups || worker_peak < groups)); then
  echo "bench_concurrent.sh: only $peak (events) / $worker_peak (worker logs) of $groups stages ran at once; raise BENCH_STEPS" >&2
  exit 1
fi
echo "summary: groups=$groups peak_concurrency=$peak worker_peak_concurrency=$worker_peak dispatch_median_ms=$(printf %.2f "$median_ms")" \
  "dispatch_max_ms=$(printf %.2f "$max_ms") dispatch_us_per_stage=$(printf %.1f "$per_stage_us")" \
  "wall_s=$(printf %.2f "$wall") job_s=$job_s rank0_peak_rss_mib=$rank0_mib all_ranks_peak_rss_mib=$sum_mib all_ranks_pss_mib=$pss_mib"
