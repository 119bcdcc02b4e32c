#!/usr/bin/env bash
# bench_dispatch_instructions.sh [BUILD_DIR]: rank 0's instructions per independent noop stage,
# counted by valgrind (callgrind), and where they go.
#
# bench_dispatch.sh times the same shape, but its microseconds move with the host: on this
# machine kind the same build gave 19-22 us per stage on a quiet day and 32-51 us when the
# hypervisor took 5-35% of the CPU (steal). An instruction count does not move with the host,
# so a change to rank 0's work per stage shows in one run, however busy the machine is.
#
# Rank 0 alone runs under callgrind (the workers run natively) for SMALL and LARGE stages
# (1,000 and 5,000); the difference of the two counts over LARGE - SMALL is the cost of one
# more stage: start-up and the end are the same in both and drop out. Counted is rank 0's
# loop (run_campaign), the part of the run bench_dispatch.sh times; loading and validating the
# file grow with the stages too but come before the clock starts, and are printed apart. The same
# difference is taken for the parts of rank 0's loop (inclusive counts of the functions that
# do each job), so the rows add up to about the total; "other" is the rest (probes, the loop,
# allocation).
#
# status.json is left out of the total and printed apart: it is written by the clock (once a
# second at most), and under valgrind a run lasts about 50 times longer, so it is written
# more often than in a run at full speed, where a 10,000-stage run writes it only at the end.
#
# Repeat runs differ by a few percent (how often rank 0 finds nothing to do depends on the
# timing); BENCH_REPEAT (2) pairs are run and the median printed.
#
# Environment: BENCH_SMALL (1000), BENCH_LARGE (5000), BENCH_RANKS (4), BENCH_REPEAT (2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"
bench_init "${1:-/work/main/build}"

small=${BENCH_SMALL:-1000}
large=${BENCH_LARGE:-5000}
ranks=${BENCH_RANKS:-4}
repeat=${BENCH_REPEAT:-2}

if ! command -v valgrind > /dev/null || ! command -v callgrind_annotate > /dev/null; then
  echo "bench_dispatch_instructions: valgrind is not installed (apt-get install valgrind): not measured"
  echo "summary: rank0_instructions_per_stage=n/a"
  exit 0
fi

generate() {
  echo "campaign: dispatch-instructions"
  echo "stages:"
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  - {name: s%05d, kernel: noop, ranks: 1, steps: 1}\n", i }'
}

# Rank 0 under callgrind, the others as they are. run_campaign starts "$PERENNIAL run ...".
real_perennial=$PERENNIAL
wrapper="$BENCH_TMP/rank0-under-callgrind.sh"
cat > "$wrapper" << EOF
#!/usr/bin/env bash
if [[ \${OMPI_COMM_WORLD_RANK:-} == 0 ]]; then
  exec valgrind --tool=callgrind --callgrind-out-file="\$CALLGRIND_OUT" "$real_perennial" "\$@" 2> "\$CALLGRIND_OUT.log"
fi
exec "$real_perennial" "\$@"
EOF
chmod +x "$wrapper"
PERENNIAL=$wrapper

# The parts of rank 0's loop: a name, then the functions (callgrind's names, inclusive counts)
# whose sum is its cost. None of a row's functions calls another row's.
parts=(
  "accounting books (SQLite)|perennial::AccountingRecorder::stage_started;perennial::AccountingRecorder::segment_ended;perennial::CampaignBooks::commit_if_older_than"
  "events.jsonl and the log|perennial::EventRecorder::stage_started;perennial::EventRecorder::stage_completed;perennial::EventLog::flush"
  "journal|perennial::JournalRecorder::stage_started;perennial::JournalRecorder::stage_completed;perennial::Journal::sync_if_older_than"
  "assignment: build, pack, send|perennial::(anonymous namespace)::CoordinatorLoop::assign;perennial::WorkerPools::progress_sends"
  "completion: receive, unpack|boost::mpi::status boost::mpi::communicator::recv<boost::mpi::packed_iarchive>"
  "scheduling policy|perennial::SchedulingPolicy::decide;perennial::SchedulingPolicy::finished"
  "probes for messages|perennial::ControlChannel::poll"
)
status_functions="perennial::RunStatus::write;perennial::RunStatus::of"

# Inclusive counts of one callgrind file: "count<TAB>function" lines, arguments left out.
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2> /dev/null |
    sed -n -E 's/^ *([0-9,]+) \([ 0-9.]+%\) +(\?\?\?|[^:]*):(.*) \[[^]]*\]$/\1\t\3/p' | tr -d ','
}
# The sum of the inclusive counts in FILE of FUNCTIONS (names separated by ";").
sum_of() {
  awk -F'\t' -v names="$2" '
    BEGIN { n = split(names, want, ";") }
    {
      f = $2
      gsub(/\[abi:cxx11\]/, "", f)
      for (i = 1; i <= n; ++i) {
        w = want[i]
        if (index(f, w "(") == 1) {  # the name, then its argument list
          total += $1
          break
        }
      }
    }
    END { printf "%d", total }' "$1"
}
total_of() { callgrind_annotate "$1" 2> /dev/null | sed -n -E 's/^ *([0-9,]+) \(100.0%\) +PROGRAM TOTALS.*/\1/p' | tr -d ','; }

echo "bench_dispatch_instructions: rank 0 under callgrind, $small and $large independent noop stages on $ranks ranks, $repeat pairs"
generate "$small" > "$BENCH_TMP/small.yaml"
generate "$large" > "$BENCH_TMP/large.yaml"
per_stage=()
declare -A part_values
status_values=()
outside_values=()
for ((run = 1; run <= repeat; ++run)); do
  for size in small large; do
    export CALLGRIND_OUT="$BENCH_TMP/$size-$run.callgrind"
    BENCH_TIMEOUT=900 run_campaign "$ranks" "$BENCH_TMP/$size.yaml" "$BENCH_TMP/$size-$run"
    inclusive "$CALLGRIND_OUT" > "$CALLGRIND_OUT.inclusive"
    rm -rf "${BENCH_TMP:?}/$size-$run"
  done
  a="$BENCH_TMP/small-$run.callgrind"
  b="$BENCH_TMP/large-$run.callgrind"
  n=$((large - small))
  status=$(( $(sum_of "$b.inclusive" "$status_functions") - $(sum_of "$a.inclusive" "$status_functions") ))
  loop=$(( $(sum_of "$b.inclusive" "perennial::run_campaign") - $(sum_of "$a.inclusive" "perennial::run_campaign") ))
  total=$((loop - status))
  whole=$(( $(total_of "$b") - $(total_of "$a") ))
  outside_values+=("$(awk -v t="$((whole - loop))" -v n="$n" 'BEGIN { printf "%.0f", t / n }')")
  per=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", t / n }')
  per_stage+=("$per")
  status_values+=("$(awk -v t="$status" -v n="$n" 'BEGIN { printf "%.0f", t / n }')")
  printf '  pair %d: %d instructions per stage (status.json apart: %d)\n' "$run" "$per" "${status_values[-1]}"
  for part in "${parts[@]}"; do
    name=${part%%|*}
    functions=${part#*|}
    d=$(( $(sum_of "$b.inclusive" "$functions") - $(sum_of "$a.inclusive" "$functions") ))
    part_values[$name]+="$(awk -v t="$d" -v n="$n" 'BEGIN { printf "%.0f", t / n }') "
  done
  rm -f "$a" "$b"
done
med=$(printf '%s\n' "${per_stage[@]}" | median)
printf '  rank 0: %.0f instructions per independent stage (median of %d pairs)\n' "$med" "$repeat"
accounted=0
for part in "${parts[@]}"; do
  name=${part%%|*}
  m=$(printf '%s\n' ${part_values[$name]} | median)
  accounted=$(awk -v a="$accounted" -v m="$m" 'BEGIN { print a + m }')
  printf '    %-34s %7.0f  (%4.1f%%)\n' "$name" "$m" "$(awk -v m="$m" -v t="$med" 'BEGIN { print 100 * m / t }')"
done
other=$(awk -v t="$med" -v a="$accounted" 'BEGIN { print t - a }')
printf '    %-34s %7.0f  (%4.1f%%)\n' "other (the loop, allocation, ...)" "$other" "$(awk -v m="$other" -v t="$med" 'BEGIN { print 100 * m / t }')"
printf '    %-34s %7.0f  (paced by the clock: left out)\n' "status.json" "$(printf '%s\n' "${status_values[@]}" | median)"
printf '    %-34s %7.0f  (before the run'"'"'s clock starts: left out)\n' "loading and validating the file" \
  "$(printf '%s\n' "${outside_values[@]}" | median)"
echo "summary: rank0_instructions_per_stage=$(printf %.0f "$med")"
