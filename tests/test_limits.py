"""Resource governance through a real server: admission, timeouts, memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pytest
from adbc_driver_manager import Error
from pyarrow import flight

from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_protocol_flight import descriptor
from tests.test_queries import query

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
            pytest.raises((Error, OSError), match=r"ran longer than 0\.5 s"),
        ):
            query(conn, ENDLESS)
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
