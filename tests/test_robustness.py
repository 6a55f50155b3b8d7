"""Hostile and malformed input: clear statuses, never a crash or a hang.

Loopback only, bounded in count: hypothesis draws a fixed number of examples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode, Error
from google.protobuf import any_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyarrow import flight

from flightserver.protocol import commands
from flightserver.protocol.errors import RequestError
from flightserver.protocol.generated import flight_sql_pb2 as sql
from tests.clients import query
from tests.server_process import ServerProcess
from tests.test_protocol_flight import descriptor

# Statuses a malformed request may get: anything but INTERNAL or UNKNOWN.
CLEAR_STATUSES = (
    pa.ArrowInvalid,
    pa.ArrowKeyError,
    pa.ArrowNotImplementedError,
    flight.FlightUnauthorizedError,
    flight.FlightCancelledError,
)
COMMAND_TYPES = [
    sql.CommandStatementQuery,
    sql.CommandPreparedStatementQuery,
    sql.CommandGetTables,
    sql.CommandGetDbSchemas,
    sql.TicketStatementQuery,
    sql.CommandStatementIngest,
]
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def any_with(type_url: str, value: bytes) -> bytes:
    return any_pb2.Any(type_url=type_url, value=value).SerializeToString()


payloads = st.one_of(
    st.binary(max_size=256),
    st.builds(
        any_with,
        st.sampled_from([f"type.googleapis.com/{c.DESCRIPTOR.full_name}" for c in COMMAND_TYPES])
        | st.text(max_size=40),
        st.binary(max_size=128),
    ),
)


@FUZZ
@given(payloads)
def test_command_decoder_accepts_or_refuses_cleanly(payload: bytes) -> None:
    with contextlib.suppress(RequestError):
        assert isinstance(commands.unpack(payload), Message)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[flight.FlightClient]:
    with flight.connect(server.uri) as connection:
        yield connection


def answers_clearly(call: Callable[[], object]) -> None:
    try:
        call()
    except CLEAR_STATUSES as error:
        assert "Traceback" not in str(error)


@FUZZ
@given(payloads)
def test_server_answers_garbage_commands_and_tickets_clearly(
    server: ServerProcess, client: flight.FlightClient, payload: bytes
) -> None:
    answers_clearly(lambda: client.get_flight_info(flight.FlightDescriptor.for_command(payload)))
    answers_clearly(lambda: client.do_get(flight.Ticket(payload)).read_all())
    for action in (
        "CreatePreparedStatement",
        "ClosePreparedStatement",
        "CancelFlightInfo",
        "SetSessionOptions",
    ):
        answers_clearly(lambda a=action: list(client.do_action(flight.Action(a, payload))))
    assert server.alive()


sql_fragments = st.lists(
    st.sampled_from(
        ["SELECT", "*", "FROM", "nation", "WHERE", "n_nationkey", "=", "1", "(", ")", ",", "'x'",
         "GROUP BY", "ORDER BY", "JOIN", "region", "ON", "AND", "OR", "NULL", "?", "$1", ";",
         "CREATE", "TABLE", "DROP", "--", "/*", "*/", '"', "CAST", "AS", "INT", "UNION", "LIMIT"]
    ),
    max_size=20,
).map(" ".join)  # fmt: skip


@FUZZ
@given(st.one_of(sql_fragments, st.text(max_size=200)))
def test_sql_entry_point_answers_any_text_clearly(
    server: ServerProcess, client: flight.FlightClient, text: str
) -> None:
    answers_clearly(lambda: fetch_statement(client, text))
    assert server.alive()


def fetch_statement(client: flight.FlightClient, text: str) -> None:
    info = client.get_flight_info(descriptor(sql.CommandStatementQuery(query=text)))
    for endpoint in info.endpoints:
        client.do_get(endpoint.ticket).read_all()


def test_huge_and_deeply_nested_statements_are_refused(
    server: ServerProcess, conn: flightsql.Connection
) -> None:
    for statement in (
        "SELECT " + "+".join(["1"] * 100_000),  # overflows DataFusion's planner unchecked
        "SELECT " + "(" * 10_000 + "1" + ")" * 10_000,
        "SELECT '" + "x" * 2_000_000 + "'",
    ):
        with pytest.raises(Error) as raised:
            query(conn, statement)
        assert raised.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
    assert server.alive()
    # Large but reasonable statements still run: a BI tool's long OR chain.
    chain = " OR ".join(f"n_nationkey = {key}" for key in range(1_000))
    assert query(conn, f"SELECT count(*) AS n FROM nation WHERE {chain}")["n"].to_pylist() == [25]


def test_parameters_with_the_wrong_shape_are_refused(conn: flightsql.Connection) -> None:
    with conn.cursor() as cursor:
        with pytest.raises(Error) as too_many:
            cursor.execute("SELECT n_name FROM nation WHERE n_nationkey = ?", parameters=(1, 2, 3))
        assert too_many.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
        with pytest.raises(Error) as wrong_type:
            cursor.execute("SELECT n_name FROM nation WHERE n_nationkey = ?", parameters=("seven",))
        assert wrong_type.value.status_code == AdbcStatusCode.INVALID_ARGUMENT
        assert "parameter 1" in str(wrong_type.value)


def test_unknown_prepared_handles_are_not_found(client: flight.FlightClient) -> None:
    request = commands.pack(
        sql.ActionClosePreparedStatementRequest(prepared_statement_handle=b"nope")
    )
    with pytest.raises(pa.ArrowKeyError, match="unknown or has expired"):
        list(client.do_action(flight.Action("ClosePreparedStatement", request)))
    with pytest.raises(pa.ArrowKeyError):
        client.get_flight_info(
            descriptor(sql.CommandPreparedStatementQuery(prepared_statement_handle=b"x"))
        )
