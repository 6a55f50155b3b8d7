"""Servers under measurement, each a real subprocess on a free loopback port.

Both servers print the same "listening on" line once their port is bound, which is
what `ServerProcess` waits for (as tests/server_process.py does for the tests).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

from bench.data import DATA_DIR

_LISTENING = re.compile(r"listening on (grpc://\S+)")


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    started: float
    uri: str = ""
    ready_after: float = 0.0
    output: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, command: Sequence[str], timeout: float = 600.0) -> ServerProcess:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        server = cls(process, started)
        ready = threading.Event()
        threading.Thread(target=server._pump, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or not server.uri:
            server.stop()
            raise RuntimeError(f"{command[:4]} did not start:\n{server.log}")
        return server

    def _pump(self, ready: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = _LISTENING.search(line)
            if match and not self.uri:
                self.ready_after = time.perf_counter() - self.started
                self.uri = match.group(1)
                ready.set()
        ready.set()  # the process ended

    @property
    def log(self) -> str:
        return "".join(self.output)

    @property
    def pid(self) -> int:
        return self.process.pid

    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def flightserver(catalog_dir: Path, *args: str) -> ServerProcess:
    """`flightserver serve` on `catalog_dir`, logging warnings only (logging is not measured).

    Its own state folder (ingested tables) is scratch space under bench/data.
    """
    state_dir = DATA_DIR / "server-state"
    return ServerProcess.start(
        [
            sys.executable,
            "-m",
            "flightserver",
            "serve",
            "--port",
            "0",
            "--log-level",
            "WARNING",
            "--catalog-dir",
            str(catalog_dir),
            "--state-dir",
            str(state_dir),
            *args,
        ]
    )


def bare_server(catalog_dir: Path, hold_query: str | None = None) -> ServerProcess:
    """The bare pyarrow.flight + DataFusion server (bench/bare_server.py)."""
    command = [sys.executable, "-m", "bench.bare_server", "--catalog-dir", str(catalog_dir)]
    if hold_query is not None:
        command += ["--hold", hold_query]
    return ServerProcess.start(command)
