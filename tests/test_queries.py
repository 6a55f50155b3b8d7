"""Queries over the demo catalog through a real server and the ADBC driver."""

from __future__ import annotations

from collections import Counter
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest
from adbc_driver_manager import AdbcStatusCode, ProgrammingError
from deltalake import DeltaTable

from tests.clients import query
from tests.conftest import DEMO_CATALOG

DATA = DEMO_CATALOG / "data"
# Each demo table, read straight from its files by another reader.
SOURCES = {
    "region": lambda: pyarrow.csv.read_csv(DATA / "region.csv"),
    "nation": lambda: pyarrow.parquet.read_table(DATA / "nation.parquet"),
    "customer": lambda: DeltaTable(str(DATA / "customer")).to_pyarrow_table(),
}


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows as Python values, ordered by the first column."""
    key = table.column_names[0]
    return sorted(table.to_pylist(), key=lambda row: row[key])


@pytest.mark.parametrize("table", sorted(SOURCES))
def test_demo_table_returns_the_rows_in_its_files(conn: flightsql.Connection, table: str) -> None:
    result = query(conn, f"SELECT * FROM {table}")
    expected = SOURCES[table]()
    assert result.num_rows == expected.num_rows > 0
    assert result.column_names == expected.column_names
    assert rows(result) == rows(expected)


def test_join_across_csv_parquet_and_delta(conn: flightsql.Connection) -> None:
    result = query(
        conn,
        """
        SELECT r_name, count(*) AS customers
        FROM customer
        JOIN nation ON c_nationkey = n_nationkey
        JOIN region ON n_regionkey = r_regionkey
        GROUP BY r_name
        """,
    )
    # The same answer computed in Python from the files themselves.
    region_name = dict(
        zip(
            *SOURCES["region"]().select(["r_regionkey", "r_name"]).to_pydict().values(), strict=True
        )
    )
    nation_region = dict(
        zip(
            *SOURCES["nation"]().select(["n_nationkey", "n_regionkey"]).to_pydict().values(),
            strict=True,
        )
    )
    expected = Counter(
        region_name[nation_region[nation]]
        for nation in SOURCES["customer"]()["c_nationkey"].to_pylist()
    )
    assert dict(zip(*result.to_pydict().values(), strict=True)) == expected


def test_native_clients_get_the_engines_view_types(conn: flightsql.Connection) -> None:
    # customer's Delta provider and arrow_cast produce view types; ADBC reads them as
    # they are (Java clients get classic types: tests/test_jdbc.py).
    result = query(
        conn,
        """
        SELECT c_name, arrow_cast(c_name, 'Utf8View') AS "Cast.View",
               [arrow_cast('x', 'BinaryView')] AS list_of_views, c_custkey
        FROM customer ORDER BY c_custkey LIMIT 2
        """,
    )
    assert result.schema.field("Cast.View").type == pa.string_view()
    assert result.schema.field("list_of_views").type == pa.list_(pa.binary_view())
    assert result.column("c_name").to_pylist() == result.column("Cast.View").to_pylist()
    assert result.column("list_of_views").to_pylist() == [[b"x"], [b"x"]]


def test_sql_error_is_invalid_argument_with_datafusion_message(
    conn: flightsql.Connection,
) -> None:
    with pytest.raises(ProgrammingError) as raised:
        query(conn, "SELECT no_such_column FROM nation")
    assert raised.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
    assert "no_such_column" in str(raised.value)
    assert "InvalidArgument" in str(raised.value)
    # The server keeps serving.
    assert query(conn, "SELECT count(*) AS n FROM nation").column("n").to_pylist() == [25]


def test_unknown_table_is_invalid_argument(conn: flightsql.Connection) -> None:
    with pytest.raises(ProgrammingError) as raised:
        query(conn, "SELECT * FROM no_such_table")
    assert raised.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
    assert "no_such_table" in str(raised.value)


def test_order_by_survives_the_client_type_casts(conn: flightsql.Connection) -> None:
    # For Java clients a view-typed sort key makes the server add a cast projection
    # above the sort, which round-robin repartitioning once scrambled (the JDBC test
    # of it is in tests/test_jdbc.py); native clients get the order as planned.
    sql = """
        SELECT arrow_cast(CAST(value % 97 AS VARCHAR), 'Utf8View') AS k, value
        FROM generate_series(1, 300000) ORDER BY k, value
    """
    for _ in range(3):
        result = query(conn, sql)
        pairs = list(zip(result["k"].to_pylist(), result["value"].to_pylist(), strict=True))
        assert result.schema.field("k").type == pa.string_view()
        assert pairs == sorted(pairs)  # type: ignore[type-var]
