"""Servers under measurement, each a real subprocess on a free loopback port.

They run as the tests' `ServerProcess` (tests/server_process.py), which starts a
command with `--port 0`, waits for its "listening on" line and records how long that took.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from bench.data import DATA_DIR
from tests.server_process import ServerProcess

__all__ = ["RESULT_CACHE_OFF", "ServerProcess", "bare_server", "flightserver", "ps"]

_UNBUFFERED = {"PYTHONUNBUFFERED": "1"}
# Server arguments turning the result cache off: every query planned and run.
RESULT_CACHE_OFF = ("--result-cache-enabled", "false")
_START_TIMEOUT = 600.0  # SF1 start-up on a contended machine


def flightserver(catalog_dir: Path, *args: str) -> ServerProcess:
    """`flightserver serve` on `catalog_dir`, logging warnings only (logging is not measured).

    Its own state folder (ingested tables) is scratch space under bench/data.
    """
    state_dir = DATA_DIR / "server-state"
    return ServerProcess.start(
        [
            "--log-level",
            "WARNING",
            "--catalog-dir",
            str(catalog_dir),
            "--state-dir",
            str(state_dir),
            *args,
        ],
        env=_UNBUFFERED,
        timeout=_START_TIMEOUT,
    )


def bare_server(catalog_dir: Path, hold_query: str | None = None) -> ServerProcess:
    """The bare pyarrow.flight + DataFusion server (bench/bare_server.py)."""
    args = ["--catalog-dir", str(catalog_dir)]
    if hold_query is not None:
        args += ["--hold", hold_query]
    return ServerProcess.start(
        args,
        env=_UNBUFFERED,
        timeout=_START_TIMEOUT,
        command=(sys.executable, "-m", "bench.bare_server", "--port", "0"),
    )


def ps(server: ServerProcess) -> psutil.Process:
    """The server's process as psutil sees it (CPU times, memory)."""
    return psutil.Process(server.pid)
