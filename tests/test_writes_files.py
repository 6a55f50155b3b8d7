"""Non-Delta writes run in DataFusion and leave a write artifact: COPY ... TO
with partitioning and format options, INSERT INTO a listing table. A real
server, driven through ADBC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.csv
import pyarrow.dataset
import pyarrow.parquet
import pytest
from pyarrow import flight

from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    catalog = tmp_path_factory.mktemp("files-catalog")
    (catalog / "tables").mkdir()
    events = catalog / "data/events"
    events.mkdir(parents=True)
    pyarrow.parquet.write_table(
        pa.table({"id": pa.array([1, 2], pa.int64()), "kind": ["a", "b"]}),
        events / "part-0.parquet",
    )
    (catalog / "tables/events.toml").write_text(
        'name = "events"\nformat = "parquet"\nlocation = "data/events/"\n'
    )
    return catalog, tmp_path_factory.mktemp("files-state")


@pytest.fixture(scope="module")
def files_server(dirs: tuple[Path, Path]) -> Iterator[ServerProcess]:
    catalog, state = dirs
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state)]
    args += ["--policy-allow-dml", "true", "--policy-allow-copy", "true"]
    with ServerProcess.start(args) as process:
        yield process


@pytest.fixture
def fconn(files_server: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(files_server.uri, autocommit=True) as connection:
        yield connection


def execute(conn: flightsql.Connection, sql: str) -> int:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.rowcount


def write_outcome(uri: str, marker: str) -> dict[str, Any]:
    """The write outcome of the one statement whose SQL holds `marker`."""
    client = flight.FlightClient(uri)
    list(client.do_action(flight.Action("ListArtifacts", b'{"limit": 1}')))  # flushes
    with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(
            f"SELECT payload FROM system.queries WHERE sql LIKE '%{marker}%' AND status = 'ok'"
        )
        payloads = cursor.fetch_arrow_table()["payload"].to_pylist()
    assert len(payloads) == 1
    return json.loads(str(payloads[0]))["write"]


def test_copy_with_partitions_and_options_records_its_files(
    fconn: flightsql.Connection, files_server: ServerProcess, dirs: tuple[Path, Path]
) -> None:
    target = dirs[1] / "exports/by_kind"
    sql = (
        "COPY (SELECT * FROM (VALUES (1, 'x'), (2, 'y'), (3, 'x')) AS v(id, kind)) "
        f"TO '{target}/' STORED AS PARQUET PARTITIONED BY (kind) "
        "OPTIONS ('format.compression' 'zstd(3)')"
    )
    assert execute(fconn, sql) == 3
    outcome = write_outcome(files_server.uri, "by_kind")
    files = sorted(target.rglob("*.parquet"))
    assert outcome["target"] == f"{target}/"
    assert outcome["rows"] == 3
    assert outcome["files"] == [str(file) for file in files]
    assert outcome["files_added"] == len(files) == 2
    assert outcome["bytes"] == sum(file.stat().st_size for file in files)
    assert {file.parent.name for file in files} == {"kind=x", "kind=y"}
    assert pyarrow.parquet.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == (
        "ZSTD"
    )
    written = pyarrow.dataset.dataset(target, partitioning="hive").to_table()
    assert written.sort_by("id")["id"].to_pylist() == [1, 2, 3]


def test_copy_to_csv_file(
    fconn: flightsql.Connection, files_server: ServerProcess, dirs: tuple[Path, Path]
) -> None:
    target = dirs[1] / "exports/single_csv.csv"
    sql = (
        f"COPY (SELECT 1 AS a, 'q' AS b) TO '{target}' STORED AS CSV"
        " OPTIONS ('format.has_header' 'true')"
    )
    assert execute(fconn, sql) == 1
    outcome = write_outcome(files_server.uri, "single_csv")
    assert outcome["files"] == [str(target)]
    assert outcome["bytes"] == target.stat().st_size
    assert pyarrow.csv.read_csv(target).to_pylist() == [{"a": 1, "b": "q"}]


def test_insert_into_listing_table_records_the_new_file(
    fconn: flightsql.Connection, files_server: ServerProcess, dirs: tuple[Path, Path]
) -> None:
    events = dirs[0] / "data/events"
    before = set(events.iterdir())
    assert execute(fconn, "INSERT INTO events VALUES (3, 'listing_marker')") == 1
    added = sorted(set(events.iterdir()) - before)
    assert len(added) == 1
    outcome = write_outcome(files_server.uri, "listing_marker")
    assert outcome["target"] == "datafusion.public.events"
    assert outcome["format"] == "parquet"
    assert outcome["files"] == [str(added[0])]
    assert outcome["rows"] == 1
    assert outcome["bytes"] == added[0].stat().st_size
    with fconn.cursor() as cursor:
        cursor.execute("SELECT kind FROM events ORDER BY id")
        assert cursor.fetch_arrow_table()["kind"].to_pylist() == ["a", "b", "listing_marker"]
