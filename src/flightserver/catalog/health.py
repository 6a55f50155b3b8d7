"""Catalog health: what every catalog file became, and every Delta table's pin."""

from __future__ import annotations

from flightserver.catalog.delta import DeltaTableEntry, DeltaTables
from flightserver.catalog.loader import CatalogLoader
from flightserver.catalog.model import CatalogHealthResponse, DeltaTableState


def delta_state(name: str, entry: DeltaTableEntry) -> DeltaTableState:
    pin = entry.pin
    return DeltaTableState(
        table=name,
        location=entry.location,
        provider=pin.provider,
        table_version=pin.version,
        file_count=pin.file_count,
        file_set_sha256=pin.files_hash,
        fixed=entry.fixed,
        warning=pin.warning,
    )


def delta_states(delta_tables: DeltaTables) -> list[DeltaTableState]:
    with delta_tables.lock:
        entries = sorted(delta_tables.entries.items())
    return [delta_state(name, entry) for name, entry in entries]


def catalog_health(loader: CatalogLoader) -> CatalogHealthResponse:
    entries = loader.statuses
    loaded = sum(status.loaded for status in entries)
    return CatalogHealthResponse(
        loaded=loaded,
        failed=len(entries) - loaded,
        warnings=sum(status.warning is not None for status in entries),
        entries=entries,
        delta_tables=delta_states(loader.delta_tables),
    )
