"""CommandGetSqlInfo: what the server tells drivers about itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import datafusion
import pyarrow as pa

from flightserver import __version__
from flightserver.protocol import schemas
from flightserver.protocol.generated import flight_sql_pb2 as sql

SqlInfoValue = str | bool | int | list[str]

# Union child of each value kind; the type_ids of SQL_INFO_VALUE are 0..5.
_STRING, _BOOL, _BIGINT, _BITMASK, _STRING_LIST = range(5)


class Bitmask(int):
    """An int32 bitmask value (union child 3) rather than an int64 (child 2)."""


def server_sql_info() -> dict[int, SqlInfoValue]:
    """The values this server reports, by SqlInfo id."""
    values: dict[int, SqlInfoValue] = {
        sql.FLIGHT_SQL_SERVER_NAME: "flightserver",
        sql.FLIGHT_SQL_SERVER_VERSION: __version__,
        sql.FLIGHT_SQL_SERVER_ARROW_VERSION: pa.__version__,
        sql.FLIGHT_SQL_SERVER_READ_ONLY: False,
        sql.FLIGHT_SQL_SERVER_SQL: True,
        sql.FLIGHT_SQL_SERVER_SUBSTRAIT: False,
        # No Flight SQL transactions: ADBC then runs in autocommit without errors.
        sql.FLIGHT_SQL_SERVER_TRANSACTION: Bitmask(sql.SQL_SUPPORTED_TRANSACTION_NONE),
        sql.FLIGHT_SQL_SERVER_CANCEL: False,
        sql.SQL_IDENTIFIER_QUOTE_CHAR: '"',
        sql.SQL_DDL_TABLE: True,
        sql.SQL_SCHEMA_TERM: "schema",
        sql.SQL_CATALOG_TERM: "catalog",
        sql.SQL_PROCEDURE_TERM: "procedure",
        sql.SQL_KEYWORDS: [],
        10_000: f"datafusion {datafusion.__version__}",
    }
    return values


def sql_info_table(values: Mapping[int, SqlInfoValue], requested: Iterable[int]) -> pa.Table:
    """The GetSqlInfo result for `requested` ids (empty: all), unknown ids left out."""
    ids = list(requested) or sorted(values)
    ids = [info_id for info_id in ids if info_id in values]
    type_ids: list[int] = []
    offsets: list[int] = []
    children: list[list[SqlInfoValue]] = [[] for _ in range(6)]
    for info_id in ids:
        child = _child_of(values[info_id])
        type_ids.append(child)
        offsets.append(len(children[child]))
        children[child].append(values[info_id])
    union_type = schemas.SQL_INFO_VALUE
    arrays = [pa.array(children[index], type=union_type.field(index).type) for index in range(6)]
    value = pa.UnionArray.from_dense(
        pa.array(type_ids, type=pa.int8()),
        pa.array(offsets, type=pa.int32()),
        arrays,
        [union_type.field(index).name for index in range(6)],
    )
    return pa.Table.from_arrays([pa.array(ids, type=pa.uint32()), value], schema=schemas.SQL_INFO)


def _child_of(value: SqlInfoValue) -> int:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, Bitmask):
        return _BITMASK
    if isinstance(value, int):
        return _BIGINT
    if isinstance(value, str):
        return _STRING
    return _STRING_LIST
