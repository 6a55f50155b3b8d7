#!/usr/bin/env bash
# Sets everything up (optimized build) and serves the demo catalog.
# Extra arguments go to `flightserver serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/flightserver serve --catalog-dir catalog "$@"
