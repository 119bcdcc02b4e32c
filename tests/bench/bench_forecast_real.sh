#!/usr/bin/env bash
# bench_forecast_real.sh [BUILD_DIR] [--minutes M] [--keep DIR]: how far `perennial forecast`
# is from the actual end of a real run (issue 13, point 4 (b)).
#
# Runs a copy of examples/campaigns/cmip-lite.yaml scaled to last about M (3) minutes on a
# 2-core machine with 7 ranks (`perennial launch -n 7`; the structure is the example's:
# spinup, three ssp members, analysis; no step times are declared, so the forecast has only
# what the run measured). From the moment the output folder's journal exists it runs
# `perennial forecast DIR --json` every 5 s and keeps each answer. Once the run has ended:
#   actual end          campaign_finished's "wall"; duration from campaign_started's "wall"
#   actual core-hours   `perennial forecast DIR --json` on the finished folder (the sum of
#                       core_hours_by_project), checked against accounting.db with sqlite3
# and, for the forecasts made nearest 10%, 20%, 30% and 50% of the actual duration: predicted
# end - actual end (s, % of the duration, % of the time that was left), whether the 80%
# interval held the actual end, predicted total core-hours (used + expected to finish)
# against the actual ones, and whether that interval held them; with the forecast's notes
# (how it chose each stage's rate). Prints figures only, asserts nothing about accuracy;
# fails when the run fails or no forecast could be made. `--keep DIR` copies every forecast
# (forecasts.jsonl: {"wall": unix time, "forecast": {...}} per line), the events log and the
# books there.
#
# Environment: BENCH_MPIEXEC_FLAGS (extra mpirun flags), BENCH_FORECAST_EVERY_S (5).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/bench_lib.sh
source "$here/bench_lib.sh"

usage() { echo "usage: $(basename "$0") [BUILD_DIR] [--minutes M] [--keep DIR]" >&2; exit 2; }
build=/work/main/build
[[ $# -gt 0 && $1 != --* ]] && { build=$1; shift; }
minutes=3
keep=
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) [[ $# -ge 2 ]] || usage; minutes=$2; shift 2 ;;
    --keep) [[ $# -ge 2 ]] || usage; keep=$2; shift 2 ;;
    *) usage ;;
  esac
done
if ! python3 -c 'import sys; sys.exit(not 0 < float(sys.argv[1]) < 1000)' "$minutes" 2> /dev/null; then usage; fi
bench_init "$build"
every=${BENCH_FORECAST_EVERY_S:-5}
ranks=7

RUNNING_JOB=
# A run left behind would load the cores under every later measurement. The job is `timeout`:
# a SIGTERM to it reaches launch (checkpoint and stop) and arms its SIGKILL 30 s later.
trap '[[ -n $RUNNING_JOB ]] && kill -TERM "$RUNNING_JOB" 2>/dev/null && wait "$RUNNING_JOB"; rm -rf "$BENCH_TMP"' EXIT

# The scale, calibrated on the 2-core benchmark machine with 7 ranks (1 coordinator, 6
# workers): the example's 128 x 64 grid and 400 + 800 steps take 0.3 s there. 8x the cells
# each way (64x the work per step) and 9x the steps took 178 s on the quiet machine: spinup
# 11 s (2 ranks on 2 cores, 3.2 ms/step), the three ssp members at once 167 s (6 ranks on 2
# cores, 23 ms/step), analysis 0.1 s. Other load stretches it (209 s under a parallel
# compile). --minutes scales the steps only.
nx=1024 ny=512
spinup_steps=$(python3 -c "print(max(1, round(3600 * $minutes / 3)))")
ssp_steps=$(python3 -c "print(max(1, round(7200 * $minutes / 3)))")

example="$here/../../examples/campaigns/cmip-lite.yaml"
yaml="$BENCH_TMP/cmip-lite-scaled.yaml"
out="$BENCH_TMP/run"
# The example itself, with only its grid and step counts changed: each replacement must match
# exactly once, so that a changed example fails here rather than benchmarking something else.
python3 - "$example" "$yaml" "$nx" "$ny" "$spinup_steps" "$ssp_steps" <<'PY'
import sys
src, dst, nx, ny, spinup, ssp = sys.argv[1:]
text = open(src).read()
for old, new, count in [("nx: 128, ny: 64", f"nx: {nx}, ny: {ny}", 2),
                        ("steps: 400\n", f"steps: {spinup}\n", 1),
                        ("steps: 800\n", f"steps: {ssp}\n", 1)]:
    if text.count(old) != count:
        sys.exit(f"bench_forecast_real.sh: {src}: expected {count} x '{old.strip()}', found {text.count(old)}: update the scaling")
    text = text.replace(old, new)
open(dst, "w").write(f"# Scaled by tests/bench/bench_forecast_real.sh from {src}.\n" + text)
PY
# The forecast corrects declared estimates by what it measured; the example declares none.
if grep -Eq '\b(walltime|step_time):' "$yaml"; then
  echo "$(basename "$0"): note: the example now declares walltime or step_time: the forecast no longer rests on measurements alone" >&2
fi

flags="--oversubscribe"
if [[ $(id -u) == 0 ]]; then
  flags+=" --allow-run-as-root"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
[[ -n ${BENCH_MPIEXEC_FLAGS:-} ]] && flags+=" $BENCH_MPIEXEC_FLAGS"

expected_s=$(python3 -c "print(round($minutes * 60))")
limit_s=$((4 * expected_s))
echo "bench_forecast_real: cmip-lite scaled to ${nx}x${ny}, spinup $spinup_steps steps, 3 x ssp $ssp_steps steps" \
     "(about $minutes min), $ranks ranks, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
     "a forecast every $every s; the run is ended after $limit_s s"

# timeout's SIGTERM becomes launch's checkpoint-and-stop; its SIGKILL 30 s later ends launch,
# and launch's mpirun with it.
timeout --kill-after=30 "$limit_s" "$PERENNIAL" launch -n "$ranks" --mpirun-args "$flags" --output-dir "$out" "$yaml" \
  > "$BENCH_TMP/launch.out" 2>&1 &
RUNNING_JOB=$!

forecasts="$BENCH_TMP/forecasts.jsonl"
: > "$forecasts"
failed_forecasts=0
while kill -0 "$RUNNING_JOB" 2>/dev/null; do
  if [[ ! -f $out/journal.jsonl ]]; then
    sleep 0.2
    continue
  fi
  asked=$(date +%s.%N)
  # Until the run has journalled its campaign file the forecast cannot start: counted, not fatal.
  if answer=$(timeout 60 "$PERENNIAL" forecast "$out" --json 2> "$BENCH_TMP/forecast.err"); then
    printf '{"wall":%s,"forecast":%s}\n' "$asked" "$answer" >> "$forecasts"
  else
    failed_forecasts=$((failed_forecasts + 1))
  fi
  sleep "$(python3 -c "import time; print(max(0.0, $asked + $every - time.time()))")"
done
code=0
wait "$RUNNING_JOB" || code=$?
RUNNING_JOB=
if [[ $code != 0 ]]; then
  echo "$(basename "$0"): perennial launch exited with $code (124: ended after $limit_s s); its output:" >&2
  tail -n 20 "$BENCH_TMP/launch.out" >&2
  exit 1
fi
completed=$(finished_field "$out" completed)
if [[ $completed != 5 ]]; then
  echo "$(basename "$0"): $completed of 5 stages completed" >&2
  exit 1
fi
if [[ ! -s $forecasts ]]; then
  echo "$(basename "$0"): no forecast succeeded ($failed_forecasts failed); the last error:" >&2
  cat "$BENCH_TMP/forecast.err" >&2
  exit 1
fi

# Other load on the machine slows the run unevenly, which no forecast can see: say how much there was.
echo "  run ended; load average $(cut -d' ' -f1-3 /proc/loadavg)"
final="$BENCH_TMP/final.json"
"$PERENNIAL" forecast "$out" --json > "$final"
books_core_hours=$(sqlite3 "$out/accounting.db" 'select sum(core_hours) from segments' 2>/dev/null || echo nan)
if [[ -n $keep ]]; then
  mkdir -p "$keep"
  cp "$forecasts" "$final" "$yaml" "$out/log/events.jsonl" "$out/accounting.db" "$keep/"
fi

python3 - "$out/log/events.jsonl" "$forecasts" "$final" "$books_core_hours" "$failed_forecasts" <<'PY'
import json, math, sys
events_file, forecasts_file, final_file, books, failed = sys.argv[1:]
events = [json.loads(line) for line in open(events_file)]
start = next(e["wall"] for e in events if e.get("event") == "campaign_started")
finished = events[-1]
end = finished["wall"]
duration = end - start
final = json.load(open(final_file))
actual_ch = sum(final["core_hours_by_project"].values())
books = float(books)
print(f"  actual: {duration:.1f} s from campaign_started to campaign_finished (its wall_seconds: "
      f"{finished['wall_seconds']:.1f}), {actual_ch:.5f} core-hours (accounting.db: {books:.5f})")
if not final["finished"]:
    print("  warning: the forecast of the finished folder does not say finished")

rows = []
for line in open(forecasts_file):
    r = json.loads(line)
    f = r["forecast"]
    if f["finished"]:
        continue
    used = sum(p["used_core_hours"] for p in f["projects"])
    rows.append({"t": f["as_of_unix"], "f": f, "progress": 100 * (f["as_of_unix"] - start) / duration,
                 "ch": used + f["core_hours_to_finish"],
                 "ch_interval": [used + x for x in f["core_hours_to_finish_interval"]]})
print(f"  {len(rows)} forecasts of the running campaign ({failed} could not be made, e.g. before the run "
      f"journalled its campaign file)")
if not rows:
    sys.exit("bench_forecast_real.sh: no forecast of the running campaign to compare")

def pct(x, of):
    return 100 * x / of if of > 0 else math.nan

print(f"  {'target':>6} {'progress':>8} {'end error':>10} {'% of run':>8} {'% of left':>9} {'80% held':>8}"
      f" {'core-h pred':>11} {'actual':>9} {'error':>8} {'80% held':>8}")
picked = {}
for target in (10, 20, 30, 50):
    r = min(rows, key=lambda r: abs(r["progress"] - target))
    f = r["f"]
    err = f["expected_end_unix"] - end
    low, high = f["expected_end_interval_unix"]
    left = end - r["t"]
    ch_err = pct(r["ch"] - actual_ch, actual_ch)
    held_end = "yes" if low <= end <= high else "no"
    held_ch = "yes" if r["ch_interval"][0] <= actual_ch <= r["ch_interval"][1] else "no"
    picked[target] = (pct(err, duration), ch_err)
    print(f"  {target:>5}% {r['progress']:>7.1f}% {err:>+9.1f}s {pct(err, duration):>+7.1f}% {pct(err, left):>+8.1f}%"
          f" {held_end:>8} {r['ch']:>11.5f} {actual_ch:>9.5f} {ch_err:>+7.1f}% {held_ch:>8}")
for target in (10, 20, 30, 50):
    r = min(rows, key=lambda r: abs(r["progress"] - target))
    f = r["f"]
    print(f"  notes at {r['progress']:.0f}% ({f['stages_left']} stage(s) left, {f['stages_measured']} measured, "
          f"end interval {f['expected_end_interval_unix'][0] - end:+.0f} to {f['expected_end_interval_unix'][1] - end:+.0f} s "
          f"around the actual): " + "; ".join(f["notes"]))
held_end = sum(r["f"]["expected_end_interval_unix"][0] <= end <= r["f"]["expected_end_interval_unix"][1] for r in rows)
held_ch = sum(r["ch_interval"][0] <= actual_ch <= r["ch_interval"][1] for r in rows)
print(f"  over all {len(rows)} forecasts: the 80% interval held the actual end in {held_end}, the actual core-hours in {held_ch}")
end20, ch20 = picked[20]
print(f"at 20% progress: completion-time error {end20:+.1f}% of the campaign, core-hours error {ch20:+.1f}%")
print(f"summary: duration_s={duration:.1f} core_hours={actual_ch:.5f} "
      + " ".join(f"end_error_pct_{t}={picked[t][0]:.1f} core_hours_error_pct_{t}={picked[t][1]:.1f}" for t in picked))
PY
