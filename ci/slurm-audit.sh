#!/usr/bin/env bash
# A Slurm job array that runs an audit as N shards, one per array task, then merges them.
# Run for real by ci/slurm-test.sh on a one-node cluster. From the repository root, on a
# shared filesystem (Slurm opens the log before the script runs, so audits/ must exist):
#
#   mkdir -p audits
#   N=8 CLAIMS=golden/claims/report.toml DATA=/data/cifar-10-binary.tar.gz \
#     sbatch --array=0-7 ci/slurm-audit.sh
#   # when every task is done (or chain it: sbatch --dependency=afterok:JOBID ...):
#   target/release/cifar-repro audit merge audits/shards/* --out audits/report
#
# Each task trains its part of the audit's runs into $OUT/I (default audits/shards/I; see
# `audit --shard`). A task that failed or was killed is resubmitted alone
# (sbatch --array=I ...) and reuses the runs it already finished. The environment
# (N, CLAIMS, DATA, SEEDS, OUT, CIFAR_REPRO_BIN, REQUIRE_CUDA) reaches the tasks through
# sbatch's default --export=ALL.
#SBATCH --job-name=cifar-repro-audit
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --output=audits/slurm-%A_%a.log
set -euo pipefail
: "${N:?set N, the number of shards (the array size)}"
: "${CLAIMS:?set CLAIMS, the claim file}"
index=${SLURM_ARRAY_TASK_ID:?run this as a job array: sbatch --array=0-$((N - 1))}
data_args=()
if [[ -n "${DATA:-}" ]]; then
    data_args=(--data "$DATA")
fi
export REQUIRE_CUDA=${REQUIRE_CUDA:-1}
exec "${CIFAR_REPRO_BIN:-target/release/cifar-repro}" audit "$CLAIMS" --seeds "${SEEDS:-3}" \
    "${data_args[@]}" --shard "$index/$N" --out "${OUT:-audits/shards}/$index"
