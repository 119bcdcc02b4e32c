# shellcheck shell=bash
# Helpers shared by the benchmark scripts in tests/bench; source it, do not run it.
#
#   bench_init BUILD_DIR    sets PERENNIAL (BUILD_DIR/perennial), MPIEXEC (an array with the
#                           flags every run gets) and BENCH_TMP (a fresh temporary folder,
#                           removed when the calling script exits)
#   run_campaign N YAML OUT [extra mpiexec flags...]
#                           runs `perennial run YAML --quiet --output-dir OUT` on N ranks and
#                           fails the script when the run fails or a stage did not complete
#   finished_field OUT KEY  a number from OUT's campaign_finished event
#   median                  the median of the numbers on stdin, one per line
#   percentile P            the P-th percentile (nearest rank) of the numbers on stdin

bench_init() {
  local build=${1:-/work/main/build}
  PERENNIAL="$build/perennial"
  if [[ ! -x $PERENNIAL ]]; then
    echo "$(basename "$0"): no perennial executable at $PERENNIAL (build first, or pass the build folder)" >&2
    exit 2
  fi
  # --enable-recovery: perennial run refuses to start without it (it recovers from dead ranks).
  MPIEXEC=(mpiexec --oversubscribe --enable-recovery)
  # Open MPI refuses to run as root unless told to; the benchmark containers run as root.
  [[ $(id -u) == 0 ]] && MPIEXEC+=(--allow-run-as-root)
  # Extra flags for every run, e.g. BENCH_MPIEXEC_FLAGS="--mca btl ^openib".
  [[ -n ${BENCH_MPIEXEC_FLAGS:-} ]] && read -r -a _extra <<< "$BENCH_MPIEXEC_FLAGS" && MPIEXEC+=("${_extra[@]}")
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/perennial-bench.XXXXXX")
  trap 'rm -rf "$BENCH_TMP"' EXIT
}

run_campaign() {
  local ranks=$1 yaml=$2 out=$3
  shift 3
  local code=0
  # A hard limit so that a hung job ends the benchmark instead of the afternoon.
  timeout --kill-after=10 "${BENCH_TIMEOUT:-900}" \
    "${MPIEXEC[@]}" "$@" -n "$ranks" "$PERENNIAL" run "$yaml" --quiet --output-dir "$out" \
    > "$out.stdout" 2>&1 || code=$?
  if [[ $code != 0 ]]; then
    echo "$(basename "$0"): perennial run $yaml on $ranks ranks exited with $code; its output:" >&2
    tail -n 20 "$out.stdout" >&2
    exit 1
  fi
  local expected completed
  expected=$(grep -c '^  - ' "$yaml")
  completed=$(finished_field "$out" completed)
  if [[ $completed != "$expected" ]]; then
    echo "$(basename "$0"): $yaml: $completed of $expected stages completed" >&2
    exit 1
  fi
}

finished_field() {
  local events="$1/log/events.jsonl"
  local line
  line=$(tail -n 1 "$events")
  if [[ $line != *'"event":"campaign_finished"'* ]]; then
    echo "$(basename "$0"): the last event in $events is not campaign_finished" >&2
    exit 1
  fi
  sed -E -n "s/.*\"$2\":([-0-9.eE+]+).*/\1/p" <<< "$line"
}

median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

percentile() {
  sort -g | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) exit 1; r = int(p / 100 * NR + 0.999999); print v[r < 1 ? 1 : r] }'
}
