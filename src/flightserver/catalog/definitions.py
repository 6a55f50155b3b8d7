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


# A SQL type as DataFusion's DDL spells it (BIGINT, VARCHAR, DECIMAL(10, 2), ...);
# DataFusion itself rejects types it does not know.
SqlType = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_ ,()]*$")]


class ColumnDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One declared column: the table's schema is declared instead of inferred."""

    name: Identifier
    type: SqlType
    nullable: bool = True


class SortColumn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One key of the order the table's files are already sorted in (`WITH ORDER`)."""

    column: Identifier
    descending: bool = False
    # None: DataFusion's default (NULLS LAST ascending, NULLS FIRST descending).
    nulls_first: bool | None = None


class TableDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where one table lives and how to read it.

    Non-Delta tables become one `CREATE [UNBOUNDED] EXTERNAL TABLE` statement
    (`catalog.ddl`); Delta tables accept only the time-travel options.
    """

    name: Identifier
    format: TableFormat
    location: Annotated[
        str,
        msgspec.Meta(description="Path or URL; relative paths are relative to the catalog folder."),
    ]
    catalog: Identifier = "datafusion"
    schema: Identifier = "public"
    options: Annotated[
        dict[str, str],
        msgspec.Meta(
            description="Format options, e.g. format.has_header; Delta: version or timestamp."
        ),
    ] = msgspec.field(default_factory=dict)
    columns: Annotated[
        list[ColumnDefinition],
        msgspec.Meta(description="Declared schema; empty: inferred from the files."),
    ] = msgspec.field(default_factory=list)
    partition_columns: Annotated[
        list[Identifier],
        msgspec.Meta(
            description="Hive-style partition columns (key=value folders), typed by `columns` "
            "when declared there, else strings."
        ),
    ] = msgspec.field(default_factory=list)
    sort_order: Annotated[
        list[SortColumn], msgspec.Meta(description="The order the files are sorted in.")
    ] = msgspec.field(default_factory=list)
    unbounded: Annotated[
        bool, msgspec.Meta(description="A streaming source (a FIFO or a growing file).")
    ] = False
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
    return resolve_path(definition.location, catalog_dir)


class AutoloadDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A folder DataFusion's catalog autoload scans: each sub-folder is one table.

    Declared in `<catalog_dir>/autoload/*.toml`. The folder owns its schema:
    every table in `catalog.schema` comes from it.
    """

    location: Annotated[
        str,
        msgspec.Meta(
            description="Local folder; relative paths are relative to the catalog folder."
        ),
    ]
    format: TableFormat
    catalog: Identifier = "datafusion"
    schema: Identifier = "default"


def read_autoload(path: Path) -> AutoloadDefinition:
    """Decodes one autoload declaration, naming the file and field on error."""
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), AutoloadDefinition)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise DefinitionError(f"{path}: {exc}") from exc


def resolve_path(location: str, catalog_dir: Path) -> str:
    """An absolute location: URLs as given, paths against the catalog folder."""
    if "://" in location:
        return location
    return str((catalog_dir / location).resolve())
