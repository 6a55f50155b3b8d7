"""Flight SQL through the ADBC driver: statements, parameters, metadata, ingest."""

from __future__ import annotations

import warnings

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.parquet
import pytest
from adbc_driver_manager import AdbcStatusCode, Error, ProgrammingError
from datafusion import SessionContext
from datafusion.substrait import Producer

import flightserver
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_queries import SOURCES

NATION = pyarrow.parquet.read_table(DEMO_CATALOG / "data/nation.parquet")


def nation_names(keys: list[int]) -> list[str | None]:
    by_key = dict(zip(NATION["n_nationkey"].to_pylist(), NATION["n_name"].to_pylist(), strict=True))
    return [by_key[key] for key in keys]


def test_question_mark_parameters(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT n_name FROM nation WHERE n_nationkey = ? OR n_name = ? ORDER BY n_name",
            parameters=(5, "PERU"),
        )
        assert cursor.fetch_arrow_table()["n_name"].to_pylist() == sorted(
            map(str, nation_names([5, 17]))
        )
        # customer's Delta provider reads strings as Utf8View; parameters bind all the same.
        cursor.execute("SELECT c_custkey FROM customer WHERE c_name = ?", ("Customer#000000042",))
        assert cursor.fetch_arrow_table()["c_custkey"].to_pylist() == [42]


def test_prepared_statement_re_executes_with_new_parameters(conn: flightsql.Connection) -> None:
    sql = "SELECT n_name FROM nation WHERE n_nationkey = ?"
    with conn.cursor() as cursor:
        cursor.adbc_prepare(sql)
        for key in (0, 7, 24):
            cursor.execute(sql, parameters=(key,))
            assert cursor.fetch_arrow_table()["n_name"].to_pylist() == nation_names([key])


def test_parameter_schema_is_typed_from_the_statement(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        schema = cursor.adbc_prepare(
            "SELECT * FROM customer WHERE c_custkey = ? AND c_name = ? AND c_acctbal > ?"
        )
    assert schema == pa.schema(
        [
            pa.field("$1", pa.int64()),
            pa.field("$2", pa.utf8()),
            pa.field("$3", pa.decimal128(15, 2)),
        ]
    )


def test_ddl_and_dml_take_effect_when_executed(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE adbc_ddl (id BIGINT, label VARCHAR)")
        cursor.execute("INSERT INTO adbc_ddl VALUES (1, 'one'), (2, 'two')")
        assert cursor.rowcount == 2
        cursor.execute("CREATE VIEW adbc_ddl_view AS SELECT label FROM adbc_ddl WHERE id > 1")
    # A second connection sees all of it: nothing waited for a DoGet.
    assert query(conn, "SELECT * FROM adbc_ddl_view").to_pylist() == [{"label": "two"}]
    with conn.cursor() as cursor:
        cursor.execute("DROP VIEW adbc_ddl_view")
        cursor.execute("DROP TABLE adbc_ddl")
    with pytest.raises(ProgrammingError, match="adbc_ddl"):
        query(conn, "SELECT * FROM adbc_ddl")


def test_executemany_runs_once_per_row(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE adbc_many (id INT, label VARCHAR)")
        cursor.executemany("INSERT INTO adbc_many VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "c")])
        assert cursor.rowcount == 3
    result = query(conn, "SELECT id, label FROM adbc_many ORDER BY id")
    assert result.to_pylist() == [
        {"id": 1, "label": "a"},
        {"id": 2, "label": "b"},
        {"id": 3, "label": "c"},
    ]


def test_substrait_plan_bytes_through_execute(conn: flightsql.Connection) -> None:
    # Plan on a client-side DataFusion that knows the same table names.
    local = SessionContext()
    local.register_parquet("nation", str(DEMO_CATALOG / "data/nation.parquet"))
    sql = "SELECT n_regionkey, count(*) AS nations FROM nation GROUP BY n_regionkey"
    plan = Producer.to_substrait_plan(local.sql(sql).logical_plan(), local).encode()
    with conn.cursor() as cursor:
        cursor.execute(plan)
        from_plan = cursor.fetch_arrow_table()
    expected = query(conn, sql)
    assert sorted(from_plan.to_pylist(), key=str) == sorted(expected.to_pylist(), key=str)
    assert from_plan.num_rows == 5


def test_get_info(conn: flightsql.Connection) -> None:
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "flightserver"
    assert info["vendor_version"] == flightserver.__version__
    assert info["vendor_arrow_version"] == pa.__version__


def test_get_table_types(conn: flightsql.Connection) -> None:
    assert conn.adbc_get_table_types() == ["LOCAL TEMPORARY", "TABLE", "VIEW"]


def test_get_table_schema_matches_query_results(conn: flightsql.Connection) -> None:
    for table in SOURCES:
        schema = conn.adbc_get_table_schema(table)
        result = query(conn, f"SELECT * FROM {table} LIMIT 1")
        assert [(f.name, f.type, f.nullable) for f in schema] == [
            (f.name, f.type, f.nullable) for f in result.schema
        ]


def objects(conn: flightsql.Connection, **filters: object) -> list[dict[str, object]]:
    return conn.adbc_get_objects(**filters).read_all().to_pylist()  # type: ignore[arg-type]


def test_get_objects_catalogs(conn: flightsql.Connection) -> None:
    catalogs = objects(conn, depth="catalogs")
    assert [c["catalog_name"] for c in catalogs] == ["datafusion"]
    assert objects(conn, depth="catalogs", catalog_filter="nope%") == []


def test_get_objects_schemas(conn: flightsql.Connection) -> None:
    (catalog,) = objects(conn, depth="db_schemas")
    names = [s["db_schema_name"] for s in catalog["catalog_db_schemas"]]  # type: ignore[union-attr]
    assert names == ["information_schema", "public", "system"]  # system: query history
    (catalog,) = objects(conn, depth="db_schemas", db_schema_filter="pub%")
    assert [s["db_schema_name"] for s in catalog["catalog_db_schemas"]] == ["public"]  # type: ignore[union-attr]


def test_get_objects_tables_and_columns(conn: flightsql.Connection) -> None:
    (catalog,) = objects(conn, depth="tables", db_schema_filter="public", table_name_filter="%ion")
    (schema,) = catalog["catalog_db_schemas"]  # type: ignore[misc]
    assert sorted(t["table_name"] for t in schema["db_schema_tables"]) == ["nation", "region"]
    (catalog,) = objects(conn, depth="all", db_schema_filter="public", table_name_filter="nation")
    ((table,),) = [s["db_schema_tables"] for s in catalog["catalog_db_schemas"]]  # type: ignore[union-attr]
    columns = [
        (c["column_name"], c["ordinal_position"], c["xdbc_type_name"])
        for c in table["table_columns"]
    ]
    assert columns == [
        ("n_nationkey", 1, "BIGINT"),
        ("n_name", 2, "VARCHAR"),
        ("n_regionkey", 3, "BIGINT"),
        ("n_comment", 4, "VARCHAR"),
    ]


def test_execute_partitions(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        partitions, schema = cursor.adbc_execute_partitions(
            "SELECT n_name FROM nation ORDER BY n_name"
        )
        # Native Arrow clients get DataFusion's own types (strings as views).
        assert schema == pa.schema([pa.field("n_name", pa.string_view(), nullable=False)])
        names: list[str | None] = []
        for partition in partitions:
            cursor.adbc_read_partition(partition)
            names += cursor.fetch_arrow_table()["n_name"].to_pylist()
    assert names == sorted(str(name) for name in NATION["n_name"].to_pylist())


def test_default_connection_without_autocommit_runs_queries(server: ServerProcess) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with flightsql.connect(server.uri) as conn:
            assert query(conn, "SELECT count(*) AS n FROM region")["n"].to_pylist() == [5]
    # ADBC warns that it falls back to autocommit, since the server declares no transactions.
    assert any("autocommit" in str(warning.message).lower() for warning in caught)


INGESTED = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})


def test_ingest_modes(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        assert cursor.adbc_ingest("ingested", INGESTED, mode="create") == 3
        with pytest.raises(Error, match="already exists"):
            cursor.adbc_ingest("ingested", INGESTED, mode="create")
        assert cursor.adbc_ingest("ingested", INGESTED.slice(0, 1), mode="append") == 1
        assert query(conn, "SELECT count(*) AS n FROM ingested")["n"].to_pylist() == [4]
        assert cursor.adbc_ingest("ingested", INGESTED.slice(1), mode="replace") == 2
        assert query(conn, "SELECT id FROM ingested ORDER BY id")["id"].to_pylist() == [2, 3]
        assert cursor.adbc_ingest("ingested", INGESTED, mode="create_append") == 3
        assert query(conn, "SELECT count(*) AS n FROM ingested")["n"].to_pylist() == [5]
        assert cursor.adbc_ingest("ingested_new", INGESTED, mode="create_append") == 3
        with pytest.raises(Error) as missing:
            cursor.adbc_ingest("never_created", INGESTED, mode="append")
        assert missing.value.status_code == AdbcStatusCode.NOT_FOUND


def test_ingest_with_wrong_schema_is_rejected_and_commits_nothing(
    conn: flightsql.Connection,
) -> None:
    with conn.cursor() as cursor:
        cursor.adbc_ingest("ingest_checked", INGESTED, mode="create")
        wrong = pa.table({"id": ["not", "a", "number"], "other": [1, 2, 3]})
        with pytest.raises(Error) as raised:
            cursor.adbc_ingest("ingest_checked", wrong, mode="append")
        assert raised.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
    assert query(conn, "SELECT count(*) AS n FROM ingest_checked")["n"].to_pylist() == [3]


def test_ingested_tables_survive_a_restart(tmp_path: object) -> None:
    state = str(tmp_path)
    # Ingest is an INSERT to the policy, which denies DML by default.
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", state, "--policy-allow-dml", "true"]
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
        conn.cursor() as cursor,
    ):
        cursor.adbc_ingest("kept", INGESTED, mode="create")
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        assert query(conn, "SELECT count(*) AS n FROM kept")["n"].to_pylist() == [3]


def test_cancel_stops_a_streaming_query_and_the_server_keeps_serving(
    conn: flightsql.Connection,
) -> None:
    with conn.cursor() as cursor:
        # A hundred million rows: far more than the client reads before cancelling.
        cursor.execute("SELECT value FROM generate_series(1, 100000000)")
        reader = cursor.fetch_record_batch()
        first = reader.read_next_batch()
        assert first.num_rows > 0
        cursor.adbc_cancel()
        # The Go driver reports the cancelled stream as an OSError.
        with pytest.raises((Error, OSError), match=r"(?i)cancel"):
            reader.read_all()
    assert query(conn, "SELECT count(*) AS n FROM region")["n"].to_pylist() == [5]
