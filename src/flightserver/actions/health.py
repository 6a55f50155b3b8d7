"""The `health` action: is the server serving, and how did its catalog load.

For clients that speak only Flight (no gRPC health client): the answer comes
over the Flight port itself. A server answering is serving; it starts
answering only after its catalog has loaded.
"""

from __future__ import annotations

import msgspec

from flightserver import __version__
from flightserver.actions import ActionContext, CustomAction


class FailedTable(msgspec.Struct, frozen=True):
    source: str
    error: str


class HealthReport(msgspec.Struct, frozen=True):
    status: str  # "SERVING", as the gRPC health service names it
    version: str
    tables_loaded: int
    tables_failed: int
    failed: list[FailedTable]


def health(context: ActionContext, body: bytes) -> list[bytes]:
    catalog = context.engine.catalog
    failed = [
        FailedTable(status.source, status.error) for status in catalog if status.error is not None
    ]
    report = HealthReport(
        status="SERVING",
        version=__version__,
        tables_loaded=len(catalog) - len(failed),
        tables_failed=len(failed),
        failed=failed,
    )
    return [msgspec.json.encode(report)]


def actions() -> list[CustomAction]:
    return [
        CustomAction(
            "health",
            "Server health: serving status and how the catalog loaded (JSON; empty body).",
            health,
        )
    ]
