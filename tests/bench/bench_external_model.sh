#!/usr/bin/env bash
# bench_external_model.sh [BUILD_DIR] [RUNS]: what running an existing model executable as a
# stage (`command:`) costs, against the same model started by hand with mpirun.
#
# ocean_box (examples/external, Fortran) on 2 ranks: 1200 steps of 2 ms (about 2.4 s of model
# time), a restart set every 200 steps. Paired runs, A then B, RUNS times (default 5):
#   direct   `mpirun -np 2 ocean_box` in a folder holding its namelist: the baseline;
#   stage    the same model as the one stage of a campaign on 3 ranks (`perennial run`): the
#            stage's wall time from its events (template, launch, watching, 5 restart sets
#            kept as verified epochs, the output read into the stage's file) and the whole
#            job's (MPI start-up, validation, books included).
# Prints each figure's median and the median of the pairwise ratios stage/direct.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"
bench_init "${1:-/work/main/build}"
runs=${2:-5}
model=$(cd "$(dirname "$PERENNIAL")" && pwd)/examples/external/ocean_box
[[ -x $model ]] || { echo "bench_external_model: $model was not built (gfortran and h5pfc needed)"; exit 0; }
source_dir=$(cd "$here/../.." && pwd)

cat > "$BENCH_TMP/campaign.yaml" <<YAML
campaign: ocean-bench
stages:
  - name: ocean
    command: [$model]
    ranks: 2
    steps: 1200
    parameters: {nx: 96, forcing: 2.0, restart_interval: 200, step_delay_us: 2000, quiet: .false.}
    templates: {input.nml: $source_dir/examples/external/input.nml.template}
    restart: {files: 'restart/ocean.{step}.*.bin', marker: 'restart/ocean.{step}.done', request: SIGUSR1}
    progress: {pattern: '^step ([0-9]+) time +([-+.0-9Ee]+)'}
    metrics: {mean_sst: 'mean_sst=([-+.0-9Ee]+)'}
    outputs: {sst: {file: ocean_out.h5, dataset: sst, dtype: float64, dims: [x], units: K}}
YAML

direct_dir="$BENCH_TMP/direct"
mkdir -p "$direct_dir"
sed -e 's/{stage}/direct/; s/{nx}/96/; s/{steps}/1200/; s/{forcing}/2.0/; s/{restart_step}/0/' \
    -e 's/{restart_interval}/200/; s/{step_delay_us}/2000/; s/{quiet}/.false./' \
    "$source_dir/examples/external/input.nml.template" > "$direct_dir/input.nml"
launcher=(mpirun -np 2 --bind-to none)
[[ $(id -u) == 0 ]] && launcher+=(--allow-run-as-root)

now() { date +%s.%N; }
: > "$BENCH_TMP/direct.txt"; : > "$BENCH_TMP/stage.txt"; : > "$BENCH_TMP/job.txt"; : > "$BENCH_TMP/ratio.txt"
: > "$BENCH_TMP/kept.txt"
echo "bench_external_model: ocean_box, 2 ranks, 1200 steps of 2 ms, a restart set every 200; $runs paired runs"
for i in $(seq 1 "$runs"); do
  rm -rf "$direct_dir/restart" "$direct_dir/ocean_out.h5"
  t0=$(now)
  (cd "$direct_dir" && "${launcher[@]}" "$model" > "$direct_dir/out.txt" 2>&1)
  t1=$(now)
  direct=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  out="$BENCH_TMP/run-$i"
  t0=$(now)
  run_campaign 3 "$BENCH_TMP/campaign.yaml" "$out"
  t1=$(now)
  job=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  stage=$(grep '"event":"stage_completed"' "$out/log/events.jsonl" | sed -E -n 's/.*"seconds":([-0-9.eE+]+).*/\1/p' | tail -n 1)
  kept=$(grep -c '"event":"checkpoint_committed"' "$out/log/events.jsonl" || true)
  cmp -s <(h5dump -d sst "$direct_dir/ocean_out.h5" | tail -n +3) <(h5dump -d sst "$out/model-runs/ocean/ocean_out.h5" | tail -n +3) ||
    { echo "bench_external_model: the stage's result differs from the direct run's" >&2; exit 1; }
  echo "$direct" >> "$BENCH_TMP/direct.txt"; echo "$stage" >> "$BENCH_TMP/stage.txt"; echo "$job" >> "$BENCH_TMP/job.txt"
  echo "$kept" >> "$BENCH_TMP/kept.txt"
  awk -v s="$stage" -v d="$direct" 'BEGIN { printf "%.4f\n", s / d }' >> "$BENCH_TMP/ratio.txt"
  printf '  run %d: direct %6.3f s   stage %6.3f s   job %6.3f s   restart sets kept %s\n' "$i" "$direct" "$stage" "$job" "$kept"
done
d=$(median < "$BENCH_TMP/direct.txt"); s=$(median < "$BENCH_TMP/stage.txt"); j=$(median < "$BENCH_TMP/job.txt")
r=$(median < "$BENCH_TMP/ratio.txt"); k=$(median < "$BENCH_TMP/kept.txt")
printf 'medians: direct %.3f s, as a stage %.3f s (ratio %.3f, pairwise), whole job %.3f s; restart sets kept %s\n' "$d" "$s" "$r" "$j" "$k"
echo "summary: direct_seconds=$d stage_seconds=$s stage_over_direct=$r job_seconds=$j restart_sets_kept=$k"
