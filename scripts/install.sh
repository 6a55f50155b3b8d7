#!/usr/bin/env bash
# Installs flightserver as it is deployed: a wheel built by maturin, with the
# locked runtime dependencies (no dev tools), into a virtual environment.
# The Docker image's build stage runs exactly this; so does CI's install test.
# Usage: scripts/install.sh DEST   (DEST: the venv to create)
set -euo pipefail
cd "$(dirname "$0")/.."

dest="${1:?usage: scripts/install.sh DEST}"
profile=release  # the one profile (scripts/setup.sh)
cache="${FLIGHTSERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flightserver}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"
export UV_PYTHON_DOWNLOADS=never

# The same pinned uv as scripts/setup.sh (its version is defined there).
uv_version="$(sed -n 's/^uv_version="\(.*\)"$/\1/p' scripts/setup.sh)"
bootstrap="$cache/uv-$uv_version"
if [ ! -x "$bootstrap/bin/uv" ]; then
  echo "install: installing uv $uv_version into $bootstrap"
  python3 -m venv "$bootstrap"
  "$bootstrap/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
uv="$bootstrap/bin/uv"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "install: building the wheel (profile $profile, target dir $CARGO_TARGET_DIR)"
MATURIN_PEP517_ARGS="--profile $profile" "$uv" build --quiet --wheel --out-dir "$work/dist" .

echo "install: runtime dependencies from uv.lock into $dest"
"$uv" venv --quiet --python python3 "$dest"
"$uv" export --quiet --locked --no-dev --no-emit-project --format requirements-txt \
  --output-file "$work/requirements.txt"
"$uv" pip install --quiet --python "$dest/bin/python" --require-hashes -r "$work/requirements.txt"
"$uv" pip install --quiet --python "$dest/bin/python" --no-deps "$work"/dist/*.whl
echo "install: done; run $dest/bin/flightserver"
