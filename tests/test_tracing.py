"""OpenTelemetry: a span per RPC from the real server, tagged with the query id of its logs.

The server runs with the console exporter (one JSON line per span on its
stdout, which ServerProcess reads); the query id comes from its JSON log lines.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pytest
from pyarrow import flight

from flightserver.ops.tracing import QUERY_ID_ATTRIBUTE
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_limits import statement
from tests.test_queries import query

SERVICE = "arrow.flight.protocol.FlightService"


def start(state: Path, *flags: str) -> ServerProcess:
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state), "--log-format", "json"]
    return ServerProcess.start([*args, *flags])


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start(tmp_path_factory.mktemp("tracing"), "--tracing-exporter", "console") as server:
        yield server


def span_of(line: str) -> dict[str, Any] | None:
    if not line.startswith('{"name": "'):
        return None
    record = json.loads(line)
    return record if "context" in record and "kind" in record else None


def spans(server: ServerProcess) -> list[dict[str, Any]]:
    return [span for line in server.output if (span := span_of(line)) is not None]


def query_id_logged(server: ServerProcess, sql: str) -> str:
    """The query id of the 'query started' log line of `sql`."""
    line = server.wait_for_line(lambda line: f"query started: {sql}" in line)
    return json.loads(line)["query_id"]


def wait_for_span(server: ServerProcess, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first span matching `match` (spans are exported in batches, a few seconds late)."""

    def matches(line: str) -> bool:
        span = span_of(line)
        return span is not None and match(span)

    found = span_of(server.wait_for_line(matches))
    assert found is not None
    return found


def rpc_span(method: str, query_id: str) -> Callable[[dict[str, Any]], bool]:
    def match(span: dict[str, Any]) -> bool:
        attributes = span["attributes"]
        return (
            span["name"] == f"{SERVICE}/{method}" and attributes.get(QUERY_ID_ATTRIBUTE) == query_id
        )

    return match


def test_a_query_has_spans_for_planning_and_streaming_with_its_query_id(
    traced: ServerProcess,
) -> None:
    sql = f"SELECT n_name, '{secrets.token_hex(4)}' AS tag FROM nation"
    with flightsql.connect(traced.uri, autocommit=True) as conn:
        assert query(conn, sql).num_rows == 25
    query_id = query_id_logged(traced, sql)
    planned = wait_for_span(traced, rpc_span("GetFlightInfo", query_id))
    streamed = wait_for_span(traced, rpc_span("DoGet", query_id))
    for span in (planned, streamed):
        assert span["kind"] == "SpanKind.SERVER"
        assert span["attributes"]["rpc.system"] == "grpc"
        assert span["attributes"]["rpc.grpc.status_code"] == "OK"
        assert span["status"]["status_code"] == "UNSET"
        assert span["resource"]["attributes"]["service.name"] == "flightserver"
    assert planned["end_time"] <= streamed["start_time"]


def test_a_failed_statement_has_an_error_span_with_its_query_id(traced: ServerProcess) -> None:
    sql = f"SELECT * FROM no_such_table_{secrets.token_hex(4)}"
    with (
        flightsql.connect(traced.uri, autocommit=True) as conn,
        pytest.raises(flightsql.ProgrammingError),
    ):
        query(conn, sql)
    query_id = query_id_logged(traced, sql)
    # ADBC prepares each statement first: the failure is its CreatePreparedStatement action.
    span = wait_for_span(traced, rpc_span("DoAction", query_id))
    assert span["attributes"]["rpc.grpc.status_code"] == "INVALID_ARGUMENT"
    assert span["status"]["status_code"] == "ERROR"
    assert "no_such_table" in span["status"]["description"]


def test_a_clients_trace_context_makes_the_span_its_child(traced: ServerProcess) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{parent_id}-01"
    # pyarrow takes bytes here; its stubs say str.
    headers: Any = [(b"traceparent", traceparent.encode())]
    options = flight.FlightCallOptions(headers=headers)
    sql = f"SELECT {secrets.randbelow(10**9)} AS traced"
    with flight.connect(traced.uri) as client:
        info = client.get_flight_info(statement(sql), options)
        client.do_get(info.endpoints[0].ticket).read_all()
    query_id = query_id_logged(traced, sql)
    span = wait_for_span(traced, rpc_span("GetFlightInfo", query_id))
    assert span["context"]["trace_id"] == f"0x{trace_id}"
    assert span["parent_id"] == f"0x{parent_id}"


def test_tracing_is_off_by_default(tmp_path: Path) -> None:
    with start(tmp_path) as server:
        sql = "SELECT 1 AS untraced"
        with flightsql.connect(server.uri, autocommit=True) as conn:
            assert query(conn, sql).num_rows == 1
        query_id_logged(server, sql)
        server.stop()  # an exporter would flush its spans at exit
        assert spans(server) == []
        assert '"query_id"' in server.log
