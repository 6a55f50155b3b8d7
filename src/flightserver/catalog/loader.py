"""Registers the catalog folder into a DataFusion session, and keeps it current.

`<catalog_dir>/tables/*.toml` are table definitions: non-Delta tables are
registered only by executing their generated DDL; Delta tables through
flightserver's own provider, pinned to their snapshot version (`catalog.delta`).
`<catalog_dir>/autoload/*.toml` declare folders DataFusion's catalog autoload
scans (`catalog.autoload`). One bad entry is reported and skipped; it never
stops the others from loading. `CatalogLoader.refresh` applies added, changed
and removed files to the running session.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
from datafusion import SessionContext

from flightserver.catalog.autoload import AutoloadFolder
from flightserver.catalog.changes import CATALOG_CHANGES
from flightserver.catalog.ddl import external_table_ddl
from flightserver.catalog.definitions import (
    DefinitionError,
    TableDefinition,
    TableFormat,
    read_autoload,
    read_definition,
    resolve_location,
    resolve_path,
)
from flightserver.catalog.delta import DeltaPin, DeltaTables
from flightserver.catalog.schemas import (
    create_by_ddl,
    deregister_table,
    ensure_catalog,
    ensure_schema,
)

__all__ = [
    "CatalogLoader",
    "RefreshSummary",
    "TableStatus",
    "ensure_catalog",
    "ensure_schema",
    "load_catalog",
    "register_delta",
]

log = logging.getLogger(__name__)

TABLES_FOLDER = "tables"
AUTOLOAD_FOLDER = "autoload"


class TableStatus(msgspec.Struct, frozen=True):
    """What became of one definition or autoload file."""

    source: str
    # catalog.schema.table; for an autoload folder, catalog.schema.
    name: str | None = None
    format: str | None = None
    location: str | None = None
    ddl: str | None = None
    error: str | None = None
    # Loaded, but with a caveat the operator should see (e.g. a Delta fallback).
    warning: str | None = None
    # What a Delta table reads: provider, snapshot version, file set.
    delta: DeltaPin | None = None
    # An autoload folder's tables (None for a table definition).
    tables: list[str] | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


class RefreshSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What one refresh changed, by source file."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    failed: list[str]
    seconds: float


@dataclass
class _LoadedTable:
    text: str
    status: TableStatus
    # What the definition registered (None when it failed).
    qualified: tuple[str, str, str] | None


@dataclass
class _LoadedAutoload:
    text: str
    status: TableStatus
    folder: AutoloadFolder | None


class CatalogLoader:
    """The catalog folder as registered in `ctx`; `refresh` re-reads it."""

    def __init__(
        self, ctx: SessionContext, catalog_dir: Path, delta_tables: DeltaTables | None = None
    ) -> None:
        self.ctx = ctx
        self.catalog_dir = catalog_dir
        self.delta_tables = delta_tables if delta_tables is not None else DeltaTables()
        self._tables: dict[str, _LoadedTable] = {}
        self._autoload: dict[str, _LoadedAutoload] = {}
        self._lock = threading.Lock()
        # Told (statuses, seconds) after every refresh: metrics, the status page.
        self.listeners: list[Callable[[list[TableStatus], float], None]] = []

    @property
    def statuses(self) -> list[TableStatus]:
        with self._lock:
            autoload = [entry.status for _, entry in sorted(self._autoload.items())]
            tables = [self._current(entry.status) for _, entry in sorted(self._tables.items())]
        return autoload + tables

    def _current(self, status: TableStatus) -> TableStatus:
        """`status` with its Delta pin as of now (re-pins move it after loading)."""
        if status.delta is None or status.name is None:
            return status
        entry = self.delta_tables.entries.get(status.name)
        if entry is None or entry.pin == status.delta:
            return status
        return msgspec.structs.replace(status, delta=entry.pin, warning=entry.pin.warning)

    def refresh(self) -> RefreshSummary:
        """Applies every added, changed and removed file; retries failed ones."""
        started = time.perf_counter()
        with self._lock:
            added: list[str] = []
            changed: list[str] = []
            removed: list[str] = []
            self._refresh_autoload(added, changed, removed)
            self._refresh_tables(added, changed, removed)
            failed = [
                entry.status.source
                for entry in [*self._autoload.values(), *self._tables.values()]
                if not entry.status.loaded
            ]
        for status in self.statuses:
            if status.error is not None:
                log.warning("catalog entry %s not loaded: %s", status.source, status.error)
            elif status.warning is not None:
                log.warning("table %s: %s", status.name, status.warning)
        summary = RefreshSummary(
            added=added,
            changed=changed,
            removed=removed,
            failed=failed,
            seconds=round(time.perf_counter() - started, 6),
        )
        if added or changed or removed:
            log.info(
                "catalog refreshed in %.3f s: added %s, changed %s, removed %s",
                summary.seconds,
                added,
                changed,
                removed,
            )
        statuses = self.statuses
        for listener in self.listeners:
            listener(statuses, summary.seconds)
        return summary

    # -- autoload folders -----------------------------------------------------

    def _refresh_autoload(self, added: list[str], changed: list[str], removed: list[str]) -> None:
        found = _read_texts(self.catalog_dir / AUTOLOAD_FOLDER)
        if not found and not self._autoload:
            return
        # Autoload tables live in DataFusion's own schemas, not swapped by name: any table.
        with CATALOG_CHANGES.changing():
            self._apply_autoload(found, added, changed, removed)

    def _apply_autoload(
        self, found: dict[str, str], added: list[str], changed: list[str], removed: list[str]
    ) -> None:
        for source in sorted(set(self._autoload) - set(found)):
            self._drop_autoload(self._autoload.pop(source))
            removed.append(source)
        for source, text in sorted(found.items()):
            previous = self._autoload.get(source)
            if previous is not None and previous.text == text and previous.folder is not None:
                self._rescan(previous)
                continue
            if previous is not None and previous.text != text:
                changed.append(source)
            elif previous is None:
                added.append(source)
            # Registering the new folder's schema replaces the old one in one step.
            loaded = self._autoload[source] = self._load_autoload(source, text)
            if previous is not None:
                self._drop_replaced_autoload(previous, loaded)

    def _load_autoload(self, source: str, text: str) -> _LoadedAutoload:
        try:
            definition = read_autoload(Path(source))
        except DefinitionError as exc:
            return _LoadedAutoload(text, TableStatus(source=source, error=str(exc)), None)
        location = resolve_path(definition.location, self.catalog_dir)
        status = TableStatus(
            source=source,
            name=f"{definition.catalog}.{definition.schema}",
            format=definition.format.value,
            location=location,
        )
        try:
            folder = AutoloadFolder(definition, Path(location))
            tables = folder.scan()
            ensure_catalog(self.ctx, definition.catalog)
            self.ctx.catalog(definition.catalog).register_schema(definition.schema, folder.schema)
        except Exception as exc:  # DataFusion raises plain exceptions
            return _LoadedAutoload(text, msgspec.structs.replace(status, error=str(exc)), None)
        return _LoadedAutoload(text, msgspec.structs.replace(status, tables=tables), folder)

    def _rescan(self, entry: _LoadedAutoload) -> None:
        folder = entry.folder
        assert folder is not None
        if folder.lost_tables():
            # DataFusion's rescan never drops a table: start the folder afresh
            # (its new schema replaces the old one in one step).
            fresh = self._load_autoload(entry.status.source, entry.text)
            self._drop_replaced_autoload(entry, fresh)
            entry.status, entry.folder = fresh.status, fresh.folder
            return
        try:
            tables = folder.scan()
        except Exception as exc:  # the folder became unreadable
            entry.status = msgspec.structs.replace(entry.status, error=str(exc))
            return
        entry.status = msgspec.structs.replace(entry.status, tables=tables, error=None)

    def _drop_replaced_autoload(self, old: _LoadedAutoload, new: _LoadedAutoload) -> None:
        """Drops `old`'s schema unless loading `new` already replaced it."""
        if old.folder is None:
            return
        if new.folder is not None and _schema_of(new) == _schema_of(old):
            return
        self._drop_autoload(old)

    def _drop_autoload(self, entry: _LoadedAutoload) -> None:
        if entry.folder is None:
            return
        definition = entry.folder.definition
        if definition.catalog in self.ctx.catalog_names():
            catalog = self.ctx.catalog(definition.catalog)
            if definition.schema in catalog.schema_names():
                catalog.deregister_schema(definition.schema, cascade=True)

    def _autoload_schemas(self) -> set[tuple[str, str]]:
        return {
            (entry.folder.definition.catalog, entry.folder.definition.schema)
            for entry in self._autoload.values()
            if entry.folder is not None
        }

    # -- table definitions ----------------------------------------------------

    def _refresh_tables(self, added: list[str], changed: list[str], removed: list[str]) -> None:
        found = _read_texts(self.catalog_dir / TABLES_FOLDER)
        for source in sorted(set(self._tables) - set(found)):
            self._drop_table(self._tables.pop(source))
            removed.append(source)
        for source, text in sorted(found.items()):
            previous = self._tables.get(source)
            if previous is not None and previous.text == text and previous.status.loaded:
                continue
            if previous is not None:
                del self._tables[source]
                if previous.text != text:
                    changed.append(source)
            else:
                added.append(source)
            # The new definition replaces the old table in one step; queries planned
            # before finish on the old one. Only a name no longer served is dropped.
            loaded = self._tables[source] = self._load_table(source, text)
            if previous is None or previous.qualified is None:
                continue
            if loaded.qualified != previous.qualified:
                self._drop_table(previous)
            elif loaded.status.delta is None:  # no longer a Delta table: re-pins leave it be
                self.delta_tables.forget(".".join(previous.qualified))

    def _load_table(self, source: str, text: str) -> _LoadedTable:
        try:
            definition = read_definition(Path(source))
        except DefinitionError as exc:
            return _LoadedTable(text, TableStatus(source=source, error=str(exc)), None)
        location = resolve_location(definition, self.catalog_dir)
        qualified = (definition.catalog, definition.schema, definition.name)
        status = TableStatus(
            source=source,
            name=".".join(qualified),
            format=definition.format.value,
            location=location,
        )
        try:
            status = self._register(definition, qualified, location, status)
        except Exception as exc:  # DataFusion and deltalake raise plain exceptions
            return _LoadedTable(text, msgspec.structs.replace(status, error=str(exc)), None)
        return _LoadedTable(text, status, qualified)

    def _register(
        self,
        definition: TableDefinition,
        qualified: tuple[str, str, str],
        location: str,
        status: TableStatus,
    ) -> TableStatus:
        if "://" not in location and not Path(location).exists():
            raise ValueError(f"location {location} does not exist")
        if qualified[:2] in self._autoload_schemas():
            raise ValueError(f"schema {qualified[0]}.{qualified[1]} belongs to an autoload folder")
        if any(entry.qualified == qualified for entry in self._tables.values()):
            raise ValueError(f"table {status.name} is already defined by another file")
        ensure_schema(self.ctx, definition.catalog, definition.schema)
        if definition.format is TableFormat.DELTA:
            pin = self.delta_tables.register(self.ctx, qualified, location, definition.options)
            return msgspec.structs.replace(status, delta=pin, warning=pin.warning)
        ddl = external_table_ddl(definition, location)
        create_by_ddl(
            self.ctx, qualified, lambda name: external_table_ddl(definition, location, name)
        )
        return msgspec.structs.replace(status, ddl=ddl)

    def _drop_table(self, entry: _LoadedTable) -> None:
        if entry.qualified is None:
            return
        catalog, schema, name = entry.qualified
        with self.delta_tables.lock, CATALOG_CHANGES.changing([".".join(entry.qualified)]):
            deregister_table(self.ctx, (catalog, schema, name))
            self.delta_tables.forget(".".join(entry.qualified))


def _schema_of(entry: _LoadedAutoload) -> tuple[str, str] | None:
    if entry.folder is None:
        return None
    return entry.folder.definition.catalog, entry.folder.definition.schema


def _read_texts(folder: Path) -> dict[str, str]:
    """Every `folder/*.toml` by path, with its text (unreadable files read as empty)."""
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            texts[str(path)] = path.read_text()
        except OSError:
            texts[str(path)] = ""  # read_* reports the error when loading
    return texts


def load_catalog(
    ctx: SessionContext, catalog_dir: Path, delta_tables: DeltaTables | None = None
) -> list[TableStatus]:
    """Registers the catalog folder once; returns one status per file."""
    loader = CatalogLoader(ctx, catalog_dir, delta_tables)
    loader.refresh()
    return loader.statuses


def register_delta(
    ctx: SessionContext,
    delta_tables: DeltaTables,
    qualified: tuple[str, str, str],
    location: str,
) -> DeltaPin:
    """Registers (or re-registers, at its newest version, in one step) the Delta
    table at `location`."""
    return delta_tables.register(ctx, qualified, location, {})
