#!/bin/sh
# Builds tests/package/outside (a kernel of its own, find_package(Perennial) and
# perennial_add_executable) against an installed Perennial, checks the kernel is listed and
# its campaign validates, runs it under mpiexec, and checks every stage completed with its
# output. The installed Perennial comes from
#   install: `cmake --install BUILD_DIR` into a scratch prefix
#            (package.AnOutsideKernelBuildsAgainstTheInstalledTreeAndRuns);
#   deb:     `cpack -G DEB` of BUILD_DIR, which `apt-get install --simulate` must accept with
#            its dependencies, then installed with apt (as root, when no perennial package is
#            installed; purged at the end), else unpacked with dpkg-deb into a scratch root
#            (package.TheDebInstallsWithAptAndAnOutsideKernelBuildsAgainstIt).
# Usage: outside_kernel.sh install|deb BUILD_DIR SOURCE_DIR WORK_DIR MPIEXEC [FLAGS...]
set -eu
mode=$1; build=$2; source=$3; work=$4; shift 4
rm -rf "$work"
mkdir -p "$work"
if [ "$mode" = deb ]; then
  (cd "$build" && cpack -G DEB -B "$work/deb" > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
  deb=$(ls "$work"/deb/perennial_*.deb)
  dpkg-deb -I "$deb" | grep -q 'Depends: .*libhdf5-openmpi-dev' || { echo "the .deb does not depend on parallel HDF5"; exit 1; }
  # apt resolves the package and its dependencies (all installed here by ci/install-deps.sh).
  apt-get install --simulate -q "$deb" > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
  grep -q '^Inst perennial' "$work/apt.log" || { cat "$work/apt.log"; exit 1; }
  if [ "$(id -u)" -eq 0 ] && ! dpkg -s perennial > /dev/null 2>&1; then
    # Installed for real, as a user would (and purged again at the end, however this ends).
    trap 'dpkg --purge perennial > "$work/purge.log" 2>&1 || cat "$work/purge.log"' EXIT
    apt-get install -y -q "$deb" > "$work/apt-install.log" 2>&1 || { cat "$work/apt-install.log"; exit 1; }
    dpkg -s perennial | grep -q '^Status: install ok installed' || { echo "apt did not install the .deb"; exit 1; }
    prefix=/usr
  else
    # Not root, or a perennial package already installed that must not be replaced: unpacked.
    echo "outside kernel (deb): unpacked with dpkg-deb, not installed (not root, or perennial is installed)"
    dpkg-deb -x "$deb" "$work/root"
    prefix="$work/root/usr"
  fi
  test -x "$prefix/bin/perennial" || { echo "the .deb has no /usr/bin/perennial"; exit 1; }
else
  cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
  prefix="$work/prefix"
fi
cmake -S "$source/tests/package/outside" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
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
echo "outside kernel ($mode): built against $prefix, ran, both stages completed"
