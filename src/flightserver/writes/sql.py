"""Write statements: INSERT and CREATE TABLE AS into Delta tables commit through
`deltalake`; other writes (COPY, INSERT into listing or memory tables) run in
DataFusion and are observed (files written, rows, bytes).

Which table a statement writes and what its source query is come from the Rust
policy crate's parser (`write_statement`), never from parsing SQL here.

CREATE TABLE ... AS always makes a Delta table: at the location its catalog
definition declares, if there is one, else under the state folder's managed
tables (`<state_dir>/tables/<catalog>/<schema>/<table>`, as ingest does), so it
persists and is registered again at start-up.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa
from datafusion import DataFrame, SessionContext, SQLOptions, col, lit

from flightserver.artifacts.model import WriteOutcome
from flightserver.catalog.definitions import TableFormat
from flightserver.catalog.delta import DeltaTableEntry, DeltaTables
from flightserver.catalog.ingest import IngestTarget, managed_location
from flightserver.catalog.loader import TableStatus, register_delta
from flightserver.engine import statements
from flightserver.engine.native import WriteStatement, bind_parameters, write_statement
from flightserver.engine.parameters import UNTYPED_PARAMETER as UNTYPED
from flightserver.engine.parameters import code_outside_literals
from flightserver.engine.statements import CompletedResult, PreparedStatement, StatementResult
from flightserver.writes.declared import DeclaredTable
from flightserver.writes.delta import (
    DeltaCommit,
    WriteMode,
    WriteRejected,
    commit_to_delta,
    delta_schema,
    keyed_write,
)
from flightserver.writes.files import list_files, local_path, written_files
from flightserver.writes.literals import sql_literal
from flightserver.writes.rowlevel import run_row_write

_PLACEHOLDER = re.compile(r"\$(\d+)")
_QUERY_ONLY = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
_COUNT_SCHEMA = pa.schema([pa.field("count", pa.uint64())])

CommitHook = Callable[[DeltaCommit], None]


def delta_outcome(commit: DeltaCommit) -> WriteOutcome:
    return WriteOutcome(
        target=commit.table,
        format="delta",
        table_version=commit.version,
        files_added=commit.files_added,
        rows=commit.rows,
        bytes=commit.bytes,
        operation=commit.operation,
        files_removed=commit.files_removed,
        rows_deleted=commit.rows_deleted,
        rows_updated=commit.rows_updated,
        rows_inserted=commit.rows_inserted,
        deletion_vectors=commit.deletion_vectors,
    )


ROW_LEVEL = {"delete", "update", "merge"}


class SqlWrites:
    """Runs write statements; Delta targets go through `deltalake`."""

    def __init__(
        self,
        delta_tables: DeltaTables,
        state_dir: Path,
        declared: Mapping[str, DeclaredTable],
        catalog: Callable[[], list[TableStatus]],
        after_commit: CommitHook,
    ) -> None:
        self.delta_tables = delta_tables
        self.state_dir = state_dir
        self.declared = declared
        self.catalog = catalog
        self.after_commit = after_commit

    def execute(
        self,
        ctx: SessionContext,
        statement: PreparedStatement,
        write: WriteStatement,
        parameters: Mapping[str, pa.Scalar] | None,
        options: SQLOptions | None,
    ) -> StatementResult:
        if write.kind == "create_table_as":
            return self._create_table_as(ctx, write, parameters)
        if write.kind in ROW_LEVEL:
            return self._row_level(ctx, statement, write, parameters, options)
        if write.kind == "insert":
            name = qualified_name(ctx, write.target)
            with self.delta_tables.lock:
                is_delta = self._delta_entry(ctx, name) is not None
            if is_delta:
                return self._insert_delta(ctx, name, write, parameters)
        return self._observed(ctx, statement, write, parameters, options)

    def check(self, ctx: SessionContext, write: WriteStatement) -> None:
        """At prepare time: refuses an INSERT into a Delta table whose values do
        not fit the table's columns, naming them (as executing it would)."""
        if write.kind != "insert":
            return
        name = qualified_name(ctx, write.target)
        with self.delta_tables.lock:
            entry = self._delta_entry(ctx, name)
            if entry is None:
                return
            try:
                source = _source(ctx, write, None)
            except Exception:  # e.g. untyped parameters: DataFusion's own prepare reports it
                return
        _insert_projection(name, source, delta_schema(entry.location), list(write.columns))

    @staticmethod
    def all_parameters(statement: PreparedStatement) -> PreparedStatement:
        """`statement` with a parameter for every `$n` it holds: DataFusion infers
        the types of a MERGE's source parameters, not those in its clauses (those
        are bound as the client sends them)."""
        numbers = [int(n) for n in _PLACEHOLDER.findall(code_outside_literals(statement.sql))]
        schema = statement.parameter_schema
        if not numbers or max(numbers) <= len(schema):
            return statement
        fields = [
            schema.field(f"${n}") if f"${n}" in schema.names else pa.field(f"${n}", UNTYPED)
            for n in range(1, max(numbers) + 1)
        ]
        return dataclasses.replace(statement, parameter_schema=pa.schema(fields))

    # -- Delta -------------------------------------------------------------------

    def _delta_entry(self, ctx: SessionContext, name: str) -> DeltaTableEntry | None:
        """The Delta table registered as `name`, unless DROP TABLE removed it since."""
        entry = self.delta_tables.entries.get(name)
        if entry is None or not _table_exists(ctx, entry.catalog, entry.schema, entry.name):
            return None
        return entry

    def _insert_delta(
        self,
        ctx: SessionContext,
        name: str,
        write: WriteStatement,
        parameters: Mapping[str, pa.Scalar] | None,
    ) -> CompletedResult:
        # Planned under the lock: a concurrent commit re-registers tables the source may read.
        with self.delta_tables.lock:
            entry = self.delta_tables.entries[name]
            source = _source(ctx, write, parameters)
        table_schema = delta_schema(entry.location)
        rows = _insert_projection(name, source, table_schema, list(write.columns))
        mode = WriteMode.OVERWRITE if write.overwrite else WriteMode.APPEND
        declared = self.declared.get(name)
        commit = commit_to_delta(
            name,
            entry.location,
            pa.RecordBatchReader.from_stream(rows),
            mode,
            declared.constraints if declared is not None else None,
        )
        return self._committed(ctx, name, commit)

    def _create_table_as(
        self,
        ctx: SessionContext,
        write: WriteStatement,
        parameters: Mapping[str, pa.Scalar] | None,
    ) -> CompletedResult:
        name = qualified_name(ctx, write.target)
        catalog, schema, table = name.split(".")
        with self.delta_tables.lock:
            exists = _table_exists(ctx, catalog, schema, table)
            entry = self._delta_entry(ctx, name)
            source = _source(ctx, write, parameters)
        if exists and write.if_not_exists:
            return CompletedResult(_COUNT_SCHEMA.empty_table(), 0)
        if exists and not write.overwrite:
            raise WriteRejected(f"table {name} already exists")
        if exists and entry is None:
            raise WriteRejected(f"table {name} exists and is not a Delta table; drop it first")
        declared = self.declared.get(name)
        if entry is not None:
            location = entry.location
        elif declared is not None and declared.format is TableFormat.DELTA:
            location = declared.location
        else:
            location = str(managed_location(self.state_dir, IngestTarget(catalog, schema, table)))
        # A table left behind by a dropped registration is replaced, as ingest does.
        mode = WriteMode.OVERWRITE if exists or _is_delta(location) else WriteMode.CREATE
        commit = commit_to_delta(
            name,
            location,
            pa.RecordBatchReader.from_stream(source),
            mode,
            declared.constraints if declared is not None else None,
        )
        return self._committed(ctx, name, commit)

    def _committed(self, ctx: SessionContext, name: str, commit: DeltaCommit) -> CompletedResult:
        catalog, schema, table = name.split(".")
        # Re-pinned: the next query reads the version just committed.
        register_delta(ctx, self.delta_tables, (catalog, schema, table), commit.location)
        self.after_commit(commit)
        count = pa.table({"count": pa.array([commit.rows], pa.uint64())})
        return CompletedResult(count, commit.rows, delta_outcome(commit))

    def _row_level(
        self,
        ctx: SessionContext,
        statement: PreparedStatement,
        write: WriteStatement,
        parameters: Mapping[str, pa.Scalar] | None,
        options: SQLOptions | None,
    ) -> StatementResult:
        entry = None
        if write.target:
            name = qualified_name(ctx, write.target)
            with self.delta_tables.lock:
                entry = self._delta_entry(ctx, name)
        if entry is None:
            # Not a Delta table: DataFusion runs it, or says why it cannot.
            return self._observed(ctx, statement, write, parameters, options)
        name = qualified_name(ctx, write.target)
        if write.refused:
            raise WriteRejected(f"{write.kind.upper()} on {name}: {write.refused} is not supported")
        if parameters:
            # deltalake takes predicates as text: the values are written in as constants.
            ordered = [parameters[key] for key in sorted(parameters, key=int)]
            bound = write_statement(bind_parameters(statement.sql, list(map(sql_literal, ordered))))
            assert bound is not None
            write = bound
        declared = self.declared.get(name)
        constraints = declared.constraints if declared is not None else None
        if constraints is not None and constraints.is_empty():
            constraints = None
        source = None
        if write.kind == "merge":
            # Planned under the lock (a commit may be swapping a table it reads), run
            # in the caller's session: the policy and the scan budget apply.
            with self.delta_tables.lock:
                query = ctx.sql(write.source, options=_QUERY_ONLY)
            source = query.to_arrow_table()
        with keyed_write(entry.location, constraints):
            commit = run_row_write(name, entry.location, write, source, constraints)
        if commit.rows == 0 and commit.files_added == 0 and commit.files_removed == 0:
            # Nothing matched: deltalake committed nothing.
            count = pa.table({"count": pa.array([0], pa.uint64())})
            return CompletedResult(count, 0, delta_outcome(commit))
        return self._committed(ctx, name, commit)

    # -- other targets -------------------------------------------------------------

    def _observed(
        self,
        ctx: SessionContext,
        statement: PreparedStatement,
        write: WriteStatement,
        parameters: Mapping[str, pa.Scalar] | None,
        options: SQLOptions | None,
    ) -> StatementResult:
        if write.kind == "copy":
            target = write.target[0]
            path = local_path(target)
            file_format = "copy"
        else:
            target = qualified_name(ctx, write.target)
            status = next((s for s in self.catalog() if s.name == target and s.loaded), None)
            path = local_path(status.location) if status and status.location else None
            file_format = (status.format if status else None) or "memory"
        before = list_files(path)
        result = statements.execute(ctx, statement, parameters, options)
        if not isinstance(result, CompletedResult):
            return result
        written = written_files(before, list_files(path))
        outcome = WriteOutcome(
            target=target,
            format=file_format,
            files_added=len(written),
            files=sorted(written),
            rows=result.record_count,
            bytes=sum(state.size for state in written.values()),
        )
        return CompletedResult(result.table, result.record_count, outcome)


def qualified_name(ctx: SessionContext, parts: list[str]) -> str:
    """`parts` (1 to 3 name parts) completed with the session's defaults."""
    from flightserver.artifacts.tables import session_defaults

    catalog, schema = session_defaults(ctx)
    if len(parts) == 1:
        return f"{catalog}.{schema}.{parts[0]}"
    if len(parts) == 2:
        return f"{catalog}.{parts[0]}.{parts[1]}"
    return ".".join(parts)


def _source(
    ctx: SessionContext, write: WriteStatement, parameters: Mapping[str, pa.Scalar] | None
) -> DataFrame:
    """The write's source query, planned as a query (it may not write itself)."""
    return ctx.sql(write.source, options=_QUERY_ONLY, param_values=dict(parameters or {}))


def _insert_projection(
    name: str, source: DataFrame, table_schema: pa.Schema, columns: list[str]
) -> DataFrame:
    """The source's rows as the table's columns: by position, or by the INSERT's
    column list (unlisted columns NULL), cast as SQL INSERT casts."""
    source_names = source.schema().names
    targets = columns or table_schema.names
    unknown = [column for column in targets if column not in table_schema.names]
    if unknown:
        raise WriteRejected(f"table {name} has no columns {', '.join(unknown)}")
    if len(source_names) != len(targets):
        raise WriteRejected(
            f"INSERT into {name} gives {len(source_names)} values "
            f"({', '.join(source_names)}) for {len(targets)} columns ({', '.join(targets)})"
        )
    by_target = dict(zip(targets, source_names, strict=True))
    return source.select(
        *[
            (col(by_target[field.name]) if field.name in by_target else lit(None))
            .cast(field.type)
            .alias(field.name)
            for field in table_schema
        ]
    )


def _is_delta(location: str) -> bool:
    return (Path(location) / "_delta_log").is_dir()


def _table_exists(ctx: SessionContext, catalog: str, schema: str, table: str) -> bool:
    if catalog not in ctx.catalog_names():
        return False
    found = ctx.catalog(catalog)
    return schema in found.schema_names() and found.schema(schema).table_exist(table)
