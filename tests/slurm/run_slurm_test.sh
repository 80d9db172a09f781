#!/usr/bin/env bash
# `t5scale sweep --slurm` against a real Slurm (Debian's munge, slurmctld, slurmd, slurm-client; issue
# 15), started here on localhost by this script and stopped by it (trap EXIT), pass or fail:
#   1. munged, slurmctld and slurmd in the foreground (&), by pid, with a minimal slurm.conf in a
#      temporary directory (one node "localhost" with this machine's CPUs and memory from `slurmd -C`,
#      proctrack/linuxproc, task/none, no accounting, free ports); wait until sinfo shows it idle.
#   2. A local `t5scale sweep` of a four-variant toy spec (synthetic data, one thread per worker, so
#      every run of a variant gives the same numbers): the reference.
#   3. The same spec as a two-task array (`sweep --slurm --tasks 2`), one variant made to fail (a
#      directory where its steps log goes): three records equal the reference (ids, losses, params,
#      FLOPs, budgets, settings), the failed one is a record, status says so; then `--slurm
#      --retry-failed` runs it again: all four equal the reference.
#   4. Again into a new directory: once a variant has checkpointed, its task is scancel'ed (SIGTERM:
#      the worker checkpoints the step in flight and exits 130), then the other task gets what a time
#      limit sends (SIGTERM to the batch shell only: exit 130 too); the resubmitted array resumes that
#      variant from its checkpoint and finishes the rest: one record per variant, equal to the
#      reference, every steps log 1..N once.
# It fails (never skips) when a daemon cannot start, with the tail of its log. Needs root: slurmd
# starts jobs as their owner. Usage: tests/slurm/run_slurm_test.sh path/to/t5scale   (ctest: slurm_sweep)
# T5SCALE_SLURM_TEST_KEEP=1 keeps the temporary directory.
set -euo pipefail

T5=$(realpath "${1:?usage: $0 path/to/t5scale}")
PY=/usr/bin/python3
START=$SECONDS
say() { echo "slurm test [$((SECONDS - START))s]: $*" >&2; }
fail() {
  echo "slurm test: FAIL: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root (slurmd starts jobs as their owner); CI runs as root"
for program in mungekey munged slurmctld slurmd sbatch squeue scancel sinfo scontrol; do
  command -v "$program" >/dev/null || fail "$program not found: run scripts/bootstrap.sh (Debian packages munge slurmctld slurmd slurm-client)"
done
[[ -x $PY ]] || fail "$PY not found (Debian python3)"

W=$(mktemp -d /tmp/t5scale_slurm.XXXXXX)
chmod 755 "$W"   # munged wants its socket's directories searchable by all
export SLURM_CONF=$W/slurm.conf   # every Slurm command of this script (and t5scale's sbatch) uses this cluster
DAEMON_PIDS=()

# Every process this cluster started: the daemons, their step daemons and the jobs' processes all
# carry SLURM_CONF=<our temporary directory>/slurm.conf in their environment (ours and nobody else's).
cluster_pids() {
  local environ pid
  for environ in /proc/[0-9]*/environ; do
    pid=${environ#/proc/}
    pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then echo "$pid"; fi
  done
}

log_tails() {
  local f
  for f in "$W"/log/*; do
    [[ -s $f ]] || continue
    echo "---- last lines of $f:" >&2
    tail -n 15 "$f" >&2
  done
}

cleanup() {
  local status=$?
  trap - EXIT
  set +e
  if ((status != 0)); then log_tails; fi
  if ((${#DAEMON_PIDS[@]} > 0)); then
    # This cluster's jobs (SLURM_CONF), not another's; only while slurmctld lives to answer.
    if [[ -n ${ctld_pid:-} ]] && kill -0 "$ctld_pid" 2>/dev/null; then
      timeout 10 scancel --full --quiet --user=root >/dev/null 2>&1
      for _ in $(seq 50); do [[ -z $(timeout 2 squeue -h 2>/dev/null) ]] && break; sleep 0.1; done
    fi
    kill "${DAEMON_PIDS[@]}" 2>/dev/null
    for _ in $(seq 50); do kill -0 "${DAEMON_PIDS[@]}" 2>/dev/null || break; sleep 0.1; done
    # Step daemons or job processes left behind (a job that outlived its slurmd): ours by SLURM_CONF.
    local left
    left=$(cluster_pids)
    [[ -n $left ]] && kill -9 $left 2>/dev/null
    kill -9 "${DAEMON_PIDS[@]}" 2>/dev/null
    wait 2>/dev/null
  fi
  if [[ ${T5SCALE_SLURM_TEST_KEEP:-0} == 1 ]]; then echo "slurm test: kept $W" >&2; else rm -rf "$W"; fi
  ((status == 0)) && say "passed"
  exit $status
}
trap cleanup EXIT

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s; fails naming WHAT after SECONDS.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "waited ${seconds}s for $what"
    sleep 0.1
  done
}

# --- 1. the cluster -------------------------------------------------------------------------------
mkdir -p "$W/log" "$W/state" "$W/spool"
mungekey --create --keyfile="$W/munge.key" 2>"$W/log/mungekey.log" || fail "mungekey failed: $(cat "$W/log/mungekey.log")"
# -f: the key and socket live under /tmp, whose permissions munged would otherwise refuse.
munged --foreground --force --socket="$W/munge.sock" --key-file="$W/munge.key" --pid-file="$W/munged.pid" \
  --seed-file="$W/munged.seed" --log-file="$W/log/munged.log" >"$W/log/munged.out" 2>&1 &
DAEMON_PIDS+=($!)
munged_pid=$!
socket_up() {
  kill -0 "$munged_pid" 2>/dev/null || fail "munged exited"
  [[ -S $W/munge.sock ]]
}
wait_until 10 "munged's socket" socket_up

# Two free TCP ports (another cluster on this machine, a test running beside this one, keeps its own).
read -r ctld_port slurmd_port < <($PY -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
# This machine as slurmd sees it (CPUs, sockets, cores, threads, memory), renamed "localhost": the
# node's name and address never depend on the hostname.
node=$(slurmd -C | head -n 1)
[[ $node == NodeName=* ]] || fail "slurmd -C printed no node line: $node"
node="NodeName=localhost NodeAddr=127.0.0.1 ${node#NodeName=* }"
cat >"$SLURM_CONF" <<EOF
ClusterName=t5scaletest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=10
$node State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i >"$W/log/slurmctld.out" 2>&1 &
DAEMON_PIDS+=($!)
ctld_pid=$!
slurmd -D -N localhost >"$W/log/slurmd.out" 2>&1 &
DAEMON_PIDS+=($!)
slurmd_pid=$!
node_idle() {
  kill -0 "$ctld_pid" 2>/dev/null || fail "slurmctld exited"
  kill -0 "$slurmd_pid" 2>/dev/null || fail "slurmd exited"
  [[ $(timeout 2 sinfo -h -n localhost -o %T 2>/dev/null) == idle ]]
}
wait_until 30 "the node to be idle in sinfo" node_idle
say "slurmctld, slurmd and munged up ($(sinfo -h -o '%N %c CPUs %m MB %T'))"

# --- 2. the reference -----------------------------------------------------------------------------
# Four variants of about a second each on one thread; a checkpoint every 10 of 60 steps.
SPEC=$W/toy.json
cat >"$SPEC" <<'EOF'
{"name": "slurmtoy", "base": "tiny-dm64-ff128-nh2-kv32", "grid": {"nl": [1, 2, 3, 4]},
 "budget": {"steps": 60}, "batch": 4, "inputs_length": 32, "targets_length": 8,
 "optimizer": "adafactor", "schedule": "constant", "lr": 0.01, "eval": {"batches": 2},
 "checkpoint_every": 10, "threads": 1, "data": {"source": "synthetic"}}
EOF
IDS=(tiny-dm64-ff128-nh2-kv32-nl1-s0 tiny-dm64-ff128-nh2-kv32-nl2-s0 tiny-dm64-ff128-nh2-kv32-nl3-s0
  tiny-dm64-ff128-nh2-kv32-nl4-s0)
cd "$W"
"$T5" sweep "$SPEC" --out "$W/local" --jobs 2 --quiet >/dev/null || fail "the local reference sweep failed"
say "local reference sweep done"

# check.py: the records of DIR against the reference (every field but throughput and context), one per
# variant; then what the caller asks: job ids of the records, a resumed variant.
cat >"$W/check.py" <<'EOF'
import json, sys
def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
out, ref_dir = sys.argv[1], sys.argv[2]
args = dict(a.split("=", 1) for a in sys.argv[3:])
ref = {r["id"]: r for r in records(ref_dir + "/runs.jsonl")}
got = records(out + "/runs.jsonl")
ids = [r["id"] for r in got]
problems = []
if sorted(ids) != sorted(ref): problems.append(f"ids {sorted(ids)} != {sorted(ref)}")
for r in got:
    want = ref.get(r["id"])
    if want is None: continue
    for key in want:
        if key not in ("throughput", "context") and r.get(key) != want[key]:
            problems.append(f"{r['id']}: '{key}' differs: {json.dumps(r.get(key))[:300]} vs {json.dumps(want[key])[:300]}")
    slurm = r["context"].get("slurm", {})
    jobs = args.get("jobs", "").split(",")
    if slurm.get("array_job_id") not in jobs:
        problems.append(f"{r['id']}: ran in Slurm job {slurm.get('array_job_id')}, not one of {jobs}")
    if slurm.get("task") != f"{slurm.get('array_job_id')}_{slurm.get('array_task_id')}" or "job_id" not in slurm:
        problems.append(f"{r['id']}: context.slurm {slurm}")
    if r["context"].get("host") != args["host"] or r["context"].get("threads") != 1:
        problems.append(f"{r['id']}: host {r['context'].get('host')}, threads {r['context'].get('threads')}")
if "resumed" in args:
    rid, job, at_least = args["resumed"].split(":")
    r = next(x for x in got if x["id"] == rid)
    step = r["context"].get("resumed_from_step", 0)
    if not (int(at_least) <= step < r["budget"]["steps"]) or r["context"]["slurm"]["array_job_id"] != job:
        problems.append(f"{rid}: resumed from step {step} in job {r['context']['slurm']['array_job_id']}, "
                        f"expected >= {at_least} in job {job}")
    with open(out + "/steps/" + rid + ".jsonl") as f:
        steps = [json.loads(l)["step"] for l in f if json.loads(l).get("type") == "step"]
    if steps != list(range(1, r["budget"]["steps"] + 1)):
        problems.append(f"{rid}: steps log holds steps {steps[:5]}... ({len(steps)} lines), not 1..N once")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
check() { $PY "$W/check.py" "$@" host="$(hostname)" || fail "records of $1 (see above)"; }

# sweep --slurm: the job id it printed (and nothing else on stdout).
submit() {
  local id
  id=$("$T5" sweep "$SPEC" --slurm --tasks 2 "$@" 2>>"$W/log/submit.log") || fail "sweep --slurm $*: $(tail -n 1 "$W/log/submit.log")"
  [[ $id =~ ^[0-9]+$ ]] || fail "sweep --slurm printed '$id', not a job id"
  echo "$id"
}
job_gone() { [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; }
record_count() { if [[ -f $1/runs.jsonl ]]; then grep -c . "$1/runs.jsonl"; else echo 0; fi; }
status_json() { "$T5" status "$1" --json; }
json_get() { $PY -c "import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# --- 3. an array, a failed variant, --retry-failed ------------------------------------------------
A=$W/a
mkdir -p "$A/steps/${IDS[3]}.jsonl"   # a directory where nl4's steps log goes: that variant fails
job=$(submit --out "$A")
grep -qx "$job" < <(json_get 'j["job_id"]' <"$A/slurm/jobs.jsonl") || fail "job $job not in $A/slurm/jobs.jsonl"
grep -q '^#SBATCH --array=0-1$' "$A/slurm/sweep.sbatch" || fail "no --array=0-1 in $A/slurm/sweep.sbatch"
wait_until 60 "job $job to end" job_gone "$job"
[[ $(record_count "$A") == 4 ]] || fail "$A/runs.jsonl holds $(record_count "$A") records, not 4"
[[ $(status_json "$A" | json_get '(j["ok"], j["failed"], j["running"], j["pending"])') == "(3, 1, 0, 0)" ]] ||
  fail "status of $A: $(status_json "$A")"
status_json "$A" | json_get '[t["state"] for t in j["slurm_jobs"][-1]["slurm_tasks"]]' | grep -q FAILED ||
  fail "no task of job $job is FAILED (a sweep with a failed variant exits 2): $("$T5" status "$A")"
rmdir "$A/steps/${IDS[3]}.jsonl"
retry_job=$(submit --out "$A" --retry-failed)
[[ $(json_get 'j["tasks"]' < <(tail -n 1 "$A/slurm/jobs.jsonl")) == 1 ]] || fail "--retry-failed of one variant submitted more than one task"
wait_until 60 "job $retry_job to end" job_gone "$retry_job"
check "$A" "$W/local" jobs="$job,$retry_job"
grep -c . "$A/runs.retried.jsonl" | grep -qx 1 || fail "the failed record is not kept in $A/runs.retried.jsonl"
say "array of 2 tasks: records equal the local sweep's; the failed variant ran again with --retry-failed"
"$T5" status "$A" >&2

# --- 4. scancel mid-variant, the resubmitted array resumes ----------------------------------------
B=$W/b
job=$(submit --out "$B")
# The first variant to checkpoint that has no record yet, and the task that runs it (its claim says).
victim=""
find_victim() {
  local s
  s=$(status_json "$B")
  victim=$(json_get '" ".join([v["id"], v["claimant"]["slurm"]["task"]]) if (v := next((v for v in j["variant_states"] if v["state"] == "running" and v["step"] >= 10 and v["claimant"].get("slurm")), None)) else ""' <<<"$s")
  [[ -n $victim ]]
}
wait_until 60 "a running variant's first checkpoint" find_victim
read -r vid vtask <<<"$victim"
[[ -f $B/checkpoints/$vid/state.json ]] || fail "$vid logged step 10 but has no checkpoint"
scancel "$vtask"
wait_until 30 "task $vtask to end" job_gone "$vtask"
grep -q "\"id\":\"$vid\"" "$B/runs.jsonl" 2>/dev/null && fail "$vid finished before its task was cancelled: make the variants longer"
cut_at=$(json_get 'j["step"]' <"$B/checkpoints/$vid/state.json")
grep -q "sweep: interrupted at step $cut_at of $vid; rerun the same command to resume" "$B/slurm/logs/$vtask.out" ||
  fail "task $vtask's log does not say it checkpointed $vid at step $cut_at: $(tail -n 3 "$B/slurm/logs/$vtask.out")"
((cut_at >= 10 && cut_at < 60)) || fail "$vid checkpointed at step $cut_at"
say "scancel $vtask: $vid checkpointed at step $cut_at, no record"
# The rest of the array as a time limit ends it: SIGTERM to the batch shell alone, which is what
# --signal=B:TERM@120 sends; the worker is that shell (exec), checkpoints and exits 130.
scancel --batch --signal=TERM "$job"
wait_until 30 "job $job to end" job_gone "$job"
other_exit=$(scontrol --oneliner show job "$job" | grep -v "ArrayTaskId=${vtask#*_} " | grep -o 'ExitCode=[0-9:]*' || true)
[[ $other_exit == "ExitCode=130:0" ]] || fail "the task signalled like a time limit ended with '$other_exit', not exit 130: $(scontrol --oneliner show job "$job")"
again=$(submit --out "$B")
wait_until 60 "job $again to end" job_gone "$again"
check "$B" "$W/local" jobs="$job,$again" resumed="$vid:$again:$cut_at"
say "the resubmitted array $again resumed $vid from its checkpoint and finished the rest; one record per variant"
"$T5" status "$B" >&2
