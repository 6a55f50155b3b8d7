"""Delta time travel from SQL: table functions reading a Delta table at a version.

    SELECT * FROM delta_version('datafusion.public.events', 3)
    SELECT * FROM delta_timestamp('datafusion.public.events', '2026-11-26T12:00:00+00:00')

The first argument names a Delta table the server registered (fully qualified,
or any unambiguous suffix such as `events`); the function returns the same
pinned provider a definition with that `version` / `timestamp` option would
register, for this statement only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datafusion import Expr, SessionContext, udtf
from datafusion.user_defined import TableFunction
from deltalake import DeltaTable

from flightserver.catalog.delta import (
    TIMESTAMP_OPTION,
    VERSION_OPTION,
    DeltaTableEntry,
    DeltaTables,
    requested_version,
)
from flightserver.catalog.loader import ensure_schema
from flightserver.engine.native import DeltaProvider

VERSION_FUNCTION = "delta_version"
TIMESTAMP_FUNCTION = "delta_timestamp"


class TimeTravelError(ValueError):
    """The table or the version asked for does not exist."""


def find_entry(delta_tables: DeltaTables, name: str) -> DeltaTableEntry:
    """The registered Delta table `name` (qualified, or an unambiguous suffix)."""
    entries = delta_tables.entries
    if name in entries:
        return entries[name]
    matches = [entry for key, entry in entries.items() if key.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise TimeTravelError(f"no Delta table named {name!r}")
    raise TimeTravelError(f"Delta table name {name!r} is ambiguous; qualify it")


def provider_at(location: str, version: int) -> DeltaProvider | DeltaTable:
    """What reads the table at `version`: our provider, or `deltalake`'s for the
    features ours does not read yet (as at registration)."""
    provider = DeltaProvider(location, version)
    if provider.unsupported_features:
        return DeltaTable(location, version=provider.version)
    return provider


def _arguments(function: str, args: tuple[Any, ...]) -> tuple[str, str]:
    values = [Expr(arg).python_value().as_py() for arg in args]
    if len(values) != 2 or not all(isinstance(value, str | int) for value in values):
        raise TimeTravelError(f"{function} takes a table name and a {function[6:]} literal")
    table, at = values
    if not isinstance(table, str):
        raise TimeTravelError(f"{function}: the table name must be a string")
    return table, str(at)


def _function(delta_tables: DeltaTables, option: str, name: str) -> Callable[..., Any]:
    def travel(*args: Any) -> DeltaProvider | DeltaTable:
        table, at = _arguments(name, args)
        entry = find_entry(delta_tables, table)
        version = requested_version(entry.location, {option: at})
        assert version is not None
        return provider_at(entry.location, version)

    return travel


def time_travel_functions(delta_tables: DeltaTables) -> list[TableFunction]:
    return [
        udtf(_function(delta_tables, VERSION_OPTION, VERSION_FUNCTION), VERSION_FUNCTION),
        udtf(_function(delta_tables, TIMESTAMP_OPTION, TIMESTAMP_FUNCTION), TIMESTAMP_FUNCTION),
    ]


def register_time_travel(ctx: SessionContext, delta_tables: DeltaTables) -> None:
    for function in time_travel_functions(delta_tables):
        ctx.register_udtf(function)


def register_pinned(
    ctx: SessionContext,
    delta_tables: DeltaTables,
    table: str,
    register_as: str,
    option: tuple[str, str],
) -> str:
    """Registers `table` at the version `option` (version or timestamp) selects
    under `register_as`; returns the new table's qualified name.

    `register_as` may replace an earlier time-travel registration, never another table.
    """
    entry = find_entry(delta_tables, table)
    parts = register_as.split(".")
    if len(parts) == 1:
        qualified = (entry.catalog, entry.schema, parts[0])
    elif len(parts) == 3:
        qualified = (parts[0], parts[1], parts[2])
    else:
        raise TimeTravelError(f"register_as {register_as!r}: give name or catalog.schema.name")
    name = ".".join(qualified)
    with delta_tables.lock:
        previous = delta_tables.entries.get(name)
        exists = _table_exists(ctx, qualified)
        if exists and (previous is None or not previous.time_travel):
            raise TimeTravelError(f"table {name} already exists")
        ensure_schema(ctx, qualified[0], qualified[1])
        # Replaces an earlier time-travel registration in one step.
        delta_tables.register(ctx, qualified, entry.location, dict([option]))
        delta_tables.entries[name].time_travel = True
    return name


def _table_exists(ctx: SessionContext, qualified: tuple[str, str, str]) -> bool:
    catalog, schema, table = qualified
    if catalog not in ctx.catalog_names():
        return False
    if schema not in ctx.catalog(catalog).schema_names():
        return False
    return ctx.catalog(catalog).schema(schema).table_exist(table)
