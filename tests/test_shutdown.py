"""Graceful shutdown: SIGTERM stops new calls, cancels running queries, exits 0."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from pyarrow import flight

from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess
from tests.test_limits import ENDLESS
from tests.test_protocol_flight import descriptor


def test_sigterm_cancels_running_queries_and_exits_cleanly(tmp_path: Path) -> None:
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(tmp_path)]
    server = ServerProcess.start([*args, "--shutdown-grace-seconds", "20"])
    with server, flight.connect(server.uri) as client:
        info = client.get_flight_info(descriptor(sql.CommandStatementQuery(query=ENDLESS)))
        stream = client.do_get(info.endpoints[0].ticket)
        assert stream.read_chunk().data is not None
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(flight.FlightError):
            while True:  # the endless query ends with an error once the server cancels it
                stream.read_chunk()
        assert server.process.wait(timeout=60) == 0
    assert "shutting down" in server.log
    assert "stopped" in server.log
