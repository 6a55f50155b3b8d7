"""Queries the engine runs must run through the server the same (issue 14's failures).

Expectations come from the `datafusion` wheel in process over the same data
files, or from the data itself; the server is a real process, the client ADBC.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from datafusion import SessionContext

from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess

NATION = DEMO_CATALOG / "data" / "nation.parquet"

GROUPING_QUERIES = [
    "SELECT n_regionkey, count(*) AS n FROM nation GROUP BY ROLLUP (n_regionkey)",
    "SELECT n_regionkey, n_nationkey % 2 AS odd, count(*) AS n, grouping(n_regionkey) AS g"
    " FROM nation GROUP BY CUBE (n_regionkey, n_nationkey % 2)",
    "SELECT n_regionkey, n_nationkey % 3 AS m, sum(n_nationkey) AS s FROM nation"
    " GROUP BY GROUPING SETS ((n_regionkey), (n_nationkey % 3), ())",
]


def in_process(sql: str) -> list[dict[str, object]]:
    ctx = SessionContext()
    ctx.register_parquet("nation", str(NATION))
    return sorted_rows(ctx.sql(sql).to_arrow_table())


def sorted_rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(
        table.to_pylist(), key=lambda row: [(value is None, str(value)) for value in row.values()]
    )


@pytest.mark.parametrize("sql", GROUPING_QUERIES)
def test_grouping_sets_run_as_in_process(conn: flightsql.Connection, sql: str) -> None:
    assert sorted_rows(query(conn, sql)) == in_process(sql)


def test_grouping_sets_run_as_prepared_statements_with_parameters(
    conn: flightsql.Connection,
) -> None:
    sql = (
        "SELECT n_regionkey, count(*) AS n FROM nation WHERE n_nationkey >= ?"
        " GROUP BY ROLLUP (n_regionkey)"
    )
    with conn.cursor() as cursor:
        cursor.execute(sql, parameters=(10,))
        got = sorted_rows(cursor.fetch_arrow_table())
    assert got == in_process(sql.replace("?", "10"))


# -- system tables ---------------------------------------------------------------------

SYSTEM_TABLES = ["system.constraints", "system.maintenance", "system.queries"]
SHAPES = [
    "SELECT count(*) AS n FROM {table}",
    "SELECT * FROM {table} LIMIT 3",
    "SELECT * FROM {table} ORDER BY 1",
    "SELECT count(DISTINCT {column}) AS n FROM {table}",
    "SELECT {column}, count(*) AS n FROM {table} GROUP BY {column}",
]


@pytest.fixture(scope="module")
def without_round_robin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with no declared constraints (system.constraints is empty), whose
    sessions may turn round-robin repartitioning off: then nothing repairs a table
    without partitions, as it did when the server turned it off everywhere."""
    state = tmp_path_factory.mktemp("parity-state")
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state)]
    with ServerProcess.start([*args, "--policy-allow-session", "true"]) as process:
        yield process


@pytest.mark.parametrize("table", SYSTEM_TABLES)
@pytest.mark.parametrize("shape", SHAPES)
def test_system_tables_answer_every_query_shape(
    without_round_robin: ServerProcess, table: str, shape: str
) -> None:
    with flightsql.connect(without_round_robin.uri, autocommit=True) as conn:
        query(conn, "SET datafusion.optimizer.enable_round_robin_repartition = false")
        column = query(conn, f"SELECT * FROM {table} LIMIT 0").column_names[0]
        result = query(conn, shape.format(table=table, column=f'"{column}"'))
        if shape.startswith("SELECT count(*)"):
            expected = query(conn, f"SELECT * FROM {table}").num_rows
            assert result.to_pylist() == [{"n": expected}]
        assert result.num_columns >= 1


# -- parameters --------------------------------------------------------------------------


def prepared_parameter_schema(conn: flightsql.Connection, sql: str) -> pa.Schema:
    with conn.cursor() as cursor:
        schema = cursor.adbc_prepare(sql)
    assert schema is not None
    return schema


def test_an_untyped_parameter_takes_the_type_the_client_bound(
    conn: flightsql.Connection,
) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SELECT ? AS v", parameters=(0,))
        result = cursor.fetch_arrow_table()
    assert result.column("v").type == pa.int64()
    assert result.to_pylist() == [{"v": 0}]
    with conn.cursor() as cursor:
        cursor.execute("SELECT ? AS v", parameters=("zero",))
        assert cursor.fetch_arrow_table().to_pylist() == [{"v": "zero"}]


@pytest.mark.parametrize(
    ("sql", "types"),
    [
        ("SELECT CAST(? AS BIGINT) + 1 AS v", [pa.int64()]),
        ("SELECT TRY_CAST(? AS DATE) AS v", [pa.date32()]),
        ("SELECT CAST(? AS DECIMAL(10, 2)) AS v", [pa.decimal128(10, 2)]),
        ("SELECT n_name FROM nation ORDER BY n_nationkey LIMIT ? OFFSET ?", [pa.int64()] * 2),
        ("SELECT n_name FROM nation WHERE n_nationkey IN (?, ?)", [pa.int64()] * 2),
        ("SELECT n_name FROM nation WHERE n_nationkey + 1 > ?", [pa.int64()]),
    ],
)
def test_parameter_types_are_inferred_from_their_use(
    conn: flightsql.Connection, sql: str, types: list[pa.DataType]
) -> None:
    schema = prepared_parameter_schema(conn, sql)
    assert schema.types == types


def test_cast_parameters_bind_and_compute(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SELECT CAST(? AS BIGINT) + 1 AS v", parameters=(41,))
        assert cursor.fetch_arrow_table().to_pylist() == [{"v": 42}]
        cursor.execute(
            "SELECT n_name FROM nation ORDER BY n_nationkey LIMIT ? OFFSET ?", parameters=(2, 1)
        )
        assert cursor.fetch_arrow_table().column("n_name").to_pylist() == [
            "ARGENTINA",
            "BRAZIL",
        ]


def test_insert_parameters_take_the_target_columns_types(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE parity_insert (id BIGINT, day DATE, amount DOUBLE)")
    sql = "INSERT INTO parity_insert VALUES (?, ?, ?)"
    assert prepared_parameter_schema(conn, sql).types == [pa.int64(), pa.date32(), pa.float64()]
    with conn.cursor() as cursor:
        cursor.execute(sql, parameters=(1, datetime.date(2026, 12, 3), 2.5))
        assert cursor.rowcount == 1
    rows = query(conn, "SELECT * FROM parity_insert").to_pylist()
    assert rows == [{"id": 1, "day": datetime.date(2026, 12, 3), "amount": 2.5}]


@pytest.mark.parametrize(
    ("sql", "bound", "expected"),
    [
        # One signature (Utf8): the parameter is announced as a string.
        ("SELECT upper(?) AS v", "abc", "ABC"),
        # Several signatures: the type the client bound picks one, as in process.
        ("SELECT abs(?) AS v", -3, 3),
        ("SELECT abs(?) AS v", -2.5, 2.5),
        ("SELECT round(?, 1) AS v", 2.25, 2.3),
    ],
)
def test_function_arguments_take_the_type_the_client_bound(
    conn: flightsql.Connection, sql: str, bound: object, expected: object
) -> None:
    with conn.cursor() as cursor:
        cursor.execute(sql, parameters=(bound,))
        assert cursor.fetch_arrow_table().to_pylist() == [{"v": expected}]


# -- result types ------------------------------------------------------------------------


def test_native_clients_get_datafusions_types(conn: flightsql.Connection) -> None:
    sql = (
        "SELECT CAST(7 AS INT UNSIGNED) AS u,"
        " arrow_cast(0, 'Timestamp(Second, Some(\"+05:00\"))') AS zoned,"
        " arrow_cast('a', 'Dictionary(Int32, Utf8)') AS dictionary"
    )
    result = query(conn, sql)
    assert result.schema.types == [pa.uint32(), pa.timestamp("s", "+05:00"), pa.utf8()]
    assert result.column("u").to_pylist() == [7]
    assert result.column("zoned").cast(pa.int64()).to_pylist() == [0]
    assert result.column("dictionary").to_pylist() == ["a"]


# A UNION's inputs are coerced to one type by DataFusion's analyzer; the plan
# before it says the first input's type. The server announced that and relabelled
# (cast) every batch to it.
UNION_COERCION_QUERIES = [
    # List(UInt8) and List(Int8) meet at List(Int16): -2 does not fit the first input's type.
    "SELECT make_array(arrow_cast(2, 'UInt8')) AS x"
    " UNION ALL SELECT make_array(arrow_cast(-2, 'Int8')) AS x",
    # Seconds and milliseconds meet at milliseconds: .123 s would be lost.
    "SELECT ts FROM (SELECT arrow_cast(TIMESTAMP '2024-01-01 00:00:00', 'Timestamp(Second, None)')"
    " AS ts UNION ALL SELECT arrow_cast(TIMESTAMP '2024-01-01 00:00:00.123',"
    " 'Timestamp(Millisecond, None)') AS ts)",
    # Float64 and Utf8 meet at Utf8; the dictionary column makes the server add its
    # decoding projection, which was typed by the first input (Float64).
    "SELECT arrow_cast('a', 'Dictionary(Int32, Utf8)') AS tag, 32.0 AS value"
    " UNION ALL SELECT arrow_cast('b', 'Dictionary(Int32, Utf8)') AS tag, 'foo' AS value",
]


@pytest.mark.parametrize("sql", UNION_COERCION_QUERIES)
def test_union_results_take_the_coerced_type(conn: flightsql.Connection, sql: str) -> None:
    expected = SessionContext().sql(sql).to_arrow_table()
    got = query(conn, sql)
    decoded = [
        field.type.value_type if isinstance(field.type, pa.DictionaryType) else field.type
        for field in expected.schema
    ]
    assert got.schema.types == decoded
    assert sorted_rows(got) == sorted_rows(expected)


def test_sql_prepare_and_execute_run_as_in_process(without_round_robin: ServerProcess) -> None:
    with flightsql.connect(without_round_robin.uri, autocommit=True) as conn:
        query(conn, "PREPARE add_one(INT) AS SELECT $1 + 1 AS v")
        assert query(conn, "EXECUTE add_one(41)").to_pylist() == [{"v": 42}]
