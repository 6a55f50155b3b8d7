"""The guarantees behind reliability under change, one at a time, on a real server:
a planned query keeps its snapshot (and its files, through vacuum) across a
re-pin; a refresh that changes a definition lets planned queries finish on the
old one; a file gone from under a query fails it with UNAVAILABLE naming the
table and version; a crash's leftovers (a half-created managed table, an
artifact batch in flight) are recovered at start."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.reliability.workers import action
from tests.server_process import ServerProcess
from tests.test_limits import scrape, wait_until

CONFIG = """
[maintenance]
vacuum_retention_hours = 0.0
after_commit = false
"""


def values(start: int, count: int) -> pa.Table:
    return pa.table({"v": pa.array(range(start, start + count), pa.int64())})


def define(catalog: Path, name: str, body: str) -> None:
    (catalog / "tables" / f"{name}.toml").write_text(f'name = "{name}"\n{body}')


def point_at(catalog: Path, folder: str) -> None:
    define(catalog, "pts", f'format = "parquet"\nlocation = "data/{folder}/"\n')


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    (root / "tables").mkdir()
    write_deltalake(root / "data" / "snap", values(0, 10))
    define(root, "snap", 'format = "delta"\nlocation = "data/snap"\n')
    for folder, table in (("pts_a", values(0, 3)), ("pts_b", values(100, 5))):
        (root / "data" / folder).mkdir(parents=True)
        pq.write_table(table, root / "data" / folder / "part-0.parquet")
    point_at(root, "pts_a")
    return root


@pytest.fixture(scope="module")
def server(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("state")
    config = state.parent / "reliability-guarantees.toml"
    config.write_text(CONFIG)
    args = ["--config", str(config), "--catalog-dir", str(catalog), "--state-dir", str(state)]
    with ServerProcess.start(args) as process:
        yield process


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(server.uri, autocommit=True) as connection:
        yield connection


def ints(table: pa.Table, name: str = "v") -> list[int]:
    return sorted(int(str(value)) for value in table.column(name).to_pylist())


def column(cursor: flightsql.Cursor) -> list[int]:
    return ints(cursor.fetch_arrow_table())


def data_files(location: Path) -> set[str]:
    return {path.name for path in location.glob("*.parquet")}


def test_a_planned_query_keeps_its_version_through_repin_and_vacuum(
    server: ServerProcess, catalog: Path, conn: flightsql.Connection
) -> None:
    location = catalog / "data" / "snap"
    old = ints(pa.table(DeltaTable(str(location)).to_pyarrow_table()))
    old_files = data_files(location)
    with conn.cursor() as planned:
        planned.adbc_prepare("SELECT v FROM snap")  # planned now, at the pinned version
        write_deltalake(location, values(1000, 4), mode="overwrite")
        action(server.uri, "RepinDelta", {"table": "datafusion.public.snap"})
        run = action(server.uri, "RunMaintenance", {"table": "datafusion.public.snap"})
        # Zero retention, and still the planned query's files stay.
        assert old_files <= data_files(location), run
        planned.execute("SELECT v FROM snap")
        assert column(planned) == old
    with conn.cursor() as fresh:
        fresh.execute("SELECT v FROM snap")
        assert column(fresh) == list(range(1000, 1004))
    # Once no plan holds the old version (the server forgets a result as its stream
    # ends, just after the client read it), vacuum removes its files.

    def vacuumed() -> bool:
        action(server.uri, "RunMaintenance", {"table": "datafusion.public.snap"})
        return not old_files & data_files(location)

    wait_until(vacuumed)


def test_a_refresh_lets_planned_queries_finish_on_the_old_definition(
    server: ServerProcess, catalog: Path, conn: flightsql.Connection
) -> None:
    with conn.cursor() as planned:
        planned.adbc_prepare("SELECT v FROM pts")
        point_at(catalog, "pts_b")
        summary = action(server.uri, "RefreshCatalog")
        assert [Path(source).stem for source in summary["changed"]] == ["pts"], summary
        planned.execute("SELECT v FROM pts")
        assert column(planned) == [0, 1, 2]
    with conn.cursor() as fresh:
        fresh.execute("SELECT v FROM pts")
        assert column(fresh) == [100, 101, 102, 103, 104]
        # The name stays listed, once (the staging name DDL used is never shown).
        fresh.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        names = fresh.fetch_arrow_table().column("table_name").to_pylist()
        assert sorted(str(name) for name in names) == ["pts", "snap"]
    point_at(catalog, "pts_a")
    action(server.uri, "RefreshCatalog")


def test_a_refresh_that_changes_the_format_swaps_the_table_and_its_pin(
    server: ServerProcess, catalog: Path, conn: flightsql.Connection
) -> None:
    write_deltalake(catalog / "data" / "pts_delta", values(700, 2))
    with conn.cursor() as planned:
        planned.adbc_prepare("SELECT v FROM pts")
        define(catalog, "pts", 'format = "delta"\nlocation = "data/pts_delta"\n')
        action(server.uri, "RefreshCatalog")
        planned.execute("SELECT v FROM pts")
        assert column(planned) == [0, 1, 2]
    with conn.cursor() as fresh:
        fresh.execute("SELECT v FROM pts")
        assert column(fresh) == [700, 701]
        # Back to Parquet: re-pins must no longer treat the name as a Delta table.
        point_at(catalog, "pts_a")
        action(server.uri, "RefreshCatalog")
        action(server.uri, "RepinDelta")
        fresh.execute("SELECT v FROM pts")
        assert column(fresh) == [0, 1, 2]
    health = action(server.uri, "CatalogHealth")
    assert "datafusion.public.pts" not in {pin["table"] for pin in health["delta_tables"]}


def test_a_file_gone_from_under_a_query_fails_it_as_unavailable(
    server: ServerProcess, catalog: Path, conn: flightsql.Connection
) -> None:
    location = catalog / "data" / "snap"
    write_deltalake(location, values(5000, 3), mode="overwrite")
    version = action(server.uri, "RepinDelta", {"table": "datafusion.public.snap"})
    with conn.cursor() as planned:
        planned.adbc_prepare("SELECT v FROM snap")
        # Another process removes the files (an outside vacuum, a hand-deleted file).
        for name in DeltaTable(str(location)).file_uris():
            os.remove(name.removeprefix("file://"))
        with pytest.raises(flightsql.Error) as raised:
            planned.execute("SELECT v FROM snap")
            planned.fetch_arrow_table()
    message = str(raised.value)
    assert "unavailable" in message.lower(), message
    pinned = DeltaTable(str(location)).version()
    assert f"version {pinned}" in message and "snap" in message, (message, version)
    # Recover the table for the other tests.
    write_deltalake(location, values(0, 10), mode="overwrite")
    action(server.uri, "RepinDelta", {"table": "datafusion.public.snap"})


def test_a_crashed_create_and_an_artifact_batch_in_flight_are_recovered_at_start(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    # A managed table whose create died before its first commit: files, no log entry.
    half = state / "tables" / "datafusion" / "public" / "half"
    (half / "_delta_log").mkdir(parents=True)
    pq.write_table(values(0, 5), half / "part-0.parquet")
    # The artifact store had a batch of 7 in flight; its commit never happened.
    (state / "artifacts").mkdir(parents=True)
    marker = state / "artifacts" / "queries.in-flight.json"
    marker.write_text(json.dumps({"batch_id": "never-committed", "rows": 7}))
    catalog = tmp_path / "catalog"
    (catalog / "tables").mkdir(parents=True)
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state), "--http-port", "0"]
    with (
        ServerProcess.start([*args, "--policy-allow-dml", "true"]) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
        conn.cursor() as cursor,
    ):
        assert scrape(server, "flightserver_artifacts_lost_total", reason="unclean_shutdown") == 7
        assert not marker.exists()
        cursor.execute("SELECT table_name FROM information_schema.tables")
        assert "half" not in cursor.fetch_arrow_table().column("table_name").to_pylist()
        # The name is free: a new create there starts afresh.
        assert cursor.adbc_ingest("half", values(10, 2), mode="create") == 2
        cursor.execute("SELECT v FROM half")
        assert column(cursor) == [10, 11]
