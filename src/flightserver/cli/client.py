"""A minimal Flight SQL client over pyarrow.flight, for the operator commands."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pyarrow as pa
from pyarrow import flight

from flightserver.protocol import commands
from flightserver.protocol.generated import flight_sql_pb2 as sql


class ClientError(Exception):
    """The server could not be reached or refused the request."""


# What pyarrow.flight raises for a failed call: Flight errors, and Arrow errors
# for the statuses Flight has no class of its own for (INVALID_ARGUMENT, ...).
_CALL_ERRORS = (flight.FlightError, pa.ArrowException)


class Connection:
    """A Flight client and the call headers it sends (a bearer token after a login)."""

    def __init__(self, uri: str, user: str | None = None, password: str | None = None) -> None:
        try:
            self.client = flight.FlightClient(uri)
            self.headers: list[tuple[str, str]] = []
            if user is not None:
                self.headers.append(self.client.authenticate_basic_token(user, password or ""))
        except _CALL_ERRORS as exc:
            raise ClientError(f"cannot connect to {uri}: {exc}") from exc

    def options(self, timeout: float | None) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(timeout=timeout, headers=self.headers)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()


def connect(uri: str, user: str | None = None, password: str | None = None) -> Connection:
    return Connection(uri, user, password)


def query_batches(
    connection: Connection, statement: str, timeout: float | None = None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Plans `statement`; returns its schema and its batches, streamed as they arrive."""
    client = connection.client
    options = connection.options(timeout)
    command = commands.pack(sql.CommandStatementQuery(query=statement))
    try:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
    except _CALL_ERRORS as exc:
        raise ClientError(str(exc)) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        for endpoint in info.endpoints:
            try:
                reader = client.do_get(endpoint.ticket, options)
                for chunk in reader:
                    if chunk.data is not None:  # metadata-only messages carry no batch
                        yield chunk.data
            except _CALL_ERRORS as exc:
                raise ClientError(str(exc)) from exc

    return info.schema, batches()


def action_json(
    connection: Connection, name: str, timeout: float | None = None, body: bytes = b""
) -> dict[str, object]:
    """Runs the custom action `name` and decodes its one JSON result."""
    options = connection.options(timeout)
    try:
        results = list(connection.client.do_action(flight.Action(name, body), options))
    except _CALL_ERRORS as exc:
        raise ClientError(str(exc)) from exc
    if len(results) != 1:
        raise ClientError(f"action {name} returned {len(results)} results, expected 1")
    return msgspec.json.decode(results[0].body.to_pybytes(), type=dict[str, object])
