#!/usr/bin/env bash
# Claims audited by running training programs as commands: the quick-start claims through
# the plain PyTorch trainer ci/reference/train.py (2 seeds, and its fixed-seed
# reproducibility on this CPU), the toy of tests/fixtures/programs whose clock-reading
# twin must come out NOT REPRODUCED naming its weights file, and the stranger's script of
# tests/fixtures/stranger audited as written (golden/claims/stranger.toml: accuracy from its
# progress bar, its checkpoint and TensorBoard; NOT REPRODUCED unseeded, REPRODUCED with
# seed_python). Prints each verdict and the wall time; fails when a verdict is not the
# expected one or a claim could not be judged.
# .ci/run calls it; extra arguments go to the PyTorch audit (e.g. --seeds 5).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHONPATH=$(ci/provision-torchvision.sh)
export PYTHONPATH
cargo build --quiet --bin cifar-repro
bin=${CIFAR_REPRO_BIN:-target/debug/cifar-repro}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
audit() {
    local name=$1
    shift
    local started status=0
    started=$(date +%s)
    "$bin" audit "golden/claims/$name.toml" --allow-commands --out "$out/$name" "$@" >"$out/$name.log" 2>&1 || status=$?
    echo "programs: $name: exit $status in $(($(date +%s) - started)) s"
    if [ "$status" -ge 2 ]; then
        tail -20 "$out/$name.log"
        exit 1
    fi
}
audit quickstart-pytorch --seeds 2 "$@"
audit toy-programs --seeds 3
audit stranger --seeds 2
python3 - "$out" <<'PY'
import json, sys
expected = {
    "QS-fixed-seed-reproduces-in-pytorch": ("REPRODUCED", "model.pt"),
    "toy-reproducible": ("REPRODUCED", "model.bin"),
    "toy-clock-reproducible": ("NOT_REPRODUCED", "output {out}/model.bin differs"),
    "stranger-reproducible": ("NOT_REPRODUCED", "takes no seed"),
    "stranger-seeded-reproducible": ("REPRODUCED", "checkpoint/ckpt.pth"),
}
bad = 0
for name in ["quickstart-pytorch", "toy-programs", "stranger"]:
    for c in json.load(open(f"{sys.argv[1]}/{name}/audit.json"))["claims"]:
        print(f"programs: {c['id']}: {c['verdict']}: {c['why']}")
        want = expected.get(c["id"])
        if want and (c["verdict"] != want[0] or want[1] not in c["why"]):
            print(f"programs: {c['id']}: expected {want[0]} naming {want[1]}")
            bad += 1
        if name == "stranger" and c["verdict"] == "NOT_RUN":
            print(f"programs: {c['id']}: could not be judged")
            bad += 1
sys.exit(1 if bad else 0)
PY
