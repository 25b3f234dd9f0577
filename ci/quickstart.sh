#!/usr/bin/env bash
# The main job on the vendored data: provisions libtorch on first use, builds, prints the
# runtime, checks the vendored CIFAR-10 slice and trains the quickstart preset into
# runs/quickstart (about 30 s on 2 cores). Extra arguments go to `cifar-repro` instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-libtorch.sh >/dev/null
cargo build --quiet --release --bin cifar-repro
bin=target/release/cifar-repro
if [[ $# -gt 0 ]]; then
    exec "$bin" "$@"
fi
"$bin" env
"$bin" data verify golden/data
exec "$bin" train --config quickstart --out runs/quickstart --overwrite
