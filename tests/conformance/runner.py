"""Runs one sqllogictest file on an engine and judges each record, as DataFusion's
runner does: the error (searched for its regex), or the column types (strictly)
and the rows (sorted as the record says) against the expected lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tests.conformance.engines import Engine, EngineError
from tests.conformance.normalize import Formatter, column_types
from tests.conformance.slt import Record, parse_file

IGNORE_MARKER = "<slt:ignore>"


@dataclass(frozen=True)
class Verdict:
    record: Record
    failure: str | None  # None: passed

    @property
    def passed(self) -> bool:
        return self.failure is None


def run_file(path: Path, engine: Engine, formatter: Formatter) -> list[Verdict]:
    """Every record of `path` run in order on `engine`."""
    return [judge(record, engine, formatter) for record in parse_file(path)]


def judge(record: Record, engine: Engine, formatter: Formatter) -> Verdict:
    try:
        table = engine.run(record.sql)
    except EngineError as exc:
        message = str(exc)
        if record.error is not None and record.error.matches(message):
            return Verdict(record, None)
        return Verdict(record, f"error: {_first_line(message)}")
    except Exception as exc:  # a failure of the client or driver itself
        return Verdict(record, f"client error: {type(exc).__name__}: {_first_line(str(exc))}")
    if record.error is not None:
        return Verdict(record, "succeeded; an error was expected")
    if not record.is_query:
        return Verdict(record, None)
    return Verdict(record, _compare(record, table, formatter))


def _compare(record: Record, table: pa.Table, formatter: Formatter) -> str | None:
    try:
        rows = formatter.rows(table)
    except Exception as exc:  # a value this harness cannot print
        return f"cannot format result: {type(exc).__name__}: {exc}"
    types = column_types(table.schema)
    if table.num_columns == 0 and not rows:
        types = ""
    if types != record.types:
        return f"column types {types!r}, expected {record.types!r}"
    if record.sort_mode == "rowsort":
        rows.sort()
    elif record.sort_mode == "valuesort":
        rows = sorted([value] for row in rows for value in row)
    actual = [" ".join(row).rstrip() for row in rows]
    expected = [line.rstrip() for line in record.expected]
    if _matches(actual, expected):
        return None
    return f"rows differ: got {_sample(actual)}, expected {_sample(expected)}"


def _matches(actual: list[str], expected: list[str]) -> bool:
    if not any(IGNORE_MARKER in line for line in expected):
        return actual == expected
    # Fragments between markers must appear in order; the first must start the output.
    text = "\n".join(actual)
    position = 0
    for index, fragment in enumerate("\n".join(expected).split(IGNORE_MARKER)):
        if not fragment:
            continue
        found = text.find(fragment, position)
        if found < 0 or (index == 0 and found != 0):
            return False
        position = found + len(fragment)
    return True


def _first_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0][:300] if lines else ""


def _sample(lines: list[str]) -> str:
    shown = lines[:3]
    more = f" (+{len(lines) - 3} more)" if len(lines) > 3 else ""
    return repr(shown)[:300] + more
