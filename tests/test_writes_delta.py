"""Delta writes through SQL: INSERT INTO and CREATE TABLE AS commit through
deltalake, are checked against the table's schema, re-pin the table, and leave
write artifacts. A real server, driven through ADBC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyarrow import flight

from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("writes-state")


@pytest.fixture(scope="module")
def writes_server(
    tmp_path_factory: pytest.TempPathFactory, state_dir: Path
) -> Iterator[ServerProcess]:
    catalog = tmp_path_factory.mktemp("writes-catalog")
    (catalog / "tables").mkdir()
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state_dir)]
    # Maintenance commits versions of its own; these tests count the writes' versions.
    args += ["--maintenance-after-commit", "false"]
    with ServerProcess.start([*args, "--policy-allow-dml", "true"]) as process:
        yield process


@pytest.fixture
def wconn(writes_server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(writes_server.uri, autocommit=True) as connection:
        yield connection


def run(conn: flightsql.Connection, sql: str) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def execute(conn: flightsql.Connection, sql: str) -> int:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def write_artifacts(uri: str, table: str) -> list[dict[str, Any]]:
    """The write outcomes recorded for `table`, oldest first."""
    client = flight.FlightClient(uri)
    list(client.do_action(flight.Action("ListArtifacts", b'{"limit": 1}')))  # flushes
    with flightsql.connect(uri, autocommit=True) as conn:
        payloads = run(
            conn,
            "SELECT payload FROM system.queries WHERE target_table = "
            f"'datafusion.public.{table}' AND status = 'ok' ORDER BY recorded_at",
        )["payload"].to_pylist()
    return [json.loads(str(payload))["write"] for payload in payloads]


def test_create_table_as_makes_a_managed_delta_table(
    wconn: flightsql.Connection, writes_server: ServerProcess, state_dir: Path
) -> None:
    written = execute(
        wconn, "CREATE TABLE made AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, label)"
    )
    assert written == 2
    location = state_dir / "tables/datafusion/public/made"
    table = DeltaTable(str(location))
    assert table.version() == 0
    assert table.to_pyarrow_table().sort_by("id")["id"].to_pylist() == [1, 2]
    assert run(wconn, "SELECT label FROM made ORDER BY id")["label"].to_pylist() == ["a", "b"]
    with pytest.raises(flightsql.Error, match="already exists"):
        execute(wconn, "CREATE TABLE made AS SELECT 1 AS id, 'c' AS label")
    assert execute(wconn, "CREATE TABLE IF NOT EXISTS made AS SELECT 1 AS id, 'c' AS label") == 0
    assert DeltaTable(str(location)).version() == 0


def test_insert_commits_a_version_the_next_query_reads(
    wconn: flightsql.Connection, writes_server: ServerProcess, state_dir: Path
) -> None:
    execute(wconn, "CREATE TABLE grown AS SELECT CAST(1 AS BIGINT) AS id, 'one' AS label")
    assert execute(wconn, "INSERT INTO grown VALUES (2, 'two'), (3, 'three')") == 2
    assert execute(wconn, "INSERT INTO grown (label, id) SELECT 'four', 4") == 1
    assert execute(wconn, "INSERT INTO grown (id) VALUES (5)") == 1
    rows = run(wconn, "SELECT id, label FROM grown ORDER BY id").to_pylist()
    assert rows == [
        {"id": 1, "label": "one"},
        {"id": 2, "label": "two"},
        {"id": 3, "label": "three"},
        {"id": 4, "label": "four"},
        {"id": 5, "label": None},
    ]
    assert DeltaTable(str(state_dir / "tables/datafusion/public/grown")).version() == 3

    outcomes = write_artifacts(writes_server.uri, "grown")
    assert [(o["table_version"], o["rows"], o["format"]) for o in outcomes] == [
        (0, 1, "delta"),
        (1, 2, "delta"),
        (2, 1, "delta"),
        (3, 1, "delta"),
    ]
    assert all(o["files_added"] >= 1 for o in outcomes)


def test_insert_with_parameters(wconn: flightsql.Connection) -> None:
    execute(wconn, "CREATE TABLE bound AS SELECT CAST(0 AS BIGINT) AS id")
    with wconn.cursor() as cursor:
        cursor.execute("INSERT INTO bound VALUES (?)", parameters=(7,))
    assert run(wconn, "SELECT id FROM bound ORDER BY id")["id"].to_pylist() == [0, 7]


def test_mismatched_insert_names_the_columns_and_commits_nothing(
    wconn: flightsql.Connection, state_dir: Path
) -> None:
    execute(wconn, "CREATE TABLE strict_cols AS SELECT CAST(1 AS BIGINT) AS id, 'x' AS label")
    location = str(state_dir / "tables/datafusion/public/strict_cols")
    with pytest.raises(flightsql.Error, match=r"1 values \(.*\) for 2 columns \(id, label\)"):
        execute(wconn, "INSERT INTO strict_cols SELECT 2")
    with pytest.raises(flightsql.Error, match="has no columns nope"):
        execute(wconn, "INSERT INTO strict_cols (id, nope) VALUES (2, 'y')")
    with pytest.raises(flightsql.Error):  # a value that does not cast: caught while streaming
        execute(wconn, "INSERT INTO strict_cols VALUES ('not a number', 'y')")
    assert DeltaTable(location).version() == 0
    assert run(wconn, "SELECT count(*) AS n FROM strict_cols")["n"].to_pylist() == [1]


def test_ingest_with_other_columns_names_them(wconn: flightsql.Connection) -> None:
    with wconn.cursor() as cursor:
        cursor.adbc_ingest("ingest_named", pa.table({"id": [1], "qty": [2]}), mode="create")
        with pytest.raises(flightsql.Error, match=r"columns not in the table: other.*missing.*qty"):
            cursor.adbc_ingest("ingest_named", pa.table({"id": [1], "other": [2]}), mode="append")
    assert run(wconn, "SELECT count(*) AS n FROM ingest_named")["n"].to_pylist() == [1]


def test_created_tables_survive_a_restart(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    (catalog / "tables").mkdir(parents=True)
    args = ["--catalog-dir", str(catalog), "--state-dir", str(tmp_path / "state")]
    args += ["--policy-allow-dml", "true"]
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        execute(conn, "CREATE TABLE kept AS SELECT 1 AS k")
        execute(conn, "INSERT INTO kept VALUES (2)")
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        assert run(conn, "SELECT k FROM kept ORDER BY k")["k"].to_pylist() == [1, 2]
