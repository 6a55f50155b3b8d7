"""DELETE, UPDATE and MERGE INTO on Delta tables, committed by `deltalake`.

The statement arrives described by the Rust parser (`write_statement`): the
target, the predicate and SET/VALUES expressions as SQL text (evaluated by
`deltalake`'s own DataFusion), and MERGE's source as a query, run here in the
caller's session so the policy and the scan budget apply to it. `deltalake`'s
`delete`, `update` and `merge` commit whole or not at all.

Declared constraints are checked before the commit: the statement's result is
previewed in DataFusion over the table's newest version (NOT NULL and CHECK on
the rows it changes, the primary key over every row it leaves), and a
violation commits nothing. A MERGE that matches one target row with several
source rows is refused by `deltalake` itself.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from datafusion import SessionContext
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

from flightserver.catalog.constraints import TableConstraints
from flightserver.engine.native import DeltaProvider, MergeClause, WriteStatement
from flightserver.writes.delta import WRITE_ID_KEY, DeltaCommit, WriteConflict, WriteRejected
from flightserver.writes.preview import check_preview, merge_preview, update_preview
from flightserver.writes.rewrite_lock import rewrite_lock


@dataclass(frozen=True)
class RowChange:
    """What one DELETE, UPDATE or MERGE changed."""

    operation: str  # delete | update | merge
    rows_deleted: int
    rows_updated: int
    rows_inserted: int
    files_added: int
    files_removed: int

    @property
    def affected(self) -> int:
        return self.rows_deleted + self.rows_updated + self.rows_inserted


def run_row_write(
    table: str,
    location: str,
    write: WriteStatement,
    source: pa.Table | None,
    constraints: TableConstraints | None,
) -> DeltaCommit:
    """Runs `write` (delete/update/merge, parameters already bound) on the Delta
    table at `location`; `source` is MERGE's source rows."""
    if write.refused:
        raise WriteRejected(f"{write.kind.upper()} on {table}: {write.refused} is not supported")
    # A row-level write rewrites files: it takes turns with overwrites and optimize.
    with rewrite_lock(location):
        delta = DeltaTable(location)
        before = delta.version()
        if constraints is not None and write.kind != "delete":
            _check_constraints(table, location, write, source, constraints)
        write_id = str(uuid.uuid4())
        properties = CommitProperties(custom_metadata={WRITE_ID_KEY: write_id})
        try:
            if write.kind == "delete":
                metrics = delta.delete(write.predicate, commit_properties=properties)
            elif write.kind == "update":
                metrics = delta.update(
                    updates=dict(write.assignments),
                    predicate=write.predicate,
                    commit_properties=properties,
                )
            else:
                assert source is not None
                metrics = _merge(delta, write, source, properties)
        except CommitFailedError as exc:
            raise WriteConflict(
                f"{write.kind.upper()} on {table} conflicts with a concurrent commit and was not "
                f"committed; retry it: {exc}"
            ) from exc
        except DeltaError as exc:
            raise WriteRejected(f"{write.kind.upper()} on {table} failed: {_reason(exc)}") from exc
    change = _change(write.kind, metrics)
    version, deletion_vectors = _committed(location, write_id, before)
    return DeltaCommit(
        table,
        location,
        version,
        change.files_added,
        change.affected,
        0,
        operation=write.kind,
        files_removed=change.files_removed,
        rows_deleted=change.rows_deleted,
        rows_updated=change.rows_updated,
        rows_inserted=change.rows_inserted,
        deletion_vectors=deletion_vectors,
    )


def _merge(
    delta: DeltaTable, write: WriteStatement, source: pa.Table, properties: CommitProperties
) -> dict[str, Any]:
    merger = delta.merge(
        source,
        write.predicate or "true",
        source_alias=write.source_alias,
        target_alias=write.target_alias,
        commit_properties=properties,
    )
    columns = pa.schema(delta.schema().to_arrow()).names  # pyright: ignore[reportArgumentType]
    for clause in write.clauses:
        updates = _clause_assignments(clause, columns)
        predicate = clause.predicate
        match (clause.matched, clause.action):
            case ("matched", "update"):
                merger = merger.when_matched_update(updates, predicate)
            case ("matched", "delete"):
                merger = merger.when_matched_delete(predicate)
            case ("not_matched", "insert"):
                merger = merger.when_not_matched_insert(updates, predicate)
            case ("not_matched_by_source", "update"):
                merger = merger.when_not_matched_by_source_update(updates, predicate)
            case ("not_matched_by_source", "delete"):
                merger = merger.when_not_matched_by_source_delete(predicate)
            case _:
                raise WriteRejected(
                    f"MERGE: WHEN {clause.matched.replace('_', ' ').upper()} THEN "
                    f"{clause.action.upper()} is not a valid clause"
                )
    return merger.execute()


def _clause_assignments(clause: MergeClause, columns: list[str]) -> dict[str, str]:
    """A clause's column -> expression map; an INSERT without a column list
    assigns the table's columns in order."""
    assignments = clause.assignments
    if clause.action == "insert" and assignments and not assignments[0][0]:
        if len(assignments) != len(columns):
            raise WriteRejected(
                f"MERGE: INSERT gives {len(assignments)} values for the table's "
                f"{len(columns)} columns ({', '.join(columns)}); name the columns"
            )
        return {column: value for column, (_, value) in zip(columns, assignments, strict=True)}
    unknown = [column for column, _ in assignments if column not in columns]
    if unknown:
        raise WriteRejected(f"MERGE: the table has no columns {', '.join(unknown)}")
    return dict(assignments)


def _change(kind: str, metrics: dict[str, Any]) -> RowChange:
    def get(name: str) -> int:
        return int(metrics.get(name) or 0)

    if kind == "merge":
        return RowChange(
            kind,
            rows_deleted=get("num_target_rows_deleted"),
            rows_updated=get("num_target_rows_updated"),
            rows_inserted=get("num_target_rows_inserted"),
            files_added=get("num_target_files_added"),
            files_removed=get("num_target_files_removed"),
        )
    return RowChange(
        kind,
        rows_deleted=get("num_deleted_rows"),
        rows_updated=get("num_updated_rows"),
        rows_inserted=0,
        files_added=get("num_added_files"),
        files_removed=get("num_removed_files"),
    )


def _committed(location: str, write_id: str, before: int) -> tuple[int, bool]:
    """The version committed (`before` when the statement changed nothing and
    `deltalake` committed nothing), and whether it wrote deletion vectors."""
    for commit in DeltaTable(location).history(50):
        if commit.get(WRITE_ID_KEY) == write_id:
            version = int(commit["version"])
            return version, _wrote_deletion_vectors(location, version)
    return before, False


def _wrote_deletion_vectors(location: str, version: int) -> bool:
    path = Path(location) / "_delta_log" / f"{version:020d}.json"
    for line in path.read_text().splitlines():
        action = json.loads(line)
        if action.get("add", {}).get("deletionVector"):
            return True
    return False


def _reason(exc: DeltaError) -> str:
    """deltalake's message without its wrapping ("Generic DeltaTable error: ...")."""
    message = str(exc)
    for prefix in ("Generic DeltaTable error: ", "External error: ", "Generic error: "):
        while prefix in message:
            message = message.split(prefix, 1)[1]
    return message.strip()


def _check_constraints(
    table: str,
    location: str,
    write: WriteStatement,
    source: pa.Table | None,
    constraints: TableConstraints,
) -> None:
    ctx = SessionContext()
    # Our provider over the newest version (deletion vectors applied).
    ctx.register_table("__target", DeltaProvider(location))
    if write.kind == "update":
        preview = update_preview(ctx, write)
    else:
        assert source is not None
        ctx.register_record_batches("__source", [source.to_batches()])
        columns = ctx.table("__target").schema().names
        preview = merge_preview(ctx, write, columns)
    check_preview(ctx, table, preview, constraints)
