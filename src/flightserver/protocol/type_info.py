"""The rows of GetXdbcTypeInfo: every type name DataFusion 55 accepts in CREATE TABLE.

Each name here was checked against DataFusion 55 (`CREATE TABLE t (c NAME)`), and
tests/test_type_info.py creates a table with every one of them through the server. Names it
accepts but that would mislead are left out, see docs/conformance.md: TIMESTAMP WITH TIME ZONE
and TIMESTAMPTZ make a timestamp without a time zone unless the session has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flightserver.protocol.generated import flight_sql_pb2 as sql

_QUOTE = "'"


@dataclass(frozen=True)
class TypeInfo:
    name: str
    xdbc: int  # XdbcDataType
    column_size: int | None = None  # digits for numbers (bits when radix 2), characters otherwise
    radix: int | None = None  # set for numbers only
    unsigned: bool | None = None  # set for numbers only
    literal_prefix: str | None = None
    literal_suffix: str | None = None
    create_params: tuple[str, ...] | None = None
    case_sensitive: bool = False
    searchable: int = sql.SEARCHABLE_BASIC
    minimum_scale: int | None = None
    maximum_scale: int | None = None
    datetime_subcode: int | None = None

    @property
    def sql_data_type(self) -> int:
        # ODBC's SQL_DATA_TYPE: the date/time types share one code and differ by subcode.
        return sql.XDBC_DATETIME if self.datetime_subcode is not None else self.xdbc


def _integer(name: str, xdbc: int, digits: int, unsigned: bool = False) -> TypeInfo:
    return TypeInfo(name, xdbc, digits, radix=10, unsigned=unsigned)


def _float(name: str, xdbc: int, bits: int) -> TypeInfo:
    return TypeInfo(name, xdbc, bits, radix=2, unsigned=False)


def _string(name: str) -> TypeInfo:
    # The length in VARCHAR(n) / CHAR(n) is accepted and ignored (the column is an unbounded
    # string, not padded), so no size and no create parameter is offered. CHAR is listed as
    # VARCHAR because that is what the column is.
    return TypeInfo(
        name,
        sql.XDBC_VARCHAR,
        literal_prefix=_QUOTE,
        literal_suffix=_QUOTE,
        case_sensitive=True,
        searchable=sql.SEARCHABLE_FULL,
    )


def _decimal(name: str) -> TypeInfo:
    # DataFusion takes 0 < precision <= 76 (Decimal256 above 38), -precision <= scale <= precision.
    return TypeInfo(
        name,
        sql.XDBC_DECIMAL,
        76,
        radix=10,
        unsigned=False,
        create_params=("precision", "scale"),
        minimum_scale=-76,
        maximum_scale=76,
    )


def _timestamp(name: str) -> TypeInfo:
    # TIMESTAMP(p) takes p in 0, 3, 6, 9 (seconds to nanoseconds); plain TIMESTAMP is nanoseconds,
    # so the widest text is 'YYYY-MM-DD HH:MM:SS.fffffffff', 29 characters.
    return TypeInfo(
        name,
        sql.XDBC_TIMESTAMP,
        29,
        literal_prefix="TIMESTAMP '",
        literal_suffix=_QUOTE,
        create_params=("precision",),
        minimum_scale=0,
        maximum_scale=9,
        datetime_subcode=sql.XDBC_SUBCODE_TIMESTAMP,
    )


# Ordered as JDBC's getTypeInfo asks: by data type code, then the name that maps most closely
# first (the standard name before DataFusion's aliases of it).
TYPE_INFO: tuple[TypeInfo, ...] = tuple(
    sorted(
        [
            TypeInfo("BOOLEAN", sql.XDBC_BIT, 1),
            TypeInfo("BOOL", sql.XDBC_BIT, 1),
            _integer("TINYINT", sql.XDBC_TINYINT, 3),
            _integer("TINYINT UNSIGNED", sql.XDBC_TINYINT, 3, unsigned=True),
            _integer("BIGINT", sql.XDBC_BIGINT, 19),
            _integer("INT8", sql.XDBC_BIGINT, 19),
            _integer("BIGINT UNSIGNED", sql.XDBC_BIGINT, 20, unsigned=True),
            _integer("INT8 UNSIGNED", sql.XDBC_BIGINT, 20, unsigned=True),
            TypeInfo(
                "BYTEA",
                sql.XDBC_VARBINARY,
                literal_prefix="X'",
                literal_suffix=_QUOTE,
            ),
            _decimal("DECIMAL"),
            _decimal("NUMERIC"),
            _integer("INTEGER", sql.XDBC_INTEGER, 10),
            _integer("INT", sql.XDBC_INTEGER, 10),
            _integer("INT4", sql.XDBC_INTEGER, 10),
            _integer("INTEGER UNSIGNED", sql.XDBC_INTEGER, 10, unsigned=True),
            _integer("INT UNSIGNED", sql.XDBC_INTEGER, 10, unsigned=True),
            _integer("INT4 UNSIGNED", sql.XDBC_INTEGER, 10, unsigned=True),
            _integer("SMALLINT", sql.XDBC_SMALLINT, 5),
            _integer("INT2", sql.XDBC_SMALLINT, 5),
            _integer("SMALLINT UNSIGNED", sql.XDBC_SMALLINT, 5, unsigned=True),
            _integer("INT2 UNSIGNED", sql.XDBC_SMALLINT, 5, unsigned=True),
            # FLOAT is 32-bit in DataFusion, so it is a REAL, not JDBC's double-width FLOAT.
            _float("REAL", sql.XDBC_REAL, 24),
            _float("FLOAT", sql.XDBC_REAL, 24),
            _float("FLOAT4", sql.XDBC_REAL, 24),
            _float("DOUBLE", sql.XDBC_DOUBLE, 53),
            _float("DOUBLE PRECISION", sql.XDBC_DOUBLE, 53),
            _float("FLOAT8", sql.XDBC_DOUBLE, 53),
            TypeInfo(
                "INTERVAL",
                sql.XDBC_INTERVAL,
                literal_prefix="INTERVAL '",
                literal_suffix=_QUOTE,
            ),
            _string("VARCHAR"),
            _string("CHAR"),
            _string("TEXT"),
            _string("STRING"),
            TypeInfo(
                "DATE",
                sql.XDBC_DATE,
                10,
                literal_prefix="DATE '",
                literal_suffix=_QUOTE,
                datetime_subcode=sql.XDBC_SUBCODE_DATE,
            ),
            # TIME is nanoseconds: 'HH:MM:SS.fffffffff'; TIME(p) is not accepted.
            TypeInfo(
                "TIME",
                sql.XDBC_TIME,
                18,
                literal_prefix="TIME '",
                literal_suffix=_QUOTE,
                datetime_subcode=sql.XDBC_SUBCODE_TIME,
            ),
            _timestamp("TIMESTAMP"),
        ],
        key=lambda info: info.xdbc,  # stable: keeps the closeness order within a code
    )
)
