"""The deployment path: scripts/install.sh (the image's build step) into a clean
virtual environment, then docker/entrypoint.sh (the image's entrypoint) serving."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pytest

from tests.conftest import DEMO_CATALOG, REPO
from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the built wheel and its locked runtime dependencies."""
    dest = tmp_path_factory.mktemp("install") / "venv"
    result = subprocess.run(
        [str(REPO / "scripts" / "install.sh"), str(dest)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dest


def test_installed_package_is_the_wheel(installed: Path) -> None:
    result = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import flightserver; print(flightserver.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd="/",
    )
    assert result.stdout.strip().startswith(str(installed))
    # Dev tools stay out of the runtime environment.
    assert not (installed / "bin" / "pytest").exists()


def test_entrypoint_serves_the_demo_catalog(installed: Path, tmp_path: Path) -> None:
    env = {
        "PATH": f"{installed / 'bin'}{os.pathsep}{os.environ['PATH']}",
        # The image's defaults, moved to loopback and free ports for the test.
        "FLIGHTSERVER_HOST": "127.0.0.1",
        "FLIGHTSERVER_HEALTH_PORT": "0",
        "FLIGHTSERVER_HTTP_PORT": "0",
        "FLIGHTSERVER_CATALOG_DIR": str(DEMO_CATALOG),
        "FLIGHTSERVER_STATE_DIR": str(tmp_path / "state"),
    }
    entrypoint = [str(REPO / "docker" / "entrypoint.sh"), "--port", "0"]
    with ServerProcess.start([], env=env, command=entrypoint) as server:
        with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM customer")
            assert cur.fetch_arrow_table().column("n").to_pylist() == [1500]

        # The image's HEALTHCHECK command.
        address = server.announced("health").removeprefix("grpc://")
        health = subprocess.run(
            [str(installed / "bin" / "flightserver"), "health", "--grpc-health", address],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert health.returncode == 0, health.stderr
        assert health.stdout.strip() == "SERVING"

        # The status page ships inside the wheel.
        with urllib.request.urlopen(server.announced("http") + "/") as response:
            assert b"<title>flightserver status</title>" in response.read()

    # The image logs JSON lines by default.
    json_lines = [json.loads(line) for line in server.output if line.startswith("{")]
    assert any(line["message"] == "ready" for line in json_lines)
