#!/usr/bin/env bash
# DataFusion's sqllogictest suite (the datafusion-sqllogictest crate, fetched by
# cargo) in process and through the server: every file, a summary per file and
# in total. Pass --update-docs to rewrite the table in docs/conformance.md; name
# files (relative to test_files/) to run only those.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh release
exec .venv/bin/python -m tests.conformance "$@"
