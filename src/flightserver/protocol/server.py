"""The Flight SQL server: pyarrow.flight glue around one dispatch table per RPC.

A request flows: decode (commands.unpack) -> the handler registered for its
message type -> the engine. Every failure leaves through errors.to_flight_error,
so each gets its gRPC status in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from datafusion import SessionContext
from google.protobuf.message import Message
from pyarrow import flight

from flightserver.actions import ActionContext, CustomAction, all_actions
from flightserver.engine.session import (
    DEFAULT_CATALOG,
    DEFAULT_SCHEMA,
    Engine,
    Scope,
    session_config,
)
from flightserver.engine.statements import substrait_version
from flightserver.ops.rpc import traced_call
from flightserver.protocol import commands, metadata, schemas
from flightserver.protocol.call_headers import (
    CALL_HEADERS_KEY,
    CallHeadersFactory,
    needs_client_types,
)
from flightserver.protocol.errors import InvalidRequest, Unimplemented, to_flight_error
from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.generated import flight_sql_pb2 as sql
from flightserver.protocol.ingest import ingest_command
from flightserver.protocol.sessions import (
    RoleOf,
    SessionRegistry,
)
from flightserver.protocol.sql_info import server_sql_info, sql_info_table
from flightserver.protocol.statements import StatementService, single_endpoint_info

log = logging.getLogger(__name__)

Call = flight.ServerCallContext
InfoHandler = Callable[[Scope, Any, flight.FlightDescriptor], flight.FlightInfo]
PutHandler = Callable[[Call, Any, flight.MetadataRecordBatchReader], bytes]
ActionHandler = Callable[[Call, bytes], list[bytes]]
MetadataBuilder = Callable[[SessionContext, Any], pa.Table]


@contextmanager
def flight_errors() -> Generator[None]:
    """Re-raises any failure as the pyarrow exception carrying its gRPC status."""
    try:
        yield
    except Exception as exc:
        raise to_flight_error(exc) from exc


class FlightSqlServer(flight.FlightServerBase):
    def __init__(
        self,
        location: str,
        engine: Engine,
        role_of: RoleOf = lambda _: None,
        **kwargs: Any,
    ) -> None:
        """`role_of` names the role of a call's caller (None: the server has no users)."""
        middleware: dict[str, flight.ServerMiddlewareFactory] = {
            CALL_HEADERS_KEY: CallHeadersFactory(),
            **kwargs.pop("middleware", {}),
        }
        super().__init__(location, middleware=middleware, **kwargs)
        self.engine = engine
        self.statements = StatementService(engine)
        self.sessions = SessionRegistry(
            engine.ctx,
            engine.scope,
            role_of,
            default_catalog=DEFAULT_CATALOG,
            default_schema=DEFAULT_SCHEMA,
            idle_seconds=engine.config.session_idle_seconds,
        )
        # A context without our rules: the policy's result-row limit is for clients.
        plain = SessionContext(session_config(engine.config))
        functions = plain.sql("SELECT routine_name FROM information_schema.routines")
        self.sql_info = server_sql_info(
            functions.to_pydict()["routine_name"], substrait_version(plain)
        )

        # Metadata commands: their result schema and how to build the result. A
        # metadata command is its own ticket: DoGet rebuilds the result from it.
        self._metadata: dict[type[Message], tuple[pa.Schema, MetadataBuilder]] = {
            sql.CommandGetSqlInfo: (
                schemas.SQL_INFO,
                lambda _, c: sql_info_table(self.sql_info, c.info),
            ),
            sql.CommandGetCatalogs: (schemas.CATALOGS, lambda ctx, _: metadata.catalogs(ctx)),
            sql.CommandGetDbSchemas: (schemas.DB_SCHEMAS, metadata.db_schemas),
            sql.CommandGetTables: (schemas.TABLES, metadata.tables),
            sql.CommandGetTableTypes: (
                schemas.TABLE_TYPES,
                lambda ctx, _: metadata.table_types(ctx),
            ),
            sql.CommandGetPrimaryKeys: (schemas.PRIMARY_KEYS, metadata.primary_keys),
            sql.CommandGetExportedKeys: (schemas.FOREIGN_KEYS, metadata.foreign_keys),
            sql.CommandGetImportedKeys: (schemas.FOREIGN_KEYS, metadata.foreign_keys),
            sql.CommandGetCrossReference: (schemas.FOREIGN_KEYS, metadata.foreign_keys),
            sql.CommandGetXdbcTypeInfo: (schemas.XDBC_TYPE_INFO, metadata.xdbc_type_info),
        }
        self._info_handlers: dict[type[Message], InfoHandler] = {
            sql.CommandStatementQuery: self.statements.info_statement,
            sql.CommandPreparedStatementQuery: self.statements.info_prepared,
            sql.CommandStatementSubstraitPlan: self.statements.info_substrait,
        }
        self._put_handlers: dict[type[Message], PutHandler] = {
            sql.CommandStatementUpdate: self._put_update(self.statements.update),
            sql.CommandPreparedStatementUpdate: self._put_update(self.statements.update_prepared),
            sql.CommandPreparedStatementQuery: lambda _, c, reader: self.statements.bind_parameters(
                c, reader
            ),
            sql.CommandStatementIngest: self._put_update(
                lambda scope, command, reader: ingest_command(engine, scope, command, reader)
            ),
        }
        self._actions: dict[str, tuple[str, ActionHandler]] = {
            "CreatePreparedStatement": (
                "Prepare a SQL statement; returns its handle, result and parameter schemas.",
                self._any_action(
                    sql.ActionCreatePreparedStatementRequest,
                    lambda call, r: self.statements.create_prepared(
                        self.sessions.scope(call), r, self.sessions.session_key(call)
                    ),
                ),
            ),
            "CreatePreparedSubstraitPlan": (
                "Prepare a serialized Substrait plan; returns its handle and result schema.",
                self._any_action(
                    sql.ActionCreatePreparedSubstraitPlanRequest,
                    lambda call, r: self.statements.create_prepared_substrait(
                        self.sessions.scope(call), r, self.sessions.session_key(call)
                    ),
                ),
            ),
            "ClosePreparedStatement": (
                "Release a prepared statement.",
                self._any_action(
                    sql.ActionClosePreparedStatementRequest,
                    lambda _, r: self.statements.close_prepared(r),
                ),
            ),
            "CancelFlightInfo": (
                "Cancel the query behind a FlightInfo.",
                lambda _, body: [
                    self._cancel(commands.parse(fs.CancelFlightInfoRequest, body).info)
                ],
            ),
            "SetSessionOptions": (
                "Set session options: catalog, schema.",
                lambda call, body: [
                    self.sessions.set_options(
                        call, commands.parse(fs.SetSessionOptionsRequest, body)
                    )
                ],
            ),
            "GetSessionOptions": (
                "Get the session's options.",
                lambda call, _: [self.sessions.get_options(call)],
            ),
            "CloseSession": ("End the session.", lambda call, _: [self.sessions.close(call)]),
        }
        for custom in all_actions():
            self._actions[custom.name] = (custom.description, self._custom_action(custom))

    # -- RPC entry points ---------------------------------------------------

    def get_flight_info(
        self, context: Call, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        with flight_errors(), traced_call(context):
            command = self._command(descriptor)
            if type(command) in self._metadata:
                schema = self._metadata_schema(command)
                return single_endpoint_info(schema, descriptor, commands.pack(command))
            handler = self._lookup(self._info_handlers, command, "GetFlightInfo")
            return handler(self.sessions.scope(context), command, descriptor)

    def get_schema(self, context: Call, descriptor: flight.FlightDescriptor) -> pa.Schema:
        return self.get_flight_info(context, descriptor).schema

    def do_get(self, context: Call, ticket: flight.Ticket) -> flight.FlightDataStream:
        with flight_errors(), traced_call(context):
            command = commands.unpack(ticket.ticket)
            if isinstance(command, sql.TicketStatementQuery):
                return self.statements.stream(command)
            if type(command) not in self._metadata:
                raise Unimplemented(f"{command.DESCRIPTOR.full_name} is not a ticket")
            _, build = self._metadata[type(command)]
            if isinstance(command, sql.CommandGetTables):  # its schemas follow the client
                ctx = self.sessions.context(context)
                table = metadata.tables(ctx, command, needs_client_types(context))
            else:
                table = build(self.sessions.context(context), command)
            schema = self._metadata_schema(command)
            assert table.schema.equals(schema), (
                f"{command.DESCRIPTOR.full_name} drifted from its schema"
            )
            return flight.RecordBatchStream(table)

    def do_put(
        self,
        context: Call,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        with flight_errors(), traced_call(context):
            command = self._command(descriptor)
            handler = self._lookup(self._put_handlers, command, "DoPut")
            writer.write(pa.py_buffer(handler(context, command, reader)))

    def do_action(self, context: Call, action: flight.Action) -> list[bytes]:
        # Runs to completion before returning (not a generator), so that the
        # session cookie is known when pyarrow sends the response headers.
        with flight_errors(), traced_call(context):
            entry = self._actions.get(action.type)
            if entry is None:
                raise Unimplemented(f"unsupported action {action.type!r}")
            return entry[1](context, action.body.to_pybytes())

    # pyarrow expects ActionType values here; its stubs wrongly say Action.
    def list_actions(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, context: Call
    ) -> list[flight.ActionType]:
        return [
            flight.ActionType(name, description) for name, (description, _) in self._actions.items()
        ]

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _command(descriptor: flight.FlightDescriptor) -> Message:
        if descriptor.command is None:
            raise InvalidRequest("Flight SQL descriptors carry a command, not a path")
        return commands.unpack(descriptor.command)

    @staticmethod
    def _lookup(table: dict[type[Message], Any], command: Message, rpc: str) -> Any:
        handler = table.get(type(command))
        if handler is None:
            raise Unimplemented(f"{command.DESCRIPTOR.full_name} is not supported by {rpc}")
        return handler

    def _metadata_schema(self, command: Message) -> pa.Schema:
        if isinstance(command, sql.CommandGetTables) and command.include_schema:
            return schemas.TABLES_WITH_SCHEMA
        return self._metadata[type(command)][0]

    def _put_update(
        self, run: Callable[[Scope, Any, flight.MetadataRecordBatchReader], int]
    ) -> PutHandler:
        def handler(call: Call, command: Any, reader: flight.MetadataRecordBatchReader) -> bytes:
            count = run(self.sessions.scope(call), command, reader)
            return sql.DoPutUpdateResult(record_count=count).SerializeToString()

        return handler

    @staticmethod
    def _any_action(
        request_type: type[Message], run: Callable[[Call, Any], bytes | None]
    ) -> ActionHandler:
        """An action whose body is an Any-wrapped `request_type`."""

        def handler(call: Call, body: bytes) -> list[bytes]:
            request = commands.unpack_as(request_type, body)
            result = run(call, request)
            return [] if result is None else [result]

        return handler

    def _custom_action(self, action: CustomAction) -> ActionHandler:
        def handler(call: Call, body: bytes) -> list[bytes]:
            scope = self.sessions.scope(call)
            context = ActionContext(
                self.engine,
                call,
                scope.ctx,
                lambda handle: self.statements.prepared.get(handle).statement,
                scope.governing,
            )
            return action.run(context, body)

        return handler

    def _cancel(self, info_bytes: bytes) -> bytes:
        try:
            info = flight.FlightInfo.deserialize(info_bytes)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise InvalidRequest(f"CancelFlightInfo carries no valid FlightInfo: {exc}") from exc
        status = self.statements.cancel(info)
        return fs.CancelFlightInfoResult(status=status).SerializeToString()  # pyright: ignore[reportArgumentType]
