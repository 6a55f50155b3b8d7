#!/usr/bin/env bash
# Builds the optimized extension, then runs the benchmarks (bench/): prints the ratio
# table and writes docs/benchmarks/results.json, results.png and latest.md.
# Usage: scripts/bench.sh [--quick] [--scale-factor SF] [--repeats N] [--sections NAME...]
#   --quick: TPC-H SF0.1 and shorter runs (a few minutes); default SF1.
# TPC-H data is generated on first use into bench/data/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m bench "$@"
