"""Which versions of a Delta table vacuum must keep: those the server still reads.

A version is read while the catalog pins it or while any provider of it is
alive: a running query's plan, a prepared statement's plan or a time-travel
read hold one (rust/core/src/delta/live.rs counts them). Vacuum keeps these
versions' files (deltalake's `keep_versions`), so no reader of this server
loses a file to its own maintenance, whatever the retention.

Not covered: readers in other processes, and a query that starts reading an
old version (time travel) after vacuum took this list; such a reader fails
with an error naming the table and version (UNAVAILABLE: run it again).
"""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from flightserver.catalog.delta import DeltaTables
from flightserver.engine.native import live_delta_versions


def same_table(location: str, other: str) -> bool:
    return _normalized(location) == _normalized(other)


def _normalized(location: str) -> str:
    if "://" in location and not location.startswith("file://"):
        return location.rstrip("/")
    return str(Path(location.removeprefix("file://")).resolve())


def protected_versions(delta_tables: DeltaTables, location: str) -> list[int]:
    """Versions of the table at `location` pinned or being read now, ascending."""
    with delta_tables.lock:
        pinned = {
            entry.pin.version
            for entry in delta_tables.entries.values()
            if same_table(entry.location, location)
        }
    return sorted(pinned | set(live_delta_versions(_normalized(location))))


def guarded_vacuum(
    table: DeltaTable, delta_tables: DeltaTables, retention_hours: float
) -> list[str]:
    """Vacuums `table` with `retention_hours` (retention enforcement off: the
    server's policy decides), keeping every version the server reads."""
    keep = protected_versions(delta_tables, table.table_uri)
    return table.vacuum(
        retention_hours=int(retention_hours),
        enforce_retention_duration=False,
        dry_run=False,
        keep_versions=keep,
    )
