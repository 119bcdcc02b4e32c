#!/usr/bin/env bash
# Installs what is missing, builds in Release, and runs the whole test suite with CTest.
# Exits non-zero on any failure. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/ci/install-deps.sh"
"$here/ci/build.sh"
build=${PERENNIAL_BUILD_DIR:-$here/build}
registered=$(ctest --test-dir "$build" -N | sed -n 's/^Total Tests: //p')
if [ "${registered:-0}" -eq 0 ]; then
  echo "ci/test.sh: no tests are registered" >&2
  exit 1
fi
ctest --test-dir "$build" --output-on-failure -j2 "$@"
