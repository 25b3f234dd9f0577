#!/usr/bin/env bash
# The test command: provisions libtorch on first use (ci/provision-libtorch.sh), then runs
# every test with proptest's seed fixed (PROPTEST_RNG_SEED, 1 unless set) so that a failure
# repeats on rerun. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-libtorch.sh >/dev/null
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-1}"
exec cargo test "$@"
