"""Declarative table definitions: `<catalog_dir>/tables/*.toml`, one table each."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec

from flightserver.catalog.constraints import TableConstraints

Identifier = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class TableFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    NDJSON = "ndjson"
    ARROW = "arrow"
    AVRO = "avro"
    DELTA = "delta"


class TableDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where one table lives and how to read it."""

    name: Identifier
    format: TableFormat
    location: Annotated[
        str,
        msgspec.Meta(description="Path or URL; relative paths are relative to the catalog folder."),
    ]
    catalog: Identifier = "datafusion"
    schema: Identifier = "public"
    options: dict[str, str] = msgspec.field(default_factory=dict)
    constraints: TableConstraints | None = None


class DefinitionError(ValueError):
    """A definition file could not be read or is invalid."""


def read_definition(path: Path) -> TableDefinition:
    """Decodes one definition file, naming the file and field on error."""
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), TableDefinition)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise DefinitionError(f"{path}: {exc}") from exc


def resolve_location(definition: TableDefinition, catalog_dir: Path) -> str:
    """The table's absolute location: URLs as given, paths against the catalog folder."""
    if "://" in definition.location:
        return definition.location
    return str((catalog_dir / definition.location).resolve())
