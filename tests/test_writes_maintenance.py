"""The Delta maintenance policy: applied after commits and on demand, per-table
overrides, adoption state through an action and `system.maintenance`, and the
`flightserver maintenance` command. A real server, ADBC and Flight."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyarrow import flight

from tests.deletion_vectors import delete_rows
from tests.server_process import ServerProcess

CONFIG = """
[policy]
allow_dml = true

[maintenance]
checkpoint_interval = 3
optimize_min_small_files = 4
target_file_bytes = 1048576
vacuum_retention_hours = 0.0

[maintenance.tables."datafusion.public.with_dv"]
deletion_vectors = true

[maintenance.tables."datafusion.public.on_demand"]
after_commit = false

[maintenance.tables."datafusion.public.with_v2"]
v2_checkpoints = true

[maintenance.tables."datafusion.public.purged"]
after_commit = false
deletion_vectors = true
purge_deleted_fraction = 0.5

[maintenance.tables."datafusion.public.lone"]
after_commit = false
deletion_vectors = true
purge_deleted_fraction = 0.5
"""


@pytest.fixture(scope="module")
def mserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("maintenance")
    (root / "catalog/tables").mkdir(parents=True)
    (root / "server.toml").write_text(CONFIG)
    args = ["--config", str(root / "server.toml"), "--catalog-dir", str(root / "catalog")]
    with ServerProcess.start([*args, "--state-dir", str(root / "state")]) as process:
        yield process


@pytest.fixture
def mconn(mserver: ServerProcess) -> Iterator[flightsql.Connection]:
    with flightsql.connect(mserver.uri, autocommit=True) as connection:
        yield connection


def execute(conn: flightsql.Connection, statement: str) -> pa.Table | None:
    with conn.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetch_arrow_table() if statement.startswith("SELECT") else None


def action(uri: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    client = flight.FlightClient(uri)
    results = list(client.do_action(flight.Action(name, json.dumps(body).encode())))
    return json.loads(results[0].body.to_pybytes())


def status(uri: str, table: str) -> dict[str, Any]:
    return action(uri, "MaintenanceStatus", {"table": f"datafusion.public.{table}"})["tables"][0]


def test_policy_is_applied_after_commits(
    mconn: flightsql.Connection, mserver: ServerProcess
) -> None:
    execute(mconn, "CREATE TABLE kept_small AS SELECT 0 AS k")
    adopted = status(mserver.uri, "kept_small")
    assert adopted["checkpoint_interval"] == 3
    assert adopted["policy_adopted"] is True
    assert adopted["deletion_vectors"] is False
    assert (adopted["min_reader_version"], adopted["min_writer_version"]) == (1, 2)
    for k in range(1, 5):  # each INSERT adds a small file
        execute(mconn, f"INSERT INTO kept_small VALUES ({k})")
    adopted = status(mserver.uri, "kept_small")
    # The fourth small file triggered optimize, whose replaced files were vacuumed.
    assert adopted["last_optimize"] is not None
    assert adopted["last_vacuum"] is not None
    assert adopted["file_count"] < 5
    assert adopted["last_checkpoint_version"] is not None
    location = adopted["location"]
    assert len(DeltaTable(location).file_uris()) == adopted["file_count"]
    assert len(list(Path(location).glob("*.parquet"))) == adopted["file_count"]
    table = execute(mconn, "SELECT k FROM kept_small ORDER BY k")
    assert table is not None
    assert table["k"].to_pylist() == [0, 1, 2, 3, 4]


def test_per_table_override_enables_deletion_vectors(
    mconn: flightsql.Connection, mserver: ServerProcess
) -> None:
    execute(mconn, "CREATE TABLE with_dv AS SELECT 1 AS k")
    adopted = status(mserver.uri, "with_dv")
    assert adopted["deletion_vectors"] is True
    assert "deletionVectors" in adopted["reader_features"]
    assert adopted["min_reader_version"] == 3
    execute(mconn, "INSERT INTO with_dv VALUES (2)")
    table = execute(mconn, "SELECT count(*) AS n FROM with_dv")
    assert table is not None
    assert table["n"].to_pylist() == [2]


def test_on_demand_run_and_system_table(
    mconn: flightsql.Connection, mserver: ServerProcess
) -> None:
    execute(mconn, "CREATE TABLE on_demand AS SELECT 1 AS k")
    assert status(mserver.uri, "on_demand")["policy_adopted"] is False  # after_commit is off
    response = action(mserver.uri, "RunMaintenance", {"table": "datafusion.public.on_demand"})
    [run] = response["runs"]
    assert run["properties_set"] == {"delta.checkpointInterval": "3"}
    assert run["adoption"]["policy_adopted"] is True
    rows = execute(
        mconn,
        "SELECT table_name, policy_adopted, checkpoint_interval FROM system.maintenance"
        " WHERE table_name = 'datafusion.public.on_demand'",
    )
    assert rows is not None
    assert rows.to_pylist() == [
        {
            "table_name": "datafusion.public.on_demand",
            "policy_adopted": True,
            "checkpoint_interval": 3,
        }
    ]


def test_unknown_table_is_not_found(mserver: ServerProcess) -> None:
    with pytest.raises(pa.ArrowKeyError, match="no Delta table"):
        action(mserver.uri, "RunMaintenance", {"table": "datafusion.public.nope"})
    with pytest.raises(pa.ArrowInvalid, match="version"):
        action(mserver.uri, "MaintenanceStatus", {"version": 2})


def test_cli_runs_and_reports(mconn: flightsql.Connection, mserver: ServerProcess) -> None:
    execute(mconn, "CREATE TABLE by_cli AS SELECT 1 AS k")
    command = [sys.executable, "-m", "flightserver", "maintenance"]
    ran = subprocess.run(
        [*command, "run", "--uri", mserver.uri], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert "datafusion.public.by_cli: version" in ran.stdout
    assert "datafusion.public.kept_small: version" in ran.stdout
    shown = subprocess.run(
        [*command, "status", "--uri", mserver.uri, "--table", "datafusion.public.by_cli"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "datafusion.public.by_cli" in shown.stdout
    assert "yes" in shown.stdout
    missing = subprocess.run(
        [*command, "status", "--uri", mserver.uri, "--table", "x.y.z"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "no Delta table" in missing.stderr


def test_v2_checkpoints_are_adopted(mconn: flightsql.Connection, mserver: ServerProcess) -> None:
    execute(mconn, "CREATE TABLE with_v2 AS SELECT 1 AS k")
    for k in range(2, 6):
        execute(mconn, f"INSERT INTO with_v2 VALUES ({k})")
    execute(mconn, "DELETE FROM with_v2 WHERE k = 3")
    adopted = status(mserver.uri, "with_v2")
    assert adopted["v2_checkpoints"] is True
    assert "v2Checkpoint" in adopted["reader_features"]
    assert adopted["policy_adopted"] is True
    checkpoint = adopted["last_checkpoint_version"]
    assert checkpoint is not None
    # A v2-spec checkpoint (classic file name) carries its checkpointMetadata action.
    log = Path(adopted["location"]) / "_delta_log"
    written = pq.read_table(log / f"{checkpoint:020d}.checkpoint.parquet")
    assert "checkpointMetadata" in written.schema.names
    rows = execute(mconn, "SELECT k FROM with_v2 ORDER BY k")
    assert rows is not None
    assert rows["k"].to_pylist() == [1, 2, 4, 5]
    rows = execute(
        mconn,
        "SELECT v2_checkpoints FROM system.maintenance"
        " WHERE table_name = 'datafusion.public.with_v2'",
    )
    assert rows is not None and rows.to_pylist() == [{"v2_checkpoints": True}]


def test_optimize_purges_deletion_vectors(
    mconn: flightsql.Connection, mserver: ServerProcess
) -> None:
    execute(
        mconn,
        "CREATE TABLE purged AS SELECT CAST(value AS BIGINT) AS id FROM generate_series(1, 10)",
    )
    execute(mconn, "INSERT INTO purged SELECT CAST(value AS BIGINT) FROM generate_series(11, 20)")
    action(mserver.uri, "RunMaintenance", {"table": "datafusion.public.purged"})  # enables DVs
    location = Path(status(mserver.uri, "purged")["location"])
    assert delete_rows(location, lambda row: row["id"] <= 6) == 6  # another engine's DELETE
    [run] = action(mserver.uri, "RunMaintenance", {"table": "datafusion.public.purged"})["runs"]
    assert run["files_compacted"] == 2
    assert run["adoption"]["deletion_vector_files"] == 0
    rows = execute(mconn, "SELECT id FROM purged ORDER BY id")
    assert rows is not None
    assert rows["id"].to_pylist() == list(range(7, 21))


def test_optimize_purges_a_file_alone_in_its_partition(
    mconn: flightsql.Connection, mserver: ServerProcess
) -> None:
    # One file per partition: nothing for compaction to bin it with.
    execute(
        mconn,
        "CREATE TABLE lone AS SELECT CAST(value AS BIGINT) AS id, value % 2 AS part"
        " FROM generate_series(1, 20)",
    )
    action(mserver.uri, "RunMaintenance", {"table": "datafusion.public.lone"})  # enables DVs
    location = Path(status(mserver.uri, "lone")["location"])
    assert delete_rows(location, lambda row: row["id"] <= 12) == 12
    assert status(mserver.uri, "lone")["deletion_vector_files"] == 1
    [run] = action(mserver.uri, "RunMaintenance", {"table": "datafusion.public.lone"})["runs"]
    assert run["files_compacted"] >= 1
    assert run["adoption"]["deletion_vector_files"] == 0
    rows = execute(mconn, "SELECT id FROM lone ORDER BY id")
    assert rows is not None
    assert rows["id"].to_pylist() == list(range(13, 21))
