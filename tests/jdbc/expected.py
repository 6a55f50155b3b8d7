"""What a JDBC client should see, computed from Arrow data read by other means.

The JDBC type of each Arrow type follows the Flight SQL JDBC driver's mapping
(its SqlTypes); values are turned into the Python values that
`tests.jdbc.probe.decode` yields for the same column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flightserver.engine.client_types import client_type

# java.sql.Types codes, by the JDBCType name the probe reports.
JDBC_TYPE_CODES = {
    "TINYINT": -6,
    "SMALLINT": 5,
    "INTEGER": 4,
    "BIGINT": -5,
    "FLOAT": 6,
    "DOUBLE": 8,
    "DECIMAL": 3,
    "VARCHAR": 12,
    "LONGVARCHAR": -1,
    "BINARY": -2,
    "VARBINARY": -3,
    "LONGVARBINARY": -4,
    "DATE": 91,
    "TIME": 92,
    "TIMESTAMP": 93,
    "TIMESTAMP_WITH_TIMEZONE": 2014,
    "BOOLEAN": 16,
    "NULL": 0,
    "ARRAY": 2003,
    "JAVA_OBJECT": 2000,
}
JDBC_TYPE_NAMES = {code: name for name, code in JDBC_TYPE_CODES.items()}

_INTEGER_BY_WIDTH = {8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}
# In the driver's order of checks; integers and timestamps are told apart further.
_BY_KIND = (
    (pa.types.is_float32, "FLOAT"),
    (pa.types.is_float64, "DOUBLE"),
    (pa.types.is_decimal, "DECIMAL"),
    (pa.types.is_string, "VARCHAR"),
    (pa.types.is_large_string, "LONGVARCHAR"),
    (pa.types.is_fixed_size_binary, "BINARY"),
    (pa.types.is_binary, "VARBINARY"),
    (pa.types.is_large_binary, "LONGVARBINARY"),
    (pa.types.is_date, "DATE"),
    (pa.types.is_time, "TIME"),
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_null, "NULL"),
    (pa.types.is_list, "ARRAY"),
    (pa.types.is_large_list, "ARRAY"),
)


def jdbc_type(arrow_type: pa.DataType) -> str:
    """The JDBC type a client is told for a column that native clients (ADBC) read as
    `arrow_type`: the server sends Java clients its client type."""
    arrow_type = client_type(arrow_type)
    if pa.types.is_integer(arrow_type):
        return _INTEGER_BY_WIDTH[arrow_type.bit_width]
    if isinstance(arrow_type, pa.TimestampType):
        return "TIMESTAMP_WITH_TIMEZONE" if arrow_type.tz else "TIMESTAMP"
    for is_kind, name in _BY_KIND:
        if is_kind(arrow_type):
            return name
    raise AssertionError(f"no JDBC type expected for {arrow_type}")


_NANOS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """The column's values as `probe.decode` yields them for its JDBC type."""
    arrow_type = column.type
    if pa.types.is_timestamp(arrow_type):
        assert isinstance(arrow_type, pa.TimestampType)
        # The stored integer: UTC for zoned timestamps, wall time for naive ones.
        factor = _NANOS_PER_UNIT[arrow_type.unit]
        stored = pc.cast(column, pa.int64()).to_pylist()
        return [None if value is None else value * factor for value in stored]
    if pa.types.is_time(arrow_type):
        # java.sql.Time carries milliseconds.
        return [
            None if value is None else value.replace(microsecond=value.microsecond // 1000 * 1000)
            for value in column.to_pylist()
        ]
    return column.to_pylist()


def show(values: tuple[Any, ...], arrow_type: pa.DataType) -> str:
    """Values of one column for a failure message: timestamps as ISO instants."""
    if not pa.types.is_timestamp(arrow_type):
        return repr(values)
    shown = [
        "None"
        if value is None
        else dt.datetime.fromtimestamp(value // 1_000_000_000, dt.UTC).isoformat()
        + f"+{value % 1_000_000_000}ns"
        for value in values
    ]
    return f"({', '.join(shown)})"


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """The table's rows, each value as `probe.decode` yields it."""
    columns = [values(table.column(index)) for index in range(table.num_columns)]
    return list(zip(*columns, strict=True)) if columns else []
