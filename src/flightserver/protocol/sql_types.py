"""How Arrow types are described to SQL clients: names, XDBC codes, precision."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.types as pat

from flightserver.protocol.generated import flight_sql_pb2 as sql


@dataclass(frozen=True)
class SqlType:
    name: str  # what DataFusion's SQL calls it
    xdbc: int  # XdbcDataType
    precision: int | None = None  # digits for numbers, characters for others
    scale: int | None = None
    literal_quote: str | None = None


_FIXED: list[tuple[pa.DataType, SqlType]] = [
    (pa.bool_(), SqlType("BOOLEAN", sql.XDBC_BIT, 1)),
    (pa.int8(), SqlType("TINYINT", sql.XDBC_TINYINT, 3)),
    (pa.int16(), SqlType("SMALLINT", sql.XDBC_SMALLINT, 5)),
    (pa.int32(), SqlType("INTEGER", sql.XDBC_INTEGER, 10)),
    (pa.int64(), SqlType("BIGINT", sql.XDBC_BIGINT, 19)),
    (pa.uint8(), SqlType("TINYINT UNSIGNED", sql.XDBC_TINYINT, 3)),
    (pa.uint16(), SqlType("SMALLINT UNSIGNED", sql.XDBC_SMALLINT, 5)),
    (pa.uint32(), SqlType("INTEGER UNSIGNED", sql.XDBC_INTEGER, 10)),
    (pa.uint64(), SqlType("BIGINT UNSIGNED", sql.XDBC_BIGINT, 20)),
    (pa.float16(), SqlType("HALF", sql.XDBC_REAL, 11)),
    (pa.float32(), SqlType("REAL", sql.XDBC_REAL, 24)),
    (pa.float64(), SqlType("DOUBLE", sql.XDBC_DOUBLE, 53)),
    (pa.utf8(), SqlType("VARCHAR", sql.XDBC_VARCHAR, literal_quote="'")),
    (pa.large_utf8(), SqlType("VARCHAR", sql.XDBC_VARCHAR, literal_quote="'")),
    (pa.string_view(), SqlType("VARCHAR", sql.XDBC_VARCHAR, literal_quote="'")),
    (pa.binary(), SqlType("BYTEA", sql.XDBC_VARBINARY)),
    (pa.large_binary(), SqlType("BYTEA", sql.XDBC_VARBINARY)),
    (pa.binary_view(), SqlType("BYTEA", sql.XDBC_VARBINARY)),
    (pa.date32(), SqlType("DATE", sql.XDBC_DATE, 10, literal_quote="'")),
    (pa.date64(), SqlType("DATE", sql.XDBC_DATE, 10, literal_quote="'")),
]


def sql_type(data_type: pa.DataType) -> SqlType:
    """The SQL description of an Arrow type."""
    for arrow, described in _FIXED:
        if data_type == arrow:
            return described
    if pat.is_decimal(data_type):
        return SqlType("DECIMAL", sql.XDBC_DECIMAL, data_type.precision, data_type.scale)
    if pat.is_timestamp(data_type):
        if data_type.tz is None:
            return SqlType("TIMESTAMP", sql.XDBC_TIMESTAMP, 29, literal_quote="'")
        return SqlType("TIMESTAMP WITH TIME ZONE", sql.XDBC_TIMESTAMP, 35, literal_quote="'")
    if pat.is_time(data_type):
        return SqlType("TIME", sql.XDBC_TIME, 15, literal_quote="'")
    if pat.is_interval(data_type) or pat.is_duration(data_type):
        return SqlType("INTERVAL", sql.XDBC_INTERVAL)
    if pat.is_list(data_type) or pat.is_large_list(data_type) or pat.is_fixed_size_list(data_type):
        return SqlType("ARRAY", sql.XDBC_UNKNOWN_TYPE)
    if pat.is_struct(data_type):
        return SqlType("STRUCT", sql.XDBC_UNKNOWN_TYPE)
    if pat.is_map(data_type):
        return SqlType("MAP", sql.XDBC_UNKNOWN_TYPE)
    if pat.is_dictionary(data_type):
        return sql_type(data_type.value_type)
    if pat.is_fixed_size_binary(data_type):
        return SqlType("BYTEA", sql.XDBC_BINARY, data_type.byte_width)
    return SqlType(str(data_type).upper(), sql.XDBC_UNKNOWN_TYPE)
