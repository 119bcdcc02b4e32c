#!/usr/bin/env bash
# Installs what is missing, builds, and runs the test suite with CTest.
# Exits non-zero on any failure. Extra arguments go to ctest (e.g. -L unit).
#
#   ci/test.sh [ctest args]             Release build in ./build ($PERENNIAL_BUILD_DIR), every test
#   ci/test.sh --sanitize [ctest args]  ASan + UBSan, Debug, in ./build-sanitize
#                                       ($PERENNIAL_SANITIZE_BUILD_DIR); without ctest args
#                                       every test but two bound by wall-clock time (below)
#   ci/test.sh --tsan [ctest args]      TSan, Debug, in ./build-tsan ($PERENNIAL_TSAN_BUILD_DIR);
#                                       without ctest args, the tests that run the runtime's
#                                       threads (see tsan_tests below), and only what they need
#                                       is built
#
# Under a sanitizer, every process a test starts (ranks under mpiexec, respawned workers)
# writes its findings to <build>/sanitizer-reports/<test>.<asan|ubsan|tsan>.<pid>; the run
# fails if any is there afterwards, and prints them. docs/sanitizers.md has the details.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

mode=release
case "${1:-}" in
  --sanitize) mode=sanitize; shift ;;
  --tsan) mode=tsan; shift ;;
esac

# The threads of the runtime: the worker's HeartbeatThread, the StartupWatchdog, rank 0's
# StartupBeats and Respawner (fault and lifecycle tests), launch's stderr tap (every e2e test
# through `perennial launch`; Launch.* signal it), and the worker loop with its heartbeat.
tsan_tests='^(e2e\.(Faults|Lifecycle|Launch)\.|worker_loop_mpi$)'

"$here/ci/install-deps.sh"
case "$mode" in
  release)
    "$here/ci/build.sh"
    build=${PERENNIAL_BUILD_DIR:-$here/build}
    ;;
  sanitize | tsan)
    if [ "$mode" = sanitize ]; then
      build=${PERENNIAL_SANITIZE_BUILD_DIR:-$here/build-sanitize}
      sanitizers=address,undefined
    else
      build=${PERENNIAL_TSAN_BUILD_DIR:-$here/build-tsan}
      sanitizers=thread
    fi
    # Debug (-O0 -g): the instrumented code compiles about twice as fast as at -O2, and the suite
    # waits on MPI far more than it computes.
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPERENNIAL_SANITIZE=$sanitizers \
      -DPERENNIAL_BUILD_BENCHMARKS=OFF >/dev/null
    targets=()
    if [ "$mode" = sanitize ] && [ $# -eq 0 ]; then
      # Three tests measure the runtime against wall-clock bounds that a 3x slower instrumented
      # build cannot meet: the soak (60 s per run), the kill aimed inside the validation of
      # a 100,000-stage campaign (launch validates it first), and the Slurm job (its campaign
      # is sized to Slurm's two-minute limit). They run in the normal build.
      set -- -LE 'soak|slurm' -E 'e2e\.Lifecycle\.TheCoordinatorDyingWhileItValidatesEndsTheJob'
    fi
    if [ "$mode" = tsan ] && [ $# -eq 0 ]; then
      targets=(--target perennial e2e_campaigns worker_loop_mpi)
      set -- -R "$tsan_tests"
    fi
    cmake --build "$build" -j"${PERENNIAL_JOBS:-2}" "${targets[@]}"
    ;;
esac

registered=$(ctest --test-dir "$build" -N "$@" | sed -n 's/^Total Tests: //p')
if [ "${registered:-0}" -eq 0 ]; then
  echo "ci/test.sh: no tests are registered (or none is selected by: $*)" >&2
  exit 1
fi
[ "$mode" = release ] || find "$build/sanitizer-reports" -type f -delete 2>/dev/null || true

status=0
if [ "$mode" = release ] && [ $# -eq 0 ] && [ -n "$(ctest --test-dir "$build" -N -L slurm | sed -n 's/^Total Tests: [1-9]/x/p')" ]; then
  # The Slurm test spends its three minutes waiting on Slurm (its warning comes once a
  # minute or so) with a paced campaign that hardly uses a CPU: it runs beside the rest of the
  # suite rather than after it. Its output follows the suite's.
  slurm_log="$build/Testing/slurm-beside.log"
  ctest --test-dir "$build" --output-on-failure -L slurm >"$slurm_log" 2>&1 &
  slurm_pid=$!
  ctest --test-dir "$build" --output-on-failure -j2 -LE slurm || status=$?
  slurm_status=0
  wait "$slurm_pid" || slurm_status=$?
  echo "==== the Slurm test, run beside the suite:"
  cat "$slurm_log"
  [ "$slurm_status" -eq 0 ] || status=$slurm_status
else
  ctest --test-dir "$build" --output-on-failure -j2 "$@" || status=$?
fi

if [ "$mode" != release ]; then
  # UBSan linked with ASan ignores log_path and writes to the process's stderr (then ends it:
  # -fno-sanitize-recover). CTest keeps every test's output, passing or not: look there too.
  if grep -n "runtime error: " "$build/Testing/Temporary/LastTest.log" 2>/dev/null; then
    echo "ci/test.sh: UBSan findings in the tests' output (above; full output in $build/Testing/Temporary/LastTest.log)" >&2
    [ "$status" -ne 0 ] || status=1
  fi
  reports=$(find "$build/sanitizer-reports" -type f 2>/dev/null | sort)
  if [ -n "$reports" ]; then
    for r in $reports; do
      echo "==== $r"
      cat "$r"
    done
    echo "ci/test.sh: $(echo "$reports" | wc -l) sanitizer report(s), from these tests:" >&2
    echo "$reports" | sed 's|.*/||; s/\.\(asan\|ubsan\|tsan\)\.[0-9]*$//' | sort | uniq -c >&2
    [ "$status" -ne 0 ] || status=1
  else
    echo "ci/test.sh: no sanitizer reports"
  fi
fi
exit "$status"
