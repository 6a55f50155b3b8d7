"""Maintenance actions: run the Delta maintenance policy on demand, and read
each table's adoption state (also in `system.maintenance`)."""

from __future__ import annotations

from flightserver.actions import ActionContext, CustomAction
from flightserver.artifacts import registry
from flightserver.artifacts.model import (
    MaintenanceStatusRequest,
    MaintenanceStatusResponse,
    RunMaintenanceRequest,
    RunMaintenanceResponse,
)
from flightserver.protocol.errors import NotFound
from flightserver.writes.maintenance import UnknownTable


def _names(context: ActionContext, table: str | None) -> list[str]:
    maintainer = context.engine.maintainer
    if table is None:
        return maintainer.tables()
    if table not in maintainer.tables():
        raise NotFound(f"no Delta table {table!r} is maintained; known: {maintainer.tables()}")
    return [table]


def run_maintenance(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(RunMaintenanceRequest, body)
    maintainer = context.engine.maintainer
    try:
        runs = [maintainer.run(name) for name in _names(context, request.table)]
    except UnknownTable as exc:  # dropped while running
        raise NotFound(str(exc)) from exc
    return [registry.encode(RunMaintenanceResponse(runs=runs))]


def maintenance_status(context: ActionContext, body: bytes) -> list[bytes]:
    request = registry.decode_request(MaintenanceStatusRequest, body)
    maintainer = context.engine.maintainer
    tables = [maintainer.refresh(name) for name in _names(context, request.table)]
    return [registry.encode(MaintenanceStatusResponse(tables=tables))]


def actions() -> list[CustomAction]:
    return [
        CustomAction(
            "RunMaintenance",
            "Apply the Delta maintenance policy now to one table or all."
            " Body: RunMaintenanceRequest JSON; result: RunMaintenanceResponse JSON.",
            run_maintenance,
        ),
        CustomAction(
            "MaintenanceStatus",
            "Each Delta table's adoption of the maintenance policy (protocol, features,"
            " last checkpoint, last vacuum). Body: MaintenanceStatusRequest JSON;"
            " result: MaintenanceStatusResponse JSON.",
            maintenance_status,
        ),
    ]
