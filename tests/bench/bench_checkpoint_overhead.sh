#!/usr/bin/env bash
# bench_checkpoint_overhead.sh [BUILD_DIR]: what checkpoints cost the example kernel.
#
# heat2d on a 512 x 256 grid (1 MiB of state), 2 ranks, 8000 steps, under three intervals:
#   policy-1min, policy-5min  the Young/Daly interval for a 1- or 5-minute MTBF per node (what the policy picks
#                 from the measured checkpoint cost; a 24 h MTBF gives intervals longer than
#                 the run, hence no checkpoint at all)
#   every-500     a fixed `interval: 500 steps`
#   every-100     a fixed `interval: 100 steps` (far more often than any sane policy)
# overhead = (sum of checkpoint seconds: write + sync + rename + verify) / stage wall seconds.
# Then restore time: the run is stopped with SIGUSR1 after its first checkpoint and resumed;
# restore = stage_restored - stage_started of the resumed run (verify + read + kernel restore).
# Goal (issue 4): overhead under 5% at the chosen interval, 1% as the stretch goal.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"
bench_init "${1:-/work/main/build}"

campaign() {  # NAME CHECKPOINT-SETTINGS
  cat <<YAML
campaign: $1
checkpoint: $2
stages:
  - name: run
    kernel: heat2d
    ranks: 2
    steps: 8000
    parameters: {nx: 512, ny: 256, forcing: 4.5, metric_every: 1000}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
YAML
}

# Sum of a numeric field over events of one kind.
sum_field() { { grep "\"event\":\"$2\"" "$1/log/events.jsonl" || true; } | sed -E -n "s/.*\"$3\":([-0-9.eE+]+).*/\1/p" | awk '{s += $1} END {printf "%.4f", s}'; }
count_events() { grep -c "\"event\":\"$2\"" "$1/log/events.jsonl" || true; }
stage_seconds() { grep '"event":"stage_completed"' "$1/log/events.jsonl" | sed -E -n 's/.*"seconds":([-0-9.eE+]+).*/\1/p' | tail -n 1; }

echo "bench_checkpoint_overhead: heat2d 512x256 on 2 ranks, 8000 steps, ${MPIEXEC[*]}"
summary="summary:"
for variant in "policy-1min:{mtbf: 1min}" "policy-5min:{mtbf: 5min}" "every-500:{interval: 500 steps}" "every-100:{interval: 100 steps}"; do
  name=${variant%%:*}
  settings=${variant#*:}
  yaml="$BENCH_TMP/$name.yaml"
  campaign "$name" "$settings" > "$yaml"
  out="$BENCH_TMP/$name"
  run_campaign 3 "$yaml" "$out"
  wall=$(stage_seconds "$out")
  spent=$(sum_field "$out" checkpoint_committed seconds)
  n=$(count_events "$out" checkpoint_committed)
  share=$(awk -v s="$spent" -v w="$wall" 'BEGIN { printf "%.2f", 100 * s / w }')
  interval=$({ grep '"event":"checkpoint_committed"' "$out/log/events.jsonl" || true; } | tail -n 1 | sed -E -n 's/.*"interval":"([^"]*)".*/\1/p')
  printf '  %-13s %3d checkpoints, %7.3f s of %7.3f s = %5.2f%%   (%s)\n' "$name" "$n" "$spent" "$wall" "$share" "$interval"
  summary+=" ${name//-/_}_overhead_percent=$share ${name//-/_}_checkpoints=$n"
done

# Restore time.
yaml="$BENCH_TMP/restore.yaml"
campaign restore "{interval: 200 steps}" > "$yaml"
out="$BENCH_TMP/restore"
"${MPIEXEC[@]}" -n 3 "$PERENNIAL" run "$yaml" --quiet --output-dir "$out" > "$out.first" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q '"event":"checkpoint_committed"' "$out/log/events.jsonl" 2>/dev/null && break
  sleep 0.05
done
kill -USR1 "$pid"
wait "$pid" || { echo "bench_checkpoint_overhead: the stopped run failed" >&2; tail "$out.first" >&2; exit 1; }
run_campaign 3 "$yaml" "$out"
restore=$(awk '/"event":"stage_started"/ { sub(/.*"t":/, ""); sub(/[,}].*/, ""); started = $0 }
               /"event":"stage_restored"/ { sub(/.*"t":/, ""); sub(/[,}].*/, ""); printf "%.4f", $0 - started }' "$out/log/events.jsonl")
printf '  restore of a 1 MiB-state epoch on 2 ranks (verify + read + kernel restore): %s s\n' "$restore"
summary+=" restore_seconds=$restore"
echo "$summary"
