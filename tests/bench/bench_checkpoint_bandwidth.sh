#!/usr/bin/env bash
# bench_checkpoint_bandwidth.sh [BUILD_DIR] [MiB=1024] [PAIRS=5] [RANKS=4]: checkpoint write
# bandwidth for MiB of state on RANKS ranks against `dd conv=fdatasync` of the same size on the
# same disk, pair by pair in one run (bench_checkpoint_bandwidth does the work; see there).
# The files go to BENCH_DIR (default: a temporary folder under TMPDIR, or /tmp).
# Goal (issue 16): write / dd at least 0.8 for 1 GiB on 4 ranks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench_lib.sh"
build=${1:-/work/main/build}
bench_init "$build"
exe="$build/tests/bench/bench_checkpoint_bandwidth"
[[ -x $exe ]] || { echo "bench_checkpoint_bandwidth.sh: $exe is missing (PERENNIAL_BUILD_BENCHMARKS=ON)" >&2; exit 2; }
dir=${BENCH_DIR:-$BENCH_TMP}
mkdir -p "$dir"
echo "bench_checkpoint_bandwidth: ${2:-1024} MiB on ${4:-4} ranks, ${3:-5} pairs, in $dir"
timeout --kill-after=10 "${BENCH_TIMEOUT:-900}" "${MPIEXEC[@]}" -n "${4:-4}" "$exe" "$dir" "${2:-1024}" "${3:-5}"
