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
from datafusion import DataFrame
from pyarrow import flight

from flightserver.artifacts.recorder import StatementTrace
from flightserver.engine.admission import Deadline
from flightserver.engine.native import ResultRows
from flightserver.engine.parameters import is_untyped, parameter_values
from flightserver.engine.session import Engine, Scope
from flightserver.engine.statements import (
    CompletedResult,
    PreparedStatement,
    QueryResult,
    StatementKind,
    StatementResult,
    adhoc,
)
from flightserver.engine.streaming import StreamControls, stream_query
from flightserver.ops import metrics
from flightserver.ops.queries import QueryRecord, QueryStatus, QueryTracker
from flightserver.protocol import commands
from flightserver.protocol.errors import (
    Cancelled,
    InvalidRequest,
    TooManyPreparedStatements,
    engine_error,
    to_stream_error,
)
from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.generated import flight_sql_pb2 as sql
from flightserver.protocol.handles import HANDLE_BYTES, HandleRegistry


@dataclass(frozen=True)
class PlannedResult:
    """A statement's result waiting for (or being read by) DoGet, once per endpoint."""

    result: StatementResult
    query: QueryRecord
    cancelled: threading.Event = field(default_factory=threading.Event)
    trace: StatementTrace | None = None  # records the query's artifact when it ends
    endpoints: int = 1
    result_rows: ResultRows | None = None  # counts rows over all endpoints
    _started: set[int | None] = field(default_factory=set[int | None])
    _ended: list[int] = field(default_factory=lambda: [0])
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start_endpoint(self, partition: int | None) -> None:
        """Claims an endpoint's stream: each is read once (its plan partition runs once)."""
        with self._lock:
            if partition in self._started:
                raise InvalidRequest("this endpoint of the statement is already being read")
            self._started.add(partition)

    def endpoint_ended(self) -> bool:
        """Notes one endpoint's stream ended; True once all of them have."""
        with self._lock:
            self._ended[0] += 1
            return self._ended[0] >= self.endpoints


# An endpoint's ticket: the statement's handle, then (when a result is served
# as several endpoints) the partition it streams.
_PARTITION_BYTES = 4


def endpoint_ticket(handle: bytes, partition: int | None) -> bytes:
    suffix = b"" if partition is None else partition.to_bytes(_PARTITION_BYTES, "big")
    return commands.pack(sql.TicketStatementQuery(statement_handle=handle + suffix))


def split_ticket(statement_handle: bytes) -> tuple[bytes, int | None]:
    """The statement handle and partition a ticket names."""
    if len(statement_handle) == HANDLE_BYTES + _PARTITION_BYTES:
        return statement_handle[:HANDLE_BYTES], int.from_bytes(
            statement_handle[HANDLE_BYTES:], "big"
        )
    return statement_handle, None


@dataclass(frozen=True)
class Run:
    """A statement that ran (or was planned to stream), with what observes it."""

    result: StatementResult
    query: QueryRecord  # operations: history, metrics, the query id in logs
    trace: StatementTrace  # its artifact
    scope: Scope  # where it ran: its context and governing policy


@dataclass(frozen=True)
class Prepared:
    """A prepared statement and the parameters last bound to it."""

    statement: PreparedStatement
    parameters: pa.RecordBatch | None = None
    session: str = ""  # the session (or connection) that holds it open
    # The query as planned when prepared, in `planned_in`: its first execution runs it,
    # reading the tables as they were then (later ones find the plan in the engine's
    # plan cache while the catalog is unchanged, or plan afresh).
    plan: DataFrame | None = None
    planned_in: Scope | None = None


def serialize_schema(schema: pa.Schema) -> bytes:
    """A schema as Flight SQL carries it: an IPC schema message; empty for none."""
    return schema.serialize().to_pybytes() if len(schema) else b""


def single_endpoint_info(
    schema: pa.Schema, descriptor: flight.FlightDescriptor, ticket: bytes
) -> flight.FlightInfo:
    """A FlightInfo with one endpoint and no location: the client reuses its connection."""
    return endpoints_info(schema, descriptor, [ticket])


def endpoints_info(
    schema: pa.Schema, descriptor: flight.FlightDescriptor, tickets: list[bytes]
) -> flight.FlightInfo:
    """A FlightInfo with an endpoint per ticket, without locations: the client
    fetches each over the connection it has."""
    endpoints = [flight.FlightEndpoint(ticket, []) for ticket in tickets]
    return flight.FlightInfo(schema, descriptor, endpoints, -1, -1)


class StatementService:
    def __init__(self, engine: Engine) -> None:
        ttl = engine.config.statement_ttl_seconds
        self.engine = engine
        self.results: HandleRegistry[PlannedResult] = HandleRegistry("statement", ttl)
        self.prepared: HandleRegistry[Prepared] = HandleRegistry("prepared statement", ttl)
        # Counting a session's statements and adding one happen as one step.
        self._preparing = threading.Lock()
        metrics.PREPARED_STATEMENTS.set_function(lambda: len(self.prepared))
        # Ops hook: every statement run is tracked (history, metrics, query id in logs).
        self.queries = QueryTracker(engine.config.query_history_size, ttl)

    # -- executing -----------------------------------------------------------

    def _run(
        self,
        scope: Scope,
        statement: PreparedStatement,
        parameters: pa.RecordBatch | None = None,
        plan: DataFrame | None = None,
    ) -> Run:
        """Runs `statement`, or streams `plan` (the statement as planned already)."""
        values = parameter_values(parameters, 0) if parameters is not None else None
        query = self.queries.start(statement.sql or "(Substrait plan)")
        trace = StatementTrace(self.engine.artifacts, statement, scope.governing.plan_identity)
        with self.queries.planning(query):
            try:
                with self.engine.admission.slot():
                    result = (
                        self.engine.run_planned(scope, statement, plan)
                        if plan is not None
                        else self.engine.execute(scope, statement, values)
                    )
            except Exception as exc:
                trace.failed(exc)
                raise engine_error(exc) from exc
        trace.planned_result(result)
        if isinstance(result, CompletedResult):
            self.queries.finish(query, QueryStatus.OK, rows=result.record_count)
        return Run(result, query, trace, scope)

    def _info(self, run: Run, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        result = run.result
        if isinstance(result, CompletedResult):
            handle = self.results.add(PlannedResult(result, run.query, trace=run.trace))
            return single_endpoint_info(
                result.table.schema, descriptor, endpoint_ticket(handle, None)
            )
        endpoints = result.physical.endpoints
        run.trace.expect_streams(endpoints)
        planned = PlannedResult(
            result,
            run.query,
            trace=run.trace,
            endpoints=endpoints,
            result_rows=run.scope.governing.rulepack.result_rows(),
        )
        handle = self.results.add(planned)
        partitions: list[int | None] = [None] if endpoints == 1 else list(range(endpoints))
        tickets = [endpoint_ticket(handle, partition) for partition in partitions]
        return endpoints_info(result.schema, descriptor, tickets)

    def info_statement(
        self,
        scope: Scope,
        command: sql.CommandStatementQuery,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        return self._info(self._run(scope, adhoc(command.query)), descriptor)

    def info_prepared(
        self,
        scope: Scope,
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
        plan = self._take_plan(handle, prepared, scope)
        return self._info(self._run(scope, prepared.statement, parameters, plan), descriptor)

    def _take_plan(self, handle: bytes, prepared: Prepared, scope: Scope) -> DataFrame | None:
        """The plan made when preparing, once. Only for the same context and policy."""
        planned_in = prepared.planned_in
        if prepared.plan is None or planned_in is None:
            return None
        self.prepared.update(handle, lambda held: replace(held, plan=None, planned_in=None))
        usable = (
            prepared.parameters is None
            and planned_in.ctx is scope.ctx
            and planned_in.governing is scope.governing
        )
        return prepared.plan if usable else None

    def info_substrait(
        self,
        scope: Scope,
        command: sql.CommandStatementSubstraitPlan,
        descriptor: flight.FlightDescriptor,
    ) -> flight.FlightInfo:
        statement = self._prepare_substrait(scope, command.plan.plan)
        return self._info(self._run(scope, statement), descriptor)

    def stream(self, ticket: sql.TicketStatementQuery) -> flight.FlightDataStream:
        handle, partition = split_ticket(ticket.statement_handle)
        planned = self.results.get(handle)
        result = planned.result
        if planned.cancelled.is_set():
            raise Cancelled("the query was cancelled")
        if isinstance(result, CompletedResult):
            return flight.RecordBatchStream(result.table)
        if (partition is None) != (planned.endpoints == 1) or (
            partition is not None and partition >= planned.endpoints
        ):
            raise InvalidRequest("the ticket names no endpoint of its statement")
        planned.start_endpoint(partition)

        def ended() -> None:
            # A streamed result is read once; forget its plan when every endpoint was.
            if planned.endpoint_ended():
                self.results.discard(handle)

        controls = StreamControls(
            planned.cancelled,
            Deadline(self.engine.config.limits.query_timeout_seconds),
            self.engine.admission,
            on_end=ended,
            result_rows=planned.result_rows,
            collector=result.cache.fill if result.cache is not None else None,
        )
        with self.queries.planning(planned.query):
            try:
                stream = stream_query(
                    result.physical, partition, result.schema, to_stream_error, controls
                )
            except Exception as exc:
                raise engine_error(exc) from exc
        if planned.trace is not None:
            stream.observe(planned.trace.stream_ended)
        self.queries.track_stream(planned.query, stream, planned.cancelled)
        # Not RecordBatchStream: it would turn a Flight error raised mid-stream
        # (a policy refusal, the deadline) into UNKNOWN.
        return flight.GeneratorStream(stream.schema, stream)

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
                planned = self.results.get(split_ticket(ticket.statement_handle)[0])
                planned.cancelled.set()
                self.queries.finish(planned.query, QueryStatus.CANCELLED)
                cancelled = True
        if not cancelled:
            raise InvalidRequest("the FlightInfo names no cancellable statement")
        return fs.CANCEL_STATUS_CANCELLED

    # -- updates (DoPut) -----------------------------------------------------

    def update(
        self,
        scope: Scope,
        command: sql.CommandStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        return self._update_count(self._run(scope, adhoc(command.query)))

    def update_prepared(
        self,
        scope: Scope,
        command: sql.CommandPreparedStatementUpdate,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        statement = self.prepared.get(command.prepared_statement_handle).statement
        batch = _read_parameters(reader, statement.parameter_schema)
        if batch is None or batch.num_columns == 0:
            return self._update_count(self._run(scope, statement))
        # One execution per parameter row, as JDBC's executeBatch and ADBC's executemany expect.
        return sum(
            self._update_count(self._run(scope, statement, batch.slice(row, 1)))
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
        if isinstance(result, QueryResult) or result.cache is not None:  # a cached answer
            self.queries.finish(run.query, QueryStatus.ERROR, "a query sent as an update")
            raise InvalidRequest("the statement is a query and returns rows; execute it as a query")
        return result.record_count

    # -- prepared statement actions --------------------------------------------

    def _prepare_substrait(self, scope: Scope, plan: bytes) -> PreparedStatement:
        try:
            return self.engine.prepare_substrait(scope, plan)
        except Exception as exc:
            self.queries.rejected("(Substrait plan)", str(exc))
            raise engine_error(exc) from exc

    def create_prepared(
        self, scope: Scope, request: sql.ActionCreatePreparedStatementRequest, session: str
    ) -> bytes:
        try:
            statement = self.engine.prepare(scope, request.query)
        except Exception as exc:
            # Clients (ADBC) prepare every statement: record the ones refused here.
            StatementTrace(self.engine.artifacts, adhoc(request.query)).failed(exc)
            self.queries.rejected(request.query, str(exc))
            raise engine_error(exc) from exc
        return self._created(statement, session, scope)

    def create_prepared_substrait(
        self, scope: Scope, request: sql.ActionCreatePreparedSubstraitPlanRequest, session: str
    ) -> bytes:
        return self._created(self._prepare_substrait(scope, request.plan.plan), session, scope)

    def _created(self, statement: PreparedStatement, session: str, scope: Scope) -> bytes:
        limit = self.engine.config.limits.max_prepared_statements_per_session
        held_statement = replace(statement, plan=None)
        with self._preparing:
            held = self.prepared.count(lambda prepared: prepared.session == session)
            if held >= limit:
                raise TooManyPreparedStatements(
                    f"this session holds {held} open prepared statements, the limit "
                    f"(limits.max_prepared_statements_per_session = {limit}); close one "
                    "(ClosePreparedStatement) before preparing another"
                )
            handle = self.prepared.add(
                Prepared(held_statement, session=session, plan=statement.plan, planned_in=scope)
            )
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
    fields: list[pa.Field] = []
    for index, (column, target) in enumerate(zip(table.columns, schema, strict=True)):
        if is_untyped(target):  # DataFusion could not type it: the client's type decides
            columns.append(column.combine_chunks())
            fields.append(target.with_type(column.type))
            continue
        fields.append(target)
        try:
            columns.append(column.combine_chunks().cast(target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidRequest(
                f"parameter {index + 1} is {column.type}, "
                f"which does not convert to {target.type}: {exc}"
            ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))
