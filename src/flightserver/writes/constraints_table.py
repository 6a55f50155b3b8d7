"""`system.constraints`: every declared constraint, one row per constrained
column (CHECKs: one row each). GetPrimaryKeys reads its PRIMARY KEY rows.

Declared constraints are also applied to the Delta tables the catalog already
holds when the server starts: missing `delta.constraints.*` CHECKs are added
(Delta checks the existing rows; a table whose rows break one fails to load).
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import SessionContext
from deltalake import DeltaTable

from flightserver.catalog.constraints import delta_check_constraints, not_null_name
from flightserver.catalog.definitions import TableFormat
from flightserver.catalog.loader import TableStatus, ensure_schema
from flightserver.engine.memory_tables import memory_table
from flightserver.writes.declared import DeclaredTable
from flightserver.writes.delta import delta_schema

SYSTEM_SCHEMA = "system"
CONSTRAINTS_TABLE = "constraints"

PRIMARY_KEY = "PRIMARY KEY"
NOT_NULL = "NOT NULL"
CHECK = "CHECK"

TABLE_SCHEMA = pa.schema(
    [
        pa.field("table_catalog", pa.string(), nullable=False),
        pa.field("table_schema", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("constraint_name", pa.string(), nullable=False),
        pa.field("constraint_type", pa.string(), nullable=False),
        pa.field("column_name", pa.string()),
        pa.field("key_sequence", pa.int32()),  # 1-based, primary keys only
        pa.field("check_expression", pa.string()),
    ]
)


def constraint_rows(declared: list[DeclaredTable]) -> pa.Table:
    rows: list[dict[str, object]] = []
    for table in declared:
        constraints = table.constraints
        if constraints is None:
            continue
        catalog, schema, name = table.name.split(".")
        where = {"table_catalog": catalog, "table_schema": schema, "table_name": name}
        for sequence, column in enumerate(constraints.primary_key, start=1):
            rows.append(
                {
                    **where,
                    "constraint_name": constraints.primary_key_name,
                    "constraint_type": PRIMARY_KEY,
                    "column_name": column,
                    "key_sequence": sequence,
                }
            )
        for column in constraints.required_columns:
            rows.append(
                {
                    **where,
                    "constraint_name": not_null_name(column),
                    "constraint_type": NOT_NULL,
                    "column_name": column,
                }
            )
        for check, expression in constraints.checks.items():
            rows.append(
                {
                    **where,
                    "constraint_name": check,
                    "constraint_type": CHECK,
                    "check_expression": expression,
                }
            )
    return pa.Table.from_pylist(rows, TABLE_SCHEMA)


def register_constraints_table(
    ctx: SessionContext, catalog: str, declared: list[DeclaredTable]
) -> None:
    ensure_schema(ctx, catalog, SYSTEM_SCHEMA)
    schema = ctx.catalog(catalog).schema(SYSTEM_SCHEMA)
    if schema.table_exist(CONSTRAINTS_TABLE):
        schema.deregister_table(CONSTRAINTS_TABLE)
    schema.register_table(CONSTRAINTS_TABLE, memory_table(constraint_rows(declared)))


def apply_declared_constraints(
    declared: list[DeclaredTable], statuses: list[TableStatus]
) -> tuple[list[TableStatus], list[str]]:
    """Adds missing Delta CHECK constraints to loaded Delta tables; a table whose
    rows break them is reported as failed (its status carries the error).
    Returns the statuses and the names of the tables that got a new version."""
    by_name = {table.name: table for table in declared}
    updated: list[TableStatus] = []
    changed: list[str] = []
    for status in statuses:
        table = by_name.get(status.name or "")
        if (
            table is None
            or table.constraints is None
            or table.format is not TableFormat.DELTA
            or not status.loaded
        ):
            updated.append(status)
            continue
        try:
            delta = DeltaTable(table.location)
            present = delta.metadata().configuration
            nullable = {field.name for field in delta_schema(table.location) if field.nullable}
            missing = {
                name: expression
                for name, expression in delta_check_constraints(table.constraints, nullable).items()
                if f"delta.constraints.{name}" not in present
            }
            if missing:
                delta.alter.add_constraint(missing)
                changed.append(table.name)
            updated.append(status)
        except Exception as exc:  # deltalake: existing rows break a constraint
            updated.append(
                TableStatus(
                    source=status.source,
                    name=status.name,
                    format=status.format,
                    location=status.location,
                    error=f"declared constraints cannot be applied: {exc}",
                )
            )
    return updated, changed
