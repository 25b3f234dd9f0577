#!/usr/bin/env bash
# Installs torchvision 0.26.0 (the release built for torch 2.11.0) with the numpy and pillow
# its import needs, and what torch's TensorBoard writer imports (tensorboard, protobuf,
# absl-py), from ci/bench-requirements.txt (hash-pinned, --no-deps) into the cache beside
# the provisioned torch, once; then prints the PYTHONPATH that imports them all.
#
#   export PYTHONPATH=$(ci/provision-torchvision.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${CIFAR_REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar-repro}
torch_dir=$(ci/provision-libtorch.sh | tail -n 1)
vision="$cache/torchvision-0.26.0"
want=$(sha256sum ci/bench-requirements.txt | cut -d' ' -f1)
if [[ ! -f "$vision/.provisioned" || "$(cat "$vision/.provisioned")" != "$want" ]]; then
    echo "provision-torchvision: installing torchvision 0.26.0, numpy, pillow, tensorboard into $vision" >&2
    staging=$(mktemp -d "$cache/.torchvision.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
        --no-compile --require-hashes --no-deps --only-binary=:all: --target "$staging" \
        -r ci/bench-requirements.txt >&2
    echo "$want" >"$staging/.provisioned"
    rm -rf "$vision"
    mv "$staging" "$vision"
    trap - EXIT
fi
echo "$(dirname "$torch_dir"):$vision"
