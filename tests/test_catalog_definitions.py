"""Table definitions end to end: every format, declared schemas, partitioned,
ordered and unbounded tables, several catalogs and schemas in Flight SQL
metadata and information_schema, and autoload folders; through a real server
and ADBC."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest

from tests.catalog_files import (
    PEOPLE,
    declare_autoload,
    define,
    write_arrow,
    write_avro,
    write_csv,
    write_ndjson,
    write_parquet,
)
from tests.server_process import ServerProcess

SALES_YEARS = (2023, 2024, 2025)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    data = root / "data"
    write_parquet(data / "people.parquet")
    write_csv(data / "people.csv", delimiter=";")
    write_ndjson(data / "people.json")
    write_arrow(data / "people.arrow")
    write_avro(data / "people.avro")
    for year in SALES_YEARS:
        for part in range(2):
            write_parquet(
                data / "sales" / f"year={year}" / f"part-{part}.parquet",
                pa.table({"id": pa.array([year * 10 + part], pa.int64()), "amount": [1.5]}),
            )
    sorted_people = PEOPLE.sort_by("id")
    write_parquet(data / "people_sorted.parquet", sorted_people)
    write_csv(data / "stream.csv")
    define(
        root,
        "people_parquet",
        'name = "people_parquet"\nformat = "parquet"\nlocation = "data/people.parquet"\n'
        'columns = [{ name = "id", type = "BIGINT", nullable = false },'
        ' { name = "name", type = "VARCHAR" }]\n',
    )
    define(
        root,
        "people_csv",
        'name = "people_csv"\nformat = "csv"\nlocation = "data/people.csv"\n'
        'options = { "format.has_header" = "true", "format.delimiter" = ";" }\n',
    )
    define(
        root,
        "people_ndjson",
        'name = "people_ndjson"\nformat = "ndjson"\nlocation = "data/people.json"\n',
    )
    define(
        root,
        "people_arrow",
        'name = "people_arrow"\nformat = "arrow"\nlocation = "data/people.arrow"\n',
    )
    define(
        root,
        "people_avro",
        'name = "people_avro"\nformat = "avro"\nlocation = "data/people.avro"\n',
    )
    define(
        root,
        "sales",
        'name = "sales"\ncatalog = "warehouse"\nschema = "finance"\nformat = "parquet"\n'
        'location = "data/sales/"\npartition_columns = ["year"]\n'
        'columns = [{ name = "id", type = "BIGINT" }, { name = "amount", type = "DOUBLE" },'
        ' { name = "year", type = "INT" }]\n',
    )
    define(
        root,
        "sorted_people",
        'name = "sorted_people"\ncatalog = "warehouse"\nschema = "hr"\nformat = "parquet"\n'
        'location = "data/people_sorted.parquet"\nsort_order = [{ column = "id" }]\n',
    )
    define(
        root,
        "unsorted_people",
        'name = "unsorted_people"\ncatalog = "warehouse"\nschema = "hr"\nformat = "parquet"\n'
        'location = "data/people_sorted.parquet"\n',
    )
    define(
        root,
        "stream",
        'name = "stream"\ncatalog = "lake"\nschema = "live"\nformat = "csv"\n'
        'location = "data/stream.csv"\nunbounded = true\n'
        'columns = [{ name = "id", type = "BIGINT" }, { name = "name", type = "VARCHAR" }]\n'
        'options = { "format.has_header" = "true" }\n',
    )
    # Autoload: each sub-folder of a declared folder is one table.
    write_parquet(root / "auto" / "logs" / "requests" / "a.parquet")
    write_parquet(root / "auto" / "logs" / "errors" / "a.parquet", PEOPLE.slice(0, 1))
    write_csv(root / "auto" / "csv" / "visits" / "v.csv")
    declare_autoload(
        root,
        "logs",
        'location = "auto/logs"\nformat = "parquet"\ncatalog = "lake"\nschema = "logs"\n',
    )
    declare_autoload(root, "visits", 'location = "auto/csv"\nformat = "csv"\n')
    return root


@pytest.fixture(scope="module")
def server(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("state")
    with ServerProcess.start(["--catalog-dir", str(catalog), "--state-dir", str(state)]) as process:
        yield process


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(server.uri, autocommit=True) as connection:
        yield connection


def query(conn: flightsql.Connection, sql: str) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def physical_plan(conn: flightsql.Connection, sql: str) -> str:
    rows = query(conn, f"EXPLAIN {sql}").to_pylist()
    return "\n".join(row["plan"] for row in rows if row["plan_type"] == "physical_plan")


def people(table: pa.Table) -> list[tuple[Any, Any]]:
    return sorted(
        zip(table.column("id").to_pylist(), table.column("name").to_pylist(), strict=True)
    )


EXPECTED_PEOPLE = sorted(zip(PEOPLE["id"].to_pylist(), PEOPLE["name"].to_pylist(), strict=True))


@pytest.mark.parametrize("table", ["parquet", "csv", "ndjson", "arrow", "avro"])
def test_every_format_reads(conn: flightsql.Connection, table: str) -> None:
    result = query(conn, f"SELECT id, name FROM people_{table}")
    assert people(result) == EXPECTED_PEOPLE


def test_declared_schema_is_the_table_schema(conn: flightsql.Connection) -> None:
    rows = query(
        conn,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_name = 'people_parquet' ORDER BY ordinal_position",
    ).to_pylist()
    assert rows == [
        {"column_name": "id", "data_type": "Int64", "is_nullable": "NO"},
        {"column_name": "name", "data_type": "Utf8", "is_nullable": "YES"},
    ]


def test_partitioned_table_prunes_partitions(conn: flightsql.Connection) -> None:
    sql = "SELECT id, year FROM warehouse.finance.sales WHERE year = 2024"
    result = query(conn, sql + " ORDER BY id")
    assert result.column("id").to_pylist() == [20240, 20241]
    assert set(result.column("year").to_pylist()) == {2024}
    plan = physical_plan(conn, sql)
    scanned = re.findall(r"year=(\d+)/part-\d\.parquet", plan)
    assert scanned and set(scanned) == {"2024"}, plan
    everything = physical_plan(conn, "SELECT id FROM warehouse.finance.sales")
    assert set(re.findall(r"year=(\d+)/part", everything)) == {str(y) for y in SALES_YEARS}


def test_ordered_table_plan_uses_declared_order(conn: flightsql.Connection) -> None:
    ordered = physical_plan(conn, "SELECT id, name FROM warehouse.hr.sorted_people ORDER BY id")
    assert "output_ordering=[id@0 ASC NULLS LAST]" in ordered
    assert "SortExec" not in ordered, ordered
    unordered = physical_plan(conn, "SELECT id, name FROM warehouse.hr.unsorted_people ORDER BY id")
    assert "SortExec" in unordered, unordered
    result = query(conn, "SELECT id FROM warehouse.hr.sorted_people ORDER BY id")
    assert result.column("id").to_pylist() == [1, 2, 3]


def test_unbounded_table_streams(conn: flightsql.Connection) -> None:
    assert "infinite_source=true" in physical_plan(conn, "SELECT * FROM lake.live.stream")
    assert query(conn, "SELECT id FROM lake.live.stream LIMIT 2").num_rows == 2
    # A pipeline-breaking operator cannot run over an endless source.
    with pytest.raises(flightsql.Error, match="pipeline breaking"):
        query(conn, "SELECT count(*) FROM lake.live.stream")


def test_catalogs_and_schemas_in_flight_sql_metadata(conn: flightsql.Connection) -> None:
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    tables = {
        (catalog["catalog_name"], schema["db_schema_name"], table["table_name"])
        for catalog in objects
        for schema in catalog["catalog_db_schemas"] or []
        for table in schema["db_schema_tables"] or []
    }
    assert {
        ("warehouse", "finance", "sales"),
        ("warehouse", "hr", "sorted_people"),
        ("warehouse", "hr", "unsorted_people"),
        ("lake", "live", "stream"),
        ("lake", "logs", "requests"),
        ("lake", "logs", "errors"),
        ("datafusion", "public", "people_avro"),
        ("datafusion", "default", "visits"),
    } <= tables
    catalogs = {catalog["catalog_name"] for catalog in objects}
    assert {"datafusion", "warehouse", "lake"} <= catalogs
    schemas = conn.adbc_get_objects(depth="db_schemas", catalog_filter="warehouse")
    names = {
        schema["db_schema_name"]
        for catalog in schemas.read_all().to_pylist()
        for schema in catalog["catalog_db_schemas"] or []
    }
    assert {"finance", "hr"} <= names
    assert "live" not in names
    assert conn.adbc_get_table_schema(
        "sales", catalog_filter="warehouse", db_schema_filter="finance"
    ).names == ["id", "amount", "year"]


def test_catalogs_and_schemas_in_information_schema(conn: flightsql.Connection) -> None:
    rows = query(
        conn,
        "SELECT table_catalog, table_schema, table_name FROM information_schema.tables"
        " WHERE table_catalog IN ('warehouse', 'lake') AND table_schema <> 'information_schema'"
        " ORDER BY 1, 2, 3",
    ).to_pylist()
    assert [(row["table_catalog"], row["table_schema"], row["table_name"]) for row in rows] == [
        ("lake", "live", "stream"),
        ("lake", "logs", "errors"),
        ("lake", "logs", "requests"),
        ("warehouse", "finance", "sales"),
        ("warehouse", "hr", "sorted_people"),
        ("warehouse", "hr", "unsorted_people"),
    ]


def test_autoload_folders_become_tables(conn: flightsql.Connection) -> None:
    assert people(query(conn, "SELECT * FROM lake.logs.requests")) == EXPECTED_PEOPLE
    assert query(conn, "SELECT * FROM lake.logs.errors").num_rows == 1
    # CSV autoload reads a header (DataFusion's `datafusion.catalog.has_header`).
    assert people(query(conn, "SELECT * FROM datafusion.default.visits")) == EXPECTED_PEOPLE
