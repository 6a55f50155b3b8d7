"""A server running as a real subprocess: the flightserver the tests talk to, and the
servers the benchmarks (bench/) measure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

# `flightserver serve` and the benchmarks' bare server (bench/bare_server.py) both print it.
_LISTENING = re.compile(r"listening on (grpc(?:\+tls)?://\S+)")


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    started: float  # time.perf_counter() just before the process was started
    uri: str = ""
    listening: re.Pattern[str] = _LISTENING  # group 1: the address it serves on
    ready_after: float = 0.0  # seconds from start until it listened
    output: list[str] = field(default_factory=list)
    _new_line: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def start(
        cls,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
        command: Sequence[str] = (sys.executable, "-m", "flightserver", "serve", "--port", "0"),
        listening: re.Pattern[str] = _LISTENING,
        cwd: str | None = None,
    ) -> ServerProcess:
        """Starts `COMMAND ARGS` (COMMAND: `flightserver serve --port 0`) and waits until
        it prints a line matching `listening` (default: flightserver's "listening on")."""
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        server = cls(process, started, listening=listening)
        ready = threading.Event()
        threading.Thread(target=server._pump, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or not server.uri:
            server.stop()
            raise RuntimeError(f"{[*command, *args][:5]} did not start:\n{server.log}")
        return server

    def _pump(self, ready: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._new_line:
                self.output.append(line)
                self._new_line.notify_all()
            match = self.listening.search(line)
            if match and not self.uri:
                self.ready_after = time.perf_counter() - self.started
                address = match.group(1)
                self.uri = address if "://" in address else f"grpc://{address}"
                ready.set()
        ready.set()  # the process ended

    @property
    def log(self) -> str:
        return "".join(self.output)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first output line matching `predicate`, waiting for the server to print it."""
        with self._new_line:
            found = self._new_line.wait_for(
                lambda: next((line for line in self.output if predicate(line)), None),
                timeout,
            )
        if found is None:
            raise AssertionError(f"the server printed no such line:\n{self.log}")
        return found

    def announced(self, what: str) -> str:
        """The address a startup line `flightserver WHAT on ADDRESS` announced."""
        match = re.search(rf"^flightserver {re.escape(what)} on (\S+)$", self.log, re.MULTILINE)
        if match is None:
            raise AssertionError(f"the server announced no {what} address:\n{self.log}")
        return match.group(1)

    @property
    def port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
