#!/usr/bin/env bash
# Installs what is missing, builds in Release, and runs the example campaign
# (examples/campaigns/cmip-lite.yaml) through `perennial launch`, which starts
# mpirun --enable-recovery and exits with the campaign's own outcome. Prints where the
# outputs are.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/ci/install-deps.sh"
"$here/ci/build.sh"
build=${PERENNIAL_BUILD_DIR:-$here/build}
ranks=${PERENNIAL_RANKS:-7}
campaign="$here/examples/campaigns/cmip-lite.yaml"

flags="--oversubscribe"
if [ "$(id -u)" -eq 0 ]; then flags+=" --allow-run-as-root"; fi

"$build/perennial" validate "$campaign"
"$build/perennial" plan "$campaign"
# A previous run's outputs are replaced: this script demonstrates, it does not resume.
rm -rf "$here/examples/campaigns/runs/cmip-lite"
"$build/perennial" launch -n "$ranks" --mpirun-args "$flags" "$campaign"
echo
echo "outputs: $here/examples/campaigns/runs/cmip-lite/outputs"
echo "logs:    $here/examples/campaigns/runs/cmip-lite/log"
echo "try:     ncdump -h $here/examples/campaigns/runs/cmip-lite/outputs/analysis.h5"

# An existing model executable as a stage (examples/external): ocean_box, a Fortran MPI model,
# beside a C++ kernel. Built when gfortran is there (install-deps installs it).
model_dir="$build/examples/external"
if [ -x "$model_dir/ocean_box" ]; then
  rm -rf "$here/examples/external/runs/ocean-external"
  PATH="$model_dir:$PATH" "$build/perennial" launch -n 5 --mpirun-args "$flags" "$here/examples/external/ocean-campaign.yaml"
  echo "model runs: $here/examples/external/runs/ocean-external/model-runs (namelists, restart files, model.log)"
else
  echo "examples/external: ocean_box was not built (no gfortran or h5pfc); skipped"
fi

