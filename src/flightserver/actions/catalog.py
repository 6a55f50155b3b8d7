"""Catalog actions: health, refresh without restart, Delta re-pin and time travel.

Payloads: `flightserver.catalog.model` (JSON bodies; an empty body means `{}`).
"""

from __future__ import annotations

import msgspec

from flightserver.actions import ActionContext, CustomAction
from flightserver.artifacts import registry
from flightserver.catalog.delta import TIMESTAMP_OPTION, VERSION_OPTION
from flightserver.catalog.health import catalog_health, delta_state
from flightserver.catalog.model import (
    CatalogHealthRequest,
    RefreshCatalogRequest,
    RefreshCatalogResponse,
    Repin,
    RepinDeltaRequest,
    RepinDeltaResponse,
    TimeTravelDeltaRequest,
    TimeTravelDeltaResponse,
)
from flightserver.catalog.time_travel import TimeTravelError, find_entry, register_pinned
from flightserver.protocol.errors import InvalidRequest, NotFound


def health(context: ActionContext, body: bytes) -> list[bytes]:
    registry.decode_request(CatalogHealthRequest, body)
    return [registry.encode(catalog_health(context.engine.catalog_loader))]


def refresh(context: ActionContext, body: bytes) -> list[bytes]:
    registry.decode_request(RefreshCatalogRequest, body)
    summary = context.engine.catalog_loader.refresh()
    response = RefreshCatalogResponse(**msgspec.structs.asdict(summary))
    return [registry.encode(response)]


def repin(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(RepinDeltaRequest, body)
    engine = context.engine
    delta_tables = engine.delta_tables
    if request.table is None:
        if request.table_version is not None:
            raise InvalidRequest("table_version needs a table")
        moved = delta_tables.repin_latest(engine.ctx)
        repinned = [
            Repin(table=name, from_version=a, to_version=b) for name, (a, b) in moved.items()
        ]
        return [registry.encode(RepinDeltaResponse(repinned=repinned))]
    name = _entry_name(context, request.table)
    before = delta_tables.entries[name].pin.version
    try:
        after = delta_tables.repin(engine.ctx, name, request.table_version)
    except RuntimeError as exc:  # the version does not exist
        raise InvalidRequest(str(exc)) from exc
    repinned = [Repin(table=name, from_version=before, to_version=after.version)]
    return [registry.encode(RepinDeltaResponse(repinned=repinned))]


def time_travel(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(TimeTravelDeltaRequest, body)
    if (request.table_version is None) == (request.timestamp is None):
        raise InvalidRequest("give exactly one of table_version and timestamp")
    option = (
        (VERSION_OPTION, str(request.table_version))
        if request.table_version is not None
        else (TIMESTAMP_OPTION, str(request.timestamp))
    )
    engine = context.engine
    _entry_name(context, request.table)
    try:
        name = register_pinned(
            engine.ctx, engine.delta_tables, request.table, request.register_as, option
        )
    except (TimeTravelError, ValueError, RuntimeError) as exc:
        raise InvalidRequest(str(exc)) from exc
    pin = delta_state(name, engine.delta_tables.entries[name])
    return [registry.encode(TimeTravelDeltaResponse(table=name, pin=pin))]


def _entry_name(context: ActionContext, table: str) -> str:
    """The qualified name of the registered Delta table `table` (NotFound if none)."""
    delta_tables = context.engine.delta_tables
    try:
        entry = find_entry(delta_tables, table)
    except TimeTravelError as exc:
        raise NotFound(str(exc)) from exc
    return f"{entry.catalog}.{entry.schema}.{entry.name}"


def actions() -> list[CustomAction]:
    return [
        CustomAction(
            "CatalogHealth",
            "Every table definition and autoload folder with its load status, errors and "
            "warnings, and every Delta table's pin (CatalogHealthRequest -> "
            "CatalogHealthResponse).",
            health,
        ),
        CustomAction(
            "RefreshCatalog",
            "Re-read the catalog folder: added, changed and removed definitions and autoload "
            "folders take effect (RefreshCatalogRequest -> RefreshCatalogResponse).",
            refresh,
        ),
        CustomAction(
            "RepinDelta",
            "Move one Delta table (or every table not pinned by choice) to its newest or a "
            "given version (RepinDeltaRequest -> RepinDeltaResponse).",
            repin,
        ),
        CustomAction(
            "TimeTravelDelta",
            "Register a Delta table as of a version or a time under a new name "
            "(TimeTravelDeltaRequest -> TimeTravelDeltaResponse).",
            time_travel,
        ),
    ]
