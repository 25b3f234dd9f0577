#!/usr/bin/env bash
# Conformance against PyTorch itself, live: the provisioned torch 2.11.0 and torchvision
# 0.26.0 (ci/provision-torchvision.sh) build and train the report's models, and cifar-repro
# must give the same bytes. .ci/run calls this.
# - initial weights: ci/conformance/init.py (five recipes, every tensor byte-equal);
# - training steps: a strict 1-thread quickstart recording of 10 steps for Adam with
#   weight decay, AdamW and SGD (momentum, Nesterov, weight decay), replayed by
#   ci/conformance/replay.py, which must land bit-identical (--max-diff 0); and Adam again
#   with channels_last and with bf16 autocast, which replay.py applies the same way, and
#   with model.pool = "adaptive" (torchvision's own adaptive_avg_pool2d call);
# - torchvision's weight file format: init.py also reads a torch.save(state_dict()) of a
#   torchvision ResNet-50 into a 1000-class model and compares every tensor;
# - released checkpoints: a state dict and a TorchScript module that torch wrote are
#   evaluated by `cifar-repro eval --checkpoint` to torch's own accuracy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pythonpath=$(ci/provision-torchvision.sh)
cargo build --quiet --bin cifar-repro
bin=target/debug/cifar-repro
py() { PYTHONPATH="$pythonpath" "${PYTHON:-python3}" "$@"; }
py ci/conformance/init.py "$bin"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" train --config quickstart --print-config >"$work/quickstart.toml"
optim() { # name weight_decay momentum nesterov lr
    python3 - "$work/quickstart.toml" "$@" <<'PY'
import sys
path, name, wd, momentum, nesterov, lr = sys.argv[1:]
text = open(path).read()
start = text.index("[optim]")
end = text.index("\n[", start) + 1
optim = (f'[optim]\nname = "{name}"\nlr = {lr}\nweight_decay = {wd}\nmomentum = {momentum}\n'
         f'nesterov = {nesterov}\nbetas = [0.9, 0.999]\neps = 1e-8\n')
print(text[:start] + optim + text[end:], end="")
PY
}
optim adam 0.0001 0.0 false 0.002 >"$work/adam.toml"
optim adamw 0.05 0.0 false 0.002 >"$work/adamw.toml"
optim sgd 0.0005 0.9 true 0.05 >"$work/sgd.toml"
sed 's/^freeze = "none"$/freeze = "none"\npool = "adaptive"/' "$work/adam.toml" >"$work/adam-adaptive.toml"
grep -q '^pool = "adaptive"$' "$work/adam-adaptive.toml"
replay() { # NAME CONFIG [TRAIN FLAGS...]
    local name=$1 config=$2
    shift 2
    "$bin" train --config "$work/$config.toml" --record-steps 10 --epochs 1 --train-limit 640 \
        --threads 1 --determinism strict --out "$work/$name" "$@" >/dev/null 2>&1
    py ci/conformance/replay.py "$work/$name" --max-diff 0
}
for name in adam adamw sgd; do
    replay "$name" "$name"
done
replay adam-channels-last adam --memory-format channels-last
replay adam-bf16 adam --precision bf16
replay adam-adaptive-pool adam-adaptive

# Released checkpoints: torch trains and saves a ResNet-18 (CIFAR stem, width 8) as a
# state dict and as TorchScript (tests/fixtures/checkpoints/generate.py, into a temporary
# folder); `eval --checkpoint` must count right what torch counted, for both files.
py tests/fixtures/checkpoints/generate.py "$work/released" >/dev/null
"$bin" train --config quickstart --print-config | sed 's/^width = 16$/width = 8/' >"$work/w8.toml"
expected=$(python3 -c 'import json, sys; print("test accuracy %.4f" % json.load(open(sys.argv[1]))["accuracy"])' \
    "$work/released/expected.json")
for file in resnet18-cifar-w8.pth resnet18-cifar-w8.jit.pt; do
    line=$("$bin" eval --checkpoint "$work/released/$file" --config "$work/w8.toml" --data golden/data)
    echo "conformance: $line"
    if [[ "$line" != *"$expected"* ]]; then
        echo "conformance: $file: cifar-repro's evaluation differs from torch's ($expected)" >&2
        exit 1
    fi
done
