"""The tables a plan reads, and what pins them: Delta versions and external-table DDL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datafusion import SessionContext
from datafusion.expr import TableScan
from datafusion.plan import LogicalPlan
from deltalake import DeltaTable

from flightserver.artifacts.hashing import sha256_hex
from flightserver.artifacts.model import DeltaPin, ExternalTable
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
    variant = plan.to_variant()
    if isinstance(variant, TableScan):
        yield variant
    for child in plan.inputs():
        yield from _scans(child)


def delta_pin(name: TableName, location: str, version: int | None = None) -> DeltaPin:
    table = DeltaTable(location, version=version)
    files = sorted(table.file_uris())
    return DeltaPin(
        table=str(name),
        location=location,
        table_version=table.version(),
        file_count=len(files),
        file_set_sha256=sha256_hex("\n".join(files)),
    )


def pins_and_ddl(
    known: KnownTables, tables: list[TableName]
) -> tuple[list[DeltaPin], list[ExternalTable]]:
    pins: list[DeltaPin] = []
    external: list[ExternalTable] = []
    for name in tables:
        if name.schema == INFORMATION_SCHEMA:
            continue
        location = known.delta_location(name)
        if location is not None:
            pins.append(delta_pin(name, location))
            continue
        ddl = known.ddl(name)
        if ddl is not None:
            external.append(ExternalTable(table=str(name), ddl=ddl))
    return pins, external
