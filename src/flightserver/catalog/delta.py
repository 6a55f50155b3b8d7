"""Delta tables: registered through flightserver's own pruning provider, each
pinned to one snapshot version at load.

A table whose snapshot uses a feature the provider cannot read yet is
registered through `deltalake`'s provider instead (same version, no pruning, no
file pinning), with a warning in its status: slower, never wrong.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec
from datafusion import SessionContext
from deltalake import DeltaTable

from flightserver.catalog.changes import CATALOG_CHANGES
from flightserver.catalog.schemas import register_table
from flightserver.engine.native import DeltaProvider

log = logging.getLogger(__name__)

# Definition options a Delta table accepts: time travel at load.
VERSION_OPTION = "version"
TIMESTAMP_OPTION = "timestamp"
_OPTIONS = {VERSION_OPTION, TIMESTAMP_OPTION}

OUR_PROVIDER = "flightserver"
FALLBACK_PROVIDER = "deltalake"


class DeltaPin(msgspec.Struct, frozen=True):
    """The snapshot (and file set) a registered Delta table reads."""

    provider: str
    version: int
    file_count: int
    # SHA-256 of the sorted file paths; None when `deltalake` reads the table.
    files_hash: str | None = None
    warning: str | None = None


@dataclass
class DeltaTableEntry:
    """A registered Delta table and what reads it."""

    catalog: str
    schema: str
    name: str
    location: str
    pin: DeltaPin
    # None when the table fell back to `deltalake`'s provider.
    provider: DeltaProvider | None
    # Pinned to a chosen version (definition option, time travel): polling re-pins skip it.
    fixed: bool = False
    # Registered by the TimeTravelDelta action (it may replace only these).
    time_travel: bool = False


class DeltaTables:
    """The Delta tables of one session, by qualified name, with their pins."""

    def __init__(self) -> None:
        self.entries: dict[str, DeltaTableEntry] = {}
        # Registration, re-pins (actions, polling) and refreshes come from several threads.
        # Held while a table is swapped for its new version: concurrent writers
        # re-register the same name.
        self.lock = threading.RLock()

    def register(
        self,
        ctx: SessionContext,
        qualified: tuple[str, str, str],
        location: str,
        options: Mapping[str, str],
    ) -> DeltaPin:
        """Registers the table at the version `options` ask for (latest by default)."""
        version = requested_version(location, options)
        with self.lock, CATALOG_CHANGES.changing([".".join(qualified)]):
            entry = _register(ctx, qualified, location, version)
            entry.fixed = version is not None
            self.entries[".".join(qualified)] = entry
        return entry.pin

    def repin(self, ctx: SessionContext, name: str, version: int | None = None) -> DeltaPin:
        """Re-registers `name` at `version` (default: the table's latest version),
        in one step: queries planned before read the old version to their end."""
        with self.lock, CATALOG_CHANGES.changing([name]):
            entry = self.entries[name]
            qualified = (entry.catalog, entry.schema, entry.name)
            new_entry = _register(ctx, qualified, entry.location, version)
            new_entry.fixed = version is not None
            new_entry.time_travel = entry.time_travel
            self.entries[name] = new_entry
        return new_entry.pin

    def repin_latest(self, ctx: SessionContext) -> dict[str, tuple[int, int]]:
        """Moves every table not pinned to a chosen version to its newest version.

        Returns the tables that moved: name -> (old version, new version).
        """
        moved: dict[str, tuple[int, int]] = {}
        with self.lock:
            for name, entry in list(self.entries.items()):
                if entry.fixed:
                    continue
                latest = latest_version(entry.location)
                if latest != entry.pin.version:
                    moved[name] = (entry.pin.version, self.repin(ctx, name).version)
                    log.info("re-pinned Delta table %s: version %d -> %d", name, *moved[name])
        return moved

    def forget(self, name: str) -> None:
        """Stops tracking `name` (its registration was dropped)."""
        with self.lock:
            self.entries.pop(name, None)
        CATALOG_CHANGES.changed([name])


def latest_version(location: str) -> int:
    """The table's newest committed version, read from its log."""
    return DeltaTable(location).version()


def requested_version(location: str, options: Mapping[str, str]) -> int | None:
    """The version a definition's options pin (`version` or `timestamp`), or None: latest."""
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValueError(f"unknown Delta table options {unknown}; accepted: {sorted(_OPTIONS)}")
    if VERSION_OPTION in options and TIMESTAMP_OPTION in options:
        raise ValueError("give a Delta table's `version` or its `timestamp`, not both")
    if VERSION_OPTION in options:
        try:
            version = int(options[VERSION_OPTION])
        except ValueError:
            raise ValueError(
                f"Delta option version={options[VERSION_OPTION]!r} is not a number"
            ) from None
        if version < 0:
            raise ValueError(f"Delta option version={version} is negative")
        return version
    if TIMESTAMP_OPTION in options:
        try:
            moment = datetime.fromisoformat(options[TIMESTAMP_OPTION])
        except ValueError:
            raise ValueError(
                f"Delta option timestamp={options[TIMESTAMP_OPTION]!r} is not an ISO 8601 time"
            ) from None
        # The version current at that time, as `deltalake` resolves it from the log.
        table = DeltaTable(location)
        table.load_as_version(moment)
        return table.version()
    return None


def _register(
    ctx: SessionContext,
    qualified: tuple[str, str, str],
    location: str,
    version: int | None,
) -> DeltaTableEntry:
    """Loads the snapshot, then registers it (replacing the table, in one step,
    only once it loaded)."""
    catalog, schema_name, name = qualified
    provider = DeltaProvider(location, version)
    unsupported = provider.unsupported_features
    if unsupported:
        reader: DeltaProvider | DeltaTable = DeltaTable(location, version=provider.version)
        pin = DeltaPin(
            provider=FALLBACK_PROVIDER,
            version=provider.version,
            file_count=provider.file_count,
            warning=(
                f"uses {', '.join(unsupported)}, which flightserver's Delta provider does not "
                "read yet: read by deltalake's provider (no file pruning, no file pinning)"
            ),
        )
    else:
        reader = provider
        pin = DeltaPin(
            provider=OUR_PROVIDER,
            version=provider.version,
            file_count=provider.file_count,
            files_hash=provider.files_hash,
        )
    register_table(ctx, qualified, reader)
    return DeltaTableEntry(
        catalog, schema_name, name, location, pin, None if unsupported else provider
    )
