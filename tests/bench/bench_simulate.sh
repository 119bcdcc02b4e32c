#!/usr/bin/env bash
# bench_simulate.sh [BUILD_DIR]: the accelerated mode's cost, through the real scheduling policy.
#
#   six_month  examples/simulate/six-month-ensemble.yaml: 10,809 stages, up to 10,204 running
#              at once on 1,000 nodes, node failures from a 52-week MTBF (seed 1). Goal: under
#              10 s and 1 GiB.
#   deep_queue 40,000 stages of two projects on 100 nodes of 32 cores: 4-rank ones of 1 h
#              and 5 h (priority 1), 8-rank ones of 3 h (priority 0) and 96-rank ones of 4 h
#              (priority 2): tens of thousands waiting at every pass, with reservations,
#              backfill and preemption all busy.
# Prints simulation CPU seconds and peak memory as `perennial simulate --json` reports them
# (YAML loading excluded from the CPU figure, included in the memory one), with makespan and
# counters so that a change of schedule shows. Prints figures only; fails only when a run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"
bench_init "${1:-/work/main/build}"

queue="$BENCH_TMP/deep-queue.yaml"
{
  echo "campaign: deep-queue"
  echo "output_dir: $BENCH_TMP/deep-queue-run"
  echo "projects:"
  echo "  - {name: a, share: 1}"
  echo "  - {name: b, share: 3}"
  echo 'cluster: {nodes: [{name: "n[0001-0100]", cores: 32}]}'
  echo "checkpoint: {enabled: false}"
  echo "stages:"
  # Short and long narrow stages, medium ones, and wide urgent ones that need reservations
  # (and preempt lower priorities to get them).
  members() { seq -s ', ' 0 $(($1 - 1)); }
  echo "  - {name: \"a-short-{i}\", for_each: {i: [$(members 10000)]}, kernel: noop, project: a, ranks: 4, walltime: 1h, priority: 1}"
  echo "  - {name: \"a-long-{i}\", for_each: {i: [$(members 10000)]}, kernel: noop, project: a, ranks: 4, walltime: 5h, priority: 1}"
  echo "  - {name: \"b-{i}\", for_each: {i: [$(members 19800)]}, kernel: noop, project: b, ranks: 8, walltime: 3h}"
  echo "  - {name: \"wide-{i}\", for_each: {i: [$(members 200)]}, kernel: noop, project: b, ranks: 96, walltime: 4h, priority: 2}"
} > "$queue"

field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])' "$1" "$2"; }

echo "bench_simulate: perennial simulate --json, virtual clock"
summary="summary:"
for shape in six_month deep_queue; do
  if [[ $shape == six_month ]]; then
    args=("$here/../../examples/simulate/six-month-ensemble.yaml" --mtbf 52w --seed 1 --trace "$BENCH_TMP/six.csv")
  else
    args=("$queue" --trace "$BENCH_TMP/queue.csv")
  fi
  out="$BENCH_TMP/$shape.json"
  if ! timeout 900 "$PERENNIAL" simulate "${args[@]}" --json > "$out" 2> "$out.err"; then
    echo "bench_simulate: $shape failed:" >&2
    tail -n 20 "$out.err" >&2
    exit 1
  fi
  cpu=$(field "$out" simulation_cpu_seconds)
  rss=$(field "$out" simulation_peak_rss_mib)
  printf '  %-10s %6d stages: %6.2f s CPU, %5.0f MiB peak; makespan %.0f h, utilisation %.2f, backfilled %d, preemptions %d, node failures %d\n' \
    "$shape" "$(field "$out" stage_count)" "$cpu" "$rss" "$(field "$out" makespan_hours)" "$(field "$out" utilisation)" \
    "$(field "$out" backfilled)" "$(field "$out" preemptions)" "$(field "$out" node_failures)"
  summary+=" ${shape}_cpu_s=$(printf '%.2f' "$cpu") ${shape}_rss_mib=$(printf '%.0f' "$rss")"
done
echo "$summary"
