"""Results of the Flight SQL metadata commands, read from DataFusion's catalog.

Every function returns a table with exactly the schema of protocol/schemas.py.
Name filters are SQL LIKE patterns (`%`, `_`, escaped with `\\`); an unset
filter matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa
from datafusion import SessionContext

from flightserver.engine.client_types import client_type, transport_type
from flightserver.engine.session import DEFAULT_CATALOG
from flightserver.protocol import schemas
from flightserver.protocol.generated import flight_sql_pb2 as sql
from flightserver.protocol.sql_types import sql_type
from flightserver.protocol.type_info import TYPE_INFO
from flightserver.writes.constraints_table import CONSTRAINTS_TABLE, PRIMARY_KEY, SYSTEM_SCHEMA


def like_matcher(pattern: str | None) -> Callable[[str], bool]:
    """A predicate for SQL LIKE `pattern`; None matches every name."""
    if pattern is None:
        return lambda _: True
    regex = []
    escaped = False
    for char in pattern:
        if escaped:
            regex.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex.append(".*")
        elif char == "_":
            regex.append(".")
        else:
            regex.append(re.escape(char))
    compiled = re.compile("".join(regex), re.DOTALL)
    return lambda name: compiled.fullmatch(name) is not None


def _optional(command: object, field: str) -> str | None:
    """A proto3 `optional string` field's value, or None when the client left it unset."""
    return getattr(command, field) if command.HasField(field) else None  # type: ignore[attr-defined]


def catalogs(ctx: SessionContext) -> pa.Table:
    names = sorted(ctx.catalog_names())
    return pa.Table.from_pydict({"catalog_name": names}, schema=schemas.CATALOGS)


# JDBC tools filter getTables by the JDBC names; DataFusion says "BASE TABLE".
_TABLE_TYPES = {"BASE TABLE": "TABLE", "VIEW": "VIEW", "LOCAL TEMPORARY": "LOCAL TEMPORARY"}


def _catalog_rows(ctx: SessionContext, sql_text: str) -> list[tuple[str, ...]]:
    table = ctx.sql(sql_text).to_arrow_table()
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))


def _schemas_of(
    ctx: SessionContext, catalog_filter: str | None, schema_pattern: str | None
) -> list[tuple[str, str]]:
    """(catalog, schema) pairs, information_schema included, as SQL sees them."""
    pairs = set(
        _catalog_rows(ctx, "SELECT catalog_name, schema_name FROM information_schema.schemata")
    )
    pairs |= set(
        _catalog_rows(
            ctx, "SELECT DISTINCT table_catalog, table_schema FROM information_schema.tables"
        )
    )
    matches = like_matcher(schema_pattern)
    return sorted(
        (str(catalog), str(schema))
        for catalog, schema in pairs
        if (catalog_filter is None or catalog == catalog_filter) and matches(str(schema))
    )


def db_schemas(ctx: SessionContext, command: sql.CommandGetDbSchemas) -> pa.Table:
    found = _schemas_of(
        ctx, _optional(command, "catalog"), _optional(command, "db_schema_filter_pattern")
    )
    return pa.Table.from_pydict(
        {"catalog_name": [c for c, _ in found], "db_schema_name": [s for _, s in found]},
        schema=schemas.DB_SCHEMAS,
    )


def tables(ctx: SessionContext, command: sql.CommandGetTables, java: bool = True) -> pa.Table:
    """The tables; with their schemas as queries return them (to Java clients in the
    JDBC driver's types, see `engine.client_types`)."""
    catalog_filter = _optional(command, "catalog")
    schema_matches = like_matcher(_optional(command, "db_schema_filter_pattern"))
    table_matches = like_matcher(_optional(command, "table_name_filter_pattern"))
    wanted_types = set(command.table_types)
    listed = _catalog_rows(
        ctx,
        "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables",
    )
    rows = sorted(
        (str(catalog), str(schema), str(table), _TABLE_TYPES.get(str(kind), str(kind)))
        for catalog, schema, table, kind in listed
        if (catalog_filter is None or catalog == catalog_filter)
        and schema_matches(str(schema))
        and table_matches(str(table))
    )
    if wanted_types:
        rows = [row for row in rows if row[3] in wanted_types]
    columns: dict[str, list[str] | list[bytes]] = {
        name: [row[index] for row in rows] for index, name in enumerate(schemas.TABLES.names)
    }
    if not command.include_schema:
        return pa.Table.from_pydict(columns, schema=schemas.TABLES)
    columns["table_schema"] = [
        _described_schema(ctx, catalog, schema, table, java).serialize().to_pybytes()
        for catalog, schema, table, _ in rows
    ]
    return pa.Table.from_pydict(columns, schema=schemas.TABLES_WITH_SCHEMA)


def _described_schema(
    ctx: SessionContext, catalog: str, schema: str, table: str, java: bool
) -> pa.Schema:
    """The table's schema as queries return it, each field described for JDBC getColumns."""
    convert = client_type if java else transport_type
    arrow_schema = ctx.table(".".join(f'"{part}"' for part in (catalog, schema, table))).schema()
    fields: list[pa.Field] = []
    for field in arrow_schema:
        data_type = convert(field.type)
        described = sql_type(data_type)
        metadata = {
            "ARROW:FLIGHT:SQL:CATALOG_NAME": catalog,
            "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": schema,
            "ARROW:FLIGHT:SQL:TABLE_NAME": table,
            "ARROW:FLIGHT:SQL:TYPE_NAME": described.name,
            "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
            "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "1" if described.literal_quote else "0",
            "ARROW:FLIGHT:SQL:IS_READ_ONLY": "0",
            "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
            "ARROW:FLIGHT:SQL:REMARKS": "",
        }
        if described.precision is not None:
            metadata["ARROW:FLIGHT:SQL:PRECISION"] = str(described.precision)
        if described.scale is not None:
            metadata["ARROW:FLIGHT:SQL:SCALE"] = str(described.scale)
        fields.append(pa.field(field.name, data_type, field.nullable, metadata))
    return pa.schema(fields)


def table_types(ctx: SessionContext) -> pa.Table:
    return pa.Table.from_pydict(
        {"table_type": sorted(_TABLE_TYPES.values())}, schema=schemas.TABLE_TYPES
    )


def primary_keys(ctx: SessionContext, command: sql.CommandGetPrimaryKeys) -> pa.Table:
    """The primary keys catalog definitions declare, as `system.constraints` lists them."""
    found = ctx.sql(
        "SELECT table_catalog, table_schema, table_name, column_name, constraint_name,"
        f" key_sequence FROM {DEFAULT_CATALOG}.{SYSTEM_SCHEMA}.{CONSTRAINTS_TABLE}"
        f" WHERE constraint_type = '{PRIMARY_KEY}'"
    ).to_arrow_table()
    wanted = {
        "table_catalog": _optional(command, "catalog"),
        "table_schema": _optional(command, "db_schema"),
        "table_name": command.table,
    }
    rows = [
        row
        for row in found.to_pylist()
        if all(value is None or row[column] == value for column, value in wanted.items())
    ]
    rows.sort(
        key=lambda row: (
            row["table_catalog"],
            row["table_schema"],
            row["table_name"],
            row["key_sequence"],
        )
    )
    return pa.Table.from_pydict(
        {
            "catalog_name": [row["table_catalog"] for row in rows],
            "db_schema_name": [row["table_schema"] for row in rows],
            "table_name": [row["table_name"] for row in rows],
            "column_name": [row["column_name"] for row in rows],
            "key_name": [row["constraint_name"] for row in rows],
            "key_sequence": [row["key_sequence"] for row in rows],
        },
        schema=schemas.PRIMARY_KEYS,
    )


def foreign_keys(ctx: SessionContext, command: object) -> pa.Table:
    # DataFusion has no foreign keys.
    return schemas.FOREIGN_KEYS.empty_table()


def xdbc_type_info(ctx: SessionContext, command: sql.CommandGetXdbcTypeInfo) -> pa.Table:
    wanted = command.data_type if command.HasField("data_type") else None
    rows = [
        {
            "type_name": info.name,
            "data_type": info.xdbc,
            "column_size": info.column_size,
            "literal_prefix": info.literal_prefix,
            "literal_suffix": info.literal_suffix,
            "create_params": list(info.create_params) if info.create_params else None,
            "nullable": sql.NULLABILITY_NULLABLE,
            "case_sensitive": info.case_sensitive,
            "searchable": info.searchable,
            "unsigned_attribute": info.unsigned,
            # ODBC's "fixed precision and scale" means money-like types; DataFusion has none.
            "fixed_prec_scale": False,
            # DataFusion has no identity or serial columns.
            "auto_increment": False if info.radix is not None else None,
            "local_type_name": info.name,
            "minimum_scale": info.minimum_scale,
            "maximum_scale": info.maximum_scale,
            "sql_data_type": info.sql_data_type,
            "datetime_subcode": info.datetime_subcode,
            "num_prec_radix": info.radix,
            # No INTERVAL(p) in DataFusion's SQL: there is no leading precision to report.
            "interval_precision": None,
        }
        for info in TYPE_INFO
        if wanted is None or info.xdbc == wanted
    ]
    return pa.Table.from_pylist(rows, schema=schemas.XDBC_TYPE_INFO)
