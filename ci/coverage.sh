#!/usr/bin/env bash
# Line coverage of the scheduling-policy code, measured with gcovr over the unit tests.
#
#   ci/coverage.sh            # COVERAGE_GOAL=95 by default
#
# Configures its own build directory (./build-coverage, or $PERENNIAL_COVERAGE_BUILD_DIR) in
# Debug with -DPERENNIAL_COVERAGE=ON, builds only the unit tests (ctest label `unit`), runs
# them, then prints gcovr's per-file table for the files in policy_sources below, the total,
# and a last line `summary: policy_line_coverage_percent=NN.N`.
# Files of the list that do not exist (yet) are named and skipped.
# Exit status: 0 if the total line coverage >= COVERAGE_GOAL, 1 if not (or if a unit test
# failed, or a listed file that exists has no coverage data), 2 on a setup error.
set -uo pipefail

# Paths relative to the repository root.
policy_sources=(
  coordinator/src/scheduling_policy.cpp
  coordinator/src/machine.cpp
  coordinator/src/fair_share.cpp
  coordinator/src/resources.cpp
  coordinator/src/campaign_progress.cpp
  coordinator/src/stage_graph.cpp
  coordinator/src/simulator.cpp
  coordinator/include/perennial/coordinator/clock.hpp
)

here=$(cd "$(dirname "$0")/.." && pwd -P)
build=${PERENNIAL_COVERAGE_BUILD_DIR:-$here/build-coverage}
goal=${COVERAGE_GOAL:-95}
jobs=${PERENNIAL_JOBS:-$(nproc 2>/dev/null || echo 2)}
started=$SECONDS

setup_error() {
  echo "ci/coverage.sh: setup error: $*" >&2
  exit 2
}
# Runs a command with its output in a log; on failure shows the log's tail and stops (exit 2).
logged() {
  local what=$1 log=$2
  shift 2
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    setup_error "$what failed (full log: $log)"
  fi
}
phase() { echo "coverage: $* [$((SECONDS - started)) s]"; }

if ! [[ "$goal" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  setup_error "COVERAGE_GOAL must be a number, got '$goal'"
fi

"$here/ci/install-deps.sh" --coverage || setup_error "ci/install-deps.sh --coverage failed"
command -v gcovr >/dev/null || setup_error "gcovr is not on PATH"

# The policy files that exist now.
present=()
missing=()
for f in "${policy_sources[@]}"; do
  if [ -f "$here/$f" ]; then present+=("$f"); else missing+=("$f"); fi
done
for f in "${missing[@]}"; do echo "coverage: skipped, does not exist yet: $f"; done
[ ${#present[@]} -gt 0 ] || setup_error "none of the policy sources exists"

if ! mkdir -p "$build" || ! build=$(cd "$build" && pwd -P); then
  setup_error "cannot create $build"
fi
phase "configuring $build (Debug, PERENNIAL_COVERAGE=ON)"
logged "cmake configure" "$build/coverage-configure.log" \
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPERENNIAL_COVERAGE=ON \
  -DPERENNIAL_BUILD_TESTS=ON -DPERENNIAL_BUILD_BENCHMARKS=OFF

# gcov must come from the compiler that built the objects (gcc 12 <-> gcov 12).
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
cxx_major=$("$cxx" -dumpversion 2>/dev/null | cut -d. -f1)
gcov=${GCOV:-}
if [ -z "$gcov" ]; then
  for candidate in "gcov-$cxx_major" gcov; do
    if command -v "$candidate" >/dev/null; then gcov=$candidate; break; fi
  done
fi
[ -n "$gcov" ] || setup_error "no gcov found (set GCOV)"
gcov_major=$($gcov --version 2>/dev/null | head -n 1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | tail -n 1 | cut -d. -f1)
if [ "$gcov_major" != "$cxx_major" ]; then
  setup_error "$gcov is version $gcov_major but $cxx is version $cxx_major (set GCOV to a matching gcov)"
fi

# Only what the tests of label `unit` need: the executables their commands name, read from the
# generated CTestTestfile.cmake files (ctest reports a command only once it is built). Each is
# a target of the same name (perennial_add_test; e2e_campaigns also builds `perennial`).
unit_targets_of() {
  python3 - "$1" <<'EOF'
import os, re, shlex, sys
build = sys.argv[1]
commands, labels = {}, {}
for root, _, files in os.walk(build):
    if "CTestTestfile.cmake" not in files:
        continue
    for line in open(os.path.join(root, "CTestTestfile.cmake")):
        m = re.match(r'add_test\(\[=\[(.*?)\]=\] (.*)\)$', line.strip())
        if m:
            commands[m.group(1)] = shlex.split(m.group(2))
        m = re.match(r'set_tests_properties\(\[=\[(.*?)\]=\] PROPERTIES .*?LABELS "([^"]*)"', line.strip())
        if m:
            labels[m.group(1)] = m.group(2).split(";")
targets = set()
for name, command in commands.items():
    if "unit" in labels.get(name, []):
        targets.update(os.path.basename(a) for a in command if a.startswith(build + "/"))
print("\n".join(sorted(targets)))
EOF
}
# A build re-runs CMake when a CMakeLists.txt changed, which may register more unit tests:
# build again until the list stops changing.
built=""
for _ in 1 2 3; do
  mapfile -t unit_targets < <(unit_targets_of "$build")
  [ ${#unit_targets[@]} -gt 0 ] || setup_error "no test carries the label 'unit'"
  [ "${unit_targets[*]}" != "$built" ] || break
  phase "building what the unit tests need: ${unit_targets[*]}"
  logged "build" "$build/coverage-build.log" \
    cmake --build "$build" -j"$jobs" --target "${unit_targets[@]}"
  built="${unit_targets[*]}"
done

# Counters from earlier runs would add up: start from zero.
find "$build" -name '*.gcda' -delete

phase "running ctest -L unit"
tests_ok=1
if ! ctest --test-dir "$build" -L unit --output-on-failure -j"$jobs" >"$build/coverage-ctest.log" 2>&1; then
  tests_ok=0
  cat "$build/coverage-ctest.log"
  echo "coverage: some unit tests FAILED (exit status 1); the figures count only what ran, and a test killed by its timeout leaves no counters" >&2
else
  grep -E 'tests passed|Total Test time' "$build/coverage-ctest.log"
fi

phase "gcovr ($gcov)"
filters=()
for f in "${present[@]}"; do
  filters+=(--filter "$(printf '%s' "$here/$f" | sed 's/[].[^$*+?(){}|\\]/\\&/g')\$")
done
summary_json="$build/coverage-summary.json"
report="$build/coverage-report.txt"
logged "gcovr" "$build/coverage-gcovr.log" \
  gcovr --root "$here" --object-directory "$build" --gcov-executable "$gcov" -j "$jobs" \
  "${filters[@]}" --sort-percentage --txt "$report" --json-summary "$summary_json" "$build"
cat "$report"

# Total, and which present files produced no data (never compiled into a unit test).
read -r covered total nodata < <(python3 - "$summary_json" "${present[@]}" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
seen = {f["filename"] for f in data["files"]}
covered = sum(f["line_covered"] for f in data["files"])
total = sum(f["line_total"] for f in data["files"])
nodata = [p for p in sys.argv[2:] if p not in seen]
print(covered, total, ",".join(nodata) or "-")
EOF
) || setup_error "cannot read $summary_json"

status=0
if [ "$nodata" != "-" ]; then
  echo "coverage: no coverage data (not compiled into any unit test?): ${nodata//,/ }" >&2
  status=1
fi
if [ "$total" -eq 0 ]; then
  percent=0.0
else
  percent=$(awk -v c="$covered" -v t="$total" 'BEGIN { printf "%.1f", 100 * c / t }')
fi
echo "total: $covered of $total lines covered in ${#present[@]} files (${#missing[@]} listed files missing)"
echo "goal: $goal%"
if ! awk -v c="$covered" -v t="$total" -v g="$goal" 'BEGIN { exit !(t > 0 && 100 * c >= g * t) }'; then
  echo "coverage: $percent% is below the goal of $goal%"
  status=1
fi
[ "$tests_ok" -eq 1 ] || status=1
echo "coverage: done in $((SECONDS - started)) s"
echo "summary: policy_line_coverage_percent=$percent"
exit $status
