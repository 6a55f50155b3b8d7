"""Registers the catalog's table definitions into a DataFusion session.

Non-Delta tables are registered only by executing their generated DDL; Delta
tables through flightserver's own provider, pinned to their snapshot version
(`catalog.delta`). One bad definition is reported and skipped; it never stops the
others from loading.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
from datafusion import SessionContext

from flightserver.catalog.ddl import external_table_ddl, quote_identifier
from flightserver.catalog.definitions import (
    DefinitionError,
    TableFormat,
    read_definition,
    resolve_location,
)
from flightserver.catalog.delta import DeltaPin, DeltaTables

log = logging.getLogger(__name__)


class TableStatus(msgspec.Struct, frozen=True):
    """What became of one definition file."""

    source: str
    name: str | None = None
    format: str | None = None
    location: str | None = None
    ddl: str | None = None
    error: str | None = None
    # Loaded, but with a caveat the operator should see (e.g. a Delta fallback).
    warning: str | None = None
    # What a Delta table reads: provider, snapshot version, file set.
    delta: DeltaPin | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


def load_catalog(
    ctx: SessionContext, catalog_dir: Path, delta_tables: DeltaTables | None = None
) -> list[TableStatus]:
    """Registers every `catalog_dir/tables/*.toml`; returns one status per file.

    Delta tables are recorded in `delta_tables` (for re-pinning) when given.
    """
    delta_tables = delta_tables if delta_tables is not None else DeltaTables()
    statuses = [
        _load_one(ctx, catalog_dir, path, delta_tables)
        for path in sorted(catalog_dir.glob("tables/*.toml"))
    ]
    for status in statuses:
        if status.error is not None:
            log.warning("table definition %s not loaded: %s", status.source, status.error)
        elif status.warning is not None:
            log.warning("table %s: %s", status.name, status.warning)
    return statuses


def _load_one(
    ctx: SessionContext, catalog_dir: Path, path: Path, delta_tables: DeltaTables
) -> TableStatus:
    try:
        definition = read_definition(path)
    except DefinitionError as exc:
        return TableStatus(source=str(path), error=str(exc))
    location = resolve_location(definition, catalog_dir)
    status = TableStatus(
        source=str(path),
        name=f"{definition.catalog}.{definition.schema}.{definition.name}",
        format=definition.format.value,
        location=location,
    )
    try:
        ensure_schema(ctx, definition.catalog, definition.schema)
        if definition.format is TableFormat.DELTA:
            qualified = (definition.catalog, definition.schema, definition.name)
            pin = delta_tables.register(ctx, qualified, location, definition.options)
            return msgspec.structs.replace(status, delta=pin, warning=pin.warning)
        ddl = external_table_ddl(definition, location)
        ctx.sql(ddl)
        return msgspec.structs.replace(status, ddl=ddl)
    except Exception as exc:  # DataFusion and deltalake raise plain exceptions
        return msgspec.structs.replace(status, error=str(exc))


def ensure_schema(ctx: SessionContext, catalog: str, schema: str) -> None:
    ctx.sql(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(catalog)}")
    ctx.sql(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(catalog)}.{quote_identifier(schema)}")


def register_delta(
    ctx: SessionContext,
    delta_tables: DeltaTables,
    qualified: tuple[str, str, str],
    location: str,
) -> DeltaPin:
    """Registers (or re-registers, at its newest version) the Delta table at `location`."""
    catalog, schema, name = qualified
    with delta_tables.lock:
        ensure_schema(ctx, catalog, schema)
        target = ctx.catalog(catalog).schema(schema)
        if target.table_exist(name):
            target.deregister_table(name)
        return delta_tables.register(ctx, qualified, location, {})
