"""The two ways a record runs: in process on a `datafusion` SessionContext with the
server's session settings, and through the server over Flight SQL (ADBC)."""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
from datafusion import SessionContext

from flightserver.config import ServerConfig
from flightserver.engine.session import runtime_config, session_config

# DataFusion's runner writes an engine error as `DataFusion error: <error>`.
_PREFIX = "DataFusion error: "
# ADBC's envelope around the server's message: `STATUS: [FlightSQL] <message> (Status; Call)`.
_ADBC_ENVELOPE = re.compile(
    r"^[A-Z_]+: \[FlightSQL\] (?P<message>.*?)(?: \(\w+; \w+\))?$", re.DOTALL
)


_DETAIL = re.compile(r"\. Detail: [^\n]*$")


class EngineError(Exception):
    """A record's statement failed; the message as DataFusion's runner would print it."""


class Engine(Protocol):
    def run(self, sql: str) -> pa.Table: ...

    def close(self) -> None: ...


def _runner_message(message: str) -> str:
    message = message.strip()
    return message if message.startswith(_PREFIX) else _PREFIX + message


@contextmanager
def _working_directory(path: Path) -> Generator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class InProcess:
    """One SessionContext for a file, as DataFusion's runner has one per file."""

    def __init__(self, config: ServerConfig, crate_dir: Path) -> None:
        self._ctx = SessionContext(session_config(config), runtime_config(config))
        self._crate_dir = crate_dir

    def run(self, sql: str) -> pa.Table:
        # Relative paths in the files resolve against the crate directory.
        with _working_directory(self._crate_dir):
            try:
                df = self._ctx.sql(sql)
                batches = df.collect()
            except Exception as exc:  # DataFusion raises plain exceptions
                raise EngineError(_runner_message(str(exc))) from exc
        if batches:
            return pa.Table.from_batches(batches)
        return df.schema().empty_table()

    def close(self) -> None:
        pass


class ThroughServer:
    """One ADBC connection for a file, to a server of its own."""

    def __init__(self, uri: str) -> None:
        self._conn = flightsql.connect(uri, autocommit=True)

    def run(self, sql: str) -> pa.Table:
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetch_arrow_table()
        except flightsql.Error as exc:
            raise EngineError(_runner_message(server_message(str(exc)))) from exc

    def close(self) -> None:
        self._conn.close()


def server_message(adbc_message: str) -> str:
    """The server's message inside ADBC's envelope (the status and call names, and the
    `Detail:` naming the exception class that carried the status)."""
    text = _DETAIL.sub("", adbc_message.strip())
    match = _ADBC_ENVELOPE.match(text)
    return _DETAIL.sub("", match.group("message")) if match else text
