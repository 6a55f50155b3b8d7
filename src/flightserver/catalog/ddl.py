"""Builds the `CREATE EXTERNAL TABLE` statement that registers a non-Delta table."""

from __future__ import annotations

from flightserver.catalog.definitions import (
    ColumnDefinition,
    SortColumn,
    TableDefinition,
    TableFormat,
)

_STORED_AS = {
    TableFormat.PARQUET: "PARQUET",
    TableFormat.CSV: "CSV",
    TableFormat.NDJSON: "JSON",
    TableFormat.ARROW: "ARROW",
    TableFormat.AVRO: "AVRO",
}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def qualified_name(definition: TableDefinition) -> str:
    return ".".join(
        quote_identifier(part) for part in (definition.catalog, definition.schema, definition.name)
    )


def external_table_ddl(
    definition: TableDefinition, location: str, name: tuple[str, str, str] | None = None
) -> str:
    """The DDL for `definition`, reading from the already resolved `location`
    (creating the table as `name` instead of the definition's, when given)."""
    stored_as = _STORED_AS.get(definition.format)
    if stored_as is None:
        raise ValueError(f"{definition.format} tables are not registered through DDL")
    create = "CREATE UNBOUNDED EXTERNAL TABLE" if definition.unbounded else "CREATE EXTERNAL TABLE"
    target = (
        qualified_name(definition)
        if name is None
        else ".".join(quote_identifier(part) for part in name)
    )
    head = f"{create} {target}"
    if definition.columns:
        head += " (" + ", ".join(_column(column) for column in definition.columns) + ")"
    parts = [head, f"STORED AS {stored_as}"]
    if definition.partition_columns:
        # DataFusion matches these names verbatim (quotes would become part of
        # the name); definitions restrict them to plain identifiers.
        columns = ", ".join(definition.partition_columns)
        parts.append(f"PARTITIONED BY ({columns})")
    if definition.sort_order:
        keys = ", ".join(_sort_key(key) for key in definition.sort_order)
        parts.append(f"WITH ORDER ({keys})")
    if definition.options:
        options = ", ".join(
            f"{quote_literal(key)} {quote_literal(value)}"
            for key, value in sorted(definition.options.items())
        )
        parts.append(f"OPTIONS ({options})")
    parts.append(f"LOCATION {quote_literal(location)}")
    return "\n".join(parts)


def _column(column: ColumnDefinition) -> str:
    # The type is pattern-checked in the definition; DataFusion parses it.
    null = "" if column.nullable else " NOT NULL"
    return f"{quote_identifier(column.name)} {column.type}{null}"


def _sort_key(key: SortColumn) -> str:
    text = f"{quote_identifier(key.column)} {'DESC' if key.descending else 'ASC'}"
    if key.nulls_first is not None:
        text += " NULLS FIRST" if key.nulls_first else " NULLS LAST"
    return text
