"""Bulk ingest: client data written into Delta tables the server manages.

Ingested tables live under `<state_dir>/tables/<catalog>/<schema>/<table>` and
are registered again at start-up, at their newest committed version. Writes
commit through `writes.delta` (`deltalake`, with the schema and constraint
checks): a write either commits whole or leaves the table at its previous
version. A create the process died during left a folder without a committed
log: it is not registered (no table, no rows), and the next create there
starts afresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
from datafusion import SessionContext
from deltalake import DeltaTable

from flightserver.catalog.constraints import TableConstraints
from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.loader import register_delta
from flightserver.writes.delta import DeltaCommit, WriteMode, WriteRejected, commit_to_delta

log = logging.getLogger(__name__)

TABLES_FOLDER = "tables"


class IfTableMissing(StrEnum):
    CREATE = "create"
    FAIL = "fail"


class IfTableExists(StrEnum):
    FAIL = "fail"
    APPEND = "append"
    REPLACE = "replace"


class IngestError(ValueError):
    """The ingest cannot be done as asked; nothing was written."""


class IngestTargetMissing(IngestError):
    """The table does not exist and the request does not allow creating it."""


@dataclass(frozen=True)
class IngestTarget:
    catalog: str
    schema: str
    table: str


def managed_location(state_dir: Path, target: IngestTarget) -> Path:
    return state_dir / TABLES_FOLDER / target.catalog / target.schema / target.table


def register_managed_tables(
    ctx: SessionContext, delta_tables: DeltaTables, state_dir: Path
) -> list[IngestTarget]:
    """Registers every Delta table ingested earlier; returns what it registered."""
    found: list[IngestTarget] = []
    for log_dir in sorted((state_dir / TABLES_FOLDER).glob("*/*/*/_delta_log")):
        table_dir = log_dir.parent
        target = IngestTarget(table_dir.parent.parent.name, table_dir.parent.name, table_dir.name)
        if not DeltaTable.is_deltatable(str(table_dir)):
            log.warning(
                "managed table folder %s has no committed version: not registered", table_dir
            )
            continue
        try:
            register_delta(
                ctx, delta_tables, (target.catalog, target.schema, target.table), str(table_dir)
            )
        except Exception:  # one unreadable table must not stop the server
            log.exception("managed table %s could not be registered", table_dir)
            continue
        found.append(target)
    return found


def ingest(
    ctx: SessionContext,
    delta_tables: DeltaTables,
    state_dir: Path,
    target: IngestTarget,
    data: pa.RecordBatchReader,
    *,
    if_missing: IfTableMissing,
    if_exists: IfTableExists,
    constraints: TableConstraints | None = None,
    declared_location: str | None = None,
) -> DeltaCommit:
    """Writes `data` into the target table; returns what was committed.

    A registered Delta table is written where it is; a new one is created at
    `declared_location` (its catalog definition's), else under the state folder.
    """
    name = f"{target.catalog}.{target.schema}.{target.table}"
    with delta_tables.lock:  # not while a concurrent commit re-registers the table
        entry = delta_tables.entries.get(name)
        exists = table_exists(ctx, target)
    if entry is not None:
        location = Path(entry.location)
    elif declared_location is not None:
        location = Path(declared_location)
    else:
        location = managed_location(state_dir, target)
    managed = (location / "_delta_log").is_dir()
    if exists and entry is None:
        raise IngestError(f"table {name} exists and is not a Delta table")
    if exists and if_exists is IfTableExists.FAIL:
        raise IngestError(f"table {name} already exists")
    if not exists and if_missing is IfTableMissing.FAIL:
        raise IngestTargetMissing(f"table {name} does not exist")
    mode = (
        WriteMode.OVERWRITE if exists and if_exists is IfTableExists.REPLACE else WriteMode.APPEND
    )
    if not exists:
        # Left over from a dropped registration: start afresh.
        mode = WriteMode.OVERWRITE if managed else WriteMode.CREATE
    try:
        commit = commit_to_delta(name, str(location), data, mode, constraints)
    except WriteRejected as exc:
        raise IngestError(str(exc)) from exc
    register_delta(ctx, delta_tables, (target.catalog, target.schema, target.table), str(location))
    return commit


def table_exists(ctx: SessionContext, target: IngestTarget) -> bool:
    if target.catalog not in ctx.catalog_names():
        return False
    catalog = ctx.catalog(target.catalog)
    if target.schema not in catalog.schema_names():
        return False
    return catalog.schema(target.schema).table_exist(target.table)
