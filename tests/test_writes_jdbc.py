"""Delta writes and declared keys through the Arrow Flight SQL JDBC driver:
executeUpdate (plain and prepared) into a Delta table with constraints, a
violating INSERT refused, getPrimaryKeys listing the declared key, and
DELETE/UPDATE/MERGE returning their affected row counts, on an unpartitioned
table and on a partitioned one with deletion vectors."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import DeltaTable, TableFeatures, write_deltalake

from tests.deletion_vectors import delete_rows
from tests.jdbc.probe import ProbeRunner, Report
from tests.jdbc.toolchain import compile_probe, fetch_driver
from tests.server_process import ServerProcess
from tests.test_jdbc import DRIVER_VERSIONS
from tests.test_writes_constraints import ORDERS


@pytest.fixture(scope="module")
def jdbc_writes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    catalog = tmp_path_factory.mktemp("jdbc-writes-catalog")
    (catalog / "tables").mkdir()
    (catalog / "tables/orders.toml").write_text(ORDERS)
    # The same rows as `rw` below, partitioned by p, plus a row another engine deleted
    # by deletion vector.
    parts = catalog / "data/rw_parts_dv"
    ids = [*range(1, 11), 99]
    rows = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "v": pa.array([float(i) for i in ids], pa.float64()),
            "p": [f"p{i % 2}" for i in ids],
        }
    )
    write_deltalake(parts, rows, partition_by=["p"])
    DeltaTable(parts).alter.add_feature(
        TableFeatures.DeletionVectors, allow_protocol_versions_increase=True
    )
    assert delete_rows(parts, lambda row: row["id"] == 99) == 1
    (catalog / "tables/rw_parts_dv.toml").write_text(
        'name = "rw_parts_dv"\nformat = "delta"\nlocation = "data/rw_parts_dv"\n'
    )
    state = tmp_path_factory.mktemp("jdbc-writes-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state), "--policy-allow-dml", "true"]
    with ServerProcess.start(args) as process:
        with flightsql.connect(process.uri, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE orders AS SELECT 1 AS id, 'ann' AS customer, 2 AS qty")
            cursor.execute(
                "CREATE TABLE rw AS SELECT CAST(value AS BIGINT) AS id, "
                "CAST(value AS DOUBLE) AS v, 'p' || CAST(value % 2 AS VARCHAR) AS p "
                "FROM generate_series(1, 10)"
            )
        yield process


@pytest.fixture(scope="module", params=DRIVER_VERSIONS, ids=lambda version: f"jdbc-{version}")
def report(request: pytest.FixtureRequest, jdbc_writes_server: ServerProcess) -> Report:
    runner = ProbeRunner(fetch_driver(request.param), compile_probe(), jdbc_writes_server.port)
    return runner.run("writes", "datafusion", "public", "orders")


@pytest.fixture(
    scope="module",
    params=[(version, table) for version in DRIVER_VERSIONS for table in ("rw", "rw_parts_dv")],
    ids=lambda param: f"jdbc-{param[0]}-{param[1]}",
)
def row_report(request: pytest.FixtureRequest, jdbc_writes_server: ServerProcess) -> Report:
    version, table = request.param
    runner = ProbeRunner(fetch_driver(version), compile_probe(), jdbc_writes_server.port)
    return runner.run("rowwrites", table)


def test_row_level_writes_return_affected_counts(row_report: Report) -> None:
    assert row_report.value("delete") == 2  # ids 1, 2
    assert row_report.value("update") == 2  # ids 9, 10
    assert row_report.value("merge") == 2  # 4 updated, 20 inserted
    assert row_report.value("update-prepared") == 1
    assert row_report.value("delete-prepared") == 1  # id 20
    assert "UPDATE ... FROM" in row_report.error("update-refused")["message"]
    rows = row_report.table("select").rows()
    assert [row[0] for row in rows] == list(range(3, 11))
    by_id = {row[0]: row for row in rows}
    assert by_id[4][1] == 40.5
    assert by_id[5][2] == "it's"
    assert (by_id[9][1], by_id[10][1]) == (90.0, 100.0)
    assert row_report.value("close") == "closed"


def test_get_primary_keys_shows_the_declared_key(report: Report) -> None:
    keys = report.table("getPrimaryKeys").records()
    assert [
        (row["TABLE_CAT"], row["TABLE_SCHEM"], row["TABLE_NAME"], row["COLUMN_NAME"])
        for row in keys
    ] == [("datafusion", "public", "orders", "id")]
    assert [(row["KEY_SEQ"], row["PK_NAME"]) for row in keys] == [(1, "pk")]


def test_execute_update_writes_to_the_delta_table(report: Report) -> None:
    assert report.value("insert") == 1
    assert report.value("insert-prepared") == 1
    assert report.table("select").rows() == [(1, "ann"), (10, "jdbc"), (11, "jdbc-prepared")]


def test_violating_update_names_the_constraint(report: Report) -> None:
    error = report.error("insert-violating")
    assert "qty_positive" in error["message"], error
    assert report.value("close") == "closed"
