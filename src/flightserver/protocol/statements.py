"""Statements over Flight SQL: ad-hoc and prepared, queries and updates.

Queries: GetFlightInfo plans, DoGet streams (the ticket names the planned
result). Updates and DDL run when the client executes them: in GetFlightInfo
for clients that execute everything as a query (ADBC), in DoPut for clients
that send updates as updates (JDBC, `executeUpdate`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import pyarrow as pa
from datafusion import DataFrame, SessionContext
from pyarrow import flight

from flightserver.artifacts.recorder import StatementTrace
from flightserver.engine.admission import Deadline
from flightserver.engine.parameters import parameter_values
from flightserver.engine.session import Engine
from flightserver.engine.statements import (
    CompletedResult,
    PreparedStatement,
    QueryResult,
    StatementKind,
    StatementResult,
    adhoc,
)
from flightserver.engine.streaming import StreamControls, stream_dataframe
from flightserver.ops.queries import QueryRecord, QueryStatus, QueryTracker
from flightserver.protocol import commands
from flightserver.protocol.errors import Cancelled, InvalidRequest, engine_error, to_stream_error
from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.generated import flight_sql_pb2 as sql
from flightserver.protocol.handles import HandleRegistry


@dataclass(frozen=True)
class PlannedResult:
    """A statement's result waiting for (or being read by) DoGet."""

    result: StatementResult
    query: QueryRecord
    cancelled: threading.Event = field(default_factory=threading.Event)
    trace: StatementTrace | None = None  # records the query's artifact when it ends


@dataclass(frozen=True)
class Run:
    """A statement that ran (or was planned to stream), with what observes it."""

    result: StatementResult
    query: QueryRecord  # operations: history, metrics, the query id in logs
    trace: StatementTrace  # its artifact


@dataclass(frozen=True)
class Prepared:
    """A prepared statement and the parameters last bound to it."""

    statement: PreparedStatement
    parameters: pa.RecordBatch | None = None
    # The query as planned when prepared, in `planned_in`: its first execution runs it
    # instead of planning again (ADBC prepares every new query text, then executes it).
    plan: DataFrame | None = None
    planned_in: SessionContext | None = None


def serialize_schema(schema: pa.Schema) -> bytes:
    """A schema as Flight SQL carries it: an IPC schema message; empty for none."""
    return schema.serialize().to_pybytes() if len(schema) else b""


def single_endpoint_info(
    schema: pa.Schema, descriptor: flight.FlightDescriptor, ticket: bytes
) -> flight.FlightInfo:
    """A FlightInfo with one endpoint and no location: the client reuses its connection."""
    return flight.FlightInfo(schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1)


class StatementService:
    def __init__(self, engine: Engine) -> None:
        ttl = engine.config.statement_ttl_seconds
        self.engine = engine
        self.results: HandleRegistry[PlannedResult] = HandleRegistry("statement", ttl)
        self.prepared: HandleRegistry[Prepared] = HandleRegistry("prepared statement", ttl)
        # Ops hook: every statement run is tracked (history, metrics, query id in logs).
        self.queries = QueryTracker(engine.config.query_history_size, ttl)

    # -- executing -----------------------------------------------------------

    def _run(
        self,
        ctx: SessionContext,
        statement: PreparedStatement,
        parameters: pa.RecordBatch | None = None,
        plan: DataFrame | None = None,
    ) -> Run:
        """Runs `statement`, or streams `plan` (the statement as planned already)."""
        values = parameter_values(parameters, 0) if parameters is not None else None
        query = self.queries.start(statement.sql or "(Substrait plan)")
        trace = StatementTrace(self.engine.artifacts, statement)
        with self.queries.planning(query):
            try:
                with self.engine.admission.slot():
                    result = (
                        QueryResult(plan, plan.schema())
                        if plan is not None
                        else self.engine.execute(ctx, statement, values)
                    )
            except Exception as exc:
                trace.failed(exc)
                raise engine_error(exc) from exc
        trace.planned_result(result)
        if isinstance(result, CompletedResult):
            self.queries.finish(query, QueryStatus.OK, rows=result.record_count)
        return Run(result, query, trace)

    def _info(self, run: Run, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        result = run.result
        schema = result.schema if isinstance(result, QueryResult) else result.table.schema
        handle = self.results.add(PlannedResult(result, run.query, trace=run.trace))
        ticket = commands.pack(sql.TicketStatementQuery(statement_handle=handle))
        return single_endpoint_info(schema, descriptor, ticket)

    def info_statement(
        self,
        ctx: SessionContext,
        command: sql.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        return self._info(self._run(ctx, adhoc(command.query)), descriptor)

    def info_prepared(
        self,
        ctx: SessionContext,
        command: sql.CommandPreparedStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        handle = command.prepared_statement_handle
        prepared = self.prepared.get(handle)
        parameters = prepared.parameters
        if parameters is not None and parameters.num_rows > 1:
            raise InvalidRequest(
                f"a query takes one row of parameters; {parameters.num_rows} rows are bound"
            )
        plan = self._take_plan(handle, prepared, ctx)
        return self._info(self._run(ctx, prepared.statement, parameters, plan), descriptor)

    def _take_plan(
        self, handle: bytes, prepared: Prepared, ctx: SessionContext
    ) -> DataFrame | None:
        """The plan made when preparing, once: later executions plan afresh, so that
        they see tables as they are then."""
        if prepared.plan is None:
            return None
        self.prepared.update(handle, lambda held: replace(held, plan=None, planned_in=None))
        usable = prepared.parameters is None and prepared.planned_in is ctx
        return prepared.plan if usable else None

    def info_substrait(
        self,
        ctx: SessionContext,
        command: sql.CommandStatementSubstraitPlan,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        statement = self._prepare_substrait(ctx, command.plan.plan)
        return self._info(self._run(ctx, statement), descriptor)

    def stream(self, ticket: sql.TicketStatementQuery) -> flight.FlightDataStream:
        planned = self.results.get(ticket.statement_handle)
        result = planned.result
        if planned.cancelled.is_set():
            raise Cancelled("the query was cancelled")
        if isinstance(result, CompletedResult):
            return flight.RecordBatchStream(result.table)
        handle = ticket.statement_handle
        controls = StreamControls(
            planned.cancelled,
            Deadline(self.engine.config.limits.query_timeout_seconds),
            self.engine.admission,
            # A streamed result is read once; forget its plan right away.
            on_end=lambda: self.results.discard(handle),
        )
        with self.queries.planning(planned.query):
            try:
                reader = stream_dataframe(result.df, result.schema, to_stream_error, controls)
            except Exception as exc:
                raise engine_error(exc) from exc
        if planned.trace is not None:
            reader = planned.trace.observe(reader)
        tracked = self.queries.track_stream(planned.query, reader, planned.cancelled)
        return flight.RecordBatchStream(tracked)

    def cancel_all(self) -> None:
        """Cancels every planned or streaming query (at shutdown)."""
        for planned in self.results.values():
            planned.cancelled.set()

    def cancel(self, info: flight.FlightInfo) -> int:
        """Cancels the statements of `info`'s endpoints; returns a CancelStatus."""
        cancelled = False
        for endpoint in info.endpoints:
            ticket = commands.unpack(endpoint.ticket.ticket)
            if isinstance(ticket, sql.TicketStatementQuery):
                planned = self.results.get(ticket.statement_handle)
                planned.cancelled.set()
                self.queries.finish(planned.query, QueryStatus.CANCELLED)
                cancelled = True
        if not cancelled:
            raise InvalidRequest("the FlightInfo names no cancellable statement")
        return fs.CANCEL_STATUS_CANCELLED

    # -- updates (DoPut) -----------------------------------------------------

    def update(
        self,
        ctx: SessionContext,
        command: sql.CommandStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        return self._update_count(self._run(ctx, adhoc(command.query)))

    def update_prepared(
        self,
        ctx: SessionContext,
        command: sql.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        statement = self.prepared.get(command.prepared_statement_handle).statement
        batch = _read_parameters(reader, statement.parameter_schema)
        if batch is None or batch.num_columns == 0:
            return self._update_count(self._run(ctx, statement))
        # One execution per parameter row, as JDBC's executeBatch and ADBC's executemany expect.
        return sum(
            self._update_count(self._run(ctx, statement, batch.slice(row, 1)))
            for row in range(batch.num_rows)
        )

    def bind_parameters(
        self, command: sql.CommandPreparedStatementQuery, reader: flight.MetadataRecordBatchReader
    ) -> bytes:
        handle = command.prepared_statement_handle
        statement = self.prepared.get(handle).statement
        batch = _read_parameters(reader, statement.parameter_schema)
        self.prepared.update(handle, lambda prepared: replace(prepared, parameters=batch))
        return sql.DoPutPreparedStatementResult(
            prepared_statement_handle=handle
        ).SerializeToString()

    def _update_count(self, run: Run) -> int:
        result = run.result
        if isinstance(result, QueryResult):
            self.queries.finish(run.query, QueryStatus.ERROR, "a query sent as an update")
            raise InvalidRequest("the statement is a query and returns rows; execute it as a query")
        return result.record_count

    # -- prepared statement actions --------------------------------------------

    def _prepare_substrait(self, ctx: SessionContext, plan: bytes) -> PreparedStatement:
        try:
            return self.engine.prepare_substrait(ctx, plan)
        except Exception as exc:
            self.queries.rejected("(Substrait plan)", str(exc))
            raise engine_error(exc) from exc

    def create_prepared(
        self, ctx: SessionContext, request: sql.ActionCreatePreparedStatementRequest
    ) -> bytes:
        try:
            statement = self.engine.prepare(ctx, request.query)
        except Exception as exc:
            # Clients (ADBC) prepare every statement: record the ones refused here.
            StatementTrace(self.engine.artifacts, adhoc(request.query)).failed(exc)
            self.queries.rejected(request.query, str(exc))
            raise engine_error(exc) from exc
        return self._created(statement, ctx)

    def create_prepared_substrait(
        self, ctx: SessionContext, request: sql.ActionCreatePreparedSubstraitPlanRequest
    ) -> bytes:
        return self._created(self._prepare_substrait(ctx, request.plan.plan), ctx)

    def _created(self, statement: PreparedStatement, ctx: SessionContext) -> bytes:
        plan = statement.plan
        held = Prepared(replace(statement, plan=None), plan=plan, planned_in=ctx)
        handle = self.prepared.add(held)
        return commands.pack(
            sql.ActionCreatePreparedStatementResult(
                prepared_statement_handle=handle,
                dataset_schema=serialize_schema(statement.dataset_schema),
                parameter_schema=serialize_schema(statement.parameter_schema),
                is_update=statement.kind is not StatementKind.QUERY,
            )
        )

    def close_prepared(self, request: sql.ActionClosePreparedStatementRequest) -> None:
        self.prepared.remove(request.prepared_statement_handle)


def _read_parameters(
    reader: flight.MetadataRecordBatchReader, schema: pa.Schema
) -> pa.RecordBatch | None:
    """The parameter rows a client sent, cast to the statement's parameter types."""
    table = reader.read_all()
    if table.num_columns == 0:
        return None
    if table.num_columns != len(schema):
        raise InvalidRequest(
            f"the statement takes {len(schema)} parameters; {table.num_columns} were bound"
        )
    columns: list[pa.Array] = []
    for index, (column, target) in enumerate(zip(table.columns, schema, strict=True)):
        try:
            columns.append(column.combine_chunks().cast(target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidRequest(
                f"parameter {index + 1} is {column.type}, "
                f"which does not convert to {target.type}: {exc}"
            ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)
