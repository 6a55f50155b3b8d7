"""Operator commands against a running server: query, health, config; --help everywhere."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightserver.config import ServerConfig, load_config
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess

COMMANDS = ["serve", "query", "health", "config", "user", "bundle"]


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state_dir = tmp_path_factory.mktemp("ops-cli-state")
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state_dir)]
    args += ["--health-port", "0"]
    with ServerProcess.start(args) as process:
        yield process


def flightserver(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flightserver", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help(command: list[str]) -> None:
    result = flightserver(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout
    if not command:
        for name in COMMANDS:
            assert name in result.stdout


def test_query_prints_a_table(ops_server: ServerProcess) -> None:
    result = flightserver(
        "query", "--uri", ops_server.uri, "SELECT r_regionkey, r_name FROM region ORDER BY 1"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("r_regionkey" in line and "r_name" in line for line in lines)
    for name in ("AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"):
        assert any(name in line for line in lines), name
    assert lines[-1] == "(5 rows)"


def test_query_limits_shown_rows(ops_server: ServerProcess) -> None:
    result = flightserver(
        "query", "--uri", ops_server.uri, "--max-rows", "2", "SELECT n_name FROM nation"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "(25 rows, 2 shown)"


def test_query_csv_and_json(ops_server: ServerProcess) -> None:
    statement = "SELECT n_nationkey, n_name FROM nation WHERE n_nationkey < 3 ORDER BY 1"
    as_csv = flightserver("query", "--uri", ops_server.uri, "--format", "csv", statement)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["n_name"] for row in rows] == ["ALGERIA", "ARGENTINA", "BRAZIL"]
    as_json = flightserver("query", "--uri", ops_server.uri, "--format", "json", statement)
    assert as_json.returncode == 0, as_json.stderr
    objects = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert objects[0] == {"n_nationkey": 0, "n_name": "ALGERIA"}
    assert len(objects) == 3


def test_query_error_is_a_clear_message(ops_server: ServerProcess) -> None:
    result = flightserver("query", "--uri", ops_server.uri, "SELECT * FROM no_such_table")
    assert result.returncode == 1
    assert "no_such_table" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_command(ops_server: ServerProcess) -> None:
    result = flightserver("health", "--uri", ops_server.uri)
    assert result.returncode == 0, result.stderr
    assert "SERVING" in result.stdout
    assert "3 tables loaded, 0 failed" in result.stdout

    address = ops_server.announced("health").removeprefix("grpc://")
    grpc_result = flightserver("health", "--grpc-health", address)
    assert grpc_result.returncode == 0, grpc_result.stderr
    assert grpc_result.stdout.strip() == "SERVING"


def test_health_command_without_a_server() -> None:
    result = flightserver("health", "--uri", f"grpc://127.0.0.1:{_free_port()}", "--timeout", "5")
    assert result.returncode == 1
    assert "not serving" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_generates_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    result = flightserver("config", "--output", str(path))
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    for option in ("port", "health_port", "http_port", "log_format", "[policy]"):
        assert option in text
    tomllib.loads(text)
    assert load_config(path) == ServerConfig()


def test_user_entry_logs_in(tmp_path: Path) -> None:
    """`flightserver user` writes an entry the server accepts; `query --user` logs in with it."""
    entry = flightserver("user", "ops", "--role", "reader", "--password-stdin", stdin="s3cret!\n")
    assert entry.returncode == 0, entry.stderr
    users = tmp_path / "users.toml"
    users.write_text(entry.stdout)
    assert tomllib.loads(entry.stdout)["users"][0]["name"] == "ops"

    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(tmp_path / "state")]
    args += ["--auth-users-file", str(users)]
    with ServerProcess.start(args) as server:
        statement = "SELECT count(*) AS n FROM region"
        good = flightserver(
            "query",
            "--uri",
            server.uri,
            "--user",
            "ops",
            "--format",
            "csv",
            statement,
            env={"FLIGHTSERVER_PASSWORD": "s3cret!"},
        )
        assert good.returncode == 0, good.stderr
        assert good.stdout.splitlines() == ['"n"', "5"]
        bad = flightserver(
            "query",
            "--uri",
            server.uri,
            "--user",
            "ops",
            statement,
            env={"FLIGHTSERVER_PASSWORD": "wrong"},
        )
        assert bad.returncode == 1
        assert "Traceback" not in bad.stderr


def test_bundle_exports_the_plan_bundle(ops_server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    statement = "SELECT r_name FROM region WHERE r_regionkey = 1"
    result = flightserver("bundle", "--uri", ops_server.uri, "--output", str(path), statement)
    assert result.returncode == 0, result.stderr
    bundle = json.loads(path.read_text())
    assert bundle["sql"] == statement
    assert len(bundle["plan_sha256"]) == 64
    artifact_id = result.stderr.strip().removeprefix("artifact ")
    assert artifact_id

    refused = flightserver("bundle", "--uri", ops_server.uri, "DROP TABLE region")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
