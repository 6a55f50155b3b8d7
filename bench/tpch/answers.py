"""Compares one query's answers from different engines, allowing for their number types.

Engines differ in result types (DataFusion keeps decimals where DuckDB returns doubles,
column names of unnamed expressions differ), so answers are compared as values:
numbers within a relative tolerance, everything else exactly, rows in order. The same
rows in another order are reported as such (ties under ORDER BY may legitimately do that).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa

Value = float | int | str | date | datetime | bool | None
Row = tuple[Value, ...]

_RELATIVE_TOLERANCE = 1e-6
_ABSOLUTE_TOLERANCE = 1e-4


def _value(value: object) -> Value:
    if isinstance(value, Decimal | float):
        return float(value)
    if isinstance(value, int | str | date | datetime | bool) or value is None:
        return value
    return str(value)


def rows(table: pa.Table) -> list[Row]:
    columns = [column.to_pylist() for column in table.columns]
    return [tuple(_value(value) for value in row) for row in zip(*columns, strict=True)]


def _same_value(left: Value, right: Value) -> bool:
    if isinstance(left, float | int) and isinstance(right, float | int):
        return math.isclose(left, right, rel_tol=_RELATIVE_TOLERANCE, abs_tol=_ABSOLUTE_TOLERANCE)
    return left == right


def _same_rows(left: list[Row], right: list[Row]) -> bool:
    return all(
        len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
        for a, b in zip(left, right, strict=True)
    )


def _exact_part(row: Row) -> tuple[str, ...]:
    """A sort key from the values compared exactly (numbers may differ in their last bits)."""
    return tuple("" if isinstance(value, float) else repr(value) for value in row)


def difference(expected: pa.Table, actual: pa.Table) -> str | None:
    """None when `actual` answers as `expected` does, else what differs."""
    if expected.num_columns != actual.num_columns:
        return f"{actual.num_columns} columns, expected {expected.num_columns}"
    if expected.num_rows != actual.num_rows:
        return f"{actual.num_rows} rows, expected {expected.num_rows}"
    left, right = rows(expected), rows(actual)
    if _same_rows(left, right):
        return None
    if _same_rows(sorted(left, key=_exact_part), sorted(right, key=_exact_part)):
        return "the same rows in another order"
    for index, (a, b) in enumerate(zip(left, right, strict=True)):
        if not _same_rows([a], [b]):
            return f"row {index}: {b!r}, expected {a!r}"
    return "rows differ"
