"""Payloads of the catalog actions (CatalogHealth, RefreshCatalog, RepinDelta,
TimeTravelDelta): msgspec Structs, registered in the artifact schema registry."""

from __future__ import annotations

from typing import Annotated

import msgspec

from flightserver.artifacts.model import Payload, Version1
from flightserver.catalog.loader import TableStatus

TableVersion = Annotated[int, msgspec.Meta(ge=0, description="A Delta table version.")]


class DeltaTableState(msgspec.Struct, frozen=True, kw_only=True):
    """A registered Delta table and the snapshot it is pinned to."""

    table: str
    location: str
    provider: Annotated[
        str, msgspec.Meta(description="flightserver (pruning, pinned files) or deltalake.")
    ]
    table_version: int
    file_count: int
    file_set_sha256: str | None
    # Pinned to a chosen version (definition option or time travel): not moved by re-pins.
    fixed: bool
    warning: str | None = None


class CatalogHealthRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1


class CatalogHealthResponse(Payload, frozen=True, kw_only=True):
    """Every definition and autoload file with what became of it, and every Delta pin."""

    version: Version1 = 1
    loaded: int
    failed: int
    warnings: int
    entries: list[TableStatus]
    delta_tables: list[DeltaTableState]


class RefreshCatalogRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1


class RefreshCatalogResponse(Payload, frozen=True, kw_only=True):
    """What a refresh changed, by definition or autoload file."""

    version: Version1 = 1
    added: list[str]
    changed: list[str]
    removed: list[str]
    failed: list[str]
    seconds: float


class RepinDeltaRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    table: Annotated[
        str | None,
        msgspec.Meta(description="The table to re-pin; unset: every table not pinned by choice."),
    ] = None
    table_version: Annotated[
        TableVersion | None,
        msgspec.Meta(description="Pin this version (only with `table`); unset: the newest."),
    ] = None


class Repin(msgspec.Struct, frozen=True, kw_only=True):
    table: str
    from_version: int
    to_version: int


class RepinDeltaResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    repinned: list[Repin]


class TimeTravelDeltaRequest(Payload, frozen=True, kw_only=True):
    """Registers a registered Delta table, as of a version or a time, under a new name."""

    version: Version1 = 1
    table: Annotated[str, msgspec.Meta(description="A registered Delta table.")]
    register_as: Annotated[
        str,
        msgspec.Meta(
            description="The new table: catalog.schema.name, or a name in the table's schema."
        ),
    ]
    table_version: TableVersion | None = None
    timestamp: Annotated[
        str | None, msgspec.Meta(description="ISO 8601 time: the version current then.")
    ] = None


class TimeTravelDeltaResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    table: str
    pin: DeltaTableState
