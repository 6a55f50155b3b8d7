#!/usr/bin/env bash
# Sets everything up (the same build as scripts/serve.sh) and runs every check:
# lint, format, types, Rust lints and unit tests, and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cache="${FLIGHTSERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flightserver}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"
export PYO3_PYTHON="$PWD/.venv/bin/python"

step() { echo; echo "== $*"; }
step "ruff check";        .venv/bin/ruff check .
step "ruff format";       .venv/bin/ruff format --check .
step "pyright";           .venv/bin/pyright
step "cargo fmt";         cargo fmt --all --check
step "cargo clippy";      cargo clippy --all-targets --profile release -- -D warnings
step "cargo test";        cargo test --profile release
step "pytest";            .venv/bin/pytest "$@"
