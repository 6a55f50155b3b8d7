"""Committing a stream of rows to a Delta table through `deltalake`.

Every Delta write of the server (INSERT, CREATE TABLE AS, bulk ingest) comes
here: the incoming schema is checked against the table's (naming every column
that differs), the declared constraints are checked as the rows stream, and
`deltalake` commits the files atomically, or nothing. A table this call
created is removed again when its first write fails, so a failed CREATE leaves
no table behind.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, SchemaMismatchError

from flightserver.catalog.constraints import TableConstraints, delta_check_constraints
from flightserver.writes.checks import ConstraintChecker, missing_columns
from flightserver.writes.rewrite_lock import rewrite_lock

# The commit's own id, in its commitInfo: how the server finds the version it committed.
WRITE_ID_KEY = "flightserver.write_id"


class WriteMode(StrEnum):
    CREATE = "create"  # the table must not exist yet
    APPEND = "append"
    OVERWRITE = "overwrite"  # replace rows and schema


class WriteRejected(ValueError):
    """The write cannot be done as asked; nothing was committed."""


class WriteConflict(RuntimeError):
    """A concurrent commit conflicts with this write; nothing was committed."""


@dataclass(frozen=True)
class DeltaCommit:
    """What one write committed."""

    table: str
    location: str
    version: int
    files_added: int
    rows: int
    bytes: int  # Arrow bytes of the rows written
    # Row-level writes (DELETE, UPDATE, MERGE); an append or overwrite: "write".
    operation: str = "write"
    files_removed: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0
    rows_inserted: int = 0
    deletion_vectors: bool = False


# Writes to a table with a primary key, one at a time: the key's uniqueness is
# checked against the table as the write starts, so two writes of one new key
# must not both pass before either commits. (Only this server's writes; Delta
# itself has no unique constraint.)
_KEYED_WRITES: dict[str, threading.Lock] = {}
_KEYED_WRITES_GUARD = threading.Lock()


def keyed_write(
    location: str, constraints: TableConstraints | None
) -> AbstractContextManager[object]:
    if constraints is None or not constraints.primary_key:
        return contextlib.nullcontext()
    key = str(Path(location).resolve())
    with _KEYED_WRITES_GUARD:
        return _KEYED_WRITES.setdefault(key, threading.Lock())


def commit_to_delta(
    table: str,
    location: str,
    data: pa.RecordBatchReader,
    mode: WriteMode,
    constraints: TableConstraints | None = None,
) -> DeltaCommit:
    """Writes `data` to the Delta table at `location` (`table` names it in messages)."""
    constraints = constraints if constraints is not None and not constraints.is_empty() else None
    rewrite = rewrite_lock(location) if mode is WriteMode.OVERWRITE else contextlib.nullcontext()
    with keyed_write(location, constraints), rewrite:
        return _commit(table, location, data, mode, constraints)


def _commit(
    table: str,
    location: str,
    data: pa.RecordBatchReader,
    mode: WriteMode,
    constraints: TableConstraints | None,
) -> DeltaCommit:
    exists = DeltaTable.is_deltatable(location)
    if mode is WriteMode.CREATE and exists:
        raise WriteRejected(f"table {table} already exists")
    if mode is WriteMode.APPEND and not exists:
        raise WriteRejected(f"table {table} does not exist")
    schema = data.schema
    if exists and mode is WriteMode.APPEND:
        schema = _append_schema(table, schema, delta_schema(location))
    else:
        schema = _new_table_schema(table, schema, constraints)
    created = False
    made_folder = not Path(location).exists()
    if not exists:
        Path(location).mkdir(parents=True, exist_ok=True)
        if constraints is not None:
            # Delta takes CHECK constraints only on an existing table: create it empty first.
            new_table = DeltaTable.create(location, pa.schema(schema), mode="error")
            created = True
            checks = delta_check_constraints(constraints, nullable_columns=set())
            if checks:
                new_table.alter.add_constraint(checks)
    counter = _Counter()
    batches: Iterator[pa.RecordBatch] = _conformed(data, schema)
    if constraints is not None:
        existing = location if exists and mode is WriteMode.APPEND else None
        batches = ConstraintChecker(table, constraints, existing).checked(batches)
    write_id = str(uuid.uuid4())
    try:
        write_deltalake(
            location,
            pa.RecordBatchReader.from_batches(schema, counter.count(batches)),
            mode="overwrite" if mode is WriteMode.OVERWRITE else "append",
            schema_mode="overwrite" if mode is WriteMode.OVERWRITE else None,
            commit_properties=CommitProperties(custom_metadata={WRITE_ID_KEY: write_id}),
        )
    except BaseException as exc:
        if made_folder and (created or not DeltaTable.is_deltatable(location)):
            shutil.rmtree(location, ignore_errors=True)
        elif created:
            shutil.rmtree(Path(location) / "_delta_log", ignore_errors=True)
        # An error raised while streaming (a constraint, a cast) reaches us wrapped
        # in deltalake's; raise the original.
        cause = counter.stream_error or exc
        translated = _translated(table, cause)
        if translated is cause:
            raise cause  # noqa: B904 (its own cause chain; `from exc` could make a cycle)
        raise translated from cause
    version, files_added = _committed(location, write_id)
    return DeltaCommit(table, location, version, files_added, counter.rows, counter.bytes)


def _translated(table: str, exc: BaseException) -> BaseException:
    """deltalake's conflict and schema errors as the server's own."""
    if isinstance(exc, CommitFailedError):
        return WriteConflict(
            f"write to {table} conflicts with a concurrent commit and was not committed; "
            f"retry it: {exc}"
        )
    if isinstance(exc, SchemaMismatchError):
        return WriteRejected(f"write to {table} does not match its schema: {exc}")
    return exc


def delta_schema(location: str) -> pa.Schema:
    """The Arrow schema of the Delta table at `location`, newest version."""
    # deltalake returns an arro3 schema; pyarrow reads it through the C schema interface.
    return pa.schema(DeltaTable(location).schema().to_arrow())  # pyright: ignore[reportArgumentType]


def _append_schema(table: str, incoming: pa.Schema, existing: pa.Schema) -> pa.Schema:
    """The table's schema, when `incoming` can be written to it; else a rejection
    naming every column that differs."""
    problems: list[str] = []
    extra = [name for name in incoming.names if name not in existing.names]
    missing = [name for name in existing.names if name not in incoming.names]
    if extra:
        problems.append(f"columns not in the table: {', '.join(extra)}")
    if missing:
        problems.append(f"table columns missing from the data: {', '.join(missing)}")
    for field in existing:
        if field.name in incoming.names:
            given = incoming.field(field.name).type
            if given != field.type and not _castable(given, field.type):
                problems.append(f"column {field.name} is {given}, the table has {field.type}")
    if problems:
        raise WriteRejected(f"data does not match table {table}: {'; '.join(problems)}")
    return existing


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    try:
        pa.array([], source).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _new_table_schema(
    table: str, schema: pa.Schema, constraints: TableConstraints | None
) -> pa.Schema:
    """A new table's schema: non-nullable exactly where the constraints require a
    value (the query's own nullability is an accident of its plan)."""
    if constraints is None:
        return pa.schema([field.with_nullable(True) for field in schema])
    missing = missing_columns(constraints, schema)
    if missing:
        raise WriteRejected(
            f"table {table} declares constraints on columns the data lacks: {', '.join(missing)}"
        )
    required = set(constraints.required_columns)
    return pa.schema([field.with_nullable(field.name not in required) for field in schema])


def _conformed(data: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Batches in `schema`'s column order and types (a failed cast fails the write)."""
    for batch in data:
        if batch.schema.equals(schema):
            yield batch
            continue
        columns = [
            batch.column(field.name).cast(field.type, safe=True) for field in schema
        ]  # nulls in non-nullable fields are caught by the checker first
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _committed(location: str, write_id: str) -> tuple[int, int]:
    """The version and added-file count of the commit carrying `write_id`."""
    for commit in DeltaTable(location).history(50):
        if commit.get(WRITE_ID_KEY) == write_id:
            metrics = commit.get("operationMetrics") or {}
            return int(commit["version"]), int(metrics.get("num_added_files", 0))
    raise RuntimeError(f"commit {write_id} not found in the log of {location}")


class _Counter:
    """Counts what streams to deltalake, and keeps the error that stopped it."""

    def __init__(self) -> None:
        self.rows = 0
        self.bytes = 0
        self.stream_error: Exception | None = None

    def count(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            for batch in batches:
                self.rows += batch.num_rows
                self.bytes += batch.nbytes
                yield batch
        except Exception as exc:
            self.stream_error = exc
            raise
