"""Bulk ingest: client data written into Delta tables the server manages.

Ingested tables live under `<state_dir>/tables/<catalog>/<schema>/<table>` and
are registered again at start-up. Writes commit through `deltalake`: a write
either commits whole or leaves the table at its previous version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
from datafusion import SessionContext
from deltalake import write_deltalake

from flightserver.catalog.delta import DeltaTables
from flightserver.catalog.loader import register_delta

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
        register_delta(
            ctx, delta_tables, (target.catalog, target.schema, target.table), str(table_dir)
        )
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
) -> int:
    """Writes `data` into the target table; returns the number of rows written."""
    location = managed_location(state_dir, target)
    exists = table_exists(ctx, target)
    managed = (location / "_delta_log").is_dir()
    name = f"{target.catalog}.{target.schema}.{target.table}"
    if exists and not managed:
        raise IngestError(f"table {name} exists and is not a Delta table this server ingests into")
    if exists and if_exists is IfTableExists.FAIL:
        raise IngestError(f"table {name} already exists")
    if not exists and if_missing is IfTableMissing.FAIL:
        raise IngestTargetMissing(f"table {name} does not exist")
    mode = "overwrite" if exists and if_exists is IfTableExists.REPLACE else "append"
    if not exists and managed:
        mode = "overwrite"  # left over from a dropped registration: start afresh
    rows = _RowCounter()
    location.mkdir(parents=True, exist_ok=True)
    write_deltalake(
        str(location),
        pa.RecordBatchReader.from_batches(data.schema, rows.count(data)),
        mode=mode,
        schema_mode="overwrite" if mode == "overwrite" else None,
    )
    register_delta(ctx, delta_tables, (target.catalog, target.schema, target.table), str(location))
    return rows.total


def table_exists(ctx: SessionContext, target: IngestTarget) -> bool:
    if target.catalog not in ctx.catalog_names():
        return False
    catalog = ctx.catalog(target.catalog)
    if target.schema not in catalog.schema_names():
        return False
    return catalog.schema(target.schema).table_exist(target.table)


class _RowCounter:
    def __init__(self) -> None:
        self.total = 0

    def count(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        for batch in reader:
            self.total += batch.num_rows
            yield batch
