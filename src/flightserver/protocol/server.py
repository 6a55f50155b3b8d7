"""The Flight SQL server: pyarrow.flight glue around one dispatch table per RPC.

A request flows decode (commands.unpack) -> handler (by message type) -> engine,
and every failure leaves through errors.to_flight_error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from google.protobuf.message import Message
from pyarrow import flight

from flightserver.engine.session import Engine
from flightserver.engine.streaming import stream_dataframe
from flightserver.protocol import commands, schemas
from flightserver.protocol.errors import (
    InvalidRequest,
    Unimplemented,
    engine_error,
    to_flight_error,
)
from flightserver.protocol.generated import flight_sql_pb2 as sql
from flightserver.protocol.sql_info import server_sql_info, sql_info_table
from flightserver.protocol.statements import StatementRegistry

log = logging.getLogger(__name__)

InfoHandler = Callable[[Any, flight.FlightDescriptor], flight.FlightInfo]
GetHandler = Callable[[Any], flight.FlightDataStream]
MetadataBuilder = Callable[[Any], pa.Table]


@contextmanager
def flight_errors() -> Generator[None]:
    """Re-raises any failure as the pyarrow exception carrying its gRPC status."""
    try:
        yield
    except Exception as exc:
        raise to_flight_error(exc) from exc


def single_endpoint_info(
    schema: pa.Schema, descriptor: flight.FlightDescriptor, ticket: bytes
) -> flight.FlightInfo:
    """A FlightInfo with one endpoint and no location: the client reuses its connection."""
    return flight.FlightInfo(schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1)


class FlightSqlServer(flight.FlightServerBase):
    def __init__(self, location: str, engine: Engine, **kwargs: Any) -> None:
        super().__init__(location, **kwargs)
        self.engine = engine
        self.statements = StatementRegistry(engine.config.statement_ttl_seconds)
        self.sql_info = server_sql_info()
        # Metadata commands: the result schema, and how to build the result.
        # They are their own tickets, so DoGet rebuilds the result from the command.
        self._metadata: dict[type[Message], tuple[pa.Schema, MetadataBuilder]] = {
            sql.CommandGetSqlInfo: (
                schemas.SQL_INFO,
                lambda command: sql_info_table(self.sql_info, command.info),
            ),
        }
        self._info_handlers: dict[type[Message], InfoHandler] = {
            sql.CommandStatementQuery: self._info_statement_query,
        } | {command: self._info_metadata for command in self._metadata}
        self._get_handlers: dict[type[Message], GetHandler] = {
            sql.TicketStatementQuery: self._get_statement,
        } | {command: self._get_metadata for command in self._metadata}

    # -- RPC entry points ---------------------------------------------------

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        with flight_errors():
            if descriptor.command is None:
                raise InvalidRequest("Flight SQL descriptors carry a command, not a path")
            command = commands.unpack(descriptor.command)
            return self._handler(self._info_handlers, command)(command, descriptor)

    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> pa.Schema:
        return self.get_flight_info(context, descriptor).schema

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        with flight_errors():
            command = commands.unpack(ticket.ticket)
            return self._handler(self._get_handlers, command)(command)

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[bytes]:
        with flight_errors():
            raise Unimplemented(f"unsupported action {action.type!r}")

    # pyarrow expects ActionType values here; its stubs wrongly say Action.
    def list_actions(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, context: flight.ServerCallContext
    ) -> list[flight.ActionType]:
        return []

    # -- statements ------------------------------------------------------------

    def _info_statement_query(
        self, command: sql.CommandStatementQuery, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        try:
            df, schema = self.engine.plan(command.query)
        except Exception as exc:
            raise engine_error(exc) from exc
        handle = self.statements.add(df, schema)
        ticket = commands.pack(sql.TicketStatementQuery(statement_handle=handle))
        return single_endpoint_info(schema, descriptor, ticket)

    def _get_statement(self, ticket: sql.TicketStatementQuery) -> flight.FlightDataStream:
        statement = self.statements.get(ticket.statement_handle)
        reader = stream_dataframe(statement.df, statement.schema, _engine_flight_error)
        return flight.RecordBatchStream(reader)

    # -- metadata --------------------------------------------------------------

    def _info_metadata(
        self, command: Message, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        schema, _ = self._metadata[type(command)]
        return single_endpoint_info(schema, descriptor, commands.pack(command))

    def _get_metadata(self, command: Message) -> flight.FlightDataStream:
        schema, build = self._metadata[type(command)]
        table = build(command)
        assert table.schema.equals(schema), (
            f"{command.DESCRIPTOR.full_name} result drifted from its schema"
        )
        return flight.RecordBatchStream(table)

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _handler(table: dict[type[Message], Any], command: Message) -> Any:
        handler = table.get(type(command))
        if handler is None:
            raise Unimplemented(f"{command.DESCRIPTOR.full_name} is not supported by this call")
        return handler


def _engine_flight_error(exc: Exception) -> Exception:
    return to_flight_error(engine_error(exc))
