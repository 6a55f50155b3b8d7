#!/usr/bin/env bash
# Generates the Python modules for the protocol definitions in proto/.
# The output is committed; tests/test_protocol_generated.py fails when it is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-src/flightserver/protocol/generated}"
mkdir -p "$out"
.venv/bin/python -m grpc_tools.protoc -Iproto --python_out="$out" --pyi_out="$out" proto/*.proto
