"""The committed protobuf modules are exactly what proto/ generates."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

from tests.conftest import REPO

GENERATED = REPO / "src/flightserver/protocol/generated"


def test_generated_protocol_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run([REPO / "scripts/generate-protocol.sh", tmp_path], check=True, cwd=REPO)
    fresh = sorted(path.name for path in tmp_path.iterdir())
    assert fresh, "the generator produced nothing"
    match, mismatch, errors = filecmp.cmpfiles(tmp_path, GENERATED, fresh, shallow=False)
    assert (mismatch, errors) == ([], []), "run scripts/generate-protocol.sh and commit the result"
    assert match == fresh
