#!/usr/bin/env bash
# bench_recovery.sh [BUILD_DIR] [REPEATS]: what a failure costs, on 8 ranks (1 coordinator,
# 7 workers in three stage groups of 2, 2 and 3 ranks, none idle, so recovery needs a
# respawn).
#   1. one worker SIGKILLed from outside: seconds from the kill to rank 0 declaring it dead,
#      to the replacement ranks connected, and to the stage stepping again (its restore done);
#   2. the same for a whole fake node (--fake-nodes 2: workers 1-3, two groups, at once);
#   3. computation lost per failure against the checkpoint interval: steps between the
#      restored epoch and the kill, and what they cost in seconds.
# Heartbeat timeout 2 s (the default) and 0.5 s. Times come from events.jsonl's wall clock
# ("wall") against the kill's own clock reading. Prints a `summary:` line at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/bench_lib.sh
source "$here/bench_lib.sh"
bench_init "${1:-/work/main/build}"
repeats=${2:-3}
RUNNING_JOB=
# A run left behind would load the cores under every later measurement.
trap '[[ -n $RUNNING_JOB ]] && kill -KILL "$RUNNING_JOB" 2>/dev/null; rm -rf "$BENCH_TMP"' EXIT

campaign() {  # campaign FILE INTERVAL_STEPS
  cat > "$1" <<EOF
campaign: recovery
checkpoint: {interval: $2 steps, keep: 2}
stages:
  - {name: a, kernel: heat2d, ranks: 2, steps: 400000, parameters: {nx: 128, ny: 64, forcing: 1.0},
     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}
  - {name: b, kernel: heat2d, ranks: 2, steps: 400000, parameters: {nx: 128, ny: 64, forcing: 2.0},
     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}
  - {name: c, kernel: heat2d, ranks: 3, steps: 400000, parameters: {nx: 128, ny: 64, forcing: 3.0},
     outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}}
EOF
}

# A JSON field of the first event of a type (and stage), via python3's json module.
event_field() {  # event_field EVENTS TYPE STAGE FIELD [NTH]
  python3 - "$@" <<'PY'
import json, sys
path, kind, stage, field = sys.argv[1:5]
nth = int(sys.argv[5]) if len(sys.argv) > 5 else 0
hits = [e for e in map(json.loads, open(path)) if e.get("event") == kind and (stage == "-" or e.get("stage") == stage)]
if kind == "stage_restored":
    hits = [e for e in hits if e.get("restored")]
print(hits[nth][field] if len(hits) > nth else "nan")
PY
}

wait_for() {  # wait_for EVENTS TYPE STAGE COUNT
  for _ in $(seq 1 600); do
    if [[ -f $1 ]] && [[ $(grep -c "\"event\":\"$2\".*\"stage\":\"$3\"\|\"stage\":\"$3\".*\"event\":\"$2\"" "$1" || true) -ge $4 ]]; then return 0; fi
    sleep 0.1
  done
  echo "bench_recovery.sh: timed out waiting for $2 of $3" >&2
  return 1
}

worker_pids() {  # worker_pids EVENTS NODE: pids of the workers on a (fake) node
  python3 - "$1" "$2" <<'PY'
import json, sys
for e in map(json.loads, open(sys.argv[1])):
    if e.get("event") == "workers":
        print(" ".join(str(w["pid"]) for w in e["workers"] if w["node"] == sys.argv[2] or sys.argv[2] == "rank1" and w["rank"] == 1))
        break
PY
}

# One failure: start the campaign, wait for checkpoints, kill, wait for the resumption,
# then stop the run with SIGUSR1 (checkpoint and stop) and print the figures.
one_failure() {  # one_failure LABEL TIMEOUT NODE_OR_rank1 INTERVAL [extra run flags]
  local label=$1 timeout=$2 target=$3 interval=$4
  shift 4
  local out="$BENCH_TMP/$label-$RANDOM"
  campaign "$out.yaml" "$interval"
  "${MPIEXEC[@]}" -n 8 "$PERENNIAL" run "$out.yaml" --quiet --output-dir "$out" \
    --heartbeat-timeout "$timeout" "$@" > "$out.stdout" 2>&1 &
  local job=$!
  RUNNING_JOB=$job
  wait_for "$out/log/events.jsonl" checkpoint_committed a 1
  # A kill at a random moment of the next few intervals.
  sleep "$(awk -v r=$RANDOM -v i="$interval" 'BEGIN { printf "%.2f", 0.2 + (r / 32768) * i * 0.004 }')"
  local pids kill_wall
  pids=$(worker_pids "$out/log/events.jsonl" "$target")
  kill_wall=$(date +%s.%N)
  # shellcheck disable=SC2086
  kill -KILL $pids
  wait_for "$out/log/events.jsonl" stage_restored a 1
  # mpiexec forwards SIGUSR1: every stage checkpoints and stops, and the job ends.
  kill -USR1 "$job" 2>/dev/null || true
  wait "$job" || true
  RUNNING_JOB=
  local ev="$out/log/events.jsonl"
  local dead spawned restored step_s restored_step dead_t
  dead=$(event_field "$ev" rank_dead - wall)
  spawned=$(event_field "$ev" ranks_spawned - wall)
  restored=$(event_field "$ev" stage_restored a wall)
  restored_step=$(event_field "$ev" stage_restored a step)
  # The step at the kill, from a's metric events (every 50 steps) just before the kill.
  read -r step_at_kill step_s < <(python3 - "$ev" "$kill_wall" <<'PY'
import json, sys
ev = [e for e in map(json.loads, open(sys.argv[1])) if e.get("event") == "metric" and e.get("stage") == "a"]
kill = float(sys.argv[2])
before = [e for e in ev if e["wall"] <= kill]
rate = (before[-1]["step"] - before[0]["step"]) / (before[-1]["wall"] - before[0]["wall"]) if len(before) > 1 else float("nan")
print(before[-1]["step"] if before else "nan", 1.0 / rate if rate == rate and rate > 0 else "nan")
PY
)
  awk -v l="$label" -v hb="$timeout" -v k="$kill_wall" -v d="$dead" -v s="$spawned" -v r="$restored" \
      -v iv="$interval" -v ks="$step_at_kill" -v rs="$restored_step" -v ss="$step_s" \
    'BEGIN { printf "%-10s hb %4.1f s  dead +%5.2f s  spawned +%5.2f s  stepping again +%5.2f s  interval %5d  lost %5d steps (%.3f s of compute)\n",
             l, hb, d - k, s - k, r - k, iv, ks - rs, (ks - rs) * ss }'
  echo "$label $timeout $(awk -v r="$restored" -v k="$kill_wall" 'BEGIN{print r-k}')" >> "$BENCH_TMP/figures"
}

echo "recovery after SIGKILL, 8 ranks on $(nproc) cores (kill -> declared dead -> respawned -> stepping again):"
for hb in 2 0.5; do
  for _ in $(seq 1 "$repeats"); do one_failure worker "$hb" rank1 400; done
  for _ in $(seq 1 "$repeats"); do one_failure fake-node "$hb" fake-node-0 400 --fake-nodes 2; done
done
echo
echo "computation lost per failure against the checkpoint interval (heartbeat 0.5 s; expect about half an interval):"
for interval in 100 400 1600; do
  for _ in $(seq 1 "$repeats"); do one_failure interval 0.5 rank1 "$interval"; done
done

worker2=$(awk '$1=="worker" && $2=="2" {print $3}' "$BENCH_TMP/figures" | median)
worker05=$(awk '$1=="worker" && $2=="0.5" {print $3}' "$BENCH_TMP/figures" | median)
node2=$(awk '$1=="fake-node" && $2=="2" {print $3}' "$BENCH_TMP/figures" | median)
echo "summary: worker_recovery_s_hb2=$worker2 worker_recovery_s_hb05=$worker05 node_recovery_s_hb2=$node2"
