"""Delta tables: registered through flightserver's own pruning provider, each
pinned to one snapshot version at load.

A table whose snapshot uses a feature the provider cannot read yet is
registered through `deltalake`'s provider instead (same version, no pruning, no
file pinning), with a warning in its status: slower, never wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec
from datafusion import SessionContext
from deltalake import DeltaTable

from flightserver.engine.native import DeltaProvider

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


class DeltaTables:
    """The Delta tables of one session, by qualified name, with their pins."""

    def __init__(self) -> None:
        self.entries: dict[str, DeltaTableEntry] = {}
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
        entry = _register(ctx, qualified, location, version)
        self.entries[".".join(qualified)] = entry
        return entry.pin

    def repin(self, ctx: SessionContext, name: str, version: int | None = None) -> DeltaPin:
        """Re-registers `name` at `version` (default: the table's latest version)."""
        with self.lock:
            entry = self.entries[name]
            ctx.catalog(entry.catalog).schema(entry.schema).deregister_table(entry.name)
            qualified = (entry.catalog, entry.schema, entry.name)
            new_entry = _register(ctx, qualified, entry.location, version)
            self.entries[name] = new_entry
            return new_entry.pin


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
    ctx: SessionContext, qualified: tuple[str, str, str], location: str, version: int | None
) -> DeltaTableEntry:
    catalog, schema_name, name = qualified
    schema = ctx.catalog(catalog).schema(schema_name)
    provider = DeltaProvider(location, version)
    unsupported = provider.unsupported_features
    if unsupported:
        fallback = DeltaTable(location, version=provider.version)
        schema.register_table(name, fallback)
        pin = DeltaPin(
            provider=FALLBACK_PROVIDER,
            version=provider.version,
            file_count=provider.file_count,
            warning=(
                f"uses {', '.join(unsupported)}, which flightserver's Delta provider does not "
                "read yet: read by deltalake's provider (no file pruning, no file pinning)"
            ),
        )
        return DeltaTableEntry(catalog, schema_name, name, location, pin, None)
    schema.register_table(name, provider)
    pin = DeltaPin(
        provider=OUR_PROVIDER,
        version=provider.version,
        file_count=provider.file_count,
        files_hash=provider.files_hash,
    )
    return DeltaTableEntry(catalog, schema_name, name, location, pin, provider)
