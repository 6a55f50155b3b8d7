"""CommandGetSqlInfo: what the server tells drivers about itself.

Each id carries the value kind the drivers cast it to (the JDBC driver throws
on a wrong union child): strings, booleans, int64, int32 (bitmasks and
ordinals), string lists, and the int32 -> list<int32> map.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa

from flightserver import __version__
from flightserver.protocol import schemas
from flightserver.protocol.generated import flight_sql_pb2 as sql


class Int32(int):
    """An int32 value (union child 3: bitmasks, ordinals) rather than an int64 (child 2)."""


SqlInfoValue = str | bool | int | Int32 | list[str] | dict[int, list[int]]

# Union children, in the order of schemas.SQL_INFO_VALUE.
_STRING, _BOOL, _BIGINT, _INT32, _STRING_LIST, _INT32_MAP = range(6)


def _bits(*positions: int) -> Int32:
    return Int32(sum(1 << position for position in positions))


# DataFusion-specific words beyond SQL:2003 (JDBC getSQLKeywords).
KEYWORDS = [
    "ANALYZE", "ARROW", "AVRO", "COPY", "CSV", "DESCRIBE", "EXPLAIN", "EXTERNAL", "FORMAT",
    "JSON", "LOCATION", "NDJSON", "OPTIONS", "PARQUET", "PARTITIONED", "QUALIFY", "SHOW",
    "STORED", "UNBOUNDED", "UNNEST", "VERBOSE",
]  # fmt: skip

# Function families as ODBC names them; each list is filtered to what this
# DataFusion actually provides (information_schema.routines).
_FUNCTION_FAMILIES = {
    sql.SQL_NUMERIC_FUNCTIONS: [
        "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "cos", "cot", "degrees", "exp",
        "floor", "ln", "log", "log10", "log2", "mod", "pi", "power", "radians", "random",
        "round", "signum", "sin", "sqrt", "tan", "trunc",
    ],
    sql.SQL_STRING_FUNCTIONS: [
        "ascii", "btrim", "char_length", "chr", "concat", "concat_ws", "initcap", "left",
        "length", "lower", "lpad", "ltrim", "octet_length", "regexp_replace", "repeat",
        "replace", "reverse", "right", "rpad", "rtrim", "split_part", "starts_with", "strpos",
        "substr", "substring", "to_hex", "translate", "trim", "upper",
    ],
    sql.SQL_SYSTEM_FUNCTIONS: [
        "arrow_cast", "arrow_typeof", "coalesce", "nullif", "nvl", "version",
    ],
    sql.SQL_DATETIME_FUNCTIONS: [
        "current_date", "current_time", "date_bin", "date_part", "date_trunc", "extract",
        "from_unixtime", "make_date", "now", "to_char", "to_date", "to_timestamp",
        "to_unixtime",
    ],
}  # fmt: skip


def server_sql_info(
    available_functions: Iterable[str], substrait_version: str
) -> dict[int, SqlInfoValue]:
    """The values this server reports, by SqlInfo id."""
    functions = set(available_functions)
    families: dict[int, SqlInfoValue] = {
        info_id: [name.upper() for name in names if name in functions]
        for info_id, names in _FUNCTION_FAMILIES.items()
    }
    return {
        # Server
        sql.FLIGHT_SQL_SERVER_NAME: "flightserver",
        sql.FLIGHT_SQL_SERVER_VERSION: __version__,
        sql.FLIGHT_SQL_SERVER_ARROW_VERSION: pa.__version__,
        sql.FLIGHT_SQL_SERVER_READ_ONLY: False,
        sql.FLIGHT_SQL_SERVER_SQL: True,
        sql.FLIGHT_SQL_SERVER_SUBSTRAIT: True,
        sql.FLIGHT_SQL_SERVER_SUBSTRAIT_MIN_VERSION: substrait_version,
        sql.FLIGHT_SQL_SERVER_SUBSTRAIT_MAX_VERSION: substrait_version,
        # No Flight SQL transactions: ADBC then runs in autocommit without errors.
        sql.FLIGHT_SQL_SERVER_TRANSACTION: Int32(sql.SQL_SUPPORTED_TRANSACTION_NONE),
        sql.FLIGHT_SQL_SERVER_CANCEL: True,
        sql.FLIGHT_SQL_SERVER_BULK_INGESTION: True,
        sql.FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED: False,
        sql.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: Int32(0),
        sql.FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: Int32(0),
        # SQL syntax
        sql.SQL_DDL_CATALOG: True,
        sql.SQL_DDL_SCHEMA: True,
        sql.SQL_DDL_TABLE: True,
        # Unquoted identifiers are folded to lower case; quoted ones kept as written.
        sql.SQL_IDENTIFIER_CASE: Int32(sql.SQL_CASE_SENSITIVITY_LOWERCASE),
        sql.SQL_IDENTIFIER_QUOTE_CHAR: '"',
        sql.SQL_QUOTED_IDENTIFIER_CASE: Int32(sql.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE),
        sql.SQL_ALL_TABLES_ARE_SELECTABLE: True,
        sql.SQL_NULL_ORDERING: Int32(sql.SQL_NULLS_SORTED_HIGH),
        sql.SQL_KEYWORDS: KEYWORDS,
        **families,
        sql.SQL_SEARCH_STRING_ESCAPE: "\\",
        sql.SQL_EXTRA_NAME_CHARACTERS: "",
        sql.SQL_SUPPORTS_COLUMN_ALIASING: True,
        sql.SQL_NULL_PLUS_NULL_IS_NULL: True,
        sql.SQL_SUPPORTS_CONVERT: {},
        sql.SQL_SUPPORTS_TABLE_CORRELATION_NAMES: True,
        sql.SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES: False,
        sql.SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY: True,
        sql.SQL_SUPPORTS_ORDER_BY_UNRELATED: True,
        sql.SQL_SUPPORTED_GROUP_BY: _bits(sql.SQL_GROUP_BY_UNRELATED),
        sql.SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE: True,
        sql.SQL_SUPPORTS_NON_NULLABLE_COLUMNS: True,
        sql.SQL_SUPPORTED_GRAMMAR: _bits(sql.SQL_MINIMUM_GRAMMAR, sql.SQL_CORE_GRAMMAR),
        sql.SQL_ANSI92_SUPPORTED_LEVEL: _bits(sql.ANSI92_ENTRY_SQL),
        sql.SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY: False,
        sql.SQL_OUTER_JOINS_SUPPORT_LEVEL: Int32(sql.SQL_FULL_OUTER_JOINS),
        sql.SQL_SCHEMA_TERM: "schema",
        sql.SQL_PROCEDURE_TERM: "procedure",
        sql.SQL_CATALOG_TERM: "catalog",
        sql.SQL_CATALOG_AT_START: True,
        sql.SQL_SCHEMAS_SUPPORTED_ACTIONS: _bits(),
        sql.SQL_CATALOGS_SUPPORTED_ACTIONS: _bits(),
        sql.SQL_SUPPORTED_POSITIONED_COMMANDS: _bits(),
        sql.SQL_SELECT_FOR_UPDATE_SUPPORTED: False,
        sql.SQL_STORED_PROCEDURES_SUPPORTED: False,
        sql.SQL_SUPPORTED_SUBQUERIES: _bits(
            sql.SQL_SUBQUERIES_IN_COMPARISONS,
            sql.SQL_SUBQUERIES_IN_EXISTS,
            sql.SQL_SUBQUERIES_IN_INS,
            sql.SQL_SUBQUERIES_IN_QUANTIFIEDS,
        ),
        sql.SQL_CORRELATED_SUBQUERIES_SUPPORTED: True,
        sql.SQL_SUPPORTED_UNIONS: _bits(sql.SQL_UNION, sql.SQL_UNION_ALL),
        # Limits: 0 means no known limit.
        **{
            info_id: 0
            for info_id in range(sql.SQL_MAX_BINARY_LITERAL_LENGTH, sql.SQL_MAX_USERNAME_LENGTH + 1)
            if info_id != sql.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS
        },
        sql.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS: False,
        sql.SQL_DEFAULT_TRANSACTION_ISOLATION: sql.SQL_TRANSACTION_NONE,
        sql.SQL_TRANSACTIONS_SUPPORTED: False,
        sql.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS: _bits(),
        sql.SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT: False,
        sql.SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED: False,
        sql.SQL_SUPPORTED_RESULT_SET_TYPES: _bits(sql.SQL_RESULT_SET_TYPE_FORWARD_ONLY),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED: _bits(),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY: _bits(
            sql.SQL_RESULT_SET_CONCURRENCY_READ_ONLY
        ),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE: _bits(),
        sql.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE: _bits(),
        sql.SQL_BATCH_UPDATES_SUPPORTED: True,
        sql.SQL_SAVEPOINTS_SUPPORTED: False,
        sql.SQL_NAMED_PARAMETERS_SUPPORTED: False,
        sql.SQL_LOCATORS_UPDATE_COPY: False,
        sql.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED: False,
        # No ids of our own (10,000 and above): the JDBC driver 18.x fails on
        # any id its SqlInfo enum does not know.
    }


def sql_info_table(values: Mapping[int, SqlInfoValue], requested: Iterable[int]) -> pa.Table:
    """The GetSqlInfo result for `requested` ids (empty: all); unknown ids are left out."""
    ids = [info_id for info_id in (list(requested) or sorted(values)) if info_id in values]
    type_ids: list[int] = []
    offsets: list[int] = []
    children: list[list[SqlInfoValue]] = [[] for _ in range(6)]
    for info_id in ids:
        child = _child_of(values[info_id])
        type_ids.append(child)
        offsets.append(len(children[child]))
        children[child].append(values[info_id])
    union_type = schemas.SQL_INFO_VALUE
    fields = [union_type.field(index) for index in range(6)]
    arrays = [
        pa.array(
            [
                list(value.items()) if isinstance(value, dict) else value
                for value in children[index]
            ],
            type=fields[index].type,
        )
        for index in range(6)
    ]
    value = pa.UnionArray.from_dense(
        pa.array(type_ids, type=pa.int8()),
        pa.array(offsets, type=pa.int32()),
        arrays,
        [field.name for field in fields],
    )
    return pa.Table.from_arrays([pa.array(ids, type=pa.uint32()), value], schema=schemas.SQL_INFO)


def _child_of(value: SqlInfoValue) -> int:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, Int32):
        return _INT32
    if isinstance(value, int):
        return _BIGINT
    if isinstance(value, str):
        return _STRING
    if isinstance(value, dict):
        return _INT32_MAP
    return _STRING_LIST
