#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, and the sharded audit run through it.
#
# 1. Installs Debian's slurm-wlm and munge when missing, writes a minimal slurm.conf for
#    this host (2 CPUs, 2 generic "gpu" slots so the script's --gres=gpu:1 is honoured)
#    and starts munged (unless one answers already), slurmctld and slurmd.
# 2. Submits ci/slurm-audit.sh as a two-task job array over the quick-start claims cut to
#    one epoch on 256 images (threads fixed at 1) plus a two-stage claim whose runs start
#    from the quick-start runs of the same seed, waits for it, runs `audit merge`, and
#    checks that each task trained whole chains and that audit.json and audit.md equal
#    those of the same audit run unsharded, byte for byte.
# 3. Kills one array task midway (scancel once it has started its first run), checks that
#    `audit merge` refuses and names the runs it left undone, resubmits that one task, and
#    checks that the merge then completes with the same files.
# It stops the daemons it started, by their pids, and leaves nothing running.
#
# Needs root (it installs packages and starts daemons); as another user it skips with one
# line. CIFAR_REPRO_BIN picks the binary (default: target/debug/cifar-repro, built if
# missing). `.ci/run` calls it after the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm-test: skipped: it must run as root (it installs slurm-wlm and munge and starts their daemons)"
    exit 0
fi
started=$(date +%s)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm-test: installing slurm-wlm and munge"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
bin=${CIFAR_REPRO_BIN:-target/debug/cifar-repro}
if [[ ! -x $bin ]]; then
    ci/provision-libtorch.sh >/dev/null
    cargo build --quiet --bin cifar-repro
fi
bin=$(realpath "$bin")

work=$(mktemp -d /tmp/slurm-test.XXXXXX)
pids=()
cleanup() {
    # Jobs first (their processes belong to slurmd), then the daemons this script started.
    if [[ -n ${SLURM_CONF:-} ]]; then
        scancel --quiet --user=root 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "slurm-test: FAILED: $*" >&2
    for log in "$work"/slurmctld.log "$work"/slurmd.log "$work"/logs/*; do
        [[ -f $log ]] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}
wait_for() { # SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "timed out after ${seconds}s waiting for $what"
}

# --- munge: reuse one that answers, else start our own as the munge user.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    munge_pid=/run/munge/slurm-test-munged.pid
    runuser -u munge -- munged --pid-file="$munge_pid"
    wait_for 10 "munged" test -s "$munge_pid"
    pids+=("$(cat "$munge_pid")")
    wait_for 10 "munge to answer" bash -c 'munge -n | unmunge'
fi

# --- slurm: a one-node cluster on ports of its own, state under $work.
host=$(hostname -s)
memory=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
mkdir -p "$work/state" "$work/spool" "$work/logs"
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=cifarrepro
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=$memory Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
# Two stand-in character devices: the gpu gres plugin counts the device files it is given
# (with task/none nothing is constrained to them).
cat >"$work/gres.conf" <<EOF
AutoDetect=off
NodeName=$host Name=gpu File=/dev/null,/dev/zero
EOF
slurmctld -c -f "$SLURM_CONF"
wait_for 20 "slurmctld" test -s "$work/slurmctld.pid"
pids+=("$(cat "$work/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
wait_for 20 "slurmd" test -s "$work/slurmd.pid"
pids+=("$(cat "$work/slurmd.pid")")
wait_for 60 "the node to be idle" bash -c '[[ $(sinfo -h -N -o %t) == idle ]]'
echo "slurm-test: cluster up ($(sinfo -h -N -o '%N %c CPUs %G %t'))"

# --- the claims: the quick-start claims, cut to one epoch on 256 images, threads fixed.
small='overrides = { loop = { epochs = 1, train_limit = 256, threads = 1 } }'
sed -e "s|^run = \"quickstart\"\$|run = \"quickstart\"\n$small|" \
    -e "s|^than = { run = \"quickstart-noaug.toml\" }|than = { run = \"quickstart-noaug.toml\", $small }|" \
    golden/claims/quickstart.toml >"$work/claims.toml"
cp golden/claims/quickstart-noaug.toml "$work/"
grep -q "train_limit = 256" "$work/claims.toml" || fail "could not cut the claims down"
# A two-stage run: seed s starts from the quick-start run of seed s, so each task must
# train whole chains, and the merge must still equal the unsharded audit.
{
    echo "init_from = { run = \"quickstart\", $small }"
    "$bin" train --config quickstart --print-config |
        sed -e 's/^epochs = 6$/epochs = 1\ntrain_limit = 256/' -e 's/^threads = 0$/threads = 1/' \
            -e 's/^lr = 0.002$/lr = 0.001/'
} >"$work/second-stage.toml"
cat >>"$work/claims.toml" <<'EOF'

[[claim]]
id = "QS-second-stage"
sentence = "A second stage from the quick-start run of the same seed keeps about its accuracy."
run = "second-stage.toml"
metric = "accuracy"
value = 0.3650
margin = 0.2
EOF
seeds=2
data=$repo/golden/data

# A verdict may be NOT REPRODUCED (exit 1) at this size; only the files are compared.
audit_whole() {
    "$bin" audit "$work/claims.toml" --seeds $seeds --data "$data" --out "$work/whole" \
        >"$work/logs/whole.log" 2>&1 || [[ $? -eq 1 ]]
}
merge() { # OUT SHARD_ROOT
    "$bin" audit merge "$2/0" "$2/1" --out "$1" >"$1.log" 2>&1
}
submit() { # SHARD_ROOT ARRAY [--wait]
    local root=$1 array=$2
    shift 2
    # The script as written, on this CPU node: its --gres=gpu:1 stays (the node has two
    # fake gpu slots); memory, CPUs and the CUDA requirement are overridden for the node.
    (cd "$work" && N=2 CLAIMS="$work/claims.toml" DATA="$data" SEEDS=$seeds \
        CIFAR_REPRO_BIN="$bin" OUT="$root" REQUIRE_CUDA=0 \
        sbatch --parsable --array="$array" --mem=2G --cpus-per-task=1 \
        --output="$work/logs/%A_%a.log" "$@" "$repo/ci/slurm-audit.sh")
}
same_files() { # A B
    for file in audit.json audit.md; do
        cmp -s "$1/$file" "$2/$file" || fail "$file differs between $1 and $2"
    done
}
passed=0

audit_whole
[[ -f $work/whole/audit.json ]] || fail "the unsharded audit wrote no audit.json"

# 1. The array, merged, equals the unsharded audit.
submit "$work/shards" 0-1 --wait >/dev/null || fail "a task of the array failed"
merge "$work/merged" "$work/shards" || [[ $? -eq 1 ]] || fail "merge failed: $(tail -n 3 "$work/merged.log")"
same_files "$work/whole" "$work/merged"
for run in "$work"/shards/*/runs/*/; do
    from=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("init_from", {}).get("run", ""))' "$run/manifest.json")
    [[ -z $from || $from == "$(dirname "$(dirname "$run")")"/* ]] || fail "$run starts from $from, another task's run"
done
echo "slurm-test: ok: a two-task array with a two-stage chain, merged, equals the unsharded audit byte for byte"
passed=$((passed + 1))

# 2. A task killed midway leaves a shard that merge refuses, naming the runs left undone.
job=$(submit "$work/killed" 0-1)
wait_for 120 "task 1 to start its first run" bash -c "compgen -G '$work/killed/1/runs/*/manifest.json'"
scancel "${job}_1"
wait_for 300 "the array to end" bash -c "[[ -z \$(squeue -h -j $job) ]]"
[[ -f $work/killed/0/shard.json ]] || fail "task 0 wrote no shard record"
if merge "$work/refused" "$work/killed"; then
    fail "merge accepted a shard whose task was killed (did task 1 finish before scancel?)"
fi
grep -q "shard 1/2 did not finish .* runs (runs/" "$work/refused.log" ||
    fail "merge did not name the unfinished runs: $(tail -n 1 "$work/refused.log")"
echo "slurm-test: ok: with task 1 killed, merge refuses: $(grep -o 'shard 1/2 did not finish [0-9]* of its [0-9]* runs' "$work/refused.log")"
passed=$((passed + 1))

# 3. Resubmitting that one task completes it, and the merge equals the unsharded audit.
submit "$work/killed" 1 --wait >/dev/null || fail "the resubmitted task failed"
merge "$work/resumed" "$work/killed" || [[ $? -eq 1 ]] || fail "merge failed: $(tail -n 3 "$work/resumed.log")"
same_files "$work/whole" "$work/resumed"
echo "slurm-test: ok: task 1 resubmitted alone; the merge equals the unsharded audit"
passed=$((passed + 1))

echo "slurm-test: $(($(date +%s) - started)) s"
echo "slurm-test: $passed passed, 0 failed"
