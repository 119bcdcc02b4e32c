#!/usr/bin/env bash
# A campaign under a real Slurm: `perennial sbatch` submits it with a 2-minute limit; Slurm's
# warning (USR1) comes mid-run, every stage checkpoints, the job requeues itself; released,
# the requeued job resumes from the journal and completes; the books record its restart
# count; the output is bit-identical to a run of the same campaign without interruption.
#
#   slurm_requeue.sh PERENNIAL SCRATCH [OCEAN_BOX]
#
# With OCEAN_BOX (examples/external's Fortran model, when it was built), a third job runs it as
# a `command:` stage: inside the job its launcher is an `srun --overlap` job step.
#
# Starts munged, slurmctld and slurmd (Debian 12's munge and slurm-wlm, Slurm 22.05) as root,
# with every file they use under SCRATCH (configuration, keys, sockets, state, logs), and
# stops them at the end by the pids they wrote. Exits 77 (CTest: skipped) when they cannot
# start here: not root, the packages missing, the ports taken. Every wait is bounded.
# Facts it relies on: /work/shared/notes/slurm-22.05-facts.md and docs/slurm.md.
set -uo pipefail

perennial=${1:?usage: slurm_requeue.sh PERENNIAL SCRATCH}
scratch=${2:?usage: slurm_requeue.sh PERENNIAL SCRATCH}
ctld_port=${PERENNIAL_SLURMCTLD_PORT:-16817}
slurmd_port=${PERENNIAL_SLURMD_PORT:-16818}

started=$(date +%s)
say() { echo "slurm_requeue: +$(( $(date +%s) - started ))s $*"; }
skip() { say "SKIPPED: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root to start munged, slurmctld and slurmd"
for tool in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd munge unmunge sbatch squeue scontrol scancel sinfo \
  h5diff sqlite3 runuser; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (ci/install-deps.sh installs slurm-wlm and munge)"
done
id munge >/dev/null 2>&1 || skip "no munge user (the munge package makes it)"
[ -x "$perennial" ] || { echo "slurm_requeue: no perennial at $perennial"; exit 1; }

# A short path: munge's socket must fit a Unix socket address (108 bytes).
rm -rf "$scratch"
mkdir -p "$scratch"
state=$(mktemp -d /tmp/perennial-slurm.XXXXXX)
chmod 755 "$state"
ln -s "$state" "$scratch/daemons"
host=$(hostname -s)

dump_logs() {
  for f in "$state"/log/*.log "$scratch"/out/slurm/*.out; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)"
    tail -n 40 "$f"
  done
}

job=
keep_state=
stop_all() {
  if [ -n "$job" ]; then
    scancel "$job" 2>/dev/null
    for _ in $(seq 1 20); do
      [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for pid_file in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munge/munged.pid"; do
    [ -s "$pid_file" ] || continue
    pid=$(cat "$pid_file")
    kill "$pid" 2>/dev/null || continue
    # Ended: gone, or a zombie where nothing reaps orphans (a container's pid 1).
    for _ in $(seq 1 20); do
      case "$(ps -o stat= -p "$pid" 2>/dev/null)" in "" | Z*) break ;; esac
      sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null
  done
  if [ -n "${reference_pid:-}" ]; then kill "$reference_pid" 2>/dev/null; fi
  # The daemons' files stay for a look after a failure (the logs were printed).
  if [ -n "$keep_state" ]; then
    echo "slurm_requeue: the daemons' files are in $state"
  else
    rm -rf "$state"
  fi
}
fail() {
  keep_state=1
  say "FAILED: $*"
  dump_logs
  exit 1
}
trap stop_all EXIT

for port in "$ctld_port" "$slurmd_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then skip "port $port is in use (set PERENNIAL_SLURMCTLD_PORT / PERENNIAL_SLURMD_PORT)"; fi
done

# ---- munge --------------------------------------------------------------------------------
mkdir -p "$state/munge" "$state/log"
dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chown -R munge: "$state/munge"
chmod 700 "$state/munge"
chmod 400 "$state/munge/munge.key"
socket="$state/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --force --key-file="$state/munge/munge.key" --socket="$socket" \
  --pid-file="$state/munge/munged.pid" --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed" \
  >"$state/log/munged-start.log" 2>&1 || { cat "$state/log/munged-start.log"; skip "munged did not start"; }
munge -n --socket="$socket" | unmunge --socket="$socket" >/dev/null 2>&1 || skip "munge does not answer on $socket"

# ---- slurmctld, slurmd ----------------------------------------------------------------------
mkdir -p "$state/ctld" "$state/spool"
export SLURM_CONF="$state/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=perennial-test
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
NodeName=$host CPUs=2 RealMemory=100 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
/usr/sbin/slurmctld -f "$SLURM_CONF" >"$state/log/slurmctld-start.log" 2>&1 || { dump_logs; skip "slurmctld did not start"; }
/usr/sbin/slurmd -f "$SLURM_CONF" >"$state/log/slurmd-start.log" 2>&1 || { dump_logs; skip "slurmd did not start"; }
idle=
for _ in $(seq 1 40); do
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then idle=1; break; fi
  sleep 0.5
done
[ -n "$idle" ] || { dump_logs; skip "the node did not come up idle within 20 s ($(sinfo -h -o %T 2>&1))"; }
say "slurmctld and slurmd up on $host (ports $ctld_port, $slurmd_port)"

# ---- the campaign ---------------------------------------------------------------------------
# One heat2d stage of about 80 s (30,000 steps paced to 2.7 ms each: a 90 x 45 grid that sleeps
# the rest of each step, so the job, and the uninterrupted run beside it, hardly use a CPU and
# ci/test.sh runs this test beside the rest of the suite), an epoch every 2,000 steps. With
# --time 2:00 and a lead of 70 s (checkpoint cost 5 s: 2 x 5 + 60), slurmctld (it looks every
# 30 s) signals between 20 and 50 s into the job.
cat >"$scratch/campaign.yaml" <<'EOF'
campaign: slurm-requeue
checkpoint: {interval: 2000 steps}
stages:
  - name: warm
    kernel: heat2d
    ranks: 1
    steps: 30000
    step_time: 3ms   # an estimate: inside a time limit, a stage without one does not start
    parameters: {nx: 90, ny: 45, forcing: 4.5, pace: 0.0027}
    outputs: {temperature: {dtype: float64, dims: [lat, lon], units: K}}
EOF
# sbatch hands the job this environment: Open MPI refuses root without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$scratch/out"
job=$("$perennial" sbatch "$scratch/campaign.yaml" --output-dir "$out" --time 00:02:00 --checkpoint-cost 5s \
  --max-requeues 2 --mpirun-args --oversubscribe --quiet) || fail "perennial sbatch did not submit"
grep -q '^#SBATCH --signal=B:USR1@70$' "$out/slurm/perennial.sbatch" || fail "the script has no --signal=B:USR1@70"
say "submitted job $job"

# The run without interruption, meanwhile (outside Slurm).
"$perennial" launch -n 2 --mpirun-args --oversubscribe "$scratch/campaign.yaml" --output-dir "$scratch/reference" \
  --quiet >"$scratch/reference.log" 2>&1 &
reference_pid=$!

job_field() { scontrol -o show job "$job" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# The state job $job ended in, waiting at most $1 seconds; empty when it has not ended by then.
end_state_within() {
  local state
  for _ in $(seq 1 "$1"); do
    state=$(job_field JobState)
    case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL) echo "$state"; return ;; esac
    sleep 1
  done
}
log="$out/slurm/perennial-$job.out"

# ---- first run: warned, checkpointed, requeued -------------------------------------------------
requeued=
for _ in $(seq 1 180); do
  if [ "$(job_field Restarts)" = 1 ] && [ "$(job_field JobState)" = PENDING ]; then requeued=1; break; fi
  case "$(job_field JobState)" in COMPLETED | FAILED | CANCELLED | TIMEOUT) break ;; esac
  sleep 1
done
[ -n "$requeued" ] || fail "job $job was not requeued within 180 s (state $(job_field JobState), restarts $(job_field Restarts))"
say "job $job requeued: $(job_field Reason)"
grep -q "USR1 from Slurm" "$log" || fail "the batch shell never got Slurm's USR1"
grep -q "campaign checkpointed" "$log" || fail "the first run did not end checkpointed"
grep -q "requeueing job $job" "$log" || fail "the script did not requeue the job itself"

# A requeued job is held (Reason=BeginTime): release it, with a limit the rest fits in. Not in
# the same second as the requeue: once, a release 0.5 s after it had the job refused by slurmd
# ("Job credential revoked", "already killed, do not launch batch job"), most likely because
# slurmd compares credentials with the revocation by the second. Two seconds pass first.
sleep 2
scontrol update jobid="$job" StartTime=now TimeLimit=00:10:00 || fail "cannot release job $job"

# ---- second run: resumes from the journal and completes ---------------------------------------
done_state=$(end_state_within 240)
[ "$done_state" = COMPLETED ] || fail "job $job did not complete within 240 s of its release (state ${done_state:-$(job_field JobState)})"
[ "$(job_field ExitCode)" = 0:0 ] || fail "job $job exit code $(job_field ExitCode)"
say "job $job completed after $(job_field Restarts) requeue(s)"
grep -q "campaign finished" "$log" || fail "the second run did not say the campaign finished"

# Restored from an epoch of the first run (the journal), not started again.
grep '"event":"stage_restored"' "$out/log/events.jsonl" | grep -q '"stage":"warm"' ||
  fail "no stage_restored event for warm: the second run did not resume from a checkpoint"

# The books: the first run's segments with restart 0, the second's with 1, one job id.
books=$(sqlite3 "$out/accounting.db" "SELECT DISTINCT slurm_job_id || ':' || slurm_restart_count FROM segments ORDER BY 1")
echo "$books" | grep -qx "$job:0" || fail "no segment recorded with job $job, restart 0 (books: $books)"
echo "$books" | grep -qx "$job:1" || fail "no segment recorded with job $job, restart 1 (books: $books)"
resumed_from=$(sqlite3 "$out/accounting.db" "SELECT MIN(first_step) FROM segments WHERE slurm_restart_count = 1")
[ "${resumed_from:-0}" -gt 0 ] || fail "the second run's segment started at step ${resumed_from:-?}, not from an epoch"
say "books: segments of job $job at restarts 0 and 1; the second resumed from step $resumed_from"

# ---- against the run without interruption -----------------------------------------------------
for _ in $(seq 1 240); do kill -0 "$reference_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$reference_pid" 2>/dev/null; then fail "the reference run did not end within the wait"; fi
wait "$reference_pid" || { cat "$scratch/reference.log"; fail "the reference run failed"; }
reference_pid=
h5diff "$scratch/reference/outputs/warm.h5" "$out/outputs/warm.h5" ||
  fail "the requeued campaign's output differs from the uninterrupted run's"
say "outputs bit-identical to the uninterrupted run (h5diff)"
"$perennial" status "$out" 2>/dev/null | grep -q "Slurm job $job: restart 0 .* restart 1 " ||
  fail "perennial status does not show job $job's restarts 0 and 1"

# Submitted again, the lead comes from the checkpoints these runs measured (writes of 2 MB:
# well under a second, so 2 x that, rounded up, + 60 s).
script=$("$perennial" sbatch "$scratch/campaign.yaml" --output-dir "$out" --time 00:10:00 --dry-run 2>/dev/null)
echo "$script" | grep -q "^# Lead: largest epoch write measured in this folder's books" ||
  fail "a second submission did not take the lead from the books: $(echo "$script" | grep '^# Lead')"
echo "$script" | grep -q '^#SBATCH --signal=B:USR1@6[1-9]$' ||
  fail "a second submission's lead is not 2 x the measured cost + 60 s: $(echo "$script" | grep 'USR1@')"

# ---- a campaign that fails is not requeued (no loop) ------------------------------------------
cat >"$scratch/failing.yaml" <<'EOF'
campaign: slurm-failing
stages:
  - name: broken
    kernel: fail-at-step
    ranks: 1
    steps: 10
    step_time: 10ms
    parameters: {fail_at_step: 3}
EOF
job=$("$perennial" sbatch "$scratch/failing.yaml" --output-dir "$scratch/failing" --time 00:02:00 --checkpoint-cost 5s \
  --mpirun-args --oversubscribe --quiet) || fail "perennial sbatch did not submit the failing campaign"
log="$scratch/failing/slurm/perennial-$job.out"
end_state=$(end_state_within 90)
[ "$end_state" = FAILED ] || fail "the failing campaign's job $job ended ${end_state:-not at all within 90 s}, not FAILED"
[ "$(job_field Restarts)" = 0 ] || fail "the failing campaign's job $job was requeued ($(job_field Restarts) times)"
grep -q "not requeued: the campaign failed" "$log" || fail "the failing job did not say why it was not requeued"
say "PASSED: a failing campaign's job $job ended FAILED without a requeue"

# ---- a model executable as a stage: its launcher is an srun job step ------------------------
model=${3:-}
if [ -z "$model" ] || [ ! -x "$model" ]; then
  say "SKIPPED (this part): no ocean_box model built, so no model executable under srun"
  exit 0
fi
template=$(cd "$(dirname "$0")/../../examples/external" && pwd)/input.nml.template
cat >"$scratch/model.yaml" <<YAML
campaign: slurm-model
stages:
  - name: ocean
    command: [$model]
    ranks: 1
    steps: 600
    step_time: 3ms
    parameters: {nx: 64, forcing: 1.0, restart_interval: 200, step_delay_us: 1000, quiet: .false.}
    templates: {input.nml: $template}
    restart: {files: 'restart/ocean.{step}.*.bin', marker: 'restart/ocean.{step}.done', request: SIGUSR1}
    progress: {pattern: '^step ([0-9]+) time +([-+.0-9Ee]+)'}
    outputs: {sst: {file: ocean_out.h5, dataset: sst, dtype: float64, dims: [x], units: K}}
YAML
# Debian's Open MPI under srun needs PMIx; this test cluster's MpiDefault is none (a site's is
# usually pmix already).
export SLURM_MPI_TYPE=pmix
job=$("$perennial" sbatch "$scratch/model.yaml" --output-dir "$scratch/model-out" --time 00:05:00 --checkpoint-cost 5s \
  --mpirun-args --oversubscribe --quiet) || fail "perennial sbatch did not submit the model campaign"
end_state=$(end_state_within 90)
run_log="$scratch/model-out/model-runs/ocean/model.log"
[ "$end_state" = COMPLETED ] || { cat "$run_log" 2>/dev/null; fail "the model campaign's job $job ended ${end_state:-not at all within 90 s}"; }
head -n 1 "$run_log" | grep -q ': srun --overlap --ntasks=1 --nodelist=' ||
  fail "the model was not started as an srun job step: $(head -n 1 "$run_log")"
grep -q '^step 600 ' "$run_log" || fail "the model did not reach its last step under srun"
grep -q '"event":"stage_completed".*"stage":"ocean"' "$scratch/model-out/log/events.jsonl" ||
  fail "the model's stage did not complete"
grep -q '"event":"checkpoint_committed".*"stage":"ocean"' "$scratch/model-out/log/events.jsonl" ||
  fail "no restart set of the model was kept"
h5dump -d sst "$scratch/model-out/outputs/ocean.h5" >/dev/null 2>&1 || fail "no sst in the stage's output file"
say "PASSED: a model executable ran as an srun job step inside job $job, its restart sets kept, its output read"
