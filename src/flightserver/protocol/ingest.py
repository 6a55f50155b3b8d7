"""CommandStatementIngest: ADBC's bulk ingest, into server-managed Delta tables."""

from __future__ import annotations

from pyarrow import flight

from flightserver.artifacts.recorder import IngestTrace
from flightserver.catalog.ddl import quote_identifier
from flightserver.catalog.definitions import TableFormat
from flightserver.catalog.ingest import (
    IfTableExists,
    IfTableMissing,
    IngestError,
    IngestTarget,
    IngestTargetMissing,
    ingest,
    table_exists,
)
from flightserver.engine.policy import GoverningPolicy
from flightserver.engine.session import DEFAULT_CATALOG, DEFAULT_SCHEMA, Engine, Scope
from flightserver.protocol.errors import (
    InvalidRequest,
    NotFound,
    Unavailable,
    Unimplemented,
    engine_error,
)
from flightserver.protocol.generated import flight_sql_pb2 as sql
from flightserver.writes.checks import ConstraintViolation
from flightserver.writes.delta import WriteConflict
from flightserver.writes.sql import delta_outcome

_Options = sql.CommandStatementIngest.TableDefinitionOptions
_IF_MISSING = {
    _Options.TABLE_NOT_EXIST_OPTION_CREATE: IfTableMissing.CREATE,
    _Options.TABLE_NOT_EXIST_OPTION_FAIL: IfTableMissing.FAIL,
}
_IF_EXISTS = {
    _Options.TABLE_EXISTS_OPTION_FAIL: IfTableExists.FAIL,
    _Options.TABLE_EXISTS_OPTION_APPEND: IfTableExists.APPEND,
    _Options.TABLE_EXISTS_OPTION_REPLACE: IfTableExists.REPLACE,
}


def ingest_command(
    engine: Engine,
    scope: Scope,
    command: sql.CommandStatementIngest,
    reader: flight.MetadataRecordBatchReader,
) -> int:
    """Runs one ingest request; returns the number of rows written."""
    if command.HasField("transaction_id"):
        raise Unimplemented("transactions are not supported")
    if command.temporary:
        raise Unimplemented("temporary ingest tables are not supported; ingest into a Delta table")
    options = command.table_definition_options
    if_missing = _IF_MISSING.get(options.if_not_exist)
    if_exists = _IF_EXISTS.get(options.if_exists)
    if if_missing is None or if_exists is None:
        raise InvalidRequest("ingest needs table_definition_options.if_not_exist and if_exists")
    target = IngestTarget(
        command.catalog if command.HasField("catalog") else DEFAULT_CATALOG,
        command.schema if command.HasField("schema") else DEFAULT_SCHEMA,
        command.table,
    )
    if not target.table:
        raise InvalidRequest("ingest needs a table name")
    ctx = scope.ctx
    creates = if_missing is IfTableMissing.CREATE and not table_exists(ctx, target)
    check_policy(scope.governing, target, creates)
    name = f"{target.catalog}.{target.schema}.{target.table}"
    declared = engine.declared.get(name)
    with IngestTrace(engine.artifacts, name) as trace:  # leaves the ingest's artifact
        try:
            commit = ingest(
                ctx,
                engine.delta_tables,
                engine.state_dir,
                target,
                reader.to_reader(),
                if_missing=if_missing,
                if_exists=if_exists,
                constraints=declared.constraints if declared is not None else None,
                declared_location=(
                    declared.location
                    if declared is not None and declared.format is TableFormat.DELTA
                    else None
                ),
            )
        except IngestTargetMissing as exc:
            raise NotFound(str(exc)) from exc
        except IngestError as exc:
            raise InvalidRequest(str(exc)) from exc
        except WriteConflict as exc:
            raise Unavailable(str(exc)) from exc
        except ConstraintViolation as exc:
            raise InvalidRequest(str(exc)) from exc
        except Exception as exc:  # deltalake's write errors
            raise InvalidRequest(f"ingest into {target.table} failed: {exc}") from exc
        trace.rows = commit.rows
        trace.write = delta_outcome(commit)
        engine.after_commit(commit)
        return commit.rows


def check_policy(governing: GoverningPolicy, target: IngestTarget, creates: bool) -> None:
    """Asks the Rust policy about the statements an ingest amounts to: an INSERT,
    and a CREATE TABLE when the table does not exist yet."""
    parts = (target.catalog, target.schema, target.table)
    name = ".".join(quote_identifier(part) for part in parts)
    equivalents = [f"INSERT INTO {name} VALUES (NULL)"]
    if creates:
        equivalents.append(f"CREATE TABLE {name} (c INT)")
    for statement in equivalents:
        try:
            governing.policy.check_sql(statement)
        except Exception as exc:
            raise engine_error(exc) from exc
