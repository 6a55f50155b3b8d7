"""flightserver's own Delta provider: pruning, pinning, time travel, fallback.

Tables are written with `deltalake` into a temporary catalog; results are
compared with `deltalake`'s own reader. Queries go through a real server and
ADBC; what each scan read is checked on the provider itself (in-process) and
through the server's EXPLAIN ANALYZE.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from datafusion import SessionContext
from deltalake import DeltaTable, QueryBuilder, write_deltalake

from flightserver.catalog.delta import FALLBACK_PROVIDER, OUR_PROVIDER, DeltaTables
from flightserver.engine.native import DeltaProvider
from tests.server_process import ServerProcess

DAYS = [f"d{day:02}" for day in range(12)]
WRITES = 3  # appends to `events`: each writes one file per partition
RANGE_FILES = 6
RANGE_ROWS = 100


def events_batch(write: int) -> pa.Table:
    """One append to `events`: 10 rows per day, ids unique across appends."""
    rows = [(day, n) for day in DAYS for n in range(10)]
    ids = [write * 1000 + i for i in range(len(rows))]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "day": pa.array([day for day, _ in rows], pa.string()),
            "amount": pa.array([float(i % 97) / 4 for i in ids], pa.float64()),
            "note": pa.array([None if i % 7 == 0 else f"note {i}" for i in ids], pa.string()),
        }
    )


def ranges_batch(file: int) -> pa.Table:
    start = file * RANGE_ROWS
    return pa.table(
        {
            "id": pa.array(range(start, start + RANGE_ROWS), pa.int64()),
            "square": pa.array([i * i for i in range(start, start + RANGE_ROWS)], pa.int64()),
        }
    )


def write_definition(catalog: Path, name: str, location: str, options: str = "") -> None:
    text = f'name = "{name}"\nformat = "delta"\nlocation = "{location}"\n{options}'
    (catalog / "tables" / f"{name}.toml").write_text(text)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("delta-catalog")
    (root / "tables").mkdir()
    data = root / "data"
    for write in range(WRITES):
        write_deltalake(data / "events", events_batch(write), partition_by=["day"], mode="append")
    for file in range(RANGE_FILES):
        write_deltalake(data / "ranges", ranges_batch(file), mode="append")
    write_deltalake(data / "growing", ranges_batch(0))
    column_mapping = {"delta.columnMapping.mode": "name"}
    mapped = pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "Name X": ["a", "b", "c", None],
            "Part Y": ["p", "p", "q", "q"],
        }
    )
    write_deltalake(data / "mapped", mapped, partition_by=["Part Y"], configuration=column_mapping)
    nested = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "s": pa.array([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
        }
    )
    write_deltalake(data / "nested_mapped", nested, configuration=column_mapping)
    write_definition(root, "events", "data/events")
    write_definition(root, "ranges", "data/ranges")
    write_definition(root, "ranges_v0", "data/ranges", 'options = { version = "0" }')
    write_definition(root, "growing", "data/growing")
    write_definition(root, "mapped", "data/mapped")
    write_definition(root, "nested_mapped", "data/nested_mapped")
    return root


@pytest.fixture(scope="module")
def server(catalog: Path) -> Iterator[ServerProcess]:
    with ServerProcess.start(["--catalog-dir", str(catalog)]) as process:
        yield process


@pytest.fixture
def conn(server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(server.uri, autocommit=True) as connection:
        yield connection


def query(conn: flightsql.Connection, sql: str) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def values(table: pa.Table, column: str) -> list[Any]:
    return table.column(column).to_pylist()


def sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda row: row["id"])


def files_opened(conn: flightsql.Connection, sql: str) -> int:
    """How many files the server's scan of `sql` opened, from EXPLAIN ANALYZE."""
    plan = "\n".join(values(query(conn, f"EXPLAIN ANALYZE {sql}"), "plan"))
    counts = [int(count) for count in re.findall(r"files_opened=(\d+)", plan)]
    if not counts:
        # The provider plans no file scan at all when every file was pruned.
        assert re.search(r"FFI_ExecutionPlan: DeltaScanExec\[v\d+ files=0/\d+\]", plan), plan
    return sum(counts)


def deltalake_rows(catalog: Path, table: str, version: int | None = None) -> pa.Table:
    """The table as `deltalake` reads it (its DataFusion reader: its pyarrow
    reader returns nulls for column-mapped tables)."""
    delta = DeltaTable(str(catalog / "data" / table), version=version)
    return pa.table(QueryBuilder().register("t", delta).execute("SELECT * FROM t").read_all())


def test_full_scan_equals_deltalake_reader(conn: flightsql.Connection, catalog: Path) -> None:
    result = query(conn, "SELECT id, day, amount, note FROM events")
    expected = deltalake_rows(catalog, "events").select(["id", "day", "amount", "note"])
    assert result.num_rows == expected.num_rows == WRITES * len(DAYS) * 10
    assert sorted_rows(result) == sorted_rows(expected)


def test_partition_filter_reads_only_that_partitions_files(
    conn: flightsql.Connection, catalog: Path
) -> None:
    sql = "SELECT id, day, amount FROM events WHERE day = 'd03'"
    result = query(conn, sql)
    expected = [
        {key: row[key] for key in ("id", "day", "amount")}
        for row in sorted_rows(deltalake_rows(catalog, "events"))
        if row["day"] == "d03"
    ]
    assert sorted_rows(result) == expected
    assert set(result.column("day").to_pylist()) == {"d03"}
    # One file per append in that partition, out of one per append and partition.
    assert files_opened(conn, sql) == WRITES
    assert files_opened(conn, "SELECT id FROM events") == WRITES * len(DAYS)


def test_partition_pruning_is_recorded_by_the_provider(catalog: Path) -> None:
    provider = DeltaProvider(str(catalog / "data" / "events"))
    assert provider.file_count == WRITES * len(DAYS)
    ctx = SessionContext()
    ctx.register_table("events", provider)
    result = ctx.sql("SELECT count(*) AS n FROM events WHERE day = 'd07'").to_arrow_table()
    assert result.column("n").to_pylist() == [10 * WRITES]
    scan = provider.last_scan()
    assert scan is not None
    assert (scan.file_count, scan.candidate_files, scan.version) == (
        WRITES,
        WRITES * len(DAYS),
        provider.version,
    )
    assert all(path.startswith("day=d07/") for path in scan.files)
    assert len(scan.files_hash) == 64


def test_statistics_skip_files(conn: flightsql.Connection, catalog: Path) -> None:
    sql = "SELECT id, square FROM ranges WHERE id BETWEEN 250 AND 260"
    result = query(conn, sql)
    assert sorted(values(result, "id")) == list(range(250, 261))
    assert values(result, "square") == [i * i for i in values(result, "id")]
    assert files_opened(conn, sql) == 1
    # Every file's maximum id is below 600: no file can match.
    assert query(conn, "SELECT count(*) AS n FROM ranges WHERE id > 100000").column(
        "n"
    ).to_pylist() == [0]
    assert files_opened(conn, "SELECT id FROM ranges WHERE id > 100000") == 0


def test_joins_and_aggregations_run_in_parallel(conn: flightsql.Connection, catalog: Path) -> None:
    result = query(
        conn,
        """
        SELECT e.day, count(*) AS n, sum(r.square) AS squares
        FROM events e JOIN ranges r ON e.id % 600 = r.id
        GROUP BY e.day ORDER BY e.day
        """,
    )
    events = deltalake_rows(catalog, "events").to_pylist()
    expected: dict[str, tuple[int, int]] = {}
    for row in events:
        key = row["id"] % 600  # every `ranges` id below 600 exists, once
        count, total = expected.get(row["day"], (0, 0))
        expected[row["day"]] = (count + 1, total + key * key)
    assert [(r["day"], r["n"], r["squares"]) for r in result.to_pylist()] == [
        (day, *expected[day]) for day in sorted(expected)
    ]
    # The provider splits its files over the session's partitions.
    ctx = SessionContext()
    ctx.register_table("events", DeltaProvider(str(catalog / "data" / "events")))
    plan = ctx.sql("SELECT * FROM events").execution_plan()
    assert plan.partition_count > 1


def test_time_travel_by_version(conn: flightsql.Connection, catalog: Path) -> None:
    result = query(conn, "SELECT id, square FROM ranges_v0")
    assert sorted_rows(result) == sorted_rows(deltalake_rows(catalog, "ranges", version=0))
    assert result.num_rows == RANGE_ROWS


def test_time_travel_by_timestamp(tmp_path: Path) -> None:
    location = tmp_path / "stamped"
    for version in range(3):
        write_deltalake(location, ranges_batch(version), mode="append")
    # Commits made in the same instant would tie: give each its own year
    # (without in-commit timestamps, a commit's time is its file's).
    for version, year in enumerate((2020, 2021, 2022)):
        moment = datetime(year, 1, 1, tzinfo=UTC).timestamp()
        os.utime(location / "_delta_log" / f"{version:020}.json", (moment, moment))
    tables = DeltaTables()
    ctx = SessionContext()
    qualified = ("datafusion", "public", "stamped")
    pin = tables.register(ctx, qualified, str(location), {"timestamp": "2021-06-01T00:00:00+00:00"})
    assert (pin.provider, pin.version) == (OUR_PROVIDER, 1)
    count = values(ctx.sql("SELECT count(*) AS n FROM stamped").to_arrow_table(), "n")
    assert count == [2 * RANGE_ROWS]


def test_writes_after_load_are_invisible_until_repinned(
    conn: flightsql.Connection, catalog: Path
) -> None:
    location = catalog / "data" / "growing"
    before = values(query(conn, "SELECT count(*) AS n FROM growing"), "n")
    write_deltalake(location, ranges_batch(1), mode="append")
    # The server's table stays on the snapshot it loaded.
    assert query(conn, "SELECT count(*) AS n FROM growing").column("n").to_pylist() == before

    ctx = SessionContext()
    tables = DeltaTables()
    pin = tables.register(ctx, ("datafusion", "public", "growing"), str(location), {"version": "0"})
    assert pin.version == 0
    count = "SELECT count(*) AS n FROM growing"
    assert ctx.sql(count).to_arrow_table().column("n").to_pylist() == before
    repinned = tables.repin(ctx, "datafusion.public.growing")
    assert repinned.version == 1
    assert repinned.file_count == 2
    assert repinned.files_hash != pin.files_hash
    assert values(ctx.sql(count).to_arrow_table(), "n") == [before[0] + RANGE_ROWS]


def test_pinned_file_set_is_what_scans_read(catalog: Path) -> None:
    provider = DeltaProvider(str(catalog / "data" / "ranges"))
    chosen = provider.files[:2]
    pinned = provider.pin_files(chosen)
    assert (pinned.pinned, pinned.file_count, pinned.files) == (True, 2, chosen)
    ctx = SessionContext()
    ctx.register_table("ranges", pinned)
    assert ctx.sql("SELECT count(*) AS n FROM ranges").to_arrow_table().column("n").to_pylist() == [
        2 * RANGE_ROWS
    ]
    scan = pinned.last_scan()
    assert scan is not None
    assert (scan.files, scan.files_hash) == (chosen, pinned.files_hash)
    with pytest.raises(ValueError, match=r"not-a-file\.parquet"):
        provider.pin_files(["not-a-file.parquet"])


def test_column_mapping_is_read_and_pruned(conn: flightsql.Connection, catalog: Path) -> None:
    provider = DeltaProvider(str(catalog / "data" / "mapped"))
    assert provider.unsupported_features == []
    result = query(conn, 'SELECT id, "Name X", "Part Y" FROM mapped')
    assert result.column_names == ["id", "Name X", "Part Y"]
    assert sorted_rows(result) == sorted_rows(deltalake_rows(catalog, "mapped"))
    assert sorted_rows(result)[0] == {"id": 1, "Name X": "a", "Part Y": "p"}

    sql = """SELECT "Name X" FROM mapped WHERE "Part Y" = 'q' AND id > 3"""
    assert query(conn, sql).column("Name X").to_pylist() == [None]
    assert files_opened(conn, sql) == 1


def test_unsupported_feature_falls_back_to_deltalake(
    conn: flightsql.Connection, server: ServerProcess, catalog: Path
) -> None:
    provider = DeltaProvider(str(catalog / "data" / "nested_mapped"))
    assert provider.unsupported_features == ["columnMapping (nested columns)"]
    result = query(conn, "SELECT id, s FROM nested_mapped")
    assert sorted_rows(result) == sorted_rows(deltalake_rows(catalog, "nested_mapped"))
    assert sorted_rows(result)[1] == {"id": 2, "s": {"a": 2, "b": "y"}}
    assert "nested_mapped: uses columnMapping (nested columns)" in server.log

    tables = DeltaTables()
    ctx = SessionContext()
    pin = tables.register(ctx, ("datafusion", "public", "m"), provider.uri, {})
    assert pin.provider == FALLBACK_PROVIDER
    assert pin.warning is not None and "columnMapping" in pin.warning
    assert ctx.sql("SELECT count(*) AS n FROM m").to_arrow_table().column("n").to_pylist() == [2]


def test_bad_delta_options_are_reported(tmp_path: Path) -> None:
    tables = DeltaTables()
    ctx = SessionContext()
    with pytest.raises(ValueError, match="unknown Delta table options"):
        tables.register(ctx, ("datafusion", "public", "x"), str(tmp_path), {"versoin": "1"})
    with pytest.raises(ValueError, match="not a number"):
        tables.register(ctx, ("datafusion", "public", "x"), str(tmp_path), {"version": "one"})
