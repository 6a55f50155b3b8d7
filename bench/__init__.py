"""Benchmarks: the server measured against limits measured in the same run.

`python -m bench` (or `scripts/bench.sh`) runs every section and writes
docs/benchmarks/results.json, results.png and latest.md; see docs/benchmarks/README.md.
"""
