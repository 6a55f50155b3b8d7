#!/usr/bin/env bash
# The long reliability run (docs/reliability.md): readers over ADBC and JDBC
# against one server while its tables are written, re-pinned, refreshed and
# maintained; then a SIGKILL mid-run, a restart and the recovery checks.
# Prints a JSON report; exits 1 when a check failed.
# Usage: scripts/reliability.sh [--seconds S] [--adbc-readers N] [--jdbc-rounds N]
#   defaults: 300 s, 3 ADBC readers, 10 JDBC rounds (one JVM each, 15 queries).
# All traffic goes to the server it starts on 127.0.0.1; its files go to a
# temporary folder, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
.venv/bin/python -m tests.reliability.run "$root/run" "$@"
