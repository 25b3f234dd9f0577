#!/usr/bin/env bash
# The main job on the vendored data: provisions libtorch on first use, then checks the
# vendored CIFAR-10 slice. Extra arguments go to `cifar-repro`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-libtorch.sh >/dev/null
cargo build --quiet --bin cifar-repro
if [[ $# -gt 0 ]]; then
    exec target/debug/cifar-repro "$@"
fi
target/debug/cifar-repro env
exec target/debug/cifar-repro data verify golden/data
