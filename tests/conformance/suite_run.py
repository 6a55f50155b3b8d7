"""Runs suite files in process and through a fresh server each, and compares."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from flightserver.config import ServerConfig
from tests.conformance.differences import classify
from tests.conformance.engines import InProcess, ThroughServer
from tests.conformance.normalize import Formatter
from tests.conformance.runner import Verdict, run_file
from tests.conformance.suite import clear_scratch, crate_root, working_copy
from tests.server_process import ServerProcess

# The settings both sides share; the suite's plans assume four partitions.
TARGET_PARTITIONS = 4

# What the server permits while running the suite: everything DataFusion does
# (its statements, writes anywhere); the refusals of the default policy are
# tested in tests/test_policy.py.
_PERMISSIVE = """\
catalog_dir = "{catalog}"
state_dir = "{state}"
target_partitions = {partitions}
log_level = "WARNING"

[policy]
allow_ddl = true
allow_dml = true
allow_copy = true
allow_session = true
allowed_locations = ["/"]
allowed_schemes = ["s3", "s3a", "gs", "gcs", "az", "azure", "abfs", "abfss", "http", "https", "hf"]
"""


@dataclass(frozen=True)
class Difference:
    """A record that passed in process and failed through the server."""

    record: Verdict  # the server's verdict
    reason: str | None  # the documented reason, or None when unexplained


@dataclass(frozen=True)
class FileResult:
    name: str
    in_process: list[Verdict]
    server: list[Verdict]

    @property
    def records(self) -> int:
        return len(self.in_process)

    @property
    def passed_in_process(self) -> int:
        return sum(verdict.passed for verdict in self.in_process)

    @property
    def passed_server(self) -> int:
        return sum(verdict.passed for verdict in self.server)

    @property
    def server_only_failures(self) -> list[Difference]:
        only = [
            ours.passed and not theirs.passed
            for ours, theirs in zip(self.in_process, self.server, strict=True)
        ]
        reasons = classify(self.server, only)
        return [
            Difference(verdict, reason)
            for verdict, reason, failed in zip(self.server, reasons, only, strict=True)
            if failed
        ]

    @property
    def unexplained(self) -> list[Difference]:
        return [difference for difference in self.server_only_failures if difference.reason is None]


class Suite:
    """The crate's files in two working copies (one an engine) and a scratch folder."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or crate_root()
        self._tmp = Path(tempfile.mkdtemp(prefix="flightserver-slt-"))
        self.in_process_dir = working_copy(self.root, self._tmp / "in-process")
        self.server_dir = working_copy(self.root, self._tmp / "server")
        self.formatter = Formatter()
        self._count = 0

    def run(self, relative: Path) -> FileResult:
        name = relative.as_posix()
        clear_scratch(self.in_process_dir, relative)
        clear_scratch(self.server_dir, relative)
        config = ServerConfig(target_partitions=TARGET_PARTITIONS)
        engine = InProcess(config, self.in_process_dir)
        ours = run_file(self.in_process_dir / "test_files" / relative, engine, self.formatter)
        with self._server() as server:
            client = ThroughServer(server.uri)
            try:
                theirs = run_file(self.server_dir / "test_files" / relative, client, self.formatter)
            finally:
                client.close()
        return FileResult(name, ours, theirs)

    def _server(self) -> ServerProcess:
        self._count += 1
        base = self._tmp / f"server-{self._count}"
        (base / "catalog").mkdir(parents=True)
        config = base / "flightserver.toml"
        config.write_text(
            _PERMISSIVE.format(
                catalog=base / "catalog", state=base / "state", partitions=TARGET_PARTITIONS
            )
        )
        return ServerProcess.start(["--config", str(config)], cwd=str(self.server_dir))

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Suite:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
