"""Metrics: the named Prometheus series exist and move as queries run; query ids join logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import adbc_driver_flightsql.dbapi as flightsql
import pytest
from pyarrow import flight

from flightserver.cli.client import connect, query_batches
from flightserver.protocol import commands
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.conftest import DEMO_CATALOG
from tests.scrape import http_get as _get
from tests.scrape import sample_value as _value
from tests.scrape import scrape as _scrape
from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state_dir = tmp_path_factory.mktemp("ops-metrics-state")
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state_dir)]
    args += ["--http-port", "0", "--log-format", "json"]
    with ServerProcess.start(args) as process:
        yield process


def test_named_series_are_exposed(ops_server: ServerProcess) -> None:
    samples = _scrape(ops_server)
    names = {name for name, _ in samples}
    for series in (
        "flightserver_active_queries",
        "flightserver_active_sessions",
        "flightserver_arrow_memory_bytes",
        "flightserver_catalog_load_seconds",
        "flightserver_rows_streamed_total",
        "flightserver_bytes_streamed_total",
        "flightserver_ready",
        "process_resident_memory_bytes",
    ):
        assert series in names, series
    assert _value(samples, "flightserver_ready") == 1
    assert _value(samples, "flightserver_catalog_load_seconds") > 0
    assert _value(samples, "flightserver_catalog_tables", state="loaded") == 3
    assert _value(samples, "flightserver_catalog_tables", state="failed") == 0


def test_series_move_when_queries_run(ops_server: ServerProcess) -> None:
    before = _scrape(ops_server)
    with flightsql.connect(ops_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT n_name FROM nation")
        assert cur.fetch_arrow_table().num_rows == 25
        with pytest.raises(flightsql.Error):
            cur.execute("SELECT * FROM no_such_table")
        sessions_while_connected = _value(_scrape(ops_server), "flightserver_active_sessions")
    after = _scrape(ops_server)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("flightserver_queries_total", status="ok") == 1
    assert moved("flightserver_queries_total", status="error") == 1
    assert moved("flightserver_query_duration_seconds_count", status="ok") == 1
    assert moved("flightserver_rows_streamed_total") == 25
    assert moved("flightserver_bytes_streamed_total") > 0
    # ADBC also reads SqlInfo on connect: more than our one statement's RPCs.
    assert moved("flightserver_rpcs_total", method="DO_GET", code="OK") >= 1
    assert moved("flightserver_rpcs_total", method="GET_FLIGHT_INFO", code="OK") >= 1
    # The unknown table fails while ADBC prepares it (CreatePreparedStatement).
    assert moved("flightserver_rpcs_total", method="DO_ACTION", code="INVALID_ARGUMENT") == 1
    assert moved("flightserver_rpc_duration_seconds_count", method="DO_GET") >= 1
    assert sessions_while_connected >= 0
    assert _value(after, "flightserver_active_queries") == 0


def test_active_query_until_streamed(ops_server: ServerProcess) -> None:
    statement = "SELECT r_name FROM region"
    with flight.FlightClient(ops_server.uri) as client:
        command = commands.pack(sql.CommandStatementQuery(query=statement))
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
        assert _value(_scrape(ops_server), "flightserver_active_queries") == 1
        status = json.loads(_get(ops_server, "/api/status"))
        assert [q["sql"] for q in status["active_queries"]] == [statement]
        assert status["active_queries"][0]["status"] == "running"
        table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.num_rows == 5
    assert _value(_scrape(ops_server), "flightserver_active_queries") == 0


def test_query_id_ties_history_logs_and_exemplars(ops_server: ServerProcess) -> None:
    statement = "SELECT c_custkey FROM customer WHERE c_custkey < 11"
    with connect(ops_server.uri) as connection:
        _, batches = query_batches(connection, statement)
        assert sum(batch.num_rows for batch in batches) == 10
    status = json.loads(_get(ops_server, "/api/status"))
    record = next(q for q in status["recent_queries"] if q["sql"] == statement)
    assert record["status"] == "ok"
    assert record["rows"] == 10
    query_id = record["query_id"]

    def logged(message: str) -> Callable[[str], bool]:
        def matches(line: str) -> bool:
            if not line.startswith("{"):
                return False
            record = json.loads(line)
            return record.get("query_id") == query_id and record["message"].startswith(message)

        return matches

    # The finish line may reach us just after the history entry does.
    ops_server.wait_for_line(logged("query started"))
    ops_server.wait_for_line(logged("query ok"))

    # The latest observation of a histogram bucket keeps its query id as exemplar.
    openmetrics = _get(ops_server, "/metrics", accept="application/openmetrics-text").decode()
    assert f'query_id="{query_id}"' in openmetrics
