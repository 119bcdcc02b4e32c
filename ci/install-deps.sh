#!/usr/bin/env bash
# Installs every Debian 12 package Perennial's build, tests and examples need.
# Idempotent: packages already present are not downloaded again, and apt-get update
# runs only when something is missing.
# Optional groups: `ci/install-deps.sh --coverage` also installs gcovr (for ci/coverage.sh).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools netcdf-bin
  libboost-mpi-dev libboost-serialization-dev
  libyaml-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libxxhash-dev
  libsqlite3-dev libsqlitecpp-dev sqlite3
  libcairo2-dev fonts-dejavu-core
  libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
  gfortran
  slurm-wlm munge
)
coverage_packages=(gcovr)

for arg in "$@"; do
  case "$arg" in
    --coverage) packages+=("${coverage_packages[@]}") ;;
    *) echo "install-deps: unknown option $arg (known: --coverage)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
