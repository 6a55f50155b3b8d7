"""Running the Java probe (JdbcProbe.java) and reading what it reports.

One JVM runs one scenario and prints one JSON document: for every step, its
value or the Java exception it raised. A failed step surfaces as a test failure
carrying the exception's class, message and full stack trace.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.jdbc.toolchain import JdbcDriver, require_tool

# A guard against a hung driver or server, not a measurement: a scenario takes seconds.
SCENARIO_TIMEOUT_SECONDS = 300
# Java 17 needs java.nio opened for Arrow's memory; the probe reads times in UTC.
JVM_OPTIONS = ("--add-opens=java.base/java.nio=ALL-UNNAMED", "-Duser.timezone=UTC")


def jdbc_url(port: int, extra: str = "") -> str:
    # The driver defaults to TLS; the test server speaks plain gRPC.
    return f"jdbc:arrow-flight-sql://127.0.0.1:{port}/?useEncryption=false{extra}"


class JavaStepFailed(AssertionError):
    """A probe step raised a Java exception (or its input step did)."""


@dataclass(frozen=True)
class Report:
    """What one JVM run observed."""

    scenario: str
    driver: JdbcDriver
    steps: dict[str, dict[str, Any]]
    stderr: str

    def names(self, prefix: str = "") -> list[str]:
        return [name for name in self.steps if name.startswith(prefix)]

    def ok(self, name: str) -> bool:
        return bool(self._record(name)["ok"])

    def value(self, name: str) -> Any:
        """The step's value; its Java exception, stack trace included, if it failed."""
        record = self._record(name)
        if not record["ok"]:
            raise JavaStepFailed(self.failure(name))
        return record["value"]

    def error(self, name: str) -> dict[str, str]:
        """The exception a step was expected to raise; fails if it succeeded."""
        record = self._record(name)
        if record["ok"]:
            raise AssertionError(
                f"JDBC {self.driver.version} step {name!r} succeeded, expected an error; "
                f"it returned {record['value']!r}"
            )
        return record["error"]

    def table(self, name: str) -> ResultTable:
        return ResultTable.from_json(self.value(name))

    def failure(self, name: str) -> str:
        error = self._record(name)["error"]
        return (
            f"JDBC driver {self.driver.version}, scenario {self.scenario!r}, step {name!r} "
            f"raised {error['class']}: {error['message']}\n{error['trace']}"
        )

    def _record(self, name: str) -> dict[str, Any]:
        if name not in self.steps:
            raise AssertionError(
                f"scenario {self.scenario!r} has no step {name!r}; steps: {list(self.steps)}\n"
                f"end of the probe's stderr:\n{tail(self.stderr)}"
            )
        return self.steps[name]


@dataclass(frozen=True)
class Column:
    name: str
    jdbc_type: str  # java.sql.JDBCType name, e.g. "BIGINT"
    type_name: str
    class_name: str
    precision: int
    scale: int
    nullable: int  # ResultSetMetaData.columnNoNulls (0) / columnNullable (1) / unknown (2)
    object_class: str | None  # what getObject() returned (first non-null value)
    object_error: dict[str, str] | None  # what getObject() raised, if it did


@dataclass(frozen=True)
class ResultTable:
    """A JDBC result set as the probe captured it: canonical strings per value."""

    columns: list[Column]
    raw_rows: list[list[str | None]]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultTable:
        columns = [
            Column(
                name=column["name"],
                jdbc_type=column["jdbcType"],
                type_name=column["typeName"],
                class_name=column["className"],
                precision=column["precision"],
                scale=column["scale"],
                nullable=column["nullable"],
                object_class=column.get("objectClass"),
                object_error=column.get("objectError"),
            )
            for column in data["columns"]
        ]
        return cls(columns, data["rows"])

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as Python values, decoded by each column's JDBC type."""
        return [
            tuple(
                decode(value, column.jdbc_type)
                for value, column in zip(row, self.columns, strict=True)
            )
            for row in self.raw_rows
        ]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.names, row, strict=True)) for row in self.rows()]

    def column(self, name: str) -> list[Any]:
        index = self.names.index(name)
        return [row[index] for row in self.rows()]


_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}
_FLOATS = {"REAL", "FLOAT", "DOUBLE"}
_BINARIES = {"BINARY", "VARBINARY", "LONGVARBINARY"}
_UTC = dt.UTC


def decode(value: str | None, jdbc_type: str) -> Any:
    """A canonical string from JdbcProbe.cell back to a Python value.

    Timestamps become integer nanoseconds since the epoch (naive ones read as
    UTC wall time), which compares exactly with Arrow's stored integers.
    """
    if value is None:
        return None
    if jdbc_type in _INTEGERS:
        return int(value)
    if jdbc_type in {"DECIMAL", "NUMERIC"}:
        return Decimal(value)
    if jdbc_type in _FLOATS:
        return float(value)
    if jdbc_type in {"BOOLEAN", "BIT"}:
        return {"true": True, "false": False}[value]
    if jdbc_type in _BINARIES:
        return bytes.fromhex(value)
    if jdbc_type == "DATE":
        return dt.date.fromisoformat(value)
    if jdbc_type == "TIME":
        return dt.time.fromisoformat(value)
    if jdbc_type in {"TIMESTAMP", "TIMESTAMP_WITH_TIMEZONE"}:
        return timestamp_nanos(value.removesuffix("Z"))
    return value


def timestamp_nanos(text: str) -> int:
    """'YYYY-MM-DDTHH:MM:SS.fffffffff' as nanoseconds since the epoch, read as UTC."""
    whole, _, fraction = text.partition(".")
    seconds = dt.datetime.fromisoformat(whole).replace(tzinfo=_UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0"))


@dataclass(frozen=True)
class ProbeRunner:
    """Runs probe scenarios with one driver version against one server."""

    driver: JdbcDriver
    classes: Path
    port: int
    url_options: str = ""  # appended to the URL, e.g. "&user=alice&password=..."

    def run(self, scenario: str, *args: str, stdin: str = "") -> Report:
        java = require_tool("java")
        classpath = f"{self.driver.jar}:{self.classes}"
        command = [java, *JVM_OPTIONS, "-cp", classpath, "JdbcProbe", scenario]
        command += [jdbc_url(self.port, self.url_options), *args]
        try:
            done = subprocess.run(
                command,
                input=stdin.encode(),
                capture_output=True,
                timeout=SCENARIO_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            stderr = (expired.stderr or b"").decode(errors="replace")
            pytest.fail(
                f"JDBC {self.driver.version} scenario {scenario!r} did not finish in "
                f"{SCENARIO_TIMEOUT_SECONDS}s; its last line names the step it hung in:\n{stderr}",
                pytrace=False,
            )
        stdout = done.stdout.decode(errors="replace")
        stderr = done.stderr.decode(errors="replace")
        try:
            report = json.loads(stdout)
        except json.JSONDecodeError:
            pytest.fail(
                f"JDBC {self.driver.version} scenario {scenario!r} exited {done.returncode} "
                f"without a report.\n$ {' '.join(command)}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                pytrace=False,
            )
        return Report(scenario, self.driver, report["steps"], stderr)


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def failures(report: Report, names: Sequence[str]) -> list[str]:
    """The failure text of every named step that raised."""
    return [report.failure(name) for name in names if not report.ok(name)]
