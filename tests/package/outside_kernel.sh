#!/bin/sh
# package.AnOutsideKernelBuildsAgainstTheInstalledTreeAndRuns: installs this build into a
# scratch prefix, builds tests/package/outside (a kernel of its own, find_package(Perennial)
# and perennial_add_executable) against it, checks the kernel is listed and its campaign
# validates, runs it under mpiexec, and checks every stage completed with its output.
# Usage: outside_kernel.sh BUILD_DIR SOURCE_DIR WORK_DIR MPIEXEC [FLAGS...]
set -eu
build=$1; source=$2; work=$3; shift 3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source/tests/package/outside" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j2 > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
exe="$work/build/my-perennial"
"$exe" kernels | grep -q '^growth' || { echo "my-perennial kernels does not list growth:"; "$exe" kernels; exit 1; }
"$exe" kernels | grep -q '^heat2d' && { echo "heat2d is the source tree's example, not part of the package"; exit 1; }
"$exe" validate "$source/tests/package/outside/campaign.yaml" --ranks 5
"$@" --enable-recovery -n 5 "$exe" run "$source/tests/package/outside/campaign.yaml" --quiet --output-dir "$work/run"
for stage in grow-0.1 grow-0.2; do
  test -s "$work/run/outputs/$stage.h5" || { echo "no output for $stage"; exit 1; }
  grep -q "\"event\":\"stage_completed\".*\"stage\":\"$stage\"" "$work/run/log/events.jsonl" ||
    { echo "$stage did not complete"; exit 1; }
done
echo "outside kernel: built against $work/prefix, ran, both stages completed"
