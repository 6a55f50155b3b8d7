"""The tables a plan reads, and what pins them: Delta versions and external-table DDL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from datafusion import SessionContext
from datafusion.expr import TableScan
from datafusion.plan import LogicalPlan
from deltalake import DeltaTable

from flightserver.artifacts.hashing import sha256_hex
from flightserver.artifacts.model import DeltaPin, DeltaScan, ExternalTable, PlanManifest
from flightserver.catalog.ingest import IngestTarget, managed_location
from flightserver.catalog.loader import TableStatus

INFORMATION_SCHEMA = "information_schema"


@dataclass(frozen=True)
class TableName:
    catalog: str
    schema: str
    table: str

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


@dataclass(frozen=True)
class KnownTables:
    """Where the server's tables come from: the catalog folder, ingests, system tables."""

    statuses: list[TableStatus]
    state_dir: Path
    system_tables: dict[str, str]  # qualified name -> Delta location

    def delta_location(self, name: TableName) -> str | None:
        if str(name) in self.system_tables:
            return self.system_tables[str(name)]
        for status in self.statuses:
            if status.name == str(name) and status.format == "delta" and status.loaded:
                return status.location
        managed = managed_location(
            self.state_dir, IngestTarget(name.catalog, name.schema, name.table)
        )
        return str(managed) if (managed / "_delta_log").is_dir() else None

    def ddl(self, name: TableName) -> str | None:
        for status in self.statuses:
            if status.name == str(name) and status.ddl is not None:
                return status.ddl
        return None


def session_defaults(ctx: SessionContext) -> tuple[str, str]:
    """The catalog and schema `ctx` resolves unqualified names in."""
    settings = ctx.sql(
        "SELECT name, value FROM information_schema.df_settings WHERE name IN"
        " ('datafusion.catalog.default_catalog', 'datafusion.catalog.default_schema')"
    ).to_pydict()
    values = dict(zip(settings["name"], settings["value"], strict=True))
    return (
        str(values["datafusion.catalog.default_catalog"]),
        str(values["datafusion.catalog.default_schema"]),
    )


def scanned_tables(plan: LogicalPlan, defaults: tuple[str, str]) -> list[TableName]:
    """Every table `plan` scans, fully qualified, in first-scan order, once each."""
    seen: dict[TableName, None] = {}
    for scan in _scans(plan):
        catalog, schema, table = scan.fqn()
        name = TableName(catalog or defaults[0], schema or defaults[1], table)
        seen.setdefault(name, None)
    return list(seen)


def _scans(plan: LogicalPlan) -> Iterator[Any]:  # TableScan nodes
    try:
        variant = plan.to_variant()
    except Exception:  # a node kind the bindings cannot convert is no scan; its inputs may be
        variant = None
    if isinstance(variant, TableScan):
        yield variant
    for child in plan.inputs():
        yield from _scans(child)


def log_paths(table: DeltaTable) -> list[str]:
    """The table's active data files, sorted, as its Delta log names them."""
    actions = pa.table(table.get_add_actions(flatten=True))
    return sorted(str(path) for path in actions.column("path").to_pylist())


def delta_pin(name: TableName, location: str, version: int | None = None) -> DeltaPin:
    """The pin of a whole Delta version (tables `deltalake`'s provider reads)."""
    table = DeltaTable(location, version=version)
    files = log_paths(table)
    return DeltaPin(
        table=str(name),
        location=location,
        table_version=table.version(),
        files=files,
        file_count=len(files),
        file_set_sha256=sha256_hex("\n".join(files)),
    )


def same_location(url_or_path: str, other: str) -> bool:
    """Whether two spellings (URL or path) name the same local folder."""
    return _local_path(url_or_path) == _local_path(other)


def _local_path(url_or_path: str) -> str:
    if url_or_path.startswith("file://"):
        url_or_path = unquote(urlparse(url_or_path).path)
    elif "://" in url_or_path:
        return url_or_path.rstrip("/")
    return str(Path(url_or_path).resolve())


def scanned_pin(name: TableName, location: str, scans: list[DeltaScan]) -> DeltaPin:
    """The pin of what a plan's scans of one Delta table read: their version and files."""
    files = sorted({path for scan in scans for path in scan.files})
    return DeltaPin(
        table=str(name),
        location=location,
        table_version=scans[0].table_version,
        files=files,
        file_count=len(files),
        file_set_sha256=sha256_hex("\n".join(files)),
    )


def pins_and_ddl(
    known: KnownTables, tables: list[TableName], manifest: PlanManifest | None
) -> tuple[list[DeltaPin], list[ExternalTable]]:
    """Each Delta table's pin (from the scans the plan recorded; a whole version for
    tables without them) and each external table's DDL."""
    delta_scans = [scan.delta for scan in (manifest.scans if manifest else []) if scan.delta]
    pins: list[DeltaPin] = []
    external: list[ExternalTable] = []
    for name in tables:
        if name.schema == INFORMATION_SCHEMA:
            continue
        location = known.delta_location(name)
        if location is not None:
            scans = [scan for scan in delta_scans if same_location(scan.table_root, location)]
            pins.append(scanned_pin(name, location, scans) if scans else delta_pin(name, location))
            continue
        ddl = known.ddl(name)
        if ddl is not None:
            external.append(ExternalTable(table=str(name), ddl=ddl))
    return pins, external
