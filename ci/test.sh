#!/usr/bin/env bash
# The test command: provisions libtorch on first use (ci/provision-libtorch.sh), then runs
# every test. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-libtorch.sh >/dev/null
exec cargo test "$@"
