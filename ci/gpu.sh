#!/usr/bin/env bash
# The GPU runner's job (.github/workflows/ci.yml runs it under `nix develop .#cuda`):
#   1. every test, with REQUIRE_CUDA=1 so that a missing GPU fails instead of skipping;
#   2. CUDA determinism: two strict runs of the quickstart on the GPU, which `verify`
#      must find bit-identical (and two with GPU preprocessing);
#   3. the GPU benchmarks (criterion CUDA groups) and the report's E7 epoch measurement;
#   4. the report's whole audit rehearsed on CUDA (every claim's path at smoke scale, the
#      CUDA requirements met for real), then the full-scale plan for 5 seeds in GPU-hours;
#   5. when CIFAR10_FULL points at the full data set and RESNET50_WEIGHTS at torchvision's
#      ImageNet ResNet-50 file, the audit of the report's claims.
# Results land in gpu-results/ (verify output, bench-epoch, the audit folder).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export REQUIRE_CUDA=1
results=gpu-results
mkdir -p "$results"

ci/test.sh
cargo build --release
bin=target/release/cifar-repro
"$bin" env | tee "$results/env.txt"

runs=$(mktemp -d)
for preprocess in cpu device; do
    config="$runs/quickstart-$preprocess.toml"
    "$bin" train --config quickstart --print-config |
        sed "s/^preprocess = .*/preprocess = \"$preprocess\"/" >"$config"
    for copy in a b; do
        "$bin" train --config "$config" --device cuda --determinism strict --epochs 3 \
            --out "$runs/$preprocess-$copy"
    done
    "$bin" verify "$runs/$preprocess-a" "$runs/$preprocess-b" | tee "$results/verify-$preprocess.txt"
done

cargo bench --bench preprocess -- preprocess/cuda
cargo bench --bench train_step -- cuda
"$bin" bench epoch --device cuda --train-limit 1024 | tee "$results/bench-epoch.txt"
CIFAR_REPRO_BIN=$bin ci/rehearse.sh --seeds 5 | tee "$results/rehearse.txt"

if [[ -n "${CIFAR10_FULL:-}" && -n "${RESNET50_WEIGHTS:-}" ]]; then
    mkdir -p weights
    ln -sfn "$(realpath "$RESNET50_WEIGHTS")" weights/resnet50-11ad3fa6.pth
    status=0
    "$bin" audit golden/claims/report.toml --data "$CIFAR10_FULL" --out "$results/report-audit" || status=$?
    # Exit 1 means a claim was NOT REPRODUCED: a finding, reported, not a broken job.
    [[ $status -le 1 ]] || exit "$status"
else
    echo "gpu.sh: CIFAR10_FULL and RESNET50_WEIGHTS not both set; the report's audit is skipped" >&2
fi
