#!/usr/bin/env bash
# Sets up everything flightserver needs, from a fresh clone:
#   1. uv (pinned), in a bootstrap environment under the cache folder;
#   2. .venv with the locked Python dependencies (uv.lock), every group
#      (dev and bench: the checks type-check the benchmarks too);
#   3. the Rust extension, built by maturin into the package.
# Usage: scripts/setup.sh
# One Cargo profile (release) serves the server, the benchmarks and the tests, so a
# newcomer running both README commands compiles DataFusion once (docs/development.md).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
uv_version="0.13.9"
cache="${FLIGHTSERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flightserver}"
# Outside the clone, so every clone on this machine builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"
export UV_PYTHON_DOWNLOADS=never

for tool in python3 cargo; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is required (see README)" >&2; exit 1; }
done

bootstrap="$cache/uv-$uv_version"
if [ ! -x "$bootstrap/bin/uv" ]; then
  echo "setup: installing uv $uv_version into $bootstrap"
  python3 -m venv "$bootstrap"
  "$bootstrap/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
export PATH="$bootstrap/bin:$PATH"

echo "setup: Python dependencies from uv.lock"
# --inexact: keep the extension that maturin installed on an earlier run.
uv sync --locked --inexact --all-groups --quiet

echo "setup: building the Rust extension (profile $profile, target dir $CARGO_TARGET_DIR)"
.venv/bin/maturin develop --uv --profile "$profile" --quiet
