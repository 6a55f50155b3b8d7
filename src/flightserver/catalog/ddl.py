"""Builds the `CREATE EXTERNAL TABLE` statement that registers a non-Delta table."""

from __future__ import annotations

from flightserver.catalog.definitions import TableDefinition, TableFormat

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


def external_table_ddl(definition: TableDefinition, location: str) -> str:
    """The DDL for `definition`, reading from the already resolved `location`."""
    stored_as = _STORED_AS.get(definition.format)
    if stored_as is None:
        raise ValueError(f"{definition.format} tables are not registered through DDL")
    parts = [f"CREATE EXTERNAL TABLE {qualified_name(definition)}", f"STORED AS {stored_as}"]
    if definition.options:
        options = ", ".join(
            f"{quote_literal(key)} {quote_literal(value)}"
            for key, value in sorted(definition.options.items())
        )
        parts.append(f"OPTIONS ({options})")
    parts.append(f"LOCATION {quote_literal(location)}")
    return "\n".join(parts)
