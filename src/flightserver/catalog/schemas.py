"""Schemas whose tables are replaced in one step, so a name never disappears
while its table exists.

DataFusion's own schemas refuse to register a name twice, so re-registering a
table used to mean deregistering it first, and a query arriving in between got
"table not found". Every schema the server registers tables in is a
`SwapSchema` (rust/core/src/catalog): registering a name replaces its table at
once, and queries planned before keep the table they resolved to their last
batch. DDL refuses an existing name, so `create_by_ddl` builds the table under
a hidden staging name and then registers it over the live one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from datafusion import SessionContext
from datafusion.catalog import Schema

from flightserver.catalog.changes import CATALOG_CHANGES
from flightserver.catalog.ddl import quote_identifier
from flightserver.engine.native import SwapSchema

# Schema creation and replacement: not twice at once for one name.
_LOCK = threading.Lock()


class CatalogMirror(Protocol):
    """Another session serving the same tables (the distributed coordinator): told of
    every table registered, created by DDL or dropped here, by these same calls."""

    def registered(self, ctx: SessionContext, qualified: tuple[str, str, str], table: Any) -> None:
        """`table` (what `register_table` took) is now `qualified` in `ctx`."""

    def created(self, ctx: SessionContext, qualified: tuple[str, str, str], ddl: str) -> None:
        """`ddl` (naming `qualified`) created the table `qualified` in `ctx`."""

    def dropped(self, ctx: SessionContext, qualified: tuple[str, str, str]) -> None:
        """`qualified` is no longer in `ctx`."""


MIRRORS: list[CatalogMirror] = []


def ensure_catalog(ctx: SessionContext, catalog: str) -> None:
    ctx.sql(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(catalog)}")


def is_swap_schema(schema: Schema) -> bool:
    return schema.table_exist(SwapSchema.marker)


def ensure_schema(ctx: SessionContext, catalog: str, schema: str) -> Schema:
    """`catalog.schema` as a swap schema, created (or converted, keeping its
    tables: the default schema DataFusion made) when it is not one yet."""
    ensure_catalog(ctx, catalog)
    target = ctx.catalog(catalog)
    with _LOCK:
        existing = target.schema(schema) if schema in target.schema_names() else None
        if existing is not None and is_swap_schema(existing):
            return existing
        # Converting keeps the tables, but through other provider objects.
        with CATALOG_CHANGES.changing():
            target.register_schema(schema, SwapSchema())
            ours = target.schema(schema)
            if existing is not None:
                for name in existing.names():
                    ours.register_table(name, existing.table(name))
        return ours


def register_table(ctx: SessionContext, qualified: tuple[str, str, str], table: Any) -> None:
    """Registers `table` (anything `Schema.register_table` takes) as `qualified`,
    replacing the table of that name in one step."""
    catalog, schema, name = qualified
    with CATALOG_CHANGES.changing([".".join(qualified)]):
        ensure_schema(ctx, catalog, schema).register_table(name, table)
    for mirror in MIRRORS:
        mirror.registered(ctx, qualified, table)


def deregister_table(ctx: SessionContext, qualified: tuple[str, str, str]) -> None:
    """Drops `qualified` (if it exists)."""
    catalog, schema, name = qualified
    target = ctx.catalog(catalog).schema(schema)
    if target.table_exist(name):
        target.deregister_table(name)
    for mirror in MIRRORS:
        mirror.dropped(ctx, qualified)


def create_by_ddl(
    ctx: SessionContext,
    qualified: tuple[str, str, str],
    ddl_for: Callable[[tuple[str, str, str]], str],
) -> None:
    """Runs the DDL `ddl_for(name)` makes under a staging name, then registers
    the table it created as `qualified` in one step."""
    catalog, schema_name, name = qualified
    schema = ensure_schema(ctx, catalog, schema_name)
    staged = SwapSchema.staging_prefix + name
    with CATALOG_CHANGES.changing([".".join(qualified)]):
        _create_staged(ctx, schema, name, staged, ddl_for((catalog, schema_name, staged)))
    for mirror in MIRRORS:
        mirror.created(ctx, qualified, ddl_for(qualified))


def _create_staged(ctx: SessionContext, schema: Schema, name: str, staged: str, ddl: str) -> None:
    try:
        if schema.table_exist(staged):  # left by a failed attempt
            schema.deregister_table(staged)
        ctx.sql(ddl)
        schema.register_table(name, schema.table(staged))
    finally:
        if schema.table_exist(staged):
            schema.deregister_table(staged)
