"""Resource governance through a real server: admission, timeouts, memory."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode, Error
from google.protobuf import any_pb2
from prometheus_client.parser import text_string_to_metric_families
from pyarrow import flight

from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_protocol_flight import descriptor, packed

ENDLESS = "SELECT value FROM generate_series(1, 100000000000)"


def start(tmp_path: Path, *flags: str) -> ServerProcess:
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(tmp_path / "state")]
    return ServerProcess.start([*args, *flags])


def statement(query_text: str) -> flight.FlightDescriptor:
    return descriptor(sql.CommandStatementQuery(query=query_text))


def test_queries_beyond_the_slots_and_queue_are_refused_as_unavailable(tmp_path: Path) -> None:
    flags = ["--limits-max-concurrent-queries", "1", "--limits-max-queued-queries", "0"]
    with start(tmp_path, *flags) as server, flight.connect(server.uri) as client:
        info = client.get_flight_info(statement(ENDLESS))
        running = client.do_get(info.endpoints[0].ticket)
        first = running.read_chunk().data  # the stream holds the only slot while open
        assert first is not None and first.num_rows > 0
        with pytest.raises(flight.FlightUnavailableError, match="server busy"):
            client.get_flight_info(statement("SELECT 1"))
        running.cancel()
        del running
        # The slot comes back once the server has seen the stream end.
        assert one_when_a_slot_frees(client) == [1]


def one_when_a_slot_frees(client: flight.FlightClient, patience: float = 30.0) -> list[Any]:
    """Runs `SELECT 1`, retrying while the server answers that it is busy."""
    deadline = time.monotonic() + patience
    while True:
        try:
            info = client.get_flight_info(statement("SELECT 1 AS one"))
            return client.do_get(info.endpoints[0].ticket).read_all().column("one").to_pylist()
        except flight.FlightUnavailableError:
            if time.monotonic() > deadline:
                raise


def test_query_timeout_stops_the_stream(tmp_path: Path) -> None:
    with start(tmp_path, "--limits-query-timeout-seconds", "0.5") as server:
        with (
            flightsql.connect(server.uri, autocommit=True) as conn,
            pytest.raises(Error, match=r"ran longer than 0\.5 s") as raised,
        ):
            query(conn, ENDLESS)
        # Mid-stream, as before the first batch: DEADLINE_EXCEEDED.
        assert raised.value.status_code == AdbcStatusCode.TIMEOUT, str(raised.value)
        with flightsql.connect(server.uri, autocommit=True) as conn:
            assert query(conn, "SELECT count(*) AS n FROM nation")["n"].to_pylist() == [25]


def test_memory_limit_spills_or_fails_cleanly_and_the_server_keeps_serving(tmp_path: Path) -> None:
    limit = str(32 * 1024 * 1024)
    # A result row limit too: its count must not take the queries out of the memory pool.
    rows_limit = ("--policy-max-result-rows", str(10**9))
    with (
        start(tmp_path, "--limits-memory-limit-bytes", limit, *rows_limit) as server,
        flightsql.connect(server.uri, autocommit=True) as conn,
    ):
        # A sort of 48 MB of values, beyond the 32 MB pool, spills to disk and completes.
        ordered = query(conn, "SELECT value FROM generate_series(1, 6000000) ORDER BY value DESC")
        assert ordered.num_rows == 6_000_000
        assert ordered["value"][0].as_py() == 6_000_000
        # An aggregate that cannot spill fails with the engine's message.
        with pytest.raises((Error, OSError), match=r"(?i)resources exhausted"):
            query(conn, "SELECT array_agg(value) AS a FROM generate_series(1, 20000000)")
        assert query(conn, "SELECT count(*) AS n FROM region")["n"].to_pylist() == [5]


# -- prepared statements and sessions: a limit per session, expiry ----------------------------


def prepare(client: flight.FlightClient, sql_text: str) -> bytes:
    """CreatePreparedStatement; returns the handle."""
    request = sql.ActionCreatePreparedStatementRequest(query=sql_text)
    [result] = client.do_action(flight.Action("CreatePreparedStatement", packed(request)))
    wrapper = sql.ActionCreatePreparedStatementResult()
    any_message = any_pb2.Any()
    any_message.ParseFromString(result.body.to_pybytes())
    any_message.Unpack(wrapper)
    return wrapper.prepared_statement_handle


def close_prepared(client: flight.FlightClient, handle: bytes) -> None:
    request = sql.ActionClosePreparedStatementRequest(prepared_statement_handle=handle)
    list(client.do_action(flight.Action("ClosePreparedStatement", packed(request))))


def run_prepared(client: flight.FlightClient, handle: bytes) -> pa.Table:
    command = sql.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    info = client.get_flight_info(descriptor(command))
    return client.do_get(info.endpoints[0].ticket).read_all()


def test_open_prepared_statements_per_session_are_limited(tmp_path: Path) -> None:
    with start(tmp_path, "--limits-max-prepared-statements-per-session", "3") as server:
        with flight.connect(server.uri) as client:
            handles = [prepare(client, f"SELECT {n} AS n") for n in range(3)]
            with pytest.raises(pa.ArrowInvalid) as raised:
                prepare(client, "SELECT 4 AS n")
            message = str(raised.value)
            assert "limits.max_prepared_statements_per_session = 3" in message, message
            assert "holds 3 open prepared statements" in message
            # The open ones still run; closing one makes room.
            assert run_prepared(client, handles[0]).column("n").to_pylist() == [0]
            close_prepared(client, handles[0])
            handles[0] = prepare(client, "SELECT 5 AS n")
            # Another connection (without a session cookie, its own session) has its own count.
            with flight.connect(server.uri) as other:
                assert [run_prepared(other, prepare(other, f"SELECT {n} AS n")) for n in range(3)]
        # ADBC prepares every statement and closes it when done: the limit never bites.
        with flightsql.connect(server.uri, autocommit=True) as conn:
            for n in range(10):
                assert query(conn, f"SELECT {n} AS n")["n"].to_pylist() == [n]


def scrape(server: ServerProcess, name: str, **labels: str) -> float:
    """The value of one series on the server's /metrics (0 for a labelled one not seen yet)."""
    url = server.announced("http") + "/metrics"
    with urllib.request.urlopen(url) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    if labels:
        return 0.0
    raise AssertionError(f"no series {name}")


def wait_until(condition: Callable[[], bool], patience: float = 30.0) -> None:
    """Polls `condition` (a guard against a hang, not a measurement)."""
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


class CookieJar(flight.ClientMiddlewareFactory):
    """Keeps the session cookie, as the JDBC driver does."""

    def __init__(self) -> None:
        self.cookie: str | None = None

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        return _CookieCall(self)


class _CookieCall(flight.ClientMiddleware):
    def __init__(self, jar: CookieJar) -> None:
        self.jar = jar

    def sending_headers(self) -> dict[str, list[str] | list[bytes]]:
        return {"cookie": [self.jar.cookie]} if self.jar.cookie else {}

    def received_headers(self, headers: dict[str, list[str] | list[bytes]]) -> None:
        for value in headers.get("set-cookie", []):
            text = value.decode() if isinstance(value, bytes) else value
            self.jar.cookie = text.split(";", 1)[0]


def session_schema(client: flight.FlightClient) -> str:
    [result] = client.do_action(flight.Action("GetSessionOptions", b""))
    options = fs.GetSessionOptionsResult()
    options.ParseFromString(result.body.to_pybytes())
    return options.session_options["schema"].string_value


def test_idle_sessions_and_unused_prepared_statements_expire(tmp_path: Path) -> None:
    # Long enough that the checks before expiry finish first even on a loaded machine.
    idle = "3"
    flags = ["--http-port", "0", "--session-idle-seconds", idle, "--statement-ttl-seconds", idle]
    with (
        start(tmp_path, *flags) as server,
        flight.connect(server.uri, middleware=[CookieJar()]) as client,
    ):
        request = fs.SetSessionOptionsRequest()
        request.session_options["schema"].string_value = "information_schema"
        list(client.do_action(flight.Action("SetSessionOptions", request.SerializeToString())))
        assert session_schema(client) == "information_schema"
        handle = prepare(client, "SELECT 1 AS one")
        assert scrape(server, "flightserver_active_sessions") == 1
        assert scrape(server, "flightserver_prepared_statements") == 1
        # Left unused, both are forgotten.
        wait_until(lambda: scrape(server, "flightserver_active_sessions") == 0)
        wait_until(lambda: scrape(server, "flightserver_prepared_statements") == 0)
        assert session_schema(client) == "public"
        with pytest.raises(KeyError, match="prepared statement handle is unknown or has"):
            run_prepared(client, handle)


# -- client cancellation ----------------------------------------------------------------------

# A hash join keeps its build side (2 million rows) in the memory pool while its endless
# probe side streams: the query holds most of a 64 MiB pool for as long as it runs.
HOLDING = (
    "SELECT a.value FROM generate_series(1, 2000000) AS a"
    " JOIN generate_series(1, 100000000000) AS b ON a.value = b.value"
)
# An aggregate that cannot spill and needs most of the pool.
NEEDS_THE_POOL = "SELECT array_length(array_agg(value)) AS n FROM generate_series(1, 6000000)"


def pool_query_succeeds(client: flight.FlightClient) -> bool:
    try:
        info = client.get_flight_info(statement(NEEDS_THE_POOL))
        table = client.do_get(info.endpoints[0].ticket).read_all()
    except pa.ArrowException as exc:
        assert "Resources exhausted" in str(exc), str(exc)
        return False
    assert table.column("n").to_pylist() == [6_000_000]
    return True


def close_stream(client: flight.FlightClient, info: flight.FlightInfo, reader: Any) -> None:
    reader.cancel()


def cancel_flight_info(client: flight.FlightClient, info: flight.FlightInfo, reader: Any) -> None:
    request = fs.CancelFlightInfoRequest(info=info.serialize())
    [result] = client.do_action(flight.Action("CancelFlightInfo", request.SerializeToString()))
    answer = fs.CancelFlightInfoResult()
    answer.ParseFromString(result.body.to_pybytes())
    assert answer.status == fs.CANCEL_STATUS_CANCELLED
    # The stream ends with CANCELLED at the next batch the server produces. Read chunk by
    # chunk: pyarrow's read_all turns a CANCELLED status into KeyboardInterrupt.
    with pytest.raises(flight.FlightCancelledError, match="the query was cancelled"):
        while True:
            reader.read_chunk()


@pytest.mark.parametrize("stop", [close_stream, cancel_flight_info])
def test_client_cancellation_stops_the_query_and_frees_its_memory(
    tmp_path: Path, stop: Callable[[flight.FlightClient, flight.FlightInfo, Any], None]
) -> None:
    flags = ["--http-port", "0", "--limits-memory-limit-bytes", str(64 * 1024 * 1024)]
    with start(tmp_path, *flags) as server, flight.connect(server.uri) as client:
        info = client.get_flight_info(statement(HOLDING))
        reader = client.do_get(info.endpoints[0].ticket)
        first = reader.read_chunk().data
        assert first is not None and first.num_rows > 0
        assert scrape(server, "flightserver_active_queries") == 1
        # While the join runs, its build side fills the pool.
        assert not pool_query_succeeds(client)
        stop(client, info, reader)
        del reader
        wait_until(lambda: scrape(server, "flightserver_active_queries") == 0)
        # Its memory comes back to the pool (once DataFusion's tasks have unwound).
        wait_until(lambda: pool_query_succeeds(client))
        assert scrape(server, "flightserver_queries_total", status="cancelled") == 1
