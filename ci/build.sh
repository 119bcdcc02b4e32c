#!/usr/bin/env bash
# Configures and builds Perennial in Release into ./build (or $PERENNIAL_BUILD_DIR).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${PERENNIAL_BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPERENNIAL_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build" -j"${PERENNIAL_JOBS:-2}"
