#!/usr/bin/env bash
# ci/fuzz.sh [SECONDS] [TARGET...]: builds the libFuzzer targets (tests/fuzz) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in ./build-fuzz ($PERENNIAL_FUZZ_BUILD_DIR),
# then runs each for SECONDS (default 60) from a corpus seeded with the repository's campaign
# files (kept in build-fuzz/corpus/<target> between runs). Exits non-zero when a target
# crashes, hangs (over 10 s on one input), allocates over 512 MB at once or trips a
# sanitizer; the input is left in build-fuzz/findings/<target>/ to become a regression test.
#   ci/fuzz.sh 300                        five minutes of every target
#   ci/fuzz.sh 60 fuzz_campaign_loader    one target
# The last lines are one `summary: target=... seconds=... runs=... cov=... ft=... findings=...`
# per target.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_campaign_loader fuzz_yaml_two_threads fuzz_fault_plan fuzz_checkpoint_verify fuzz_checkpoint_read fuzz_journal)
build=${PERENNIAL_FUZZ_BUILD_DIR:-$here/build-fuzz}
"$here/ci/install-deps.sh"
command -v clang++ >/dev/null || { echo "ci/fuzz.sh: clang++ is needed (apt-get install clang)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPERENNIAL_FUZZ=ON \
  -DPERENNIAL_SANITIZE=address,undefined -DPERENNIAL_BUILD_TESTS=OFF -DPERENNIAL_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j"${PERENNIAL_JOBS:-2}" --target "${targets[@]}"

# Where seeds come from: the tests folders of builds whose tests have run (ci/test.sh), or
# those named in PERENNIAL_FUZZ_SEED_DIRS (e.g. another checkout's build/tests).
read -r -a tested <<< "${PERENNIAL_FUZZ_SEED_DIRS:-$(echo "$here"/build*/tests)}"
status=0
summaries=()
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  findings="$build/findings/$target"
  mkdir -p "$corpus" "$findings"
  case "$target" in
    fuzz_campaign_loader|fuzz_yaml_two_threads)
      find "$here/examples" "$here/tests" -name '*.yaml' -size -64k -exec cp -t "$corpus" {} + 2>/dev/null || true ;;
    fuzz_fault_plan)
      printf 'kill:rank=1,step=1100;kill:rank=3,step=1100' > "$corpus/seed-kills"
      printf 'kill-in-checkpoint:rank=2,epoch=3' > "$corpus/seed-checkpoint"
      printf 'kill:rank=0,time=2.5' > "$corpus/seed-coordinator"
      printf 'corrupt-checkpoint:stage=a,step=400;fill-disk:stage=b,epoch=2' > "$corpus/seed-files" ;;
    fuzz_checkpoint_verify)
      # Real epochs and outputs, from a build whose tests have run (ci/test.sh): without them
      # the fuzzer starts from nothing, and an HDF5 file is far from random bytes.
      mapfile -t seeds < <(find "${tested[@]}" -name '*.h5' -size -256k 2>/dev/null | head -n 60)
      for f in "${seeds[@]}"; do cp "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-12).h5"; done ;;
    fuzz_checkpoint_read)
      # The e2e tests' `checkpointed` epochs and outputs (the identities the target verifies
      # against), models' files, and the verifier's findings (files HDF5 must not be given).
      mapfile -t runs < <(grep -l '"campaign":"checkpointed"' $(find "${tested[@]}" -name journal.jsonl 2>/dev/null) /dev/null |
                          head -n 8 | xargs -r -n1 dirname)
      mapfile -t seeds < <({ for run in "${runs[@]}"; do
                               find "$run/checkpoints" -name 'epoch-*.h5' -size -256k | head -n 4
                               find "$run/outputs" -name '*.h5' -size -256k; done
                             find "${tested[@]}" -path '*model-runs*' -name '*.h5' -size -256k | head -n 10
                             find "$here/tests/fuzz/findings" -name '*.h5'; } 2>/dev/null)
      for f in "${seeds[@]}"; do cp "$f" "$corpus/$(echo "$f" | md5sum | cut -c1-12).h5"; done ;;
    fuzz_journal)
      # Journals of tested builds (campaign folders the tests ran), cut to their first 8 KiB.
      mapfile -t seeds < <(find "${tested[@]}" -name journal.jsonl 2>/dev/null | head -n 60)
      for f in "${seeds[@]}"; do head -c 8192 "$f" > "$corpus/$(echo "$f" | md5sum | cut -c1-12).jsonl"; done
      # The same records unsigned, behind a first byte 0x01: the target signs each line.
      for f in "${seeds[@]:0:20}"; do { printf '\001'; head -c 4096 "$f" | sed 's/\t[0-9a-f]*$//'; } \
        > "$corpus/$(echo "$f" | md5sum | cut -c1-12).bodies"; done ;;
  esac
  # LeakSanitizer's stop-the-world tracer crashes beside Open MPI's threads (measured: signal 11
  # in the tracer, an empty input blamed), so the target that initialises MPI runs without it.
  leaks=1
  # The HDF5 targets: no LeakSanitizer (its tracer crashes beside Open MPI's threads), and a
  # malloc too large to satisfy returns NULL, as glibc's does in production and HDF5 expects
  # (it reports an error); ASan's default aborts there, which flagged HDF5 1.10 asking for 2^58
  # bytes for a damaged object header (tests/fuzz/findings/README.md). Allocations that succeed
  # but exceed -malloc_limit_mb are still findings.
  allocator=""
  case "$target" in fuzz_checkpoint_verify|fuzz_checkpoint_read) leaks=0 allocator=":allocator_may_return_null=1" ;; esac
  # A dictionary of the format's words where there is one (tests/fuzz/<target minus fuzz_>.dict).
  dict=()
  [ -f "$here/tests/fuzz/${target#fuzz_}.dict" ] && dict=(-dict="$here/tests/fuzz/${target#fuzz_}.dict")
  echo "== $target: $seconds s, corpus $(find "$corpus" -type f | wc -l) files"
  touch "$build/$target.started"
  if ! ASAN_OPTIONS="detect_leaks=$leaks$allocator${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$build/tests/fuzz/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -detect_leaks=$leaks "${dict[@]}" \
      -artifact_prefix="$findings/" -print_final_stats=1 2>"$build/$target.log"; then
    status=1
    echo "ci/fuzz.sh: $target found a problem; input(s) in $findings:" >&2
    ls -l "$findings" >&2
    grep -E "ERROR|SUMMARY|runtime error|deadly signal|timeout" "$build/$target.log" | head -20 >&2
  fi
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$build/$target.log" || true
  # One line per target for the end: what ran, how far it reached, what it found (libFuzzer's
  # slow-unit files are not findings: on a loaded machine they are the machine's stalls).
  runs=$(grep -E "^stat::number_of_executed_units" "$build/$target.log" | awk '{print $2}' | tail -1)
  last=$(grep -E "^#[0-9]+" "$build/$target.log" | grep -E "cov: " | tail -1)
  cov=$(echo "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
  ft=$(echo "$last" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')
  summaries+=("summary: target=$target seconds=$seconds runs=${runs:-?} cov=${cov:-?} ft=${ft:-?} corpus=$(find "$corpus" -type f | wc -l) findings=$(find "$findings" -type f -newer "$build/$target.started" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)")
done
printf '%s\n' "${summaries[@]}"
exit $status
