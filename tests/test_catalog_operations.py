"""Catalog operations through a running server: health on bad entries, refresh
without restart (action and polling), Delta re-pin and time travel (SQL and
action). Each test module owns its server and catalog folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyarrow import flight

from tests.catalog_files import PEOPLE, declare_autoload, define, write_parquet
from tests.server_process import ServerProcess


def delta_batch(value: int) -> pa.Table:
    return pa.table({"v": pa.array([value], pa.int64())})


def commit_at(location: Path, version: int, moment: datetime) -> None:
    """Sets the commit time of `version` (what timestamp time travel reads)."""
    log_file = location / "_delta_log" / f"{version:020}.json"
    millis = int(moment.timestamp() * 1000)
    lines = []
    for line in log_file.read_text().splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            action["commitInfo"]["timestamp"] = millis
        lines.append(json.dumps(action))
    log_file.write_text("\n".join(lines) + "\n")
    import os

    os.utime(log_file, (millis / 1000, millis / 1000))


TIMES = [datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 3)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ops-catalog")
    write_parquet(root / "data" / "good.parquet")
    define(root, "good", 'name = "good"\nformat = "parquet"\nlocation = "data/good.parquet"\n')
    # Bad entries, one of each kind; none may stop the others.
    define(
        root, "missing", 'name = "missing"\nformat = "parquet"\nlocation = "data/nope.parquet"\n'
    )
    define(
        root,
        "bad_schema",
        'name = "bad_schema"\nformat = "parquet"\nlocation = "data/good.parquet"\n'
        'columns = [{ name = "id", type = "BOGUSTYPE" }]\n',
    )
    broken = root / "data" / "broken_delta" / "_delta_log"
    broken.mkdir(parents=True)
    (broken / "00000000000000000000.json").write_text("this is not a Delta log\n")
    define(
        root,
        "broken_delta",
        'name = "broken_delta"\nformat = "delta"\nlocation = "data/broken_delta"\n',
    )
    define(
        root,
        "unknown_format",
        'name = "unknown_format"\nformat = "orc"\nlocation = "data/good.parquet"\n',
    )
    declare_autoload(root, "missing_folder", 'location = "auto/none"\nformat = "parquet"\n')
    # A Delta table our provider does not read yet: loaded through deltalake, with a warning.
    nested = pa.table({"id": [1, 2], "s": [{"a": 1}, {"a": 2}]})
    write_deltalake(
        root / "data" / "nested", nested, configuration={"delta.columnMapping.mode": "name"}
    )
    define(root, "nested", 'name = "nested"\nformat = "delta"\nlocation = "data/nested"\n')
    # A Delta table with three versions at known times (v0: 0; v1: 0, 1; v2: 0, 1, 2).
    for value in range(3):
        write_deltalake(root / "data" / "counter", delta_batch(value), mode="append")
        commit_at(root / "data" / "counter", value, TIMES[value])
    define(root, "counter", 'name = "counter"\nformat = "delta"\nlocation = "data/counter"\n')
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


def sorted_values(conn: flightsql.Connection, sql: str) -> list[int]:
    """The `v` column of `sql`'s result, sorted."""
    values = query(conn, sql).column("v").to_pylist()
    assert None not in values
    return sorted(int(str(value)) for value in values)


def action(server: ServerProcess, name: str, body: dict[str, Any] | None = None) -> Any:
    with flight.connect(server.uri) as client:
        payload = json.dumps(body or {}).encode()
        results = list(client.do_action(flight.Action(name, payload)))
    assert len(results) == 1
    return json.loads(results[0].body.to_pybytes())


def entries_by_file(health: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(entry["source"]).stem: entry for entry in health["entries"]}


def test_bad_entries_are_reported_and_the_rest_load(
    server: ServerProcess, conn: flightsql.Connection
) -> None:
    health = action(server, "CatalogHealth")
    entries = entries_by_file(health)
    assert entries["good"]["error"] is None
    assert "does not exist" in entries["missing"]["error"]
    assert "BOGUSTYPE" in entries["bad_schema"]["error"]
    assert entries["broken_delta"]["error"]
    assert entries["broken_delta"]["format"] == "delta"
    assert "orc" in entries["unknown_format"]["error"]
    assert "does not exist" in entries["missing_folder"]["error"]
    assert health["failed"] == 5
    # The fallback warning names the unsupported feature.
    assert entries["nested"]["error"] is None
    assert "columnMapping" in entries["nested"]["warning"]
    assert health["warnings"] == 1
    # Reported at start-up too.
    for name in ("missing", "bad_schema", "broken_delta", "unknown_format", "missing_folder"):
        assert f"{name}.toml not loaded" in server.log
    # ...and the good tables load.
    assert query(conn, "SELECT count(*) AS n FROM good").column("n").to_pylist() == [3]
    assert query(conn, "SELECT count(*) AS n FROM nested").column("n").to_pylist() == [2]


def test_health_lists_delta_pins(server: ServerProcess) -> None:
    pins = {pin["table"]: pin for pin in action(server, "CatalogHealth")["delta_tables"]}
    counter = pins["datafusion.public.counter"]
    assert counter["provider"] == "flightserver"
    assert counter["table_version"] == 2
    assert counter["file_count"] == 3
    assert len(counter["file_set_sha256"]) == 64
    assert pins["datafusion.public.nested"]["provider"] == "deltalake"
    assert "columnMapping" in pins["datafusion.public.nested"]["warning"]


def test_time_travel_from_sql(conn: flightsql.Connection) -> None:
    def values(sql: str) -> list[int]:
        return sorted_values(conn, sql)

    assert values("SELECT v FROM delta_version('datafusion.public.counter', 0)") == [0]
    assert values("SELECT v FROM delta_version('counter', 1)") == [0, 1]
    noon_day_2 = datetime(2026, 1, 2, 12, tzinfo=UTC).isoformat()
    assert values(f"SELECT v FROM delta_timestamp('counter', '{noon_day_2}')") == [0, 1]
    assert values("SELECT v FROM counter") == [0, 1, 2]
    with pytest.raises(flightsql.Error, match="no Delta table named 'nope'"):
        query(conn, "SELECT * FROM delta_version('nope', 1)")
    with pytest.raises(flightsql.Error, match="version"):
        query(conn, "SELECT * FROM delta_version('counter', 99)")


def test_time_travel_action(server: ServerProcess, conn: flightsql.Connection) -> None:
    by_version = action(
        server,
        "TimeTravelDelta",
        {"table": "counter", "register_as": "counter_v0", "table_version": 0},
    )
    assert by_version["table"] == "datafusion.public.counter_v0"
    assert by_version["pin"]["table_version"] == 0
    assert query(conn, "SELECT v FROM counter_v0").column("v").to_pylist() == [0]
    by_time = action(
        server,
        "TimeTravelDelta",
        {
            "table": "counter",
            "register_as": "datafusion.public.counter_day2",
            "timestamp": "2026-01-02T12:00:00+00:00",
        },
    )
    assert by_time["pin"]["table_version"] == 1
    assert sorted_values(conn, "SELECT v FROM counter_day2") == [0, 1]
    with pytest.raises(pa.ArrowInvalid, match="already exists"):
        action(
            server,
            "TimeTravelDelta",
            {"table": "counter", "register_as": "good", "table_version": 0},
        )
    with pytest.raises(pa.ArrowKeyError, match="no Delta table"):
        action(server, "TimeTravelDelta", {"table": "nope", "register_as": "x", "table_version": 0})


def test_write_after_pin_is_seen_only_after_repin(
    server: ServerProcess, conn: flightsql.Connection, catalog: Path
) -> None:
    location = catalog / "data" / "growing"
    write_deltalake(location, delta_batch(10))
    define(catalog, "growing", 'name = "growing"\nformat = "delta"\nlocation = "data/growing"\n')
    assert action(server, "RefreshCatalog")["added"] == [str(catalog / "tables" / "growing.toml")]
    assert query(conn, "SELECT v FROM growing").column("v").to_pylist() == [10]
    write_deltalake(location, delta_batch(11), mode="append")
    assert query(conn, "SELECT v FROM growing").column("v").to_pylist() == [10]
    # A refresh leaves unchanged definitions (and their pins) alone.
    action(server, "RefreshCatalog")
    assert query(conn, "SELECT v FROM growing").column("v").to_pylist() == [10]
    repinned = action(server, "RepinDelta", {"table": "growing"})["repinned"]
    assert repinned == [{"table": "datafusion.public.growing", "from_version": 0, "to_version": 1}]
    assert sorted_values(conn, "SELECT v FROM growing") == [10, 11]
    health = action(server, "CatalogHealth")
    assert entries_by_file(health)["growing"]["delta"]["version"] == 1
    # Back to a chosen version, then all re-pinned: a table pinned by choice stays.
    action(server, "RepinDelta", {"table": "growing", "table_version": 0})
    moved = action(server, "RepinDelta")["repinned"]
    assert all(entry["table"] != "datafusion.public.growing" for entry in moved)
    assert query(conn, "SELECT v FROM growing").column("v").to_pylist() == [10]
    with pytest.raises(pa.ArrowInvalid, match="version"):
        action(server, "RepinDelta", {"table": "growing", "table_version": 7})
    assert query(conn, "SELECT v FROM growing").column("v").to_pylist() == [10]


def test_refresh_adds_changes_and_removes_tables(
    server: ServerProcess, conn: flightsql.Connection, catalog: Path
) -> None:
    write_parquet(catalog / "data" / "extra.parquet", PEOPLE.slice(0, 2))
    source = define(
        catalog, "extra", 'name = "extra"\nformat = "parquet"\nlocation = "data/extra.parquet"\n'
    )
    with pytest.raises(flightsql.Error, match="extra"):
        query(conn, "SELECT * FROM extra")
    summary = action(server, "RefreshCatalog")
    assert summary["added"] == [str(source)] and summary["removed"] == []
    assert query(conn, "SELECT * FROM extra").num_rows == 2
    define(catalog, "extra", 'name = "extra"\nformat = "parquet"\nlocation = "data/good.parquet"\n')
    assert action(server, "RefreshCatalog")["changed"] == [str(source)]
    assert query(conn, "SELECT * FROM extra").num_rows == 3
    source.unlink()
    assert action(server, "RefreshCatalog")["removed"] == [str(source)]
    with pytest.raises(flightsql.Error, match="extra"):
        query(conn, "SELECT * FROM extra")
    assert "extra" not in entries_by_file(action(server, "CatalogHealth"))


def test_refresh_adds_and_removes_autoload_folders(
    server: ServerProcess, conn: flightsql.Connection, catalog: Path
) -> None:
    folder = catalog / "auto" / "shelf"
    write_parquet(folder / "books" / "a.parquet")
    source = declare_autoload(
        catalog, "shelf", 'location = "auto/shelf"\nformat = "parquet"\nschema = "shelf"\n'
    )
    assert action(server, "RefreshCatalog")["added"] == [str(source)]
    assert query(conn, "SELECT * FROM shelf.books").num_rows == 3
    # A new sub-folder is a new table; a removed one disappears.
    write_parquet(folder / "magazines" / "a.parquet", PEOPLE.slice(0, 1))
    action(server, "RefreshCatalog")
    assert query(conn, "SELECT * FROM shelf.magazines").num_rows == 1
    shutil.rmtree(folder / "books")
    action(server, "RefreshCatalog")
    with pytest.raises(flightsql.Error, match="books"):
        query(conn, "SELECT * FROM shelf.books")
    assert entries_by_file(action(server, "CatalogHealth"))["shelf"]["tables"] == ["magazines"]
    source.unlink()
    assert action(server, "RefreshCatalog")["removed"] == [str(source)]
    with pytest.raises(flightsql.Error, match="magazines"):
        query(conn, "SELECT * FROM shelf.magazines")


def test_polling_refreshes_and_repins(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    write_deltalake(catalog / "data" / "live", delta_batch(1))
    define(catalog, "live", 'name = "live"\nformat = "delta"\nlocation = "data/live"\n')
    args = [
        "--catalog-dir",
        str(catalog),
        "--state-dir",
        str(tmp_path / "state"),
        "--catalog-refresh-seconds",
        "0.2",
        "--delta-repin-seconds",
        "0.2",
    ]
    with (
        ServerProcess.start(args) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        write_parquet(catalog / "data" / "late.parquet")
        define(
            catalog, "late", 'name = "late"\nformat = "parquet"\nlocation = "data/late.parquet"\n'
        )
        server.wait_for_line(lambda line: "catalog refreshed" in line and "late.toml" in line)
        assert query(conn, "SELECT * FROM late").num_rows == 3
        write_deltalake(catalog / "data" / "live", delta_batch(2), mode="append")
        server.wait_for_line(lambda line: "re-pinned Delta table datafusion.public.live" in line)
        assert sorted_values(conn, "SELECT v FROM live") == [1, 2]
