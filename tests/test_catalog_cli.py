"""`flightserver catalog health|refresh|repin` against a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from tests.catalog_files import define, write_parquet
from tests.server_process import ServerProcess


def flightserver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flightserver", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-catalog")
    write_deltalake(root / "data" / "ledger", pa.table({"v": [1]}))
    define(root, "ledger", 'name = "ledger"\nformat = "delta"\nlocation = "data/ledger"\n')
    define(root, "lost", 'name = "lost"\nformat = "parquet"\nlocation = "data/lost.parquet"\n')
    return root


@pytest.fixture(scope="module")
def server(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("state")
    with ServerProcess.start(["--catalog-dir", str(catalog), "--state-dir", str(state)]) as process:
        yield process


@pytest.mark.parametrize("command", [[], ["health"], ["refresh"], ["repin"]])
def test_help(command: list[str]) -> None:
    result = flightserver("catalog", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout


def test_health_shows_entries_and_pins(server: ServerProcess) -> None:
    result = flightserver("catalog", "health", "--uri", server.uri)
    # A failed entry makes the command fail, for scripts and health checks.
    assert result.returncode == 1, result.stderr
    assert "lost.toml" in result.stdout and "does not exist" in result.stdout
    assert "datafusion.public.ledger" in result.stdout and "flightserver" in result.stdout
    assert "1 loaded, 1 failed, 0 warnings" in result.stdout
    as_json = json.loads(flightserver("catalog", "health", "--json", "--uri", server.uri).stdout)
    pins = {pin["table"]: pin for pin in as_json["delta_tables"]}
    ledger = pins["datafusion.public.ledger"]
    assert (ledger["table_version"], ledger["file_count"]) == (0, 1)


def test_refresh_and_repin(server: ServerProcess, catalog: Path) -> None:
    write_parquet(catalog / "data" / "lost.parquet")
    result = flightserver("catalog", "refresh", "--uri", server.uri)
    assert result.returncode == 0, result.stderr
    # The failed definition is retried: its file exists now.
    assert flightserver("catalog", "health", "--uri", server.uri).returncode == 0
    write_deltalake(catalog / "data" / "ledger", pa.table({"v": [2]}), mode="append")
    result = flightserver("catalog", "repin", "--uri", server.uri, "ledger")
    assert result.returncode == 0, result.stderr
    assert "datafusion.public.ledger: version 0 -> 1" in result.stdout
    again = flightserver("catalog", "repin", "--uri", server.uri)
    assert "every Delta table is at its newest version" in again.stdout
    missing = flightserver("catalog", "repin", "--uri", server.uri, "nope")
    assert missing.returncode != 0 and "no Delta table named 'nope'" in missing.stderr
    usage = flightserver("catalog", "repin", "--uri", server.uri, "--version", "1")
    assert usage.returncode == 2 and "--version needs a TABLE" in usage.stderr
