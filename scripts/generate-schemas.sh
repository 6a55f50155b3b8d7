#!/usr/bin/env bash
# Regenerates schemas/: the JSON Schema (2020-12) of every artifact and action
# payload, from their msgspec Structs (flightserver.artifacts.model).
# tests/test_schemas.py fails when the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m flightserver.artifacts.registry schemas
