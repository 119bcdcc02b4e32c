#!/usr/bin/env bash
# run-all.sh [BUILD_DIR]: runs the plan, validate, dispatch (timed, and rank 0's instructions), coordinator-CPU, recovery, 100-concurrent-stages, simulate,
# forecast-accuracy, real-run forecast, external-model and checkpoint (overhead, bandwidth) benchmarks against an existing build (default
# /work/main/build; it builds nothing) and ends with a table: benchmark, figure, goal.
# Each benchmark's own output is printed as it runs. Takes about 25 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-/work/main/build}" && pwd)
bench_plan="$build/tests/bench/bench_plan"
bench_validate="$build/tests/bench/bench_validate"
for exe in "$build/perennial" "$bench_plan" "$bench_validate" "$build/tests/bench/bench_forecast_accuracy" \
           "$build/tests/bench/bench_checkpoint_bandwidth" "$build/tests/bench/bench_pingpong"; do
  if [[ ! -x $exe ]]; then
    echo "run-all.sh: $exe is missing: build with PERENNIAL_BUILD_BENCHMARKS=ON first" >&2
    exit 2
  fi
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/perennial-bench-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT

run() {
  local name=$1
  shift
  echo "== $name"
  "$@" | tee "$logs/$name.out"
  echo
}
run plan "$bench_plan"
run validate "$bench_validate" --perennial "$build/perennial"
run dispatch "$here/bench_dispatch.sh" "$build"
run dispatch_instructions "$here/bench_dispatch_instructions.sh" "$build"
run coordinator_cpu "$here/bench_coordinator_cpu.sh" "$build"
run recovery "$here/bench_recovery.sh" "$build" 3
run concurrent "$here/bench_concurrent.sh" "$build"
run simulate "$here/bench_simulate.sh" "$build"
run forecast "$build/tests/bench/bench_forecast_accuracy" --trials 200
run forecast_real "$here/bench_forecast_real.sh" "$build"
run external_model "$here/bench_external_model.sh" "$build"
run checkpoint_overhead "$here/bench_checkpoint_overhead.sh" "$build"
run checkpoint_bandwidth "$here/bench_checkpoint_bandwidth.sh" "$build"

# A value from a benchmark's last line, `summary: key=value ...`.
figure() { grep '^summary:' "$logs/$1.out" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

row() { printf '%-46s %16s   %s\n' "$@"; }
echo "== summary ($(nproc) cores; medians)"
row "benchmark" "figure" "goal"
row "plan: build + plan, 100k stages" "$(figure plan build_plan_s) s" "0.1 s (validate + plan)"
row "plan: YAML parse, 100k stages" "$(figure plan parse_s) s" "(part of validate)"
row "plan: total parse + build + plan" "$(figure plan total_s) s" "0.1 s"
row "plan: peak RSS" "$(figure plan peak_rss_mib) MiB" "-"
row "validate: 100k stages, one block each" "$(figure validate stages_validate_s) s / $(figure validate stages_validate_rss_mib) MiB" "1 s / 300 MiB"
row "  same, cpu (user + system)" "$(figure validate stages_validate_cpu_s) s" "-"
row "  library load + build + plan / libyaml floor" "$(figure validate stages_wall_s) / $(figure validate stages_floor_s) s" "-"
row "validate: for_each of 100k members" "$(figure validate foreach_validate_s) s / $(figure validate foreach_validate_rss_mib) MiB" "< the above"
row "dispatch: MPI ping-pong of the same ranks" "$(figure dispatch pingpong_us) us" "(the floor)"
row "dispatch: 10k independent noop, 4 ranks" "$(figure dispatch independent_us_per_stage) us/stage" "20 us/stage"
row "  independent: the whole job's CPU per stage" "$(figure dispatch independent_job_cpu_us) us" "< $((20 * $(nproc))) us ($(nproc) cores)"
row "  independent: rank 0's instructions per stage" "$(figure dispatch_instructions rank0_instructions_per_stage)" "(callgrind: host-independent)"
row "  independent: share begun from a worker's queue" "$(figure dispatch independent_queued_share)" "-"
row "dispatch: 10k chained noop, 4 ranks" "$(figure dispatch chain_us_per_stage) us/stage" "50 us/stage"
row "  chain: round trip of a stage (median)" "$(figure dispatch chain_round_trip_us) us" "-"
row "coordinator CPU / wall, 6 x burn-cpu" "$(figure coordinator_cpu default_cpu_percent) %" "< 1 %"
row "  same, --mca mpi_yield_when_idle 1" "$(figure coordinator_cpu yield_when_idle_cpu_percent) %" "< 1 %"
row "  same, --mca mpi_yield_when_idle 0" "$(figure coordinator_cpu no_yield_cpu_percent) %" "< 1 %"
row "recovery: SIGKILL to stepping, 8 ranks, defaults" "$(figure recovery worker_recovery_s) s" "2 s"
row "recovery: same, --spares 2" "$(figure recovery worker_recovery_s_spares2) s" "2 s"
row "recovery: same, without the PML hint (PERENNIAL_SPAWN_PML=off)" "$(figure recovery nohint_recovery_s) s" "-"
row "recovery: full restart from the journal" "$(figure recovery full_restart_s) s" "-"
row "recovery: ratio to full restart, defaults / --spares 2" "$(figure recovery ratio) / $(figure recovery ratio_spares2)" "<= 0.167"
row "recovery: whole fake node, defaults" "$(figure recovery node_recovery_s) s" "2 s"
row "concurrent: 100 1-rank stages, 101 ranks" "$(figure concurrent peak_concurrency) running" ">= 100"
row "  dispatch: campaign start -> started (median)" "$(figure concurrent dispatch_median_ms) ms" "-"
row "  dispatch: same, last stage" "$(figure concurrent dispatch_max_ms) ms" "-"
row "  dispatch: cost per stage" "$(figure concurrent dispatch_us_per_stage) us/stage" "50 us/stage"
row "  wall: campaign / whole mpiexec job" "$(figure concurrent wall_s) / $(figure concurrent job_s) s" "-"
row "  rank 0 peak RSS (VmHWM)" "$(figure concurrent rank0_peak_rss_mib) MiB" "-"
row "  all 101 ranks: sum of VmHWM / of Pss" "$(figure concurrent all_ranks_peak_rss_mib) / $(figure concurrent all_ranks_pss_mib) MiB" "-"
row "simulate: six-month, 10,809 stages, 1,000 nodes" "$(figure simulate six_month_cpu_s) s / $(figure simulate six_month_rss_mib) MiB" "10 s / 1 GiB"
row "simulate: 40,000 waiting stages, 100 nodes" "$(figure simulate deep_queue_cpu_s) s / $(figure simulate deep_queue_rss_mib) MiB" "-"
row "forecast at 20% of steps: end error (median)" "$(figure forecast end_error_pct) %" "5 % (10 % seed)"
row "  core-hours error (median)" "$(figure forecast core_hours_error_pct) %" "5 %"
row "  80% interval coverage: end / core-hours" "$(figure forecast end_coverage_pct) / $(figure forecast core_hours_coverage_pct) %" "70-90 %"
row "forecast at 20%, real 3-min cmip-lite: end" "$(figure forecast_real end_error_pct_20) % of run" "-"
row "  same, total core-hours" "$(figure forecast_real core_hours_error_pct_20) %" "-"
row "  same at 50%: end / core-hours" "$(figure forecast_real end_error_pct_50) / $(figure forecast_real core_hours_error_pct_50) %" "-"
row "model executable as a stage / mpirun by hand" "$(figure external_model stage_over_direct) x" "-"
row "  ocean_box 1200 steps: direct / as a stage" "$(figure external_model direct_seconds) / $(figure external_model stage_seconds) s" "-"
row "checkpoint overhead vs off, policy 1min, async" "$(figure checkpoint_overhead policy_1min_async_overhead_percent) %" "1 %"
row "  same, synchronous (default)" "$(figure checkpoint_overhead policy_1min_overhead_percent) %" "5 %"
row "  every 100 steps: async / sync" "$(figure checkpoint_overhead every_100_async_overhead_percent) / $(figure checkpoint_overhead every_100_overhead_percent) %" "-"
row "checkpoint write / dd fdatasync, 1 GiB, 4 ranks" "$(figure checkpoint_bandwidth write_over_dd)" "0.8"
row "  buffered write (PERENNIAL_IO_DIRECT=0) / dd, same run" "$(figure checkpoint_bandwidth buffered_over_dd)" "-"
row "  buffered time / direct time, same run" "$(figure checkpoint_bandwidth buffered_over_direct_time)" "-"
row "  write + verify / dd" "$(figure checkpoint_bandwidth write_verify_over_dd)" "-"
