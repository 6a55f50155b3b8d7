"""What the status page and the health action report: one snapshot Struct."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from flightserver import __version__
from flightserver.catalog.loader import TableStatus
from flightserver.catalog.model import DeltaTableState
from flightserver.ops.queries import QueryRecord, QueryTracker


class CatalogHealth(msgspec.Struct, kw_only=True):
    loaded: int
    failed: int
    tables: list[TableStatus]
    # Every registered Delta table's pin: version, file count, file-set hash.
    delta_tables: list[DeltaTableState] = []


class StatusSnapshot(msgspec.Struct, kw_only=True):
    version: str
    ready: bool
    uptime_seconds: float
    catalog: CatalogHealth
    active_queries: list[QueryRecord]
    recent_queries: list[QueryRecord]


class ServerState:
    """Filled in as the server starts; read by the HTTP endpoints at any time."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ready = False
        self.catalog: list[TableStatus] = []
        self.delta_tables: Callable[[], list[DeltaTableState]] | None = None
        self.queries: QueryTracker | None = None

    def snapshot(self) -> StatusSnapshot:
        loaded = sum(status.loaded for status in self.catalog)
        queries = self.queries
        return StatusSnapshot(
            version=__version__,
            ready=self.ready,
            uptime_seconds=round(time.monotonic() - self.started, 3),
            catalog=CatalogHealth(
                loaded=loaded,
                failed=len(self.catalog) - loaded,
                tables=list(self.catalog),
                delta_tables=self.delta_tables() if self.delta_tables else [],
            ),
            active_queries=queries.active() if queries else [],
            recent_queries=queries.history() if queries else [],
        )


def encode(snapshot: StatusSnapshot) -> bytes:
    # The monotonic start is an implementation detail, not part of the report.
    raw = msgspec.to_builtins(snapshot)
    for key in ("active_queries", "recent_queries"):
        for record in raw[key]:
            record.pop("started_monotonic", None)
    return msgspec.json.encode(raw)
