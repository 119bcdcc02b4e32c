#!/usr/bin/env bash
# The batch script `perennial sbatch` writes, run without Slurm: `perennial`, `squeue` and
# `scontrol` are stand-ins that record how they were called, so each decision the script
# makes after the run is checked in a second: a completed campaign ends the job; a warned,
# checkpointed one is requeued (the warning forwarded to launch, squeue's end passed as
# --end-time); a failed one, one at --max-requeues, and one that stopped long before the
# end are not. The real Slurm is tests/slurm/slurm_requeue.sh's.
#
#   script_decisions.sh PERENNIAL SCRATCH
set -uo pipefail
perennial=${1:?usage: script_decisions.sh PERENNIAL SCRATCH}
scratch=${2:?usage: script_decisions.sh PERENNIAL SCRATCH}
rm -rf "$scratch"
mkdir -p "$scratch/bin" "$scratch/out"
failures=0
check() {  # check WHAT CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failures=$((failures + 1)); fi
}

cat >"$scratch/campaign.yaml" <<'YAML'
campaign: decisions
stages:
  - name: a
    kernel: noop
    ranks: 1
    steps: 10
    step_time: 1s
YAML
"$perennial" sbatch "$scratch/campaign.yaml" --output-dir "$scratch/out" --time 10:00 --checkpoint-cost 1s \
  --max-requeues 2 --dry-run >"$scratch/job.sbatch" 2>"$scratch/sbatch.err" || { cat "$scratch/sbatch.err"; exit 1; }
# The stand-in perennial instead of the real one.
sed -i "s|^perennial=.*|perennial='$scratch/bin/perennial'|" "$scratch/job.sbatch"

# perennial launch: records its arguments; writes the outcome STUB_STATUS with exit STUB_CODE,
# or with STUB_WAIT waits (at most 20 s) for USR1 and then ends checkpointed.
cat >"$scratch/bin/perennial" <<'STUB'
#!/usr/bin/env bash
out=
prev=
for a in "$@"; do [ "$prev" = --output-dir ] && out=$a; prev=$a; done
echo "$@" >"$STUB_LOG/launch.args"
mkdir -p "$out/log"
status=${STUB_STATUS:-completed}
if [ -n "${STUB_WAIT:-}" ]; then
  got=
  trap 'got=1' USR1
  for _ in $(seq 1 200); do [ -n "$got" ] && break; sleep 0.1; done
  [ -n "$got" ] && echo usr1 >"$STUB_LOG/launch.signal"
  status=checkpointed
fi
printf '{\n  "exit_code": %s,\n  "status": "%s"\n}\n' "${STUB_CODE:-0}" "$status" >"$out/log/outcome.json"
exit "${STUB_CODE:-0}"
STUB
cat >"$scratch/bin/squeue" <<'STUB'
#!/usr/bin/env bash
date -d "+${STUB_END_IN:-30} seconds" +%Y-%m-%dT%H:%M:%S
STUB
cat >"$scratch/bin/scontrol" <<'STUB'
#!/usr/bin/env bash
echo "$@" >>"$STUB_LOG/scontrol.calls"
STUB
chmod +x "$scratch/bin/"*

run_case() {  # run_case NAME [VAR=VALUE...]: runs the script; sets code and log
  local name=$1
  shift
  export STUB_LOG="$scratch/$name"
  mkdir -p "$STUB_LOG"
  env -u SLURM_JOB_END_TIME PATH="$scratch/bin:$PATH" SLURM_JOB_ID=42 SLURM_NTASKS=2 "$@" \
    bash "$scratch/job.sbatch" >"$STUB_LOG/job.out" 2>&1 &
  local pid=$!
  if [ "$name" = warned ]; then
    for _ in $(seq 1 100); do [ -f "$STUB_LOG/launch.args" ] && break; sleep 0.05; done
    sleep 0.2
    kill -USR1 "$pid"
  fi
  code=0
  wait "$pid" || code=$?
  log=$STUB_LOG
}

run_case completed STUB_STATUS=completed
check "completed: exit 0" [ "$code" = 0 ]
check "completed: no requeue" [ ! -f "$log/scontrol.calls" ]
check "completed: squeue's end passed as --end-time" grep -q -- "--end-time 20[0-9-]*T[0-9:]*" "$log/launch.args"

run_case warned STUB_WAIT=1 SLURM_RESTART_COUNT=1
check "warned: USR1 reached launch" [ -f "$log/launch.signal" ]
check "warned: requeued" grep -qx "requeue 42" "$log/scontrol.calls"
check "warned: exit 0" [ "$code" = 0 ]

run_case at-cap STUB_STATUS=checkpointed SLURM_RESTART_COUNT=2
check "at --max-requeues: not requeued" [ ! -f "$log/scontrol.calls" ]
check "at --max-requeues: exit 1, saying why" bash -c "[ $code = 1 ] && grep -q 'reached --max-requeues 2' '$log/job.out'"

run_case failed STUB_STATUS=incomplete STUB_CODE=1
check "failed: not requeued" [ ! -f "$log/scontrol.calls" ]
check "failed: exit 1, saying why" bash -c "[ $code = 1 ] && grep -q 'not requeued: the campaign failed' '$log/job.out'"

run_case early-stop STUB_STATUS=checkpointed STUB_END_IN=86400
check "checkpointed a day before the end: not requeued" [ ! -f "$log/scontrol.calls" ]
check "checkpointed a day before the end: exit 1" [ "$code" = 1 ]

run_case near-end STUB_STATUS=checkpointed STUB_END_IN=30
check "checkpointed near the end without a signal: requeued" grep -qx "requeue 42" "$log/scontrol.calls"

if [ "$failures" -ne 0 ]; then
  for f in "$scratch"/*/job.out; do echo "----- $f"; cat "$f"; done
  exit 1
fi
echo "all decisions as expected"
