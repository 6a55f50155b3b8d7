"""GetXdbcTypeInfo at the wire: every listed type is creatable, the filter, the order."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from pyarrow import flight

from flightserver.protocol import schemas
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.jdbc.probe import ProbeRunner
from tests.jdbc.toolchain import compile_probe, fetch_driver
from tests.server_process import ServerProcess
from tests.test_jdbc import DRIVER_VERSIONS
from tests.test_protocol_flight import fetch

# What information_schema reports for a column of each listed name through the server (whose
# session maps strings to Utf8, not DataFusion's default Utf8View): written out here so that a
# wrong row in the server's list shows as a difference.
CREATED_AS = {
    "BOOLEAN": "Boolean",
    "BOOL": "Boolean",
    "TINYINT": "Int8",
    "TINYINT UNSIGNED": "UInt8",
    "BIGINT": "Int64",
    "INT8": "Int64",
    "BIGINT UNSIGNED": "UInt64",
    "INT8 UNSIGNED": "UInt64",
    "BYTEA": "Binary",
    "DECIMAL": "Decimal128(38, 10)",
    "NUMERIC": "Decimal128(38, 10)",
    "INTEGER": "Int32",
    "INT": "Int32",
    "INT4": "Int32",
    "INTEGER UNSIGNED": "UInt32",
    "INT UNSIGNED": "UInt32",
    "INT4 UNSIGNED": "UInt32",
    "SMALLINT": "Int16",
    "INT2": "Int16",
    "SMALLINT UNSIGNED": "UInt16",
    "INT2 UNSIGNED": "UInt16",
    "REAL": "Float32",
    "FLOAT": "Float32",
    "FLOAT4": "Float32",
    "DOUBLE": "Float64",
    "DOUBLE PRECISION": "Float64",
    "FLOAT8": "Float64",
    "INTERVAL": "Interval(MonthDayNano)",
    "VARCHAR": "Utf8",
    "CHAR": "Utf8",
    "TEXT": "Utf8",
    "STRING": "Utf8",
    "DATE": "Date32",
    "TIME": "Time64(ns)",
    "TIMESTAMP": "Timestamp(ns)",
}


@pytest.fixture
def client(server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.connect(server.uri) as connection:
        yield connection


def type_info(client: flight.FlightClient, data_type: int | None = None) -> pa.Table:
    command = sql.CommandGetXdbcTypeInfo()
    if data_type is not None:
        command.data_type = data_type
    info, table = fetch(client, command)
    assert info.schema.equals(schemas.XDBC_TYPE_INFO)
    return table


def run(client: flight.FlightClient, query: str) -> pa.Table:
    return fetch(client, sql.CommandStatementQuery(query=query))[1]


def test_every_listed_type_creates_a_column_of_that_type(client: flight.FlightClient) -> None:
    rows = type_info(client).to_pylist()
    names = [row["type_name"] for row in rows]
    assert sorted(names) == sorted(CREATED_AS)
    columns = ", ".join(f'"c{i}" {name}' for i, name in enumerate(names))
    run(client, f"CREATE TABLE xdbc_every_type ({columns})")
    created = run(
        client,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'xdbc_every_type' ORDER BY ordinal_position",
    ).to_pylist()
    assert {names[int(row["column_name"][1:])]: row["data_type"] for row in created} == CREATED_AS
    run(client, "DROP TABLE xdbc_every_type")


def test_create_params_are_accepted_as_listed(client: flight.FlightClient) -> None:
    params = {row["type_name"]: row["create_params"] for row in type_info(client).to_pylist()}
    assert params["DECIMAL"] == ["precision", "scale"]
    assert params["TIMESTAMP"] == ["precision"]
    run(client, "CREATE TABLE xdbc_params (d DECIMAL(76, -76), t TIMESTAMP(3))")
    created = run(
        client,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'xdbc_params' ORDER BY ordinal_position",
    )
    assert created["data_type"].to_pylist() == ["Decimal256(76, -76)", "Timestamp(ms)"]
    run(client, "DROP TABLE xdbc_params")


def test_rows_are_ordered_by_data_type_then_closeness(client: flight.FlightClient) -> None:
    rows = type_info(client).to_pylist()
    codes = [row["data_type"] for row in rows]
    assert codes == sorted(codes)
    # Within a code the standard name comes first, DataFusion's aliases after it.
    firsts = {row["data_type"]: row["type_name"] for row in reversed(rows)}
    assert firsts[sql.XDBC_INTEGER] == "INTEGER"
    assert firsts[sql.XDBC_VARCHAR] == "VARCHAR"
    assert firsts[sql.XDBC_REAL] == "REAL"
    assert firsts[sql.XDBC_BIT] == "BOOLEAN"


def test_filter_by_data_type(client: flight.FlightClient) -> None:
    integers = type_info(client, sql.XDBC_INTEGER)
    assert integers["type_name"].to_pylist() == [
        "INTEGER",
        "INT",
        "INT4",
        "INTEGER UNSIGNED",
        "INT UNSIGNED",
        "INT4 UNSIGNED",
    ]
    assert type_info(client, sql.XDBC_DOUBLE)["type_name"].to_pylist() == [
        "DOUBLE",
        "DOUBLE PRECISION",
        "FLOAT8",
    ]
    # JDBC's FLOAT code: DataFusion's FLOAT is 32-bit, listed as REAL, so nothing here.
    assert type_info(client, sql.XDBC_FLOAT).num_rows == 0


def test_columns_describe_each_type(client: flight.FlightClient) -> None:
    rows = {row["type_name"]: row for row in type_info(client).to_pylist()}
    assert all(row["local_type_name"] == name for name, row in rows.items())
    assert all(row["nullable"] == sql.NULLABILITY_NULLABLE for row in rows.values())
    assert rows["BIGINT UNSIGNED"]["unsigned_attribute"] is True
    assert rows["BIGINT UNSIGNED"]["column_size"] == 20
    assert rows["BIGINT"]["unsigned_attribute"] is False
    assert (rows["DOUBLE"]["column_size"], rows["DOUBLE"]["num_prec_radix"]) == (53, 2)
    assert (rows["DECIMAL"]["column_size"], rows["DECIMAL"]["num_prec_radix"]) == (76, 10)
    assert rows["VARCHAR"]["case_sensitive"] is True
    assert rows["VARCHAR"]["searchable"] == sql.SEARCHABLE_FULL
    assert rows["INTEGER"]["case_sensitive"] is False
    assert rows["VARCHAR"]["unsigned_attribute"] is None
    date = rows["DATE"]
    assert (date["sql_data_type"], date["datetime_subcode"]) == (
        sql.XDBC_DATETIME,
        sql.XDBC_SUBCODE_DATE,
    )
    assert rows["INTEGER"]["sql_data_type"] == sql.XDBC_INTEGER
    assert rows["INTEGER"]["datetime_subcode"] is None


def test_literal_prefixes_make_literals_of_the_type(client: flight.FlightClient) -> None:
    # Each listed prefix/suffix around a value is a literal DataFusion reads as that type.
    rows = {row["type_name"]: row for row in type_info(client).to_pylist()}
    values = {
        "VARCHAR": "x",
        "BYTEA": "0102",
        "DATE": "2020-01-02",
        "TIME": "01:02:03",
        "TIMESTAMP": "2020-01-02 03:04:05",
        "INTERVAL": "1 day",
    }
    literals = [
        f"arrow_typeof({rows[name]['literal_prefix']}{value}{rows[name]['literal_suffix']})"
        f' AS "{name}"'
        for name, value in values.items()
    ]
    typed = run(client, "SELECT " + ", ".join(literals)).to_pylist()[0]
    assert typed == {
        "VARCHAR": "Utf8",
        "BYTEA": "Binary",
        "DATE": "Date32",
        "TIME": "Time64(ns)",
        "TIMESTAMP": "Timestamp(ns)",
        "INTERVAL": "Interval(MonthDayNano)",
    }
    # Numbers and booleans are written bare.
    assert {name for name, row in rows.items() if row["literal_prefix"] is None} == {
        name
        for name, row in rows.items()
        if row["num_prec_radix"] is not None or row["data_type"] == sql.XDBC_BIT
    }


# -- the JDBC driver ----------------------------------------------------------------------

# java.sql.DatabaseMetaData.getTypeInfo's columns, as the JDBC specification names them.
JDBC_TYPE_INFO_COLUMNS = [
    "TYPE_NAME",
    "DATA_TYPE",
    "PRECISION",
    "LITERAL_PREFIX",
    "LITERAL_SUFFIX",
    "CREATE_PARAMS",
    "NULLABLE",
    "CASE_SENSITIVE",
    "SEARCHABLE",
    "UNSIGNED_ATTRIBUTE",
    "FIXED_PREC_SCALE",
    "AUTO_INCREMENT",
    "LOCAL_TYPE_NAME",
    "MINIMUM_SCALE",
    "MAXIMUM_SCALE",
    "SQL_DATA_TYPE",
    "SQL_DATETIME_SUB",
    "NUM_PREC_RADIX",
]


@pytest.mark.parametrize("version", DRIVER_VERSIONS)
def test_jdbc_driver_answers_get_type_info_without_the_server(
    server: ServerProcess, client: flight.FlightClient, version: str
) -> None:
    # Driver 18.3.0 does not implement getTypeInfo: its ArrowDatabaseMetadata inherits
    # Avatica's, whose MetaImpl answers an empty result without a call (docs/conformance.md).
    # When a driver starts asking the server, the rows appear here and this test must change.
    assert type_info(client).num_rows > 0
    runner = ProbeRunner(fetch_driver(version), compile_probe(), server.port)
    listed = runner.run("typeinfo").table("getTypeInfo")
    assert listed.names == JDBC_TYPE_INFO_COLUMNS
    assert listed.raw_rows == []
