#!/usr/bin/env bash
# Runs the same workloads in PyTorch/torchvision (benches/pytorch_compare.py) and in
# cifar-repro (`cifar-repro bench ...`) on this machine, each pair back to back, and prints
# a Markdown table: workload, PyTorch images/s, cifar-repro images/s, ratio.
#
#   ci/bench-compare.sh                 # all workloads (about 15 minutes on 2 cores)
#   ci/bench-compare.sh step-r18-32 load  # some of them
#
# Timings on a shared 2-core machine wander by 20% and more between runs, so each row
# alternates the two sides ROUNDS times (default 3) and reports medians and the range of
# the per-round ratios. CIFAR_BENCH_DATA: the images to augment and load (default
# golden/data; the 6,000-image sample or the full set make the load row meaningful).
# REPEATS: timed repeats inside each side's run (default 3).
# Provisions torch 2.11.0 (ci/provision-libtorch.sh) and torchvision 0.26.0 with numpy and
# pillow (ci/bench-requirements.txt, hash-pinned, --no-deps) into the cache on first use.
# On a GPU machine, DEVICE=cuda runs cifar-repro's step rows there (PyTorch stays on CPU
# unless the script is changed), so compare those rows only with each other.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PYTHONPATH="$(ci/provision-torchvision.sh)${PYTHONPATH:+:$PYTHONPATH}"

cargo build --release --quiet
bin=target/release/cifar-repro
data=${CIFAR_BENCH_DATA:-golden/data}
repeats=${REPEATS:-3}
rounds=${ROUNDS:-3}
device=${DEVICE:-cpu}

# name | description | cifar-repro bench arguments | timed calls per round | the PyTorch
# workload it is set against (default: the same name). The -channels-last and -bf16 rows
# are cifar-repro's speed-ups against PyTorch's default script: the "ahead of PyTorch" rows.
workloads=(
    "augment-e2-32|E2 augmentation at 32x32, batch 128|augment --preset e2-regularised --batch-size 128 --data $data|1"
    "augment-e3-224|E3 augmentation, resize to 224, batch 128|augment --preset e3-frozen --batch-size 128 --data $data|1"
    "step-r18-32|ResNet-18 training step at 32x32, batch 128|step --arch resnet18 --size 32 --batch-size 128 --device $device|2"
    "step-r18-32-strict|the same, strict determinism|step --arch resnet18 --size 32 --batch-size 128 --determinism strict --device $device|2"
    "step-r18-32-channels-last|the same, cifar-repro with channels_last|step --arch resnet18 --size 32 --batch-size 128 --memory-format channels-last --device $device|2|step-r18-32"
    "step-r18-32-bf16|the same, cifar-repro with channels_last and bf16 autocast|step --arch resnet18 --size 32 --batch-size 128 --memory-format channels-last --precision bf16 --device $device|2|step-r18-32"
    "step-r18c-32|ResNet-18 with the CIFAR stem, training step at 32x32, batch 64|step --arch resnet18 --stem cifar --size 32 --batch-size 64 --device $device|2"
    "step-r18c-32-channels-last|the same, cifar-repro with channels_last|step --arch resnet18 --stem cifar --size 32 --batch-size 64 --memory-format channels-last --device $device|2|step-r18c-32"
    "step-r18c-32-bf16|the same, cifar-repro with channels_last and bf16 autocast|step --arch resnet18 --stem cifar --size 32 --batch-size 64 --memory-format channels-last --precision bf16 --device $device|2|step-r18c-32"
    "step-r50-32|ResNet-50 training step at 32x32, batch 128|step --arch resnet50 --size 32 --batch-size 128 --device $device|1"
    "step-r50-32-channels-last|the same, cifar-repro with channels_last|step --arch resnet50 --size 32 --batch-size 128 --memory-format channels-last --device $device|1|step-r50-32"
    "step-r50-32-bf16|the same, cifar-repro with channels_last and bf16 autocast|step --arch resnet50 --size 32 --batch-size 128 --memory-format channels-last --precision bf16 --device $device|1|step-r50-32"
    "step-r50-224|ResNet-50 training step at 224x224, batch 16|step --arch resnet50 --size 224 --batch-size 16 --device $device|1"
    "load|loading $data|load $data|3"
)
chosen=("$@")

rate() { sed -n 's/.*: \([0-9.]*\) images\/s.*/\1/p' | tail -n 1; }

echo "# cifar-repro against PyTorch $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
echo
echo "Each row: $rounds rounds of (cifar-repro, then PyTorch), each side the median of $repeats timed repeats;"
echo "the table gives the median over rounds and the range of the per-round ratios."
echo
echo "| workload | PyTorch 2.11 images/s | cifar-repro images/s | ratio | per-round ratios |"
echo "|---|---|---|---|---|"
for row in "${workloads[@]}"; do
    IFS='|' read -r name what args calls against <<<"$row"
    if [[ ${#chosen[@]} -gt 0 && ! " ${chosen[*]} " =~ " $name " ]]; then
        continue
    fi
    ours=()
    theirs=()
    for ((round = 0; round < rounds; round++)); do
        # A pause before each side lets the other's processes (DataLoader workers) wind down.
        sleep 3
        # shellcheck disable=SC2086 # the arguments are meant to split
        ours+=("$("$bin" bench $args --repeats "$repeats" --calls "$calls" | rate)")
        sleep 3
        theirs+=("$(python3 benches/pytorch_compare.py "${against:-$name}" --data "$data" --repeats "$repeats" --calls "$calls" | rate)")
    done
    python3 - "$what" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
what, ours, theirs = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
ratios = [o / t for o, t in zip(ours, theirs)]
mo, mt = statistics.median(ours), statistics.median(theirs)
print(f"| {what} | {mt:.1f} | {mo:.1f} | {mo / mt:.2f} | {min(ratios):.2f} to {max(ratios):.2f} |")
PY
done
