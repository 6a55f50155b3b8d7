"""A query text planned once and reused while nothing it reads changed; a result of
several partitions streamed from its one plan. Through a real server and ADBC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest

from tests.catalog_files import write_parquet
from tests.clients import query
from tests.scrape import Samples, sample_value, scrape
from tests.server_process import ServerProcess

FEW = pa.table({"id": pa.array([1, 2, 3], pa.int64())})
MORE = pa.table({"id": pa.array(range(10, 15), pa.int64())})


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plan-cache")
    catalog, state = root / "catalog", root / "state"
    (catalog / "tables").mkdir(parents=True)
    write_parquet(catalog / "data" / "few.parquet", FEW)
    write_parquet(catalog / "data" / "more.parquet", MORE)
    # Two files of 50,000 rows: two output partitions with target_partitions 2.
    for part in range(2):
        rows = pa.table({"v": pa.array(range(part * 50_000, (part + 1) * 50_000), pa.int64())})
        write_parquet(catalog / "data" / "halves" / f"part-{part}.parquet", rows)
    return catalog, state


# Overrides conftest's `server`, so its `conn` connects here.
@pytest.fixture(scope="module")
def server(folders: tuple[Path, Path]) -> Iterator[ServerProcess]:
    catalog, state = folders
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state)]
    # Without the result cache: every execution here plans and runs.
    args += ["--http-port", "0", "--target-partitions", "2", "--result-cache-enabled", "false"]
    with ServerProcess.start(args) as process:
        yield process


def execute(conn: flightsql.Connection, sql: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(sql)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return sample_value(after, name, **labels) - sample_value(before, name, **labels)


def create_external(conn: flightsql.Connection, name: str, location: Path) -> None:
    execute(conn, f"CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{location}'")


def test_a_repeated_text_is_planned_once(
    server: ServerProcess, conn: flightsql.Connection, folders: tuple[Path, Path]
) -> None:
    create_external(conn, "repeated", folders[0] / "data" / "few.parquet")
    text = "SELECT id FROM repeated WHERE id > 1 ORDER BY id"
    before = scrape(server)
    # A new cursor each time: ADBC prepares the text, then executes the prepared plan.
    answers = [query(conn, text)["id"].to_pylist() for _ in range(5)]
    # One cursor: one prepare, then the prepared statement executed three times.
    with conn.cursor() as cursor:
        for _ in range(3):
            cursor.execute(text)
            answers.append(cursor.fetch_arrow_table()["id"].to_pylist())
    after = scrape(server)
    assert answers == [[2, 3]] * 8
    lookups = "flightserver_plan_cache_lookups_total"
    # Only the first prepare plans. Later prepares find its plan (4 + 1); a prepared
    # statement's first execution runs the plan its prepare found, and the later ones
    # find it again (2).
    assert moved(before, after, lookups, result="miss") == 1
    assert moved(before, after, lookups, result="hit") == 7
    # Each execution still plans physically, once.
    assert moved(before, after, "flightserver_physical_plans") == 8


def test_ddl_replacing_a_table_makes_its_texts_plan_again(
    conn: flightsql.Connection, folders: tuple[Path, Path]
) -> None:
    data = folders[0] / "data"
    create_external(conn, "swapped", data / "few.parquet")
    text = "SELECT count(*) AS n FROM swapped"
    assert query(conn, text)["n"].to_pylist() == [3]
    execute(conn, "DROP TABLE swapped")
    create_external(conn, "swapped", data / "more.parquet")
    assert query(conn, text)["n"].to_pylist() == [5]


def test_a_write_makes_its_table_texts_plan_again(conn: flightsql.Connection) -> None:
    execute(conn, "CREATE TABLE grows AS SELECT CAST(1 AS BIGINT) AS id")
    text = "SELECT sum(id) AS total FROM grows"
    assert query(conn, text)["total"].to_pylist() == [1]
    execute(conn, "INSERT INTO grows VALUES (41)")
    assert query(conn, text)["total"].to_pylist() == [42]


def test_a_dropped_table_of_a_created_schema_is_gone(
    conn: flightsql.Connection, folders: tuple[Path, Path]
) -> None:
    execute(conn, "CREATE SCHEMA extra")
    create_external(conn, "extra.gone", folders[0] / "data" / "few.parquet")
    text = "SELECT count(*) AS n FROM extra.gone"
    assert query(conn, text)["n"].to_pylist() == [3]
    execute(conn, "DROP TABLE extra.gone")
    with pytest.raises(flightsql.Error, match="gone"):
        query(conn, text)


def test_several_partitions_stream_from_the_one_plan(
    server: ServerProcess, conn: flightsql.Connection, folders: tuple[Path, Path]
) -> None:
    create_external(conn, "halves", folders[0] / "data" / "halves")
    text = "SELECT v FROM halves WHERE v % 3 = 0"
    query(conn, text)  # planned (and cached) once
    before = scrape(server)
    table = query(conn, text)
    after = scrape(server)
    assert table["v"].sort().to_pylist() == list(range(0, 100_000, 3))
    # DoGet merges the plan's two partitions; it never plans the query again.
    assert moved(before, after, "flightserver_physical_plans") == 1


def test_a_partition_failing_fails_its_query_and_the_server_serves_on(
    conn: flightsql.Connection, folders: tuple[Path, Path]
) -> None:
    create_external(conn, "halves_again", folders[0] / "data" / "halves")
    with pytest.raises(flightsql.Error, match=r"(?i)divide by zero"):
        query(conn, "SELECT v / (v - 75000) AS r FROM halves_again")
    assert query(conn, "SELECT count(*) AS n FROM halves_again")["n"].to_pylist() == [100_000]
