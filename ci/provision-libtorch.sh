#!/usr/bin/env bash
# Provision libtorch 2.11.0 (what tch 0.24 expects) once, into a cache outside the repository,
# and point this checkout at it.
#
# - Installs the PyPI wheel torch==2.11.0 and its CUDA libraries, every file pinned by
#   SHA-256 (ci/torch-requirements.txt), as a plain package folder (pip --target) at
#   ${CIFAR_REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar-repro}/torch-2.11.0, which
#   is also what PYTHONPATH needs for the scripts that generate test fixtures.
# - Links `.libtorch` in the repository (git-ignored) to the wheel's `torch` folder;
#   `.cargo/config.toml` sets LIBTORCH to that link, so plain `cargo build|test|bench` work.
# - Idempotent: a stamp holding the requirements' hash marks a finished install; a second
#   run only checks the stamp and the link (well under a second).
#
# A LIBTORCH or LIBTORCH_USE_PYTORCH already in the environment (a Nix shell, a user's own
# libtorch) wins: cargo's [env] never overrides the environment, so nothing is installed.
#
# Prints the torch package folder on its last line. Set PIP_FIND_LINKS to a folder of
# already-downloaded wheels to install without downloading.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n "${LIBTORCH:-}" || -n "${LIBTORCH_USE_PYTORCH:-}" ]]; then
    echo "provision-libtorch: LIBTORCH or LIBTORCH_USE_PYTORCH is set; using it, installing nothing" >&2
    exit 0
fi

version=2.11.0
requirements="$repo/ci/torch-requirements.txt"
cache=${CIFAR_REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar-repro}
target="$cache/torch-$version"
stamp="$target/.provisioned"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    python=${PYTHON:-python3}
    pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [[ "$pyver" != "3.11" ]]; then
        echo "provision-libtorch: $python is Python $pyver, but ci/torch-requirements.txt pins CPython 3.11 wheels;" \
            "set PYTHON to a python3.11, or LIBTORCH to a libtorch $version folder" >&2
        exit 1
    fi
    echo "provision-libtorch: installing torch==$version (about 4.7 GB) into $target" >&2
    mkdir -p "$cache"
    staging=$(mktemp -d "$cache/.torch-$version.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    "$python" -m pip install --quiet --disable-pip-version-check --no-cache-dir --no-compile \
        --require-hashes --no-deps --only-binary=:all: --target "$staging" -r "$requirements"
    echo "$want" >"$staging/.provisioned"
    rm -rf "$target"
    mv "$staging" "$target"
    trap - EXIT
fi

torch_dir="$target/torch"
if [[ "$(readlink "$repo/.libtorch" 2>/dev/null)" != "$torch_dir" ]]; then
    ln -sfn "$torch_dir" "$repo/.libtorch"
fi
echo "$torch_dir"
