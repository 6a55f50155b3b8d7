"""The tables the catalog folder declares, by qualified name: where a write
creates them and the constraints it must keep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flightserver.catalog.constraints import TableConstraints
from flightserver.catalog.definitions import (
    DefinitionError,
    TableFormat,
    read_definition,
    resolve_location,
)


@dataclass(frozen=True)
class DeclaredTable:
    name: str  # catalog.schema.table
    format: TableFormat
    location: str
    constraints: TableConstraints | None


def declared_tables(catalog_dir: Path) -> dict[str, DeclaredTable]:
    """Every readable definition (the loader reports the unreadable ones)."""
    declared: dict[str, DeclaredTable] = {}
    for path in sorted(catalog_dir.glob("tables/*.toml")):
        try:
            definition = read_definition(path)
        except DefinitionError:
            continue
        name = f"{definition.catalog}.{definition.schema}.{definition.name}"
        declared[name] = DeclaredTable(
            name,
            definition.format,
            resolve_location(definition, catalog_dir),
            definition.constraints,
        )
    return declared
