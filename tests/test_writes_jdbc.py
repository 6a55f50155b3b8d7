"""Delta writes and declared keys through the Arrow Flight SQL JDBC driver:
executeUpdate (plain and prepared) into a Delta table with constraints, a
violating INSERT refused, and getPrimaryKeys listing the declared key."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flightsql
import pytest

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
    state = tmp_path_factory.mktemp("jdbc-writes-state")
    args = ["--catalog-dir", str(catalog), "--state-dir", str(state), "--policy-allow-dml", "true"]
    with ServerProcess.start(args) as process:
        with flightsql.connect(process.uri, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE orders AS SELECT 1 AS id, 'ann' AS customer, 2 AS qty")
        yield process


@pytest.fixture(scope="module", params=DRIVER_VERSIONS, ids=lambda version: f"jdbc-{version}")
def report(request: pytest.FixtureRequest, jdbc_writes_server: ServerProcess) -> Report:
    runner = ProbeRunner(fetch_driver(request.param), compile_probe(), jdbc_writes_server.port)
    return runner.run("writes", "datafusion", "public", "orders")


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
